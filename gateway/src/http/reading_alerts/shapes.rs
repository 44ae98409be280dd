//! The request and answer shapes of the reading-alert and reading-frequency routes, and their
//! conversion to and from what the services take and answer (each field checked, the error
//! naming it). A vital's ranges and change rule are the shared `types::Ranges` and
//! `types::ChangeRule`, which publish their own schemas (`RangesBody`, `ChangeBody`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use store::{ApplyReadingDefaultsTo, EffectiveReadingAlert, ReadingFrequency, VitalFrequency};
use types::{AlertSettings, ChangeRule, Ranges, Vital};
use utoipa::ToSchema;

use super::super::error::ApiError;

// ---- wire types -------------------------------------------------------------------------------

/// Whose settings a save of practice defaults (reading alerts of a vital, reading frequency,
/// patient notification defaults) changes.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplyToPatients {
    /// Patients created later; existing patients keep what they have.
    #[default]
    NewPatients,
    /// Every patient of the practice, now and later: what they have of it is replaced.
    AllPatients,
}

impl From<ApplyToPatients> for ApplyReadingDefaultsTo {
    fn from(apply_to: ApplyToPatients) -> ApplyReadingDefaultsTo {
        match apply_to {
            ApplyToPatients::NewPatients => ApplyReadingDefaultsTo::NewPatients,
            ApplyToPatients::AllPatients => ApplyReadingDefaultsTo::AllPatients,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PracticeReadingAlertInput {
    pub ranges: Ranges,
    /// Null or absent: no change rule.
    #[serde(default)]
    pub change: Option<ChangeRule>,
    pub apply_to: ApplyToPatients,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientReadingAlertInput {
    pub ranges: Ranges,
    /// Null or absent: no change rule.
    #[serde(default)]
    pub change: Option<ChangeRule>,
}

/// The practice's default settings of a vital; `ranges` is null when never saved.
#[derive(Debug, Serialize, ToSchema)]
pub struct PracticeReadingAlertView {
    #[schema(example = "pulse")]
    pub vital: String,
    pub ranges: Option<Ranges>,
    pub change: Option<ChangeRule>,
}

/// A patient's effective settings of a vital.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientReadingAlertView {
    #[schema(example = "pulse")]
    pub vital: String,
    /// Null when the patient has no alert settings for the vital (readings are then normal).
    pub ranges: Option<Ranges>,
    pub change: Option<ChangeRule>,
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
    /// Warn the care team when a vital has been behind its frequency for this many days (0 to
    /// 365; 0 is off).
    pub warn_after_days: u32,
    /// Notify after this many consecutive out-of-range readings (0 to 100; 0 is off).
    pub out_of_range_count: u32,
    /// Each vital at most once.
    #[serde(default)]
    pub vitals: Vec<VitalFrequencyBody>,
    /// Whose frequencies of the vitals change: `new_patients` (the default; existing patients
    /// keep their own copies) or `all_patients` (every patient of the practice gets these).
    #[serde(default)]
    pub apply_to: ApplyToPatients,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadingFrequencyView {
    pub warn_after_days: u32,
    pub out_of_range_count: u32,
    pub vitals: Vec<VitalFrequencyBody>,
    /// Null when never saved (the rules are then off).
    pub updated_at: Option<DateTime<Utc>>,
}

/// A patient's own reading frequency. A PUT replaces the patient's vitals (vitals not listed
/// have no required frequency for the patient). `warn_after_days` and `out_of_range_count` are
/// the practice's: they may be left out, and if sent must equal the practice's.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientReadingFrequencyInput {
    /// The practice's (read only here).
    pub warn_after_days: Option<u32>,
    /// The practice's (read only here).
    pub out_of_range_count: Option<u32>,
    /// Each vital at most once.
    #[serde(default)]
    pub vitals: Vec<VitalFrequencyBody>,
}

/// One vital's frequency of a patient, and since when it counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientVitalFrequencyView {
    #[schema(example = "blood_pressure_systolic")]
    pub vital: String,
    pub readings: u32,
    pub per_days: u32,
    /// When this frequency was set for the patient: a vital not yet read is counted from then
    /// (or from enrolment, if later).
    pub set_at: DateTime<Utc>,
}

/// A patient's reading frequency: the practice's two rules and the patient's own vitals.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientReadingFrequencyView {
    /// The practice's: days a vital may be behind before the care team is warned (0: off).
    pub warn_after_days: u32,
    /// The practice's: consecutive out-of-range readings before the care team hears (0: off).
    pub out_of_range_count: u32,
    pub vitals: Vec<PatientVitalFrequencyView>,
}

// ---- conversions ------------------------------------------------------------------------------

/// The settings of `vital` as sent, checked: 422 naming the field of the first broken rule.
pub(super) fn checked_settings_of(
    vital: Vital,
    ranges: Ranges,
    change: Option<ChangeRule>,
) -> Result<AlertSettings, ApiError> {
    let settings = AlertSettings { ranges, change };
    crate::services::readings::check_settings(vital, &settings)?;
    Ok(settings)
}

impl PracticeReadingAlertView {
    /// The practice's default of `vital`, `saved` or never saved.
    pub(super) fn of(vital: Vital, saved: Option<AlertSettings>) -> PracticeReadingAlertView {
        PracticeReadingAlertView {
            vital: vital.as_str().to_string(),
            ranges: saved.map(|s| s.ranges),
            change: saved.and_then(|s| s.change),
        }
    }
}

impl PatientReadingAlertView {
    pub(super) fn of(vital: Vital, effective: &EffectiveReadingAlert) -> PatientReadingAlertView {
        PatientReadingAlertView {
            vital: vital.as_str().to_string(),
            ranges: effective.settings.map(|s| s.ranges),
            change: effective.settings.and_then(|s| s.change),
            source: effective.source.as_str().to_string(),
        }
    }
}

/// A vital named in the path; 404 when there is no such vital.
pub(super) fn path_vital(name: &str) -> Result<Vital, ApiError> {
    Vital::parse(name).map_err(|_| ApiError::NotFound("vital"))
}

pub(super) fn frequency_view(saved: ReadingFrequency) -> ReadingFrequencyView {
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

pub(super) fn bounded(field: String, value: u32, min: u32, max: u32) -> Result<i32, ApiError> {
    if (min..=max).contains(&value) {
        Ok(value as i32)
    } else {
        Err(ApiError::invalid(
            field,
            format!("must be from {min} to {max}, not {value}"),
        ))
    }
}

pub(super) fn frequency_of(input: ReadingFrequencyInput) -> Result<ReadingFrequency, ApiError> {
    Ok(ReadingFrequency {
        warn_after_days: bounded("warn_after_days".into(), input.warn_after_days, 0, 365)?,
        out_of_range_count: bounded(
            "out_of_range_count".into(),
            input.out_of_range_count,
            0,
            100,
        )?,
        vitals: vitals_of(&input.vitals)?,
        updated_at: None,
    })
}

pub(super) fn patient_frequency_view(
    saved: crate::services::reading_frequency::PatientFrequency,
) -> PatientReadingFrequencyView {
    PatientReadingFrequencyView {
        warn_after_days: u32::try_from(saved.practice.warn_after_days).unwrap_or(0),
        out_of_range_count: u32::try_from(saved.practice.out_of_range_count).unwrap_or(0),
        vitals: saved
            .vitals
            .into_iter()
            .map(|v| PatientVitalFrequencyView {
                vital: v.vital,
                readings: u32::try_from(v.readings).unwrap_or(0),
                per_days: u32::try_from(v.per_days).unwrap_or(0),
                set_at: v.set_at,
            })
            .collect(),
    }
}

/// The vitals' frequencies as sent, checked: 422 naming the field of the first bad one.
pub(super) fn vitals_of(items: &[VitalFrequencyBody]) -> Result<Vec<VitalFrequency>, ApiError> {
    let mut vitals: Vec<VitalFrequency> = Vec::new();
    for (index, item) in items.iter().enumerate() {
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
    Ok(vitals)
}

// ---- practice defaults ------------------------------------------------------------------------
