//! On-call: loading a practice's schedule, the one resolution of who is on call (alerts,
//! notifications and `GET …/on-call/now` all come here, so they always agree), and saving
//! schedules under the rule of who may be on call, which the store applies inside its
//! transaction.
//!
//! Stored rows go back through the domain's types (minutes, weekday bits); a row that does not
//! fit is an error, never skipped: a schedule silently missing a window could leave an alert
//! with no one.

use chrono::{DateTime, NaiveTime, Timelike, Utc};
use store::{
    Audit, OnCallHandover, OnCallOverrideRow, OnCallRefusal, OnCallWindowRow, Practice, StoreError,
    StoreResult, User,
};
use uuid::Uuid;

use crate::app::App;
use crate::app::AppError;
use crate::app::CurrentUser;
use crate::domain::access::can_see_practice;
use crate::domain::oncall::{
    Candidate, OnCallOverride, OnCallWindow, Schedule, Weekdays, eligibility, next_change_after,
    on_call_at, overridden_at,
};
use crate::services::access::{administered_practice, visible_practice};
use crate::services::schedule_changes::{
    MAX_ENTRIES, OnCallWindowBody, first_index_of, parse_windows, refusal,
};

/// The store's [`store::OnCallRule`]: whether `user` (as stored inside the deciding
/// transaction; `None` when there is no such user) may be on call at `practice`.
pub fn may_be_on_call(user: Option<&User>, practice: &Practice) -> Result<(), String> {
    let candidate = match user {
        None => Candidate {
            of_customer: false,
            locked: false,
            sees_practice: false,
            has_mobile: false,
        },
        Some(user) => Candidate {
            of_customer: user.customer_id == Some(practice.customer_id),
            locked: user.locked_at.is_some(),
            sees_practice: can_see_practice(user, practice),
            has_mobile: user.mobile_phone.as_deref().is_some_and(|m| !m.is_empty()),
        },
    };
    eligibility(candidate).map_err(|unfit| unfit.to_string())
}

/// The hand-over of a change that may take a user's access away, to `reassign_to` if given.
pub fn handover(reassign_to: Option<Uuid>) -> OnCallHandover {
    OnCallHandover {
        reassign_to,
        rule: may_be_on_call,
    }
}

fn corrupt(what: String) -> StoreError {
    StoreError::Unexpected(format!("stored on-call {what}"))
}

fn time_of(minute: i32) -> StoreResult<NaiveTime> {
    u32::try_from(minute)
        .ok()
        .and_then(|m| NaiveTime::from_hms_opt(m / 60, m % 60, 0))
        .ok_or_else(|| corrupt(format!("minute {minute}")))
}

fn minute_of(time: NaiveTime) -> i32 {
    // At most 23 * 60 + 59: always fits.
    (time.hour() * 60 + time.minute()) as i32
}

pub fn window_from_row(row: &OnCallWindowRow) -> StoreResult<OnCallWindow> {
    Ok(OnCallWindow {
        from: time_of(row.from_minute)?,
        to: time_of(row.to_minute)?,
        user_id: row.user_id,
        days: Weekdays::from_bits(i64::from(row.days))
            .ok_or_else(|| corrupt(format!("weekdays {}", row.days)))?,
    })
}

pub fn window_to_row(window: &OnCallWindow) -> OnCallWindowRow {
    OnCallWindowRow {
        from_minute: minute_of(window.from),
        to_minute: minute_of(window.to),
        days: i16::from(window.days.bits()),
        user_id: window.user_id,
    }
}

pub fn override_from_row(row: &OnCallOverrideRow) -> OnCallOverride {
    OnCallOverride {
        user_id: row.user_id,
        from: row.starts_at,
        to: row.ends_at,
    }
}

pub fn override_to_row(o: &OnCallOverride) -> OnCallOverrideRow {
    OnCallOverrideRow {
        user_id: o.user_id,
        starts_at: o.from,
        ends_at: o.to,
    }
}

/// The practice's weekly windows, in saved order.
pub async fn windows(state: &App, practice_id: Uuid) -> StoreResult<Vec<OnCallWindow>> {
    state
        .store
        .on_call_windows(practice_id)
        .await?
        .iter()
        .map(window_from_row)
        .collect()
}

/// The practice's overrides that end after `at`, in saved order.
pub async fn overrides(
    state: &App,
    practice_id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<Vec<OnCallOverride>> {
    Ok(state
        .store
        .on_call_overrides(practice_id, at)
        .await?
        .iter()
        .map(override_from_row)
        .collect())
}

/// The practice's schedule as it matters from `at` on (ended overrides left out).
pub async fn schedule(state: &App, practice_id: Uuid, at: DateTime<Utc>) -> StoreResult<Schedule> {
    Ok(Schedule {
        windows: windows(state, practice_id).await?,
        overrides: overrides(state, practice_id, at).await?,
    })
}

/// Users on call for the practice at `at` (in its time zone): the one resolution.
pub async fn on_call_now(
    state: &App,
    practice: &Practice,
    at: DateTime<Utc>,
) -> StoreResult<Vec<Uuid>> {
    let schedule = schedule(state, practice.id, at).await?;
    Ok(on_call_at(&schedule, practice.timezone.tz(), at))
}

/// Who is on call at an instant, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCallNow {
    pub user_ids: Vec<Uuid>,
    /// An override decides it (the weekly windows are set aside).
    pub overridden: bool,
    /// When the set of users next changes; `None` when it never does.
    pub next_change_at: Option<DateTime<Utc>>,
}

/// [`on_call_now`] with why and until when, from one read of the schedule.
pub async fn on_call_now_and_next(
    state: &App,
    practice: &Practice,
    at: DateTime<Utc>,
) -> StoreResult<OnCallNow> {
    let schedule = schedule(state, practice.id, at).await?;
    let tz = practice.timezone.tz();
    Ok(OnCallNow {
        user_ids: on_call_at(&schedule, tz, at),
        overridden: overridden_at(&schedule, at),
        next_change_at: next_change_after(&schedule, tz, at),
    })
}

/// Replaces the practice's weekly windows (already validated by the domain); refused when one of
/// their users may not be on call there.
pub async fn save_windows(
    state: &App,
    audit: &Audit,
    practice_id: Uuid,
    windows: &[OnCallWindow],
) -> StoreResult<Result<Vec<OnCallWindow>, OnCallRefusal>> {
    let rows = windows.iter().map(window_to_row).collect();
    match state
        .store
        .replace_on_call_windows(audit, practice_id, rows, may_be_on_call)
        .await?
    {
        Ok(saved) => Ok(Ok(saved
            .iter()
            .map(window_from_row)
            .collect::<StoreResult<_>>()?)),
        Err(refusal) => Ok(Err(refusal)),
    }
}

/// Replaces the practice's overrides (already validated by the domain at `audit.at`); refused
/// when one of their users may not be on call there.
pub async fn save_overrides(
    state: &App,
    audit: &Audit,
    practice_id: Uuid,
    overrides: &[OnCallOverride],
) -> StoreResult<Result<Vec<OnCallOverride>, OnCallRefusal>> {
    let rows = overrides.iter().map(override_to_row).collect();
    Ok(state
        .store
        .replace_on_call_overrides(audit, practice_id, rows, may_be_on_call)
        .await?
        .map(|saved| saved.iter().map(override_from_row).collect()))
}

/// The practice's weekly windows in saved order, for whoever can see the practice.
pub async fn schedule_for(
    state: &App,
    caller: &CurrentUser,
    practice_id: Uuid,
) -> Result<Vec<OnCallWindow>, AppError> {
    let practice = visible_practice(state, caller, practice_id).await?;
    Ok(windows(state, practice.id).await?)
}

/// Replaces the practice's whole weekly schedule (customer admins; at most
/// [`MAX_ENTRIES`] windows, each checked by [`parse_windows`], every user able to act there).
/// Answers the schedule as saved.
pub async fn replace_for(
    state: &App,
    caller: &CurrentUser,
    practice_id: Uuid,
    items: &[OnCallWindowBody],
) -> Result<Vec<OnCallWindow>, AppError> {
    let practice = administered_practice(state, caller, practice_id).await?;
    if items.len() > MAX_ENTRIES {
        return Err(AppError::invalid("body", "at most 100 on-call windows"));
    }
    let windows = parse_windows(items)?;
    let users: Vec<Uuid> = windows.iter().map(|w| w.user_id).collect();
    save_windows(state, &caller.audit(), practice.id, &windows)
        .await?
        .map_err(|r| refusal(r, |user| first_index_of(&users, user)))
}

/// A practice's on-call board: who is on call now, until when, and its weekly windows.
pub struct OnCallBoard {
    pub at: DateTime<Utc>,
    pub timezone: chrono_tz::Tz,
    pub now: OnCallNow,
    pub windows: Vec<OnCallWindow>,
}

/// Who is on call for the practice right now (the one resolution), with its weekly windows.
pub async fn board_for(
    state: &App,
    caller: &CurrentUser,
    practice_id: Uuid,
) -> Result<OnCallBoard, AppError> {
    let practice = visible_practice(state, caller, practice_id).await?;
    let at = state.clock.now();
    Ok(OnCallBoard {
        at,
        timezone: practice.timezone.tz(),
        now: on_call_now_and_next(state, &practice, at).await?,
        windows: windows(state, practice.id).await?,
    })
}
