//! The embedded SQLite backend: the zero-set-up default for a single gateway.
//!
//! One connection behind a mutex, used from blocking threads: SQLite serialises writers anyway,
//! and a single connection makes every use case trivially atomic. Write transactions are
//! `BEGIN IMMEDIATE` so a transaction never upgrades its lock half-way. WAL mode with
//! `synchronous=FULL` makes a committed write durable before the caller is answered.
//! Not for several gateways at once: those need PostgreSQL.

mod rows;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use crate::migrations::{MIGRATIONS, Migration};
use crate::{
    Audit, AuditEvent, AuditFilter, AuditRecord, Backend, Customer, NewCustomer, NewPatient,
    NewPractice, NewUser, Page, Paged, Patient, Practice, Role, SessionUser, Store, StoreError,
    StoreResult, User, new_id,
};
use rows::{
    PRACTICE_COLUMNS, audit_from_row, customer_from_row, from_micros, load_patient, load_user,
    micros, practice_from_row,
};

pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its parent directory.
    pub async fn open(path: &Path) -> StoreResult<SqliteStore> {
        let path = path.to_path_buf();
        let opened = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> StoreResult<Connection> {
            if let Some(dir) = opened.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            let conn = Connection::open(&opened).map_err(map_err)?;
            conn.busy_timeout(std::time::Duration::from_secs(5))
                .map_err(map_err)?;
            conn.execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA foreign_keys = ON;",
            )
            .map_err(map_err)?;
            Ok(conn)
        })
        .await
        .map_err(|e| StoreError::Unexpected(e.to_string()))??;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection on a blocking thread.
    async fn call<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave a half-done transaction behind
            // (rusqlite rolls back on drop), so a poisoned lock is safe to reuse.
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Unexpected(format!("store task failed: {e}")))?
    }

    /// Runs `f` inside one `BEGIN IMMEDIATE` transaction, committed when it returns `Ok`.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.call(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(map_err)?;
            let out = f(&tx)?;
            tx.commit().map_err(map_err)?;
            Ok(out)
        })
        .await
    }
}

/// Translates a driver error into the store's vocabulary. SQLite names a failed unique rule by
/// its columns ("UNIQUE constraint failed: t.a, t.b"); it is turned into `t_a_b_key`, the name
/// the PostgreSQL schema gives the same rule.
pub(crate) fn map_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        rusqlite::Error::SqliteFailure(code, message) => match code.code {
            ErrorCode::ConstraintViolation => {
                let message = message.clone().unwrap_or_default();
                StoreError::Conflict {
                    constraint: constraint_name(&message),
                }
            }
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                StoreError::Unavailable("the embedded store is busy".into())
            }
            ErrorCode::CannotOpen
            | ErrorCode::DiskFull
            | ErrorCode::ReadOnly
            | ErrorCode::SystemIoFailure => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Unexpected(e.to_string()),
        },
        _ => StoreError::Unexpected(e.to_string()),
    }
}

fn constraint_name(message: &str) -> String {
    // Expression indexes are reported by name: "UNIQUE constraint failed: index 'users_username_key'".
    if let Some(index) = message.strip_prefix("UNIQUE constraint failed: index '") {
        return index.trim_end_matches('\'').to_string();
    }
    let Some(columns) = message.strip_prefix("UNIQUE constraint failed: ") else {
        return message.to_string();
    };
    let mut parts = columns.split(", ").filter_map(|c| c.split_once('.'));
    let Some((table, first)) = parts.next() else {
        return message.to_string();
    };
    let mut name = format!("{table}_{first}");
    for (_, column) in parts {
        name.push('_');
        name.push_str(column);
    }
    name.push_str("_key");
    name
}

pub(crate) fn insert_audit(
    conn: &Connection,
    audit: &Audit,
    event: &AuditEvent<'_>,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO audit_log (at, user_id, customer_id, action, target_type, target_id, patient_id, client_addr)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            micros(audit.at),
            audit.user_id,
            event.customer_id,
            event.action,
            event.target_type,
            event.target_id,
            event.patient_id,
            audit.client_addr,
        ])
    })
    .map_err(map_err)?;
    Ok(())
}

/// Owned audit event, so it can move into a blocking closure.
struct OwnedEvent {
    customer_id: Option<Uuid>,
    action: &'static str,
    target_type: &'static str,
    target_id: Option<String>,
    patient_id: Option<Uuid>,
}

impl OwnedEvent {
    fn write(&self, conn: &Connection, audit: &Audit) -> StoreResult<()> {
        let event = AuditEvent {
            customer_id: self.customer_id,
            action: self.action,
            target_type: self.target_type,
            target_id: self.target_id.clone(),
            patient_id: self.patient_id,
        };
        insert_audit(conn, audit, &event)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> StoreResult<()> {
        self.write(|tx| {
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                     version INTEGER PRIMARY KEY,
                     name TEXT NOT NULL,
                     checksum TEXT NOT NULL,
                     applied_at INTEGER NOT NULL
                 )",
            )
            .map_err(map_err)?;
            for m in MIGRATIONS {
                let checksum = Migration::checksum(m.sqlite);
                let applied: Option<String> = tx
                    .query_row(
                        "SELECT checksum FROM schema_migrations WHERE version = ?1",
                        [m.version],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(map_err)?;
                match applied {
                    Some(found) if found == checksum => {}
                    Some(_) => {
                        return Err(StoreError::Unexpected(format!(
                            "migration {} was changed after it was applied; restore it and add a new migration instead",
                            m.name
                        )));
                    }
                    None => {
                        tracing::info!(migration = m.name, "applying migration");
                        tx.execute_batch(m.sqlite).map_err(map_err)?;
                        tx.execute(
                            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
                            params![m.version, m.name, checksum, micros(Utc::now())],
                        )
                        .map_err(map_err)?;
                    }
                }
            }
            Ok(())
        })
        .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.call(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(map_err))
            .await
    }

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
            tx.execute(
                "INSERT INTO practices (id, customer_id, name, timezone, sms_number, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    id,
                    new.customer_id,
                    new.name,
                    new.timezone,
                    new.sms_number,
                    micros(audit.at)
                ],
            )
            .map_err(map_err)?;
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
            tx.execute(
                "INSERT INTO users (id, customer_id, username, password_hash, role, email, first_name,
                                    last_name, title, mobile_phone, auto_logout_minutes, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
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

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        let token_hash = token_hash.to_string();
        self.write(move |tx| {
            tx.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])
                .map_err(map_err)?;
            Ok(())
        })
        .await
    }

    async fn lock_user(&self, audit: &Audit, user_id: Uuid) -> StoreResult<User> {
        let audit = audit.clone();
        self.write(move |tx| {
            let updated = tx
                .execute(
                    "UPDATE users SET locked_at = COALESCE(locked_at, ?2) WHERE id = ?1",
                    params![user_id, micros(audit.at)],
                )
                .map_err(map_err)?;
            if updated == 0 {
                return Err(StoreError::NotFound);
            }
            tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])
                .map_err(map_err)?;
            let user = load_user(tx, user_id)?;
            OwnedEvent {
                customer_id: user.customer_id,
                action: "user.lock",
                target_type: "user",
                target_id: Some(user_id.to_string()),
                patient_id: None,
            }
            .write(tx, &audit)?;
            Ok(user)
        })
        .await
    }

    async fn create_patient(&self, audit: &Audit, new: NewPatient) -> StoreResult<Patient> {
        let audit = audit.clone();
        self.write(move |tx| {
            let id = new_id();
            let customer_id: Uuid = tx
                .query_row(
                    "SELECT customer_id FROM practices WHERE id = ?1",
                    [new.practice_id],
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            tx.execute(
                "INSERT INTO patients (id, practice_id, first_name, last_name, dob, mobile_phone,
                                       texting_updated_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![
                    id,
                    new.practice_id,
                    new.first_name,
                    new.last_name,
                    new.dob.format("%Y-%m-%d").to_string(),
                    new.mobile_phone,
                    micros(audit.at)
                ],
            )
            .map_err(map_err)?;
            for program in &new.programs {
                tx.execute(
                    "INSERT OR IGNORE INTO patient_programs (patient_id, program) VALUES (?1, ?2)",
                    params![id, program],
                )
                .map_err(map_err)?;
            }
            OwnedEvent {
                customer_id: Some(customer_id),
                action: "patient.create",
                target_type: "patient",
                target_id: Some(id.to_string()),
                patient_id: Some(id),
            }
            .write(tx, &audit)?;
            load_patient(tx, id)
        })
        .await
    }

    async fn get_patient(&self, audit: &Audit, id: Uuid) -> StoreResult<Patient> {
        let audit = audit.clone();
        self.write(move |tx| {
            let patient = load_patient(tx, id)?;
            let customer_id: Uuid = tx
                .query_row(
                    "SELECT customer_id FROM practices WHERE id = ?1",
                    [patient.practice_id],
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            OwnedEvent {
                customer_id: Some(customer_id),
                action: "patient.read",
                target_type: "patient",
                target_id: Some(id.to_string()),
                patient_id: Some(id),
            }
            .write(tx, &audit)?;
            Ok(patient)
        })
        .await
    }

    async fn append_audit(&self, audit: &Audit, event: AuditEvent<'_>) -> StoreResult<()> {
        let audit = audit.clone();
        let action = event.action.to_string();
        let target_type = event.target_type.to_string();
        let (customer_id, target_id, patient_id) =
            (event.customer_id, event.target_id, event.patient_id);
        self.write(move |tx| {
            let event = AuditEvent {
                customer_id,
                action: &action,
                target_type: &target_type,
                target_id,
                patient_id,
            };
            insert_audit(tx, &audit, &event)
        })
        .await
    }

    async fn list_audit(&self, filter: AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        self.call(move |conn| {
            let limit = i64::from(filter.limit.clamp(1, Page::MAX_LIMIT));
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, at, user_id, customer_id, action, target_type, target_id, patient_id, client_addr
                     FROM audit_log
                     WHERE (?1 IS NULL OR customer_id = ?1)
                       AND (?2 IS NULL OR user_id = ?2)
                       AND (?3 IS NULL OR patient_id = ?3)
                       AND (?4 IS NULL OR at >= ?4)
                       AND (?5 IS NULL OR id > ?5)
                     ORDER BY id LIMIT ?6",
                )
                .map_err(map_err)?;
            let rows = stmt
                .query_map(
                    params![
                        filter.customer_id,
                        filter.user_id,
                        filter.patient_id,
                        filter.since.map(micros),
                        filter.after_id,
                        limit
                    ],
                    audit_from_row,
                )
                .map_err(map_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(map_err)?;
            Ok(rows)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::constraint_name;

    #[test]
    fn a_unique_failure_is_named_like_the_postgres_constraint() {
        assert_eq!(
            constraint_name("UNIQUE constraint failed: practices.sms_number"),
            "practices_sms_number_key"
        );
        assert_eq!(
            constraint_name(
                "UNIQUE constraint failed: patients.practice_id, patients.mobile_phone"
            ),
            "patients_practice_id_mobile_phone_key"
        );
        assert_eq!(
            constraint_name("UNIQUE constraint failed: index 'users_username_key'"),
            "users_username_key"
        );
        assert_eq!(
            constraint_name("CHECK constraint failed: role"),
            "CHECK constraint failed: role"
        );
    }
}
