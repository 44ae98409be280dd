//! Loading what `domain::access` decides from, and what the caller may see: a practice, a
//! patient (all of it, or only its clinical part), the practices of a customer, and a user's
//! links to a patient (their program enrolments on its care team, whether they are on call at its
//! practice now). The rules themselves live in `domain::access`; these functions load the rows,
//! apply the rules and answer 404 for what the caller may not know about (403 for the clinical
//! part of a patient they may see), counting each refusal. Every route, the staff console and the
//! services load through here.

use chrono::{DateTime, Utc};
use store::{CareTeamMember, Patient, Practice, StoreError, User};
use uuid::Uuid;

use crate::app::caller::count_refusal;
use crate::app::{App, AppError, CurrentUser};
use crate::domain::access::{self, Links, PatientAccess};
use crate::services::oncall::on_call_now;

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

/// Loads a practice the caller may see (else 404) and administers (else 403).
pub async fn administered_practice(
    state: &App,
    caller: &CurrentUser,
    id: Uuid,
) -> Result<Practice, AppError> {
    let practice = visible_practice(state, caller, id).await?;
    caller.require_practice_admin(&practice)?;
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

/// The patient an integration of `customer_id` writes for, with its practice: 404 unless the
/// patient is one of the customer's (the refusal counted). Not audited as a read: nothing of the
/// patient goes back, and the write is audited with itself.
pub async fn integration_patient(
    state: &App,
    customer_id: Uuid,
    id: Uuid,
) -> Result<(Patient, store::Practice), AppError> {
    match state.store.patient_for_write(id).await {
        Ok((patient, practice)) if practice.customer_id == customer_id => Ok((patient, practice)),
        Ok(_) => {
            count_refusal("tenancy");
            Err(AppError::NotFound("patient"))
        }
        Err(StoreError::NotFound) => Err(AppError::NotFound("patient")),
        Err(e) => Err(e.into()),
    }
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

/// Everyone's links to one patient at one instant: the care team with their enrolments and the
/// users on call at the patient's practice.
#[derive(Debug, Clone, Default)]
pub struct PatientLinks {
    team: Vec<CareTeamMember>,
    on_call: Vec<Uuid>,
}

impl PatientLinks {
    /// Loads the care team of `patient_id` and who is on call at `practice` at `at`.
    pub async fn load(
        state: &App,
        practice: &Practice,
        patient_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<PatientLinks, StoreError> {
        let (team, on_call) = tokio::try_join!(
            state.store.care_team(patient_id),
            on_call_now(state, practice, at)
        )?;
        Ok(PatientLinks { team, on_call })
    }

    /// From a care team and an on-call list already loaded.
    pub fn new(team: Vec<CareTeamMember>, on_call: Vec<Uuid>) -> PatientLinks {
        PatientLinks { team, on_call }
    }

    /// The users on call at the practice at the instant these links were loaded for.
    pub fn on_call(&self) -> &[Uuid] {
        &self.on_call
    }

    /// One user's links.
    pub fn of(&self, user_id: Uuid) -> Links<'_> {
        Links {
            enrolments: self
                .team
                .iter()
                .find(|m| m.user_id == user_id)
                .map(|m| m.programs.as_slice())
                .unwrap_or_default(),
            on_call: self.on_call.contains(&user_id),
        }
    }

    /// What `user` may see of a patient of `practice` in `programs`.
    pub fn access(&self, user: &User, practice: &Practice, programs: &[String]) -> PatientAccess {
        access::patient_access(user, practice, programs, self.of(user.id))
    }

    /// Whether `user` can act on an alert about this patient.
    pub fn can_act_on_alert(&self, user: &User, practice: &Practice, programs: &[String]) -> bool {
        access::can_act_on_alert(user, practice, programs, self.of(user.id))
    }
}

/// The ids of `users` who may see the clinical part of the patient's record (reading
/// notifications go to them only). Locked users are kept out.
pub async fn with_case_access(
    state: &App,
    practice: &Practice,
    patient_id: Uuid,
    programs: &[String],
    users: &[Uuid],
    at: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    let links = PatientLinks::load(state, practice, patient_id, at).await?;
    // One query for every candidate, answered in the candidates' order.
    let loaded = state.store.get_users(users).await?;
    Ok(users
        .iter()
        .filter(|id| {
            loaded
                .iter()
                .find(|user| user.id == **id)
                .is_some_and(|user| links.can_act_on_alert(user, practice, programs))
        })
        .copied()
        .collect())
}

/// Loads a patient whose clinical part (readings, reading-alert settings) the caller may see,
/// writing the read to the audit log. 404 when the caller may not see the patient at all; 403
/// when they have client access only (on the care team or of the practice, but in none of the
/// patient's programs, not an admin and not on call now).
pub async fn clinical_patient(
    state: &App,
    caller: &CurrentUser,
    id: Uuid,
) -> Result<Patient, AppError> {
    let patient = visible_patient(state, caller, id).await?;
    let practice = state.store.get_practice(patient.practice_id).await?;
    let links = PatientLinks::load(state, &practice, patient.id, caller.now).await?;
    match links.access(&caller.user, &practice, &patient.programs) {
        PatientAccess::Case => Ok(patient),
        PatientAccess::Client => {
            count_refusal("role");
            Err(AppError::Forbidden(
                "the clinical part of this patient's record (readings, reading alerts, alerts) is \
                 for the staff assigned to one of the patient's programs, admins and the user on \
                 call; ask to be assigned to a program"
                    .into(),
            ))
        }
        PatientAccess::None => Err(AppError::NotFound("patient")),
    }
}
