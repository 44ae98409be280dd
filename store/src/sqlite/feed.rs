//! The notification feed on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, params};
use uuid::Uuid;

use super::rows::{from_micros, micros};
use super::{SqliteStore, map_err};
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

fn from_row(row: &Row) -> rusqlite::Result<(Notification, i64, Option<i64>)> {
    Ok((
        Notification {
            id: row.get(0)?,
            user_id: row.get(1)?,
            practice_id: row.get(2)?,
            patient_id: row.get(3)?,
            kind: row.get(4)?,
            summary: row.get(5)?,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            read_at: None,
        },
        row.get(6)?,
        row.get(7)?,
    ))
}

#[async_trait]
impl Feed for SqliteStore {
    async fn list_notifications(
        &self,
        user_id: Uuid,
        page: Page,
    ) -> StoreResult<Paged<Notification>> {
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, user_id, practice_id, patient_id, kind, summary, created_at, read_at FROM notifications
                     WHERE user_id = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3",
                )
                .map_err(map_err)?;
            let rows = stmt
                .query_map(params![user_id, page.after, page.fetch_limit()], from_row)
                .map_err(map_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(map_err)?;
            let items = rows
                .into_iter()
                .map(|(mut n, created, read)| {
                    n.created_at = from_micros(created)?;
                    n.read_at = read.map(from_micros).transpose()?;
                    Ok(n)
                })
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(Paged::from_rows(items, page, |n| n.id))
        })
        .await
    }

    async fn add_notifications(
        &self,
        at: DateTime<Utc>,
        new: Vec<NewNotification>,
    ) -> StoreResult<Vec<Uuid>> {
        self.write(move |tx| insert_notifications(tx, at, &new))
            .await
    }
}
