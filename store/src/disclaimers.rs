//! Report disclaimers of a practice: the texts printed on its care plan and HRA reports.
//!
//! The store keeps what it is given (the gateway checks lengths; the schema refuses more than
//! 4000 characters as a last line of defence) and must never log the texts.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::readings::practice_customer;
use crate::rows::{event, insert_audit};
use crate::sql::{Db, ToArg, Tx};
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

async fn load(tx: &Tx<'_>, practice_id: Uuid) -> StoreResult<PracticeDisclaimers> {
    let row = tx
        .query_one(
            "SELECT p.id, COALESCE(d.care_plan_report, ''), COALESCE(d.hra_report, ''), d.updated_at
             FROM practices p LEFT JOIN practice_disclaimers d ON d.practice_id = p.id
             WHERE p.id = $1",
            &[practice_id.arg()],
        )
        .await?;
    Ok(PracticeDisclaimers {
        practice_id: row.get(0)?,
        care_plan_report: row.get(1)?,
        hra_report: row.get(2)?,
        updated_at: row.get(3)?,
    })
}

#[async_trait]
impl<D: Db> Disclaimers for D {
    async fn practice_disclaimers(&self, practice_id: Uuid) -> StoreResult<PracticeDisclaimers> {
        self.autocommit(move |tx| Box::pin(load(tx, practice_id)))
            .await
    }

    async fn save_practice_disclaimers(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        care_plan_report: String,
        hra_report: String,
    ) -> StoreResult<PracticeDisclaimers> {
        let audit = audit.clone();
        self.transaction(move |tx| {
            Box::pin(async move {
                let customer_id = practice_customer(tx, practice_id, false).await?;
                tx.execute(
                    "INSERT INTO practice_disclaimers (practice_id, care_plan_report, hra_report, updated_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (practice_id) DO UPDATE
                     SET care_plan_report = excluded.care_plan_report,
                         hra_report = excluded.hra_report, updated_at = excluded.updated_at",
                    &[
                        practice_id.arg(),
                        care_plan_report.arg(),
                        hra_report.arg(),
                        audit.at.arg(),
                    ],
                )
                .await?;
                let event = event(Some(customer_id), "practice.disclaimers.update", "practice", practice_id);
                insert_audit(tx, &audit, &event).await?;
                load(tx, practice_id).await
            })
        })
        .await
    }
}
