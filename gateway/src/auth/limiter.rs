//! Failed-login throttling per username and per client address.
//!
//! Only failures count (`domain::throttle`: 5 per username, 20 per address, then one per period).
//! The state lives in the store, so the limits hold across every gateway instance. A blocked key
//! gets 429 with `Retry-After` for every login without the password being checked, so a blocked
//! guesser learns nothing.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use store::{Store, StoreResult, ThrottleRow};

use crate::domain::throttle::{self, Cell, Limit, PER_ADDRESS, PER_USERNAME};

fn keys(username: &str, address: IpAddr) -> [(String, Limit); 2] {
    [
        (format!("user:{}", username.to_lowercase()), PER_USERNAME),
        (format!("addr:{address}"), PER_ADDRESS),
    ]
}

fn cell(row: ThrottleRow) -> Cell {
    Cell {
        tat: row.tat,
        blocked_until: row.blocked_until,
    }
}

fn to_std(wait: chrono::Duration) -> Duration {
    wait.to_std().unwrap_or(Duration::ZERO)
}

/// Whether one more counted event for `key` at `now` would be refused.
pub async fn is_full(
    store: &dyn Store,
    key: &str,
    limit: Limit,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let rows = store.throttle_rows(&[key.to_string()]).await?;
    let current = rows.into_iter().next().map(|(_, row)| cell(row));
    Ok(throttle::is_full(current, now, limit))
}

/// Counts one event for `key` (under the key's row lock, so concurrent counts on several
/// instances all count). Returns the key's state afterwards.
pub async fn count(
    store: &dyn Store,
    key: &str,
    limit: Limit,
    now: DateTime<Utc>,
) -> StoreResult<Cell> {
    let next = store
        .update_throttle(
            key,
            Box::new(move |row| {
                let (next, _) = throttle::on_failure(row.map(cell), now, limit);
                ThrottleRow {
                    tat: next.tat,
                    blocked_until: next.blocked_until,
                }
            }),
        )
        .await?;
    Ok(cell(next))
}

/// `Some(wait)` while the username or the address is blocked.
pub async fn blocked_for(
    store: &dyn Store,
    now: DateTime<Utc>,
    username: &str,
    address: IpAddr,
) -> StoreResult<Option<Duration>> {
    let keys: Vec<String> = keys(username, address)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    Ok(store
        .throttle_rows(&keys)
        .await?
        .into_iter()
        .filter_map(|(_, row)| throttle::blocked_for(Some(cell(row)), now))
        .max()
        .map(to_std))
}

/// Counts a failed login against the username and the address; `Some(wait)` when either is
/// blocked afterwards (this failure was one too many, or a concurrent one was).
pub async fn record_failure(
    store: &dyn Store,
    now: DateTime<Utc>,
    username: &str,
    address: IpAddr,
) -> StoreResult<Option<Duration>> {
    let mut wait: Option<chrono::Duration> = None;
    for (key, limit) in keys(username, address) {
        let after = count(store, &key, limit, now).await?;
        wait = wait.max(throttle::blocked_for(Some(after), now));
    }
    Ok(wait.map(to_std))
}

/// Forgets throttle state older than a day (it no longer blocks or counts anything).
pub async fn forget_old(store: &dyn Store, now: DateTime<Utc>) -> StoreResult<usize> {
    let removed = store
        .forget_throttles(now - chrono::Duration::days(1))
        .await?;
    Ok(usize::try_from(removed).unwrap_or(usize::MAX))
}
