//! Patients' own notification settings as use cases (read and changed by staff who can see the
//! patient), and telling a patient of their own caution and critical readings on the channels
//! those settings choose.
//!
//! Which reading calls for a notice and where it goes are
//! [`crate::domain::patient_notices`]; the channels are decided inside the store's transaction
//! with the patient's row locked ([`store::Conversations::post_patient_notice`]), so a STOP that
//! committed first always wins, and a text queued just before a STOP is cancelled by it (and
//! re-checked by the dispatcher when claimed). The words are the practice's
//! `patient_reading_notice` template: never a value or anything clinical. Never logs a body.

use store::{Patient, PatientNoticeChoice, Practice, StoreResult, priority};
use templates::{Placeholder, TemplateName, TemplateSet, Vars};
use uuid::Uuid;

use crate::app::App;
use crate::app::AppError;
use crate::app::CurrentUser;
use crate::domain::notifications::{PatientChange, PatientSettings};
use crate::domain::patient_notices::{notice_channels, reading_notice_kind};
use crate::domain::readings::Level;
use crate::services::notification_settings as settings;
use crate::services::texting::state_of;

/// A patient's own settings, for staff who can see the patient.
pub async fn settings_for(
    state: &App,
    caller: &CurrentUser,
    patient_id: Uuid,
) -> Result<PatientSettings, AppError> {
    let patient = crate::services::access::visible_patient(state, caller, patient_id).await?;
    Ok(settings::patient_settings(state.store.as_ref(), patient.id).await?)
}

/// Changes a patient's own settings (staff who can see the patient, at any time).
pub async fn change_settings_for(
    state: &App,
    caller: &CurrentUser,
    patient_id: Uuid,
    changes: &[PatientChange],
) -> Result<PatientSettings, AppError> {
    let patient = crate::services::access::visible_patient(state, caller, patient_id).await?;
    Ok(settings::change_patient_settings(
        state.store.as_ref(),
        &caller.audit(),
        patient.id,
        changes,
    )
    .await?)
}

/// The notice's words, from the practice's template (the default when it has none or its own
/// no longer renders).
fn notice_body(practice: &Practice, templates: &TemplateSet) -> String {
    let name = TemplateName::PatientReadingNotice;
    let vars = Vars::new()
        .with(Placeholder::PracticeName, practice.name.clone())
        .with(Placeholder::PracticePhone, practice.sms_number.clone());
    templates
        .render(name, &vars)
        .or_else(|_| TemplateSet::defaults().render(name, &vars))
        .unwrap_or_else(|_| name.default_text().to_string())
}

/// Tells the patient of a reading just recorded, when it calls for a notice and their own
/// setting of its kind is on: by text (texting enabled) and in the portal (enrolled). Answers
/// how many messages were written.
pub async fn tell_of_reading(
    state: &App,
    practice: &Practice,
    patient: &Patient,
    vital: &str,
    level: Level,
    opened_alert: bool,
) -> StoreResult<usize> {
    let previous = if level == Level::Caution {
        state
            .store
            .recent_levels(patient.id, vital, 2)
            .await?
            .get(1)
            .map(|l| Level::parse_stored(l))
    } else {
        None
    };
    let Some(kind) = reading_notice_kind(level, previous, opened_alert) else {
        return Ok(0);
    };
    let setting = settings::patient_settings(state.store.as_ref(), patient.id)
        .await?
        .get(kind);
    if !setting.enabled {
        return Ok(0);
    }
    let templates = crate::services::templates::practice_templates(state, practice.id).await?;
    let body = notice_body(practice, &templates);
    let from_number = practice.sms_number.clone();
    let practice_id = practice.id;
    let text = body.clone();
    let decide: store::PatientNoticeDecider = Box::new(move |context| {
        let patient = &context.patient;
        // A practice that turned texting (or the portal) off sends its patients nothing there.
        let channels = notice_channels(
            setting,
            state_of(&patient.texting).status,
            patient.mobile_phone.is_some() && context.texting_enabled,
            context.has_portal && context.portal_enabled,
        );
        PatientNoticeChoice {
            sms: channels.text.then(|| store::NewOutbound {
                practice_id: Some(practice_id),
                patient_id: Some(patient.id),
                from_number,
                to_number: patient.mobile_phone.clone().unwrap_or_default(),
                body: text,
                priority: priority::NOTIFY,
                record_message: true,
                author_user_id: None,
            }),
            portal: channels.portal,
        }
    });
    let audit = store::Audit::system(state.clock.now());
    let written = state
        .store
        .post_patient_notice(&audit, patient.id, &body, decide)
        .await?;
    if written.iter().any(|m| m.channel == types::Channel::Sms) {
        state.wake_dispatcher();
    }
    Ok(written.len())
}
