//! Patients on sqlite.

use async_trait::async_trait;
use rusqlite::params;
use uuid::Uuid;

use super::rows::*;
use super::{OwnedEvent, SqliteStore, map_err};
use crate::*;

#[async_trait]
impl Patients for SqliteStore {
    async fn create_patient(&self, audit: &Audit, new: NewPatient) -> StoreResult<Patient> {
        let audit = audit.clone();
        self.write(move |tx| {
            let id = new_id();
            let customer_id: Uuid = tx
                .query_row(
                    "SELECT customer_id FROM practices WHERE id = ?1",
                    [new.practice_id],
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            tx.execute(
                "INSERT INTO patients (id, practice_id, first_name, last_name, dob, mobile_phone,
                                       texting_updated_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                params![
                    id,
                    new.practice_id,
                    new.first_name,
                    new.last_name,
                    new.dob.format("%Y-%m-%d").to_string(),
                    new.mobile_phone,
                    micros(audit.at)
                ],
            )
            .map_err(map_err)?;
            for program in &new.programs {
                tx.execute(
                    "INSERT OR IGNORE INTO patient_programs (patient_id, program) VALUES (?1, ?2)",
                    params![id, program],
                )
                .map_err(map_err)?;
            }
            OwnedEvent {
                customer_id: Some(customer_id),
                action: "patient.create",
                target_type: "patient",
                target_id: Some(id.to_string()),
                patient_id: Some(id),
            }
            .write(tx, &audit)?;
            load_patient(tx, id)
        })
        .await
    }

    async fn get_patient(&self, audit: &Audit, id: Uuid) -> StoreResult<Patient> {
        let audit = audit.clone();
        self.write(move |tx| {
            let patient = load_patient(tx, id)?;
            let customer_id: Uuid = tx
                .query_row(
                    "SELECT customer_id FROM practices WHERE id = ?1",
                    [patient.practice_id],
                    |r| r.get(0),
                )
                .map_err(map_err)?;
            OwnedEvent {
                customer_id: Some(customer_id),
                action: "patient.read",
                target_type: "patient",
                target_id: Some(id.to_string()),
                patient_id: Some(id),
            }
            .write(tx, &audit)?;
            Ok(patient)
        })
        .await
    }
}
