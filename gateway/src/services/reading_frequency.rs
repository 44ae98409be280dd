//! Reading frequency as use cases: the practice's rules (saved for new patients or for all
//! patients), each patient's own copy of the per-vital frequencies, and the overdue warning per
//! vital that the worker raises.
//!
//! Which vital is overdue and when the care team is warned is
//! [`crate::domain::readings::overdue_to_warn`]; this module feeds it what the store read and
//! writes the warning with its episode key in one transaction, so several gateways never warn
//! twice of one silence. `warn_after_days` and `out_of_range_count` belong to the practice
//! (the seed: they "cannot be updated anywhere else"); the required frequency per vital is each
//! patient's own. Never logs clinical data.

use store::{ApplyReadingDefaultsTo, PatientVitalFrequency, ReadingFrequency, StoreError};
use templates::TemplateSet;
use types::Vital;
use uuid::Uuid;

use crate::app::App;
use crate::app::AppError;
use crate::app::CurrentUser;
use crate::domain::notifications::NotificationKind;
use crate::domain::readings::{Frequency, VitalHistory, overdue_to_warn};
use crate::services::access::{administered_practice, visible_practice};
use crate::services::alerts::followers_and_on_call;
use crate::services::notify::{self, Notice, audience};
use store::priority;

/// A patient's reading frequency: the practice's two rules and the patient's own vitals.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientFrequency {
    pub practice: ReadingFrequency,
    pub vitals: Vec<PatientVitalFrequency>,
}

/// The practice's rules, for whoever can see the practice.
pub async fn practice_frequency_for(
    state: &App,
    caller: &CurrentUser,
    practice_id: Uuid,
) -> Result<ReadingFrequency, AppError> {
    let practice = visible_practice(state, caller, practice_id).await?;
    Ok(state.store.reading_frequency(practice.id).await?)
}

/// Replaces the practice's rules (customer admins); the vitals' frequencies reach new patients
/// only, or every patient of the practice with `AllPatients`.
pub async fn save_practice_frequency_for(
    state: &App,
    caller: &CurrentUser,
    practice_id: Uuid,
    frequency: ReadingFrequency,
    apply_to: ApplyReadingDefaultsTo,
) -> Result<ReadingFrequency, AppError> {
    let practice = administered_practice(state, caller, practice_id).await?;
    Ok(state
        .store
        .save_reading_frequency(&caller.audit(), practice.id, frequency, apply_to)
        .await?)
}

/// A patient's frequency, for staff who can see the patient.
pub async fn patient_frequency_for(
    state: &App,
    caller: &CurrentUser,
    patient_id: Uuid,
) -> Result<PatientFrequency, AppError> {
    let patient = crate::services::access::visible_patient(state, caller, patient_id).await?;
    Ok(PatientFrequency {
        practice: state.store.reading_frequency(patient.practice_id).await?,
        vitals: state.store.patient_reading_frequency(patient.id).await?,
    })
}

/// What a change of a patient's frequency may name besides the vitals: the practice's two rules,
/// which must then be the practice's (they are changed at the practice only).
#[derive(Debug, Clone, Copy, Default)]
pub struct PracticeRulesAsSent {
    pub warn_after_days: Option<u32>,
    pub out_of_range_count: Option<u32>,
}

/// Replaces a patient's own vitals' frequencies (clinical staff who can see the patient). 422
/// when the practice's rules are sent with other values than the practice's.
pub async fn save_patient_frequency_for(
    state: &App,
    caller: &CurrentUser,
    patient_id: Uuid,
    rules: PracticeRulesAsSent,
    vitals: Vec<store::VitalFrequency>,
) -> Result<PatientFrequency, AppError> {
    let patient = crate::services::access::visible_patient(state, caller, patient_id).await?;
    let practice = state.store.reading_frequency(patient.practice_id).await?;
    for (field, sent, theirs) in [
        (
            "warn_after_days",
            rules.warn_after_days,
            practice.warn_after_days,
        ),
        (
            "out_of_range_count",
            rules.out_of_range_count,
            practice.out_of_range_count,
        ),
    ] {
        if let Some(sent) = sent
            && i64::from(sent) != i64::from(theirs)
        {
            return Err(AppError::invalid(
                field,
                format!(
                    "is the practice's ({theirs}) and is changed with PUT /v1/practices/{{id}}/reading-frequency; \
                     leave it out or send the practice's value"
                ),
            ));
        }
    }
    let vitals = state
        .store
        .save_patient_reading_frequency(&caller.audit(), patient.id, vitals)
        .await?;
    Ok(PatientFrequency { practice, vitals })
}

/// What the care team reads of an overdue vital: which vital and the frequency, never values.
pub fn overdue_summary(vital: Vital, frequency: Frequency) -> String {
    let readings = if frequency.readings == 1 {
        "1 reading".to_string()
    } else {
        format!("{} readings", frequency.readings)
    };
    let days = if frequency.per_days == 1 {
        "day".to_string()
    } else {
        format!("{} days", frequency.per_days)
    };
    format!(
        "{} readings are overdue: a patient has sent fewer than {readings} in the last {days}.",
        vital.label()
    )
}

/// Warns about overdue vitals: for each patient's vital behind its frequency for the practice's
/// `warn_after_days`, the care team and on-call user of the moment per their "overdue readings"
/// settings, once per episode of that vital (a reading of the vital starts a new one; a reading
/// of another vital does not). Returns how many episodes were warned about.
pub async fn warn_overdue(state: &App) -> Result<usize, StoreError> {
    let now = state.clock.now();
    let mut warned = 0;
    for candidate in state.store.overdue_candidates(now).await? {
        let Ok(vital) = Vital::parse(&candidate.vital) else {
            continue;
        };
        let frequency = Frequency {
            readings: u32::try_from(candidate.readings).unwrap_or(1).max(1),
            per_days: u32::try_from(candidate.per_days).unwrap_or(1).max(1),
        };
        let history = VitalHistory {
            counted_from: candidate.enrolled_at.max(candidate.set_at),
            newest: candidate.newest_at,
            nth_newest: candidate.nth_newest_at,
        };
        let days = u32::try_from(candidate.warn_after_days).unwrap_or(0);
        let Some(episode) = overdue_to_warn(frequency, &history, days, candidate.warned_for, now)
        else {
            continue;
        };
        let practice = state.store.get_practice(candidate.practice_id).await?;
        let kind = NotificationKind::OverdueReadings;
        let users =
            followers_and_on_call(state, &practice, candidate.patient_id, kind, now).await?;
        // An overdue warning is clinical: only those with case access to the patient hear of it.
        let users = crate::services::access::with_case_access(
            state,
            &practice,
            candidate.patient_id,
            &candidate.programs,
            &users,
            now,
        )
        .await?;
        let wanted = audience(state, practice.id, &users, kind).await?;
        let summary = overdue_summary(vital, frequency);
        let notes = notify::notifications(
            &wanted,
            Notice {
                practice: &practice,
                patient_id: Some(candidate.patient_id),
                kind,
                summary: &summary,
            },
        );
        if state
            .store
            .record_overdue_warning(
                now,
                candidate.patient_id,
                vital.as_str(),
                episode.key,
                notes,
            )
            .await?
        {
            warned += 1;
            state.notify_feed();
            // Texts follow the recorded warning: the episode is warned of once, and a text
            // lost to a crash between the two is the smaller harm than texting every pass.
            let audit = store::Audit::system(now);
            let body = notify::text_body(&practice, &TemplateSet::defaults(), kind);
            for text in notify::texts(&wanted.text, &practice, &body, priority::NOTIFY) {
                crate::services::enqueue_sms(state, &audit, text).await?;
            }
        }
    }
    Ok(warned)
}
