//! Texting opt-in changes on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use super::feed::insert_notifications;
use super::messaging::{cancel_queued, insert_outbox};
use super::rows::{PRACTICE_COLUMNS, load_patient, micros, practice_from_row};
use super::{OwnedEvent, SqliteStore, map_err};
use crate::*;

#[async_trait]
impl Texting for SqliteStore {
    async fn find_practice_by_number(&self, number: &str) -> StoreResult<Option<Practice>> {
        let number = number.to_string();
        self.call(move |conn| {
            conn.query_row(
                &format!("SELECT {PRACTICE_COLUMNS} FROM practices WHERE sms_number = ?1"),
                [number],
                practice_from_row,
            )
            .optional()
            .map_err(map_err)
        })
        .await
    }

    async fn change_texting(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        change: TextingChange,
    ) -> StoreResult<TextingChanged> {
        let audit = audit.clone();
        self.write(move |tx| {
            let current = load_patient(tx, patient_id)?;
            if current.texting != change.expected {
                return Err(StoreError::Conflict { constraint: TEXTING_CHANGED.into() });
            }
            if change.needs_texting && !super::conversations::practice_switches(tx, current.practice_id)?.0 {
                return Err(StoreError::Conflict { constraint: TEXTING_DISABLED.into() });
            }
            if let Some(state) = &change.new_state {
                tx.execute(
                    "UPDATE patients SET texting_status = ?2, texting_attempts_left = ?3, texting_expires_at = ?4,
                         texting_updated_at = ?5 WHERE id = ?1",
                    params![
                        patient_id,
                        state.status,
                        state.attempts_left,
                        state.expires_at.map(micros),
                        micros(state.updated_at)
                    ],
                )
                .map_err(map_err)?;
            }
            let (customer_id, practice_number): (Uuid, String) = tx
                .query_row(
                    "SELECT customer_id, sms_number FROM practices WHERE id = ?1",
                    [current.practice_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(map_err)?;
            if let (true, Some(mobile)) = (change.opted_out, &current.mobile_phone) {
                cancel_queued(tx, &practice_number, mobile, audit.at)?;
            }
            let mut enqueued = Vec::with_capacity(change.replies.len());
            for reply in &change.replies {
                enqueued.push(insert_outbox(tx, reply, audit.at)?.id);
            }
            insert_notifications(tx, audit.at, &change.notifications)?;
            OwnedEvent {
                customer_id: Some(customer_id),
                action: change.action,
                target_type: "patient",
                target_id: Some(patient_id.to_string()),
                patient_id: Some(patient_id),
            }
            .write(tx, &audit)?;
            Ok(TextingChanged { patient: load_patient(tx, patient_id)?, enqueued })
        })
        .await
    }

    async fn expired_verifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Patient>> {
        self.call(move |conn| {
            let ids: Vec<Uuid> = {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT id FROM patients
                         WHERE texting_status = 'pending' AND (texting_expires_at IS NULL OR texting_expires_at <= ?1)
                         ORDER BY texting_expires_at IS NOT NULL, texting_expires_at, id LIMIT ?2",
                    )
                    .map_err(map_err)?;
                stmt.query_map(params![micros(now), i64::from(limit)], |r| r.get(0))
                    .map_err(map_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(map_err)?
            };
            ids.into_iter().map(|id| load_patient(conn, id)).collect()
        })
        .await
    }
}
