//! Patients as use cases: registered by staff of the practice (the creator and their supervisor
//! start on the care team, seed 003), read with what an integration needs beside them, changed,
//! and found by name within the practices the caller may search.

use store::{Page, Paged, Patient, PatientPatch, PatientSearch, PracticeDisclaimers};
use uuid::Uuid;

use crate::app::{App, AppError, CurrentUser};
use crate::services::access::{visible_patient, visible_practice};
use crate::services::care_team::first_care_team;

/// Registers a patient of a practice the caller may see; `new.care_team` is filled here.
pub async fn create(
    state: &App,
    caller: &CurrentUser,
    mut new: store::NewPatient,
) -> Result<Patient, AppError> {
    let practice = visible_practice(state, caller, new.practice_id).await?;
    new.care_team = first_care_team(state, &caller.user, &practice).await?;
    Ok(state.store.create_patient(&caller.audit(), new).await?)
}

/// A patient the caller may see, how many other patients of the practice share their number,
/// and the practice's report disclaimers.
pub async fn detail_for(
    state: &App,
    caller: &CurrentUser,
    id: Uuid,
) -> Result<(Patient, u32, PracticeDisclaimers), AppError> {
    let patient = visible_patient(state, caller, id).await?;
    let shared = crate::services::texting::number_shared_with(state, &patient).await?;
    let disclaimers = state
        .store
        .practice_disclaimers(patient.practice_id)
        .await?;
    Ok((patient, shared, disclaimers))
}

/// Changes a patient the caller may see. A program added starts with the caller and their
/// supervisor on it (seed 003: a new case); others are assigned one by one.
pub async fn update(
    state: &App,
    caller: &CurrentUser,
    id: Uuid,
    mut patch: PatientPatch,
) -> Result<Patient, AppError> {
    let patient = visible_patient(state, caller, id).await?;
    if patch.programs.is_some() {
        let practice = state.store.get_practice(patient.practice_id).await?;
        patch.new_program_staff = first_care_team(state, &caller.user, &practice).await?;
    }
    Ok(state
        .store
        .update_patient(&caller.audit(), id, patch)
        .await?)
}

/// The practices a search by the caller covers: `practice_id` when given (and visible), else
/// every practice the caller works at; `None` for a super admin who named none.
pub async fn search_scope(
    state: &App,
    caller: &CurrentUser,
    practice_id: Option<Uuid>,
) -> Result<Option<Vec<Uuid>>, AppError> {
    match practice_id {
        Some(id) => Ok(Some(vec![visible_practice(state, caller, id).await?.id])),
        None => crate::services::users::practice_ids_of(state, caller).await,
    }
}

/// Patients of `practice_ids` whose names start with `q`, as the caller may see them (each
/// found patient's read is audited). `q` is at most 100 characters.
pub async fn search_in(
    state: &App,
    caller: &CurrentUser,
    practice_ids: Vec<Uuid>,
    q: &str,
    page: Page,
) -> Result<Paged<Patient>, AppError> {
    if q.chars().count() > 100 {
        return Err(AppError::invalid("q", "must be at most 100 characters"));
    }
    let search = PatientSearch {
        practice_ids,
        query: q.to_string(),
        restricted_programs: caller.user.restricted_programs.clone(),
        page,
    };
    Ok(state.store.search_patients(&caller.audit(), search).await?)
}
