//! Patients on sqlite.

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter};
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
            // The patient's own copies of the practice's defaults, as they are now.
            tx.execute(
                "INSERT INTO patient_reading_frequency (patient_id, vital, readings, per_days, set_at)
                 SELECT ?1, vital, readings, per_days, ?3 FROM practice_reading_frequency
                 WHERE practice_id = ?2",
                params![id, new.practice_id, micros(audit.at)],
            )
            .map_err(map_err)?;
            tx.execute(
                "INSERT INTO patient_notification_settings (patient_id, kind, enabled, email, text, updated_at)
                 SELECT ?1, kind, enabled, email, text, ?3 FROM practice_patient_notification_defaults
                 WHERE practice_id = ?2",
                params![id, new.practice_id, micros(audit.at)],
            )
            .map_err(map_err)?;
            for user_id in &new.care_team {
                super::conversations::assign_care_team(tx, id, *user_id, audit.at)?;
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

    async fn update_patient(
        &self,
        audit: &Audit,
        id: Uuid,
        patch: PatientPatch,
    ) -> StoreResult<Patient> {
        let audit = audit.clone();
        self.write(move |tx| {
            let current = load_patient(tx, id)?;
            let mobile_phone = patch.mobile_phone.clone().unwrap_or(current.mobile_phone.clone());
            // Texting ends before the number changes, so the new number is not checked against
            // the "one texting patient per number" rule as if it were already verified.
            if mobile_phone != current.mobile_phone
                && current.texting.status != "not_enabled"
                && current.texting.status != "opted_out"
            {
                tx.execute(
                    "UPDATE patients SET texting_status = 'not_enabled', texting_attempts_left = 0,
                         texting_expires_at = NULL, texting_updated_at = ?2 WHERE id = ?1",
                    params![id, micros(audit.at)],
                )
                .map_err(map_err)?;
            }
            tx.execute(
                "UPDATE patients SET first_name = ?2, last_name = ?3, dob = ?4, mobile_phone = ?5 WHERE id = ?1",
                params![
                    id,
                    patch.first_name.as_ref().unwrap_or(&current.first_name),
                    patch.last_name.as_ref().unwrap_or(&current.last_name),
                    patch.dob.unwrap_or(current.dob).format("%Y-%m-%d").to_string(),
                    mobile_phone,
                ],
            )
            .map_err(map_err)?;
            if let Some(programs) = &patch.programs {
                tx.execute("DELETE FROM patient_programs WHERE patient_id = ?1", [id]).map_err(map_err)?;
                for program in programs {
                    tx.execute(
                        "INSERT OR IGNORE INTO patient_programs (patient_id, program) VALUES (?1, ?2)",
                        params![id, program],
                    )
                    .map_err(map_err)?;
                }
                // An ended program takes its staff with it; a new one gets only its creators.
                tx.execute(
                    "DELETE FROM program_staff WHERE patient_id = ?1
                       AND program NOT IN (SELECT program FROM patient_programs WHERE patient_id = ?1)",
                    [id],
                )
                .map_err(map_err)?;
                for program in programs.iter().filter(|p| !current.programs.contains(p)) {
                    for user_id in &patch.new_program_staff {
                        tx.execute(
                            "INSERT OR IGNORE INTO program_staff (patient_id, program, user_id) VALUES (?1, ?2, ?3)",
                            params![id, program, user_id],
                        )
                        .map_err(map_err)?;
                        tx.execute(
                            "INSERT OR IGNORE INTO care_team (patient_id, user_id, added_at) VALUES (?1, ?2, ?3)",
                            params![id, user_id, micros(audit.at)],
                        )
                        .map_err(map_err)?;
                    }
                }
            }
            OwnedEvent {
                customer_id: Some(customer_of_practice(tx, current.practice_id)?),
                action: "patient.update",
                target_type: "patient",
                target_id: Some(id.to_string()),
                patient_id: Some(id),
            }
            .write(tx, &audit)?;
            load_patient(tx, id)
        })
        .await
    }

    async fn search_patients(
        &self,
        audit: &Audit,
        search: PatientSearch,
    ) -> StoreResult<Paged<Patient>> {
        let audit = audit.clone();
        self.write(move |tx| {
            if search.practice_ids.is_empty() {
                return Ok(Paged { items: Vec::new(), next_cursor: None });
            }
            let mut values: Vec<Value> = Vec::new();
            let practices = placeholders(&mut values, search.practice_ids.iter().map(|id| Value::Blob(id.as_bytes().to_vec())));
            values.push(Value::Text(search.like_prefix()));
            let pattern = values.len();
            // No restrictions: nobody is hidden (an empty `NOT IN ()` list is not valid SQLite,
            // and `NOT IN (NULL)` is never true, which would hide every patient with a program).
            let restriction = if search.restricted_programs.is_empty() {
                String::new()
            } else {
                let list = placeholders(&mut values, search.restricted_programs.iter().map(|p| Value::Text(p.clone())));
                format!(
                    "AND NOT (EXISTS (SELECT 1 FROM patient_programs pp WHERE pp.patient_id = p.id)
                              AND NOT EXISTS (SELECT 1 FROM patient_programs pp
                                              WHERE pp.patient_id = p.id AND pp.program NOT IN {list}))"
                )
            };
            let after = match search.page.after {
                Some(cursor) => {
                    values.push(Value::Blob(cursor.as_bytes().to_vec()));
                    format!(
                        "AND (lower(p.last_name), lower(p.first_name), p.id) >
                             (SELECT lower(c.last_name), lower(c.first_name), c.id FROM patients c WHERE c.id = ?{})",
                        values.len()
                    )
                }
                None => String::new(),
            };
            values.push(Value::Integer(search.page.fetch_limit()));
            let limit = values.len();
            let sql = format!(
                "SELECT p.id FROM patients p
                 WHERE p.practice_id IN {practices}
                   AND (lower(p.first_name) LIKE ?{pattern} ESCAPE '\\' OR lower(p.last_name) LIKE ?{pattern} ESCAPE '\\'
                        OR lower(p.first_name || ' ' || p.last_name) LIKE ?{pattern} ESCAPE '\\')
                   {restriction}
                   {after}
                 ORDER BY lower(p.last_name), lower(p.first_name), p.id
                 LIMIT ?{limit}"
            );
            let ids: Vec<Uuid> = {
                let mut stmt = tx.prepare(&sql).map_err(map_err)?;
                stmt.query_map(params_from_iter(values), |r| r.get(0))
                    .map_err(map_err)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(map_err)?
            };
            let patients = ids.into_iter().map(|id| load_patient(tx, id)).collect::<StoreResult<Vec<_>>>()?;
            let page = Paged::from_rows(patients, search.page, |p| p.id);
            for patient in &page.items {
                OwnedEvent {
                    customer_id: Some(customer_of_practice(tx, patient.practice_id)?),
                    action: "patient.search_result",
                    target_type: "patient",
                    target_id: Some(patient.id.to_string()),
                    patient_id: Some(patient.id),
                }
                .write(tx, &audit)?;
            }
            Ok(page)
        })
        .await
    }

    async fn get_patient_if(
        &self,
        audit: &Audit,
        id: Uuid,
        may_read: PatientReadCheck,
    ) -> StoreResult<Patient> {
        let audit = audit.clone();
        self.write(move |tx| {
            let patient = load_patient(tx, id)?;
            let practice = tx
                .query_row(
                    &format!("SELECT {PRACTICE_COLUMNS} FROM practices WHERE id = ?1"),
                    [patient.practice_id],
                    practice_from_row,
                )
                .map_err(map_err)?;
            if !may_read(&patient, &practice) {
                return Err(StoreError::NotFound);
            }
            OwnedEvent {
                customer_id: Some(practice.customer_id),
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

/// Appends `items` to `values` and returns their numbered placeholders, e.g. `(?3, ?4)`.
fn placeholders(values: &mut Vec<Value>, items: impl Iterator<Item = Value>) -> String {
    let mut numbers = Vec::new();
    for item in items {
        values.push(item);
        numbers.push(format!("?{}", values.len()));
    }
    format!("({})", numbers.join(", "))
}

fn customer_of_practice(conn: &rusqlite::Connection, practice_id: Uuid) -> StoreResult<Uuid> {
    conn.query_row(
        "SELECT customer_id FROM practices WHERE id = ?1",
        [practice_id],
        |r| r.get(0),
    )
    .map_err(map_err)
}

#[async_trait]
impl Templates for SqliteStore {
    async fn template_overrides(&self, practice_id: Uuid) -> StoreResult<Vec<TemplateOverride>> {
        self.call(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT name, body, updated_at, updated_by FROM practice_templates WHERE practice_id = ?1 ORDER BY name",
                )
                .map_err(map_err)?;
            let rows = stmt
                .query_map([practice_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, r.get(3)?)))
                .map_err(map_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(map_err)?;
            rows.into_iter()
                .map(|(name, body, at, updated_by)| {
                    Ok(TemplateOverride { name, body, updated_at: from_micros(at)?, updated_by })
                })
                .collect()
        })
        .await
    }

    async fn set_template(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        name: &str,
        body: &str,
    ) -> StoreResult<TemplateOverride> {
        let audit = audit.clone();
        let (name, body) = (name.to_string(), body.to_string());
        self.write(move |tx| {
            let customer_id = customer_of_practice(tx, practice_id)?;
            tx.execute(
                "INSERT INTO practice_templates (practice_id, name, body, updated_at, updated_by) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (practice_id, name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at,
                     updated_by = excluded.updated_by",
                params![practice_id, name, body, micros(audit.at), audit.user_id],
            )
            .map_err(map_err)?;
            OwnedEvent {
                customer_id: Some(customer_id),
                action: "template.set",
                target_type: "practice",
                target_id: Some(format!("{practice_id}/{name}")),
                patient_id: None,
            }
            .write(tx, &audit)?;
            Ok(TemplateOverride { name, body, updated_at: audit.at, updated_by: audit.user_id })
        })
        .await
    }

    async fn reset_template(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        name: &str,
    ) -> StoreResult<()> {
        let audit = audit.clone();
        let name = name.to_string();
        self.write(move |tx| {
            let customer_id = customer_of_practice(tx, practice_id)?;
            tx.execute(
                "DELETE FROM practice_templates WHERE practice_id = ?1 AND name = ?2",
                params![practice_id, name],
            )
            .map_err(map_err)?;
            OwnedEvent {
                customer_id: Some(customer_id),
                action: "template.reset",
                target_type: "practice",
                target_id: Some(format!("{practice_id}/{name}")),
                patient_id: None,
            }
            .write(tx, &audit)
        })
        .await
    }
}
