//! API tokens of integrations (device vendors posting readings): created by a customer's
//! admins, found by the SHA-256 of the presented token, revoked for good.
//!
//! The store never sees a token, only its hash (hex, like sessions), and must never log either.
//! Which scopes exist is the gateway's business; the store keeps them as given.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::readings::{join_scopes, split_scopes};
use crate::rows::{event, insert_audit};
use crate::sql::{Db, Row, ToArg, Tx};
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

const COLUMNS: &str = "id, customer_id, name, scopes, created_by, created_at, revoked_at";

fn token_from_row(row: &Row) -> StoreResult<ApiToken> {
    Ok(ApiToken {
        id: row.get(0)?,
        customer_id: row.get(1)?,
        name: row.get(2)?,
        scopes: split_scopes(&row.get::<String>(3)?),
        created_by: row.get(4)?,
        created_at: row.get(5)?,
        revoked_at: row.get(6)?,
    })
}

/// The token with this id, revoked or not; `NotFound` when there is none.
async fn load_token(tx: &Tx<'_>, id: Uuid) -> StoreResult<ApiToken> {
    let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1");
    token_from_row(&tx.query_one(&sql, &[id.arg()]).await?)
}

#[async_trait]
impl<D: Db> ApiTokens for D {
    async fn create_api_token(&self, audit: &Audit, new: NewApiToken) -> StoreResult<ApiToken> {
        let audit = audit.clone();
        self.transaction(move |tx| {
            Box::pin(async move {
                let id = new_id();
                tx.execute(
                    "INSERT INTO api_tokens (id, customer_id, name, scopes, token_hash, created_by, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[
                        id.arg(),
                        new.customer_id.arg(),
                        new.name.arg(),
                        join_scopes(&new.scopes).arg(),
                        new.token_hash.arg(),
                        audit.user_id.arg(),
                        audit.at.arg(),
                    ],
                )
                .await?;
                let event = event(Some(new.customer_id), "api_token.create", "api_token", id);
                insert_audit(tx, &audit, &event).await?;
                load_token(tx, id).await
            })
        })
        .await
    }

    async fn get_api_token(&self, id: Uuid) -> StoreResult<ApiToken> {
        self.autocommit(move |tx| Box::pin(load_token(tx, id)))
            .await
    }

    async fn active_api_token(&self, token_hash: &str) -> StoreResult<ApiToken> {
        let token_hash = token_hash.to_string();
        self.autocommit(move |tx| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL"
                );
                token_from_row(&tx.query_one(&sql, &[token_hash.arg()]).await?)
            })
        })
        .await
    }

    async fn revoke_api_token(&self, audit: &Audit, id: Uuid) -> StoreResult<ApiToken> {
        let audit = audit.clone();
        self.transaction(move |tx| {
            Box::pin(async move {
                let changed = tx
                    .execute(
                        "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
                        &[id.arg(), audit.at.arg()],
                    )
                    .await?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                let token = load_token(tx, id).await?;
                let event = event(Some(token.customer_id), "api_token.revoke", "api_token", id);
                insert_audit(tx, &audit, &event).await?;
                Ok(token)
            })
        })
        .await
    }
}
