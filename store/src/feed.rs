//! The in-app notification feed: one row per user per thing to look at. Other aggregates add
//! rows inside their own transactions (the backends' crate-private `insert_notification`), so
//! a notification exists exactly when the change that caused it does.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::*;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    pub id: Uuid,
    pub user_id: Uuid,
    pub practice_id: Uuid,
    pub patient_id: Option<Uuid>,
    /// One of the notification kinds (`two_way_texting`, `new_patient_message`, …).
    pub kind: String,
    /// What happened, without message bodies or clinical detail.
    pub summary: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewNotification {
    pub user_id: Uuid,
    pub practice_id: Uuid,
    pub patient_id: Option<Uuid>,
    pub kind: String,
    pub summary: String,
}

#[async_trait]
pub trait Feed: Send + Sync {
    /// The user's notifications, newest first.
    async fn list_notifications(
        &self,
        user_id: Uuid,
        page: Page,
    ) -> StoreResult<Paged<Notification>>;
    /// Adds notifications outside any other change (tests, workers).
    async fn add_notifications(
        &self,
        at: DateTime<Utc>,
        new: Vec<NewNotification>,
    ) -> StoreResult<Vec<Uuid>>;
}
