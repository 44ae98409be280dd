//! The email outbox on PostgreSQL.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::{PostgresStore, map_err};
use crate::*;

/// Queues a notification's email; callable inside another aggregate's transaction.
pub(crate) async fn insert_email(
    client: &impl GenericClient,
    at: DateTime<Utc>,
    n: &NewNotification,
    email: &NotificationEmail,
) -> StoreResult<()> {
    client
        .execute(
            "INSERT INTO email_outbox (id, user_id, practice_id, kind, to_address, subject, body,
                                       next_attempt_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            &[
                &new_id(),
                &n.user_id,
                &n.practice_id,
                &n.kind,
                &email.to_address,
                &email.subject,
                &email.body,
                &at,
            ],
        )
        .await
        .map_err(map_err)?;
    Ok(())
}

fn lease_of(lease: Duration) -> chrono::Duration {
    chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(1))
}

#[async_trait]
impl Emails for PostgresStore {
    async fn claim_emails(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedEmail>> {
        let claimed_until = now + lease_of(lease);
        let client = self.client().await?;
        let rows = client
            .query(
                "UPDATE email_outbox e
                 SET state = 'sending', attempts = e.attempts + 1, claimed_until = $2,
                     claimed_by = $4
                 FROM (SELECT id FROM email_outbox
                       WHERE (state = 'queued' AND next_attempt_at <= $1)
                          OR (state = 'sending' AND claimed_until <= $1)
                       ORDER BY next_attempt_at, id
                       LIMIT $3
                       FOR UPDATE SKIP LOCKED) due
                 WHERE e.id = due.id
                 RETURNING e.id, e.to_address, e.subject, e.body, e.attempts",
                &[&now, &claimed_until, &i64::from(limit), &self.instance_id],
            )
            .await
            .map_err(map_err)?;
        let mut claimed: Vec<ClaimedEmail> = rows
            .iter()
            .map(|r| ClaimedEmail {
                id: r.get(0),
                to_address: r.get(1),
                subject: r.get(2),
                body: r.get(3),
                attempts: r.get(4),
                claimed_until,
            })
            .collect();
        claimed.sort_by_key(|e| e.id);
        Ok(claimed)
    }

    async fn record_email_sent(
        &self,
        id: Uuid,
        claimed_until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE email_outbox SET state = 'sent', claimed_until = NULL, sent_at = $3, last_error = NULL
                 WHERE id = $1 AND state = 'sending' AND claimed_until = $2",
                &[&id, &claimed_until, &at],
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn record_email_failure(
        &self,
        id: Uuid,
        claimed_until: DateTime<Utc>,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE email_outbox
                 SET state = CASE WHEN $3::timestamptz IS NULL THEN 'failed' ELSE 'queued' END,
                     next_attempt_at = COALESCE($3, next_attempt_at),
                     claimed_until = NULL, last_error = $4
                 WHERE id = $1 AND state = 'sending' AND claimed_until = $2",
                &[&id, &claimed_until, &retry_at, &error],
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn email_next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT LEAST(
                     (SELECT min(next_attempt_at) FROM email_outbox WHERE state = 'queued'),
                     (SELECT min(claimed_until) FROM email_outbox WHERE state = 'sending'))",
                &[],
            )
            .await
            .map_err(map_err)?;
        Ok(row.get(0))
    }

    async fn list_emails(&self, page: Page) -> StoreResult<Paged<EmailOutboxRow>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, user_id, practice_id, kind, to_address, subject, state, attempts,
                        last_error, created_at, sent_at
                 FROM email_outbox WHERE ($1::uuid IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
                &[&page.after, &page.fetch_limit()],
            )
            .await
            .map_err(map_err)?;
        let items = rows
            .iter()
            .map(|r| EmailOutboxRow {
                id: r.get(0),
                user_id: r.get(1),
                practice_id: r.get(2),
                kind: r.get(3),
                to_address: r.get(4),
                subject: r.get(5),
                state: r.get(6),
                attempts: r.get(7),
                last_error: r.get(8),
                created_at: r.get(9),
                sent_at: r.get(10),
            })
            .collect();
        Ok(Paged::from_rows(items, page, |e| e.id))
    }
}
