//! Failed-login throttling state on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::{PostgresStore, map_err};
use crate::*;

/// Locks the key's row inside the caller's transaction (creating it first, so that there is
/// always a row to lock: two first counts of a key on two instances are then taken one after the
/// other) and returns its state, `None` when nothing was counted yet.
pub(crate) async fn lock_throttle(
    tx: &impl GenericClient,
    key: &str,
) -> StoreResult<Option<ThrottleRow>> {
    tx.execute(
        "INSERT INTO login_throttle (key) VALUES ($1) ON CONFLICT DO NOTHING",
        &[&key],
    )
    .await
    .map_err(map_err)?;
    let row = tx
        .query_one(
            "SELECT tat, blocked_until FROM login_throttle WHERE key = $1 FOR UPDATE",
            &[&key],
        )
        .await
        .map_err(map_err)?;
    Ok(row
        .get::<_, Option<DateTime<Utc>>>(0)
        .map(|tat| ThrottleRow {
            tat,
            blocked_until: row.get(1),
        }))
}

/// Writes the key's new state (its row locked by [`lock_throttle`]).
pub(crate) async fn store_throttle(
    tx: &impl GenericClient,
    key: &str,
    next: &ThrottleRow,
) -> StoreResult<()> {
    tx.execute(
        "UPDATE login_throttle SET tat = $2, blocked_until = $3 WHERE key = $1",
        &[&key, &next.tat, &next.blocked_until],
    )
    .await
    .map_err(map_err)?;
    Ok(())
}

#[async_trait]
impl LoginThrottle for PostgresStore {
    async fn throttle_rows(&self, keys: &[String]) -> StoreResult<Vec<(String, ThrottleRow)>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT key, tat, blocked_until FROM login_throttle
                 WHERE key = ANY($1) AND tat IS NOT NULL",
                &[&keys],
            )
            .await
            .map_err(map_err)?;
        let mut found: Vec<(String, ThrottleRow)> = rows
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    ThrottleRow {
                        tat: r.get(1),
                        blocked_until: r.get(2),
                    },
                )
            })
            .collect();
        found.sort_by_key(|(key, _)| keys.iter().position(|k| k == key));
        Ok(found)
    }

    async fn update_throttle(&self, key: &str, decide: DecideThrottle) -> StoreResult<ThrottleRow> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let next = decide(lock_throttle(&tx, key).await?);
        store_throttle(&tx, key, &next).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(next)
    }

    async fn forget_throttles(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM login_throttle
                 WHERE (tat IS NULL OR tat < $1) AND (blocked_until IS NULL OR blocked_until < $1)",
                &[&before],
            )
            .await
            .map_err(map_err)
    }
}
