//! The email outbox on SQLite. One connection serialises every claim, so a claim needs no
//! row locks.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use uuid::Uuid;

use super::rows::{micros, opt_time, time};
use super::{SqliteStore, map_err};
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

#[async_trait]
impl Emails for SqliteStore {
    async fn claim_emails(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedEmail>> {
        let claimed_until =
            now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(1));
        let me = self.instance_id.clone();
        self.write(move |tx| {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE email_outbox
                     SET state = 'sending', attempts = attempts + 1, claimed_until = ?2,
                         claimed_by = ?4
                     WHERE id IN (SELECT id FROM email_outbox
                                  WHERE (state = 'queued' AND next_attempt_at <= ?1)
                                     OR (state = 'sending' AND claimed_until <= ?1)
                                  ORDER BY next_attempt_at, id LIMIT ?3)
                     RETURNING id, to_address, subject, body, attempts",
                )
                .map_err(map_err)?;
            let mut claimed = stmt
                .query_map(
                    params![micros(now), micros(claimed_until), i64::from(limit), me],
                    |r| {
                        Ok(ClaimedEmail {
                            id: r.get(0)?,
                            to_address: r.get(1)?,
                            subject: r.get(2)?,
                            body: r.get(3)?,
                            attempts: r.get(4)?,
                            claimed_until,
                        })
                    },
                )
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(map_err)?;
            claimed.sort_by_key(|e| e.id);
            Ok(claimed)
        })
        .await
    }

    async fn record_email_sent(
        &self,
        id: Uuid,
        claimed_until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE email_outbox SET state = 'sent', claimed_until = NULL, sent_at = ?3, last_error = NULL
                 WHERE id = ?1 AND state = 'sending' AND claimed_until = ?2",
                params![id, micros(claimed_until), micros(at)],
            )
            .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn record_email_failure(
        &self,
        id: Uuid,
        claimed_until: DateTime<Utc>,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        let error = error.to_string();
        self.write(move |tx| {
            tx.execute(
                "UPDATE email_outbox
                 SET state = CASE WHEN ?3 IS NULL THEN 'failed' ELSE 'queued' END,
                     next_attempt_at = COALESCE(?3, next_attempt_at),
                     claimed_until = NULL, last_error = ?4
                 WHERE id = ?1 AND state = 'sending' AND claimed_until = ?2",
                params![id, micros(claimed_until), retry_at.map(micros), error],
            )
            .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn email_next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.call(|conn| {
            let next: Option<i64> = conn
                .query_row(
                    "SELECT min(t) FROM (
                         SELECT min(next_attempt_at) AS t FROM email_outbox WHERE state = 'queued'
                         UNION ALL
                         SELECT min(claimed_until) FROM email_outbox WHERE state = 'sending')",
                    [],
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            next.map(super::rows::from_micros).transpose()
        })
        .await
    }

    async fn list_emails(&self, page: Page) -> StoreResult<Paged<EmailOutboxRow>> {
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, user_id, practice_id, kind, to_address, subject, state, attempts,
                            last_error, created_at, sent_at
                     FROM email_outbox WHERE (?1 IS NULL OR id < ?1) ORDER BY id DESC LIMIT ?2",
                )
                .map_err(map_err)?;
            let items = stmt
                .query_map(params![page.after, page.fetch_limit()], |r| {
                    Ok(EmailOutboxRow {
                        id: r.get(0)?,
                        user_id: r.get(1)?,
                        practice_id: r.get(2)?,
                        kind: r.get(3)?,
                        to_address: r.get(4)?,
                        subject: r.get(5)?,
                        state: r.get(6)?,
                        attempts: r.get(7)?,
                        last_error: r.get(8)?,
                        created_at: time(r, 9)?,
                        sent_at: opt_time(r, 10)?,
                    })
                })
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(map_err)?;
            Ok(Paged::from_rows(items, page, |e| e.id))
        })
        .await
    }
}
