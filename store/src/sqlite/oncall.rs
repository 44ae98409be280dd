//! OnCall on sqlite, and the on-call hand-over shared by locking users and changing access.
//! Every write is one `BEGIN IMMEDIATE` transaction, so the checks and the writes see one state.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use uuid::Uuid;

use super::rows::{PRACTICE_COLUMNS, load_user, micros, practice_from_row, time};
use super::{OwnedEvent, SqliteStore, map_err};
use crate::notification_settings::distinct_in_order;
use crate::oncall::check_users;
use crate::*;

fn load_windows(conn: &Connection, practice_id: Uuid) -> StoreResult<Vec<OnCallWindowRow>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT from_minute, to_minute, days, user_id FROM on_call_windows
             WHERE practice_id = ?1 ORDER BY position",
        )
        .map_err(map_err)?;
    stmt.query_map([practice_id], |r| {
        Ok(OnCallWindowRow {
            from_minute: r.get(0)?,
            to_minute: r.get(1)?,
            days: r.get(2)?,
            user_id: r.get(3)?,
        })
    })
    .map_err(map_err)?
    .collect::<Result<Vec<_>, _>>()
    .map_err(map_err)
}

fn load_overrides(
    conn: &Connection,
    practice_id: Uuid,
    ending_after: DateTime<Utc>,
) -> StoreResult<Vec<OnCallOverrideRow>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT user_id, starts_at, ends_at FROM on_call_overrides
             WHERE practice_id = ?1 AND ends_at > ?2 ORDER BY position",
        )
        .map_err(map_err)?;
    stmt.query_map(params![practice_id, micros(ending_after)], |r| {
        Ok(OnCallOverrideRow {
            user_id: r.get(0)?,
            starts_at: time(r, 1)?,
            ends_at: time(r, 2)?,
        })
    })
    .map_err(map_err)?
    .collect::<Result<Vec<_>, _>>()
    .map_err(map_err)
}

pub(super) fn load_practice(conn: &Connection, practice_id: Uuid) -> StoreResult<Practice> {
    conn.query_row(
        &format!("SELECT {PRACTICE_COLUMNS} FROM practices WHERE id = ?1"),
        [practice_id],
        practice_from_row,
    )
    .map_err(map_err)
}

/// The user with this id as stored now, or `None` when there is none.
pub(super) fn user_if_any(conn: &Connection, id: Uuid) -> StoreResult<Option<User>> {
    match load_user(conn, id) {
        Ok(user) => Ok(Some(user)),
        Err(StoreError::NotFound) => Ok(None),
        Err(other) => Err(other),
    }
}

/// Runs `rule` at `practice` on each distinct user of a schedule.
fn check_schedule_users(
    conn: &Connection,
    practice: &Practice,
    user_ids: &[Uuid],
    rule: OnCallRule,
) -> StoreResult<Result<(), OnCallRefusal>> {
    let mut users = Vec::new();
    for id in distinct_in_order(user_ids) {
        users.push((id, user_if_any(conn, id)?));
    }
    Ok(check_users(&users, std::slice::from_ref(practice), rule))
}

/// The practices where `user_id` has on-call windows or overrides ending after `now`.
pub(super) fn duty_practices(
    conn: &Connection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Vec<Practice>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {PRACTICE_COLUMNS} FROM practices
             WHERE id IN (SELECT practice_id FROM on_call_windows WHERE user_id = ?1
                          UNION SELECT practice_id FROM on_call_overrides
                                WHERE user_id = ?1 AND ends_at > ?2)
             ORDER BY id"
        ))
        .map_err(map_err)?;
    stmt.query_map(params![user_id, micros(now)], practice_from_row)
        .map_err(map_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err)
}

/// Hands `from`'s windows and running overrides at `practices` to `to` as they are (the
/// successor covers the same hours), drops exact repeats this makes, and audits each practice
/// (`practice.on_call.hand_over`). Ended overrides stay as history.
pub(super) fn hand_over(
    conn: &Connection,
    audit: &Audit,
    from: Uuid,
    to: Uuid,
    practices: &[Practice],
) -> StoreResult<()> {
    for practice in practices {
        conn.execute(
            "UPDATE on_call_windows SET user_id = ?2 WHERE user_id = ?1 AND practice_id = ?3",
            params![from, to, practice.id],
        )
        .map_err(map_err)?;
        conn.execute(
            "UPDATE on_call_overrides SET user_id = ?2
             WHERE user_id = ?1 AND practice_id = ?3 AND ends_at > ?4",
            params![from, to, practice.id, micros(audit.at)],
        )
        .map_err(map_err)?;
        // The successor may already have had the same window or override: keep the first.
        conn.execute(
            "DELETE FROM on_call_windows AS w
             WHERE w.user_id = ?1 AND w.practice_id = ?2
               AND EXISTS (SELECT 1 FROM on_call_windows e
                           WHERE e.practice_id = w.practice_id AND e.user_id = w.user_id
                             AND e.from_minute = w.from_minute AND e.to_minute = w.to_minute
                             AND e.days = w.days AND e.position < w.position)",
            params![to, practice.id],
        )
        .map_err(map_err)?;
        conn.execute(
            "DELETE FROM on_call_overrides AS o
             WHERE o.user_id = ?1 AND o.practice_id = ?2
               AND EXISTS (SELECT 1 FROM on_call_overrides e
                           WHERE e.practice_id = o.practice_id AND e.user_id = o.user_id
                             AND e.starts_at = o.starts_at AND e.ends_at = o.ends_at
                             AND e.position < o.position)",
            params![to, practice.id],
        )
        .map_err(map_err)?;
        OwnedEvent {
            customer_id: Some(practice.customer_id),
            action: "practice.on_call.hand_over",
            target_type: "practice",
            target_id: Some(practice.id.to_string()),
            patient_id: None,
        }
        .write(conn, audit)?;
    }
    Ok(())
}
