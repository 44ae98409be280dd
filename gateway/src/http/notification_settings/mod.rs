//! Notification settings routes: a user's own settings per practice, and a practice's defaults
//! for its users and for its new patients.
//!
//! Who may do what:
//! - a user's settings: the user themself, their customer's admins and super admins. A staff
//!   user asking for someone else's gets 403; a user of another customer is 404, as is a practice
//!   the caller cannot see. The practice must be one the user works at (a member, or an admin of
//!   its customer), else 422 on `practice_id`.
//! - practice defaults: readable by whoever can see the practice, changed by its customer's
//!   admins and super admins.
//!
//! Bodies are checked item by item so a 422 names the exact field (`settings[2].push`); the
//! rules themselves live in [`crate::domain::notifications`]. Every change is audited by the
//! store in the change's transaction.

mod shapes;

use axum::Json;
use axum::extract::State;
use store::ApplyDefaultsTo;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::services::notification_settings::{self as service};
pub use shapes::*;

/// A user's effective notification settings at one practice: every kind, with the user's own
/// choice, else the practice's default, else the built-in default.
#[utoipa::path(
    get,
    path = "/v1/users/{id}/notification-settings",
    tag = "notification settings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the user"), PracticeQuery),
    responses(
        (status = 200, body = NotificationSettingsView),
        (status = 400, description = "the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "staff asking for another user's settings", body = ErrorBody),
        (status = 404, description = "no such user or practice (or not the caller's to see)", body = ErrorBody),
        (status = 422, description = "`practice_id` missing, or not a practice the user works at", body = ErrorBody),
    )
)]
pub async fn get_user_settings(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(user_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<PracticeQuery>,
) -> Result<Json<NotificationSettingsView>, ApiError> {
    let settings = service::user_settings_for(&state, &caller, user_id, query.practice_id).await?;
    Ok(Json(NotificationSettingsView::from(&settings)))
}

/// Change some or all of a user's notification settings at one practice. Kinds not listed keep
/// their effective values; the answer lists every kind.
#[utoipa::path(
    put,
    path = "/v1/users/{id}/notification-settings",
    tag = "notification settings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the user"), PracticeQuery),
    request_body = NotificationSettingsInput,
    responses(
        (status = 200, body = NotificationSettingsView),
        (status = 400, description = "the body is not JSON, or the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "staff changing another user's settings", body = ErrorBody),
        (status = 404, description = "no such user or practice (or not the caller's to see)", body = ErrorBody),
        (status = 422, description = "a field breaks a rule, e.g. `settings[2].push` on while `enabled` is off, or the unread reminder without new patient messages; the message names the field", body = ErrorBody),
    )
)]
pub async fn put_user_settings(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(user_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<PracticeQuery>,
    ApiJson(body): ApiJson<NotificationSettingsInput>,
) -> Result<Json<NotificationSettingsView>, ApiError> {
    let changes = user_changes(&body.settings);
    let settings =
        service::change_user_settings_for(&state, &caller, user_id, query.practice_id, changes)
            .await?;
    Ok(Json(NotificationSettingsView::from(&settings)))
}

// ---- practice defaults for users --------------------------------------------------------------

/// The practice's default notification settings for users (saved, else built-in).
#[utoipa::path(
    get,
    path = "/v1/practices/{id}/notification-defaults/users",
    tag = "notification settings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the practice")),
    responses(
        (status = 200, body = NotificationSettingsView),
        (status = 400, description = "the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no such practice (or not the caller's to see)", body = ErrorBody),
    )
)]
pub async fn get_user_defaults(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(practice_id): ApiPath<Uuid>,
) -> Result<Json<NotificationSettingsView>, ApiError> {
    let defaults = service::practice_user_defaults_for(&state, &caller, practice_id).await?;
    Ok(Json(NotificationSettingsView::from(&defaults)))
}

/// Change the practice's default notification settings for users. `new_users`: users who start
/// at the practice later get them, existing users keep their effective settings. `all_users`:
/// every user of the practice gets them now, replacing their own choices (which they may change
/// again at any time).
#[utoipa::path(
    put,
    path = "/v1/practices/{id}/notification-defaults/users",
    tag = "notification settings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the practice")),
    request_body = UserDefaultsInput,
    responses(
        (status = 200, description = "the defaults after the change", body = NotificationSettingsView),
        (status = 400, description = "the body is not JSON, or the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an administrator of the practice's customer", body = ErrorBody),
        (status = 404, description = "no such practice (or not the caller's to see)", body = ErrorBody),
        (status = 422, description = "a field breaks a rule; the message names it", body = ErrorBody),
    )
)]
pub async fn put_user_defaults(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(practice_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UserDefaultsInput>,
) -> Result<Json<NotificationSettingsView>, ApiError> {
    let changes = user_changes(&body.settings);
    let apply_to = match body.apply_to {
        ApplyTo::NewUsers => ApplyDefaultsTo::NewUsers,
        ApplyTo::AllUsers => ApplyDefaultsTo::AllUsers,
    };
    let defaults =
        service::change_practice_user_defaults_for(&state, &caller, practice_id, changes, apply_to)
            .await?;
    Ok(Json(NotificationSettingsView::from(&defaults)))
}

// ---- practice defaults for new patients -------------------------------------------------------

/// What new patients of the practice start with (saved, else built-in: everything off).
#[utoipa::path(
    get,
    path = "/v1/practices/{id}/notification-defaults/patients",
    tag = "notification settings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the practice")),
    responses(
        (status = 200, body = PatientNotificationSettingsView),
        (status = 400, description = "the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no such practice (or not the caller's to see)", body = ErrorBody),
    )
)]
pub async fn get_patient_defaults(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(practice_id): ApiPath<Uuid>,
) -> Result<Json<PatientNotificationSettingsView>, ApiError> {
    let defaults = service::practice_patient_defaults_for(&state, &caller, practice_id).await?;
    Ok(Json(PatientNotificationSettingsView::from(&defaults)))
}

/// Change what new patients of the practice start with. Existing patients keep theirs unless
/// sent with `"apply_to": "all_patients"`.
#[utoipa::path(
    put,
    path = "/v1/practices/{id}/notification-defaults/patients",
    tag = "notification settings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the practice")),
    request_body = PatientDefaultsInput,
    responses(
        (status = 200, description = "the defaults after the change", body = PatientNotificationSettingsView),
        (status = 400, description = "the body is not JSON, or the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an administrator of the practice's customer", body = ErrorBody),
        (status = 404, description = "no such practice (or not the caller's to see)", body = ErrorBody),
        (status = 422, description = "a field breaks a rule; the message names it", body = ErrorBody),
    )
)]
pub async fn put_patient_defaults(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(practice_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PatientDefaultsInput>,
) -> Result<Json<PatientNotificationSettingsView>, ApiError> {
    let changes = patient_changes(&body.settings);
    let defaults = service::change_practice_patient_defaults_for(
        &state,
        &caller,
        practice_id,
        changes,
        body.apply_to.into(),
    )
    .await?;
    Ok(Json(PatientNotificationSettingsView::from(&defaults)))
}

// ---- a patient's own settings -------------------------------------------------------------------

/// A patient's own notification settings about their own readings (copied from the practice's
/// patient defaults when the patient was created).
#[utoipa::path(
    get,
    path = "/v1/patients/{id}/notification-settings",
    tag = "notification settings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the patient")),
    responses(
        (status = 200, body = PatientNotificationSettingsView),
        (status = 400, description = "the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no such patient (or not the caller's to see)", body = ErrorBody),
    )
)]
pub async fn get_patient_settings(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(patient_id): ApiPath<Uuid>,
) -> Result<Json<PatientNotificationSettingsView>, ApiError> {
    let settings =
        crate::services::patient_notices::settings_for(&state, &caller, patient_id).await?;
    Ok(Json(PatientNotificationSettingsView::from(&settings)))
}

/// Change a patient's own notification settings (staff who can see the patient), at any time.
#[utoipa::path(
    put,
    path = "/v1/patients/{id}/notification-settings",
    tag = "notification settings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the patient")),
    request_body = PatientNotificationSettingsInput,
    responses(
        (status = 200, description = "the patient's settings after the change", body = PatientNotificationSettingsView),
        (status = 400, description = "the body is not JSON, or the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no such patient (or not the caller's to see)", body = ErrorBody),
        (status = 422, description = "a field breaks a rule (e.g. `settings[0].text` on while `enabled` is off); the message names it", body = ErrorBody),
    )
)]
pub async fn put_patient_settings(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(patient_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PatientNotificationSettingsInput>,
) -> Result<Json<PatientNotificationSettingsView>, ApiError> {
    let changes = patient_changes(&body.settings)?;
    let settings = crate::services::patient_notices::change_settings_for(
        &state, &caller, patient_id, &changes,
    )
    .await?;
    Ok(Json(PatientNotificationSettingsView::from(&settings)))
}
