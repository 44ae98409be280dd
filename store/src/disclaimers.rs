//! Report disclaimers of a practice: the texts printed on its care plan and HRA reports.
//!
//! The store keeps what it is given (the gateway checks lengths; the schema refuses more than
//! 4000 characters as a last line of defence) and must never log the texts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::*;

/// A practice's disclaimers; empty strings when none were saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PracticeDisclaimers {
    pub practice_id: Uuid,
    pub care_plan_report: String,
    pub hra_report: String,
    /// When they were last saved; `None` when never.
    pub updated_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait Disclaimers: Send + Sync {
    /// The practice's disclaimers (empty when never saved). `NotFound` when the practice does
    /// not exist.
    async fn practice_disclaimers(&self, practice_id: Uuid) -> StoreResult<PracticeDisclaimers>;

    /// Replaces both disclaimers, with the audit row (`practice.disclaimers.update`).
    async fn save_practice_disclaimers(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        care_plan_report: String,
        hra_report: String,
    ) -> StoreResult<PracticeDisclaimers>;
}
