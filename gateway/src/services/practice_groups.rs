//! Practice groups as use cases: once a customer has 10 or more practices its admins may group
//! them (the store holds that rule and that a practice is in at most one group); a group's
//! default users replace the customer's for the practices in it.

use store::{NewPracticeGroup, PracticeGroup, PracticeGroupPatch, StoreError};
use uuid::Uuid;

use crate::app::{App, AppError, CurrentUser, validate};

/// The customer's groups (whoever may see the customer).
pub async fn list_for(
    state: &App,
    caller: &CurrentUser,
    customer_id: Uuid,
) -> Result<Vec<PracticeGroup>, AppError> {
    caller.require_customer(customer_id)?;
    Ok(state.store.list_practice_groups(customer_id).await?)
}

/// Creates a group (customer admins; 409 while the customer has fewer than 10 practices).
pub async fn create(
    state: &App,
    caller: &CurrentUser,
    customer_id: Uuid,
    name: &str,
    default_user_ids: Vec<Uuid>,
    practice_ids: Vec<Uuid>,
) -> Result<PracticeGroup, AppError> {
    caller.require_customer_admin(customer_id)?;
    let new = NewPracticeGroup {
        customer_id,
        name: validate::text("name", name, 120)?,
        default_user_ids,
        practice_ids,
    };
    match state
        .store
        .create_practice_group(&caller.audit(), new)
        .await
    {
        Ok(group) => Ok(group),
        Err(StoreError::NotFound) => Err(AppError::NotFound("customer")),
        Err(other) => Err(other.into()),
    }
}

/// Renames a group or replaces its default users or practices (customer admins).
pub async fn update(
    state: &App,
    caller: &CurrentUser,
    id: Uuid,
    name: Option<&str>,
    default_user_ids: Option<Vec<Uuid>>,
    practice_ids: Option<Vec<Uuid>>,
) -> Result<PracticeGroup, AppError> {
    group_for_admin(state, caller, id).await?;
    let patch = PracticeGroupPatch {
        name: name.map(|n| validate::text("name", n, 120)).transpose()?,
        default_user_ids,
        practice_ids,
    };
    Ok(state
        .store
        .update_practice_group(&caller.audit(), id, patch)
        .await?)
}

/// Removes a group; its practices fall back to the customer's default users.
pub async fn delete(state: &App, caller: &CurrentUser, id: Uuid) -> Result<(), AppError> {
    group_for_admin(state, caller, id).await?;
    Ok(state
        .store
        .delete_practice_group(&caller.audit(), id)
        .await?)
}

/// The group when the caller administers its customer; 404 when they may not know of it.
async fn group_for_admin(
    state: &App,
    caller: &CurrentUser,
    id: Uuid,
) -> Result<PracticeGroup, AppError> {
    let group = match state.store.get_practice_group(id).await {
        Ok(group) => group,
        Err(StoreError::NotFound) => return Err(AppError::NotFound("practice group")),
        Err(e) => return Err(e.into()),
    };
    if !caller.can_see_customer(group.customer_id) {
        return Err(AppError::NotFound("practice group"));
    }
    caller.require_customer_admin(group.customer_id)?;
    Ok(group)
}
