//! Customers as use cases: created by super admins, read by their own users, default users set
//! by their admins (they join every practice created afterwards).

use store::{Customer, NewCustomer};
use uuid::Uuid;

use crate::app::{App, AppError, CurrentUser, validate};

/// Creates a customer (super admins only).
pub async fn create(state: &App, caller: &CurrentUser, name: &str) -> Result<Customer, AppError> {
    caller.require_super_admin()?;
    let name = validate::text("name", name, 200)?;
    Ok(state
        .store
        .create_customer(&caller.audit(), NewCustomer { name })
        .await?)
}

/// A customer the caller may see, with its default users; 404 otherwise.
pub async fn get_for(
    state: &App,
    caller: &CurrentUser,
    id: Uuid,
) -> Result<(Customer, Vec<Uuid>), AppError> {
    caller.require_customer(id)?;
    let customer = state
        .store
        .get_customer(id)
        .await
        .map_err(|_| AppError::NotFound("customer"))?;
    let defaults = state.store.customer_default_users(id).await?;
    Ok((customer, defaults))
}

/// Replaces the customer's default users (its admins); answers them as saved.
pub async fn set_default_users(
    state: &App,
    caller: &CurrentUser,
    id: Uuid,
    user_ids: Vec<Uuid>,
) -> Result<Vec<Uuid>, AppError> {
    caller.require_customer_admin(id)?;
    Ok(state
        .store
        .set_customer_default_users(&caller.audit(), id, user_ids)
        .await?)
}
