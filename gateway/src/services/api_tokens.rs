//! API tokens of integrations as use cases: created by a customer's admins (the secret is
//! returned once and only its SHA-256 is kept), revoked for good. Never log a token.

use store::{ApiToken, NewApiToken, StoreError};
use uuid::Uuid;

use crate::app::{App, AppError, CurrentUser, validate};
use crate::auth::token;

/// Lets an integration post readings for the patients of the token's customer.
pub const SCOPE_READINGS_WRITE: &str = "readings:write";

/// Every scope a token may carry.
pub const SCOPES: &[&str] = &[SCOPE_READINGS_WRITE];

/// Creates a token for an integration of the customer (its admins): the stored token and the
/// secret, which is shown this once.
pub async fn create(
    state: &App,
    caller: &CurrentUser,
    customer_id: Uuid,
    name: &str,
    requested_scopes: &[String],
) -> Result<(ApiToken, String), AppError> {
    caller.require_customer_admin(customer_id)?;
    match state.store.get_customer(customer_id).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => return Err(AppError::NotFound("customer")),
        Err(other) => return Err(other.into()),
    }
    let name = validate::text("name", name, 100)?;
    let scopes = scopes(requested_scopes)?;
    let secret = token::generate();
    let created = state
        .store
        .create_api_token(
            &caller.audit(),
            NewApiToken {
                customer_id,
                name,
                scopes,
                token_hash: token::hash(&secret),
            },
        )
        .await?;
    Ok((created, secret))
}

/// The active token `presented` is (an integration signing in); 401 when it is unknown or
/// revoked.
pub async fn active(state: &App, presented: &str) -> Result<ApiToken, AppError> {
    match state.store.active_api_token(&token::hash(presented)).await {
        Ok(token) => Ok(token),
        Err(StoreError::NotFound) => Err(AppError::Unauthorized),
        Err(other) => Err(other.into()),
    }
}

/// Revokes a token (admins of its customer): it stops working at once. Revoking again changes
/// nothing.
pub async fn revoke(state: &App, caller: &CurrentUser, id: Uuid) -> Result<(), AppError> {
    let found = match state.store.get_api_token(id).await {
        Ok(token) => token,
        Err(StoreError::NotFound) => return Err(AppError::NotFound("api token")),
        Err(other) => return Err(other.into()),
    };
    if !caller.can_see_customer(found.customer_id) {
        return Err(AppError::NotFound("api token"));
    }
    caller.require_customer_admin(found.customer_id)?;
    state.store.revoke_api_token(&caller.audit(), id).await?;
    Ok(())
}

fn scopes(values: &[String]) -> Result<Vec<String>, AppError> {
    if values.is_empty() {
        return Err(AppError::invalid(
            "scopes",
            format!("name at least one scope: {}", SCOPES.join(", ")),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for (index, value) in values.iter().enumerate() {
        if !SCOPES.contains(&value.as_str()) {
            return Err(AppError::invalid(
                format!("scopes[{index}]"),
                format!("is not a scope; use one of {}", SCOPES.join(", ")),
            ));
        }
        if !out.contains(value) {
            out.push(value.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_must_be_known_and_are_deduplicated() {
        assert!(scopes(&[]).is_err());
        assert_eq!(
            scopes(&["readings:write".into(), "readings:write".into()]).unwrap(),
            vec!["readings:write".to_string()]
        );
        let err = scopes(&["readings:write".into(), "admin".into()]).unwrap_err();
        assert!(matches!(err, AppError::Invalid { field, .. } if field == "scopes[1]"));
    }
}
