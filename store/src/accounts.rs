//! Accounts and tenancy: customers, practices, users and their sessions.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

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
    /// within the user's idle timeout; the use is recorded. `NotFound` otherwise (an idle session
    /// is deleted on the way).
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
