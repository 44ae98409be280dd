//! Failed-login throttling state on SQLite (one connection: changes are serialised anyway).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::rows::{micros, opt_time};
use super::{SqliteStore, map_err};
use crate::*;

/// The key's state inside the caller's (serialised) transaction; `None` when nothing was counted.
pub(crate) fn read_throttle(
    conn: &rusqlite::Connection,
    key: &str,
) -> StoreResult<Option<ThrottleRow>> {
    Ok(conn
        .query_row(
            "SELECT tat, blocked_until FROM login_throttle WHERE key = ?1",
            [key],
            |r| Ok((opt_time(r, 0)?, opt_time(r, 1)?)),
        )
        .optional()
        .map_err(map_err)?
        .and_then(|(tat, blocked_until)| tat.map(|tat| ThrottleRow { tat, blocked_until })))
}

/// Writes the key's new state inside the caller's transaction.
pub(crate) fn store_throttle(
    conn: &rusqlite::Connection,
    key: &str,
    next: &ThrottleRow,
) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO login_throttle (key, tat, blocked_until) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE SET tat = excluded.tat, blocked_until = excluded.blocked_until",
        params![key, micros(next.tat), next.blocked_until.map(micros)],
    )
    .map_err(map_err)?;
    Ok(())
}

#[async_trait]
impl LoginThrottle for SqliteStore {
    async fn throttle_rows(&self, keys: &[String]) -> StoreResult<Vec<(String, ThrottleRow)>> {
        let keys = keys.to_vec();
        self.call(move |conn| {
            let mut found = Vec::new();
            for key in keys {
                let row = conn
                    .query_row(
                        "SELECT tat, blocked_until FROM login_throttle WHERE key = ?1 AND tat IS NOT NULL",
                        [&key],
                        |r| Ok((opt_time(r, 0)?, opt_time(r, 1)?)),
                    )
                    .optional()
                    .map_err(map_err)?;
                if let Some((Some(tat), blocked_until)) = row {
                    found.push((key, ThrottleRow { tat, blocked_until }));
                }
            }
            Ok(found)
        })
        .await
    }

    async fn update_throttle(&self, key: &str, decide: DecideThrottle) -> StoreResult<ThrottleRow> {
        let key = key.to_string();
        self.write(move |tx| {
            let next = decide(read_throttle(tx, &key)?);
            store_throttle(tx, &key, &next)?;
            Ok(next)
        })
        .await
    }

    async fn forget_throttles(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.write(move |tx| {
            let n = tx
                .execute(
                    "DELETE FROM login_throttle
                     WHERE (tat IS NULL OR tat < ?1) AND (blocked_until IS NULL OR blocked_until < ?1)",
                    [micros(before)],
                )
                .map_err(map_err)?;
            Ok(n as u64)
        })
        .await
    }
}
