//! Readings as use cases: receive one (converted to the vital's canonical unit, classified
//! against the patient's effective settings and the readings around it, in the store's
//! transaction; an alert opened or joined; the care team told of cautions, unchecked vitals and
//! out-of-range runs; the patient told per their own settings) and read and save a vital's alert
//! settings (the shared `types::AlertSettings`, which the store keeps as they are).
//!
//! Authorization is the caller's job (the HTTP layer). The classification itself is
//! [`crate::domain::readings::classify`]; this module only feeds it what the store read inside
//! the recording transaction, so two readings of one patient never classify against a stale
//! history. A patient with no alert settings for the vital (neither their own nor a practice
//! default) gets `unclassified`: there is nothing to compare the value with. A repeat of a stored
//! reading (a device uploading again) is answered as the first and changes nothing. Never logs
//! values (they are clinical data).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use store::{
    AlertNeeded, Audit, NewReading, Patient, Practice, ReadingContext, ReadingDecision,
    ReadingSource, RuleRefusal, Store, StoreError, StoreResult, StoredReading,
};
use types::{AlertSettings, Vital};
use uuid::Uuid;

use crate::app::caller::ReadingsCaller;
use crate::app::{App, AppError, CurrentUser};
use crate::domain::readings::{Classification, Level, Reason, classify, is_late};
use crate::domain::units::Unit;
use crate::services::access::{
    administered_practice, clinical_patient, read_patient, visible_practice,
};
use crate::services::alerts;

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

/// One recording attempt: with `alert` for a critical reading, or refusing one without (unless
/// the vital has an open alert, which it joins).
async fn record_once(
    store: &dyn Store,
    audit: &Audit,
    incoming: &IncomingReading,
    alert: Option<store::NewAlert>,
) -> StoreResult<store::RecordedReading> {
    let IncomingReading {
        patient_id,
        vital,
        value,
        taken_at,
        source,
        sent,
    } = *incoming;
    let new = NewReading {
        patient_id,
        vital: vital.as_str().to_string(),
        value,
        taken_at,
        source,
        sent: sent.map(|(value, unit)| (value, unit.symbol().to_string())),
    };
    store
        .record_reading(
            audit,
            new,
            Box::new(move |context: &ReadingContext| {
                let classification = decide(value, taken_at, context);
                let (alert, attach_to) = match (classification.level, context.open_alert, alert) {
                    (Level::Critical, Some(open), _) => (None, Some(open)),
                    (Level::Critical, None, None) => return Err(AlertNeeded),
                    (Level::Critical, None, alert) => (alert, None),
                    _ => (None, None),
                };
                Ok(ReadingDecision {
                    level: classification.level.as_str(),
                    reasons: Value::Array(classification.reasons.iter().map(reason_json).collect()),
                    alert,
                    attach_to,
                })
            }),
        )
        .await
}

/// Records a reading with its classification in one store transaction and counts it in
/// `gateway_readings_total{status}`; `NotFound` when the patient does not exist.
///
/// A critical reading opens an alert in the same transaction, so no critical reading is stored
/// without its alert, unless the vital already has an open alert, which it joins (no new alert,
/// no new texts). Working out who an alert reaches takes several queries, so it is done only
/// when needed: the first attempt goes without, and when the reading turns out critical with no
/// alert to join the store writes nothing, `alert_for` is asked for the alert, and the reading is
/// recorded again with it (classified afresh, so a concurrent change of settings is still seen).
pub async fn record<F, Fut>(
    store: &dyn Store,
    audit: &Audit,
    incoming: IncomingReading,
    alert_for: F,
) -> StoreResult<Recorded>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = StoreResult<store::NewAlert>>,
{
    let first = record_once(store, audit, &incoming, None).await;
    let recorded = match first {
        Err(StoreError::Rule(RuleRefusal::ReadingNeedsAlert)) => {
            let alert = alert_for().await?;
            record_once(store, audit, &incoming, Some(alert)).await?
        }
        other => other?,
    };
    if recorded.repeat {
        metrics::counter!(crate::telemetry::catalogue::READINGS_REPEATED).increment(1);
    } else {
        let level = Level::parse_stored(&recorded.reading.level);
        metrics::counter!(crate::telemetry::catalogue::READINGS, "status" => level.as_str())
            .increment(1);
    }
    if recorded.alert.is_some() {
        metrics::counter!(crate::telemetry::catalogue::ALERTS_OPENED).increment(1);
    }
    Ok(Recorded {
        reading: recorded.reading,
        opened: recorded.alert,
        attached_to: recorded.attached_to,
        repeat: recorded.repeat,
    })
}

/// The whole use case of a reading that arrives for `patient` (whom the caller may see): record
/// it (opening or joining an alert), then tell the care team of a caution reading, of readings
/// nothing can check and of out-of-range runs. A repeat is answered as the first and tells
/// nobody again. A notice that cannot be sent is logged: the reading is stored, and its answer
/// must not become an error.
pub async fn receive(
    state: &App,
    audit: &Audit,
    patient: &Patient,
    practice: &Practice,
    incoming: IncomingReading,
) -> StoreResult<Recorded> {
    let now = audit.at;
    let late = is_late(incoming.taken_at, now);
    // Who hears of a critical reading is worked out only when the reading is critical, outside
    // the recording transaction (nothing may wait on I/O inside it); see `record`.
    let alert = || alerts::opening(state, practice, patient, now, late);
    let recorded = record(state.store.as_ref(), audit, incoming, alert).await?;
    if recorded.repeat {
        return Ok(recorded);
    }
    if recorded.opened.is_some() {
        state.wake_dispatcher();
        state.notify_feed();
    }
    let vital = incoming.vital.as_str();
    let notice = match Level::parse_stored(&recorded.reading.level) {
        Level::Caution => {
            let summary = if late {
                "A patient reading outside the normal range arrived late (taken more than 72 hours ago)."
            } else {
                "A patient reading is outside the normal range."
            };
            alerts::notify_caution(state, practice, alerts::AlertPatient::of(patient), summary)
                .await
        }
        Level::Unclassified => alerts::notify_unclassified_run(
            state,
            practice,
            alerts::AlertPatient::of(patient),
            vital,
        )
        .await
        .map(|_| ()),
        _ => Ok(()),
    };
    if let Err(error) = notice {
        tracing::warn!(%error, "could not notify the care team of a reading");
    }
    if Level::parse_stored(&recorded.reading.level).is_out_of_range()
        && let Err(error) = alerts::notify_out_of_range_run(
            state,
            practice,
            alerts::AlertPatient::of(patient),
            vital,
        )
        .await
    {
        tracing::warn!(%error, "could not check consecutive out-of-range readings");
    }
    if let Err(error) = crate::services::patient_notices::tell_of_reading(
        state,
        practice,
        patient,
        vital,
        Level::parse_stored(&recorded.reading.level),
        recorded.opened.is_some(),
    )
    .await
    {
        tracing::warn!(%error, "could not tell the patient of a reading");
    }
    Ok(recorded)
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

/// The patient a reading is posted for, as the caller may post for them: a user needs case
/// access (`services::access::clinical_patient`), an integration a patient of its token's
/// customer. 404 otherwise; the read is audited, a refused one is not.
async fn patient_for_reading(
    state: &App,
    caller: &ReadingsCaller,
    patient_id: Uuid,
) -> Result<Patient, AppError> {
    match caller {
        ReadingsCaller::User(user) => clinical_patient(state, user, patient_id).await,
        ReadingsCaller::Integration(integration) => {
            let customer_id = integration.token.customer_id;
            read_patient(state, &caller.audit(), patient_id, move |_, practice| {
                practice.customer_id == customer_id
            })
            .await
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
    let patient = patient_for_reading(state, caller, incoming.patient_id).await?;
    let practice = state.store.get_practice(patient.practice_id).await?;
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
