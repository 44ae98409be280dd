//! Accounts on postgres.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::oncall::{duty_practices, hand_over, lock_users, user_if_any};
use super::rows::*;
use super::{PostgresStore, insert_audit, load_user, map_err};
use crate::oncall::{check_users, decide_handover, duty_lost, patched};
use crate::*;

#[async_trait]
impl Accounts for PostgresStore {
    async fn create_customer(&self, audit: &Audit, new: NewCustomer) -> StoreResult<Customer> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let id = new_id();
        let row = tx
            .query_one(
                "INSERT INTO customers (id, name, created_at) VALUES ($1, $2, $3) RETURNING id, name, created_at",
                &[&id, &new.name, &audit.at],
            )
            .await
            .map_err(map_err)?;
        let customer = customer_from_row(&row);
        let event = AuditEvent {
            customer_id: Some(id),
            action: "customer.create",
            target_type: "customer",
            target_id: Some(id.to_string()),
            patient_id: None,
        };
        insert_audit(&tx, audit, &event).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(customer)
    }

    async fn get_customer(&self, id: Uuid) -> StoreResult<Customer> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT id, name, created_at FROM customers WHERE id = $1",
                &[&id],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        Ok(customer_from_row(&row))
    }

    async fn create_practice(&self, audit: &Audit, new: NewPractice) -> StoreResult<Practice> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let id = new_id();
        if let Some(group) = new.practice_group_id {
            // Serialises with group changes of the customer (as they do among themselves).
            super::tenancy::lock_customer(&tx, new.customer_id).await?;
            super::tenancy::check_group_of_customer(&tx, group, new.customer_id).await?;
        }
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO practices (id, customer_id, name, timezone, sms_number, created_at,
                                            practice_group_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {PRACTICE_COLUMNS}"
                ),
                &[
                    &id,
                    &new.customer_id,
                    &new.name,
                    &new.timezone.name(),
                    &new.sms_number,
                    &audit.at,
                    &new.practice_group_id,
                ],
            )
            .await
            .map_err(map_err)?;
        // The practice's default users join it: its group's when it has any, else the
        // customer's (the same rule as `practice_default_users`).
        let group_defaults = match new.practice_group_id {
            Some(group) => tx
                .execute(
                    "INSERT INTO user_practices (user_id, practice_id)
                     SELECT user_id, $1 FROM practice_group_default_users WHERE practice_group_id = $2",
                    &[&id, &group],
                )
                .await
                .map_err(map_err)?,
            None => 0,
        };
        if group_defaults == 0 {
            tx.execute(
                "INSERT INTO user_practices (user_id, practice_id)
                 SELECT user_id, $1 FROM customer_default_users WHERE customer_id = $2",
                &[&id, &new.customer_id],
            )
            .await
            .map_err(map_err)?;
        }
        let practice = practice_from_row(&row)?;
        let event = AuditEvent {
            customer_id: Some(new.customer_id),
            action: "practice.create",
            target_type: "practice",
            target_id: Some(id.to_string()),
            patient_id: None,
        };
        insert_audit(&tx, audit, &event).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(practice)
    }

    async fn get_practice(&self, id: Uuid) -> StoreResult<Practice> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {PRACTICE_COLUMNS} FROM practices WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        practice_from_row(&row)
    }

    async fn list_practices(&self, customer_id: Uuid, page: Page) -> StoreResult<Paged<Practice>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {PRACTICE_COLUMNS} FROM practices
                     WHERE customer_id = $1 AND ($2::uuid IS NULL OR id > $2)
                     ORDER BY id LIMIT $3"
                ),
                &[&customer_id, &page.after, &page.fetch_limit()],
            )
            .await
            .map_err(map_err)?;
        let items = rows
            .iter()
            .map(practice_from_row)
            .collect::<StoreResult<_>>()?;
        Ok(Paged::from_rows(items, page, |p| p.id))
    }

    async fn create_user(&self, audit: &Audit, new: NewUser) -> StoreResult<User> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let id = new_id();
        if let Some(supervisor) = new.supervisor_id {
            check_supervisor(&tx, id, new.customer_id, supervisor).await?;
        }
        tx.execute(
            "INSERT INTO users (id, customer_id, username, password_hash, role, email, first_name,
                                last_name, title, mobile_phone, auto_logout_minutes, created_at,
                                supervisor_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            &[
                &id,
                &new.customer_id,
                &new.username,
                &new.password_hash,
                &new.role.as_str(),
                &new.email,
                &new.first_name,
                &new.last_name,
                &new.title,
                &new.mobile_phone,
                &new.auto_logout_minutes,
                &audit.at,
                &new.supervisor_id,
            ],
        )
        .await
        .map_err(map_err)?;
        for practice_id in &new.practice_ids {
            tx.execute(
                "INSERT INTO user_practices (user_id, practice_id) VALUES ($1, $2)",
                &[&id, practice_id],
            )
            .await
            .map_err(map_err)?;
        }
        for program in &new.restricted_programs {
            tx.execute(
                "INSERT INTO user_restricted_programs (user_id, program) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&id, program],
            )
            .await
            .map_err(map_err)?;
        }
        let event = AuditEvent {
            customer_id: new.customer_id,
            action: "user.create",
            target_type: "user",
            target_id: Some(id.to_string()),
            patient_id: None,
        };
        insert_audit(&tx, audit, &event).await?;
        let user = load_user(&tx, id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(user)
    }

    async fn upsert_super_admin(
        &self,
        audit: &Audit,
        username: &str,
        password_hash: &str,
    ) -> StoreResult<User> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let existing = tx
            .query_opt(
                "SELECT id, role FROM users WHERE lower(username) = lower($1) FOR UPDATE",
                &[&username],
            )
            .await
            .map_err(map_err)?;
        let (id, action) = match existing {
            Some(row) => {
                let id: Uuid = row.get(0);
                if row.get::<_, String>(1) != Role::SuperAdmin.as_str() {
                    return Err(StoreError::Conflict {
                        constraint: "users_username_key".into(),
                    });
                }
                tx.execute(
                    "UPDATE users SET password_hash = $2, locked_at = NULL WHERE id = $1",
                    &[&id, &password_hash],
                )
                .await
                .map_err(map_err)?;
                // A reset password ends every session of the user.
                tx.execute("DELETE FROM sessions WHERE user_id = $1", &[&id])
                    .await
                    .map_err(map_err)?;
                (id, "user.reset_password")
            }
            None => {
                let id = new_id();
                tx.execute(
                    "INSERT INTO users (id, username, password_hash, role, created_at)
                     VALUES ($1, $2, $3, 'super_admin', $4)",
                    &[&id, &username, &password_hash, &audit.at],
                )
                .await
                .map_err(map_err)?;
                (id, "user.create")
            }
        };
        let event = AuditEvent {
            customer_id: None,
            action,
            target_type: "user",
            target_id: Some(id.to_string()),
            patient_id: None,
        };
        insert_audit(&tx, audit, &event).await?;
        let user = load_user(&tx, id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(user)
    }

    async fn get_user(&self, id: Uuid) -> StoreResult<User> {
        let client = self.client().await?;
        load_user(&client, id).await
    }

    async fn list_users(&self, customer_id: Uuid) -> StoreResult<Vec<User>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {USER_COLUMNS} FROM users u WHERE u.customer_id = $1 ORDER BY lower(u.username)"
                ),
                &[&customer_id],
            )
            .await
            .map_err(map_err)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<User> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {USER_COLUMNS} FROM users u WHERE lower(u.username) = lower($1)"),
                &[&username],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        user_from_row(&row)
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at) VALUES ($1, $2, $3, $3)",
                &[&token_hash, &user_id, &now],
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn use_session(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<SessionUser> {
        let client = self.client().await?;
        // One statement decides and records the use, so two instances cannot disagree.
        let row = client
            .query_opt(
                "UPDATE sessions s SET last_seen_at = $2
                 FROM users u
                 WHERE s.token_hash = $1 AND u.id = s.user_id AND u.locked_at IS NULL
                   AND s.last_seen_at + make_interval(mins => u.auto_logout_minutes) > $2
                 RETURNING s.user_id, s.created_at",
                &[&token_hash, &now],
            )
            .await
            .map_err(map_err)?;
        let Some(row) = row else {
            // Idle or belonging to a locked user: remove it so it can never come back.
            client
                .execute("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash])
                .await
                .map_err(map_err)?;
            return Err(StoreError::NotFound);
        };
        let user = load_user(&client, row.get(0)).await?;
        let expires_at = now + chrono::Duration::minutes(i64::from(user.auto_logout_minutes));
        Ok(SessionUser {
            user,
            created_at: row.get(1),
            expires_at,
        })
    }

    async fn check_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<SessionUser> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT s.user_id, s.created_at,
                        s.last_seen_at + make_interval(mins => u.auto_logout_minutes)
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = $1 AND u.locked_at IS NULL
                   AND s.last_seen_at + make_interval(mins => u.auto_logout_minutes) > $2",
                &[&token_hash, &now],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        Ok(SessionUser {
            user: load_user(&client, row.get(0)).await?,
            created_at: row.get(1),
            expires_at: row.get(2),
        })
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash])
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn update_user(
        &self,
        audit: &Audit,
        id: Uuid,
        patch: UserPatch,
        handover: OnCallHandover,
    ) -> StoreResult<Result<User, OnCallRefusal>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // The user's row (and the successor's) locked first: a schedule save naming them waits,
        // then sees the change.
        let locked: Vec<Uuid> = std::iter::once(id).chain(handover.reassign_to).collect();
        lock_users(&tx, &locked, true).await?;
        let current = load_user(&tx, id).await?;
        // On-call duty the change would leave with a user who can no longer act on it is handed
        // over with it, or the whole change is refused before anything is written.
        let duty_at = duty_practices(&tx, id, audit.at).await?;
        let lost = duty_lost(
            &current,
            &patched(&current, &patch),
            &duty_at,
            handover.rule,
        );
        let successor = match handover.reassign_to {
            Some(s) if !lost.is_empty() => Some((s, user_if_any(&tx, s).await?)),
            _ => None,
        };
        let handed = match decide_handover(&lost, &duty_at, successor, handover.rule) {
            Ok(handed) => handed,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let role = patch.role.unwrap_or(current.role);
        let mobile_phone = patch
            .mobile_phone
            .clone()
            .unwrap_or(current.mobile_phone.clone());
        tx.execute(
            "UPDATE users SET email = $2, first_name = $3, last_name = $4, title = $5, role = $6,
                              mobile_phone = $7, auto_logout_minutes = $8, password_hash = $9
             WHERE id = $1",
            &[
                &id,
                &patch.email.as_ref().unwrap_or(&current.email),
                &patch.first_name.as_ref().unwrap_or(&current.first_name),
                &patch.last_name.as_ref().unwrap_or(&current.last_name),
                &patch.title.as_ref().unwrap_or(&current.title),
                &role.as_str(),
                &mobile_phone,
                &patch
                    .auto_logout_minutes
                    .unwrap_or(current.auto_logout_minutes),
                &patch
                    .password_hash
                    .as_ref()
                    .unwrap_or(&current.password_hash),
            ],
        )
        .await
        .map_err(map_err)?;
        if let Some(supervisor) = patch.supervisor_id {
            if let Some(supervisor) = supervisor {
                check_supervisor(&tx, id, current.customer_id, supervisor).await?;
            }
            tx.execute(
                "UPDATE users SET supervisor_id = $2 WHERE id = $1",
                &[&id, &supervisor],
            )
            .await
            .map_err(map_err)?;
        }
        if let Some(Some(number)) = &patch.mobile_phone {
            // Saving a number again says it works: it is texted again (DESIGN.md reachability).
            super::alerts::forget_failing_number(&tx, number).await?;
        }
        if let Some(practice_ids) = &patch.practice_ids {
            tx.execute("DELETE FROM user_practices WHERE user_id = $1", &[&id])
                .await
                .map_err(map_err)?;
            for practice_id in practice_ids {
                tx.execute(
                    "INSERT INTO user_practices (user_id, practice_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&id, practice_id],
                )
                .await
                .map_err(map_err)?;
            }
        }
        if let Some(programs) = &patch.restricted_programs {
            tx.execute(
                "DELETE FROM user_restricted_programs WHERE user_id = $1",
                &[&id],
            )
            .await
            .map_err(map_err)?;
            for program in programs {
                tx.execute(
                    "INSERT INTO user_restricted_programs (user_id, program) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&id, program],
                )
                .await
                .map_err(map_err)?;
            }
        }
        if let Some(successor) = handover.reassign_to.filter(|_| !handed.is_empty()) {
            hand_over(&tx, audit, id, successor, &handed).await?;
        }
        if patch.password_hash.is_some() {
            // A new password ends every other session of the user, on every instance.
            tx.execute(
                "DELETE FROM sessions WHERE user_id = $1 AND ($2::text IS NULL OR token_hash <> $2)",
                &[&id, &patch.keep_session],
            )
            .await
            .map_err(map_err)?;
        }
        let action = if patch.password_hash.is_some() {
            "user.update_with_password"
        } else {
            "user.update"
        };
        let event = AuditEvent {
            customer_id: current.customer_id,
            action,
            target_type: "user",
            target_id: Some(id.to_string()),
            patient_id: None,
        };
        insert_audit(&tx, audit, &event).await?;
        let user = load_user(&tx, id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(Ok(user))
    }

    async fn outstanding(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<Outstanding> {
        let client = self.client().await?;
        load_user(&client, user_id).await?;
        outstanding_of(&client, user_id, now).await
    }

    async fn lock_user(
        &self,
        audit: &Audit,
        user_id: Uuid,
        reassign_to: Option<Uuid>,
        rule: OnCallRule,
    ) -> StoreResult<LockOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // Row locks (the successor's too, in id order): a concurrent hand-over to this user, a
        // lock of the successor or a schedule save naming either waits until we are done.
        let locked: Vec<Uuid> = std::iter::once(user_id).chain(reassign_to).collect();
        lock_users(&tx, &locked, true).await?;
        load_user(&tx, user_id).await?;
        let outstanding = outstanding_of(&tx, user_id, audit.at).await?;
        if !outstanding.is_empty() {
            let Some(successor) = reassign_to else {
                return Ok(LockOutcome::Outstanding(outstanding));
            };
            // On-call duty goes only to someone who can act on it at each practice.
            let duty_at = duty_practices(&tx, user_id, audit.at).await?;
            let candidate = [(successor, user_if_any(&tx, successor).await?)];
            if let Err(refusal) = check_users(&candidate, &duty_at, rule) {
                return Ok(LockOutcome::Refused(refusal));
            }
            for table in ["customer_default_users", "practice_group_default_users"] {
                let owner = if table == "customer_default_users" {
                    "customer_id"
                } else {
                    "practice_group_id"
                };
                tx.execute(
                    &format!(
                        "INSERT INTO {table} ({owner}, user_id) SELECT {owner}, $2 FROM {table} WHERE user_id = $1
                         ON CONFLICT DO NOTHING"
                    ),
                    &[&user_id, &successor],
                )
                .await
                .map_err(map_err)?;
                tx.execute(
                    &format!("DELETE FROM {table} WHERE user_id = $1"),
                    &[&user_id],
                )
                .await
                .map_err(map_err)?;
            }
            // Care-team places and program enrolments go to the successor too.
            tx.execute(
                "INSERT INTO care_team (patient_id, user_id, added_at)
                 SELECT patient_id, $2, $3 FROM care_team WHERE user_id = $1 ON CONFLICT DO NOTHING",
                &[&user_id, &successor, &audit.at],
            )
            .await
            .map_err(map_err)?;
            tx.execute(
                "INSERT INTO program_staff (patient_id, program, user_id)
                 SELECT patient_id, program, $2 FROM program_staff WHERE user_id = $1 ON CONFLICT DO NOTHING",
                &[&user_id, &successor],
            )
            .await
            .map_err(map_err)?;
            for table in ["program_staff", "care_team"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE user_id = $1"),
                    &[&user_id],
                )
                .await
                .map_err(map_err)?;
            }
            // On-call windows and running overrides are taken over as they are.
            hand_over(&tx, audit, user_id, successor, &duty_at).await?;
            // Patients only this user followed: the successor follows them, unread included.
            tx.execute(
                "INSERT INTO patient_subscriptions (patient_id, user_id, added_at)
                 SELECT p, $2, $3 FROM unnest($1::uuid[]) AS p ON CONFLICT DO NOTHING",
                &[&outstanding.unread_only_theirs, &successor, &audit.at],
            )
            .await
            .map_err(map_err)?;
            // Open alerts reach the successor's feed (escalation goes on as it was).
            let alerts = tx
                .query(
                    "SELECT practice_id, patient_id FROM alerts WHERE id = ANY($1) ORDER BY id",
                    &[&outstanding.open_alerts],
                )
                .await
                .map_err(map_err)?;
            let notes: Vec<NewNotification> = alerts
                .iter()
                .map(|r| {
                    NewNotification::in_feed(
                        successor,
                        r.get(0),
                        Some(r.get(1)),
                        "reading_critical",
                        HANDED_OVER_ALERT_SUMMARY,
                    )
                })
                .collect();
            super::feed::insert_notifications(&tx, audit.at, &notes).await?;
        }
        tx.execute(
            "UPDATE users SET locked_at = COALESCE(locked_at, $2) WHERE id = $1",
            &[&user_id, &audit.at],
        )
        .await
        .map_err(map_err)?;
        tx.execute("DELETE FROM sessions WHERE user_id = $1", &[&user_id])
            .await
            .map_err(map_err)?;
        let user = load_user(&tx, user_id).await?;
        let event = AuditEvent {
            customer_id: user.customer_id,
            action: "user.lock",
            target_type: "user",
            target_id: Some(user_id.to_string()),
            patient_id: None,
        };
        insert_audit(&tx, audit, &event).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(LockOutcome::Locked(Box::new(user)))
    }

    async fn unlock_user(&self, audit: &Audit, user_id: Uuid) -> StoreResult<User> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let updated = tx
            .execute(
                "UPDATE users SET locked_at = NULL WHERE id = $1",
                &[&user_id],
            )
            .await
            .map_err(map_err)?;
        if updated == 0 {
            return Err(StoreError::NotFound);
        }
        let user = load_user(&tx, user_id).await?;
        let event = AuditEvent {
            customer_id: user.customer_id,
            action: "user.unlock",
            target_type: "user",
            target_id: Some(user_id.to_string()),
            patient_id: None,
        };
        insert_audit(&tx, audit, &event).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(user)
    }
}

/// Subscribed patients with patient messages the user has not read and no other unlocked follower.
const UNREAD_ONLY_THEIRS: &str = "
    SELECT s.patient_id FROM patient_subscriptions s
    WHERE s.user_id = $1
      AND EXISTS (SELECT 1 FROM messages m
                  LEFT JOIN conversation_reads r ON r.user_id = s.user_id AND r.patient_id = m.patient_id
                  WHERE m.patient_id = s.patient_id AND m.direction = 'inbound' AND m.body IS NOT NULL
                    AND (r.read_through IS NULL OR m.id > r.read_through))
      AND NOT EXISTS (SELECT 1 FROM care_team c JOIN users u ON u.id = c.user_id
                      WHERE c.patient_id = s.patient_id AND c.user_id <> $1 AND u.locked_at IS NULL)
      AND NOT EXISTS (SELECT 1 FROM patient_subscriptions o JOIN users u ON u.id = o.user_id
                      WHERE o.patient_id = s.patient_id AND o.user_id <> $1 AND u.locked_at IS NULL)
    ORDER BY s.patient_id";

/// Open alerts the user was notified of in the feed (opening or a later step).
const OPEN_ALERTS_OF: &str = "
    SELECT a.id FROM alerts a
    WHERE a.state = 'open'
      AND EXISTS (SELECT 1 FROM notifications n
                  WHERE n.user_id = $1 AND n.kind = 'reading_critical'
                    AND n.patient_id = a.patient_id AND n.created_at >= a.opened_at)
    ORDER BY a.id";

async fn outstanding_of(
    client: &impl GenericClient,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Outstanding> {
    let customers = client
        .query("SELECT customer_id FROM customer_default_users WHERE user_id = $1 ORDER BY customer_id", &[&user_id])
        .await
        .map_err(map_err)?;
    let groups = client
        .query(
            "SELECT practice_group_id FROM practice_group_default_users WHERE user_id = $1 ORDER BY practice_group_id",
            &[&user_id],
        )
        .await
        .map_err(map_err)?;
    let patients = client
        .query(
            "SELECT patient_id FROM care_team WHERE user_id = $1 ORDER BY patient_id",
            &[&user_id],
        )
        .await
        .map_err(map_err)?;
    Ok(Outstanding {
        customer_default_user_of: customers.iter().map(|r| r.get(0)).collect(),
        practice_group_default_user_of: groups.iter().map(|r| r.get(0)).collect(),
        care_team_of: patients.iter().map(|r| r.get(0)).collect(),
        on_call_at: client
            .query(
                "SELECT DISTINCT practice_id FROM on_call_windows WHERE user_id = $1 ORDER BY practice_id",
                &[&user_id],
            )
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| r.get(0))
            .collect(),
        on_call_overrides_at: client
            .query(
                "SELECT DISTINCT practice_id FROM on_call_overrides
                 WHERE user_id = $1 AND ends_at > $2 ORDER BY practice_id",
                &[&user_id, &now],
            )
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| r.get(0))
            .collect(),
        unread_only_theirs: client
            .query(UNREAD_ONLY_THEIRS, &[&user_id])
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| r.get(0))
            .collect(),
        open_alerts: client
            .query(OPEN_ALERTS_OF, &[&user_id])
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| r.get(0))
            .collect(),
    })
}

/// A supervisor must be another user of the same customer
/// (`Conflict { constraint: "users_supervisor_id" }` otherwise).
async fn check_supervisor(
    tx: &impl GenericClient,
    user_id: Uuid,
    customer_id: Option<Uuid>,
    supervisor: Uuid,
) -> StoreResult<()> {
    super::require_row(
        tx,
        "SELECT 1 FROM users WHERE id = $1 AND customer_id = $2 AND id <> $3",
        &[&supervisor, &customer_id, &user_id],
        "users_supervisor_id",
    )
    .await
}
