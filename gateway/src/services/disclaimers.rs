//! A practice's report disclaimers: read by whoever sees the practice, replaced by its
//! customer's admins.

use store::PracticeDisclaimers;
use uuid::Uuid;

use crate::app::{App, AppError, CurrentUser};
use crate::services::access::{administered_practice, visible_practice};

/// The practice's disclaimers, for a caller who may see the practice.
pub async fn get_for(
    state: &App,
    caller: &CurrentUser,
    practice_id: Uuid,
) -> Result<PracticeDisclaimers, AppError> {
    let practice = visible_practice(state, caller, practice_id).await?;
    Ok(state.store.practice_disclaimers(practice.id).await?)
}

/// Replaces the practice's disclaimers (its customer's admins); the texts are checked by the
/// caller.
pub async fn replace_for(
    state: &App,
    caller: &CurrentUser,
    practice_id: Uuid,
    care_plan_report: String,
    hra_report: String,
) -> Result<PracticeDisclaimers, AppError> {
    let practice = administered_practice(state, caller, practice_id).await?;
    Ok(state
        .store
        .save_practice_disclaimers(&caller.audit(), practice.id, care_plan_report, hra_report)
        .await?)
}
