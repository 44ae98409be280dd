//! Patients on postgres.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::{PostgresStore, insert_audit, load_patient, map_err};
use crate::*;

#[async_trait]
impl Patients for PostgresStore {
    async fn create_patient(&self, audit: &Audit, new: NewPatient) -> StoreResult<Patient> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let id = new_id();
        let customer_id: Uuid = tx
            .query_opt(
                "SELECT customer_id FROM practices WHERE id = $1",
                &[&new.practice_id],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?
            .get(0);
        tx.execute(
            "INSERT INTO patients (id, practice_id, first_name, last_name, dob, mobile_phone,
                                   texting_updated_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            &[
                &id,
                &new.practice_id,
                &new.first_name,
                &new.last_name,
                &new.dob,
                &new.mobile_phone,
                &audit.at,
            ],
        )
        .await
        .map_err(map_err)?;
        for program in &new.programs {
            tx.execute(
                "INSERT INTO patient_programs (patient_id, program) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&id, program],
            )
            .await
            .map_err(map_err)?;
        }
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action: "patient.create",
            target_type: "patient",
            target_id: Some(id.to_string()),
            patient_id: Some(id),
        };
        insert_audit(&tx, audit, &event).await?;
        let patient = load_patient(&tx, id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(patient)
    }

    async fn get_patient(&self, audit: &Audit, id: Uuid) -> StoreResult<Patient> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let patient = load_patient(&tx, id).await?;
        let customer_id: Uuid = tx
            .query_one(
                "SELECT customer_id FROM practices WHERE id = $1",
                &[&patient.practice_id],
            )
            .await
            .map_err(map_err)?
            .get(0);
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action: "patient.read",
            target_type: "patient",
            target_id: Some(id.to_string()),
            patient_id: Some(id),
        };
        insert_audit(&tx, audit, &event).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(patient)
    }
}
