//! Queuing an email on PostgreSQL, for the inbound-message path (the `Emails` use cases are
//! written once in `crate::emails`).

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::map_err;
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
