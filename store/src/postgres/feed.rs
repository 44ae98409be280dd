//! The notification feed on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{PostgresStore, map_err};
use crate::*;

/// Adds notifications to the feed and their emails to the email outbox; callable inside another
/// aggregate's transaction. Returns the ids of the feed rows.
pub(crate) async fn insert_notifications(
    client: &impl GenericClient,
    at: DateTime<Utc>,
    new: &[NewNotification],
) -> StoreResult<Vec<Uuid>> {
    if new.iter().any(|n| n.email.is_some()) {
        super::signals::notify_work(client).await?;
    } else if !new.is_empty() {
        super::signals::notify_feed(client).await?;
    }
    insert_notification_rows(client, at, new).await
}

/// [`insert_notifications`] without the signal to other instances, for a use case that sends
/// it itself (the inbound text: `NOTIFY` in a transaction serialises every such commit on the
/// server's notification queue lock, so feed-only signals go after the commit, coalesced).
pub(crate) async fn insert_notification_rows(
    client: &impl GenericClient,
    at: DateTime<Utc>,
    new: &[NewNotification],
) -> StoreResult<Vec<Uuid>> {
    let mut ids = Vec::with_capacity(new.len());
    for n in new {
        if let Some(email) = &n.email {
            super::emails::insert_email(client, at, n, email).await?;
        }
        if !n.in_feed {
            continue;
        }
        let id = new_id();
        let statement = client
            .prepare_cached(
                "INSERT INTO notifications (id, user_id, practice_id, patient_id, kind, summary, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .await
            .map_err(map_err)?;
        client
            .execute(
                &statement,
                &[
                    &id,
                    &n.user_id,
                    &n.practice_id,
                    &n.patient_id,
                    &n.kind,
                    &n.summary,
                    &at,
                ],
            )
            .await
            .map_err(map_err)?;
        ids.push(id);
    }
    Ok(ids)
}

fn from_row(row: &Row) -> Notification {
    Notification {
        id: row.get(0),
        user_id: row.get(1),
        practice_id: row.get(2),
        patient_id: row.get(3),
        kind: row.get(4),
        summary: row.get(5),
        created_at: row.get(6),
        read_at: row.get(7),
    }
}

#[async_trait]
impl Feed for PostgresStore {
    async fn list_notifications(
        &self,
        user_id: Uuid,
        page: Page,
    ) -> StoreResult<Paged<Notification>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, user_id, practice_id, patient_id, kind, summary, created_at, read_at FROM notifications
                 WHERE user_id = $1 AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
                &[&user_id, &page.after, &page.fetch_limit()],
            )
            .await
            .map_err(map_err)?;
        Ok(Paged::from_rows(
            rows.iter().map(from_row).collect(),
            page,
            |n| n.id,
        ))
    }

    async fn add_notifications(
        &self,
        at: DateTime<Utc>,
        new: Vec<NewNotification>,
    ) -> StoreResult<Vec<Uuid>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let ids = insert_notifications(&tx, at, &new).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(ids)
    }
}
