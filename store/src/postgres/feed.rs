//! Adding notifications on PostgreSQL, for the inbound-message path (the `Feed` use cases are
//! written once in `crate::feed`).

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::map_err;
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
