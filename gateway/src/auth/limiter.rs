//! Failed-login throttling per (username, client address) pair, per address, and per username.
//!
//! Only failures count (`domain::throttle`). The pair (5, then one per 3 minutes) and the address
//! (20, then one per 30 s) block: a blocked key gets 429 with `Retry-After` for every login without
//! the password being checked, so a blocked guesser learns nothing. The username alone (10, then
//! one per 10 s) never blocks: it delays the next login of that username until there is room, so
//! a guesser spread over many addresses is slowed while the right password from another address
//! still gets in. The state lives in the store, so the limits hold across every gateway instance.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use store::{Store, StoreResult, ThrottleRow};

use crate::domain::throttle::{self, Cell, Limit, PER_ADDRESS, PER_PAIR, PER_USERNAME};

/// The keys that block: the username from this address, and the address.
fn blocking_keys(username: &str, address: IpAddr) -> [(String, Limit); 2] {
    [
        (
            format!("pair:{}:{address}", username.to_lowercase()),
            PER_PAIR,
        ),
        (format!("addr:{address}"), PER_ADDRESS),
    ]
}

/// The key that delays: the username from anywhere.
fn username_key(username: &str) -> String {
    format!("user:{}", username.to_lowercase())
}

/// A stored throttle row as the domain's state.
pub fn cell(row: ThrottleRow) -> Cell {
    Cell {
        tat: row.tat,
        blocked_until: row.blocked_until,
    }
}

/// The domain's state as a row to store.
pub fn row(cell: Cell) -> ThrottleRow {
    ThrottleRow {
        tat: cell.tat,
        blocked_until: cell.blocked_until,
    }
}

fn to_std(wait: chrono::Duration) -> Duration {
    wait.to_std().unwrap_or(Duration::ZERO)
}

/// Counts one event for `key` (under the key's row lock, so concurrent counts on several
/// instances all count). Returns the key's state afterwards.
async fn count(
    store: &dyn Store,
    key: &str,
    limit: Limit,
    now: DateTime<Utc>,
) -> StoreResult<Cell> {
    let next = store
        .update_throttle(
            key,
            Box::new(move |current| row(throttle::on_failure(current.map(cell), now, limit).0)),
        )
        .await?;
    Ok(cell(next))
}

/// `Some(wait)` while the username from this address, or the address, is blocked.
pub async fn blocked_for(
    store: &dyn Store,
    now: DateTime<Utc>,
    username: &str,
    address: IpAddr,
) -> StoreResult<Option<Duration>> {
    let keys: Vec<String> = blocking_keys(username, address)
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

/// How long a login of `username` must wait before its password is checked: zero unless the
/// username failed too often lately (from any address).
pub async fn delay_for(
    store: &dyn Store,
    now: DateTime<Utc>,
    username: &str,
) -> StoreResult<Duration> {
    let row = store
        .throttle_rows(&[username_key(username)])
        .await?
        .into_iter()
        .next()
        .map(|(_, row)| cell(row));
    Ok(throttle::delay(row, now, PER_USERNAME)
        .map(to_std)
        .unwrap_or_default())
}

/// Counts a failed login against the pair, the address and the username; `Some(wait)` when the
/// pair or the address is blocked afterwards (this failure was one too many, or a concurrent one
/// was).
pub async fn record_failure(
    store: &dyn Store,
    now: DateTime<Utc>,
    username: &str,
    address: IpAddr,
) -> StoreResult<Option<Duration>> {
    let mut wait: Option<chrono::Duration> = None;
    for (key, limit) in blocking_keys(username, address) {
        let after = count(store, &key, limit, now).await?;
        wait = wait.max(throttle::blocked_for(Some(after), now));
    }
    count(store, &username_key(username), PER_USERNAME, now).await?;
    Ok(wait.map(to_std))
}

/// Forgets throttle state older than a day (it no longer blocks or counts anything).
pub async fn forget_old(store: &dyn Store, now: DateTime<Utc>) -> StoreResult<usize> {
    let removed = store
        .forget_throttles(now - chrono::Duration::days(1))
        .await?;
    Ok(usize::try_from(removed).unwrap_or(usize::MAX))
}
