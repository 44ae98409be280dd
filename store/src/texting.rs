//! Texting opt-in changes that staff and workers start (start, resend, opt-out, expiry). The
//! decision is made outside from a state read earlier; the store applies it only if the patient's
//! texting state is still exactly that state, so two concurrent changes never both apply against
//! the same state (the loser gets `Conflict { constraint: "patients_texting_changed" }` and
//! decides again). Replies and notifications are written in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::*;

/// The name of the conflict when the state moved since the decision was made.
pub const TEXTING_CHANGED: &str = "patients_texting_changed";

/// The name of the refusal when the practice has texting turned off.
pub const TEXTING_DISABLED: &str = "texting_disabled";

/// The name of the refusal when the practice has the patient portal turned off.
pub const PORTAL_DISABLED: &str = "portal_disabled";

#[derive(Debug, Clone)]
pub struct TextingChange {
    /// The state the decision was made from.
    pub expected: TextingRow,
    /// The new state; `None` keeps it (e.g. a resend).
    pub new_state: Option<TextingRow>,
    pub replies: Vec<NewOutbound>,
    pub notifications: Vec<NewNotification>,
    /// The audit action, e.g. `texting.start`.
    pub action: &'static str,
    /// The patient's number opts out with this change: texts still queued to it from the
    /// practice's number are cancelled (reason `opted_out`) in the same transaction.
    pub opted_out: bool,
    /// The change texts the patient on the practice's behalf (start, resend): refused with
    /// `Conflict { constraint: TEXTING_DISABLED }` when the practice has texting turned off, as
    /// read in the change's transaction.
    pub needs_texting: bool,
}

#[derive(Debug, Clone)]
pub struct TextingChanged {
    pub patient: Patient,
    /// Outbox rows queued for the replies.
    pub enqueued: Vec<Uuid>,
}

#[async_trait]
pub trait Texting: Send + Sync {
    /// The practice whose texting number this is.
    async fn find_practice_by_number(&self, number: &str) -> StoreResult<Option<Practice>>;
    /// Applies a decided change if the state is still `change.expected`.
    async fn change_texting(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        change: TextingChange,
    ) -> StoreResult<TextingChanged>;
    /// Patients whose verification window has closed while still pending (including windows
    /// that closed while the gateway was down), oldest first.
    async fn expired_verifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Patient>>;
}
