//! OnCall on sqlite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use super::{OwnedEvent, SqliteStore, map_err};
use crate::notification_settings::distinct_in_order;
use crate::*;

fn load(conn: &Connection, practice_id: Uuid) -> StoreResult<Vec<OnCallWindowRow>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT from_minute, to_minute, user_id FROM on_call_windows
             WHERE practice_id = ?1 ORDER BY position",
        )
        .map_err(map_err)?;
    stmt.query_map([practice_id], |r| {
        Ok(OnCallWindowRow {
            from_minute: r.get(0)?,
            to_minute: r.get(1)?,
            user_id: r.get(2)?,
        })
    })
    .map_err(map_err)?
    .collect::<Result<Vec<_>, _>>()
    .map_err(map_err)
}

#[async_trait]
impl OnCall for SqliteStore {
    async fn on_call_windows(&self, practice_id: Uuid) -> StoreResult<Vec<OnCallWindowRow>> {
        self.call(move |conn| load(conn, practice_id)).await
    }

    async fn replace_on_call_windows(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        windows: Vec<OnCallWindowRow>,
    ) -> StoreResult<Vec<OnCallWindowRow>> {
        let audit = audit.clone();
        self.write(move |tx| {
            let customer_id: Uuid = tx
                .query_row(
                    "SELECT customer_id FROM practices WHERE id = ?1",
                    [practice_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_err)?
                .ok_or(StoreError::NotFound)?;
            let user_ids =
                distinct_in_order(&windows.iter().map(|w| w.user_id).collect::<Vec<_>>());
            let mut check = tx
                .prepare_cached(
                    "SELECT count(*) FROM users
                     WHERE id = ?1 AND customer_id = ?2 AND locked_at IS NULL",
                )
                .map_err(map_err)?;
            for user_id in &user_ids {
                let found: i64 = check
                    .query_row(params![user_id, customer_id], |r| r.get(0))
                    .map_err(map_err)?;
                if found == 0 {
                    return Err(StoreError::Conflict {
                        constraint: "on_call_windows_user_of_customer".into(),
                    });
                }
            }
            tx.execute(
                "DELETE FROM on_call_windows WHERE practice_id = ?1",
                [practice_id],
            )
            .map_err(map_err)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO on_call_windows (practice_id, position, from_minute, to_minute, user_id)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(map_err)?;
            for (position, window) in windows.iter().enumerate() {
                let position = i64::try_from(position)
                    .map_err(|_| StoreError::Unexpected("too many on-call windows".into()))?;
                insert
                    .execute(params![
                        practice_id,
                        position,
                        window.from_minute,
                        window.to_minute,
                        window.user_id,
                    ])
                    .map_err(map_err)?;
            }
            OwnedEvent {
                customer_id: Some(customer_id),
                action: "practice.on_call.update",
                target_type: "practice",
                target_id: Some(practice_id.to_string()),
                patient_id: None,
            }
            .write(tx, &audit)?;
            load(tx, practice_id)
        })
        .await
    }
}
