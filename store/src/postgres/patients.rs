//! Patients on postgres.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::rows::{PATIENT_COLUMNS, PRACTICE_COLUMNS, patient_from_row, practice_from_row};
use super::{PostgresStore, insert_audit, load_patient, map_err};
use crate::*;

#[async_trait]
impl Patients for PostgresStore {
    async fn create_patient(&self, audit: &Audit, new: NewPatient) -> StoreResult<Patient> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let id = new_id();
        // A share lock: a save of the practice's defaults "for all patients" (which locks the
        // practice row) either sees this patient or is seen by its copies below.
        let customer_id: Uuid = tx
            .query_opt(
                "SELECT customer_id FROM practices WHERE id = $1 FOR SHARE",
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
        // The patient's own copies of the practice's defaults, as they are now.
        tx.execute(
            "INSERT INTO patient_reading_frequency (patient_id, vital, readings, per_days, set_at)
             SELECT $1, vital, readings, per_days, $3 FROM practice_reading_frequency
             WHERE practice_id = $2",
            &[&id, &new.practice_id, &audit.at],
        )
        .await
        .map_err(map_err)?;
        tx.execute(
            "INSERT INTO patient_notification_settings (patient_id, kind, enabled, email, text, updated_at)
             SELECT $1, kind, enabled, email, text, $3 FROM practice_patient_notification_defaults
             WHERE practice_id = $2",
            &[&id, &new.practice_id, &audit.at],
        )
        .await
        .map_err(map_err)?;
        for user_id in &new.care_team {
            super::conversations::assign_care_team(&tx, id, *user_id, audit.at).await?;
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

    async fn update_patient(
        &self,
        audit: &Audit,
        id: Uuid,
        patch: PatientPatch,
    ) -> StoreResult<Patient> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // Row lock: a concurrent texting transition for this patient waits for us.
        tx.query_opt(
            "SELECT id FROM patients WHERE id = $1 FOR NO KEY UPDATE",
            &[&id],
        )
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
        let current = load_patient(&tx, id).await?;
        let mobile_phone = patch
            .mobile_phone
            .clone()
            .unwrap_or(current.mobile_phone.clone());
        let number_changed = mobile_phone != current.mobile_phone;
        // Texting ends before the number changes, so the new number is not checked against the
        // "one texting patient per number" rule as if it were already verified.
        if number_changed
            && current.texting.status != "not_enabled"
            && current.texting.status != "opted_out"
        {
            tx.execute(
                "UPDATE patients SET texting_status = 'not_enabled', texting_attempts_left = 0,
                     texting_expires_at = NULL, texting_updated_at = $2 WHERE id = $1",
                &[&id, &audit.at],
            )
            .await
            .map_err(map_err)?;
        }
        tx.execute(
            "UPDATE patients SET first_name = $2, last_name = $3, dob = $4, mobile_phone = $5 WHERE id = $1",
            &[
                &id,
                patch.first_name.as_ref().unwrap_or(&current.first_name),
                patch.last_name.as_ref().unwrap_or(&current.last_name),
                &patch.dob.unwrap_or(current.dob),
                &mobile_phone,
            ],
        )
        .await
        .map_err(map_err)?;
        if let Some(programs) = &patch.programs {
            tx.execute("DELETE FROM patient_programs WHERE patient_id = $1", &[&id])
                .await
                .map_err(map_err)?;
            for program in programs {
                tx.execute(
                    "INSERT INTO patient_programs (patient_id, program) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&id, program],
                )
                .await
                .map_err(map_err)?;
            }
            // An ended program takes its staff with it; a new one gets only its creators.
            tx.execute(
                "DELETE FROM program_staff WHERE patient_id = $1
                   AND program NOT IN (SELECT program FROM patient_programs WHERE patient_id = $1)",
                &[&id],
            )
            .await
            .map_err(map_err)?;
            for program in programs.iter().filter(|p| !current.programs.contains(p)) {
                for user_id in &patch.new_program_staff {
                    tx.execute(
                        "INSERT INTO program_staff (patient_id, program, user_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        &[&id, program, user_id],
                    )
                    .await
                    .map_err(map_err)?;
                    tx.execute(
                        "INSERT INTO care_team (patient_id, user_id, added_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        &[&id, user_id, &audit.at],
                    )
                    .await
                    .map_err(map_err)?;
                }
            }
        }
        let customer_id = customer_of_practice(&tx, current.practice_id).await?;
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action: "patient.update",
            target_type: "patient",
            target_id: Some(id.to_string()),
            patient_id: Some(id),
        };
        insert_audit(&tx, audit, &event).await?;
        let patient = load_patient(&tx, id).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(patient)
    }

    async fn search_patients(
        &self,
        audit: &Audit,
        search: PatientSearch,
    ) -> StoreResult<Paged<Patient>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let pattern = search.like_prefix();
        let rows = tx
            .query(
                &format!(
                    "SELECT {PATIENT_COLUMNS} FROM patients p
                     WHERE p.practice_id = ANY($1)
                       AND (lower(p.first_name) LIKE $2 ESCAPE '\\' OR lower(p.last_name) LIKE $2 ESCAPE '\\'
                            OR lower(p.first_name || ' ' || p.last_name) LIKE $2 ESCAPE '\\')
                       AND NOT (EXISTS (SELECT 1 FROM patient_programs pp WHERE pp.patient_id = p.id)
                                AND NOT EXISTS (SELECT 1 FROM patient_programs pp
                                                WHERE pp.patient_id = p.id AND NOT (pp.program = ANY($3))))
                       AND ($4::uuid IS NULL OR (lower(p.last_name), lower(p.first_name), p.id) >
                            (SELECT lower(c.last_name), lower(c.first_name), c.id FROM patients c WHERE c.id = $4))
                     ORDER BY lower(p.last_name), lower(p.first_name), p.id
                     LIMIT $5"
                ),
                &[&search.practice_ids, &pattern, &search.restricted_programs, &search.page.after, &search.page.fetch_limit()],
            )
            .await
            .map_err(map_err)?;
        let patients = rows
            .iter()
            .map(patient_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let page = Paged::from_rows(patients, search.page, |p| p.id);
        for patient in &page.items {
            let customer_id = customer_of_practice(&tx, patient.practice_id).await?;
            let event = AuditEvent {
                customer_id: Some(customer_id),
                action: "patient.search_result",
                target_type: "patient",
                target_id: Some(patient.id.to_string()),
                patient_id: Some(patient.id),
            };
            insert_audit(&tx, audit, &event).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(page)
    }

    async fn get_patient_if(
        &self,
        audit: &Audit,
        id: Uuid,
        may_read: PatientReadCheck,
    ) -> StoreResult<Patient> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let patient = load_patient(&tx, id).await?;
        let practice = tx
            .query_one(
                &format!("SELECT {PRACTICE_COLUMNS} FROM practices WHERE id = $1"),
                &[&patient.practice_id],
            )
            .await
            .map_err(map_err)
            .and_then(|row| practice_from_row(&row))?;
        if !may_read(&patient, &practice) {
            return Err(StoreError::NotFound);
        }
        let event = AuditEvent {
            customer_id: Some(practice.customer_id),
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

/// The practice's customer, for audit rows.
async fn customer_of_practice(client: &impl GenericClient, practice_id: Uuid) -> StoreResult<Uuid> {
    Ok(client
        .query_opt(
            "SELECT customer_id FROM practices WHERE id = $1",
            &[&practice_id],
        )
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?
        .get(0))
}

#[async_trait]
impl Templates for PostgresStore {
    async fn template_overrides(&self, practice_id: Uuid) -> StoreResult<Vec<TemplateOverride>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT name, body, updated_at, updated_by FROM practice_templates WHERE practice_id = $1 ORDER BY name",
                &[&practice_id],
            )
            .await
            .map_err(map_err)?;
        Ok(rows
            .iter()
            .map(|r| TemplateOverride {
                name: r.get(0),
                body: r.get(1),
                updated_at: r.get(2),
                updated_by: r.get(3),
            })
            .collect())
    }

    async fn set_template(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        name: &str,
        body: &str,
    ) -> StoreResult<TemplateOverride> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let customer_id = customer_of_practice(&tx, practice_id).await?;
        tx.execute(
            "INSERT INTO practice_templates (practice_id, name, body, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (practice_id, name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at,
                 updated_by = excluded.updated_by",
            &[&practice_id, &name, &body, &audit.at, &audit.user_id],
        )
        .await
        .map_err(map_err)?;
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action: "template.set",
            target_type: "practice",
            target_id: Some(format!("{practice_id}/{name}")),
            patient_id: None,
        };
        insert_audit(&tx, audit, &event).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(TemplateOverride {
            name: name.to_string(),
            body: body.to_string(),
            updated_at: audit.at,
            updated_by: audit.user_id,
        })
    }

    async fn reset_template(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        name: &str,
    ) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let customer_id = customer_of_practice(&tx, practice_id).await?;
        tx.execute(
            "DELETE FROM practice_templates WHERE practice_id = $1 AND name = $2",
            &[&practice_id, &name],
        )
        .await
        .map_err(map_err)?;
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action: "template.reset",
            target_type: "practice",
            target_id: Some(format!("{practice_id}/{name}")),
            patient_id: None,
        };
        insert_audit(&tx, audit, &event).await?;
        tx.commit().await.map_err(map_err)
    }
}
