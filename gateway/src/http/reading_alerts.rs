//! Reading alert settings and reading frequency: the practice's defaults per vital, a patient's
//! own settings per vital, and the practice's frequency rules.
//!
//! Who may do what: practice defaults and frequency are read by whoever can see the practice and
//! changed by its customer's admins (and super admins); a patient's settings are read and changed
//! by staff who can see the patient (the seed lets clinical users tailor them at any time).
//! An unknown vital in the path is 404 (no such resource). Bounds and change rules are checked by
//! [`crate::domain::readings`], and a 422 names the field (`ranges.normal_low`).
//!
//! A patient's effective settings of a vital are their own, else the practice's default, else
//! none (readings then classify as normal); the answer says which with `source`.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use store::{
    ApplyReadingDefaultsTo, EffectiveReadingAlert, ReadingAlertRow, ReadingFrequency,
    VitalFrequency,
};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::practices::visible_practice;
use crate::services::access::clinical_patient;

use crate::domain::readings::{AlertSettings, ChangeRule, ChangeUnit, Ranges, Vital};
use crate::services::readings::{self, from_row, to_row};

// ---- wire types -------------------------------------------------------------------------------

/// The four bounds of a vital's range bar: below `critical_low` or above `critical_high` is
/// critical, `normal_low` to `normal_high` normal, anything else caution. They must not
/// decrease; equal bounds leave a band empty.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RangesBody {
    pub critical_low: f64,
    pub normal_low: f64,
    pub normal_high: f64,
    pub critical_high: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeUnitBody {
    /// Percent of the earlier reading's value.
    Percent,
    /// The vital's own unit.
    Units,
}

/// "When the value changes by `amount` `unit` within `within_hours`": the reading is critical.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeBody {
    /// Greater than 0.
    pub amount: f64,
    pub unit: ChangeUnitBody,
    /// 1 to 720.
    pub within_hours: u32,
}

/// Whose settings a save of practice defaults changes.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplyToPatients {
    /// Patients created later; existing patients keep their effective settings.
    NewPatients,
    /// Every patient of the practice, now and later; their own settings of the vital go.
    AllPatients,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PracticeReadingAlertInput {
    pub ranges: RangesBody,
    /// Null or absent: no change rule.
    #[serde(default)]
    pub change: Option<ChangeBody>,
    pub apply_to: ApplyToPatients,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientReadingAlertInput {
    pub ranges: RangesBody,
    /// Null or absent: no change rule.
    #[serde(default)]
    pub change: Option<ChangeBody>,
}

/// The practice's default settings of a vital; `ranges` is null when never saved.
#[derive(Debug, Serialize, ToSchema)]
pub struct PracticeReadingAlertView {
    #[schema(example = "pulse")]
    pub vital: String,
    pub ranges: Option<RangesBody>,
    pub change: Option<ChangeBody>,
}

/// A patient's effective settings of a vital.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientReadingAlertView {
    #[schema(example = "pulse")]
    pub vital: String,
    /// Null when the patient has no alert settings for the vital (readings are then normal).
    pub ranges: Option<RangesBody>,
    pub change: Option<ChangeBody>,
    /// `patient` (their own), `practice` (the practice's default) or `none`.
    #[schema(example = "practice")]
    pub source: String,
}

/// How often the practice expects readings of one vital: `readings` every `per_days` days.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VitalFrequencyBody {
    /// `pulse`, `blood_glucose_before_meal`, `blood_glucose_after_meal`,
    /// `blood_pressure_systolic`, `blood_pressure_diastolic`, `spo2`, `peak_flow` or `body_weight`.
    #[schema(example = "blood_pressure_systolic")]
    pub vital: String,
    /// 1 to 100.
    pub readings: u32,
    /// 1 to 365.
    pub per_days: u32,
}

/// The practice's reading frequency rules. A PUT replaces them all: vitals not listed have no
/// required frequency.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadingFrequencyInput {
    /// Warn when a patient has sent no reading for this many days (0 to 365; 0 is off).
    pub warn_after_days: u32,
    /// Notify after this many consecutive out-of-range readings (0 to 100; 0 is off).
    pub out_of_range_count: u32,
    /// Each vital at most once.
    #[serde(default)]
    pub vitals: Vec<VitalFrequencyBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadingFrequencyView {
    pub warn_after_days: u32,
    pub out_of_range_count: u32,
    pub vitals: Vec<VitalFrequencyBody>,
    /// Null when never saved (the rules are then off).
    pub updated_at: Option<DateTime<Utc>>,
}

// ---- conversions ------------------------------------------------------------------------------

/// The domain's settings from the wire (not yet validated: the service checks them).
pub fn settings_of(ranges: RangesBody, change: Option<ChangeBody>) -> AlertSettings {
    AlertSettings {
        ranges: Ranges {
            critical_low: ranges.critical_low,
            normal_low: ranges.normal_low,
            normal_high: ranges.normal_high,
            critical_high: ranges.critical_high,
        },
        change: change.map(|c| ChangeRule {
            amount: c.amount,
            unit: match c.unit {
                ChangeUnitBody::Percent => ChangeUnit::Percent,
                ChangeUnitBody::Units => ChangeUnit::Units,
            },
            within_hours: c.within_hours,
        }),
    }
}

/// The domain's settings of `vital`, checked: 422 naming the field of the first broken rule.
fn checked_settings_of(
    vital: Vital,
    ranges: RangesBody,
    change: Option<ChangeBody>,
) -> Result<AlertSettings, ApiError> {
    let settings = settings_of(ranges, change);
    crate::services::readings::check_settings(vital, &settings)?;
    Ok(settings)
}

/// The wire form of the domain's settings.
pub fn bodies_from(settings: &AlertSettings) -> (RangesBody, Option<ChangeBody>) {
    let ranges = RangesBody {
        critical_low: settings.ranges.critical_low,
        normal_low: settings.ranges.normal_low,
        normal_high: settings.ranges.normal_high,
        critical_high: settings.ranges.critical_high,
    };
    let change = settings.change.map(|c| ChangeBody {
        amount: c.amount,
        unit: match c.unit {
            ChangeUnit::Percent => ChangeUnitBody::Percent,
            ChangeUnit::Units => ChangeUnitBody::Units,
        },
        within_hours: c.within_hours,
    });
    (ranges, change)
}

fn bodies_of(
    row: Option<&ReadingAlertRow>,
) -> Result<(Option<RangesBody>, Option<ChangeBody>), ApiError> {
    let Some(row) = row else {
        return Ok((None, None));
    };
    let (ranges, change) = bodies_from(&from_row(row)?);
    Ok((Some(ranges), change))
}

fn patient_view(
    vital: Vital,
    effective: &EffectiveReadingAlert,
) -> Result<PatientReadingAlertView, ApiError> {
    let (ranges, change) = bodies_of(effective.settings.as_ref())?;
    Ok(PatientReadingAlertView {
        vital: vital.as_str().to_string(),
        ranges,
        change,
        source: effective.source.as_str().to_string(),
    })
}

/// A vital named in the path; 404 when there is no such vital.
fn path_vital(name: &str) -> Result<Vital, ApiError> {
    Vital::parse(name).map_err(|_| ApiError::NotFound("vital"))
}

fn frequency_view(saved: ReadingFrequency) -> ReadingFrequencyView {
    ReadingFrequencyView {
        warn_after_days: u32::try_from(saved.warn_after_days).unwrap_or(0),
        out_of_range_count: u32::try_from(saved.out_of_range_count).unwrap_or(0),
        vitals: saved
            .vitals
            .into_iter()
            .map(|v| VitalFrequencyBody {
                vital: v.vital,
                readings: u32::try_from(v.readings).unwrap_or(0),
                per_days: u32::try_from(v.per_days).unwrap_or(0),
            })
            .collect(),
        updated_at: saved.updated_at,
    }
}

fn frequency_of(input: ReadingFrequencyInput) -> Result<ReadingFrequency, ApiError> {
    fn bounded(field: String, value: u32, min: u32, max: u32) -> Result<i32, ApiError> {
        if (min..=max).contains(&value) {
            Ok(value as i32)
        } else {
            Err(ApiError::invalid(
                field,
                format!("must be from {min} to {max}, not {value}"),
            ))
        }
    }
    let mut vitals: Vec<VitalFrequency> = Vec::new();
    for (index, item) in input.vitals.iter().enumerate() {
        let field = format!("vitals[{index}].vital");
        let vital =
            Vital::parse(&item.vital).map_err(|e| ApiError::invalid(&field, e.to_string()))?;
        if vitals.iter().any(|v| v.vital == vital.as_str()) {
            return Err(ApiError::invalid(
                field,
                "lists a vital already listed; name each vital once",
            ));
        }
        vitals.push(VitalFrequency {
            vital: vital.as_str().to_string(),
            readings: bounded(format!("vitals[{index}].readings"), item.readings, 1, 100)?,
            per_days: bounded(format!("vitals[{index}].per_days"), item.per_days, 1, 365)?,
        });
    }
    Ok(ReadingFrequency {
        warn_after_days: bounded("warn_after_days".into(), input.warn_after_days, 0, 365)?,
        out_of_range_count: bounded(
            "out_of_range_count".into(),
            input.out_of_range_count,
            0,
            100,
        )?,
        vitals,
        updated_at: None,
    })
}

// ---- practice defaults ------------------------------------------------------------------------

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
    let (ranges, change) = saved.as_ref().map(bodies_from).unzip();
    Ok(Json(PracticeReadingAlertView {
        vital: vital.as_str().to_string(),
        ranges,
        change: change.flatten(),
    }))
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
    let apply_to = match body.apply_to {
        ApplyToPatients::NewPatients => ApplyReadingDefaultsTo::NewPatients,
        ApplyToPatients::AllPatients => ApplyReadingDefaultsTo::AllPatients,
    };
    let settings = settings_of(body.ranges, body.change);
    let saved =
        readings::save_practice_alert_for(&state, &caller, practice_id, vital, settings, apply_to)
            .await?;
    let (ranges, change) = bodies_from(&saved);
    Ok(Json(PracticeReadingAlertView {
        vital: vital.as_str().to_string(),
        ranges: Some(ranges),
        change,
    }))
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
    let patient = clinical_patient(&state, &caller, patient_id).await?;
    let vital = path_vital(&vital)?;
    let effective = state
        .store
        .patient_reading_alert(patient.id, vital.as_str())
        .await?;
    Ok(Json(patient_view(vital, &effective)?))
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
    let patient = clinical_patient(&state, &caller, patient_id).await?;
    let vital = path_vital(&vital)?;
    let settings = checked_settings_of(vital, body.ranges, body.change)?;
    let effective = state
        .store
        .save_patient_reading_alert(
            &caller.audit(),
            patient.id,
            vital.as_str(),
            to_row(&settings),
        )
        .await?;
    Ok(Json(patient_view(vital, &effective)?))
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
    let practice = visible_practice(&state, &caller, practice_id).await?;
    let saved = state.store.reading_frequency(practice.id).await?;
    Ok(Json(frequency_view(saved)))
}

/// Replace the practice's reading frequency rules (customer admins).
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
    let practice = visible_practice(&state, &caller, practice_id).await?;
    caller.require_practice_admin(&practice)?;
    let frequency = frequency_of(body)?;
    let saved = state
        .store
        .save_reading_frequency(&caller.audit(), practice.id, frequency)
        .await?;
    Ok(Json(frequency_view(saved)))
}
