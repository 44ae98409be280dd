//! OnCall on postgres, and the on-call hand-over shared by locking users and changing access.
//!
//! Lock order, so that concurrent changes wait rather than deadlock: the practice row first
//! (`FOR NO KEY UPDATE`), then user rows in id order (`FOR SHARE` to check a user, `FOR UPDATE`
//! to change one). A schedule save therefore waits for a concurrent lock or access change of its
//! users and then sees it, and the other way round.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::rows::{PRACTICE_COLUMNS, practice_from_row};
use super::{PostgresStore, insert_audit, load_user, map_err};
use crate::notification_settings::distinct_in_order;
use crate::oncall::check_users;
use crate::*;

async fn load_windows(
    client: &impl GenericClient,
    practice_id: Uuid,
) -> StoreResult<Vec<OnCallWindowRow>> {
    let statement = client
        .prepare_cached(
            "SELECT from_minute, to_minute, days, user_id FROM on_call_windows
             WHERE practice_id = $1 ORDER BY position",
        )
        .await
        .map_err(map_err)?;
    let rows = client
        .query(&statement, &[&practice_id])
        .await
        .map_err(map_err)?;
    Ok(rows
        .iter()
        .map(|r| OnCallWindowRow {
            from_minute: r.get(0),
            to_minute: r.get(1),
            days: r.get(2),
            user_id: r.get(3),
        })
        .collect())
}

async fn load_overrides(
    client: &impl GenericClient,
    practice_id: Uuid,
    ending_after: DateTime<Utc>,
) -> StoreResult<Vec<OnCallOverrideRow>> {
    let statement = client
        .prepare_cached(
            "SELECT user_id, starts_at, ends_at FROM on_call_overrides
             WHERE practice_id = $1 AND ends_at > $2 ORDER BY position",
        )
        .await
        .map_err(map_err)?;
    let rows = client
        .query(&statement, &[&practice_id, &ending_after])
        .await
        .map_err(map_err)?;
    Ok(rows
        .iter()
        .map(|r| OnCallOverrideRow {
            user_id: r.get(0),
            starts_at: r.get(1),
            ends_at: r.get(2),
        })
        .collect())
}

/// The practice, its row locked against concurrent schedule saves and membership changes.
pub(super) async fn lock_practice(
    client: &impl GenericClient,
    practice_id: Uuid,
) -> StoreResult<Practice> {
    let row = client
        .query_opt(
            &format!("SELECT {PRACTICE_COLUMNS} FROM practices WHERE id = $1 FOR NO KEY UPDATE"),
            &[&practice_id],
        )
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    practice_from_row(&row)
}

/// Locks the rows of `ids` that are users, in id order: `FOR UPDATE` when `for_update`, else
/// `FOR SHARE`.
pub(super) async fn lock_users(
    client: &impl GenericClient,
    ids: &[Uuid],
    for_update: bool,
) -> StoreResult<()> {
    let strength = if for_update { "UPDATE" } else { "SHARE" };
    client
        .query(
            &format!("SELECT id FROM users WHERE id = ANY($1) ORDER BY id FOR {strength}"),
            &[&ids],
        )
        .await
        .map_err(map_err)?;
    Ok(())
}

/// The user with this id as stored now, or `None` when there is none.
pub(super) async fn user_if_any(
    client: &impl GenericClient,
    id: Uuid,
) -> StoreResult<Option<User>> {
    match load_user(client, id).await {
        Ok(user) => Ok(Some(user)),
        Err(StoreError::NotFound) => Ok(None),
        Err(other) => Err(other),
    }
}

/// Locks the distinct users of a schedule (`FOR SHARE`) and runs `rule` on each at `practice`.
async fn check_schedule_users(
    client: &impl GenericClient,
    practice: &Practice,
    user_ids: &[Uuid],
    rule: OnCallRule,
) -> StoreResult<Result<(), OnCallRefusal>> {
    let user_ids = distinct_in_order(user_ids);
    lock_users(client, &user_ids, false).await?;
    let mut users = Vec::with_capacity(user_ids.len());
    for id in user_ids {
        users.push((id, user_if_any(client, id).await?));
    }
    Ok(check_users(&users, std::slice::from_ref(practice), rule))
}

/// The practices where `user_id` has on-call windows or overrides ending after `now`.
pub(super) async fn duty_practices(
    client: &impl GenericClient,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Vec<Practice>> {
    let rows = client
        .query(
            &format!(
                "SELECT {PRACTICE_COLUMNS} FROM practices
                 WHERE id IN (SELECT practice_id FROM on_call_windows WHERE user_id = $1
                              UNION SELECT practice_id FROM on_call_overrides
                                    WHERE user_id = $1 AND ends_at > $2)
                 ORDER BY id"
            ),
            &[&user_id, &now],
        )
        .await
        .map_err(map_err)?;
    rows.iter().map(practice_from_row).collect()
}

/// Hands `from`'s windows and running overrides at `practices` to `to` as they are (the
/// successor covers the same hours), drops exact repeats this makes, and audits each practice
/// (`practice.on_call.hand_over`). Ended overrides stay as history.
pub(super) async fn hand_over(
    client: &impl GenericClient,
    audit: &Audit,
    from: Uuid,
    to: Uuid,
    practices: &[Practice],
) -> StoreResult<()> {
    let ids: Vec<Uuid> = practices.iter().map(|p| p.id).collect();
    client
        .execute(
            "UPDATE on_call_windows SET user_id = $2 WHERE user_id = $1 AND practice_id = ANY($3)",
            &[&from, &to, &ids],
        )
        .await
        .map_err(map_err)?;
    client
        .execute(
            "UPDATE on_call_overrides SET user_id = $2
             WHERE user_id = $1 AND practice_id = ANY($3) AND ends_at > $4",
            &[&from, &to, &ids, &audit.at],
        )
        .await
        .map_err(map_err)?;
    // The successor may already have had the same window or override: keep the first.
    client
        .execute(
            "DELETE FROM on_call_windows w USING on_call_windows e
             WHERE w.user_id = $1 AND w.practice_id = ANY($2)
               AND e.practice_id = w.practice_id AND e.user_id = w.user_id
               AND e.from_minute = w.from_minute AND e.to_minute = w.to_minute
               AND e.days = w.days AND e.position < w.position",
            &[&to, &ids],
        )
        .await
        .map_err(map_err)?;
    client
        .execute(
            "DELETE FROM on_call_overrides o USING on_call_overrides e
             WHERE o.user_id = $1 AND o.practice_id = ANY($2)
               AND e.practice_id = o.practice_id AND e.user_id = o.user_id
               AND e.starts_at = o.starts_at AND e.ends_at = o.ends_at
               AND e.position < o.position",
            &[&to, &ids],
        )
        .await
        .map_err(map_err)?;
    for practice in practices {
        let event = AuditEvent {
            customer_id: Some(practice.customer_id),
            action: "practice.on_call.hand_over",
            target_type: "practice",
            target_id: Some(practice.id.to_string()),
            patient_id: None,
        };
        insert_audit(client, audit, &event).await?;
    }
    Ok(())
}
