//! The inbound-message path's throttle helpers on SQLite (the `LoginThrottle` use cases are
//! written once in `crate::throttle`; one connection: changes are serialised anyway).

use rusqlite::{OptionalExtension, params};

use super::map_err;
use super::rows::{micros, opt_time};
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
