//! Tenancy administration: default users, practice settings and membership, practice groups.

use async_trait::async_trait;
use uuid::Uuid;

use crate::*;

#[async_trait]
pub trait Tenancy: Send + Sync {
    /// Replaces the customer's default users (they join every practice created afterwards).
    async fn set_customer_default_users(
        &self,
        audit: &Audit,
        customer_id: Uuid,
        user_ids: Vec<Uuid>,
    ) -> StoreResult<Vec<Uuid>>;
    async fn customer_default_users(&self, customer_id: Uuid) -> StoreResult<Vec<Uuid>>;
    /// The practice's fallback users: its group's default users when it is in a group that has
    /// any, otherwise the customer's.
    async fn practice_default_users(&self, practice_id: Uuid) -> StoreResult<Vec<Uuid>>;
    async fn update_practice(
        &self,
        audit: &Audit,
        id: Uuid,
        patch: PracticePatch,
    ) -> StoreResult<Practice>;
    /// Replaces the practice's users. On-call duty at this practice of users who can no longer
    /// act on it afterwards (by `handover.rule`) is handed to `handover.reassign_to` in the same
    /// transaction; without one, or when the rule refuses the successor, nothing changes and the
    /// refusal says why.
    async fn set_practice_users(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        user_ids: Vec<Uuid>,
        handover: OnCallHandover,
    ) -> StoreResult<Result<Vec<Uuid>, OnCallRefusal>>;
    async fn practice_users(&self, practice_id: Uuid) -> StoreResult<Vec<Uuid>>;
    async fn count_practices(&self, customer_id: Uuid) -> StoreResult<i64>;
    /// `Conflict { constraint: "practice_groups_minimum_practices" }` below
    /// [`MIN_PRACTICES_FOR_GROUPS`]; `Conflict { constraint: "practices_practice_group_id" }` when
    /// a practice is in another group or not of this customer.
    async fn create_practice_group(
        &self,
        audit: &Audit,
        new: NewPracticeGroup,
    ) -> StoreResult<PracticeGroup>;
    async fn get_practice_group(&self, id: Uuid) -> StoreResult<PracticeGroup>;
    async fn list_practice_groups(&self, customer_id: Uuid) -> StoreResult<Vec<PracticeGroup>>;
    async fn update_practice_group(
        &self,
        audit: &Audit,
        id: Uuid,
        patch: PracticeGroupPatch,
    ) -> StoreResult<PracticeGroup>;
    /// Removes the group; its practices fall back to the customer's default users.
    async fn delete_practice_group(&self, audit: &Audit, id: Uuid) -> StoreResult<()>;
}
