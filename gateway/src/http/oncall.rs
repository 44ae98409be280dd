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
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use store::OnCallRefusal;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::practices::visible_practice;
use crate::domain::oncall::{
    OnCallError, OnCallOverride, OnCallWindow, Weekdays, format_hhmm, parse_hhmm,
    validate_overrides, validate_windows,
};
use crate::services::oncall as service;

/// Most windows, and most overrides, a practice may have.
pub const MAX_ENTRIES: usize = 100;

/// One weekly on-call window. `to` before `from` wraps past midnight; `from == to` is 24 hours.
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
    /// The weekdays the window starts on (`mon` … `sun`; an overnight window belongs to the
    /// evening it starts). Left out: every day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(["mon", "tue", "wed", "thu", "fri"]))]
    pub days: Option<Vec<String>>,
}

/// One dated override: the user is on call from `from` (inclusive) to `to` (exclusive), and
/// while any override runs its users are on call instead of the weekly windows.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OnCallOverrideBody {
    pub user_id: Uuid,
    /// RFC 3339 instant, whole minutes; answered in UTC.
    #[schema(example = "2026-12-24T08:00:00-05:00")]
    pub from: String,
    /// RFC 3339 instant, whole minutes, after `from`; not passed when saved, at most 366 days
    /// ahead, at most 366 days after `from`.
    #[schema(example = "2026-12-26T08:00:00-05:00")]
    pub to: String,
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
    /// The users on call: those of the overrides running now in saved order, else those of the
    /// weekly windows in the order of their first matching window; empty when nobody is.
    pub user_ids: Vec<Uuid>,
    /// True when an override decides `user_ids` (the weekly windows are set aside).
    pub overridden: bool,
    /// When the set of users next changes (weekdays, overrides and daylight saving considered);
    /// null when it never does.
    pub next_change_at: Option<DateTime<Utc>>,
}

fn invalid(error: OnCallError) -> ApiError {
    ApiError::invalid(
        error.field_path().unwrap_or_else(|| "body".into()),
        error.to_string(),
    )
}

pub fn bodies_of(windows: &[OnCallWindow]) -> Vec<OnCallWindowBody> {
    windows
        .iter()
        .map(|w| OnCallWindowBody {
            from: format_hhmm(w.from),
            to: format_hhmm(w.to),
            user_id: w.user_id,
            days: (!w.days.is_every_day())
                .then(|| w.days.names().into_iter().map(String::from).collect()),
        })
        .collect()
}

fn override_bodies(overrides: &[OnCallOverride]) -> Vec<OnCallOverrideBody> {
    let instant = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Secs, true);
    overrides
        .iter()
        .map(|o| OnCallOverrideBody {
            user_id: o.user_id,
            from: instant(o.from),
            to: instant(o.to),
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
                days: match &item.days {
                    None => Weekdays::EVERY_DAY,
                    Some(days) => Weekdays::parse(index, days).map_err(invalid)?,
                },
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    validate_windows(&windows).map_err(invalid)?;
    Ok(windows)
}

fn parse_overrides(
    items: &[OnCallOverrideBody],
    now: DateTime<Utc>,
) -> Result<Vec<OnCallOverride>, ApiError> {
    let overrides = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let instant = |field: &str, value: &str| {
                DateTime::parse_from_rfc3339(value)
                    .map(|at| at.with_timezone(&Utc))
                    .map_err(|_| {
                        ApiError::invalid(
                            format!("[{index}].{field}"),
                            "must be an RFC 3339 instant such as 2026-12-24T08:00:00-05:00",
                        )
                    })
            };
            Ok(OnCallOverride {
                user_id: item.user_id,
                from: instant("from", &item.from)?,
                to: instant("to", &item.to)?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    validate_overrides(&overrides, now).map_err(invalid)?;
    Ok(overrides)
}

/// The API's answer to a refused on-call change. `field_of` names the request field that put a
/// refused user there (`[2].user_id`, `reassign_to`).
pub fn refusal(refusal: OnCallRefusal, field_of: impl Fn(Uuid) -> String) -> ApiError {
    match refusal {
        OnCallRefusal::Unfit {
            user_id,
            practice_id,
            reason,
        } => ApiError::invalid(
            field_of(user_id),
            format!(
                "cannot be on call at practice {practice_id}: this user {reason}; an on-call user must be an \
                 unlocked user of the practice's customer who can see the practice and has a mobile number"
            ),
        ),
        OnCallRefusal::HandoverNeeded(duties) => {
            let list: Vec<String> = duties
                .iter()
                .map(|d| format!("user {} at practice {}", d.user_id, d.practice_id))
                .collect();
            ApiError::Conflict {
                code: "outstanding_items",
                message: format!(
                    "this change leaves on-call duty (windows or overrides) with users who could no longer act on it: {}; \
                     send reassign_to with the user who takes it over",
                    list.join(", ")
                ),
            }
        }
    }
}

/// `[i].user_id` of the first of `user_ids` that is `user`.
pub fn first_index_of(user_ids: &[Uuid], user: Uuid) -> String {
    let index = user_ids.iter().position(|&u| u == user).unwrap_or(0);
    format!("[{index}].user_id")
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
