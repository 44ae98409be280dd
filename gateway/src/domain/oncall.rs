//! On-call schedules: who is on call for a practice at a given instant, and who may be.
//!
//! Owns the shape of a schedule (weekly windows `{from: "HH:MM", to: "HH:MM", user_id, days?}`
//! and dated overrides `{user_id, from, to}`, API.md), validating both, resolving the on-call
//! users at an instant in the practice's IANA time zone, finding the next instant at which that
//! answer changes, and the rule for who may be put on call at all ([`eligibility`]).
//!
//! Must never do I/O, read the clock (every instant is an argument), or decide who gets notified:
//! services combine the result with care teams and notification settings.
//!
//! # Weekly windows
//!
//! - A window covers the practice's local wall-clock time of day from `from` (inclusive) up to
//!   `to` (exclusive), on the weekdays it names (every day when it names none).
//! - `to` before `from` wraps past midnight: 22:00–06:00 covers 22:00–24:00 and 00:00–06:00 of
//!   the next day. The weekday of a window is the day it STARTS: 22:00–06:00 on `fri` covers
//!   Friday 22:00 to Saturday 06:00.
//! - `to == 00:00` means "until midnight": 18:00–00:00 covers 18:00–24:00.
//! - `from == to` is 24 hours from `from`: every instant when the window is every day. Chosen
//!   over refusing the window because "always on call" is a real need of small practices and,
//!   when in doubt, a critical alert should reach someone rather than no one. With weekdays,
//!   08:00–08:00 on `mon` covers Monday 08:00 to Tuesday 08:00.
//! - Windows may overlap; everyone whose window holds the instant is on call. A user listed by
//!   several matching windows appears once, in the order of their first matching window.
//! - Times are whole minutes (the API speaks `HH:MM`); `24:00` is not accepted, write `00:00`.
//!
//! # Overrides
//!
//! A dated override puts a user on call from one instant (inclusive) to another (exclusive),
//! whatever the weekly windows say: while any override covers an instant, the users of the
//! overrides covering it (deduplicated, in saved order) are on call and the weekly windows are
//! not. Overrides are whole minutes, last at most [`MAX_OVERRIDE_DAYS`] days, may not have ended
//! when saved and may not end more than [`MAX_OVERRIDE_DAYS`] days after it.
//!
//! # Daylight saving time
//!
//! An instant is converted to the practice's local wall time and compared with the windows.
//! Nothing else is needed, and the consequences are the intended ones:
//! - when clocks go back, the repeated hour happens twice, so an alert at either 01:30 on
//!   2026-11-01 in America/New_York (05:30Z and 06:30Z) resolves to the 01:30 window;
//! - when clocks go forward, the skipped hour does not happen: a window lying wholly inside it
//!   (02:15–02:45 in New York on 2026-03-08) is not active that night, and a window starting inside
//!   it (02:30–08:00) becomes active at the jump (03:00 local). Nothing else is lost.
//!
//! [`next_change_after`] accounts for both: the jump itself is a change when it moves local time
//! across a boundary. Overrides are instants and know nothing of DST.

use std::cmp::Ordering;

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta,
    TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Tz;
use uuid::Uuid;

/// The weekdays a window starts on: a non-empty set. [`Weekdays::EVERY_DAY`] is what a window
/// without `days` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Weekdays(u8);

/// The API's day names, Monday first (bit `i` of [`Weekdays`] is `DAY_NAMES[i]`).
pub const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl Weekdays {
    pub const EVERY_DAY: Weekdays = Weekdays(0b111_1111);

    /// The set from its stored bits (bit 0 Monday … bit 6 Sunday); `None` for the empty set or
    /// bits beyond Sunday.
    pub fn from_bits(bits: i64) -> Option<Weekdays> {
        u8::try_from(bits)
            .ok()
            .filter(|b| (1..=Self::EVERY_DAY.0).contains(b))
            .map(Weekdays)
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    pub fn is_every_day(self) -> bool {
        self == Self::EVERY_DAY
    }

    /// The API's names of the days in the set, Monday first.
    pub fn names(self) -> Vec<&'static str> {
        DAY_NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, name)| *name)
            .collect()
    }

    /// Parses the API's `days` list of window `index`: at least one of `mon` … `sun`, each once.
    pub fn parse<S: AsRef<str>>(index: usize, names: &[S]) -> Result<Weekdays, OnCallError> {
        if names.is_empty() {
            return Err(OnCallError::NoDays { index });
        }
        let mut bits = 0u8;
        for (day_index, name) in names.iter().enumerate() {
            let name = name.as_ref();
            let Some(day) = DAY_NAMES.iter().position(|d| *d == name) else {
                return Err(OnCallError::BadDay {
                    index,
                    day_index,
                    input: echo(name),
                });
            };
            if bits & (1 << day) != 0 {
                return Err(OnCallError::RepeatedDay {
                    index,
                    day_index,
                    day: DAY_NAMES[day],
                });
            }
            bits |= 1 << day;
        }
        Ok(Weekdays(bits))
    }
}

/// One weekly on-call window in the practice's time zone. See the module docs for the meaning
/// of `from`/`to` (wrapping, midnight, `from == to`) and of `days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OnCallWindow {
    pub from: NaiveTime,
    pub to: NaiveTime,
    pub user_id: Uuid,
    pub days: Weekdays,
}

impl OnCallWindow {
    /// True when each occurrence lasts 24 hours (`from == to`).
    pub fn is_all_day(&self) -> bool {
        self.from == self.to
    }

    /// True when the window wraps past midnight (`to` before `from`, including `to == 00:00`).
    pub fn wraps_midnight(&self) -> bool {
        self.to < self.from
    }

    /// True when the window holds every instant (all day, every day).
    fn is_always(&self) -> bool {
        self.is_all_day() && self.days.is_every_day()
    }

    /// Whether this window holds the local wall-clock time `local` (date and time of day): on a
    /// day it names, from `from`; or, for a window running past midnight, before `to` on the day
    /// after one it names.
    pub fn covers(&self, local: NaiveDateTime) -> bool {
        let time = local.time();
        let day = local.weekday();
        match self.from.cmp(&self.to) {
            Ordering::Less => self.days.contains(day) && self.from <= time && time < self.to,
            // `from == to` runs 24 hours, so like a wrapping window it ends on the next day.
            Ordering::Equal | Ordering::Greater => {
                (time >= self.from && self.days.contains(day))
                    || (time < self.to && self.days.contains(day.pred()))
            }
        }
    }
}

/// A dated override: `user_id` is on call from `from` (inclusive) to `to` (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OnCallOverride {
    pub user_id: Uuid,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl OnCallOverride {
    pub fn covers(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at < self.to
    }
}

/// A practice's whole schedule: weekly windows and the overrides that take precedence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    pub windows: Vec<OnCallWindow>,
    pub overrides: Vec<OnCallOverride>,
}

/// Longest override, and how far ahead of the save an override may end.
pub const MAX_OVERRIDE_DAYS: i64 = 366;

/// Why a time or a schedule was refused. Messages say what was wrong and how to fix it; positions
/// are zero-based indexes into the submitted list (see [`OnCallError::field_path`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnCallError {
    #[error("`{input}` is not a time: expected HH:MM on a 24-hour clock, such as 08:00 or 22:30")]
    BadTimeFormat { input: String },
    #[error(
        "`{input}` is not a time of day: hours run 00 to 23 and minutes 00 to 59 (write midnight as 00:00)"
    )]
    TimeOutOfRange { input: String },
    #[error("must be a whole minute (HH:MM), not {time}")]
    NotWholeMinute {
        index: usize,
        field: &'static str,
        time: NaiveTime,
    },
    #[error("`user_id` must be a user's id, not the nil UUID")]
    NilUser { index: usize },
    #[error("repeats [{first}] (same user, same times and days); remove one of them")]
    Duplicate { index: usize, first: usize },
    #[error("must name at least one day; leave `days` out for every day")]
    NoDays { index: usize },
    #[error("`{input}` is not a day: use mon, tue, wed, thu, fri, sat or sun")]
    BadDay {
        index: usize,
        day_index: usize,
        input: String,
    },
    #[error("names `{day}` a second time")]
    RepeatedDay {
        index: usize,
        day_index: usize,
        day: &'static str,
    },
    #[error("must be a whole minute (seconds 00), such as 2026-12-24T08:00:00Z")]
    OverrideNotWholeMinute { index: usize, field: &'static str },
    #[error("must be after `from`")]
    OverrideEmpty { index: usize },
    #[error("has already passed; an override must still be running or to come when saved")]
    OverrideEnded { index: usize },
    #[error(
        "is more than {MAX_OVERRIDE_DAYS} days away; cover longer absences with weekly windows"
    )]
    OverrideTooFarAhead { index: usize },
    #[error("an override lasts at most {MAX_OVERRIDE_DAYS} days")]
    OverrideTooLong { index: usize },
}

impl OnCallError {
    /// The offending field as a path into the submitted list, e.g. `[2].from`; `None` for a bare
    /// time that was parsed outside a list.
    pub fn field_path(&self) -> Option<String> {
        Some(match self {
            Self::BadTimeFormat { .. } | Self::TimeOutOfRange { .. } => return None,
            Self::NotWholeMinute { index, field, .. }
            | Self::OverrideNotWholeMinute { index, field } => format!("[{index}].{field}"),
            Self::NilUser { index } => format!("[{index}].user_id"),
            Self::Duplicate { index, .. } => format!("[{index}]"),
            Self::NoDays { index } => format!("[{index}].days"),
            Self::BadDay {
                index, day_index, ..
            }
            | Self::RepeatedDay {
                index, day_index, ..
            } => format!("[{index}].days[{day_index}]"),
            Self::OverrideEmpty { index }
            | Self::OverrideEnded { index }
            | Self::OverrideTooFarAhead { index }
            | Self::OverrideTooLong { index } => format!("[{index}].to"),
        })
    }
}

/// Longest input echoed back in an error message.
const MAX_ECHO: usize = 32;

fn echo(input: &str) -> String {
    input.chars().take(MAX_ECHO).collect()
}

/// Parses a time of day written exactly `HH:MM` (two digits each, 24-hour clock, `00:00` to
/// `23:59`). Single-digit hours, seconds, surrounding space and `24:00` are refused.
pub fn parse_hhmm(input: &str) -> Result<NaiveTime, OnCallError> {
    let bytes = input.as_bytes();
    let well_formed = bytes.len() == 5
        && bytes[2] == b':'
        && [0, 1, 3, 4].iter().all(|&i| bytes[i].is_ascii_digit());
    if !well_formed {
        return Err(OnCallError::BadTimeFormat { input: echo(input) });
    }
    let two_digits = |i: usize| u32::from(bytes[i] - b'0') * 10 + u32::from(bytes[i + 1] - b'0');
    NaiveTime::from_hms_opt(two_digits(0), two_digits(3), 0)
        .ok_or_else(|| OnCallError::TimeOutOfRange { input: echo(input) })
}

/// Formats a time of day as `HH:MM` (seconds, which valid windows never have, are dropped).
pub fn format_hhmm(time: NaiveTime) -> String {
    time.format("%H:%M").to_string()
}

/// Checks a practice's weekly windows and reports the first problem: a time that is not a whole
/// minute, the nil user id, or an exact repeat of an earlier window. Overlapping windows (also of
/// one user), wrapping windows and all-day windows are fine; an empty schedule is fine.
pub fn validate_windows(windows: &[OnCallWindow]) -> Result<(), OnCallError> {
    for (index, window) in windows.iter().enumerate() {
        for (field, time) in [("from", window.from), ("to", window.to)] {
            if time.second() != 0 || time.nanosecond() != 0 {
                return Err(OnCallError::NotWholeMinute { index, field, time });
            }
        }
        if window.user_id.is_nil() {
            return Err(OnCallError::NilUser { index });
        }
        if let Some(first) = windows[..index].iter().position(|w| w == window) {
            return Err(OnCallError::Duplicate { index, first });
        }
    }
    Ok(())
}

/// Checks overrides saved at `now` and reports the first problem: an instant that is not a whole
/// minute, `to` not after `from`, an override that has ended or ends more than
/// [`MAX_OVERRIDE_DAYS`] days after `now`, one longer than that, the nil user, or an exact repeat.
/// Overlapping overrides are fine (two people may cover together).
pub fn validate_overrides(
    overrides: &[OnCallOverride],
    now: DateTime<Utc>,
) -> Result<(), OnCallError> {
    let most = TimeDelta::days(MAX_OVERRIDE_DAYS);
    for (index, o) in overrides.iter().enumerate() {
        for (field, at) in [("from", o.from), ("to", o.to)] {
            if at.timestamp() % 60 != 0 || at.timestamp_subsec_nanos() != 0 {
                return Err(OnCallError::OverrideNotWholeMinute { index, field });
            }
        }
        if o.to <= o.from {
            return Err(OnCallError::OverrideEmpty { index });
        }
        if o.to <= now {
            return Err(OnCallError::OverrideEnded { index });
        }
        if o.to - now > most {
            return Err(OnCallError::OverrideTooFarAhead { index });
        }
        if o.to - o.from > most {
            return Err(OnCallError::OverrideTooLong { index });
        }
        if o.user_id.is_nil() {
            return Err(OnCallError::NilUser { index });
        }
        if let Some(first) = overrides[..index].iter().position(|p| p == o) {
            return Err(OnCallError::Duplicate { index, first });
        }
    }
    Ok(())
}

/// What [`eligibility`] needs to know about a user, as stored when the schedule is saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The user belongs to the practice's customer.
    pub of_customer: bool,
    /// The user is locked.
    pub locked: bool,
    /// The user can see the practice (the API's access rule: staff of its users, the customer's
    /// admins).
    pub sees_practice: bool,
    /// The user has a mobile number alerts can be texted to.
    pub has_mobile: bool,
}

/// Why a user may not be on call at a practice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unfit {
    #[error("is not a user of the practice's customer")]
    NotOfCustomer,
    #[error("is locked")]
    Locked,
    #[error("cannot see this practice (make them one of its users first)")]
    CannotSeePractice,
    #[error("has no mobile number to text alerts to")]
    NoMobile,
}

/// Whether a user may be on call at a practice: an on-call user must be able to act on an alert,
/// so they are an unlocked user of the practice's customer who can see the practice and has a
/// mobile number. The first reason that fails is given.
pub fn eligibility(candidate: Candidate) -> Result<(), Unfit> {
    if !candidate.of_customer {
        Err(Unfit::NotOfCustomer)
    } else if candidate.locked {
        Err(Unfit::Locked)
    } else if !candidate.sees_practice {
        Err(Unfit::CannotSeePractice)
    } else if !candidate.has_mobile {
        Err(Unfit::NoMobile)
    } else {
        Ok(())
    }
}

/// Pushes `user` unless already there (first occurrence keeps its place).
fn push_once(users: &mut Vec<Uuid>, user: Uuid) {
    if !users.contains(&user) {
        users.push(user);
    }
}

/// The users of the weekly windows at local wall-clock time `local`: deduplicated, in the order
/// of each user's first matching window.
pub fn on_call_at_local(windows: &[OnCallWindow], local: NaiveDateTime) -> Vec<Uuid> {
    let mut users = Vec::new();
    for window in windows.iter().filter(|w| w.covers(local)) {
        push_once(&mut users, window.user_id);
    }
    users
}

/// The users of the overrides covering `at`, in saved order; empty when none covers it.
fn overriding_at(overrides: &[OnCallOverride], at: DateTime<Utc>) -> Vec<Uuid> {
    let mut users = Vec::new();
    for o in overrides.iter().filter(|o| o.covers(at)) {
        push_once(&mut users, o.user_id);
    }
    users
}

/// Whether an override decides who is on call at `at`.
pub fn overridden_at(schedule: &Schedule, at: DateTime<Utc>) -> bool {
    schedule.overrides.iter().any(|o| o.covers(at))
}

/// The users on call at instant `at` for a practice in time zone `tz`: those of the overrides
/// covering `at` when there are any, else those of the weekly windows holding the local time.
/// Deduplicated and ordered (overrides in saved order, windows by each user's first matching
/// window); empty when nobody is on call.
///
/// This is the one resolution: alerts, notifications and `GET …/on-call/now` all use it.
pub fn on_call_at(schedule: &Schedule, tz: Tz, at: DateTime<Utc>) -> Vec<Uuid> {
    let overriding = overriding_at(&schedule.overrides, at);
    if !overriding.is_empty() {
        return overriding;
    }
    on_call_at_local(&schedule.windows, at.with_timezone(&tz).naive_local())
}

/// How far past the last override edge [`next_change_after`] looks. Once no override is left,
/// a schedule whose weekly answer is not constant changes within a week of local time (two when
/// a DST gap swallows a stretch once), so this is only a guard against looping forever.
const SEARCH_HORIZON: TimeDelta = TimeDelta::days(15);

/// The first instant strictly after `at` at which the on-call set (compared as a set) differs from
/// the set at `at`; `None` when it never changes (no windows or overrides to come, only
/// all-day-every-day windows, or nothing that changes who is on call).
///
/// Boundaries that change nothing (one user's back-to-back windows, an override of the user the
/// windows name anyway) are skipped, so a caller that sleeps until this instant wakes only for a
/// real change. DST transitions count: the instant clocks jump is returned when the jump moves
/// local time across a boundary that matters (leaving a 01:30–02:30 window at 02:00 EDT on the
/// night clocks go back; entering a 02:30–08:00 window at the spring-forward jump), and both
/// occurrences of a repeated local time are found.
///
/// Should the search horizon pass without a change (it cannot for real time zones), the horizon
/// end is returned so that a caller re-checks then rather than sleeping forever.
pub fn next_change_after(schedule: &Schedule, tz: Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let current = as_set(on_call_at(schedule, tz, at));
    let differs = |instant: DateTime<Utc>| as_set(on_call_at(schedule, tz, instant)) != current;

    let mut edges: Vec<DateTime<Utc>> = schedule
        .overrides
        .iter()
        .flat_map(|o| [o.from, o.to])
        .filter(|&edge| edge > at)
        .collect();
    edges.sort_unstable();
    edges.dedup();

    let boundaries = weekly_boundaries(&schedule.windows);
    if weekly_is_constant(&schedule.windows, &boundaries) {
        // Only an override starting or ending can change the answer.
        return edges.into_iter().find(|&edge| differs(edge));
    }

    let horizon = edges.last().copied().unwrap_or(at).max(at) + SEARCH_HORIZON;
    let mut upcoming = edges.iter().copied().peekable();
    let mut start = at;
    let mut candidates = Vec::new();
    while start < horizon {
        while upcoming.next_if(|&edge| edge <= start).is_some() {}
        let next_edge = upcoming.peek().copied();
        if overridden_at(schedule, start) {
            // The weekly windows are hidden until the overrides change; an override is running,
            // so its end is an edge to come.
            let edge = next_edge?;
            if differs(edge) {
                return Some(edge);
            }
            start = edge;
            continue;
        }
        // Hour-long chunks (shorter up to the next override edge). Within a chunk the UTC offset
        // is constant or changes once (real time zones never change twice within an hour); local
        // time then moves continuously, so the weekly answer can change only where local time
        // reaches a boundary or at the transition itself.
        let mut end = start.checked_add_signed(TimeDelta::hours(1))?;
        if let Some(edge) = next_edge.filter(|&edge| edge < end) {
            end = edge;
        }
        candidates.clear();
        weekly_candidates(&boundaries, tz, start, end, &mut candidates)?;
        if next_edge == Some(end) {
            candidates.push(end);
        }
        candidates.sort_unstable();
        if let Some(&change) = candidates.iter().find(|&&c| differs(c)) {
            return Some(change);
        }
        start = end;
    }
    Some(start)
}

/// The times of day at which some window starts or ends (not all-day-every-day windows, which
/// never do), sorted and without repeats.
fn weekly_boundaries(windows: &[OnCallWindow]) -> Vec<NaiveTime> {
    let mut boundaries: Vec<NaiveTime> = windows
        .iter()
        .filter(|w| !w.is_always())
        .flat_map(|w| [w.from, w.to])
        .collect();
    boundaries.sort_unstable();
    boundaries.dedup();
    boundaries
}

/// Whether the weekly windows always give the same set. As a function of the local weekday and
/// time, the set is constant on each stretch that starts at a boundary on some weekday; if all
/// those stretches agree it never changes.
fn weekly_is_constant(windows: &[OnCallWindow], boundaries: &[NaiveTime]) -> bool {
    // 2024-01-01 is a Monday; any week would do.
    let monday = NaiveDate::from_ymd_opt(2024, 1, 1).expect("a valid date");
    let mut stretches = (0..7).flat_map(|day| {
        let date = monday + TimeDelta::days(day);
        boundaries
            .iter()
            .map(move |&b| as_set(on_call_at_local(windows, NaiveDateTime::new(date, b))))
    });
    match stretches.next() {
        None => true,
        Some(first) => stretches.all(|set| set == first),
    }
}

/// Pushes the instants in `(lo, hi]` at which the weekly answer may change: where local time
/// reaches a boundary, and a UTC offset transition inside the span.
fn weekly_candidates(
    boundaries: &[NaiveTime],
    tz: Tz,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    out: &mut Vec<DateTime<Utc>>,
) -> Option<()> {
    let lo_offset = utc_offset(tz, lo);
    let hi_offset = utc_offset(tz, hi);
    if lo_offset == hi_offset {
        crossings(boundaries, lo, hi, lo_offset, true, out);
    } else {
        let transition = find_transition(tz, lo, hi, lo_offset)?;
        crossings(boundaries, lo, transition, lo_offset, false, out);
        out.push(transition);
        crossings(boundaries, transition, hi, hi_offset, true, out);
    }
    Some(())
}

fn as_set(mut users: Vec<Uuid>) -> Vec<Uuid> {
    users.sort_unstable();
    users
}

fn utc_offset(tz: Tz, at: DateTime<Utc>) -> FixedOffset {
    tz.offset_from_utc_datetime(&at.naive_utc()).fix()
}

/// Pushes the instants in `(lo, hi)` — `(lo, hi]` when `include_hi` — at which local time, running
/// at the fixed `offset`, reaches one of `boundaries`. The span must be shorter than a day.
fn crossings(
    boundaries: &[NaiveTime],
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    offset: FixedOffset,
    include_hi: bool,
    out: &mut Vec<DateTime<Utc>>,
) {
    let local_lo = lo.with_timezone(&offset).naive_local();
    let local_hi = hi.with_timezone(&offset).naive_local();
    let mut day = local_lo.date();
    while day <= local_hi.date() {
        for &boundary in boundaries {
            let local = NaiveDateTime::new(day, boundary);
            let inside =
                local > local_lo && (local < local_hi || (include_hi && local == local_hi));
            if inside && let Some(instant) = offset.from_local_datetime(&local).single() {
                out.push(instant.with_timezone(&Utc));
            }
        }
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
}

/// The first whole second in `(lo, hi]` whose UTC offset is no longer `lo_offset`, given that the
/// offset at `hi` differs from the one at `lo`. Transitions happen on whole seconds.
fn find_transition(
    tz: Tz,
    lo: DateTime<Utc>,
    hi: DateTime<Utc>,
    lo_offset: FixedOffset,
) -> Option<DateTime<Utc>> {
    let mut before = lo.timestamp();
    let mut after = hi.timestamp() + i64::from(hi.timestamp_subsec_nanos() > 0);
    while after - before > 1 {
        let middle = before + (after - before) / 2;
        let offset = utc_offset(tz, DateTime::from_timestamp(middle, 0)?);
        if offset == lo_offset {
            before = middle;
        } else {
            after = middle;
        }
    }
    DateTime::from_timestamp(after, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::America::New_York;
    use chrono_tz::Australia::Sydney;
    use chrono_tz::Europe::London;
    use proptest::prelude::*;

    fn hm(text: &str) -> NaiveTime {
        parse_hhmm(text).unwrap()
    }

    fn user(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn window(from: &str, to: &str, user_n: u128) -> OnCallWindow {
        OnCallWindow {
            from: hm(from),
            to: hm(to),
            user_id: user(user_n),
            days: Weekdays::EVERY_DAY,
        }
    }

    /// A schedule of weekly windows only.
    fn weekly(windows: &[OnCallWindow]) -> Schedule {
        Schedule {
            windows: windows.to_vec(),
            overrides: Vec::new(),
        }
    }

    fn on_call(windows: &[OnCallWindow], tz: Tz, at: DateTime<Utc>) -> Vec<Uuid> {
        on_call_at(&weekly(windows), tz, at)
    }

    fn next_change(windows: &[OnCallWindow], tz: Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        next_change_after(&weekly(windows), tz, at)
    }

    /// `time` on some day, for windows of every day.
    fn any_day(time: NaiveTime) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 1, 7).unwrap().and_time(time)
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn minutes(n: i64) -> TimeDelta {
        TimeDelta::minutes(n)
    }

    const ZONES: [Tz; 3] = [New_York, London, Sydney];

    /// Every instant from 2026-01-01T00:00Z (inclusive) to 2027-01-01T00:00Z (exclusive), `step`
    /// apart.
    fn through_2026(step: TimeDelta) -> impl Iterator<Item = DateTime<Utc>> {
        let end = utc("2027-01-01T00:00:00Z");
        std::iter::successors(Some(utc("2026-01-01T00:00:00Z")), move |&t| Some(t + step))
            .take_while(move |&t| t < end)
    }

    fn local_time(tz: Tz, at: DateTime<Utc>) -> NaiveTime {
        at.with_timezone(&tz).time()
    }

    fn minute_of_day(time: NaiveTime) -> u32 {
        time.hour() * 60 + time.minute()
    }

    // ---- parsing ---------------------------------------------------------------------------

    #[test]
    fn parse_hhmm_accepts_two_digit_hours_and_minutes_on_a_24_hour_clock() {
        for (input, hour, minute) in [
            ("00:00", 0, 0),
            ("06:05", 6, 5),
            ("12:30", 12, 30),
            ("22:00", 22, 0),
            ("23:59", 23, 59),
        ] {
            assert_eq!(
                parse_hhmm(input),
                Ok(NaiveTime::from_hms_opt(hour, minute, 0).unwrap()),
                "{input}"
            );
        }
    }

    #[test]
    fn parse_hhmm_refuses_malformed_input_with_a_format_hint() {
        for input in [
            "", "9:00", "09:0", "0900", "09-00", "09:00:00", " 09:00", "09:00 ", "ab:cd", "+9:00",
            "09:+0", "０9:00", "9 am",
        ] {
            let error = parse_hhmm(input).unwrap_err();
            assert!(
                matches!(error, OnCallError::BadTimeFormat { .. }),
                "{input:?} gave {error:?}"
            );
            assert!(error.to_string().contains("HH:MM"), "{error}");
        }
    }

    #[test]
    fn parse_hhmm_refuses_times_past_the_end_of_the_day_and_points_midnight_to_00_00() {
        for input in ["24:00", "23:60", "99:99", "25:10"] {
            let error = parse_hhmm(input).unwrap_err();
            assert_eq!(
                error,
                OnCallError::TimeOutOfRange {
                    input: input.to_owned()
                }
            );
            assert!(error.to_string().contains("00:00"), "{error}");
            assert!(error.to_string().contains(input), "{error}");
        }
    }

    #[test]
    fn parse_errors_echo_at_most_a_short_prefix_of_the_input() {
        let long = "x".repeat(10_000);
        let message = parse_hhmm(&long).unwrap_err().to_string();
        assert!(message.len() < 200, "{message}");
    }

    #[test]
    fn format_hhmm_round_trips_parse_hhmm() {
        for input in ["00:00", "07:05", "23:59"] {
            assert_eq!(format_hhmm(hm(input)), input);
        }
    }

    // ---- what a window covers --------------------------------------------------------------

    #[test]
    fn a_window_covers_from_its_start_inclusive_to_its_end_exclusive() {
        // (window, time, covered)
        let table = [
            (("08:00", "17:00"), "07:59", false),
            (("08:00", "17:00"), "08:00", true),
            (("08:00", "17:00"), "16:59", true),
            (("08:00", "17:00"), "17:00", false),
            (("22:00", "06:00"), "21:59", false),
            (("22:00", "06:00"), "22:00", true),
            (("22:00", "06:00"), "23:59", true),
            (("22:00", "06:00"), "00:00", true),
            (("22:00", "06:00"), "05:59", true),
            (("22:00", "06:00"), "06:00", false),
            (("22:00", "06:00"), "12:00", false),
            (("18:00", "00:00"), "17:59", false),
            (("18:00", "00:00"), "18:00", true),
            (("18:00", "00:00"), "23:59", true),
            (("18:00", "00:00"), "00:00", false),
            (("00:00", "06:00"), "00:00", true),
            (("00:00", "06:00"), "06:00", false),
            (("00:00", "00:00"), "00:00", true),
            (("00:00", "00:00"), "13:37", true),
            (("08:00", "08:00"), "07:59", true),
            (("08:00", "08:00"), "08:00", true),
        ];
        for ((from, to), at, covered) in table {
            assert_eq!(
                window(from, to, 1).covers(any_day(hm(at))),
                covered,
                "{from}-{to} at {at}"
            );
        }
    }

    #[test]
    fn a_window_ending_at_00_00_wraps_to_midnight_and_no_further() {
        let evening = window("18:00", "00:00", 1);
        assert!(evening.wraps_midnight());
        assert!(!evening.is_all_day());
        assert!(!evening.covers(any_day(NaiveTime::MIN)));
        assert!(evening.covers(any_day(
            NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999).unwrap()
        )));
    }

    #[test]
    fn a_window_whose_from_equals_to_is_all_day_and_does_not_wrap() {
        let always = window("08:00", "08:00", 1);
        assert!(always.is_all_day());
        assert!(!always.wraps_midnight());
    }

    // ---- validation ------------------------------------------------------------------------

    #[test]
    fn validate_windows_accepts_empty_overlapping_wrapping_and_all_day_schedules() {
        let schedules: [&[OnCallWindow]; 4] = [
            &[],
            &[window("08:00", "17:00", 1), window("12:00", "20:00", 2)],
            &[window("22:00", "06:00", 1), window("18:00", "00:00", 1)],
            &[window("00:00", "00:00", 1), window("09:00", "09:00", 2)],
        ];
        for schedule in schedules {
            assert_eq!(validate_windows(schedule), Ok(()), "{schedule:?}");
        }
    }

    #[test]
    fn validate_windows_refuses_times_that_are_not_whole_minutes_and_names_the_field() {
        let mut with_seconds = window("08:00", "17:00", 2);
        with_seconds.to = NaiveTime::from_hms_opt(17, 0, 30).unwrap();
        let error = validate_windows(&[window("01:00", "02:00", 1), with_seconds]).unwrap_err();
        assert_eq!(
            error,
            OnCallError::NotWholeMinute {
                index: 1,
                field: "to",
                time: with_seconds.to
            }
        );
        assert_eq!(error.field_path().as_deref(), Some("[1].to"));
        assert!(error.to_string().contains("17:00:30"), "{error}");

        let mut with_nanos = window("08:00", "17:00", 2);
        with_nanos.from = NaiveTime::from_hms_nano_opt(8, 0, 0, 1).unwrap();
        assert_eq!(
            validate_windows(&[with_nanos])
                .unwrap_err()
                .field_path()
                .as_deref(),
            Some("[0].from")
        );
    }

    #[test]
    fn validate_windows_refuses_the_nil_user() {
        let mut nobody = window("08:00", "17:00", 1);
        nobody.user_id = Uuid::nil();
        let error = validate_windows(&[nobody]).unwrap_err();
        assert_eq!(error, OnCallError::NilUser { index: 0 });
        assert_eq!(error.field_path().as_deref(), Some("[0].user_id"));
    }

    #[test]
    fn validate_windows_refuses_an_exact_repeat_and_names_both_windows() {
        let error = validate_windows(&[
            window("08:00", "17:00", 1),
            window("08:00", "17:00", 2),
            window("08:00", "17:00", 1),
        ])
        .unwrap_err();
        assert_eq!(error, OnCallError::Duplicate { index: 2, first: 0 });
        assert_eq!(error.field_path().as_deref(), Some("[2]"));
        assert!(error.to_string().contains("[0]"), "{error}");
        // The same times on other days are another window.
        let mut weekend = window("08:00", "17:00", 1);
        weekend.days = Weekdays::parse(0, &["sat", "sun"]).unwrap();
        assert_eq!(
            validate_windows(&[window("08:00", "17:00", 1), weekend]),
            Ok(())
        );
    }

    // ---- who is on call --------------------------------------------------------------------

    #[test]
    fn on_call_at_lists_each_user_once_in_the_order_of_their_first_matching_window() {
        let windows = [
            window("00:00", "00:00", 3),
            window("08:00", "17:00", 1),
            window("12:00", "13:00", 3),
            window("09:00", "18:00", 2),
            window("10:00", "11:00", 1),
        ];
        // 10:30 EST is 15:30Z.
        assert_eq!(
            on_call(&windows, New_York, utc("2026-01-15T15:30:00Z")),
            [user(3), user(1), user(2)]
        );
    }

    #[test]
    fn on_call_at_uses_the_practices_local_time_not_utc() {
        let windows = [window("08:00", "09:00", 1)];
        // 08:30 in New York in winter (EST, UTC-5) and in summer (EDT, UTC-4).
        assert_eq!(
            on_call(&windows, New_York, utc("2026-01-15T13:30:00Z")),
            [user(1)]
        );
        assert_eq!(
            on_call(&windows, New_York, utc("2026-07-15T12:30:00Z")),
            [user(1)]
        );
        assert!(on_call(&windows, New_York, utc("2026-01-15T08:30:00Z")).is_empty());
        // 08:30 in Sydney on 15 January (AEDT, UTC+11) is 21:30Z the day before.
        assert_eq!(
            on_call(&windows, Sydney, utc("2026-01-14T21:30:00Z")),
            [user(1)]
        );
    }

    #[test]
    fn on_call_at_with_no_windows_is_nobody() {
        assert!(on_call(&[], London, utc("2026-06-01T12:00:00Z")).is_empty());
    }

    #[test]
    fn an_alert_at_0130_on_the_night_clocks_go_back_resolves_for_both_0130s() {
        // 2026-11-01 America/New_York: 01:30 EDT is 05:30Z, 01:30 EST is 06:30Z.
        let windows = [
            window("01:00", "02:00", 1),
            window("01:30", "01:31", 2),
            window("02:00", "03:00", 3),
        ];
        for at in ["2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"] {
            let at = utc(at);
            assert_eq!(local_time(New_York, at), hm("01:30"));
            assert_eq!(on_call(&windows, New_York, at), [user(1), user(2)], "{at}");
        }
        // The hour between is 01:xx EDT then 01:xx EST; 02:00 EST comes at 07:00Z.
        assert_eq!(
            on_call(&windows, New_York, utc("2026-11-01T06:59:00Z")),
            [user(1)]
        );
        assert_eq!(
            on_call(&windows, New_York, utc("2026-11-01T07:00:00Z")),
            [user(3)]
        );
    }

    #[test]
    fn the_skipped_hour_on_spring_forward_night_never_matches() {
        // 2026-03-08 America/New_York: 02:00 EST (07:00Z) becomes 03:00 EDT.
        let skipped = [window("02:00", "03:00", 1), window("02:15", "02:45", 2)];
        let night = utc("2026-03-08T00:00:00Z");
        for minute in 0..24 * 60 {
            let at = night + minutes(minute);
            assert!(on_call(&skipped, New_York, at).is_empty(), "{at}");
        }
        // The next night the hour exists again.
        assert_eq!(
            on_call(&skipped, New_York, utc("2026-03-09T06:30:00Z")),
            [user(1), user(2)]
        );
    }

    #[test]
    fn a_window_starting_inside_the_skipped_hour_starts_when_the_clocks_jump() {
        let windows = [window("02:30", "08:00", 1)];
        assert!(on_call(&windows, New_York, utc("2026-03-08T06:59:59Z")).is_empty());
        assert_eq!(
            on_call(&windows, New_York, utc("2026-03-08T07:00:00Z")),
            [user(1)]
        );
    }

    #[test]
    fn london_and_sydney_repeat_and_skip_their_own_hours() {
        // Europe/London 2026-10-25: 01:30 BST (00:30Z) and 01:30 GMT (01:30Z).
        let windows = [window("01:15", "01:45", 1)];
        for at in ["2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"] {
            assert_eq!(on_call(&windows, London, utc(at)), [user(1)], "{at}");
        }
        // Australia/Sydney 2026-04-05: 02:30 AEDT (2026-04-04T15:30Z) and 02:30 AEST (16:30Z).
        let windows = [window("02:15", "02:45", 1)];
        for at in ["2026-04-04T15:30:00Z", "2026-04-04T16:30:00Z"] {
            assert_eq!(on_call(&windows, Sydney, utc(at)), [user(1)], "{at}");
        }
        // Australia/Sydney 2026-10-04: 02:00 AEST (2026-10-03T16:00Z) becomes 03:00 AEDT.
        let night = utc("2026-10-03T12:00:00Z");
        for minute in 0..12 * 60 {
            assert!(on_call(&windows, Sydney, night + minutes(minute)).is_empty());
        }
    }

    // ---- a year of instants ----------------------------------------------------------------

    /// Schedules whose windows tile the day; boundaries sit on the DST-sensitive hours.
    fn tilings() -> Vec<Vec<OnCallWindow>> {
        vec![
            vec![
                window("00:00", "08:00", 1),
                window("08:00", "17:00", 2),
                window("17:00", "00:00", 3),
            ],
            vec![window("07:00", "19:00", 1), window("19:00", "07:00", 2)],
            vec![
                window("01:30", "02:00", 1),
                window("02:00", "02:30", 2),
                window("02:30", "03:00", 3),
                window("03:00", "01:30", 4),
            ],
            vec![window("05:45", "05:45", 9)],
        ]
    }

    #[test]
    fn through_2026_windows_that_tile_the_day_always_resolve_exactly_one_user() {
        for tz in ZONES {
            for tiling in tilings() {
                for at in through_2026(minutes(7)) {
                    let users = on_call(&tiling, tz, at);
                    assert_eq!(users.len(), 1, "{tz} {at} {tiling:?}");
                    let owner = tiling
                        .iter()
                        .find(|w| w.covers(at.with_timezone(&tz).naive_local()));
                    assert_eq!(users[0], owner.unwrap().user_id);
                }
            }
        }
    }

    #[test]
    fn through_2026_an_overnight_window_is_active_exactly_when_local_time_is_in_it() {
        let overnight = [window("22:00", "06:00", 1)];
        for tz in ZONES {
            for at in through_2026(minutes(7)) {
                let hour = at.with_timezone(&tz).hour();
                let expected = !(6..22).contains(&hour);
                assert_eq!(
                    !on_call(&overnight, tz, at).is_empty(),
                    expected,
                    "{tz} {at}"
                );
            }
        }
    }

    #[test]
    fn through_2026_a_window_ending_at_midnight_is_active_from_its_start_until_midnight() {
        let evening = [window("18:30", "00:00", 1)];
        for tz in ZONES {
            for at in through_2026(minutes(7)) {
                let expected = minute_of_day(local_time(tz, at)) >= 18 * 60 + 30;
                assert_eq!(!on_call(&evening, tz, at).is_empty(), expected, "{tz} {at}");
            }
        }
    }

    #[test]
    fn through_2026_gaps_between_windows_resolve_to_nobody() {
        let windows = [window("08:00", "12:00", 1), window("13:00", "17:00", 2)];
        for tz in ZONES {
            for at in through_2026(minutes(7)) {
                let minute = minute_of_day(local_time(tz, at));
                let expected: &[Uuid] = match minute {
                    480..720 => &[user(1)],
                    780..1020 => &[user(2)],
                    _ => &[],
                };
                assert_eq!(on_call(&windows, tz, at), expected, "{tz} {at}");
            }
        }
    }

    #[test]
    fn through_2026_following_next_change_after_visits_every_change_and_only_changes() {
        let mut schedules = tilings();
        schedules.push(vec![
            window("22:00", "06:00", 1),
            window("01:30", "02:30", 2),
        ]);
        for tz in ZONES {
            for windows in &schedules {
                let start = utc("2026-01-01T00:00:00Z");
                let end = utc("2027-01-01T00:00:00Z");
                let mut changes = vec![start];
                while let Some(next) = next_change(windows, tz, *changes.last().unwrap()) {
                    assert!(next > *changes.last().unwrap());
                    if next >= end {
                        break;
                    }
                    changes.push(next);
                }
                for pair in changes.windows(2) {
                    assert_ne!(
                        as_set(on_call(windows, tz, pair[0])),
                        as_set(on_call(windows, tz, pair[1])),
                        "{tz} {pair:?} is not a change"
                    );
                }
                let mut latest = 0;
                for at in through_2026(minutes(7)) {
                    while latest + 1 < changes.len() && changes[latest + 1] <= at {
                        latest += 1;
                    }
                    assert_eq!(
                        on_call(windows, tz, at),
                        on_call(windows, tz, changes[latest]),
                        "{tz} {at}: a change after {} was missed",
                        changes[latest]
                    );
                }
            }
        }
    }

    // ---- next change -----------------------------------------------------------------------

    fn changes_from(
        windows: &[OnCallWindow],
        tz: Tz,
        from: &str,
        count: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut at = utc(from);
        let mut out = Vec::new();
        for _ in 0..count {
            at = next_change(windows, tz, at).unwrap();
            out.push(at);
        }
        out
    }

    #[test]
    fn next_change_after_is_none_when_the_set_can_never_change() {
        let at = utc("2026-05-01T12:00:00Z");
        let schedules: [&[OnCallWindow]; 4] = [
            &[],
            &[window("00:00", "00:00", 1)],
            &[window("08:00", "20:00", 1), window("20:00", "08:00", 1)],
            &[window("09:00", "09:00", 1), window("08:00", "17:00", 1)],
        ];
        for windows in schedules {
            assert_eq!(next_change(windows, New_York, at), None, "{windows:?}");
        }
    }

    #[test]
    fn next_change_after_finds_the_next_local_boundary_strictly_after_the_instant() {
        let windows = [window("08:00", "17:00", 1)];
        // 07:00 EST -> 08:00 EST.
        assert_eq!(
            next_change(&windows, New_York, utc("2026-01-15T12:00:00Z")),
            Some(utc("2026-01-15T13:00:00Z"))
        );
        // Exactly at 08:00 EST: the next change is 17:00 EST.
        assert_eq!(
            next_change(&windows, New_York, utc("2026-01-15T13:00:00Z")),
            Some(utc("2026-01-15T22:00:00Z"))
        );
        // One nanosecond before 08:00 EST.
        assert_eq!(
            next_change(
                &windows,
                New_York,
                utc("2026-01-15T13:00:00Z") - TimeDelta::nanoseconds(1)
            ),
            Some(utc("2026-01-15T13:00:00Z"))
        );
    }

    #[test]
    fn next_change_after_skips_boundaries_that_change_nothing() {
        let windows = [window("08:00", "12:00", 1), window("12:00", "17:00", 1)];
        // 09:00 EST -> 17:00 EST, not 12:00.
        assert_eq!(
            next_change(&windows, New_York, utc("2026-01-15T14:00:00Z")),
            Some(utc("2026-01-15T22:00:00Z"))
        );
    }

    #[test]
    fn next_change_after_crosses_midnight_for_an_overnight_window() {
        let windows = [window("22:00", "06:00", 1)];
        // 23:00 BST on 2026-06-01 is 22:00Z; the window ends 06:00 BST = 05:00Z next day.
        assert_eq!(
            next_change(&windows, London, utc("2026-06-01T22:00:00Z")),
            Some(utc("2026-06-02T05:00:00Z"))
        );
    }

    #[test]
    fn next_change_after_finds_both_0130s_on_the_night_clocks_go_back() {
        let windows = [window("01:30", "01:45", 1)];
        assert_eq!(
            changes_from(&windows, New_York, "2026-11-01T04:00:00Z", 4),
            [
                utc("2026-11-01T05:30:00Z"),
                utc("2026-11-01T05:45:00Z"),
                utc("2026-11-01T06:30:00Z"),
                utc("2026-11-01T06:45:00Z"),
            ]
        );
    }

    #[test]
    fn next_change_after_reports_the_fall_back_jump_when_it_leaves_a_window() {
        // 01:30 EDT enters, the jump to 01:00 EST leaves, 01:30 EST enters, 02:30 EST leaves.
        let windows = [window("01:30", "02:30", 1)];
        assert_eq!(
            changes_from(&windows, New_York, "2026-11-01T04:00:00Z", 4),
            [
                utc("2026-11-01T05:30:00Z"),
                utc("2026-11-01T06:00:00Z"),
                utc("2026-11-01T06:30:00Z"),
                utc("2026-11-01T07:30:00Z"),
            ]
        );
    }

    #[test]
    fn next_change_after_reports_the_spring_forward_jump_when_a_boundary_is_skipped() {
        // 02:30 does not exist on 2026-03-08; the window starts at the jump (07:00Z = 03:00 EDT).
        let windows = [window("02:30", "04:00", 1)];
        assert_eq!(
            changes_from(&windows, New_York, "2026-03-08T05:00:00Z", 2),
            [utc("2026-03-08T07:00:00Z"), utc("2026-03-08T08:00:00Z")]
        );
        // A window wholly inside the skipped hour does not happen that night.
        let windows = [window("02:15", "02:45", 1)];
        assert_eq!(
            next_change(&windows, New_York, utc("2026-03-08T05:00:00Z")),
            Some(utc("2026-03-09T06:15:00Z"))
        );
    }

    // ---- properties ------------------------------------------------------------------------

    /// Extra zones for the properties: a 30-minute DST shift and a zone without DST.
    const PROPERTY_ZONES: [Tz; 5] = [
        New_York,
        London,
        Sydney,
        chrono_tz::Australia::Lord_Howe,
        chrono_tz::Asia::Kolkata,
    ];

    /// DST transitions of 2026 in the property zones, to aim instants at.
    const TRANSITIONS_2026: [&str; 8] = [
        "2026-03-08T07:00:00Z",
        "2026-11-01T06:00:00Z",
        "2026-03-29T01:00:00Z",
        "2026-10-25T01:00:00Z",
        "2026-04-04T16:00:00Z",
        "2026-10-03T16:00:00Z",
        "2026-04-04T15:00:00Z",
        "2026-10-03T15:30:00Z",
    ];

    fn zone() -> impl Strategy<Value = Tz> {
        prop::sample::select(PROPERTY_ZONES.to_vec())
    }

    /// Instants in 2026, half of them within a day and a half of a DST transition.
    fn instant_2026() -> impl Strategy<Value = DateTime<Utc>> {
        let year_start = utc("2026-01-01T00:00:00Z").timestamp();
        let year_end = utc("2027-01-01T00:00:00Z").timestamp();
        prop_oneof![
            (year_start..year_end).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap()),
            (
                prop::sample::select(TRANSITIONS_2026.to_vec()),
                -36 * 3600i64..36 * 3600
            )
                .prop_map(|(t, offset)| utc(t) + TimeDelta::seconds(offset)),
        ]
    }

    /// A time of day in whole minutes, often on an hour or half hour near the DST jumps.
    fn time_of_day() -> impl Strategy<Value = NaiveTime> {
        prop_oneof![
            0u32..1440,
            prop::sample::select(vec![0u32, 60, 90, 120, 150, 180, 1410]),
        ]
        .prop_map(|m| NaiveTime::from_hms_opt(m / 60, m % 60, 0).unwrap())
    }

    fn windows() -> impl Strategy<Value = Vec<OnCallWindow>> {
        prop::collection::vec(
            (time_of_day(), time_of_day(), 1u128..4).prop_map(|(from, to, u)| OnCallWindow {
                from,
                to,
                user_id: user(u),
                days: Weekdays::EVERY_DAY,
            }),
            0..5,
        )
    }

    /// Cut points of the day; consecutive cuts (wrapping) form windows of distinct users.
    fn tiling() -> impl Strategy<Value = Vec<OnCallWindow>> {
        prop::collection::btree_set(time_of_day(), 1..6).prop_map(|cuts| {
            let cuts: Vec<NaiveTime> = cuts.into_iter().collect();
            (0..cuts.len())
                .map(|i| OnCallWindow {
                    from: cuts[i],
                    to: cuts[(i + 1) % cuts.len()],
                    user_id: user(i as u128 + 1),
                    days: Weekdays::EVERY_DAY,
                })
                .collect()
        })
    }

    /// The first whole minute after `at` whose set differs, scanning minute by minute for 3 days.
    fn brute_force_next_change(
        windows: &[OnCallWindow],
        tz: Tz,
        at: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let current = as_set(on_call(windows, tz, at));
        let first_minute = DateTime::from_timestamp((at.timestamp() / 60 + 1) * 60, 0).unwrap();
        (0..3 * 24 * 60)
            .map(|m| first_minute + minutes(m))
            .find(|&t| as_set(on_call(windows, tz, t)) != current)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn windows_that_tile_the_day_resolve_exactly_the_owner_of_the_local_time(
            tiling in tiling(), tz in zone(), at in instant_2026()
        ) {
            let users = on_call(&tiling, tz, at);
            prop_assert_eq!(users.len(), 1);
            let local = at.with_timezone(&tz).naive_local();
            let owners: Vec<_> = tiling.iter().filter(|w| w.covers(local)).collect();
            prop_assert_eq!(owners.len(), 1);
            prop_assert_eq!(users[0], owners[0].user_id);
        }

        #[test]
        fn on_call_at_agrees_with_minute_arithmetic_on_the_local_clock(
            windows in windows(), tz in zone(), at in instant_2026()
        ) {
            let local = at.with_timezone(&tz);
            let now = local.hour() * 60 + local.minute();
            let mut expected = Vec::new();
            for w in &windows {
                let (from, to) = (minute_of_day(w.from), minute_of_day(w.to));
                let active = if from == to {
                    true
                } else if from < to {
                    from <= now && now < to
                } else {
                    now >= from || now < to
                };
                if active && !expected.contains(&w.user_id) {
                    expected.push(w.user_id);
                }
            }
            prop_assert_eq!(on_call(&windows, tz, at), expected);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn next_change_after_matches_a_minute_by_minute_scan(
            windows in windows(), tz in zone(), at in instant_2026(), nanos in 0u32..2
        ) {
            let at = at + TimeDelta::nanoseconds(i64::from(nanos) * 500_000_000);
            prop_assert_eq!(
                next_change(&windows, tz, at),
                brute_force_next_change(&windows, tz, at)
            );
        }
    }

    #[test]
    fn transitions_used_by_the_properties_are_real() {
        for (tz, at) in [
            (New_York, TRANSITIONS_2026[0]),
            (New_York, TRANSITIONS_2026[1]),
            (London, TRANSITIONS_2026[2]),
            (London, TRANSITIONS_2026[3]),
            (Sydney, TRANSITIONS_2026[4]),
            (Sydney, TRANSITIONS_2026[5]),
            (chrono_tz::Australia::Lord_Howe, TRANSITIONS_2026[6]),
            (chrono_tz::Australia::Lord_Howe, TRANSITIONS_2026[7]),
        ] {
            let at = utc(at);
            assert_ne!(
                utc_offset(tz, at - TimeDelta::seconds(1)),
                utc_offset(tz, at),
                "{tz} {at}"
            );
        }
    }

    // ---- weekdays ----------------------------------------------------------------------------

    fn days(names: &[&str]) -> Weekdays {
        Weekdays::parse(0, names).unwrap()
    }

    fn on_days(from: &str, to: &str, user_n: u128, names: &[&str]) -> OnCallWindow {
        OnCallWindow {
            days: days(names),
            ..window(from, to, user_n)
        }
    }

    fn local(text: &str) -> NaiveDateTime {
        text.parse().unwrap()
    }

    #[test]
    fn weekdays_parse_the_apis_day_names_and_read_back_monday_first() {
        let table: [(&[&str], u8, &[&str]); 4] = [
            (&["mon"], 0b000_0001, &["mon"]),
            (&["sun", "mon"], 0b100_0001, &["mon", "sun"]),
            (&["sat", "fri"], 0b011_0000, &["fri", "sat"]),
            (
                &["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                0b111_1111,
                &DAY_NAMES,
            ),
        ];
        for (input, bits, names) in table {
            let parsed = days(input);
            assert_eq!(parsed.bits(), bits, "{input:?}");
            assert_eq!(parsed.names(), names, "{input:?}");
            assert_eq!(Weekdays::from_bits(i64::from(bits)), Some(parsed));
        }
        assert!(days(&DAY_NAMES).is_every_day());
        assert!(!days(&["mon"]).is_every_day());
        for bits in [0, 128, -1, 255] {
            assert_eq!(Weekdays::from_bits(bits), None, "{bits}");
        }
        assert!(days(&["tue"]).contains(Weekday::Tue));
        assert!(!days(&["tue"]).contains(Weekday::Wed));
    }

    #[test]
    fn weekdays_refuse_an_empty_list_unknown_names_and_repeats_naming_the_entry() {
        let table: [(&[&str], OnCallError, &str); 5] = [
            (&[], OnCallError::NoDays { index: 3 }, "[3].days"),
            (
                &["mon", "Tue"],
                OnCallError::BadDay {
                    index: 3,
                    day_index: 1,
                    input: "Tue".into(),
                },
                "[3].days[1]",
            ),
            (
                &["monday"],
                OnCallError::BadDay {
                    index: 3,
                    day_index: 0,
                    input: "monday".into(),
                },
                "[3].days[0]",
            ),
            (
                &[" mon"],
                OnCallError::BadDay {
                    index: 3,
                    day_index: 0,
                    input: " mon".into(),
                },
                "[3].days[0]",
            ),
            (
                &["fri", "sat", "fri"],
                OnCallError::RepeatedDay {
                    index: 3,
                    day_index: 2,
                    day: "fri",
                },
                "[3].days[2]",
            ),
        ];
        for (input, error, path) in table {
            let got = Weekdays::parse(3, input).unwrap_err();
            assert_eq!(got, error, "{input:?}");
            assert_eq!(got.field_path().as_deref(), Some(path), "{input:?}");
        }
        let long = "x".repeat(1000);
        assert!(Weekdays::parse(0, &[long]).unwrap_err().to_string().len() < 120);
    }

    #[test]
    fn a_window_with_weekdays_covers_only_the_days_it_starts_on() {
        // 2026-01-05 is a Monday, 2026-01-09 a Friday, 2026-01-11 a Sunday.
        let table = [
            (
                ("08:00", "17:00", &["mon"][..]),
                "2026-01-05T09:00:00",
                true,
            ),
            (
                ("08:00", "17:00", &["mon"][..]),
                "2026-01-05T17:00:00",
                false,
            ),
            (
                ("08:00", "17:00", &["mon"][..]),
                "2026-01-06T09:00:00",
                false,
            ),
            (
                ("08:00", "17:00", &["mon"][..]),
                "2026-01-11T09:00:00",
                false,
            ),
            // Overnight: the day is the day the window starts.
            (
                ("22:00", "06:00", &["fri"][..]),
                "2026-01-09T22:00:00",
                true,
            ),
            (
                ("22:00", "06:00", &["fri"][..]),
                "2026-01-10T05:59:00",
                true,
            ),
            (
                ("22:00", "06:00", &["fri"][..]),
                "2026-01-10T06:00:00",
                false,
            ),
            (
                ("22:00", "06:00", &["fri"][..]),
                "2026-01-10T22:00:00",
                false,
            ),
            (
                ("22:00", "06:00", &["fri"][..]),
                "2026-01-09T05:00:00",
                false,
            ),
            (
                ("22:00", "06:00", &["fri"][..]),
                "2026-01-08T23:00:00",
                false,
            ),
            // Sunday night runs into Monday morning, across the week's end.
            (
                ("22:00", "06:00", &["sun"][..]),
                "2026-01-11T23:00:00",
                true,
            ),
            (
                ("22:00", "06:00", &["sun"][..]),
                "2026-01-12T03:00:00",
                true,
            ),
            (
                ("22:00", "06:00", &["sun"][..]),
                "2026-01-11T03:00:00",
                false,
            ),
            // Until midnight and no further.
            (
                ("18:00", "00:00", &["sun"][..]),
                "2026-01-11T23:59:00",
                true,
            ),
            (
                ("18:00", "00:00", &["sun"][..]),
                "2026-01-12T00:00:00",
                false,
            ),
            // 24 hours from `from` on the days named.
            (
                ("08:00", "08:00", &["mon"][..]),
                "2026-01-05T08:00:00",
                true,
            ),
            (
                ("08:00", "08:00", &["mon"][..]),
                "2026-01-06T07:59:00",
                true,
            ),
            (
                ("08:00", "08:00", &["mon"][..]),
                "2026-01-06T08:00:00",
                false,
            ),
            (
                ("08:00", "08:00", &["mon"][..]),
                "2026-01-05T07:59:00",
                false,
            ),
            (
                ("00:00", "00:00", &["sat", "sun"][..]),
                "2026-01-10T00:00:00",
                true,
            ),
            (
                ("00:00", "00:00", &["sat", "sun"][..]),
                "2026-01-11T23:59:00",
                true,
            ),
            (
                ("00:00", "00:00", &["sat", "sun"][..]),
                "2026-01-12T00:00:00",
                false,
            ),
            (
                ("00:00", "00:00", &["sat", "sun"][..]),
                "2026-01-09T23:59:00",
                false,
            ),
        ];
        for ((from, to, names), at, covered) in table {
            assert_eq!(
                on_days(from, to, 1, names).covers(local(at)),
                covered,
                "{from}-{to} {names:?} at {at}"
            );
        }
    }

    #[test]
    fn a_sunday_window_holds_both_0130s_of_the_night_clocks_go_back() {
        // 2026-11-01 in New York is a Sunday; 01:30 EDT is 05:30Z, 01:30 EST is 06:30Z.
        let windows = [on_days("01:00", "02:00", 1, &["sun"])];
        for at in ["2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"] {
            assert_eq!(on_call(&windows, New_York, utc(at)), [user(1)], "{at}");
        }
        // Saturday 01:30 EDT is not a Sunday.
        assert!(on_call(&windows, New_York, utc("2026-10-31T05:30:00Z")).is_empty());
        // The jump back to 01:00 EST stays inside the window: it holds through both 01:xx hours
        // and ends at 02:00 EST.
        assert_eq!(
            next_change(&windows, New_York, utc("2026-11-01T05:30:00Z")),
            Some(utc("2026-11-01T07:00:00Z"))
        );
    }

    #[test]
    fn the_night_clocks_go_forward_an_overnight_window_loses_no_minute() {
        // Saturday 2026-03-07 22:00 EST (03:00Z) to Sunday 06:00 EDT (10:00Z): seven real hours,
        // every minute of them on call.
        let windows = [on_days("22:00", "06:00", 1, &["sat"])];
        let start = utc("2026-03-08T03:00:00Z");
        for minute in 0..7 * 60 {
            let at = start + minutes(minute);
            assert_eq!(on_call(&windows, New_York, at), [user(1)], "{at}");
        }
        assert!(on_call(&windows, New_York, start - minutes(1)).is_empty());
        assert!(on_call(&windows, New_York, utc("2026-03-08T10:00:00Z")).is_empty());
        assert_eq!(
            next_change(&windows, New_York, start),
            Some(utc("2026-03-08T10:00:00Z"))
        );
    }

    // ---- overrides ---------------------------------------------------------------------------

    fn cover(user_n: u128, from: &str, to: &str) -> OnCallOverride {
        OnCallOverride {
            user_id: user(user_n),
            from: utc(from),
            to: utc(to),
        }
    }

    /// Days 08:00–17:00 for user 1, nights for user 2; Christmas covered by user 3, with user 4
    /// joining for an hour and user 3 listed twice.
    fn christmas() -> Schedule {
        Schedule {
            windows: vec![window("08:00", "17:00", 1), window("17:00", "08:00", 2)],
            overrides: vec![
                cover(3, "2026-12-24T05:00:00Z", "2026-12-26T05:00:00Z"),
                cover(4, "2026-12-25T12:00:00Z", "2026-12-25T13:00:00Z"),
                cover(3, "2026-12-25T12:30:00Z", "2026-12-25T12:45:00Z"),
            ],
        }
    }

    #[test]
    fn while_an_override_runs_its_users_are_on_call_and_the_weekly_windows_are_not() {
        let schedule = christmas();
        let table: [(&str, &[u128], bool); 8] = [
            // 10:00 EST on 23 December: the weekly windows.
            ("2026-12-23T15:00:00Z", &[1], false),
            ("2026-12-24T04:59:00Z", &[2], false),
            ("2026-12-24T05:00:00Z", &[3], true),
            // 10:00 EST on Christmas Eve: the override, not the day window.
            ("2026-12-24T15:00:00Z", &[3], true),
            ("2026-12-25T12:00:00Z", &[3, 4], true),
            ("2026-12-25T12:40:00Z", &[3, 4], true),
            ("2026-12-26T04:59:00Z", &[3], true),
            // Midnight EST on 26 December: back to the night window.
            ("2026-12-26T05:00:00Z", &[2], false),
        ];
        for (at, users, overridden) in table {
            let expected: Vec<Uuid> = users.iter().map(|&n| user(n)).collect();
            assert_eq!(on_call_at(&schedule, New_York, utc(at)), expected, "{at}");
            assert_eq!(overridden_at(&schedule, utc(at)), overridden, "{at}");
        }
    }

    #[test]
    fn an_override_fills_a_gap_in_the_weekly_windows() {
        let schedule = Schedule {
            windows: vec![],
            overrides: vec![cover(7, "2026-05-01T00:00:00Z", "2026-05-02T00:00:00Z")],
        };
        assert!(on_call_at(&schedule, London, utc("2026-04-30T23:59:00Z")).is_empty());
        assert_eq!(
            on_call_at(&schedule, London, utc("2026-05-01T00:00:00Z")),
            [user(7)]
        );
        assert!(on_call_at(&schedule, London, utc("2026-05-02T00:00:00Z")).is_empty());
    }

    #[test]
    fn validate_overrides_accepts_running_coming_overlapping_and_maximal_overrides() {
        let now = utc("2026-06-01T12:00:00Z");
        let year = TimeDelta::days(MAX_OVERRIDE_DAYS);
        let longest = OnCallOverride {
            user_id: user(1),
            from: now,
            to: now + year,
        };
        let overrides = [
            cover(1, "2026-06-01T11:00:00Z", "2026-06-01T12:01:00Z"),
            cover(2, "2026-06-01T11:30:00Z", "2026-06-01T13:00:00Z"),
            cover(1, "2026-06-01T11:00:00Z", "2026-06-01T12:02:00Z"),
            cover(3, "2026-12-24T00:00:00Z", "2026-12-26T00:00:00Z"),
            longest,
        ];
        assert_eq!(validate_overrides(&overrides, now), Ok(()));
        assert_eq!(validate_overrides(&[], now), Ok(()));
    }

    #[test]
    fn validate_overrides_refuses_bad_instants_and_names_the_field() {
        let now = utc("2026-06-01T12:00:00Z");
        let year = TimeDelta::days(MAX_OVERRIDE_DAYS);
        let running = cover(1, "2026-06-01T11:00:00Z", "2026-06-01T13:00:00Z");
        let with = |from: DateTime<Utc>, to: DateTime<Utc>| OnCallOverride {
            user_id: user(1),
            from,
            to,
        };
        let table = [
            (
                with(running.from + TimeDelta::seconds(30), running.to),
                OnCallError::OverrideNotWholeMinute {
                    index: 0,
                    field: "from",
                },
                "[0].from",
            ),
            (
                with(running.from, running.to + TimeDelta::nanoseconds(1)),
                OnCallError::OverrideNotWholeMinute {
                    index: 0,
                    field: "to",
                },
                "[0].to",
            ),
            (
                with(running.to, running.to),
                OnCallError::OverrideEmpty { index: 0 },
                "[0].to",
            ),
            (
                with(running.to, running.from),
                OnCallError::OverrideEmpty { index: 0 },
                "[0].to",
            ),
            (
                with(now - minutes(60), now),
                OnCallError::OverrideEnded { index: 0 },
                "[0].to",
            ),
            (
                with(now, now + year + minutes(1)),
                OnCallError::OverrideTooFarAhead { index: 0 },
                "[0].to",
            ),
            (
                with(now - minutes(1), now + year),
                OnCallError::OverrideTooLong { index: 0 },
                "[0].to",
            ),
            (
                OnCallOverride {
                    user_id: Uuid::nil(),
                    ..running
                },
                OnCallError::NilUser { index: 0 },
                "[0].user_id",
            ),
        ];
        for (o, error, path) in table {
            let got = validate_overrides(&[o], now).unwrap_err();
            assert_eq!(got, error, "{o:?}");
            assert_eq!(got.field_path().as_deref(), Some(path), "{o:?}");
        }
        let repeated = validate_overrides(&[running, running], now).unwrap_err();
        assert_eq!(repeated, OnCallError::Duplicate { index: 1, first: 0 });
        assert_eq!(repeated.field_path().as_deref(), Some("[1]"));
    }

    // ---- who may be on call ------------------------------------------------------------------

    #[test]
    fn only_an_unlocked_user_of_the_customer_who_sees_the_practice_and_has_a_mobile_may_be_on_call()
    {
        let fit = Candidate {
            of_customer: true,
            locked: false,
            sees_practice: true,
            has_mobile: true,
        };
        let table = [
            (fit, Ok(())),
            (
                Candidate {
                    of_customer: false,
                    ..fit
                },
                Err(Unfit::NotOfCustomer),
            ),
            (
                Candidate {
                    locked: true,
                    ..fit
                },
                Err(Unfit::Locked),
            ),
            (
                Candidate {
                    sees_practice: false,
                    ..fit
                },
                Err(Unfit::CannotSeePractice),
            ),
            (
                Candidate {
                    has_mobile: false,
                    ..fit
                },
                Err(Unfit::NoMobile),
            ),
            // Several reasons: the first in the order above is given.
            (
                Candidate {
                    of_customer: false,
                    locked: true,
                    sees_practice: false,
                    has_mobile: false,
                },
                Err(Unfit::NotOfCustomer),
            ),
            (
                Candidate {
                    locked: true,
                    has_mobile: false,
                    ..fit
                },
                Err(Unfit::Locked),
            ),
            (
                Candidate {
                    sees_practice: false,
                    has_mobile: false,
                    ..fit
                },
                Err(Unfit::CannotSeePractice),
            ),
        ];
        for (candidate, expected) in table {
            assert_eq!(eligibility(candidate), expected, "{candidate:?}");
        }
    }

    // ---- next change with weekdays and overrides ---------------------------------------------

    #[test]
    fn next_change_after_follows_weekdays_and_override_edges() {
        let schedule = Schedule {
            windows: vec![on_days(
                "08:00",
                "17:00",
                1,
                &["mon", "tue", "wed", "thu", "fri"],
            )],
            overrides: vec![
                // Wednesday 15:00–21:00 EST for user 2.
                cover(2, "2026-01-07T20:00:00Z", "2026-01-08T02:00:00Z"),
                // An hour of user 1 inside their own window changes nothing.
                cover(1, "2026-01-07T15:00:00Z", "2026-01-07T16:00:00Z"),
            ],
        };
        let table = [
            // Wednesday 09:00 EST: the override of user 1 is skipped, user 2's start is next.
            ("2026-01-07T14:00:00Z", Some("2026-01-07T20:00:00Z")),
            // The override ends at 21:00 EST, after the weekday window: nobody.
            ("2026-01-07T20:00:00Z", Some("2026-01-08T02:00:00Z")),
            // Thursday night to Friday 08:00 EST.
            ("2026-01-08T02:00:00Z", Some("2026-01-08T13:00:00Z")),
            // Friday 17:00 EST to Monday 08:00 EST: the weekend is skipped.
            ("2026-01-09T22:00:00Z", Some("2026-01-12T13:00:00Z")),
        ];
        for (at, expected) in table {
            assert_eq!(
                next_change_after(&schedule, New_York, utc(at)),
                expected.map(utc),
                "{at}"
            );
        }
    }

    #[test]
    fn next_change_after_with_only_overrides_is_their_edges_then_none() {
        let mut schedule = Schedule {
            windows: vec![],
            overrides: vec![
                cover(1, "2026-01-10T00:00:00Z", "2026-01-11T00:00:00Z"),
                cover(2, "2026-12-20T00:00:00Z", "2026-12-21T00:00:00Z"),
            ],
        };
        let table = [
            ("2026-01-01T00:00:00Z", Some("2026-01-10T00:00:00Z")),
            ("2026-01-10T00:00:00Z", Some("2026-01-11T00:00:00Z")),
            ("2026-01-11T00:00:00Z", Some("2026-12-20T00:00:00Z")),
            ("2026-12-20T00:00:00Z", Some("2026-12-21T00:00:00Z")),
            ("2026-12-21T00:00:00Z", None),
        ];
        for (at, expected) in table {
            assert_eq!(
                next_change_after(&schedule, Sydney, utc(at)),
                expected.map(utc),
                "{at}"
            );
        }
        // An override of the user who is always on call anyway changes nothing.
        schedule.windows = vec![window("00:00", "00:00", 1)];
        schedule.overrides.truncate(1);
        assert_eq!(
            next_change_after(&schedule, Sydney, utc("2026-01-01T00:00:00Z")),
            None
        );
    }

    // ---- every minute of a year, against a brute-force oracle --------------------------------

    /// Who is on call, worked out the slow and obvious way: the overrides running at the instant,
    /// else every window occurrence, taken as an interval of local wall-clock time that starts on
    /// a day the window names and lasts `to - from` (24 hours when equal), holding `local`.
    fn oracle(schedule: &Schedule, local: NaiveDateTime, at: DateTime<Utc>) -> Vec<Uuid> {
        let mut users = Vec::new();
        for o in &schedule.overrides {
            if o.from <= at && at < o.to && !users.contains(&o.user_id) {
                users.push(o.user_id);
            }
        }
        if !users.is_empty() {
            return users;
        }
        for w in &schedule.windows {
            let from = i64::from(minute_of_day(w.from));
            let to = i64::from(minute_of_day(w.to));
            let length = if from == to {
                24 * 60
            } else {
                (to - from).rem_euclid(24 * 60)
            };
            let covered = [1, 0].into_iter().any(|days_back| {
                let day = local.date() - TimeDelta::days(days_back);
                let start = day.and_time(NaiveTime::MIN) + minutes(from);
                w.days.contains(day.weekday()) && start <= local && local < start + minutes(length)
            });
            if covered && !users.contains(&w.user_id) {
                users.push(w.user_id);
            }
        }
        users
    }

    const YEAR_MINUTES: i64 = 365 * 24 * 60;

    /// The local wall-clock time of every minute of 2026 in `tz`, computed once per zone.
    fn local_minutes_2026(tz: Tz) -> &'static [NaiveDateTime] {
        use std::sync::{Mutex, OnceLock};
        type Cache = Mutex<Vec<(Tz, &'static [NaiveDateTime])>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let mut cache = cache.lock().unwrap();
        if let Some((_, locals)) = cache.iter().find(|(zone, _)| *zone == tz) {
            return locals;
        }
        let start = utc("2026-01-01T00:00:00Z");
        let locals: Vec<NaiveDateTime> = (0..YEAR_MINUTES)
            .map(|m| (start + minutes(m)).with_timezone(&tz).naive_local())
            .collect();
        let locals: &'static [NaiveDateTime] = Box::leak(locals.into_boxed_slice());
        cache.push((tz, locals));
        locals
    }

    /// Some days, or every day half the time.
    fn some_days() -> impl Strategy<Value = Weekdays> {
        prop_oneof![
            Just(Weekdays::EVERY_DAY),
            (1u8..=127).prop_map(|bits| Weekdays::from_bits(i64::from(bits)).unwrap()),
        ]
    }

    fn windows_with_days() -> impl Strategy<Value = Vec<OnCallWindow>> {
        prop::collection::vec(
            (time_of_day(), time_of_day(), 1u128..4, some_days()).prop_map(
                |(from, to, u, days)| OnCallWindow {
                    from,
                    to,
                    user_id: user(u),
                    days,
                },
            ),
            0..5,
        )
    }

    /// Overrides in and around 2026, often starting or ending near a DST transition, from a few
    /// minutes to a few weeks long.
    fn year_overrides() -> impl Strategy<Value = Vec<OnCallOverride>> {
        let start = utc("2025-12-20T00:00:00Z");
        let minute_in_year = 0i64..(YEAR_MINUTES + 20 * 24 * 60);
        let near_transition = (
            prop::sample::select(TRANSITIONS_2026.to_vec()),
            -48 * 60i64..48 * 60,
        )
            .prop_map(move |(t, offset)| (utc(t) - start).num_minutes() + offset);
        let length = prop_oneof![1i64..180, 180i64..3 * 24 * 60, 1i64..30 * 24 * 60];
        prop::collection::vec(
            (
                prop_oneof![minute_in_year, near_transition],
                length,
                2u128..6,
            )
                .prop_map(move |(from, length, u)| OnCallOverride {
                    user_id: user(u),
                    from: start + minutes(from),
                    to: start + minutes(from + length),
                }),
            0..4,
        )
    }

    fn year_zone() -> impl Strategy<Value = Tz> {
        prop::sample::select(vec![New_York, chrono_tz::Australia::Lord_Howe])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]

        /// Every minute of 2026: the answer agrees with the oracle (so weekdays, wrapping,
        /// overrides, the repeated hour in both occurrences and the skipped hour all hold), and
        /// "next change" from every change, from inside every stretch and from half a minute
        /// before every change is exactly the next minute at which the answer differs.
        #[test]
        fn every_minute_of_2026_agrees_with_the_oracle_and_next_change_is_exact(
            windows in windows_with_days(),
            overrides in year_overrides(),
            tz in year_zone(),
        ) {
            let schedule = Schedule { windows, overrides };
            let locals = local_minutes_2026(tz);
            let start = utc("2026-01-01T00:00:00Z");
            let year_end = start + minutes(YEAR_MINUTES);
            let mut points = vec![0i64];
            let mut previous = Vec::new();
            for (m, &local) in (0..YEAR_MINUTES).zip(locals) {
                let at = start + minutes(m);
                let got = on_call_at(&schedule, tz, at);
                prop_assert_eq!(&got, &oracle(&schedule, local, at), "{} {} ({})", tz, at, local);
                let set = as_set(got);
                if m > 0 && set != previous {
                    points.push(m);
                }
                previous = set;
            }
            for (k, &m) in points.iter().enumerate() {
                let next = points.get(k + 1).copied();
                let mut froms = vec![start + minutes(m)];
                if let Some(n) = next {
                    froms.push(start + minutes(m + (n - m) / 2));
                    froms.push(start + minutes(n) - TimeDelta::seconds(30));
                }
                for from in froms {
                    let got = next_change_after(&schedule, tz, from);
                    match next {
                        Some(n) => prop_assert_eq!(got, Some(start + minutes(n)), "from {}", from),
                        None => prop_assert!(got.is_none_or(|g| g >= year_end), "from {}: {:?}", from, got),
                    }
                }
            }
        }
    }
}
