//! Loading what the caller may see: a practice, a patient, the practices of a customer.
//!
//! The rules (who may see which practice or patient) are `domain::access`; these functions load
//! the rows, apply the rules and answer 404 for what the caller may not know about, counting the
//! refusal. Every route, the staff console and the services load through here.

use store::{Patient, Practice, StoreError};
use uuid::Uuid;

use crate::app::caller::count_refusal;
use crate::app::{App, AppError, CurrentUser};

/// Loads a practice the caller may see, or 404.
pub async fn visible_practice(
    state: &App,
    caller: &CurrentUser,
    id: Uuid,
) -> Result<Practice, AppError> {
    let practice = match state.store.get_practice(id).await {
        Ok(p) => p,
        Err(StoreError::NotFound) => return Err(AppError::NotFound("practice")),
        Err(e) => return Err(e.into()),
    };
    caller.require_practice(&practice)?;
    Ok(practice)
}

/// True when every one of the patient's programs is restricted for the caller.
pub fn hidden_by_restrictions(caller: &CurrentUser, patient: &Patient) -> bool {
    crate::domain::access::hidden_by_restrictions(&caller.user, &patient.programs)
}

/// Loads a patient the caller may see, writing the read to the audit log; 404 otherwise, with
/// no audit row (the refusal is counted in `gateway_access_refused_total`).
pub async fn visible_patient(
    state: &App,
    caller: &CurrentUser,
    id: Uuid,
) -> Result<Patient, AppError> {
    let reader = caller.clone();
    read_patient(state, &caller.audit(), id, move |patient, practice| {
        reader.can_see_practice(practice) && !hidden_by_restrictions(&reader, patient)
    })
    .await
}

/// Loads a patient when `may_read` allows it, auditing the read; 404 otherwise, with no audit
/// row (a refused read would land in another tenant's log) and the refusal counted.
pub async fn read_patient(
    state: &App,
    audit: &store::Audit,
    id: Uuid,
    may_read: impl FnOnce(&Patient, &store::Practice) -> bool + Send + 'static,
) -> Result<Patient, AppError> {
    let check: store::PatientReadCheck = Box::new(move |patient, practice| {
        let allowed = may_read(patient, practice);
        if !allowed {
            count_refusal("tenancy");
        }
        allowed
    });
    match state.store.get_patient_if(audit, id, check).await {
        Ok(patient) => Ok(patient),
        Err(StoreError::NotFound) => Err(AppError::NotFound("patient")),
        Err(e) => Err(e.into()),
    }
}

/// The ids of every practice of the customer, in pages of the store's largest page.
pub async fn all_practice_ids(state: &App, customer_id: Uuid) -> Result<Vec<Uuid>, AppError> {
    let mut ids = Vec::new();
    let mut page = store::Page::first(store::Page::MAX_LIMIT);
    loop {
        let batch = state.store.list_practices(customer_id, page).await?;
        ids.extend(batch.items.iter().map(|p| p.id));
        match batch.next_cursor {
            Some(after) => {
                page = store::Page {
                    after: Some(after),
                    limit: store::Page::MAX_LIMIT,
                }
            }
            None => return Ok(ids),
        }
    }
}
