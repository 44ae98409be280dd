//! Accounts on sqlite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use super::oncall::{duty_practices, hand_over, user_if_any};
use super::rows::*;
use super::{OwnedEvent, SqliteStore, map_err};
use crate::oncall::{check_users, decide_handover, duty_lost, patched};
use crate::*;

#[async_trait]
impl Accounts for SqliteStore {
    async fn create_customer(&self, audit: &Audit, new: NewCustomer) -> StoreResult<Customer> {
        let audit = audit.clone();
        self.write(move |tx| {
            let id = new_id();
            tx.execute(
                "INSERT INTO customers (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![id, new.name, micros(audit.at)],
            )
            .map_err(map_err)?;
            OwnedEvent {
                customer_id: Some(id),
                action: "customer.create",
                target_type: "customer",
                target_id: Some(id.to_string()),
                patient_id: None,
            }
            .write(tx, &audit)?;
            tx.query_row(
                "SELECT id, name, created_at FROM customers WHERE id = ?1",
                [id],
                customer_from_row,
            )
            .map_err(map_err)
        })
        .await
    }

    async fn get_customer(&self, id: Uuid) -> StoreResult<Customer> {
        self.call(move |conn| {
            conn.query_row(
                "SELECT id, name, created_at FROM customers WHERE id = ?1",
                [id],
                customer_from_row,
            )
            .map_err(map_err)
        })
        .await
    }

    async fn create_practice(&self, audit: &Audit, new: NewPractice) -> StoreResult<Practice> {
        let audit = audit.clone();
        self.write(move |tx| {
            let id = new_id();
            if let Some(group) = new.practice_group_id {
                super::tenancy::check_group_of_customer(tx, group, new.customer_id)?;
            }
            tx.execute(
                "INSERT INTO practices (id, customer_id, name, timezone, sms_number, created_at,
                                        practice_group_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    new.customer_id,
                    new.name,
                    new.timezone.name(),
                    new.sms_number,
                    micros(audit.at),
                    new.practice_group_id,
                ],
            )
            .map_err(map_err)?;
            // The practice's default users join it: its group's when it has any, else the
            // customer's (the same rule as `practice_default_users`).
            let group_defaults = match new.practice_group_id {
                Some(group) => tx
                    .execute(
                        "INSERT INTO user_practices (user_id, practice_id)
                         SELECT user_id, ?1 FROM practice_group_default_users WHERE practice_group_id = ?2",
                        params![id, group],
                    )
                    .map_err(map_err)?,
                None => 0,
            };
            if group_defaults == 0 {
                tx.execute(
                    "INSERT INTO user_practices (user_id, practice_id)
                     SELECT user_id, ?1 FROM customer_default_users WHERE customer_id = ?2",
                    params![id, new.customer_id],
                )
                .map_err(map_err)?;
            }
            OwnedEvent {
                customer_id: Some(new.customer_id),
                action: "practice.create",
                target_type: "practice",
                target_id: Some(id.to_string()),
                patient_id: None,
            }
            .write(tx, &audit)?;
            tx.query_row(
                &format!("SELECT {PRACTICE_COLUMNS} FROM practices WHERE id = ?1"),
                [id],
                practice_from_row,
            )
            .map_err(map_err)
        })
        .await
    }

    async fn get_practice(&self, id: Uuid) -> StoreResult<Practice> {
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {PRACTICE_COLUMNS} FROM practices WHERE id = ?1"),
                [id],
                practice_from_row,
            )
            .map_err(map_err)
        })
        .await
    }

    async fn list_practices(&self, customer_id: Uuid, page: Page) -> StoreResult<Paged<Practice>> {
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {PRACTICE_COLUMNS} FROM practices
                     WHERE customer_id = ?1 AND (?2 IS NULL OR id > ?2)
                     ORDER BY id LIMIT ?3"
                ))
                .map_err(map_err)?;
            let rows = stmt
                .query_map(
                    params![customer_id, page.after, page.fetch_limit()],
                    practice_from_row,
                )
                .map_err(map_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(map_err)?;
            Ok(Paged::from_rows(rows, page, |p| p.id))
        })
        .await
    }

    async fn create_user(&self, audit: &Audit, new: NewUser) -> StoreResult<User> {
        let audit = audit.clone();
        self.write(move |tx| {
            let id = new_id();
            if let Some(supervisor) = new.supervisor_id {
                check_supervisor(tx, id, new.customer_id, supervisor)?;
            }
            tx.execute(
                "INSERT INTO users (id, customer_id, username, password_hash, role, email, first_name,
                                    last_name, title, mobile_phone, auto_logout_minutes, created_at,
                                    supervisor_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                params![
                    id,
                    new.customer_id,
                    new.username,
                    new.password_hash,
                    new.role.as_str(),
                    new.email,
                    new.first_name,
                    new.last_name,
                    new.title,
                    new.mobile_phone,
                    new.auto_logout_minutes,
                    micros(audit.at),
                    new.supervisor_id,
                ],
            )
            .map_err(map_err)?;
            for practice_id in &new.practice_ids {
                tx.execute(
                    "INSERT INTO user_practices (user_id, practice_id) VALUES (?1, ?2)",
                    params![id, practice_id],
                )
                .map_err(map_err)?;
            }
            for program in &new.restricted_programs {
                tx.execute(
                    "INSERT OR IGNORE INTO user_restricted_programs (user_id, program) VALUES (?1, ?2)",
                    params![id, program],
                )
                .map_err(map_err)?;
            }
            OwnedEvent {
                customer_id: new.customer_id,
                action: "user.create",
                target_type: "user",
                target_id: Some(id.to_string()),
                patient_id: None,
            }
            .write(tx, &audit)?;
            load_user(tx, id)
        })
        .await
    }

    async fn upsert_super_admin(
        &self,
        audit: &Audit,
        username: &str,
        password_hash: &str,
    ) -> StoreResult<User> {
        let audit = audit.clone();
        let username = username.to_string();
        let password_hash = password_hash.to_string();
        self.write(move |tx| {
            let existing: Option<(Uuid, String)> = tx
                .query_row(
                    "SELECT id, role FROM users WHERE lower(username) = lower(?1)",
                    [&username],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(map_err)?;
            let (id, action) = match existing {
                Some((id, role)) => {
                    if role != Role::SuperAdmin.as_str() {
                        return Err(StoreError::Conflict {
                            constraint: "users_username_key".into(),
                        });
                    }
                    tx.execute(
                        "UPDATE users SET password_hash = ?2, locked_at = NULL WHERE id = ?1",
                        params![id, password_hash],
                    )
                    .map_err(map_err)?;
                    // A reset password ends every session of the user.
                    tx.execute("DELETE FROM sessions WHERE user_id = ?1", [id])
                        .map_err(map_err)?;
                    (id, "user.reset_password")
                }
                None => {
                    let id = new_id();
                    tx.execute(
                        "INSERT INTO users (id, username, password_hash, role, created_at)
                         VALUES (?1, ?2, ?3, 'super_admin', ?4)",
                        params![id, username, password_hash, micros(audit.at)],
                    )
                    .map_err(map_err)?;
                    (id, "user.create")
                }
            };
            OwnedEvent {
                customer_id: None,
                action,
                target_type: "user",
                target_id: Some(id.to_string()),
                patient_id: None,
            }
            .write(tx, &audit)?;
            load_user(tx, id)
        })
        .await
    }

    async fn get_user(&self, id: Uuid) -> StoreResult<User> {
        self.call(move |conn| load_user(conn, id)).await
    }

    async fn list_users(&self, customer_id: Uuid) -> StoreResult<Vec<User>> {
        self.call(move |conn| {
            let ids = conn
                .prepare_cached(
                    "SELECT id FROM users WHERE customer_id = ?1 ORDER BY lower(username)",
                )
                .and_then(|mut statement| {
                    statement
                        .query_map([customer_id], |r| r.get::<_, Uuid>(0))?
                        .collect::<rusqlite::Result<Vec<Uuid>>>()
                })
                .map_err(map_err)?;
            ids.into_iter().map(|id| load_user(conn, id)).collect()
        })
        .await
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<User> {
        let username = username.to_string();
        self.call(move |conn| {
            let id: Uuid = conn
                .query_row(
                    "SELECT id FROM users WHERE lower(username) = lower(?1)",
                    [&username],
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            load_user(conn, id)
        })
        .await
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let token_hash = token_hash.to_string();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at) VALUES (?1, ?2, ?3, ?3)",
                params![token_hash, user_id, micros(now)],
            )
            .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn use_session(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<SessionUser> {
        let token_hash = token_hash.to_string();
        self.write(move |tx| {
            let now_us = micros(now);
            let found: Option<(Uuid, i64)> = tx
                .query_row(
                    "SELECT s.user_id, s.created_at FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.token_hash = ?1 AND u.locked_at IS NULL
                       AND s.last_seen_at + u.auto_logout_minutes * 60000000 > ?2",
                    params![token_hash, now_us],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(map_err)?;
            let Some((user_id, created_at)) = found else {
                // Idle or belonging to a locked user: remove it so it can never come back. The
                // closure succeeds so that this delete commits.
                tx.execute("DELETE FROM sessions WHERE token_hash = ?1", [&token_hash])
                    .map_err(map_err)?;
                return Ok(None);
            };
            tx.execute(
                "UPDATE sessions SET last_seen_at = ?2 WHERE token_hash = ?1",
                params![token_hash, now_us],
            )
            .map_err(map_err)?;
            let user = load_user(tx, user_id)?;
            let expires_at = now + chrono::Duration::minutes(i64::from(user.auto_logout_minutes));
            Ok(Some(SessionUser {
                user,
                created_at: from_micros(created_at)?,
                expires_at,
            }))
        })
        .await?
        .ok_or(StoreError::NotFound)
    }

    async fn check_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<SessionUser> {
        let token_hash = token_hash.to_string();
        self.call(move |conn| {
            let (user_id, created_at, expires_at): (Uuid, i64, i64) = conn
                .query_row(
                    "SELECT s.user_id, s.created_at, s.last_seen_at + u.auto_logout_minutes * 60000000
                     FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.token_hash = ?1 AND u.locked_at IS NULL
                       AND s.last_seen_at + u.auto_logout_minutes * 60000000 > ?2",
                    params![token_hash, micros(now)],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .map_err(map_err)?;
            Ok(SessionUser {
                user: load_user(conn, user_id)?,
                created_at: from_micros(created_at)?,
                expires_at: from_micros(expires_at)?,
            })
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        let token_hash = token_hash.to_string();
        self.write(move |tx| {
            tx.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn update_user(
        &self,
        audit: &Audit,
        id: Uuid,
        patch: UserPatch,
        handover: OnCallHandover,
    ) -> StoreResult<Result<User, OnCallRefusal>> {
        let audit = audit.clone();
        self.write(move |tx| {
            let current = load_user(tx, id)?;
            // On-call duty the change would leave with a user who can no longer act on it is
            // handed over with it, or the whole change is refused before anything is written.
            let duty_at = duty_practices(tx, id, audit.at)?;
            let lost = duty_lost(&current, &patched(&current, &patch), &duty_at, handover.rule);
            let successor = match handover.reassign_to {
                Some(s) if !lost.is_empty() => Some((s, user_if_any(tx, s)?)),
                _ => None,
            };
            let handed = match decide_handover(&lost, &duty_at, successor, handover.rule) {
                Ok(handed) => handed,
                Err(refusal) => return Ok(Err(refusal)),
            };
            let role = patch.role.unwrap_or(current.role);
            let mobile_phone = patch.mobile_phone.clone().unwrap_or(current.mobile_phone.clone());
            tx.execute(
                "UPDATE users SET email = ?2, first_name = ?3, last_name = ?4, title = ?5, role = ?6,
                                  mobile_phone = ?7, auto_logout_minutes = ?8, password_hash = ?9
                 WHERE id = ?1",
                params![
                    id,
                    patch.email.as_ref().unwrap_or(&current.email),
                    patch.first_name.as_ref().unwrap_or(&current.first_name),
                    patch.last_name.as_ref().unwrap_or(&current.last_name),
                    patch.title.as_ref().unwrap_or(&current.title),
                    role.as_str(),
                    mobile_phone,
                    patch.auto_logout_minutes.unwrap_or(current.auto_logout_minutes),
                    patch.password_hash.as_ref().unwrap_or(&current.password_hash),
                ],
            )
            .map_err(map_err)?;
            if let Some(supervisor) = patch.supervisor_id {
                if let Some(supervisor) = supervisor {
                    check_supervisor(tx, id, current.customer_id, supervisor)?;
                }
                tx.execute("UPDATE users SET supervisor_id = ?2 WHERE id = ?1", params![id, supervisor])
                    .map_err(map_err)?;
            }
            if let Some(Some(number)) = &patch.mobile_phone {
                // Saving a number again says it works: it is texted again.
                super::alerts::forget_failing_number(tx, number)?;
            }
            if let Some(practice_ids) = &patch.practice_ids {
                tx.execute("DELETE FROM user_practices WHERE user_id = ?1", [id]).map_err(map_err)?;
                for practice_id in practice_ids {
                    tx.execute(
                        "INSERT OR IGNORE INTO user_practices (user_id, practice_id) VALUES (?1, ?2)",
                        params![id, practice_id],
                    )
                    .map_err(map_err)?;
                }
            }
            if let Some(programs) = &patch.restricted_programs {
                tx.execute("DELETE FROM user_restricted_programs WHERE user_id = ?1", [id]).map_err(map_err)?;
                for program in programs {
                    tx.execute(
                        "INSERT OR IGNORE INTO user_restricted_programs (user_id, program) VALUES (?1, ?2)",
                        params![id, program],
                    )
                    .map_err(map_err)?;
                }
            }
            if let Some(successor) = handover.reassign_to.filter(|_| !handed.is_empty()) {
                hand_over(tx, &audit, id, successor, &handed)?;
            }
            if patch.password_hash.is_some() {
                // A new password ends every other session of the user.
                tx.execute(
                    "DELETE FROM sessions WHERE user_id = ?1 AND (?2 IS NULL OR token_hash <> ?2)",
                    params![id, patch.keep_session],
                )
                .map_err(map_err)?;
            }
            let action = if patch.password_hash.is_some() { "user.update_with_password" } else { "user.update" };
            OwnedEvent {
                customer_id: current.customer_id,
                action,
                target_type: "user",
                target_id: Some(id.to_string()),
                patient_id: None,
            }
            .write(tx, &audit)?;
            load_user(tx, id).map(Ok)
        })
        .await
    }

    async fn outstanding(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<Outstanding> {
        self.call(move |conn| {
            load_user(conn, user_id)?;
            outstanding_of(conn, user_id, now)
        })
        .await
    }

    async fn lock_user(
        &self,
        audit: &Audit,
        user_id: Uuid,
        reassign_to: Option<Uuid>,
        rule: OnCallRule,
    ) -> StoreResult<LockOutcome> {
        let audit = audit.clone();
        self.write(move |tx| {
            load_user(tx, user_id)?;
            let outstanding = outstanding_of(tx, user_id, audit.at)?;
            if !outstanding.is_empty() {
                let Some(successor) = reassign_to else {
                    return Ok(LockOutcome::Outstanding(outstanding));
                };
                // On-call duty goes only to someone who can act on it at each practice.
                let duty_at = duty_practices(tx, user_id, audit.at)?;
                let candidate = [(successor, user_if_any(tx, successor)?)];
                if let Err(refusal) = check_users(&candidate, &duty_at, rule) {
                    return Ok(LockOutcome::Refused(refusal));
                }
                for (table, owner) in
                    [("customer_default_users", "customer_id"), ("practice_group_default_users", "practice_group_id")]
                {
                    tx.execute(
                        &format!(
                            "INSERT OR IGNORE INTO {table} ({owner}, user_id) SELECT {owner}, ?2 FROM {table} WHERE user_id = ?1"
                        ),
                        params![user_id, successor],
                    )
                    .map_err(map_err)?;
                    tx.execute(&format!("DELETE FROM {table} WHERE user_id = ?1"), [user_id]).map_err(map_err)?;
                }
                // Care-team places and program enrolments go to the successor too.
                tx.execute(
                    "INSERT OR IGNORE INTO care_team (patient_id, user_id, added_at)
                     SELECT patient_id, ?2, ?3 FROM care_team WHERE user_id = ?1",
                    params![user_id, successor, micros(audit.at)],
                )
                .map_err(map_err)?;
                tx.execute(
                    "INSERT OR IGNORE INTO program_staff (patient_id, program, user_id)
                     SELECT patient_id, program, ?2 FROM program_staff WHERE user_id = ?1",
                    params![user_id, successor],
                )
                .map_err(map_err)?;
                for table in ["program_staff", "care_team"] {
                    tx.execute(&format!("DELETE FROM {table} WHERE user_id = ?1"), [user_id]).map_err(map_err)?;
                }
                // On-call windows and running overrides are taken over as they are.
                hand_over(tx, &audit, user_id, successor, &duty_at)?;
                // Patients only this user followed: the successor follows them, unread included.
                for patient_id in &outstanding.unread_only_theirs {
                    tx.execute(
                        "INSERT OR IGNORE INTO patient_subscriptions (patient_id, user_id, added_at) VALUES (?1, ?2, ?3)",
                        params![patient_id, successor, micros(audit.at)],
                    )
                    .map_err(map_err)?;
                }
                // Open alerts reach the successor's feed (escalation goes on as it was).
                let mut notes = Vec::new();
                for alert_id in &outstanding.open_alerts {
                    let (practice_id, patient_id): (Uuid, Uuid) = tx
                        .query_row(
                            "SELECT practice_id, patient_id FROM alerts WHERE id = ?1",
                            [alert_id],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .map_err(map_err)?;
                    notes.push(NewNotification::in_feed(
                        successor,
                        practice_id,
                        Some(patient_id),
                        "reading_critical",
                        HANDED_OVER_ALERT_SUMMARY,
                    ));
                }
                super::feed::insert_notifications(tx, audit.at, &notes)?;
            }
            tx.execute(
                "UPDATE users SET locked_at = COALESCE(locked_at, ?2) WHERE id = ?1",
                params![user_id, micros(audit.at)],
            )
            .map_err(map_err)?;
            tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id]).map_err(map_err)?;
            let user = load_user(tx, user_id)?;
            OwnedEvent {
                customer_id: user.customer_id,
                action: "user.lock",
                target_type: "user",
                target_id: Some(user_id.to_string()),
                patient_id: None,
            }
            .write(tx, &audit)?;
            Ok(LockOutcome::Locked(Box::new(user)))
        })
        .await
    }

    async fn unlock_user(&self, audit: &Audit, user_id: Uuid) -> StoreResult<User> {
        let audit = audit.clone();
        self.write(move |tx| {
            let updated = tx
                .execute("UPDATE users SET locked_at = NULL WHERE id = ?1", [user_id])
                .map_err(map_err)?;
            if updated == 0 {
                return Err(StoreError::NotFound);
            }
            let user = load_user(tx, user_id)?;
            OwnedEvent {
                customer_id: user.customer_id,
                action: "user.unlock",
                target_type: "user",
                target_id: Some(user_id.to_string()),
                patient_id: None,
            }
            .write(tx, &audit)?;
            Ok(user)
        })
        .await
    }
}

/// Subscribed patients with patient messages the user has not read and no other unlocked follower.
const UNREAD_ONLY_THEIRS: &str = "
    SELECT s.patient_id FROM patient_subscriptions s
    WHERE s.user_id = ?1
      AND EXISTS (SELECT 1 FROM messages m
                  LEFT JOIN conversation_reads r ON r.user_id = s.user_id AND r.patient_id = m.patient_id
                  WHERE m.patient_id = s.patient_id AND m.direction = 'inbound' AND m.body IS NOT NULL
                    AND (r.read_through IS NULL OR m.id > r.read_through))
      AND NOT EXISTS (SELECT 1 FROM care_team c JOIN users u ON u.id = c.user_id
                      WHERE c.patient_id = s.patient_id AND c.user_id <> ?1 AND u.locked_at IS NULL)
      AND NOT EXISTS (SELECT 1 FROM patient_subscriptions o JOIN users u ON u.id = o.user_id
                      WHERE o.patient_id = s.patient_id AND o.user_id <> ?1 AND u.locked_at IS NULL)
    ORDER BY s.patient_id";

/// Open alerts the user was notified of in the feed (opening or a later step).
const OPEN_ALERTS_OF: &str = "
    SELECT a.id FROM alerts a
    WHERE a.state = 'open'
      AND EXISTS (SELECT 1 FROM notifications n
                  WHERE n.user_id = ?1 AND n.kind = 'reading_critical'
                    AND n.patient_id = a.patient_id AND n.created_at >= a.opened_at)
    ORDER BY a.id";

fn outstanding_of(
    conn: &rusqlite::Connection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Outstanding> {
    Ok(Outstanding {
        customer_default_user_of: column_list(
            conn,
            "SELECT customer_id FROM customer_default_users WHERE user_id = ?1 ORDER BY customer_id",
            user_id,
        )?,
        practice_group_default_user_of: column_list(
            conn,
            "SELECT practice_group_id FROM practice_group_default_users WHERE user_id = ?1 ORDER BY practice_group_id",
            user_id,
        )?,
        care_team_of: column_list(
            conn,
            "SELECT patient_id FROM care_team WHERE user_id = ?1 ORDER BY patient_id",
            user_id,
        )?,
        on_call_at: column_list(
            conn,
            "SELECT DISTINCT practice_id FROM on_call_windows WHERE user_id = ?1 ORDER BY practice_id",
            user_id,
        )?,
        on_call_overrides_at: {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT DISTINCT practice_id FROM on_call_overrides
                     WHERE user_id = ?1 AND ends_at > ?2 ORDER BY practice_id",
                )
                .map_err(map_err)?;
            stmt.query_map(params![user_id, micros(now)], |r| r.get(0))
                .map_err(map_err)?
                .collect::<Result<Vec<Uuid>, _>>()
                .map_err(map_err)?
        },
        unread_only_theirs: column_list(conn, UNREAD_ONLY_THEIRS, user_id)?,
        open_alerts: column_list(conn, OPEN_ALERTS_OF, user_id)?,
    })
}

/// A supervisor must be another user of the same customer
/// (`Conflict { constraint: "users_supervisor_id" }` otherwise).
fn check_supervisor(
    tx: &rusqlite::Transaction<'_>,
    user_id: Uuid,
    customer_id: Option<Uuid>,
    supervisor: Uuid,
) -> StoreResult<()> {
    super::require_row(
        tx,
        "SELECT count(*) FROM users WHERE id = ?1 AND customer_id = ?2 AND id <> ?3",
        params![supervisor, customer_id, user_id],
        "users_supervisor_id",
    )
}
