//! Adding notifications on SQLite, for the inbound-message path (the `Feed` use cases are
//! written once in `crate::feed`).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use uuid::Uuid;

use super::map_err;
use super::rows::micros;
use crate::*;

/// Adds notifications to the feed and their emails to the email outbox; callable inside another
/// aggregate's transaction. Returns the ids of the feed rows.
pub(crate) fn insert_notifications(
    conn: &Connection,
    at: DateTime<Utc>,
    new: &[NewNotification],
) -> StoreResult<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(new.len());
    for n in new {
        if let Some(email) = &n.email {
            super::emails::insert_email(conn, at, n, email)?;
        }
        if !n.in_feed {
            continue;
        }
        let id = new_id();
        conn.prepare_cached(
            "INSERT INTO notifications (id, user_id, practice_id, patient_id, kind, summary, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                id,
                n.user_id,
                n.practice_id,
                n.patient_id,
                n.kind,
                n.summary,
                micros(at)
            ])
        })
        .map_err(map_err)?;
        ids.push(id);
    }
    Ok(ids)
}
