//! Loading what `domain::access` decides from: a user's links to a patient (their program
//! enrolments on its care team, whether they are on call at its practice now), and the clinical
//! reads built on it. The rule itself lives in `domain::access`; nothing here decides access.

use chrono::{DateTime, Utc};
use store::{CareTeamMember, Patient, Practice, StoreError, User};
use uuid::Uuid;

use crate::domain::access::{self, Links, PatientAccess};
use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::ApiError;
use crate::http::patients::visible_patient;
use crate::services::oncall::on_call_now;

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
        state: &AppState,
        practice: &Practice,
        patient_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<PatientLinks, StoreError> {
        Ok(PatientLinks {
            team: state.store.care_team(patient_id).await?,
            on_call: on_call_now(state, practice, at).await?,
        })
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
    state: &AppState,
    practice: &Practice,
    patient_id: Uuid,
    programs: &[String],
    users: &[Uuid],
    at: DateTime<Utc>,
) -> Result<Vec<Uuid>, StoreError> {
    let links = PatientLinks::load(state, practice, patient_id, at).await?;
    let mut kept = Vec::with_capacity(users.len());
    for user_id in users {
        let user = state.store.get_user(*user_id).await?;
        if links.can_act_on_alert(&user, practice, programs) {
            kept.push(*user_id);
        }
    }
    Ok(kept)
}

/// Loads a patient whose clinical part (readings, reading-alert settings) the caller may see,
/// writing the read to the audit log. 404 when the caller may not see the patient at all; 403
/// when they have client access only (on the care team or of the practice, but in none of the
/// patient's programs, not an admin and not on call now).
pub async fn clinical_patient(
    state: &AppState,
    caller: &CurrentUser,
    id: Uuid,
) -> Result<Patient, ApiError> {
    let patient = visible_patient(state, caller, id).await?;
    let practice = state.store.get_practice(patient.practice_id).await?;
    let links = PatientLinks::load(state, &practice, patient.id, caller.now).await?;
    match links.access(&caller.user, &practice, &patient.programs) {
        PatientAccess::Case => Ok(patient),
        PatientAccess::Client => {
            crate::http::auth::count_refusal("role");
            Err(ApiError::Forbidden(
                "the clinical part of this patient's record (readings, reading alerts, alerts) is \
                 for the staff assigned to one of the patient's programs, admins and the user on \
                 call; ask to be assigned to a program"
                    .into(),
            ))
        }
        PatientAccess::None => Err(ApiError::NotFound("patient")),
    }
}
