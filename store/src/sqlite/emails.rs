//! Queuing an email on SQLite, for the inbound-message path (the `Emails` use cases are
//! written once in `crate::emails`).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::map_err;
use super::rows::micros;
use crate::*;

/// Queues a notification's email; callable inside another aggregate's transaction.
pub(crate) fn insert_email(
    conn: &Connection,
    at: DateTime<Utc>,
    n: &NewNotification,
    email: &NotificationEmail,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO email_outbox (id, user_id, practice_id, kind, to_address, subject, body,
                                   next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            new_id(),
            n.user_id,
            n.practice_id,
            n.kind,
            email.to_address,
            email.subject,
            email.body,
            micros(at),
        ])
    })
    .map_err(map_err)?;
    Ok(())
}
