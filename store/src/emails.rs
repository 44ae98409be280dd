//! The email outbox: notification emails waiting for the SMTP server.
//!
//! Rows are added with their notification (see `feed`), claimed under a lease by a dispatcher,
//! and end `sent` or `failed`. A claim whose lease runs out (the dispatcher died mid-send), or
//! whose instance is gone (see [`crate::Instances`]), makes the row due again: an email may
//! arrive twice after a crash, never not at all.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use types::EmailState;
use uuid::Uuid;

use crate::sql::{Db, ToArg, Tx};
use crate::*;

/// An email claimed for sending.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedEmail {
    pub id: Uuid,
    pub to_address: String,
    pub subject: String,
    pub body: String,
    /// Claims so far, this one included.
    pub attempts: i32,
    pub claimed_until: DateTime<Utc>,
}

/// A row of the email outbox as operators see it (no body).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmailOutboxRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub practice_id: Option<Uuid>,
    pub kind: String,
    pub to_address: String,
    pub subject: String,
    pub state: EmailState,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// Queues a notification's email inside the caller's transaction (see
/// [`crate::feed::insert_notifications`]).
pub(crate) async fn insert_email(
    tx: &Tx<'_>,
    at: DateTime<Utc>,
    n: &NewNotification,
    email: &NotificationEmail,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO email_outbox (id, user_id, practice_id, kind, to_address, subject, body,
                                   next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        &[
            new_id().arg(),
            n.user_id.arg(),
            n.practice_id.arg(),
            n.kind.arg(),
            email.to_address.arg(),
            email.subject.arg(),
            email.body.arg(),
            at.arg(),
        ],
    )
    .await?;
    Ok(())
}

#[async_trait]
pub trait Emails: Send + Sync {
    /// Claims up to `limit` due emails (queued and due, or claimed under a lease that ran out),
    /// oldest first, each for `lease`, in the name of this handle's instance (see
    /// [`crate::Instances`]). Two dispatchers never hold one row at once.
    async fn claim_emails(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedEmail>>;
    /// The server accepted it. Ignored when the claim is no longer this one's.
    async fn record_email_sent(
        &self,
        id: Uuid,
        claimed_until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// A failure to try again at `retry_at`, or for good when `retry_at` is `None`.
    async fn record_email_failure(
        &self,
        id: Uuid,
        claimed_until: DateTime<Utc>,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> StoreResult<()>;
    /// When the next queued email is due, or a lease runs out.
    async fn email_next_due(&self) -> StoreResult<Option<DateTime<Utc>>>;
    /// The email outbox, newest first.
    async fn list_emails(&self, page: Page) -> StoreResult<Paged<EmailOutboxRow>>;
}

#[async_trait]
impl<D: Db + Instances> Emails for D {
    async fn claim_emails(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedEmail>> {
        let claimed_until =
            now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(1));
        let me = self.instance_id().to_string();
        self.transaction(move |tx| {
            Box::pin(async move {
                // PostgreSQL skips rows another instance is claiming; SQLite's write transaction
                // excludes every other writer.
                let sql = tx.pick(
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
                    "UPDATE email_outbox
                     SET state = 'sending', attempts = attempts + 1, claimed_until = $2,
                         claimed_by = $4
                     WHERE id IN (SELECT id FROM email_outbox
                                  WHERE (state = 'queued' AND next_attempt_at <= $1)
                                     OR (state = 'sending' AND claimed_until <= $1)
                                  ORDER BY next_attempt_at, id LIMIT $3)
                     RETURNING id, to_address, subject, body, attempts",
                );
                let limit = i64::from(limit);
                let args = [now.arg(), claimed_until.arg(), limit.arg(), me.arg()];
                let rows = tx.query(sql, &args).await?;
                let mut claimed = rows
                    .iter()
                    .map(|r| {
                        Ok(ClaimedEmail {
                            id: r.get(0)?,
                            to_address: r.get(1)?,
                            subject: r.get(2)?,
                            body: r.get(3)?,
                            attempts: r.get(4)?,
                            claimed_until,
                        })
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                claimed.sort_by_key(|e| e.id);
                Ok(claimed)
            })
        })
        .await
    }

    async fn record_email_sent(
        &self,
        id: Uuid,
        claimed_until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "UPDATE email_outbox SET state = 'sent', claimed_until = NULL, sent_at = $3, last_error = NULL
                     WHERE id = $1 AND state = 'sending' AND claimed_until = $2",
                    &[id.arg(), claimed_until.arg(), at.arg()],
                )
                .await?;
                Ok(())
            })
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
        self.autocommit(move |tx| {
            Box::pin(async move {
                // `next_attempt_at` first: PostgreSQL types `$3` where it first meets it.
                tx.execute(
                    "UPDATE email_outbox
                     SET next_attempt_at = COALESCE($3, next_attempt_at),
                         state = CASE WHEN $3 IS NULL THEN 'failed' ELSE 'queued' END,
                         claimed_until = NULL, last_error = $4
                     WHERE id = $1 AND state = 'sending' AND claimed_until = $2",
                    &[id.arg(), claimed_until.arg(), retry_at.arg(), error.arg()],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn email_next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.autocommit(|tx| {
            Box::pin(async move {
                let row = tx
                    .query_one(
                        "SELECT min(t) FROM (
                             SELECT min(next_attempt_at) AS t FROM email_outbox WHERE state = 'queued'
                             UNION ALL
                             SELECT min(claimed_until) FROM email_outbox WHERE state = 'sending') AS due",
                        &[],
                    )
                    .await?;
                row.get(0)
            })
        })
        .await
    }

    async fn list_emails(&self, page: Page) -> StoreResult<Paged<EmailOutboxRow>> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                let limit = page.fetch_limit();
                let rows = tx
                    .query(
                        "SELECT id, user_id, practice_id, kind, to_address, subject, state, attempts,
                                last_error, created_at, sent_at
                         FROM email_outbox WHERE (id < $1 OR $1 IS NULL) ORDER BY id DESC LIMIT $2",
                        &[page.after.arg(), limit.arg()],
                    )
                    .await?;
                let items = rows
                    .iter()
                    .map(|r| {
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
                            created_at: r.get(9)?,
                            sent_at: r.get(10)?,
                        })
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok(Paged::from_rows(items, page, |e| e.id))
            })
        })
        .await
    }
}
