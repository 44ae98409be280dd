//! ApiTokens on sqlite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};
use uuid::Uuid;

use super::rows::{micros, opt_time, time};
use super::{OwnedEvent, SqliteStore, map_err};
use crate::readings::{join_scopes, split_scopes};
use crate::*;

const COLUMNS: &str = "id, customer_id, name, scopes, created_by, created_at, revoked_at";

fn token_from_row(row: &Row) -> rusqlite::Result<ApiToken> {
    let scopes: String = row.get(3)?;
    Ok(ApiToken {
        id: row.get(0)?,
        customer_id: row.get(1)?,
        name: row.get(2)?,
        scopes: split_scopes(&scopes),
        created_by: row.get(4)?,
        created_at: time(row, 5)?,
        revoked_at: opt_time(row, 6)?,
    })
}

#[async_trait]
impl ApiTokens for SqliteStore {
    async fn create_api_token(&self, audit: &Audit, new: NewApiToken) -> StoreResult<ApiToken> {
        let audit = audit.clone();
        self.write(move |tx| {
            let id = new_id();
            tx.execute(
                "INSERT INTO api_tokens (id, customer_id, name, scopes, token_hash, created_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    new.customer_id,
                    new.name,
                    join_scopes(&new.scopes),
                    new.token_hash,
                    audit.user_id,
                    micros(audit.at),
                ],
            )
            .map_err(map_err)?;
            OwnedEvent {
                customer_id: Some(new.customer_id),
                action: "api_token.create",
                target_type: "api_token",
                target_id: Some(id.to_string()),
                patient_id: None,
            }
            .write(tx, &audit)?;
            tx.query_row(
                &format!("SELECT {COLUMNS} FROM api_tokens WHERE id = ?1"),
                [id],
                token_from_row,
            )
            .map_err(map_err)
        })
        .await
    }

    async fn get_api_token(&self, id: Uuid) -> StoreResult<ApiToken> {
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {COLUMNS} FROM api_tokens WHERE id = ?1"),
                [id],
                token_from_row,
            )
            .map_err(map_err)
        })
        .await
    }

    async fn active_api_token(&self, token_hash: &str) -> StoreResult<ApiToken> {
        let token_hash = token_hash.to_string();
        self.call(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM api_tokens WHERE token_hash = ?1 AND revoked_at IS NULL"
            ))
            .and_then(|mut stmt| stmt.query_row([token_hash], token_from_row))
            .map_err(map_err)
        })
        .await
    }

    async fn revoke_api_token(&self, audit: &Audit, id: Uuid) -> StoreResult<ApiToken> {
        let audit = audit.clone();
        self.write(move |tx| {
            let changed = tx
                .execute(
                    "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                    params![id, micros(audit.at)],
                )
                .map_err(map_err)?;
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            let token = tx
                .query_row(
                    &format!("SELECT {COLUMNS} FROM api_tokens WHERE id = ?1"),
                    [id],
                    token_from_row,
                )
                .optional()
                .map_err(map_err)?
                .ok_or(StoreError::NotFound)?;
            OwnedEvent {
                customer_id: Some(token.customer_id),
                action: "api_token.revoke",
                target_type: "api_token",
                target_id: Some(id.to_string()),
                patient_id: None,
            }
            .write(tx, &audit)?;
            Ok(token)
        })
        .await
    }
}
