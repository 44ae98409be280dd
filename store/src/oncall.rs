//! On-call schedules: each practice's daily windows and who is on call in them.
//!
//! The store keeps windows as minutes after local midnight in saved order and checks only that
//! every user is a user of the practice's customer (`Conflict { constraint:
//! "on_call_windows_user_of_customer" }`). What a window means (wrapping, all-day, time zones,
//! daylight saving) is the gateway's domain (`domain::oncall`).

use async_trait::async_trait;
use uuid::Uuid;

use crate::*;

/// One daily window: from `from_minute` (inclusive) to `to_minute` (exclusive) after local
/// midnight in the practice's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnCallWindowRow {
    pub from_minute: i32,
    pub to_minute: i32,
    pub user_id: Uuid,
}

#[async_trait]
pub trait OnCall: Send + Sync {
    /// The practice's windows in saved order (empty when none).
    async fn on_call_windows(&self, practice_id: Uuid) -> StoreResult<Vec<OnCallWindowRow>>;

    /// Replaces the practice's whole schedule with `windows`, with the audit row
    /// (`practice.on_call.update`), in one transaction. `NotFound` when the practice does not
    /// exist; a conflict on `on_call_windows_user_of_customer` when a user is not an unlocked
    /// user of the practice's customer.
    async fn replace_on_call_windows(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        windows: Vec<OnCallWindowRow>,
    ) -> StoreResult<Vec<OnCallWindowRow>>;
}
