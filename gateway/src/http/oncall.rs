//! On-call schedules of a practice: daily windows in the practice's time zone, and who is on
//! call right now.
//!
//! Read by whoever can see the practice; replaced whole by its customer's admins. Each window's
//! user must be an unlocked user of the practice's customer (422 naming `[i].user_id`). What a
//! window means (wrapping past midnight, `from == to` all day, daylight saving) is
//! [`crate::domain::oncall`]; "now" is the application clock, so tests can pick the instant.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use crate::domain::oncall::{OnCallWindow, format_hhmm, parse_hhmm, validate_windows};
use crate::services::oncall;

/// One daily on-call window. `to` before `from` wraps past midnight; `from == to` is all day.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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

pub fn bodies_of(windows: &[OnCallWindow]) -> Vec<OnCallWindowBody> {
    windows
        .iter()
        .map(|w| OnCallWindowBody {
            from: format_hhmm(w.from),
            to: format_hhmm(w.to),
            user_id: w.user_id,
        })
        .collect()
}

pub fn parse_windows(items: &[OnCallWindowBody]) -> Result<Vec<OnCallWindow>, ApiError> {
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
    let windows = oncall::schedule_for(&state, &caller, practice_id).await?;
    Ok(Json(bodies_of(&windows)))
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
    let saved = oncall::replace_for(&state, &caller, practice_id, &body).await?;
    Ok(Json(bodies_of(&saved)))
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
    let now = oncall::now_for(&state, &caller, practice_id).await?;
    Ok(Json(OnCallNowView {
        at: now.at,
        timezone: now.timezone.name().to_string(),
        local_time: format_hhmm(now.at.with_timezone(&now.timezone).time()),
        user_ids: now.user_ids,
        next_change_at: now.next_change_at,
    }))
}
