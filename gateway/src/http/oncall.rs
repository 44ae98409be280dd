//! On-call schedules of a practice: weekly windows in the practice's time zone, dated overrides
//! that take precedence, and who is on call right now.
//!
//! Read by whoever can see the practice; replaced whole by its customer's admins. Every user put
//! on call must be able to act on an alert there (an unlocked user of the practice's customer who
//! can see the practice and has a mobile number), else 422 naming `[i].user_id`; the store checks
//! it inside the transaction that saves. What a schedule means (wrapping past midnight, weekdays,
//! overrides, daylight saving) is [`crate::domain::oncall`]; who is on call is
//! [`crate::services::oncall`], the same resolution alerts use. "Now" is the application clock,
//! so tests can pick the instant.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use crate::domain::oncall::format_hhmm;
use crate::services::access::visible_practice;
use crate::services::oncall as service;
use crate::services::schedule_changes::{
    MAX_ENTRIES, OnCallOverrideBody, OnCallWindowBody, bodies_of, first_index_of, override_bodies,
    parse_overrides, refusal,
};

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
    /// The users on call: those of the overrides running now in saved order, else those of the
    /// weekly windows in the order of their first matching window; empty when nobody is.
    pub user_ids: Vec<Uuid>,
    /// True when an override decides `user_ids` (the weekly windows are set aside).
    pub overridden: bool,
    /// When the set of users next changes (weekdays, overrides and daylight saving considered);
    /// null when it never does.
    pub next_change_at: Option<DateTime<Utc>>,
}

/// The practice's weekly on-call windows, in saved order.
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
    let windows = service::schedule_for(&state, &caller, practice_id).await?;
    Ok(Json(bodies_of(&windows)))
}

/// Replace the practice's whole weekly schedule (customer admins); `[]` removes it.
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
        (status = 422, description = "a time is not HH:MM, a day is not mon…sun, a window repeats another, more than 100 windows, or a user cannot act on alerts here (not an unlocked user of the practice's customer who sees the practice and has a mobile number); the message names the field, e.g. `[1].user_id`", body = ErrorBody),
    )
)]
pub async fn put_on_call(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(practice_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Vec<OnCallWindowBody>>,
) -> Result<Json<Vec<OnCallWindowBody>>, ApiError> {
    let saved = service::replace_for(&state, &caller, practice_id, &body).await?;
    Ok(Json(bodies_of(&saved)))
}

/// The practice's overrides that have not ended, in saved order.
#[utoipa::path(
    get,
    path = "/v1/practices/{id}/on-call/overrides",
    tag = "on-call",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the practice")),
    responses(
        (status = 200, body = [OnCallOverrideBody]),
        (status = 400, description = "the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no such practice (or not the caller's to see)", body = ErrorBody),
    )
)]
pub async fn get_overrides(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(practice_id): ApiPath<Uuid>,
) -> Result<Json<Vec<OnCallOverrideBody>>, ApiError> {
    let practice = visible_practice(&state, &caller, practice_id).await?;
    let overrides = service::overrides(&state, practice.id, state.clock.now()).await?;
    Ok(Json(override_bodies(&overrides)))
}

/// Replace all the practice's overrides (customer admins); `[]` removes them. Ended overrides
/// are not listed and cannot be saved.
#[utoipa::path(
    put,
    path = "/v1/practices/{id}/on-call/overrides",
    tag = "on-call",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the practice")),
    request_body = [OnCallOverrideBody],
    responses(
        (status = 200, description = "the overrides as saved", body = [OnCallOverrideBody]),
        (status = 400, description = "the body is not JSON, or the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an administrator of the practice's customer", body = ErrorBody),
        (status = 404, description = "no such practice (or not the caller's to see)", body = ErrorBody),
        (status = 422, description = "an instant is not RFC 3339 or not a whole minute, `to` is not after `from`, has passed, is more than 366 days ahead or 366 days after `from`, an override repeats another, more than 100 overrides, or a user cannot act on alerts here; the message names the field, e.g. `[0].to`", body = ErrorBody),
    )
)]
pub async fn put_overrides(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(practice_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Vec<OnCallOverrideBody>>,
) -> Result<Json<Vec<OnCallOverrideBody>>, ApiError> {
    let practice = visible_practice(&state, &caller, practice_id).await?;
    caller.require_practice_admin(&practice)?;
    if body.len() > MAX_ENTRIES {
        return Err(ApiError::invalid("body", "at most 100 on-call overrides"));
    }
    let audit = caller.audit();
    let overrides = parse_overrides(&body, audit.at)?;
    let users: Vec<Uuid> = overrides.iter().map(|o| o.user_id).collect();
    let saved = service::save_overrides(&state, &audit, practice.id, &overrides)
        .await?
        .map_err(|r| refusal(r, |user| first_index_of(&users, user)))?;
    Ok(Json(override_bodies(&saved)))
}

/// Who is on call for the practice right now, in its time zone, and until when.
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
    let at = state.clock.now();
    let now = service::on_call_now_and_next(&state, &practice, at).await?;
    Ok(Json(OnCallNowView {
        at,
        timezone: practice.timezone.name().to_string(),
        local_time: format_hhmm(at.with_timezone(&practice.timezone.tz()).time()),
        user_ids: now.user_ids,
        overridden: now.overridden,
        next_change_at: now.next_change_at,
    }))
}
