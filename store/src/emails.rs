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
use uuid::Uuid;

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
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
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
