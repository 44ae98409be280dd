//! API tokens of integrations: created by a customer's admins (the token is shown once and only
//! its SHA-256 is kept), revoked for good. A device vendor posts readings with one
//! (`POST /v1/readings`, scope `readings:write`).
//!
//! Tokens must never be logged; the answer of the create route is the only place one appears.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use store::{NewApiToken, StoreError};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::validate;
use crate::auth::token;

/// Lets an integration post readings for the patients of the token's customer.
pub const SCOPE_READINGS_WRITE: &str = "readings:write";

/// Every scope a token may carry.
pub const SCOPES: &[&str] = &[SCOPE_READINGS_WRITE];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiTokenRequest {
    /// What the token is for, e.g. the vendor's name (1 to 100 characters).
    pub name: String,
    /// At least one of: `readings:write`.
    #[schema(example = json!(["readings:write"]))]
    pub scopes: Vec<String>,
}

/// A token as created: `token` is shown this once and cannot be read again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiToken {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// Send as `Authorization: Bearer <token>`. Store it safely: it is not shown again.
    pub token: String,
}

fn scopes(values: &[String]) -> Result<Vec<String>, ApiError> {
    if values.is_empty() {
        return Err(ApiError::invalid(
            "scopes",
            format!("name at least one scope: {}", SCOPES.join(", ")),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for (index, value) in values.iter().enumerate() {
        if !SCOPES.contains(&value.as_str()) {
            return Err(ApiError::invalid(
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

/// Create an API token for an integration of the customer (customer admins).
#[utoipa::path(
    post,
    path = "/v1/customers/{id}/api-tokens",
    tag = "integrations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the customer")),
    request_body = NewApiTokenRequest,
    responses(
        (status = 201, description = "the token, shown once", body = CreatedApiToken),
        (status = 400, description = "the body is not JSON, or the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an administrator of this customer", body = ErrorBody),
        (status = 404, description = "no such customer (or not the caller's to see)", body = ErrorBody),
        (status = 422, description = "`name` or a `scopes` entry is invalid; the message names it", body = ErrorBody),
    )
)]
pub async fn create_api_token(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(customer_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<NewApiTokenRequest>,
) -> Result<(StatusCode, Json<CreatedApiToken>), ApiError> {
    caller.require_customer_admin(customer_id)?;
    match state.store.get_customer(customer_id).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => return Err(ApiError::NotFound("customer")),
        Err(other) => return Err(other.into()),
    }
    let name = validate::text("name", &body.name, 100)?;
    let scopes = scopes(&body.scopes)?;
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
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiToken {
            id: created.id,
            customer_id: created.customer_id,
            name: created.name,
            scopes: created.scopes,
            created_at: created.created_at,
            token: secret,
        }),
    ))
}

/// Revoke an API token: it stops working at once (customer admins). Revoking again changes
/// nothing.
#[utoipa::path(
    delete,
    path = "/v1/api-tokens/{id}",
    tag = "integrations",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the token's id")),
    responses(
        (status = 204, description = "revoked"),
        (status = 400, description = "the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an administrator of the token's customer", body = ErrorBody),
        (status = 404, description = "no such token (or not the caller's to see)", body = ErrorBody),
    )
)]
pub async fn revoke_api_token(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let found = match state.store.get_api_token(id).await {
        Ok(token) => token,
        Err(StoreError::NotFound) => return Err(ApiError::NotFound("api token")),
        Err(other) => return Err(other.into()),
    };
    if !caller.can_see_customer(found.customer_id) {
        return Err(ApiError::NotFound("api token"));
    }
    caller.require_customer_admin(found.customer_id)?;
    state.store.revoke_api_token(&caller.audit(), id).await?;
    Ok(StatusCode::NO_CONTENT)
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
        assert!(matches!(err, ApiError::Invalid { field, .. } if field == "scopes[1]"));
    }
}
