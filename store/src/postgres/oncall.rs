//! OnCall on postgres.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::{PostgresStore, insert_audit, map_err};
use crate::notification_settings::distinct_in_order;
use crate::*;

async fn load(client: &impl GenericClient, practice_id: Uuid) -> StoreResult<Vec<OnCallWindowRow>> {
    let statement = client
        .prepare_cached(
            "SELECT from_minute, to_minute, user_id FROM on_call_windows
             WHERE practice_id = $1 ORDER BY position",
        )
        .await
        .map_err(map_err)?;
    let rows = client
        .query(&statement, &[&practice_id])
        .await
        .map_err(map_err)?;
    Ok(rows
        .iter()
        .map(|r| OnCallWindowRow {
            from_minute: r.get(0),
            to_minute: r.get(1),
            user_id: r.get(2),
        })
        .collect())
}

#[async_trait]
impl OnCall for PostgresStore {
    async fn on_call_windows(&self, practice_id: Uuid) -> StoreResult<Vec<OnCallWindowRow>> {
        let client = self.client().await?;
        load(&client, practice_id).await
    }

    async fn replace_on_call_windows(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        windows: Vec<OnCallWindowRow>,
    ) -> StoreResult<Vec<OnCallWindowRow>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // Locked so that two saves of one schedule cannot interleave their delete and inserts.
        let customer_id: Uuid = tx
            .query_opt(
                "SELECT customer_id FROM practices WHERE id = $1 FOR NO KEY UPDATE",
                &[&practice_id],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?
            .get(0);
        let user_ids = distinct_in_order(&windows.iter().map(|w| w.user_id).collect::<Vec<_>>());
        let valid: i64 = tx
            .query_one(
                "SELECT count(*) FROM users
                 WHERE id = ANY($1) AND customer_id = $2 AND locked_at IS NULL",
                &[&user_ids, &customer_id],
            )
            .await
            .map_err(map_err)?
            .get(0);
        if usize::try_from(valid).ok() != Some(user_ids.len()) {
            return Err(StoreError::Conflict {
                constraint: "on_call_windows_user_of_customer".into(),
            });
        }
        tx.execute(
            "DELETE FROM on_call_windows WHERE practice_id = $1",
            &[&practice_id],
        )
        .await
        .map_err(map_err)?;
        for (position, window) in windows.iter().enumerate() {
            let position = i32::try_from(position)
                .map_err(|_| StoreError::Unexpected("too many on-call windows".into()))?;
            tx.execute(
                "INSERT INTO on_call_windows (practice_id, position, from_minute, to_minute, user_id)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &practice_id,
                    &position,
                    &window.from_minute,
                    &window.to_minute,
                    &window.user_id,
                ],
            )
            .await
            .map_err(map_err)?;
        }
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action: "practice.on_call.update",
            target_type: "practice",
            target_id: Some(practice_id.to_string()),
            patient_id: None,
        };
        insert_audit(&tx, audit, &event).await?;
        let saved = load(&tx, practice_id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(saved)
    }
}
