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
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use crate::services::api_tokens;
pub use crate::services::api_tokens::{SCOPE_READINGS_WRITE, SCOPES};

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
    let (created, secret) =
        api_tokens::create(&state, &caller, customer_id, &body.name, &body.scopes).await?;
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
    api_tokens::revoke(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
