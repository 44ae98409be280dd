//! On-call schedules: who is on call for a practice at a given instant.
//!
//! Owns the shape of an on-call window (`{from: "HH:MM", to: "HH:MM", user_id}`, API.md), parsing
//! and validating windows, resolving the on-call users at an instant in the practice's IANA time
//! zone, and finding the next instant at which that set can change (so a worker can sleep until
//! then instead of polling).
//!
//! Must never do I/O, read the clock (every instant is an argument), know anything about users
//! beyond their ids, or decide who gets notified: services combine the result with care teams and
//! notification settings.
//!
//! # Semantics
//!
//! - A window recurs every day and covers the practice's local wall-clock time of day from `from`
//!   (inclusive) up to `to` (exclusive).
//! - `to` before `from` wraps past midnight: 22:00–06:00 covers 22:00–24:00 and 00:00–06:00.
//! - `to == 00:00` means "until midnight": 18:00–00:00 covers 18:00–24:00. (It is the wrapping
//!   rule with nothing after midnight.)
//! - `from == to` means the whole day, every instant. 00:00–00:00 reads "midnight to midnight",
//!   and 08:00–08:00 is the 24 hours from 08:00, which, repeated daily, is also every instant.
//!   This is chosen over refusing the window because "always on call" is a real need of small
//!   practices and because, when in doubt, a critical alert should reach someone rather than no
//!   one.
//! - Windows may overlap; everyone whose window holds the instant is on call. A user listed by
//!   several matching windows appears once, in the order of their first matching window.
//! - Times are whole minutes (the API speaks `HH:MM`); `24:00` is not accepted, write `00:00`.
//!
//! # Daylight saving time
//!
//! An instant is converted to the practice's local wall time and its time of day compared with
//! the windows. Nothing else is needed, and the consequences are the intended ones:
//! - when clocks go back, the repeated hour happens twice, so an alert at either 01:30 on
//!   2026-11-01 in America/New_York (05:30Z and 06:30Z) resolves to the 01:30 window;
//! - when clocks go forward, the skipped hour does not happen: a window lying wholly inside it
//!   (02:15–02:45 in New York on 2026-03-08) is not active that night, and a window starting inside
//!   it (02:30–08:00) becomes active at the jump (03:00 local).
//!
//! [`next_change_after`] accounts for both: the jump itself is a change when it moves local time
//! across a boundary.

use std::cmp::Ordering;

use chrono::{
    DateTime, FixedOffset, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One daily on-call window in the practice's time zone. See the module docs for the meaning of
/// `from`/`to` (wrapping, midnight, `from == to`). (De)serializes as the API's
/// `{"from": "HH:MM", "to": "HH:MM", "user_id": "..."}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OnCallWindow {
    #[serde(with = "hhmm")]
    pub from: NaiveTime,
    #[serde(with = "hhmm")]
    pub to: NaiveTime,
    pub user_id: Uuid,
}

impl OnCallWindow {
    /// True when the window covers the whole day (`from == to`).
    pub fn is_all_day(&self) -> bool {
        self.from == self.to
    }

    /// True when the window wraps past midnight (`to` before `from`, including `to == 00:00`).
    pub fn wraps_midnight(&self) -> bool {
        self.to < self.from
    }

    /// Whether this window holds the local time of day `time`.
    pub fn contains(&self, time: NaiveTime) -> bool {
        match self.from.cmp(&self.to) {
            Ordering::Equal => true,
            Ordering::Less => self.from <= time && time < self.to,
            Ordering::Greater => time >= self.from || time < self.to,
        }
    }
}

/// Why a time or a schedule was refused. Messages say what was wrong and how to fix it; window
/// positions are zero-based indexes into the submitted list (see [`OnCallError::field_path`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnCallError {
    #[error("`{input}` is not a time: expected HH:MM on a 24-hour clock, such as 08:00 or 22:30")]
    BadTimeFormat { input: String },
    #[error(
        "`{input}` is not a time of day: hours run 00 to 23 and minutes 00 to 59 (write midnight as 00:00)"
    )]
    TimeOutOfRange { input: String },
    #[error("on-call window [{index}]: `{field}` must be a whole minute (HH:MM), not {time}")]
    NotWholeMinute {
        index: usize,
        field: &'static str,
        time: NaiveTime,
    },
    #[error("on-call window [{index}]: `user_id` must be a user's id, not the nil UUID")]
    NilUser { index: usize },
    #[error(
        "on-call window [{index}] repeats window [{first}] (same user, same from and to); remove one of them"
    )]
    Duplicate { index: usize, first: usize },
}

impl OnCallError {
    /// The offending field as a path into the submitted list, e.g. `[2].from`; `None` for a bare
    /// time that was parsed outside a list.
    pub fn field_path(&self) -> Option<String> {
        match self {
            Self::BadTimeFormat { .. } | Self::TimeOutOfRange { .. } => None,
            Self::NotWholeMinute { index, field, .. } => Some(format!("[{index}].{field}")),
            Self::NilUser { index } => Some(format!("[{index}].user_id")),
            Self::Duplicate { index, .. } => Some(format!("[{index}]")),
        }
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

/// Checks a practice's whole schedule and reports the first problem: a time that is not a whole
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

/// The users on call at local time of day `time`: deduplicated, in the order of each user's first
/// matching window.
pub fn on_call_at_local_time(windows: &[OnCallWindow], time: NaiveTime) -> Vec<Uuid> {
    let mut users = Vec::new();
    for window in windows {
        if window.contains(time) && !users.contains(&window.user_id) {
            users.push(window.user_id);
        }
    }
    users
}

/// The users on call at instant `at` for a practice in time zone `tz`: deduplicated, in the order
/// of each user's first matching window. Empty when `at` falls in a gap between windows.
pub fn on_call_at(windows: &[OnCallWindow], tz: Tz, at: DateTime<Utc>) -> Vec<Uuid> {
    on_call_at_local_time(windows, at.with_timezone(&tz).time())
}

/// How far ahead [`next_change_after`] looks. A schedule whose on-call set is not constant changes
/// at least once in any two local days (every time of day occurs on each day but for a DST gap),
/// so this is only a guard against looping forever.
const SEARCH_HORIZON_HOURS: u32 = 8 * 24;

/// The first instant strictly after `at` at which the on-call set (compared as a set) differs from
/// the set at `at`; `None` when it never changes (no windows, only all-day windows, or windows
/// that together always yield the same users).
///
/// Boundaries that change nothing (one user's back-to-back windows) are skipped, so a worker that
/// sleeps until this instant wakes only for a real change. DST transitions count: the instant
/// clocks jump is returned when the jump moves local time across a boundary that matters (leaving
/// a 01:30–02:30 window at 02:00 EDT on the night clocks go back; entering a 02:30–08:00 window at
/// the spring-forward jump), and both occurrences of a repeated local time are found.
///
/// Should the search horizon pass without a change (it cannot for real time zones), the horizon
/// end is returned so that a caller re-checks then rather than sleeping forever.
pub fn next_change_after(
    windows: &[OnCallWindow],
    tz: Tz,
    at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut boundaries: Vec<NaiveTime> = windows
        .iter()
        .filter(|w| !w.is_all_day())
        .flat_map(|w| [w.from, w.to])
        .collect();
    boundaries.sort_unstable();
    boundaries.dedup();

    // The set, as a function of the time of day, is constant on each stretch that starts at a
    // boundary; if all those stretches agree it never changes.
    let first = as_set(on_call_at_local_time(windows, *boundaries.first()?));
    if boundaries
        .iter()
        .all(|&b| as_set(on_call_at_local_time(windows, b)) == first)
    {
        return None;
    }

    let current = as_set(on_call_at(windows, tz, at));
    let differs = |instant: DateTime<Utc>| as_set(on_call_at(windows, tz, instant)) != current;

    // Walk hour-long chunks. Within a chunk the UTC offset is constant or changes once (real
    // time zones never change twice within an hour); local time then moves continuously, so the
    // set can change only where local time reaches a boundary or at the transition itself.
    let step = TimeDelta::hours(1);
    let mut start = at;
    let mut start_offset = utc_offset(tz, start);
    let mut candidates = Vec::new();
    for _ in 0..SEARCH_HORIZON_HOURS {
        let end = start.checked_add_signed(step)?;
        let end_offset = utc_offset(tz, end);
        candidates.clear();
        if start_offset == end_offset {
            crossings(&boundaries, start, end, start_offset, true, &mut candidates);
        } else {
            let transition = find_transition(tz, start, end, start_offset)?;
            crossings(
                &boundaries,
                start,
                transition,
                start_offset,
                false,
                &mut candidates,
            );
            candidates.push(transition);
            crossings(
                &boundaries,
                transition,
                end,
                end_offset,
                true,
                &mut candidates,
            );
        }
        candidates.sort_unstable();
        if let Some(&change) = candidates.iter().find(|&&c| differs(c)) {
            return Some(change);
        }
        start = end;
        start_offset = end_offset;
    }
    Some(start)
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

/// Serde for `NaiveTime` as the API's `HH:MM`.
mod hhmm {
    use chrono::NaiveTime;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(time: &NaiveTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_hhmm(*time))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_hhmm(&text).map_err(D::Error::custom)
    }
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
        }
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
                window(from, to, 1).contains(hm(at)),
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
        assert!(!evening.contains(NaiveTime::MIN));
        assert!(evening.contains(NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999).unwrap()));
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
        assert!(error.to_string().contains("`to`"), "{error}");

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
        assert!(error.to_string().contains("[2]") && error.to_string().contains("[0]"));
    }

    // ---- serde -----------------------------------------------------------------------------

    #[test]
    fn a_window_serializes_as_the_apis_hhmm_strings() {
        let json = serde_json::to_value(window("22:00", "06:00", 7)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "from": "22:00",
                "to": "06:00",
                "user_id": "00000000-0000-0000-0000-000000000007",
            })
        );
        let back: OnCallWindow = serde_json::from_value(json).unwrap();
        assert_eq!(back, window("22:00", "06:00", 7));
    }

    #[test]
    fn deserializing_a_window_refuses_times_that_are_not_hhmm_with_the_parse_message() {
        for bad in ["22:00:00", "24:00", "7:00"] {
            let json = serde_json::json!({
                "from": bad,
                "to": "06:00",
                "user_id": "00000000-0000-0000-0000-000000000007",
            });
            let error = serde_json::from_value::<OnCallWindow>(json).unwrap_err();
            assert!(error.to_string().contains(bad), "{error}");
        }
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
            on_call_at(&windows, New_York, utc("2026-01-15T15:30:00Z")),
            [user(3), user(1), user(2)]
        );
    }

    #[test]
    fn on_call_at_uses_the_practices_local_time_not_utc() {
        let windows = [window("08:00", "09:00", 1)];
        // 08:30 in New York in winter (EST, UTC-5) and in summer (EDT, UTC-4).
        assert_eq!(
            on_call_at(&windows, New_York, utc("2026-01-15T13:30:00Z")),
            [user(1)]
        );
        assert_eq!(
            on_call_at(&windows, New_York, utc("2026-07-15T12:30:00Z")),
            [user(1)]
        );
        assert!(on_call_at(&windows, New_York, utc("2026-01-15T08:30:00Z")).is_empty());
        // 08:30 in Sydney on 15 January (AEDT, UTC+11) is 21:30Z the day before.
        assert_eq!(
            on_call_at(&windows, Sydney, utc("2026-01-14T21:30:00Z")),
            [user(1)]
        );
    }

    #[test]
    fn on_call_at_with_no_windows_is_nobody() {
        assert!(on_call_at(&[], London, utc("2026-06-01T12:00:00Z")).is_empty());
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
            assert_eq!(
                on_call_at(&windows, New_York, at),
                [user(1), user(2)],
                "{at}"
            );
        }
        // The hour between is 01:xx EDT then 01:xx EST; 02:00 EST comes at 07:00Z.
        assert_eq!(
            on_call_at(&windows, New_York, utc("2026-11-01T06:59:00Z")),
            [user(1)]
        );
        assert_eq!(
            on_call_at(&windows, New_York, utc("2026-11-01T07:00:00Z")),
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
            assert!(on_call_at(&skipped, New_York, at).is_empty(), "{at}");
        }
        // The next night the hour exists again.
        assert_eq!(
            on_call_at(&skipped, New_York, utc("2026-03-09T06:30:00Z")),
            [user(1), user(2)]
        );
    }

    #[test]
    fn a_window_starting_inside_the_skipped_hour_starts_when_the_clocks_jump() {
        let windows = [window("02:30", "08:00", 1)];
        assert!(on_call_at(&windows, New_York, utc("2026-03-08T06:59:59Z")).is_empty());
        assert_eq!(
            on_call_at(&windows, New_York, utc("2026-03-08T07:00:00Z")),
            [user(1)]
        );
    }

    #[test]
    fn london_and_sydney_repeat_and_skip_their_own_hours() {
        // Europe/London 2026-10-25: 01:30 BST (00:30Z) and 01:30 GMT (01:30Z).
        let windows = [window("01:15", "01:45", 1)];
        for at in ["2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"] {
            assert_eq!(on_call_at(&windows, London, utc(at)), [user(1)], "{at}");
        }
        // Australia/Sydney 2026-04-05: 02:30 AEDT (2026-04-04T15:30Z) and 02:30 AEST (16:30Z).
        let windows = [window("02:15", "02:45", 1)];
        for at in ["2026-04-04T15:30:00Z", "2026-04-04T16:30:00Z"] {
            assert_eq!(on_call_at(&windows, Sydney, utc(at)), [user(1)], "{at}");
        }
        // Australia/Sydney 2026-10-04: 02:00 AEST (2026-10-03T16:00Z) becomes 03:00 AEDT.
        let night = utc("2026-10-03T12:00:00Z");
        for minute in 0..12 * 60 {
            assert!(on_call_at(&windows, Sydney, night + minutes(minute)).is_empty());
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
                    let users = on_call_at(&tiling, tz, at);
                    assert_eq!(users.len(), 1, "{tz} {at} {tiling:?}");
                    let owner = tiling.iter().find(|w| w.contains(local_time(tz, at)));
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
                    !on_call_at(&overnight, tz, at).is_empty(),
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
                assert_eq!(
                    !on_call_at(&evening, tz, at).is_empty(),
                    expected,
                    "{tz} {at}"
                );
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
                assert_eq!(on_call_at(&windows, tz, at), expected, "{tz} {at}");
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
                while let Some(next) = next_change_after(windows, tz, *changes.last().unwrap()) {
                    assert!(next > *changes.last().unwrap());
                    if next >= end {
                        break;
                    }
                    changes.push(next);
                }
                for pair in changes.windows(2) {
                    assert_ne!(
                        as_set(on_call_at(windows, tz, pair[0])),
                        as_set(on_call_at(windows, tz, pair[1])),
                        "{tz} {pair:?} is not a change"
                    );
                }
                let mut latest = 0;
                for at in through_2026(minutes(7)) {
                    while latest + 1 < changes.len() && changes[latest + 1] <= at {
                        latest += 1;
                    }
                    assert_eq!(
                        on_call_at(windows, tz, at),
                        on_call_at(windows, tz, changes[latest]),
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
            at = next_change_after(windows, tz, at).unwrap();
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
            assert_eq!(
                next_change_after(windows, New_York, at),
                None,
                "{windows:?}"
            );
        }
    }

    #[test]
    fn next_change_after_finds_the_next_local_boundary_strictly_after_the_instant() {
        let windows = [window("08:00", "17:00", 1)];
        // 07:00 EST -> 08:00 EST.
        assert_eq!(
            next_change_after(&windows, New_York, utc("2026-01-15T12:00:00Z")),
            Some(utc("2026-01-15T13:00:00Z"))
        );
        // Exactly at 08:00 EST: the next change is 17:00 EST.
        assert_eq!(
            next_change_after(&windows, New_York, utc("2026-01-15T13:00:00Z")),
            Some(utc("2026-01-15T22:00:00Z"))
        );
        // One nanosecond before 08:00 EST.
        assert_eq!(
            next_change_after(
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
            next_change_after(&windows, New_York, utc("2026-01-15T14:00:00Z")),
            Some(utc("2026-01-15T22:00:00Z"))
        );
    }

    #[test]
    fn next_change_after_crosses_midnight_for_an_overnight_window() {
        let windows = [window("22:00", "06:00", 1)];
        // 23:00 BST on 2026-06-01 is 22:00Z; the window ends 06:00 BST = 05:00Z next day.
        assert_eq!(
            next_change_after(&windows, London, utc("2026-06-01T22:00:00Z")),
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
            next_change_after(&windows, New_York, utc("2026-03-08T05:00:00Z")),
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
        let current = as_set(on_call_at(windows, tz, at));
        let first_minute = DateTime::from_timestamp((at.timestamp() / 60 + 1) * 60, 0).unwrap();
        (0..3 * 24 * 60)
            .map(|m| first_minute + minutes(m))
            .find(|&t| as_set(on_call_at(windows, tz, t)) != current)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn windows_that_tile_the_day_resolve_exactly_the_owner_of_the_local_time(
            tiling in tiling(), tz in zone(), at in instant_2026()
        ) {
            let users = on_call_at(&tiling, tz, at);
            prop_assert_eq!(users.len(), 1);
            let local = local_time(tz, at);
            let owners: Vec<_> = tiling.iter().filter(|w| w.contains(local)).collect();
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
            prop_assert_eq!(on_call_at(&windows, tz, at), expected);
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
                next_change_after(&windows, tz, at),
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
}
