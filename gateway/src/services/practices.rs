//! Practices as use cases: created by super admins (the customer's or the group's default users
//! join them), listed and read by whoever may see them, changed and staffed by their customer's
//! admins. Handing over on-call duty of staff who leave a practice happens in the store
//! transaction that changes its users.

use store::{NewPractice, Page, Paged, Practice, PracticePatch};
use uuid::Uuid;

use crate::app::{App, AppError, CurrentUser};
use crate::services::access::administered_practice;
use crate::services::oncall;
use crate::services::schedule_changes::refusal;

/// Creates a practice of the customer (super admins only).
pub async fn create(
    state: &App,
    caller: &CurrentUser,
    new: NewPractice,
) -> Result<Practice, AppError> {
    caller.require_customer(new.customer_id)?;
    caller.require_super_admin()?;
    state
        .store
        .get_customer(new.customer_id)
        .await
        .map_err(|_| AppError::NotFound("customer"))?;
    Ok(state.store.create_practice(&caller.audit(), new).await?)
}

/// A page of the customer's practices, keeping those the caller may see.
pub async fn list_for(
    state: &App,
    caller: &CurrentUser,
    customer_id: Uuid,
    page: Page,
) -> Result<Paged<Practice>, AppError> {
    caller.require_customer(customer_id)?;
    let mut found = state.store.list_practices(customer_id, page).await?;
    found.items.retain(|p| caller.can_see_practice(p));
    Ok(found)
}

/// Changes a practice (its customer's admins).
pub async fn update(
    state: &App,
    caller: &CurrentUser,
    id: Uuid,
    patch: PracticePatch,
) -> Result<Practice, AppError> {
    administered_practice(state, caller, id).await?;
    Ok(state
        .store
        .update_practice(&caller.audit(), id, patch)
        .await?)
}

/// Replaces the practice's users (its customer's admins); staff who leave while on call here
/// hand their duty to `reassign_to` in the same transaction, or nothing changes.
pub async fn set_users(
    state: &App,
    caller: &CurrentUser,
    id: Uuid,
    user_ids: Vec<Uuid>,
    reassign_to: Option<Uuid>,
) -> Result<Vec<Uuid>, AppError> {
    administered_practice(state, caller, id).await?;
    state
        .store
        .set_practice_users(&caller.audit(), id, user_ids, oncall::handover(reassign_to))
        .await?
        .map_err(|r| refusal(r, |_| "reassign_to".into()))
}
