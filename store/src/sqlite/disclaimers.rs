//! Disclaimers on sqlite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use super::rows::{from_micros, micros};
use super::{OwnedEvent, SqliteStore, map_err};
use crate::*;

fn load(conn: &Connection, practice_id: Uuid) -> StoreResult<PracticeDisclaimers> {
    let (practice_id, care_plan_report, hra_report, updated_at): (
        Uuid,
        String,
        String,
        Option<i64>,
    ) = conn
        .query_row(
            "SELECT p.id, COALESCE(d.care_plan_report, ''), COALESCE(d.hra_report, ''), d.updated_at
             FROM practices p LEFT JOIN practice_disclaimers d ON d.practice_id = p.id
             WHERE p.id = ?1",
            [practice_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .map_err(map_err)?;
    Ok(PracticeDisclaimers {
        practice_id,
        care_plan_report,
        hra_report,
        updated_at: updated_at.map(from_micros).transpose()?,
    })
}

#[async_trait]
impl Disclaimers for SqliteStore {
    async fn practice_disclaimers(&self, practice_id: Uuid) -> StoreResult<PracticeDisclaimers> {
        self.call(move |conn| load(conn, practice_id)).await
    }

    async fn save_practice_disclaimers(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        care_plan_report: String,
        hra_report: String,
    ) -> StoreResult<PracticeDisclaimers> {
        let audit = audit.clone();
        self.write(move |tx| {
            let customer_id: Uuid = tx
                .query_row(
                    "SELECT customer_id FROM practices WHERE id = ?1",
                    [practice_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(map_err)?
                .ok_or(StoreError::NotFound)?;
            tx.execute(
                "INSERT INTO practice_disclaimers (practice_id, care_plan_report, hra_report, updated_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (practice_id) DO UPDATE
                 SET care_plan_report = excluded.care_plan_report, hra_report = excluded.hra_report,
                     updated_at = excluded.updated_at",
                params![practice_id, care_plan_report, hra_report, micros(audit.at)],
            )
            .map_err(map_err)?;
            OwnedEvent {
                customer_id: Some(customer_id),
                action: "practice.disclaimers.update",
                target_type: "practice",
                target_id: Some(practice_id.to_string()),
                patient_id: None,
            }
            .write(tx, &audit)?;
            load(tx, practice_id)
        })
        .await
    }
}
