//! Readings: posted by staff who can see the patient or by an integration's API token (scope
//! `readings:write`, patient of the token's customer), classified on arrival, listed per patient.
//!
//! A reading is refused with 422 naming the field when the vital is unknown (`vital`), the value
//! is not a finite number within the vital's physical bounds (`value`, `domain::bounds`) or it
//! was taken before 2000 or more than five minutes after the gateway's clock (`taken_at`). A
//! patient the caller may not see is 404, whoever the caller is. Values are
//! clinical data: never logged.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::StoredReading;
use types::Vital;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::api_tokens::SCOPE_READINGS_WRITE;
use super::auth::CurrentUser;
use super::caller::ReadingsCaller;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::validate::PageQuery;
use crate::domain::bounds;
use crate::domain::readings::validate_value;
use crate::domain::units::{canonical_unit, to_canonical};
use crate::services::readings::{self, IncomingReading};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReadingRequest {
    pub patient_id: Uuid,
    /// `pulse`, `blood_glucose_before_meal`, `blood_glucose_after_meal`,
    /// `blood_pressure_systolic`, `blood_pressure_diastolic`, `spo2`, `peak_flow` or `body_weight`.
    #[schema(example = "pulse")]
    pub vital: String,
    /// A finite number in the vital's unit, within its physical bounds (pulse 0–350, SpO2 0–100,
    /// systolic 0–400, diastolic 0–300, glucose 0–3000 mg/dL, peak flow 0–1000, weight 0–700 kg).
    #[schema(value_type = f64, example = 72.0)]
    pub value: Value,
    /// When the device took it (RFC 3339); from 2000-01-01 to 5 minutes ahead of the gateway's
    /// clock.
    pub taken_at: DateTime<Utc>,
    /// The unit of `value` where the vital has several: `mg/dL` or `mmol/L` for blood glucose,
    /// `kg` or `lb` for body weight. Absent: the vital's canonical unit (the first of those).
    /// The value is converted before it is classified.
    #[serde(default)]
    #[schema(example = "mmol/L")]
    pub unit: Option<String>,
}

/// Why a reading is not normal.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReasonView {
    /// `critical_low`, `caution_low`, `caution_high`, `critical_high` or `rapid_change`.
    #[schema(example = "caution_high")]
    pub code: String,
    /// For people, e.g. "rose by 25 from 80 within 24 hours".
    pub message: String,
    /// `rapid_change` only: the earlier value compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_value: Option<f64>,
    /// `rapid_change` only: the new value minus `from_value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<f64>,
    /// `rapid_change` only: the rule's window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_hours: Option<u32>,
    /// `rapid_change` only: the reading compared with was taken after this one (it arrived
    /// first, as when a device uploads newest first).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub later: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadingView {
    pub id: Uuid,
    pub patient_id: Uuid,
    #[schema(example = "pulse")]
    pub vital: String,
    /// In `unit`, the vital's canonical unit.
    pub value: f64,
    #[schema(example = "bpm")]
    pub unit: String,
    /// The value as the device sent it, when it used another unit (then `sent_unit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_unit: Option<String>,
    pub taken_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// `normal`, `caution`, `critical`, or `unclassified` when the patient has no alert ranges
    /// for the vital at any level; as classified on arrival.
    #[schema(example = "normal")]
    pub status: String,
    /// Empty when `status` is normal or unclassified.
    pub reasons: Vec<ReasonView>,
    /// The user who posted it, if a user did.
    pub source_user_id: Option<Uuid>,
    /// The API token it was posted with, if an integration did.
    pub source_api_token_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadingList {
    pub items: Vec<ReadingView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadingQuery {
    /// Only this vital.
    pub vital: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    pub limit: Option<u32>,
}

impl TryFrom<StoredReading> for ReadingView {
    type Error = ApiError;

    fn try_from(r: StoredReading) -> Result<ReadingView, ApiError> {
        let reasons = serde_json::from_value(r.reasons).map_err(|e| {
            ApiError::Internal(anyhow::anyhow!("stored reasons of reading {}: {e}", r.id))
        })?;
        let unit = Vital::parse(&r.vital)
            .map(|v| canonical_unit(v).symbol().to_string())
            .unwrap_or_default();
        Ok(ReadingView {
            id: r.id,
            patient_id: r.patient_id,
            vital: r.vital,
            value: r.value,
            unit,
            sent_value: r.sent_value,
            sent_unit: r.sent_unit,
            taken_at: r.taken_at,
            received_at: r.received_at,
            status: r.level,
            reasons,
            source_user_id: r.source_user_id,
            source_api_token_id: r.source_api_token_id,
        })
    }
}

/// Post a reading; it is classified against the patient's alert settings of the vital.
#[utoipa::path(
    post,
    path = "/v1/readings",
    tag = "readings",
    security(("bearer" = [])),
    request_body = NewReadingRequest,
    responses(
        (status = 201, description = "recorded and classified; a repeat of a stored reading (same patient, vital, taken_at and value) answers the first", body = ReadingView),
        (status = 400, description = "the body is not JSON", body = ErrorBody),
        (status = 401, description = "no valid session or API token (a revoked token is refused)", body = ErrorBody),
        (status = 403, description = "the API token lacks the `readings:write` scope, or the user has client access only (not assigned to one of the patient's programs, not an admin, not on call)", body = ErrorBody),
        (status = 404, description = "no such patient (or not the caller's to see)", body = ErrorBody),
        (status = 422, description = "`vital` unknown, `value` not a finite number within the vital's bounds, `unit` not one of the vital's, or `taken_at` before 2000 or in the future; the message names the field", body = ErrorBody),
    )
)]
pub async fn post_reading(
    State(state): State<AppState>,
    caller: ReadingsCaller,
    ApiJson(body): ApiJson<NewReadingRequest>,
) -> Result<(StatusCode, Json<ReadingView>), ApiError> {
    if let ReadingsCaller::Integration(integration) = &caller {
        integration.require_scope(SCOPE_READINGS_WRITE)?;
    }
    let vital = Vital::parse(&body.vital).map_err(|e| ApiError::invalid("vital", e.to_string()))?;
    let value = body
        .value
        .as_f64()
        .ok_or_else(|| ApiError::invalid("value", "`value` must be a finite number"))?;
    validate_value(value).map_err(|e| ApiError::invalid(e.field(), e.to_string()))?;
    let converted = to_canonical(vital, value, body.unit.as_deref())
        .map_err(|e| ApiError::invalid("unit", e.to_string()))?;
    // Physical bounds hold in the canonical unit (kg, mg/dL), whatever unit was sent.
    bounds::value(vital, converted.value)
        .map_err(|why| ApiError::invalid("value", why.to_string()))?;
    let now = caller.now();
    bounds::reading_taken_at(body.taken_at, now)
        .map_err(|why| ApiError::invalid("taken_at", why.to_string()))?;
    let incoming = IncomingReading {
        patient_id: body.patient_id,
        vital,
        value: converted.value,
        taken_at: body.taken_at,
        source: caller.source(),
        sent: converted.sent,
    };
    let stored = readings::post_for(&state, &caller, incoming).await?;
    Ok((StatusCode::CREATED, Json(stored.try_into()?)))
}

/// A patient's readings, newest first by when they were taken.
#[utoipa::path(
    get,
    path = "/v1/patients/{id}/readings",
    tag = "readings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the patient"), ReadingQuery),
    responses(
        (status = 200, body = ReadingList),
        (status = 400, description = "the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "client access only: not assigned to one of the patient's programs, not an admin, not on call", body = ErrorBody),
        (status = 404, description = "no such patient (or not the caller's to see)", body = ErrorBody),
        (status = 422, description = "`vital`, `cursor` or `limit` is invalid", body = ErrorBody),
    )
)]
pub async fn list_readings(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(patient_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<ReadingQuery>,
) -> Result<Json<ReadingList>, ApiError> {
    let page = PageQuery {
        cursor: query.cursor,
        limit: query.limit,
    }
    .page()?;
    let vital = match query.vital.as_deref().filter(|v| !v.is_empty()) {
        Some(name) => {
            Some(Vital::parse(name).map_err(|e| ApiError::invalid("vital", e.to_string()))?)
        }
        None => None,
    };
    let found = readings::list_for(&state, &caller, patient_id, vital, page).await?;
    Ok(Json(ReadingList {
        next_cursor: found.next_cursor.map(|c| c.to_string()),
        items: found
            .items
            .into_iter()
            .map(ReadingView::try_from)
            .collect::<Result<_, _>>()?,
    }))
}
