//! API tokens of integrations (device vendors posting readings): created by a customer's
//! admins, found by the SHA-256 of the presented token, revoked for good.
//!
//! The store never sees a token, only its hash (hex, like sessions), and must never log either.
//! Which scopes exist is the gateway's business; the store keeps them as given.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::*;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub name: String,
    pub scopes: Vec<String>,
    /// The admin who created it.
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    /// Set once; a revoked token authenticates nothing.
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub customer_id: Uuid,
    pub name: String,
    pub scopes: Vec<String>,
    /// SHA-256 hex of the token shown once to the creator.
    pub token_hash: String,
}

#[async_trait]
pub trait ApiTokens: Send + Sync {
    /// Creates the token (created by `audit.user_id`) with the audit row (`api_token.create`).
    async fn create_api_token(&self, audit: &Audit, new: NewApiToken) -> StoreResult<ApiToken>;

    /// A token by id, revoked or not.
    async fn get_api_token(&self, id: Uuid) -> StoreResult<ApiToken>;

    /// The token with this hash, for authentication; `NotFound` when there is none or it is
    /// revoked.
    async fn active_api_token(&self, token_hash: &str) -> StoreResult<ApiToken>;

    /// Revokes the token (a second revoke keeps the first time) with the audit row
    /// (`api_token.revoke`). `NotFound` when there is no such token.
    async fn revoke_api_token(&self, audit: &Audit, id: Uuid) -> StoreResult<ApiToken>;
}
