//! Reading alert settings and reading frequency: the practice's defaults per vital, a patient's
//! own settings per vital, the practice's frequency rules and each patient's own copy of the
//! vitals' frequencies.
//!
//! Who may do what: practice defaults and frequency are read by whoever can see the practice and
//! changed by its customer's admins (and super admins); a patient's settings are read and changed
//! by staff who can see the patient (the seed lets clinical users tailor them at any time).
//! An unknown vital in the path is 404 (no such resource). Bounds and change rules are checked by
//! [`crate::domain::readings`], and a 422 names the field (`ranges.normal_low`).
//!
//! A patient's effective settings of a vital are their own, else the practice's default, else
//! none (readings then classify as normal); the answer says which with `source`.

mod shapes;

use axum::Json;
use axum::extract::State;
use types::AlertSettings;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};

use crate::services::reading_frequency as frequency;
use crate::services::readings;
pub use shapes::*;

/// The practice's default alert settings of a vital.
#[utoipa::path(
    get,
    path = "/v1/practices/{id}/reading-alerts/{vital}",
    tag = "readings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the practice"), ("vital" = String, Path, description = "e.g. `pulse`")),
    responses(
        (status = 200, body = PracticeReadingAlertView),
        (status = 400, description = "the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no such practice (or not the caller's to see), or no such vital", body = ErrorBody),
    )
)]
pub async fn get_practice_alerts(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath((practice_id, vital)): ApiPath<(Uuid, String)>,
) -> Result<Json<PracticeReadingAlertView>, ApiError> {
    let vital = path_vital(&vital)?;
    let saved = readings::practice_alert_for(&state, &caller, practice_id, vital).await?;
    Ok(Json(PracticeReadingAlertView::of(vital, saved)))
}

/// Save the practice's default alert settings of a vital, for new patients only or for all
/// patients (customer admins).
#[utoipa::path(
    put,
    path = "/v1/practices/{id}/reading-alerts/{vital}",
    tag = "readings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the practice"), ("vital" = String, Path, description = "e.g. `pulse`")),
    request_body = PracticeReadingAlertInput,
    responses(
        (status = 200, description = "the default after the save", body = PracticeReadingAlertView),
        (status = 400, description = "the body is not JSON, or the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an administrator of the practice's customer", body = ErrorBody),
        (status = 404, description = "no such practice (or not the caller's to see), or no such vital", body = ErrorBody),
        (status = 422, description = "a bound is out of order or not finite, or the change rule is invalid; the message names the field", body = ErrorBody),
    )
)]
pub async fn put_practice_alerts(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath((practice_id, vital)): ApiPath<(Uuid, String)>,
    ApiJson(body): ApiJson<PracticeReadingAlertInput>,
) -> Result<Json<PracticeReadingAlertView>, ApiError> {
    let vital = path_vital(&vital)?;
    let apply_to = body.apply_to.into();
    let settings = AlertSettings {
        ranges: body.ranges,
        change: body.change,
    };
    let saved =
        readings::save_practice_alert_for(&state, &caller, practice_id, vital, settings, apply_to)
            .await?;
    Ok(Json(PracticeReadingAlertView::of(vital, Some(saved))))
}

// ---- patient settings -------------------------------------------------------------------------

/// A patient's effective alert settings of a vital, and where they come from.
#[utoipa::path(
    get,
    path = "/v1/patients/{id}/reading-alerts/{vital}",
    tag = "readings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the patient"), ("vital" = String, Path, description = "e.g. `pulse`")),
    responses(
        (status = 200, body = PatientReadingAlertView),
        (status = 400, description = "the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "client access only: not assigned to one of the patient's programs, not an admin, not on call", body = ErrorBody),
        (status = 404, description = "no such patient (or not the caller's to see), or no such vital", body = ErrorBody),
    )
)]
pub async fn get_patient_alerts(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath((patient_id, vital)): ApiPath<(Uuid, String)>,
) -> Result<Json<PatientReadingAlertView>, ApiError> {
    let vital = path_vital(&vital)?;
    let effective = readings::patient_alert_for(&state, &caller, patient_id, vital).await?;
    Ok(Json(PatientReadingAlertView::of(vital, &effective)))
}

/// Set a patient's own alert settings of a vital (they then no longer follow the practice's
/// default).
#[utoipa::path(
    put,
    path = "/v1/patients/{id}/reading-alerts/{vital}",
    tag = "readings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the patient"), ("vital" = String, Path, description = "e.g. `pulse`")),
    request_body = PatientReadingAlertInput,
    responses(
        (status = 200, description = "the effective settings after the save", body = PatientReadingAlertView),
        (status = 400, description = "the body is not JSON, or the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "client access only: not assigned to one of the patient's programs, not an admin, not on call", body = ErrorBody),
        (status = 404, description = "no such patient (or not the caller's to see), or no such vital", body = ErrorBody),
        (status = 422, description = "a bound is out of order or not finite, or the change rule is invalid; the message names the field", body = ErrorBody),
    )
)]
pub async fn put_patient_alerts(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath((patient_id, vital)): ApiPath<(Uuid, String)>,
    ApiJson(body): ApiJson<PatientReadingAlertInput>,
) -> Result<Json<PatientReadingAlertView>, ApiError> {
    let vital = path_vital(&vital)?;
    let settings = checked_settings_of(vital, body.ranges, body.change)?;
    let effective =
        readings::save_patient_alert_for(&state, &caller, patient_id, vital, &settings).await?;
    Ok(Json(PatientReadingAlertView::of(vital, &effective)))
}

// ---- reading frequency ------------------------------------------------------------------------

/// The practice's reading frequency rules.
#[utoipa::path(
    get,
    path = "/v1/practices/{id}/reading-frequency",
    tag = "readings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the practice")),
    responses(
        (status = 200, body = ReadingFrequencyView),
        (status = 400, description = "the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no such practice (or not the caller's to see)", body = ErrorBody),
    )
)]
pub async fn get_frequency(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(practice_id): ApiPath<Uuid>,
) -> Result<Json<ReadingFrequencyView>, ApiError> {
    let saved = frequency::practice_frequency_for(&state, &caller, practice_id).await?;
    Ok(Json(frequency_view(saved)))
}

/// Replace the practice's reading frequency rules (customer admins). The vitals' frequencies
/// reach new patients only, unless sent with `"apply_to": "all_patients"`.
#[utoipa::path(
    put,
    path = "/v1/practices/{id}/reading-frequency",
    tag = "readings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the practice")),
    request_body = ReadingFrequencyInput,
    responses(
        (status = 200, description = "the rules after the save", body = ReadingFrequencyView),
        (status = 400, description = "the body is not JSON, or the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an administrator of the practice's customer", body = ErrorBody),
        (status = 404, description = "no such practice (or not the caller's to see)", body = ErrorBody),
        (status = 422, description = "a number is out of range, or a vital is unknown or listed twice; the message names the field", body = ErrorBody),
    )
)]
pub async fn put_frequency(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(practice_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ReadingFrequencyInput>,
) -> Result<Json<ReadingFrequencyView>, ApiError> {
    let apply_to = body.apply_to.into();
    let frequency = frequency_of(body)?;
    let saved =
        frequency::save_practice_frequency_for(&state, &caller, practice_id, frequency, apply_to)
            .await?;
    Ok(Json(frequency_view(saved)))
}

/// A patient's reading frequency: their own vitals and the practice's two rules.
#[utoipa::path(
    get,
    path = "/v1/patients/{id}/reading-frequency",
    tag = "readings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the patient")),
    responses(
        (status = 200, body = PatientReadingFrequencyView),
        (status = 400, description = "the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no such patient (or not the caller's to see)", body = ErrorBody),
    )
)]
pub async fn get_patient_frequency(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(patient_id): ApiPath<Uuid>,
) -> Result<Json<PatientReadingFrequencyView>, ApiError> {
    let saved = frequency::patient_frequency_for(&state, &caller, patient_id).await?;
    Ok(Json(patient_frequency_view(saved)))
}

/// Replace a patient's own vitals' frequencies (staff who can see the patient). A vital sent
/// unchanged keeps counting from when it was set; a new or changed one counts from now.
#[utoipa::path(
    put,
    path = "/v1/patients/{id}/reading-frequency",
    tag = "readings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the patient")),
    request_body = PatientReadingFrequencyInput,
    responses(
        (status = 200, description = "the patient's frequency after the save", body = PatientReadingFrequencyView),
        (status = 400, description = "the body is not JSON, or the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no such patient (or not the caller's to see)", body = ErrorBody),
        (status = 422, description = "a number is out of range, a vital is unknown or listed twice, or a practice rule is sent with another value than the practice's; the message names the field", body = ErrorBody),
    )
)]
pub async fn put_patient_frequency(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(patient_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PatientReadingFrequencyInput>,
) -> Result<Json<PatientReadingFrequencyView>, ApiError> {
    let vitals = vitals_of(&body.vitals)?;
    let rules = frequency::PracticeRulesAsSent {
        warn_after_days: body.warn_after_days,
        out_of_range_count: body.out_of_range_count,
    };
    let saved =
        frequency::save_patient_frequency_for(&state, &caller, patient_id, rules, vitals).await?;
    Ok(Json(patient_frequency_view(saved)))
}
