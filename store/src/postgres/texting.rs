//! Texting opt-in changes on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::feed::insert_notifications;
use super::messaging::{cancel_queued, insert_outbox};
use super::rows::{PATIENT_COLUMNS, PRACTICE_COLUMNS, patient_from_row, practice_from_row};
use super::{PostgresStore, insert_audit, load_patient, map_err};
use crate::*;

#[async_trait]
impl Texting for PostgresStore {
    async fn find_practice_by_number(&self, number: &str) -> StoreResult<Option<Practice>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {PRACTICE_COLUMNS} FROM practices WHERE sms_number = $1"),
                &[&number],
            )
            .await
            .map_err(map_err)?;
        row.map(|r| practice_from_row(&r)).transpose()
    }

    async fn change_texting(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        change: TextingChange,
    ) -> StoreResult<TextingChanged> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // The row lock orders this change after any concurrent inbound text of the patient.
        tx.query_opt(
            "SELECT id FROM patients WHERE id = $1 FOR NO KEY UPDATE",
            &[&patient_id],
        )
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        let current = load_patient(&tx, patient_id).await?;
        if current.texting != change.expected {
            return Err(StoreError::Conflict {
                constraint: TEXTING_CHANGED.into(),
            });
        }
        if change.needs_texting
            && !super::conversations::practice_switches(&tx, current.practice_id)
                .await?
                .0
        {
            return Err(StoreError::Conflict {
                constraint: TEXTING_DISABLED.into(),
            });
        }
        if let Some(state) = &change.new_state {
            tx.execute(
                "UPDATE patients SET texting_status = $2, texting_attempts_left = $3, texting_expires_at = $4,
                     texting_updated_at = $5 WHERE id = $1",
                &[&patient_id, &state.status, &state.attempts_left, &state.expires_at, &state.updated_at],
            )
            .await
            .map_err(map_err)?;
        }
        let practice = tx
            .query_one(
                "SELECT customer_id, sms_number FROM practices WHERE id = $1",
                &[&current.practice_id],
            )
            .await
            .map_err(map_err)?;
        let (customer_id, practice_number): (Uuid, String) = (practice.get(0), practice.get(1));
        if let (true, Some(mobile)) = (change.opted_out, &current.mobile_phone) {
            cancel_queued(&tx, &practice_number, mobile, audit.at).await?;
        }
        let mut enqueued = Vec::with_capacity(change.replies.len());
        for reply in &change.replies {
            enqueued.push(insert_outbox(&tx, reply, audit.at).await?.id);
        }
        insert_notifications(&tx, audit.at, &change.notifications).await?;
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action: change.action,
            target_type: "patient",
            target_id: Some(patient_id.to_string()),
            patient_id: Some(patient_id),
        };
        insert_audit(&tx, audit, &event).await?;
        let patient = load_patient(&tx, patient_id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(TextingChanged { patient, enqueued })
    }

    async fn expired_verifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Patient>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {PATIENT_COLUMNS} FROM patients p
                     WHERE p.texting_status = 'pending' AND (p.texting_expires_at IS NULL OR p.texting_expires_at <= $1)
                     ORDER BY p.texting_expires_at NULLS FIRST, p.id LIMIT $2"
                ),
                &[&now, &i64::from(limit)],
            )
            .await
            .map_err(map_err)?;
        rows.iter().map(patient_from_row).collect()
    }
}
