//! Readings as use cases: receive one (converted to the vital's canonical unit, classified
//! against the patient's effective settings and the readings around it, in the store's
//! transaction; an alert opened or joined; the care team told of cautions, unchecked vitals and
//! out-of-range runs; the patient told per their own settings) and read and save a vital's alert
//! settings (the shared `types::AlertSettings`, which the store keeps as they are).
//!
//! Authorization is the caller's job (the HTTP layer). The classification itself is
//! [`crate::domain::readings::classify`]; this module only feeds it what the store read inside
//! the recording transaction, so two readings of one patient never classify against a stale
//! history, and who hears of a reading is decided there too ([`reading_plan`]). A patient with no alert settings for the vital (neither their own nor a practice
//! default) gets `unclassified`: there is nothing to compare the value with. A repeat of a stored
//! reading (a device uploading again) is answered as the first and changes nothing. Never logs
//! values (they are clinical data).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use store::{
    Audit, NewReading, Patient, Practice, ReadingContext, ReadingSource, RuleRefusal, StoreError,
    StoreResult, StoredReading,
};
use types::{AlertSettings, Vital};
use uuid::Uuid;

use crate::app::caller::ReadingsCaller;
use crate::app::{App, AppError, CurrentUser};
use crate::domain::reading_follow_ups::Needs;
use crate::domain::readings::{Classification, Level, Reason, classify};
use crate::domain::units::Unit;
use crate::services::access::{
    administered_practice, clinical_patient, integration_patient, visible_practice,
};
use crate::services::reading_plan;

/// A reading as the API receives it, already validated (finite value in the vital's canonical
/// unit, known vital).
#[derive(Debug, Clone, Copy)]
pub struct IncomingReading {
    pub patient_id: Uuid,
    pub vital: Vital,
    pub value: f64,
    pub taken_at: DateTime<Utc>,
    pub source: ReadingSource,
    /// The value and unit as sent, when they were not the canonical unit.
    pub sent: Option<(f64, Unit)>,
}

/// What recording a reading did beyond storing it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub reading: StoredReading,
    /// The alert it opened.
    pub opened: Option<store::Alert>,
    /// The open alert of its vital it joined instead.
    pub attached_to: Option<Uuid>,
    /// It was stored before: nothing was written and `reading` is the first one.
    pub repeat: bool,
}

/// A reason as stored and answered: the domain's tagged form plus a `message` for people.
pub fn reason_json(reason: &Reason) -> Value {
    let mut value = serde_json::to_value(reason).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut value {
        map.insert("code".into(), Value::String(reason.code().into()));
        map.insert("message".into(), Value::String(reason.human()));
    }
    value
}

/// What the domain makes of a new reading in `context`.
pub fn decide(value: f64, taken_at: DateTime<Utc>, context: &ReadingContext) -> Classification {
    match &context.settings.settings {
        Some(settings) => classify(value, settings, &context.nearby, taken_at),
        None => Classification {
            level: Level::Unclassified,
            reasons: Vec::new(),
        },
    }
}

/// The reading as the store records it.
fn new_reading(incoming: &IncomingReading) -> NewReading {
    NewReading {
        patient_id: incoming.patient_id,
        vital: incoming.vital.as_str().to_string(),
        value: incoming.value,
        taken_at: incoming.taken_at,
        source: incoming.source,
        sent: incoming
            .sent
            .map(|(value, unit)| (value, unit.symbol().to_string())),
    }
}

/// The whole use case of a reading that arrives for `patient` (whom the caller may see), in one
/// store transaction: classify it, record it, open the alert of a critical reading (or join the
/// vital's open alert: no new alert, no new texts), tell the care team of a caution, of readings
/// nothing can check and of out-of-range runs, and tell the patient per their own settings.
/// Counted in `gateway_readings_total{status}`. A repeat is answered as the first and tells
/// nobody again. `NotFound` when the patient does not exist.
///
/// Who hears of it is worked out before the transaction ([`reading_plan`]). A reading is first
/// recorded with nothing prepared, which is all a normal reading or a repeat needs; one that
/// needs more is refused with nothing written and recorded again with what it asked for (at
/// most everything), so no critical reading is ever stored without its alert.
pub async fn receive(
    state: &App,
    audit: &Audit,
    patient: &Patient,
    practice: &Practice,
    incoming: IncomingReading,
) -> StoreResult<Recorded> {
    let mut needs = Needs::default();
    let recorded = loop {
        match record(state, audit, patient, practice, &incoming, needs).await? {
            Ok(recorded) => break recorded,
            // Each refusal asks for something not prepared yet, so this ends by `Needs::ALL`.
            Err(asked) if needs != Needs::ALL => needs = needs.and(asked.unwrap_or(Needs::ALL)),
            Err(_) => {
                return Err(StoreError::Rule(RuleRefusal::ReadingUnprepared));
            }
        }
    };
    if recorded.repeat {
        metrics::counter!(crate::telemetry::catalogue::READINGS_REPEATED).increment(1);
    } else {
        let level = Level::parse_stored(&recorded.reading.level);
        metrics::counter!(crate::telemetry::catalogue::READINGS, "status" => level.as_str())
            .increment(1);
    }
    if let Some(alert) = &recorded.alert {
        metrics::counter!(crate::telemetry::catalogue::ALERTS_OPENED).increment(1);
        if recorded.alert_texts == 0 {
            crate::services::alerts::unreachable(practice, Some(alert.id));
        }
    }
    let texted = recorded.staff_texted > 0
        || recorded
            .patient_notice
            .iter()
            .any(|m| m.channel == types::Channel::Sms);
    if recorded.alert.is_some() || texted {
        state.wake_dispatcher();
    }
    if recorded.alert.is_some() || recorded.staff_notified > 0 {
        state.notify_feed();
    }
    Ok(Recorded {
        reading: recorded.reading,
        opened: recorded.alert,
        attached_to: recorded.attached_to,
        repeat: recorded.repeat,
    })
}

/// One recording, prepared for `needs`: the reading as recorded, or, when it was refused with
/// nothing written, what it asked for.
async fn record(
    state: &App,
    audit: &Audit,
    patient: &Patient,
    practice: &Practice,
    incoming: &IncomingReading,
    needs: Needs,
) -> StoreResult<Result<store::RecordedReading, Option<Needs>>> {
    let prepared =
        reading_plan::prepare(state, practice, patient, incoming, needs, audit.at).await?;
    let (decide, asked) = reading_plan::decider(incoming, prepared);
    match state
        .store
        .record_reading(audit, new_reading(incoming), decide)
        .await
    {
        Ok(recorded) => Ok(Ok(recorded)),
        Err(StoreError::Rule(RuleRefusal::ReadingUnprepared)) => Ok(Err(asked.needs())),
        Err(other) => Err(other),
    }
}

// ---- practice defaults as staff use cases (the JSON API and the staff console call these) -----

/// The practice's saved default alert settings of `vital` (`None` when never saved), for whoever
/// can see the practice.
pub async fn practice_alert_for(
    state: &App,
    caller: &CurrentUser,
    practice_id: Uuid,
    vital: Vital,
) -> Result<Option<AlertSettings>, AppError> {
    let practice = visible_practice(state, caller, practice_id).await?;
    let saved = state
        .store
        .practice_reading_alert(practice.id, vital.as_str())
        .await?;
    Ok(saved)
}

/// Alert settings of `vital` a practice or a patient may save: bounds in order, a sane change
/// rule, and every bound within the vital's physical bounds (as readings are); 422 naming the
/// field of the first broken rule.
pub fn check_settings(vital: Vital, settings: &AlertSettings) -> Result<(), AppError> {
    settings
        .validate()
        .map_err(|e| AppError::invalid(e.field(), e.to_string()))?;
    crate::domain::bounds::ranges(vital, &settings.ranges)
        .map_err(|(field, why)| AppError::invalid(field, why.to_string()))
}

/// Saves the practice's default alert settings of `vital` (customer admins) for new patients
/// only or for all patients; the settings must be valid. Answers them as saved.
pub async fn save_practice_alert_for(
    state: &App,
    caller: &CurrentUser,
    practice_id: Uuid,
    vital: Vital,
    settings: AlertSettings,
    apply_to: store::ApplyReadingDefaultsTo,
) -> Result<AlertSettings, AppError> {
    let practice = administered_practice(state, caller, practice_id).await?;
    check_settings(vital, &settings)?;
    let saved = state
        .store
        .save_practice_reading_alert(
            &caller.audit(),
            practice.id,
            vital.as_str(),
            settings,
            apply_to,
        )
        .await?;
    Ok(saved)
}

/// The patient a reading is posted for, with its practice: a user needs case access (the read
/// audited as any other), an integration a patient of its token's customer.
async fn patient_for_reading(
    state: &App,
    caller: &ReadingsCaller,
    patient_id: Uuid,
) -> Result<(Patient, Practice), AppError> {
    match caller {
        ReadingsCaller::User(user) => {
            let patient = clinical_patient(state, user, patient_id).await?;
            let practice = state.store.get_practice(patient.practice_id).await?;
            Ok((patient, practice))
        }
        ReadingsCaller::Integration(integration) => {
            integration_patient(state, integration.token.customer_id, patient_id).await
        }
    }
}

/// Posts a checked reading (`incoming.patient_id` as asked for) for a user or an integration and
/// answers it as stored; a repeat answers the first.
pub async fn post_for(
    state: &App,
    caller: &ReadingsCaller,
    incoming: IncomingReading,
) -> Result<StoredReading, AppError> {
    let (patient, practice) = patient_for_reading(state, caller, incoming.patient_id).await?;
    match receive(state, &caller.audit(), &patient, &practice, incoming).await {
        Ok(recorded) => Ok(recorded.reading),
        Err(StoreError::NotFound) => Err(AppError::NotFound("patient")),
        Err(other) => Err(other.into()),
    }
}

/// A page of the patient's readings (of one vital when named), newest first, for a caller with
/// case access.
pub async fn list_for(
    state: &App,
    caller: &CurrentUser,
    patient_id: Uuid,
    vital: Option<Vital>,
    page: store::Page,
) -> Result<store::Paged<StoredReading>, AppError> {
    let patient = clinical_patient(state, caller, patient_id).await?;
    let vital = vital.map(|v| v.as_str().to_string());
    Ok(state
        .store
        .list_readings(&caller.audit(), patient.id, vital, page)
        .await?)
}

/// The patient's effective alert settings of a vital (their own, else the practice's default),
/// for a caller with case access.
pub async fn patient_alert_for(
    state: &App,
    caller: &CurrentUser,
    patient_id: Uuid,
    vital: Vital,
) -> Result<store::EffectiveReadingAlert, AppError> {
    let patient = clinical_patient(state, caller, patient_id).await?;
    Ok(state
        .store
        .patient_reading_alert(patient.id, vital.as_str())
        .await?)
}

/// Saves the patient's own alert settings of a vital (checked), for a caller with case access.
pub async fn save_patient_alert_for(
    state: &App,
    caller: &CurrentUser,
    patient_id: Uuid,
    vital: Vital,
    settings: &AlertSettings,
) -> Result<store::EffectiveReadingAlert, AppError> {
    let patient = clinical_patient(state, caller, patient_id).await?;
    Ok(state
        .store
        .save_patient_reading_alert(&caller.audit(), patient.id, vital.as_str(), *settings)
        .await?)
}
