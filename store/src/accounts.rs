//! Accounts and tenancy: customers, practices, users and their sessions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::oncall::{
    check_users, decide_handover, duty_lost, duty_practices, hand_over, lock_users, patched,
};
use crate::rows::*;
use crate::sql::{Db, ToArg, Tx};
use crate::*;

#[async_trait]
pub trait Accounts: Send + Sync {
    async fn create_customer(&self, audit: &Audit, new: NewCustomer) -> StoreResult<Customer>;
    async fn get_customer(&self, id: Uuid) -> StoreResult<Customer>;
    async fn create_practice(&self, audit: &Audit, new: NewPractice) -> StoreResult<Practice>;
    async fn get_practice(&self, id: Uuid) -> StoreResult<Practice>;
    async fn list_practices(&self, customer_id: Uuid, page: Page) -> StoreResult<Paged<Practice>>;
    async fn create_user(&self, audit: &Audit, new: NewUser) -> StoreResult<User>;
    /// Creates the super admin, or resets its password (and unlocks it) when it exists.
    async fn upsert_super_admin(
        &self,
        audit: &Audit,
        username: &str,
        password_hash: &str,
    ) -> StoreResult<User>;
    async fn get_user(&self, id: Uuid) -> StoreResult<User>;
    /// The users with these ids that exist, in one query (ids that name no user are skipped).
    async fn get_users(&self, ids: &[Uuid]) -> StoreResult<Vec<User>>;
    /// Every user of the customer, locked ones included, by username.
    async fn list_users(&self, customer_id: Uuid) -> StoreResult<Vec<User>>;
    /// Case-insensitive lookup, for login.
    async fn find_user_by_username(&self, username: &str) -> StoreResult<User>;
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// The session's user when the session exists, its user is not locked and it has been used
    /// within the user's idle timeout; the use is recorded (at most once a second, so that most
    /// requests write nothing). `NotFound` otherwise (an idle session is deleted on the way).
    async fn use_session(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<SessionUser>;
    /// Like [`Accounts::use_session`] but records no use: the session's user and when it idles
    /// out, if it still lets its user in at `now`. For a stream that must end with its session
    /// (logout, lock, password change, idle timeout) without keeping it alive.
    async fn check_session(&self, token_hash: &str, now: DateTime<Utc>)
    -> StoreResult<SessionUser>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Changes the user. On-call duty the change leaves with a user who can no longer act on it
    /// (by `handover.rule`: access to a practice removed, role lowered, mobile number cleared) is
    /// handed to `handover.reassign_to` in the same transaction; without one, or when the rule
    /// refuses the successor at one of those practices, nothing changes and the refusal says why.
    async fn update_user(
        &self,
        audit: &Audit,
        id: Uuid,
        patch: UserPatch,
        handover: OnCallHandover,
    ) -> StoreResult<Result<User, OnCallRefusal>>;
    /// What the user must hand over before being locked (overrides that end after `now`).
    async fn outstanding(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<Outstanding>;
    /// In one transaction: if the user has outstanding items, hands them to `reassign_to` (or,
    /// without one, changes nothing and reports them); then locks the user and ends all their
    /// sessions. On-call windows and running overrides go to the successor only if `rule` lets
    /// them be on call at each of those practices (else nothing changes: `Refused`).
    async fn lock_user(
        &self,
        audit: &Audit,
        user_id: Uuid,
        reassign_to: Option<Uuid>,
        rule: OnCallRule,
    ) -> StoreResult<LockOutcome>;
    async fn unlock_user(&self, audit: &Audit, user_id: Uuid) -> StoreResult<User>;
}

// ---- The use cases, written once for both backends (see `crate::sql`). ----

#[async_trait]
impl<D: Db> Accounts for D {
    async fn create_customer(&self, audit: &Audit, new: NewCustomer) -> StoreResult<Customer> {
        let audit = audit.clone();
        self.transaction(move |tx| {
            Box::pin(async move {
                let id = new_id();
                let row = tx
                    .query_one(
                        "INSERT INTO customers (id, name, created_at) VALUES ($1, $2, $3)
                         RETURNING id, name, created_at",
                        &[id.arg(), new.name.arg(), audit.at.arg()],
                    )
                    .await?;
                let customer = customer_from_row(&row)?;
                let event = event(Some(id), "customer.create", "customer", id);
                insert_audit(tx, &audit, &event).await?;
                Ok(customer)
            })
        })
        .await
    }

    async fn get_customer(&self, id: Uuid) -> StoreResult<Customer> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                let sql = "SELECT id, name, created_at FROM customers WHERE id = $1";
                customer_from_row(&tx.query_one(sql, &[id.arg()]).await?)
            })
        })
        .await
    }

    async fn create_practice(&self, audit: &Audit, new: NewPractice) -> StoreResult<Practice> {
        let audit = audit.clone();
        self.transaction(move |tx| {
            Box::pin(async move {
                let id = new_id();
                if let Some(group) = new.practice_group_id {
                    // Serialised with the customer's group changes, as they are among themselves.
                    crate::tenancy::lock_customer(tx, new.customer_id).await?;
                    crate::tenancy::check_group_of_customer(tx, group, new.customer_id).await?;
                }
                let row = tx
                    .query_one(
                        &format!(
                            "INSERT INTO practices (id, customer_id, name, timezone, sms_number, created_at,
                                                    practice_group_id)
                             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {PRACTICE_COLUMNS}"
                        ),
                        &[
                            id.arg(),
                            new.customer_id.arg(),
                            new.name.arg(),
                            new.timezone.name().arg(),
                            new.sms_number.arg(),
                            audit.at.arg(),
                            new.practice_group_id.arg(),
                        ],
                    )
                    .await?;
                // The practice's default users join it: its group's when it has any, else the
                // customer's (the rule of `practice_default_users`).
                let group_defaults = match new.practice_group_id {
                    Some(group) => {
                        tx.execute(
                            "INSERT INTO user_practices (user_id, practice_id)
                             SELECT user_id, $1 FROM practice_group_default_users
                             WHERE practice_group_id = $2",
                            &[id.arg(), group.arg()],
                        )
                        .await?
                    }
                    None => 0,
                };
                if group_defaults == 0 {
                    tx.execute(
                        "INSERT INTO user_practices (user_id, practice_id)
                         SELECT user_id, $1 FROM customer_default_users WHERE customer_id = $2",
                        &[id.arg(), new.customer_id.arg()],
                    )
                    .await?;
                }
                let practice = practice_from_row(&row)?;
                let event = event(Some(new.customer_id), "practice.create", "practice", id);
                insert_audit(tx, &audit, &event).await?;
                Ok(practice)
            })
        })
        .await
    }

    async fn get_practice(&self, id: Uuid) -> StoreResult<Practice> {
        self.autocommit(move |tx| Box::pin(load_practice(tx, id)))
            .await
    }

    async fn list_practices(&self, customer_id: Uuid, page: Page) -> StoreResult<Paged<Practice>> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {PRACTICE_COLUMNS} FROM practices
                     WHERE customer_id = $1 AND (id > $2 OR $2 IS NULL)
                     ORDER BY id LIMIT $3"
                );
                let limit = page.fetch_limit();
                let args = [customer_id.arg(), page.after.arg(), limit.arg()];
                let rows = tx.query(&sql, &args).await?;
                let items = rows
                    .iter()
                    .map(practice_from_row)
                    .collect::<StoreResult<_>>()?;
                Ok(Paged::from_rows(items, page, |p| p.id))
            })
        })
        .await
    }

    async fn create_user(&self, audit: &Audit, new: NewUser) -> StoreResult<User> {
        let audit = audit.clone();
        self.transaction(move |tx| {
            Box::pin(async move {
                let id = new_id();
                if let Some(supervisor) = new.supervisor_id {
                    check_supervisor(tx, id, new.customer_id, supervisor).await?;
                }
                tx.execute(
                    "INSERT INTO users (id, customer_id, username, password_hash, role, email, first_name,
                                        last_name, title, mobile_phone, auto_logout_minutes, created_at,
                                        supervisor_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    &[
                        id.arg(),
                        new.customer_id.arg(),
                        new.username.arg(),
                        new.password_hash.arg(),
                        new.role.as_str().arg(),
                        new.email.arg(),
                        new.first_name.arg(),
                        new.last_name.arg(),
                        new.title.arg(),
                        new.mobile_phone.arg(),
                        new.auto_logout_minutes.arg(),
                        audit.at.arg(),
                        new.supervisor_id.arg(),
                    ],
                )
                .await?;
                let sql = "INSERT INTO user_practices (user_id, practice_id) VALUES ($1, $2)";
                tx.execute_each(sql, id.arg(), &new.practice_ids).await?;
                let sql = "INSERT INTO user_restricted_programs (user_id, program) VALUES ($1, $2)
                           ON CONFLICT DO NOTHING";
                tx.execute_each(sql, id.arg(), &new.restricted_programs)
                    .await?;
                let event = event(new.customer_id, "user.create", "user", id);
                insert_audit(tx, &audit, &event).await?;
                load_user(tx, id).await
            })
        })
        .await
    }

    async fn upsert_super_admin(
        &self,
        audit: &Audit,
        username: &str,
        password_hash: &str,
    ) -> StoreResult<User> {
        let (audit, username, password_hash) = (
            audit.clone(),
            username.to_string(),
            password_hash.to_string(),
        );
        self.transaction(move |tx| {
            Box::pin(async move {
                let existing = tx
                    .query_opt(
                        tx.pick(
                            "SELECT id, role FROM users WHERE lower(username) = lower($1) FOR UPDATE",
                            "SELECT id, role FROM users WHERE lower(username) = lower($1)",
                        ),
                        &[username.arg()],
                    )
                    .await?;
                let (id, action) = match existing {
                    Some(row) => {
                        let id: Uuid = row.get(0)?;
                        if row.get::<String>(1)? != Role::SuperAdmin.as_str() {
                            return Err(StoreError::Conflict {
                                constraint: "users_username_key".into(),
                            });
                        }
                        tx.execute(
                            "UPDATE users SET password_hash = $2, locked_at = NULL WHERE id = $1",
                            &[id.arg(), password_hash.arg()],
                        )
                        .await?;
                        // A reset password ends every session of the user.
                        tx.execute("DELETE FROM sessions WHERE user_id = $1", &[id.arg()])
                            .await?;
                        (id, "user.reset_password")
                    }
                    None => {
                        let id = new_id();
                        tx.execute(
                            "INSERT INTO users (id, username, password_hash, role, created_at)
                             VALUES ($1, $2, $3, 'super_admin', $4)",
                            &[id.arg(), username.arg(), password_hash.arg(), audit.at.arg()],
                        )
                        .await?;
                        (id, "user.create")
                    }
                };
                insert_audit(tx, &audit, &event(None, action, "user", id)).await?;
                load_user(tx, id).await
            })
        })
        .await
    }

    async fn get_user(&self, id: Uuid) -> StoreResult<User> {
        self.autocommit(move |tx| Box::pin(load_user(tx, id))).await
    }

    async fn get_users(&self, ids: &[Uuid]) -> StoreResult<Vec<User>> {
        let ids = ids.to_vec();
        self.autocommit(move |tx| {
            Box::pin(async move {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut args = Vec::new();
                let filter = format!("WHERE u.id {} ORDER BY u.id", tx.in_list(&ids, &mut args));
                users_where(tx, &filter, &args).await
            })
        })
        .await
    }

    async fn list_users(&self, customer_id: Uuid) -> StoreResult<Vec<User>> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                let filter = "WHERE u.customer_id = $1 ORDER BY lower(u.username)";
                users_where(tx, filter, &[customer_id.arg()]).await
            })
        })
        .await
    }

    async fn find_user_by_username(&self, username: &str) -> StoreResult<User> {
        let username = username.to_string();
        self.autocommit(move |tx| {
            Box::pin(async move {
                let filter = "WHERE lower(u.username) = lower($1)";
                let mut users = users_where(tx, filter, &[username.arg()]).await?;
                users.pop().ok_or(StoreError::NotFound)
            })
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
        self.autocommit(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at)
                     VALUES ($1, $2, $3, $3)",
                    &[token_hash.arg(), user_id.arg(), now.arg()],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn use_session(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<SessionUser> {
        let token_hash = token_hash.to_string();
        self.autocommit(move |tx| {
            Box::pin(async move {
                let args = [token_hash.arg(), now.arg()];
                let Some((mut session, last_seen_at)) = live_session(tx, &token_hash, now).await?
                else {
                    // Idle or belonging to a locked user: remove it so it can never come back.
                    tx.execute("DELETE FROM sessions WHERE token_hash = $1", &args[..1])
                        .await?;
                    return Err(StoreError::NotFound);
                };
                if now - last_seen_at >= SESSION_USE_RECORDED_EVERY {
                    // Never moves the use back; a session a concurrent logout or lock removed
                    // stays removed (the update finds no row).
                    tx.execute(
                        "UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1 AND last_seen_at < $2",
                        &args,
                    )
                    .await?;
                    session.expires_at = now + idle_timeout(&session.user);
                }
                Ok(session)
            })
        })
        .await
    }

    async fn check_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<SessionUser> {
        let token_hash = token_hash.to_string();
        self.autocommit(move |tx| {
            Box::pin(async move {
                let (session, _) = live_session(tx, &token_hash, now)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                Ok(session)
            })
        })
        .await
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        let token_hash = token_hash.to_string();
        self.autocommit(move |tx| {
            Box::pin(async move {
                let sql = "DELETE FROM sessions WHERE token_hash = $1";
                tx.execute(sql, &[token_hash.arg()]).await?;
                Ok(())
            })
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
        self.transaction(move |tx| Box::pin(update_user(tx, audit, id, patch, handover)))
            .await
    }

    async fn outstanding(&self, user_id: Uuid, now: DateTime<Utc>) -> StoreResult<Outstanding> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                load_user(tx, user_id).await?;
                outstanding_of(tx, user_id, now).await
            })
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
        self.transaction(move |tx| Box::pin(lock_user(tx, audit, user_id, reassign_to, rule)))
            .await
    }

    async fn unlock_user(&self, audit: &Audit, user_id: Uuid) -> StoreResult<User> {
        let audit = audit.clone();
        self.transaction(move |tx| {
            Box::pin(async move {
                let sql = "UPDATE users SET locked_at = NULL WHERE id = $1";
                if tx.execute(sql, &[user_id.arg()]).await? == 0 {
                    return Err(StoreError::NotFound);
                }
                let user = load_user(tx, user_id).await?;
                let event = event(user.customer_id, "user.unlock", "user", user_id);
                insert_audit(tx, &audit, &event).await?;
                Ok(user)
            })
        })
        .await
    }
}

async fn update_user(
    tx: &Tx<'_>,
    audit: Audit,
    id: Uuid,
    patch: UserPatch,
    handover: OnCallHandover,
) -> StoreResult<Result<User, OnCallRefusal>> {
    // The user's row (and the successor's) locked first: a schedule save naming them waits, then
    // sees the change.
    let locked: Vec<Uuid> = std::iter::once(id).chain(handover.reassign_to).collect();
    lock_users(tx, &locked, true).await?;
    let current = load_user(tx, id).await?;
    // On-call duty the change would leave with a user who can no longer act on it is handed over
    // with it, or the whole change is refused before anything is written.
    let duty_at = duty_practices(tx, id, audit.at).await?;
    let lost = duty_lost(
        &current,
        &patched(&current, &patch),
        &duty_at,
        handover.rule,
    );
    let successor = match handover.reassign_to {
        Some(s) if !lost.is_empty() => Some((s, user_if_any(tx, s).await?)),
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
            id.arg(),
            patch.email.as_ref().unwrap_or(&current.email).arg(),
            patch
                .first_name
                .as_ref()
                .unwrap_or(&current.first_name)
                .arg(),
            patch.last_name.as_ref().unwrap_or(&current.last_name).arg(),
            patch.title.as_ref().unwrap_or(&current.title).arg(),
            role.as_str().arg(),
            mobile_phone.arg(),
            patch
                .auto_logout_minutes
                .unwrap_or(current.auto_logout_minutes)
                .arg(),
            patch
                .password_hash
                .as_ref()
                .unwrap_or(&current.password_hash)
                .arg(),
        ],
    )
    .await?;
    if let Some(supervisor) = patch.supervisor_id {
        if let Some(supervisor) = supervisor {
            check_supervisor(tx, id, current.customer_id, supervisor).await?;
        }
        let sql = "UPDATE users SET supervisor_id = $2 WHERE id = $1";
        tx.execute(sql, &[id.arg(), supervisor.arg()]).await?;
    }
    if let Some(Some(number)) = &patch.mobile_phone {
        // Saving a number again says it works: it is texted again (DESIGN.md reachability).
        crate::alerts::forget_failing_number(tx, number).await?;
    }
    if let Some(practice_ids) = &patch.practice_ids {
        tx.execute("DELETE FROM user_practices WHERE user_id = $1", &[id.arg()])
            .await?;
        let sql = "INSERT INTO user_practices (user_id, practice_id) VALUES ($1, $2)
                   ON CONFLICT DO NOTHING";
        tx.execute_each(sql, id.arg(), practice_ids).await?;
    }
    if let Some(programs) = &patch.restricted_programs {
        let sql = "DELETE FROM user_restricted_programs WHERE user_id = $1";
        tx.execute(sql, &[id.arg()]).await?;
        let sql = "INSERT INTO user_restricted_programs (user_id, program) VALUES ($1, $2)
                   ON CONFLICT DO NOTHING";
        tx.execute_each(sql, id.arg(), programs).await?;
    }
    if let Some(successor) = handover.reassign_to.filter(|_| !handed.is_empty()) {
        hand_over(tx, &audit, id, successor, &handed).await?;
    }
    let action = if patch.password_hash.is_some() {
        // A new password ends every other session of the user, on every instance.
        tx.execute(
            "DELETE FROM sessions WHERE user_id = $1 AND (token_hash <> $2 OR $2 IS NULL)",
            &[id.arg(), patch.keep_session.arg()],
        )
        .await?;
        "user.update_with_password"
    } else {
        "user.update"
    };
    insert_audit(tx, &audit, &event(current.customer_id, action, "user", id)).await?;
    load_user(tx, id).await.map(Ok)
}

async fn lock_user(
    tx: &Tx<'_>,
    audit: Audit,
    user_id: Uuid,
    reassign_to: Option<Uuid>,
    rule: OnCallRule,
) -> StoreResult<LockOutcome> {
    // Row locks (the successor's too, in id order): a concurrent hand-over to this user, a lock
    // of the successor or a schedule save naming either waits until we are done.
    let locked: Vec<Uuid> = std::iter::once(user_id).chain(reassign_to).collect();
    lock_users(tx, &locked, true).await?;
    load_user(tx, user_id).await?;
    let outstanding = outstanding_of(tx, user_id, audit.at).await?;
    if !outstanding.is_empty() {
        let Some(successor) = reassign_to else {
            return Ok(LockOutcome::Outstanding(outstanding));
        };
        // On-call duty goes only to someone who can act on it at each practice.
        let duty_at = duty_practices(tx, user_id, audit.at).await?;
        let candidate = [(successor, user_if_any(tx, successor).await?)];
        if let Err(refusal) = check_users(&candidate, &duty_at, rule) {
            return Ok(LockOutcome::Refused(refusal));
        }
        let (from, to, at) = (user_id.arg(), successor.arg(), audit.at.arg());
        for (table, owner) in [
            ("customer_default_users", "customer_id"),
            ("practice_group_default_users", "practice_group_id"),
        ] {
            let sql = format!(
                "INSERT INTO {table} ({owner}, user_id) SELECT {owner}, $2 FROM {table} WHERE user_id = $1
                 ON CONFLICT DO NOTHING"
            );
            tx.execute(&sql, &[from.clone(), to.clone()]).await?;
            let sql = format!("DELETE FROM {table} WHERE user_id = $1");
            tx.execute(&sql, std::slice::from_ref(&from)).await?;
        }
        // Care-team places and program enrolments go to the successor too.
        tx.execute(
            "INSERT INTO care_team (patient_id, user_id, added_at)
             SELECT patient_id, $2, $3 FROM care_team WHERE user_id = $1 ON CONFLICT DO NOTHING",
            &[from.clone(), to.clone(), at.clone()],
        )
        .await?;
        tx.execute(
            "INSERT INTO program_staff (patient_id, program, user_id)
             SELECT patient_id, program, $2 FROM program_staff WHERE user_id = $1 ON CONFLICT DO NOTHING",
            &[from.clone(), to.clone()],
        )
        .await?;
        for table in ["program_staff", "care_team"] {
            let sql = format!("DELETE FROM {table} WHERE user_id = $1");
            tx.execute(&sql, std::slice::from_ref(&from)).await?;
        }
        // On-call windows and running overrides are taken over as they are.
        hand_over(tx, &audit, user_id, successor, &duty_at).await?;
        // Patients only this user followed: the successor follows them, unread included.
        for patient_id in &outstanding.unread_only_theirs {
            tx.execute(
                "INSERT INTO patient_subscriptions (patient_id, user_id, added_at) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[patient_id.arg(), to.clone(), at.clone()],
            )
            .await?;
        }
        // Open alerts reach the successor's feed (escalation goes on as it was).
        let mut notes = Vec::with_capacity(outstanding.open_alerts.len());
        for alert_id in &outstanding.open_alerts {
            let sql = "SELECT practice_id, patient_id FROM alerts WHERE id = $1";
            let row = tx.query_one(sql, &[alert_id.arg()]).await?;
            notes.push(NewNotification::in_feed(
                successor,
                row.get(0)?,
                Some(row.get(1)?),
                "reading_critical",
                HANDED_OVER_ALERT_SUMMARY,
            ));
        }
        crate::feed::insert_notifications(tx, audit.at, &notes).await?;
    }
    tx.execute(
        "UPDATE users SET locked_at = COALESCE(locked_at, $2) WHERE id = $1",
        &[user_id.arg(), audit.at.arg()],
    )
    .await?;
    tx.execute("DELETE FROM sessions WHERE user_id = $1", &[user_id.arg()])
        .await?;
    let user = load_user(tx, user_id).await?;
    let event = event(user.customer_id, "user.lock", "user", user_id);
    insert_audit(tx, &audit, &event).await?;
    Ok(LockOutcome::Locked(Box::new(user)))
}

/// Subscribed patients with patient messages the user (`$1`) has not read and no other unlocked
/// follower.
fn unread_only_theirs(tx: &Tx<'_>) -> String {
    format!(
        "SELECT s.patient_id FROM patient_subscriptions s
         WHERE s.user_id = $1
           AND EXISTS (SELECT 1 FROM conversation_heads h
                       WHERE h.patient_id = s.patient_id AND {})
           AND NOT EXISTS (SELECT 1 FROM care_team c JOIN users u ON u.id = c.user_id
                           WHERE c.patient_id = s.patient_id AND c.user_id <> $1 AND u.locked_at IS NULL)
           AND NOT EXISTS (SELECT 1 FROM patient_subscriptions o JOIN users u ON u.id = o.user_id
                           WHERE o.patient_id = s.patient_id AND o.user_id <> $1 AND u.locked_at IS NULL)
         ORDER BY s.patient_id",
        crate::conversations::unread_head(tx, "$1")
    )
}

/// Open alerts the user was notified of in the feed (opening or a later step).
const OPEN_ALERTS_OF: &str = "
    SELECT a.id FROM alerts a
    WHERE a.state = 'open'
      AND EXISTS (SELECT 1 FROM notifications n
                  WHERE n.user_id = $1 AND n.kind = 'reading_critical'
                    AND n.patient_id = a.patient_id AND n.created_at >= a.opened_at)
    ORDER BY a.id";

async fn outstanding_of(
    tx: &Tx<'_>,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<Outstanding> {
    let user = [user_id.arg()];
    Ok(Outstanding {
        customer_default_user_of: tx
            .column(
                "SELECT customer_id FROM customer_default_users WHERE user_id = $1 ORDER BY customer_id",
                &user,
            )
            .await?,
        practice_group_default_user_of: tx
            .column(
                "SELECT practice_group_id FROM practice_group_default_users WHERE user_id = $1
                 ORDER BY practice_group_id",
                &user,
            )
            .await?,
        care_team_of: tx
            .column(
                "SELECT patient_id FROM care_team WHERE user_id = $1 ORDER BY patient_id",
                &user,
            )
            .await?,
        on_call_at: tx
            .column(
                "SELECT DISTINCT practice_id FROM on_call_windows WHERE user_id = $1 ORDER BY practice_id",
                &user,
            )
            .await?,
        on_call_overrides_at: tx
            .column(
                "SELECT DISTINCT practice_id FROM on_call_overrides
                 WHERE user_id = $1 AND ends_at > $2 ORDER BY practice_id",
                &[user_id.arg(), now.arg()],
            )
            .await?,
        unread_only_theirs: tx.column(&unread_only_theirs(tx), &user).await?,
        open_alerts: tx.column(OPEN_ALERTS_OF, &user).await?,
    })
}

/// `Rule(SupervisorOfAnotherCustomer)` unless `supervisor` is another user of the customer.
async fn check_supervisor(
    tx: &Tx<'_>,
    user_id: Uuid,
    customer_id: Option<Uuid>,
    supervisor: Uuid,
) -> StoreResult<()> {
    let sql = "SELECT 1 FROM users WHERE id = $1 AND customer_id = $2 AND id <> $3";
    let args = [supervisor.arg(), customer_id.arg(), user_id.arg()];
    match tx.query_opt(sql, &args).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::Rule(RuleRefusal::SupervisorOfAnotherCustomer)),
    }
}

/// How seldom a session's use is written down. Requests come in bursts (a console page and the
/// calls it makes); writing each use made every authenticated request wait for a commit. The
/// idle timeout then runs from a use at most this long before the last one: a session may end
/// up to a second early, never late.
const SESSION_USE_RECORDED_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(1);

fn idle_timeout(user: &User) -> chrono::TimeDelta {
    chrono::TimeDelta::minutes(i64::from(user.auto_logout_minutes))
}

/// The session `token_hash` if it lets its user in at `now` (within the user's idle timeout of
/// its recorded use, the user not locked), in one statement with its user, and when its use was
/// last recorded.
async fn live_session(
    tx: &Tx<'_>,
    token_hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<(SessionUser, DateTime<Utc>)>> {
    let idle_at = tx.pick(
        "s.last_seen_at + make_interval(mins => u.auto_logout_minutes)",
        "s.last_seen_at + u.auto_logout_minutes * 60000000",
    );
    let sql = format!(
        "SELECT s.created_at, s.last_seen_at, {idle_at}, {}
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = $1 AND u.locked_at IS NULL AND {idle_at} > $2",
        user_columns(tx)
    );
    let Some(row) = tx.query_opt(&sql, &[token_hash.arg(), now.arg()]).await? else {
        return Ok(None);
    };
    let session = SessionUser {
        user: user_from_row(tx, &row, 3).await?,
        created_at: row.get(0)?,
        expires_at: row.get(2)?,
    };
    Ok(Some((session, row.get(1)?)))
}
