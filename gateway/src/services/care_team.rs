//! The care team and program staff of a patient (seed 003): who may be put there, the care-team
//! assignment that also assigns every active program enrolment (unless asked for the care team
//! only), and who a new patient starts with (the staff user who creates it and their
//! supervisor). Who may join is `domain::access::can_join_care_team`; the store applies each
//! change in one transaction.

use store::{Patient, Practice, Role, StoreError, User};
use uuid::Uuid;

use crate::app::App;
use crate::app::AppError;
use crate::app::CurrentUser;
use crate::domain::access;
use crate::services::access::visible_patient;

/// Which of the patient's program enrolments a user put on the care team is assigned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Programs {
    /// Every program the patient is enrolled in ("Staff assigned to Clients will automatically be
    /// assigned to any active Client Cases").
    #[default]
    All,
    /// None: the care team only ("Staff Member is now only assigned to the Client").
    None,
}

/// A user who may work on a patient of `practice` (`domain::access::can_join_care_team`), or 422
/// naming `user_id`.
async fn team_user(state: &App, practice: &Practice, user_id: Uuid) -> Result<User, AppError> {
    match state.store.get_user(user_id).await {
        Ok(user) if access::can_join_care_team(&user, practice) => Ok(user),
        Ok(_) | Err(StoreError::NotFound) => Err(AppError::invalid(
            "user_id",
            "must be an unlocked user of the patient's practice",
        )),
        Err(e) => Err(e.into()),
    }
}

/// Puts `user_id` on the care team of a patient the caller may see, and on every program
/// enrolment of the patient unless `programs` is [`Programs::None`].
pub async fn add_for(
    state: &App,
    caller: &CurrentUser,
    patient_id: Uuid,
    user_id: Uuid,
    programs: Programs,
) -> Result<(), AppError> {
    let patient = visible_patient(state, caller, patient_id).await?;
    let practice = state.store.get_practice(patient.practice_id).await?;
    team_user(state, &practice, user_id).await?;
    let audit = caller.audit();
    match programs {
        Programs::All => {
            state
                .store
                .assign_to_patient(&audit, patient_id, user_id)
                .await?
        }
        Programs::None => {
            state
                .store
                .add_to_care_team(&audit, patient_id, user_id)
                .await?
        }
    }
    Ok(())
}

/// A patient the caller may see who is enrolled in `program`; 404 otherwise.
async fn enrolled_patient(
    state: &App,
    caller: &CurrentUser,
    patient_id: Uuid,
    program: &str,
) -> Result<Patient, AppError> {
    let patient = visible_patient(state, caller, patient_id).await?;
    if !patient.programs.iter().any(|p| p == program) {
        return Err(AppError::NotFound("program enrolment"));
    }
    Ok(patient)
}

/// Assigns `user_id` to one program enrolment of a patient the caller may see (which puts them
/// on the care team); 404 when the patient is not in that program.
pub async fn add_program_staff_for(
    state: &App,
    caller: &CurrentUser,
    patient_id: Uuid,
    program: &str,
    user_id: Uuid,
) -> Result<(), AppError> {
    let patient = enrolled_patient(state, caller, patient_id, program).await?;
    let practice = state.store.get_practice(patient.practice_id).await?;
    team_user(state, &practice, user_id).await?;
    state
        .store
        .add_program_staff(&caller.audit(), patient_id, program, user_id)
        .await?;
    Ok(())
}

/// Who a patient (or a program, i.e. a case) created now by `creator` at `practice` starts with
/// on its care team and programs (seed 003: "only the staff creating the case (and assigned staff
/// supervisor) will be added"): a staff creator, and the creator's supervisor when they may work
/// at the practice (a supervisor who cannot see the practice would gain nothing by it and is left
/// out).
pub async fn first_care_team(
    state: &App,
    creator: &User,
    practice: &Practice,
) -> Result<Vec<Uuid>, AppError> {
    let mut team = Vec::new();
    if creator.role == Role::Staff && access::can_join_care_team(creator, practice) {
        team.push(creator.id);
    }
    if let Some(supervisor) = creator.supervisor_id {
        match state.store.get_user(supervisor).await {
            Ok(user) if access::can_join_care_team(&user, practice) => {
                if !team.contains(&user.id) {
                    team.push(user.id);
                }
            }
            Ok(_) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(team)
}

/// Takes a user off the patient's care team, and so off every program enrolment of the patient.
pub async fn remove_for(
    state: &App,
    caller: &CurrentUser,
    patient_id: Uuid,
    user_id: Uuid,
) -> Result<(), AppError> {
    visible_patient(state, caller, patient_id).await?;
    Ok(state
        .store
        .remove_from_care_team(&caller.audit(), patient_id, user_id)
        .await?)
}

/// Takes a user off one program enrolment of the patient; the care team stays as it is.
pub async fn remove_program_staff_for(
    state: &App,
    caller: &CurrentUser,
    patient_id: Uuid,
    program: &str,
    user_id: Uuid,
) -> Result<(), AppError> {
    enrolled_patient(state, caller, patient_id, program).await?;
    Ok(state
        .store
        .remove_program_staff(&caller.audit(), patient_id, program, user_id)
        .await?)
}

/// The caller follows the patient as a notification user (`true`) or stops following.
pub async fn follow(
    state: &App,
    caller: &CurrentUser,
    patient_id: Uuid,
    following: bool,
) -> Result<(), AppError> {
    visible_patient(state, caller, patient_id).await?;
    let audit = caller.audit();
    if following {
        state
            .store
            .subscribe(&audit, patient_id, caller.id())
            .await?;
    } else {
        state
            .store
            .unsubscribe(&audit, patient_id, caller.id())
            .await?;
    }
    Ok(())
}
