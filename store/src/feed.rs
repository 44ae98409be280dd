//! Staff notifications: one per user per thing to look at, shown in the in-app feed (the "push"
//! channel) and/or emailed. Other aggregates add them inside their own transactions (the
//! crate-private [`insert_notifications`]), so a notification, and its email in the email
//! outbox, exist exactly when the change that caused them does.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::sql::{Db, ToArg, Tx};
use crate::*;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    pub id: Uuid,
    pub user_id: Uuid,
    pub practice_id: Uuid,
    pub patient_id: Option<Uuid>,
    /// One of the notification kinds (`two_way_texting`, `new_patient_message`, …).
    pub kind: String,
    /// What happened, without message bodies or clinical detail.
    pub summary: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewNotification {
    pub user_id: Uuid,
    pub practice_id: Uuid,
    pub patient_id: Option<Uuid>,
    pub kind: String,
    pub summary: String,
    /// Shown in the user's in-app feed and stream (the "push" channel).
    pub in_feed: bool,
    /// Also emailed (the "email" channel), through the email outbox.
    pub email: Option<NotificationEmail>,
}

impl NewNotification {
    /// A feed-only notification.
    pub fn in_feed(
        user_id: Uuid,
        practice_id: Uuid,
        patient_id: Option<Uuid>,
        kind: &str,
        summary: &str,
    ) -> NewNotification {
        NewNotification {
            user_id,
            practice_id,
            patient_id,
            kind: kind.to_string(),
            summary: summary.to_string(),
            in_feed: true,
            email: None,
        }
    }
}

/// The email of a notification, as the gateway wrote it (never a message body or clinical
/// detail: the same rule as the feed summary).
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationEmail {
    pub to_address: String,
    pub subject: String,
    pub body: String,
}

#[async_trait]
pub trait Feed: Send + Sync {
    /// The user's notifications, newest first.
    async fn list_notifications(
        &self,
        user_id: Uuid,
        page: Page,
    ) -> StoreResult<Paged<Notification>>;
    /// Adds notifications (and their emails) outside any other change (tests, workers).
    async fn add_notifications(
        &self,
        at: DateTime<Utc>,
        new: Vec<NewNotification>,
    ) -> StoreResult<Vec<Uuid>>;
}

/// Adds notifications to the feed and their emails to the email outbox, inside the caller's
/// transaction, and tells the other instances once it commits (the dispatchers when there is an
/// email to send, else the notification streams only); the ids of the feed rows.
pub(crate) async fn insert_notifications(
    tx: &Tx<'_>,
    at: DateTime<Utc>,
    new: &[NewNotification],
) -> StoreResult<Vec<Uuid>> {
    if new.iter().any(|n| n.email.is_some()) {
        tx.notify_work().await?;
    } else if !new.is_empty() {
        tx.notify_feed().await?;
    }
    let mut ids = Vec::with_capacity(new.len());
    for n in new {
        if let Some(email) = &n.email {
            crate::emails::insert_email(tx, at, n, email).await?;
        }
        if !n.in_feed {
            continue;
        }
        let id = new_id();
        tx.execute(
            "INSERT INTO notifications (id, user_id, practice_id, patient_id, kind, summary, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                id.arg(),
                n.user_id.arg(),
                n.practice_id.arg(),
                n.patient_id.arg(),
                n.kind.arg(),
                n.summary.arg(),
                at.arg(),
            ],
        )
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

#[async_trait]
impl<D: Db> Feed for D {
    async fn list_notifications(
        &self,
        user_id: Uuid,
        page: Page,
    ) -> StoreResult<Paged<Notification>> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                let limit = page.fetch_limit();
                let rows = tx
                    .query(
                        "SELECT id, user_id, practice_id, patient_id, kind, summary, created_at, read_at
                         FROM notifications
                         WHERE user_id = $1 AND (id < $2 OR $2 IS NULL) ORDER BY id DESC LIMIT $3",
                        &[user_id.arg(), page.after.arg(), limit.arg()],
                    )
                    .await?;
                let items = rows
                    .iter()
                    .map(|r| {
                        Ok(Notification {
                            id: r.get(0)?,
                            user_id: r.get(1)?,
                            practice_id: r.get(2)?,
                            patient_id: r.get(3)?,
                            kind: r.get(4)?,
                            summary: r.get(5)?,
                            created_at: r.get(6)?,
                            read_at: r.get(7)?,
                        })
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok(Paged::from_rows(items, page, |n| n.id))
            })
        })
        .await
    }

    async fn add_notifications(
        &self,
        at: DateTime<Utc>,
        new: Vec<NewNotification>,
    ) -> StoreResult<Vec<Uuid>> {
        self.transaction(move |tx| {
            Box::pin(async move { insert_notifications(tx, at, &new).await })
        })
        .await
    }
}
