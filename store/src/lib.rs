//! Persistence for the gateway: the store API, its PostgreSQL and SQLite backends and their
//! migrations.
//!
//! Services call the [`Store`] trait without knowing the backend. Each method is one business
//! operation and one transaction: a change and its audit row commit together or not at all, and
//! nothing is acknowledged before it is committed. The backend is chosen from the URL scheme by
//! [`connect`]. This crate owns all SQL; it must never hold business rules (those are the
//! gateway's domain) nor log row contents (they hold patient data).

mod error;
pub mod migrations;
mod model;
mod postgres;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use error::{StoreError, StoreResult};
pub use model::*;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// The store API. One method per use case; every method that changes data or reads patient data
/// takes an [`Audit`] and writes the audit row in its own transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Applies the embedded migrations not yet applied. Safe to call concurrently.
    async fn migrate(&self) -> StoreResult<()>;

    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    // Customers and practices.
    async fn create_customer(&self, audit: &Audit, new: NewCustomer) -> StoreResult<Customer>;
    async fn get_customer(&self, id: Uuid) -> StoreResult<Customer>;
    async fn create_practice(&self, audit: &Audit, new: NewPractice) -> StoreResult<Practice>;
    async fn get_practice(&self, id: Uuid) -> StoreResult<Practice>;
    async fn list_practices(&self, customer_id: Uuid, page: Page) -> StoreResult<Paged<Practice>>;

    // Users and sessions.
    async fn create_user(&self, audit: &Audit, new: NewUser) -> StoreResult<User>;
    /// Creates the super admin, or resets its password (and unlocks it) when it exists.
    async fn upsert_super_admin(
        &self,
        audit: &Audit,
        username: &str,
        password_hash: &str,
    ) -> StoreResult<User>;
    async fn get_user(&self, id: Uuid) -> StoreResult<User>;
    /// Case-insensitive lookup, for login.
    async fn find_user_by_username(&self, username: &str) -> StoreResult<User>;
    async fn create_session(
        &self,
        token_hash: &str,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// The session's user when the session exists, its user is not locked and it has been used
    /// within the user's idle timeout; the use is recorded. `NotFound` otherwise (an idle session
    /// is deleted on the way).
    async fn use_session(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<SessionUser>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Locks a user and ends all their sessions in one transaction.
    async fn lock_user(&self, audit: &Audit, user_id: Uuid) -> StoreResult<User>;

    // Patients.
    async fn create_patient(&self, audit: &Audit, new: NewPatient) -> StoreResult<Patient>;
    /// Reads a patient and records the read in the audit log.
    async fn get_patient(&self, audit: &Audit, id: Uuid) -> StoreResult<Patient>;

    // Audit log.
    /// Records an event that is not part of another store operation (a read through the API).
    async fn append_audit(&self, audit: &Audit, event: AuditEvent<'_>) -> StoreResult<()>;
    async fn list_audit(&self, filter: AuditFilter) -> StoreResult<Vec<AuditRecord>>;
}

/// Opens the store named by `url` (`postgres://…`, `postgresql://…` or `sqlite://PATH`).
/// Does not migrate; call [`Store::migrate`].
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url)?))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(Arc::new(
            SqliteStore::open(std::path::Path::new(path)).await?,
        ))
    } else {
        Err(StoreError::Unexpected(
            "DATABASE_URL must start with postgres://, postgresql:// or sqlite://".into(),
        ))
    }
}

/// A new time-ordered identifier (UUIDv7): ids sort by creation, which cursors rely on.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}
