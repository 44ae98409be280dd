//! The PostgreSQL backend: the production store, and the only one for several gateways.
//!
//! A deadpool pool of tokio-postgres connections. Each use case takes one pooled connection and,
//! when it writes, one transaction. Migrations run under a transaction-scoped advisory lock so
//! concurrent start-ups serialise. Driver errors become [`StoreError`]s in [`map_err`].

mod rows;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::migrations::{MIGRATIONS, Migration};
use crate::{
    Audit, AuditEvent, AuditFilter, AuditRecord, Backend, Customer, NewCustomer, NewPatient,
    NewPractice, NewUser, Page, Paged, Patient, Practice, Role, SessionUser, Store, StoreError,
    StoreResult, User, new_id,
};
use rows::{
    PATIENT_COLUMNS, PRACTICE_COLUMNS, USER_COLUMNS, audit_from_row, customer_from_row,
    patient_from_row, practice_from_row, user_from_row,
};

/// Any fixed number works; it only has to be the same for every gateway binary.
const MIGRATION_LOCK_KEY: i64 = 0x6761_7465_7761_7901;

pub struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Builds the pool; connections are opened lazily, so this succeeds while the server is down
    /// and the store becomes usable when it comes back.
    pub fn connect(url: &str) -> StoreResult<PostgresStore> {
        let config = tokio_postgres::Config::from_str(url).map_err(|e| {
            StoreError::Unexpected(format!("DATABASE_URL is not a valid PostgreSQL URL: {e}"))
        })?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        // Bounded waits: a request must get a 503 quickly rather than hang while the store is down.
        let timeouts = Timeouts {
            wait: Some(Duration::from_secs(5)),
            create: Some(Duration::from_secs(3)),
            recycle: Some(Duration::from_secs(3)),
        };
        let pool = Pool::builder(manager)
            .max_size(16)
            .timeouts(timeouts)
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| {
                StoreError::Unexpected(format!("cannot build the connection pool: {e}"))
            })?;
        Ok(PostgresStore { pool })
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

/// Translates a driver error into the store's vocabulary.
pub(crate) fn map_err(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION
            || *code == SqlState::FOREIGN_KEY_VIOLATION
            || *code == SqlState::CHECK_VIOLATION
            || *code == SqlState::EXCLUSION_VIOLATION
            || *code == SqlState::RESTRICT_VIOLATION
        {
            let constraint = db.constraint().unwrap_or(db.message()).to_string();
            return StoreError::Conflict { constraint };
        }
        if *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW
            || *code == SqlState::TOO_MANY_CONNECTIONS
        {
            return StoreError::Unavailable(db.message().to_string());
        }
        return StoreError::Unexpected(format!("{}: {}", code.code(), db.message()));
    }
    if e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()) {
        return StoreError::Unavailable(e.to_string());
    }
    StoreError::Unexpected(e.to_string())
}

async fn insert_audit(
    client: &impl GenericClient,
    audit: &Audit,
    event: &AuditEvent<'_>,
) -> StoreResult<()> {
    client
        .execute(
            "INSERT INTO audit_log (at, user_id, customer_id, action, target_type, target_id, patient_id, client_addr)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &audit.at,
                &audit.user_id,
                &event.customer_id,
                &event.action,
                &event.target_type,
                &event.target_id,
                &event.patient_id,
                &audit.client_addr,
            ],
        )
        .await
        .map_err(map_err)?;
    Ok(())
}

async fn load_user(client: &impl GenericClient, id: Uuid) -> StoreResult<User> {
    let row = client
        .query_opt(
            &format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"),
            &[&id],
        )
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    user_from_row(&row)
}

async fn load_patient(client: &impl GenericClient, id: Uuid) -> StoreResult<Patient> {
    let row = client
        .query_opt(
            &format!("SELECT {PATIENT_COLUMNS} FROM patients p WHERE p.id = $1"),
            &[&id],
        )
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    patient_from_row(&row)
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // Taken first, before the bookkeeping table exists: concurrent CREATE TABLE IF NOT EXISTS
        // statements can otherwise collide on the catalog.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])
            .await
            .map_err(map_err)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version bigint PRIMARY KEY,
                 name text NOT NULL,
                 checksum text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(map_err)?;
        let applied = tx
            .query("SELECT version, checksum FROM schema_migrations", &[])
            .await
            .map_err(map_err)?;
        for m in MIGRATIONS {
            let checksum = Migration::checksum(m.postgres);
            match applied.iter().find(|r| r.get::<_, i64>(0) == m.version) {
                Some(row) if row.get::<_, String>(1) == checksum => continue,
                Some(_) => {
                    return Err(StoreError::Unexpected(format!(
                        "migration {} was changed after it was applied; restore it and add a new migration instead",
                        m.name
                    )));
                }
                None => {
                    tracing::info!(migration = m.name, "applying migration");
                    tx.batch_execute(m.postgres).await.map_err(map_err)?;
                    tx.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                        &[&m.version, &m.name, &checksum],
                    )
                    .await
                    .map_err(map_err)?;
                }
            }
        }
        tx.commit().await.map_err(map_err)
    }

    async fn ping(&self) -> StoreResult<()> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await.map_err(map_err)?;
        Ok(())
    }

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
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO practices (id, customer_id, name, timezone, sms_number, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {PRACTICE_COLUMNS}"
                ),
                &[
                    &id,
                    &new.customer_id,
                    &new.name,
                    &new.timezone,
                    &new.sms_number,
                    &audit.at,
                ],
            )
            .await
            .map_err(map_err)?;
        let practice = practice_from_row(&row);
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
        Ok(practice_from_row(&row))
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
        let items = rows.iter().map(practice_from_row).collect();
        Ok(Paged::from_rows(items, page, |p| p.id))
    }

    async fn create_user(&self, audit: &Audit, new: NewUser) -> StoreResult<User> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let id = new_id();
        tx.execute(
            "INSERT INTO users (id, customer_id, username, password_hash, role, email, first_name,
                                last_name, title, mobile_phone, auto_logout_minutes, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash])
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn lock_user(&self, audit: &Audit, user_id: Uuid) -> StoreResult<User> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let updated = tx
            .execute(
                "UPDATE users SET locked_at = COALESCE(locked_at, $2) WHERE id = $1",
                &[&user_id, &audit.at],
            )
            .await
            .map_err(map_err)?;
        if updated == 0 {
            return Err(StoreError::NotFound);
        }
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
        Ok(user)
    }

    async fn create_patient(&self, audit: &Audit, new: NewPatient) -> StoreResult<Patient> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let id = new_id();
        let customer_id: Uuid = tx
            .query_opt(
                "SELECT customer_id FROM practices WHERE id = $1",
                &[&new.practice_id],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?
            .get(0);
        tx.execute(
            "INSERT INTO patients (id, practice_id, first_name, last_name, dob, mobile_phone,
                                   texting_updated_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            &[
                &id,
                &new.practice_id,
                &new.first_name,
                &new.last_name,
                &new.dob,
                &new.mobile_phone,
                &audit.at,
            ],
        )
        .await
        .map_err(map_err)?;
        for program in &new.programs {
            tx.execute(
                "INSERT INTO patient_programs (patient_id, program) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&id, program],
            )
            .await
            .map_err(map_err)?;
        }
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action: "patient.create",
            target_type: "patient",
            target_id: Some(id.to_string()),
            patient_id: Some(id),
        };
        insert_audit(&tx, audit, &event).await?;
        let patient = load_patient(&tx, id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(patient)
    }

    async fn get_patient(&self, audit: &Audit, id: Uuid) -> StoreResult<Patient> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let patient = load_patient(&tx, id).await?;
        let customer_id: Uuid = tx
            .query_one(
                "SELECT customer_id FROM practices WHERE id = $1",
                &[&patient.practice_id],
            )
            .await
            .map_err(map_err)?
            .get(0);
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action: "patient.read",
            target_type: "patient",
            target_id: Some(id.to_string()),
            patient_id: Some(id),
        };
        insert_audit(&tx, audit, &event).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(patient)
    }

    async fn append_audit(&self, audit: &Audit, event: AuditEvent<'_>) -> StoreResult<()> {
        let client = self.client().await?;
        insert_audit(&client, audit, &event).await
    }

    async fn list_audit(&self, filter: AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        let client = self.client().await?;
        let limit = i64::from(filter.limit.clamp(1, Page::MAX_LIMIT));
        let rows = client
            .query(
                "SELECT id, at, user_id, customer_id, action, target_type, target_id, patient_id, client_addr
                 FROM audit_log
                 WHERE ($1::uuid IS NULL OR customer_id = $1)
                   AND ($2::uuid IS NULL OR user_id = $2)
                   AND ($3::uuid IS NULL OR patient_id = $3)
                   AND ($4::timestamptz IS NULL OR at >= $4)
                   AND ($5::bigint IS NULL OR id > $5)
                 ORDER BY id LIMIT $6",
                &[&filter.customer_id, &filter.user_id, &filter.patient_id, &filter.since, &filter.after_id, &limit],
            )
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(audit_from_row).collect())
    }
}
