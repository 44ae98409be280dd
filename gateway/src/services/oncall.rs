//! On-call schedules as use cases: read a practice's windows, replace them (customer admins),
//! and who is on call right now. The JSON API and the staff console both call these.
//!
//! What a window means (wrapping past midnight, `from == to` all day, daylight saving) is
//! [`crate::domain::oncall`]; "now" is the application clock, so tests can pick the instant.

use chrono::{DateTime, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;
use store::{OnCallWindowRow, Practice, StoreError};
use uuid::Uuid;

use crate::domain::oncall::{OnCallWindow, next_change_after, on_call_at};
use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::ApiError;
use crate::http::oncall::{OnCallWindowBody, parse_windows};
use crate::http::practices::visible_practice;

fn minutes(time: NaiveTime) -> i32 {
    (time.hour() * 60 + time.minute()) as i32
}

fn time_of(minutes: i32) -> Result<NaiveTime, ApiError> {
    u32::try_from(minutes)
        .ok()
        .and_then(|m| NaiveTime::from_hms_opt(m / 60, m % 60, 0))
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("stored on-call minute {minutes}")))
}

fn windows_of(rows: &[OnCallWindowRow]) -> Result<Vec<OnCallWindow>, ApiError> {
    rows.iter()
        .map(|r| {
            Ok(OnCallWindow {
                from: time_of(r.from_minute)?,
                to: time_of(r.to_minute)?,
                user_id: r.user_id,
            })
        })
        .collect()
}

/// 422 naming the first window whose user is not an unlocked user of the practice's customer.
async fn check_users(
    state: &AppState,
    practice: &Practice,
    windows: &[OnCallWindow],
) -> Result<(), ApiError> {
    let mut checked: Vec<Uuid> = Vec::new();
    for (index, window) in windows.iter().enumerate() {
        if checked.contains(&window.user_id) {
            continue;
        }
        let fits = match state.store.get_user(window.user_id).await {
            Ok(user) => user.customer_id == Some(practice.customer_id) && user.locked_at.is_none(),
            Err(StoreError::NotFound) => false,
            Err(other) => return Err(other.into()),
        };
        if !fits {
            return Err(ApiError::invalid(
                format!("[{index}].user_id"),
                "must be an unlocked user of the practice's customer",
            ));
        }
        checked.push(window.user_id);
    }
    Ok(())
}

fn practice_tz(practice: &Practice) -> Result<Tz, ApiError> {
    practice.timezone.parse::<Tz>().map_err(|_| {
        ApiError::Internal(anyhow::anyhow!(
            "practice {} has an unknown time zone",
            practice.id
        ))
    })
}

/// The practice's on-call windows in saved order, for whoever can see the practice.
pub async fn schedule_for(
    state: &AppState,
    caller: &CurrentUser,
    practice_id: Uuid,
) -> Result<Vec<OnCallWindow>, ApiError> {
    let practice = visible_practice(state, caller, practice_id).await?;
    windows_of(&state.store.on_call_windows(practice.id).await?)
}

/// Replaces the practice's whole schedule (customer admins; at most 100 windows, each checked
/// by [`parse_windows`]). Answers the schedule as saved.
pub async fn replace_for(
    state: &AppState,
    caller: &CurrentUser,
    practice_id: Uuid,
    items: &[OnCallWindowBody],
) -> Result<Vec<OnCallWindow>, ApiError> {
    let practice = visible_practice(state, caller, practice_id).await?;
    caller.require_practice_admin(&practice)?;
    if items.len() > 100 {
        return Err(ApiError::invalid("body", "at most 100 on-call windows"));
    }
    let windows = parse_windows(items)?;
    check_users(state, &practice, &windows).await?;
    let rows = windows
        .iter()
        .map(|w| OnCallWindowRow {
            from_minute: minutes(w.from),
            to_minute: minutes(w.to),
            user_id: w.user_id,
        })
        .collect();
    let saved = state
        .store
        .replace_on_call_windows(&caller.audit(), practice.id, rows)
        .await?;
    windows_of(&saved)
}

/// Who is on call at a practice at one instant.
pub struct OnCallNow {
    pub at: DateTime<Utc>,
    pub timezone: Tz,
    /// In the order of their first matching window; empty when nobody is.
    pub user_ids: Vec<Uuid>,
    /// When the set next changes; `None` when it never does.
    pub next_change_at: Option<DateTime<Utc>>,
    /// The practice's windows, for showing the schedule alongside.
    pub windows: Vec<OnCallWindow>,
}

/// Who is on call for the practice right now, in its time zone.
pub async fn now_for(
    state: &AppState,
    caller: &CurrentUser,
    practice_id: Uuid,
) -> Result<OnCallNow, ApiError> {
    let practice = visible_practice(state, caller, practice_id).await?;
    let tz = practice_tz(&practice)?;
    let windows = windows_of(&state.store.on_call_windows(practice.id).await?)?;
    let at = state.clock.now();
    Ok(OnCallNow {
        at,
        timezone: tz,
        user_ids: on_call_at(&windows, tz, at),
        next_change_at: next_change_after(&windows, tz, at),
        windows,
    })
}
