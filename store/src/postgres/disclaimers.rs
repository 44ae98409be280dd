//! Disclaimers on postgres.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::{PostgresStore, insert_audit, map_err};
use crate::*;

async fn load(client: &impl GenericClient, practice_id: Uuid) -> StoreResult<PracticeDisclaimers> {
    let row = client
        .query_opt(
            "SELECT p.id, COALESCE(d.care_plan_report, ''), COALESCE(d.hra_report, ''), d.updated_at
             FROM practices p LEFT JOIN practice_disclaimers d ON d.practice_id = p.id
             WHERE p.id = $1",
            &[&practice_id],
        )
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    Ok(PracticeDisclaimers {
        practice_id: row.get(0),
        care_plan_report: row.get(1),
        hra_report: row.get(2),
        updated_at: row.get(3),
    })
}

#[async_trait]
impl Disclaimers for PostgresStore {
    async fn practice_disclaimers(&self, practice_id: Uuid) -> StoreResult<PracticeDisclaimers> {
        let client = self.client().await?;
        load(&client, practice_id).await
    }

    async fn save_practice_disclaimers(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        care_plan_report: String,
        hra_report: String,
    ) -> StoreResult<PracticeDisclaimers> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let customer_id: Uuid = tx
            .query_opt(
                "SELECT customer_id FROM practices WHERE id = $1",
                &[&practice_id],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?
            .get(0);
        tx.execute(
            "INSERT INTO practice_disclaimers (practice_id, care_plan_report, hra_report, updated_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (practice_id) DO UPDATE
             SET care_plan_report = EXCLUDED.care_plan_report, hra_report = EXCLUDED.hra_report,
                 updated_at = EXCLUDED.updated_at",
            &[&practice_id, &care_plan_report, &hra_report, &audit.at],
        )
        .await
        .map_err(map_err)?;
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action: "practice.disclaimers.update",
            target_type: "practice",
            target_id: Some(practice_id.to_string()),
            patient_id: None,
        };
        insert_audit(&tx, audit, &event).await?;
        let saved = load(&tx, practice_id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(saved)
    }
}
