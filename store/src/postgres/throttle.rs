//! The inbound-message path's throttle helpers on PostgreSQL (the `LoginThrottle` use cases
//! are written once in `crate::throttle`).

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::map_err;
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
