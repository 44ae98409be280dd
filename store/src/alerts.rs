//! Alerts opened by critical readings and their escalation state. The reading and its alert,
//! with the first notifications and texts, commit together (see [`Readings::record_reading`]);
//! each escalation step commits its notifications and texts with the new step, and only if the
//! alert is still open at the step the caller decided from, so two gateways never take one step
//! twice and an acknowledged alert is never escalated.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::*;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub id: Uuid,
    pub practice_id: Uuid,
    pub patient_id: Uuid,
    pub reading_id: Uuid,
    pub level: String,
    /// `open` or `acknowledged`.
    pub state: String,
    pub code: String,
    pub opened_at: DateTime<Utc>,
    pub step: i32,
    pub next_step_at: DateTime<Utc>,
    pub acknowledged_by: Option<Uuid>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// The open alerts of the whole store, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenAlertStats {
    /// Alerts not yet acknowledged.
    pub open: i64,
    /// When the oldest of those opened.
    pub oldest_opened_at: Option<DateTime<Utc>>,
}

/// An alert to open with a reading, and what goes out at once.
#[derive(Debug, Clone)]
pub struct NewAlert {
    pub level: &'static str,
    pub code: String,
    pub next_step_at: DateTime<Utc>,
    pub notifications: Vec<NewNotification>,
    pub texts: Vec<NewOutbound>,
}

/// One escalation step, decided from the alert at `from_step`.
#[derive(Debug, Clone)]
pub struct EscalationStep {
    pub from_step: i32,
    pub to_step: i32,
    pub next_step_at: DateTime<Utc>,
    pub notifications: Vec<NewNotification>,
    pub texts: Vec<NewOutbound>,
}

#[async_trait]
pub trait Alerts: Send + Sync {
    async fn get_alert(&self, id: Uuid) -> StoreResult<Alert>;
    /// Alerts of these practices, newest first, optionally only in `state`.
    async fn list_alerts(
        &self,
        practice_ids: Vec<Uuid>,
        state: Option<String>,
        page: Page,
    ) -> StoreResult<Paged<Alert>>;
    /// Acknowledges an open alert (an acknowledged one is left as it is) and writes the audit row.
    async fn acknowledge_alert(&self, audit: &Audit, id: Uuid, user_id: Uuid)
    -> StoreResult<Alert>;
    /// The open alert of the practice with this code, if any.
    async fn open_alert_by_code(&self, practice_id: Uuid, code: &str)
    -> StoreResult<Option<Alert>>;
    /// Open alerts whose next step is due, oldest first.
    async fn due_alerts(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Alert>>;
    /// Applies the step if the alert is still open at `step.from_step`; `false` otherwise (someone
    /// acknowledged it, or another gateway took the step).
    async fn escalate(
        &self,
        at: DateTime<Utc>,
        id: Uuid,
        step: EscalationStep,
    ) -> StoreResult<bool>;
    /// Unlocked customer admins of the customer (the last fallback).
    async fn customer_admin_ids(&self, customer_id: Uuid) -> StoreResult<Vec<Uuid>>;
    /// Unlocked users with this mobile number (for "ACK code" replies).
    async fn users_with_mobile(&self, number: &str) -> StoreResult<Vec<User>>;
    /// How many alerts are open in the whole store and when the oldest opened.
    async fn open_alert_stats(&self) -> StoreResult<OpenAlertStats>;
}
