//! On-call schedules of a practice: daily windows in the practice's time zone, and who is on
//! call right now.
//!
//! Read by whoever can see the practice; replaced whole by its customer's admins. Each window's
//! user must be an unlocked user of the practice's customer (422 naming `[i].user_id`). What a
//! window means (wrapping past midnight, `from == to` all day, daylight saving) is
//! [`crate::domain::oncall`]; "now" is the application clock, so tests can pick the instant.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use store::{OnCallWindowRow, Practice, StoreError};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::practices::visible_practice;
use crate::domain::oncall::{
    OnCallWindow, format_hhmm, next_change_after, on_call_at, parse_hhmm, validate_windows,
};

/// One daily on-call window. `to` before `from` wraps past midnight; `from == to` is all day.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnCallWindowBody {
    /// `HH:MM`, 24-hour clock, practice time zone; inclusive.
    #[schema(example = "18:00")]
    pub from: String,
    /// `HH:MM`; exclusive. Midnight is `00:00`.
    #[schema(example = "08:00")]
    pub to: String,
    pub user_id: Uuid,
}

/// Who is on call at an instant.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnCallNowView {
    /// The instant asked about (now).
    pub at: DateTime<Utc>,
    /// The practice's IANA time zone.
    #[schema(example = "America/New_York")]
    pub timezone: String,
    /// The practice's local time at `at`, `HH:MM`.
    #[schema(example = "01:30")]
    pub local_time: String,
    /// The users on call, in the order of their first matching window; empty when nobody is.
    pub user_ids: Vec<Uuid>,
    /// When this set next changes; null when it never does.
    pub next_change_at: Option<DateTime<Utc>>,
}

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

fn bodies_of(windows: &[OnCallWindow]) -> Vec<OnCallWindowBody> {
    windows
        .iter()
        .map(|w| OnCallWindowBody {
            from: format_hhmm(w.from),
            to: format_hhmm(w.to),
            user_id: w.user_id,
        })
        .collect()
}

fn parse_windows(items: &[OnCallWindowBody]) -> Result<Vec<OnCallWindow>, ApiError> {
    let windows = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let time = |field: &str, value: &str| {
                parse_hhmm(value)
                    .map_err(|e| ApiError::invalid(format!("[{index}].{field}"), e.to_string()))
            };
            Ok(OnCallWindow {
                from: time("from", &item.from)?,
                to: time("to", &item.to)?,
                user_id: item.user_id,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    validate_windows(&windows).map_err(|e| {
        ApiError::invalid(
            e.field_path().unwrap_or_else(|| "body".into()),
            e.to_string(),
        )
    })?;
    Ok(windows)
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

/// The practice's on-call windows, in saved order.
#[utoipa::path(
    get,
    path = "/v1/practices/{id}/on-call",
    tag = "on-call",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the practice")),
    responses(
        (status = 200, body = [OnCallWindowBody]),
        (status = 400, description = "the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no such practice (or not the caller's to see)", body = ErrorBody),
    )
)]
pub async fn get_on_call(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(practice_id): ApiPath<Uuid>,
) -> Result<Json<Vec<OnCallWindowBody>>, ApiError> {
    let practice = visible_practice(&state, &caller, practice_id).await?;
    let rows = state.store.on_call_windows(practice.id).await?;
    Ok(Json(bodies_of(&windows_of(&rows)?)))
}

/// Replace the practice's whole on-call schedule (customer admins); `[]` removes it.
#[utoipa::path(
    put,
    path = "/v1/practices/{id}/on-call",
    tag = "on-call",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the practice")),
    request_body = [OnCallWindowBody],
    responses(
        (status = 200, description = "the schedule as saved", body = [OnCallWindowBody]),
        (status = 400, description = "the body is not JSON, or the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an administrator of the practice's customer", body = ErrorBody),
        (status = 404, description = "no such practice (or not the caller's to see)", body = ErrorBody),
        (status = 422, description = "a time is not HH:MM, a window repeats another, or a user is not an unlocked user of the practice's customer; the message names the field, e.g. `[1].from`", body = ErrorBody),
    )
)]
pub async fn put_on_call(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(practice_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Vec<OnCallWindowBody>>,
) -> Result<Json<Vec<OnCallWindowBody>>, ApiError> {
    let practice = visible_practice(&state, &caller, practice_id).await?;
    caller.require_practice_admin(&practice)?;
    if body.len() > 100 {
        return Err(ApiError::invalid("body", "at most 100 on-call windows"));
    }
    let windows = parse_windows(&body)?;
    check_users(&state, &practice, &windows).await?;
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
    Ok(Json(bodies_of(&windows_of(&saved)?)))
}

/// Who is on call for the practice right now, in its time zone.
#[utoipa::path(
    get,
    path = "/v1/practices/{id}/on-call/now",
    tag = "on-call",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the practice")),
    responses(
        (status = 200, body = OnCallNowView),
        (status = 400, description = "the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no such practice (or not the caller's to see)", body = ErrorBody),
    )
)]
pub async fn on_call_now(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(practice_id): ApiPath<Uuid>,
) -> Result<Json<OnCallNowView>, ApiError> {
    let practice = visible_practice(&state, &caller, practice_id).await?;
    let tz = practice_tz(&practice)?;
    let windows = windows_of(&state.store.on_call_windows(practice.id).await?)?;
    let at = state.clock.now();
    Ok(Json(OnCallNowView {
        at,
        timezone: practice.timezone.clone(),
        local_time: format_hhmm(at.with_timezone(&tz).time()),
        user_ids: on_call_at(&windows, tz, at),
        next_change_at: next_change_after(&windows, tz, at),
    }))
}
