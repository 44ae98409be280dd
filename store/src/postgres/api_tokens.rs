//! ApiTokens on postgres.

use async_trait::async_trait;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{PostgresStore, insert_audit, map_err};
use crate::readings::{join_scopes, split_scopes};
use crate::*;

const COLUMNS: &str = "id, customer_id, name, scopes, created_by, created_at, revoked_at";

fn token_from_row(row: &Row) -> ApiToken {
    ApiToken {
        id: row.get(0),
        customer_id: row.get(1),
        name: row.get(2),
        scopes: split_scopes(row.get(3)),
        created_by: row.get(4),
        created_at: row.get(5),
        revoked_at: row.get(6),
    }
}

#[async_trait]
impl ApiTokens for PostgresStore {
    async fn create_api_token(&self, audit: &Audit, new: NewApiToken) -> StoreResult<ApiToken> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let id = new_id();
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO api_tokens (id, customer_id, name, scopes, token_hash, created_by, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
                ),
                &[
                    &id,
                    &new.customer_id,
                    &new.name,
                    &join_scopes(&new.scopes),
                    &new.token_hash,
                    &audit.user_id,
                    &audit.at,
                ],
            )
            .await
            .map_err(map_err)?;
        let event = AuditEvent {
            customer_id: Some(new.customer_id),
            action: "api_token.create",
            target_type: "api_token",
            target_id: Some(id.to_string()),
            patient_id: None,
        };
        insert_audit(&tx, audit, &event).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(token_from_row(&row))
    }

    async fn get_api_token(&self, id: Uuid) -> StoreResult<ApiToken> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        Ok(token_from_row(&row))
    }

    async fn active_api_token(&self, token_hash: &str) -> StoreResult<ApiToken> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL"
            ))
            .await
            .map_err(map_err)?;
        let row = client
            .query_opt(&statement, &[&token_hash])
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        Ok(token_from_row(&row))
    }

    async fn revoke_api_token(&self, audit: &Audit, id: Uuid) -> StoreResult<ApiToken> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let row = tx
            .query_opt(
                &format!(
                    "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1
                     RETURNING {COLUMNS}"
                ),
                &[&id, &audit.at],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        let token = token_from_row(&row);
        let event = AuditEvent {
            customer_id: Some(token.customer_id),
            action: "api_token.revoke",
            target_type: "api_token",
            target_id: Some(id.to_string()),
            patient_id: None,
        };
        insert_audit(&tx, audit, &event).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(token)
    }
}
