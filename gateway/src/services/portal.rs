//! The patient portal as use cases: staff enrol a patient (a new portal token; earlier ones stop
//! working), the patient signs in with the token, reads their own conversation and writes to the
//! care team, who are told as of any new patient message. Never log a token or a body.

use store::{Audit, Message, Paged, Patient, StoreError};
use uuid::Uuid;

use crate::app::{App, AppError, CurrentUser};
use crate::auth::token;
use crate::services::access::visible_patient;
use crate::services::conversations::{new_message_deliveries, new_message_recipients};

/// Enrols a patient the caller may see; answers the new portal token, shown this once.
pub async fn enroll_for(state: &App, caller: &CurrentUser, id: Uuid) -> Result<String, AppError> {
    visible_patient(state, caller, id).await?;
    let portal_token = token::generate();
    state
        .store
        .enroll_portal(&caller.audit(), id, &token::hash(&portal_token))
        .await?;
    Ok(portal_token)
}

/// The patient whose portal token was `presented`; 401 when it is unknown or replaced.
pub async fn patient_of(state: &App, presented: &str) -> Result<Patient, AppError> {
    match state.store.portal_patient(&token::hash(presented)).await {
        Ok(patient) => Ok(patient),
        Err(StoreError::NotFound) => Err(AppError::Unauthorized),
        Err(e) => Err(e.into()),
    }
}

/// A page of the patient's own conversation, newest first (an audited read).
pub async fn thread(
    state: &App,
    patient: &Patient,
    audit: &Audit,
    before: Option<Uuid>,
    limit: u32,
) -> Result<Paged<Message>, AppError> {
    if !(1..=store::Page::MAX_LIMIT).contains(&limit) {
        return Err(AppError::invalid("limit", "must be between 1 and 200"));
    }
    Ok(state
        .store
        .list_messages(audit, patient.id, before, limit)
        .await?)
}

/// The patient writes to the care team: the message and its notifications in one transaction,
/// then the dispatcher and the streams are woken.
pub async fn post(
    state: &App,
    patient: &Patient,
    audit: &Audit,
    text: &str,
) -> Result<Message, AppError> {
    let recipients = new_message_recipients(state, patient.practice_id, patient.id).await?;
    let practice = state.store.get_practice(patient.practice_id).await?;
    let templates = crate::services::templates::practice_templates(state, practice.id).await?;
    let (notes, texts) = new_message_deliveries(&recipients, &practice, patient.id, &templates);
    let texted = !texts.is_empty();
    let message = state
        .store
        .post_portal_message(audit, patient.id, text, notes, texts)
        .await?;
    state.notify_feed();
    if texted {
        state.wake_dispatcher();
    }
    Ok(message)
}
