//! Failed-login throttling state, one row per key. The rule (how failures count) is the
//! gateway's; the store keeps the state and serialises changes to one key, so failures on several
//! instances at once are each counted.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::sql::{Db, ToArg, Tx};
use crate::*;

/// One key's state (see the gateway's `domain::throttle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRow {
    pub tat: DateTime<Utc>,
    pub blocked_until: Option<DateTime<Utc>>,
}

/// Turns a key's state (none yet: `None`) into its new state.
pub type DecideThrottle = Box<dyn FnOnce(Option<ThrottleRow>) -> ThrottleRow + Send>;

#[async_trait]
pub trait LoginThrottle: Send + Sync {
    /// The state of each of `keys` that has one, in the order asked.
    async fn throttle_rows(&self, keys: &[String]) -> StoreResult<Vec<(String, ThrottleRow)>>;
    /// Replaces the key's state with what `decide` makes of it, holding the key's row lock.
    async fn update_throttle(&self, key: &str, decide: DecideThrottle) -> StoreResult<ThrottleRow>;
    /// Forgets keys that neither block nor count anything after `before`. Returns how many.
    async fn forget_throttles(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// Locks the key's row inside the caller's transaction and returns its state, `None` when
/// nothing was counted yet. PostgreSQL creates the row first, so that there is always a row to
/// lock (two first counts of a key on two instances are then taken one after the other);
/// SQLite's write transaction already excludes every other writer.
pub(crate) async fn lock_throttle(tx: &Tx<'_>, key: &str) -> StoreResult<Option<ThrottleRow>> {
    if tx.backend() == Backend::Postgres {
        let sql = "INSERT INTO login_throttle (key) VALUES ($1) ON CONFLICT DO NOTHING";
        tx.execute(sql, &[key.arg()]).await?;
    }
    let sql = format!(
        "SELECT tat, blocked_until FROM login_throttle WHERE key = $1{}",
        tx.pick(" FOR UPDATE", "")
    );
    let Some(row) = tx.query_opt(&sql, &[key.arg()]).await? else {
        return Ok(None);
    };
    let tat: Option<DateTime<Utc>> = row.get(0)?;
    Ok(match tat {
        Some(tat) => Some(ThrottleRow {
            tat,
            blocked_until: row.get(1)?,
        }),
        None => None,
    })
}

/// Writes the key's new state inside the caller's transaction (after [`lock_throttle`]).
pub(crate) async fn store_throttle(tx: &Tx<'_>, key: &str, next: &ThrottleRow) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO login_throttle (key, tat, blocked_until) VALUES ($1, $2, $3)
         ON CONFLICT (key) DO UPDATE SET tat = excluded.tat, blocked_until = excluded.blocked_until",
        &[key.arg(), next.tat.arg(), next.blocked_until.arg()],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl<D: Db> LoginThrottle for D {
    async fn throttle_rows(&self, keys: &[String]) -> StoreResult<Vec<(String, ThrottleRow)>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = keys.to_vec();
        self.autocommit(move |tx| {
            Box::pin(async move {
                let mut args = Vec::new();
                let list = tx.in_list(&keys, &mut args);
                let sql = format!(
                    "SELECT key, tat, blocked_until FROM login_throttle
                     WHERE key {list} AND tat IS NOT NULL"
                );
                let rows = tx.query(&sql, &args).await?;
                let mut found = rows
                    .iter()
                    .map(|r| {
                        let row = ThrottleRow {
                            tat: r.get(1)?,
                            blocked_until: r.get(2)?,
                        };
                        Ok((r.get::<String>(0)?, row))
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                found.sort_by_key(|(key, _)| keys.iter().position(|k| k == key));
                Ok(found)
            })
        })
        .await
    }

    async fn update_throttle(&self, key: &str, decide: DecideThrottle) -> StoreResult<ThrottleRow> {
        let key = key.to_string();
        self.transaction(move |tx| {
            Box::pin(async move {
                let next = decide(lock_throttle(tx, &key).await?);
                store_throttle(tx, &key, &next).await?;
                Ok(next)
            })
        })
        .await
    }

    async fn forget_throttles(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "DELETE FROM login_throttle
                     WHERE (tat IS NULL OR tat < $1) AND (blocked_until IS NULL OR blocked_until < $1)",
                    &[before.arg()],
                )
                .await
            })
        })
        .await
    }
}
