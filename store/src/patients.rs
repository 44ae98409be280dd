//! Patients: demographics, programs and the stored texting opt-in state.

use async_trait::async_trait;
use types::TextingStatus;
use uuid::Uuid;

use crate::rows::{
    PRACTICE_COLUMNS, insert_audit, load_patient, load_practice, patient_event, patients_where,
    practice_from_row, visible_despite_programs,
};
use crate::sql::{Db, ToArg, Tx};
use crate::*;

#[async_trait]
pub trait Patients: Send + Sync {
    async fn create_patient(&self, audit: &Audit, new: NewPatient) -> StoreResult<Patient>;
    async fn update_patient(
        &self,
        audit: &Audit,
        id: Uuid,
        patch: PatientPatch,
    ) -> StoreResult<Patient>;
    /// Patients of the given practices whose name starts with the query, by last then first
    /// name; the search is audited as one read.
    async fn search_patients(
        &self,
        audit: &Audit,
        search: PatientSearch,
    ) -> StoreResult<Paged<Patient>>;
    /// Reads a patient and records the read in the audit log.
    async fn get_patient(&self, audit: &Audit, id: Uuid) -> StoreResult<Patient> {
        self.get_patient_if(audit, id, Box::new(|_, _| true)).await
    }
    /// Reads a patient and, when `may_read(patient, its practice)` allows the reader, records the
    /// read in the audit log; otherwise `NotFound` and no audit row, so a read refused by tenancy
    /// or role leaves nothing in another tenant's log.
    async fn get_patient_if(
        &self,
        audit: &Audit,
        id: Uuid,
        may_read: PatientReadCheck,
    ) -> StoreResult<Patient>;
    /// A patient and its practice, read to decide whether a caller may write for the patient
    /// (an integration posting a reading) and to prepare the write. Not audited: nothing of it
    /// goes to the caller, and the write it comes before is audited with it. `NotFound` when
    /// there is no such patient.
    async fn patient_for_write(&self, id: Uuid) -> StoreResult<(Patient, Practice)>;
}

/// Whether the reader may see this patient of this practice (the caller's access rule).
pub type PatientReadCheck = Box<dyn FnOnce(&Patient, &Practice) -> bool + Send>;

/// Per-practice template overrides.
#[async_trait]
pub trait Templates: Send + Sync {
    async fn template_overrides(&self, practice_id: Uuid) -> StoreResult<Vec<TemplateOverride>>;
    async fn set_template(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        name: &str,
        body: &str,
    ) -> StoreResult<TemplateOverride>;
    /// Returns to the default text.
    async fn reset_template(&self, audit: &Audit, practice_id: Uuid, name: &str)
    -> StoreResult<()>;
}

#[async_trait]
impl<D: Db> Patients for D {
    async fn create_patient(&self, audit: &Audit, new: NewPatient) -> StoreResult<Patient> {
        let audit = audit.clone();
        self.transaction(move |tx| Box::pin(create_patient(tx, audit, new)))
            .await
    }

    async fn update_patient(
        &self,
        audit: &Audit,
        id: Uuid,
        patch: PatientPatch,
    ) -> StoreResult<Patient> {
        let audit = audit.clone();
        self.transaction(move |tx| Box::pin(update_patient(tx, audit, id, patch)))
            .await
    }

    async fn search_patients(
        &self,
        audit: &Audit,
        search: PatientSearch,
    ) -> StoreResult<Paged<Patient>> {
        let audit = audit.clone();
        self.transaction(move |tx| Box::pin(search_patients(tx, audit, search)))
            .await
    }

    async fn get_patient_if(
        &self,
        audit: &Audit,
        id: Uuid,
        may_read: PatientReadCheck,
    ) -> StoreResult<Patient> {
        let audit = audit.clone();
        self.transaction(move |tx| {
            Box::pin(async move {
                let patient = load_patient(tx, id).await?;
                let sql = format!("SELECT {PRACTICE_COLUMNS} FROM practices WHERE id = $1");
                let row = tx.query_one(&sql, &[patient.practice_id.arg()]).await?;
                let practice = practice_from_row(&row)?;
                if !may_read(&patient, &practice) {
                    return Err(StoreError::NotFound);
                }
                let event = patient_event(practice.customer_id, "patient.read", id);
                insert_audit(tx, &audit, &event).await?;
                Ok(patient)
            })
        })
        .await
    }

    async fn patient_for_write(&self, id: Uuid) -> StoreResult<(Patient, Practice)> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                // Both in one round trip (pipelined on PostgreSQL); each statement reads its own
                // snapshot, so a practice that is not the patient's (the patient moved in
                // between) is read again.
                let practice_of_patient = format!(
                    "SELECT {PRACTICE_COLUMNS} FROM practices
                     WHERE id = (SELECT practice_id FROM patients WHERE id = $1)"
                );
                let args = [id.arg()];
                let (patient, row) = tokio::try_join!(
                    load_patient(tx, id),
                    tx.query_one(&practice_of_patient, &args)
                )?;
                let mut practice = practice_from_row(&row)?;
                if practice.id != patient.practice_id {
                    practice = load_practice(tx, patient.practice_id).await?;
                }
                Ok((patient, practice))
            })
        })
        .await
    }
}

async fn create_patient(tx: &Tx<'_>, audit: Audit, new: NewPatient) -> StoreResult<Patient> {
    let id = new_id();
    // A share lock (PostgreSQL): a save of the practice's defaults "for all patients" (which
    // locks the practice row) either sees this patient or is seen by its copies below.
    let sql = tx.pick(
        "SELECT customer_id FROM practices WHERE id = $1 FOR SHARE",
        "SELECT customer_id FROM practices WHERE id = $1",
    );
    let customer_id: Uuid = tx.query_one(sql, &[new.practice_id.arg()]).await?.get(0)?;
    tx.execute(
        "INSERT INTO patients (id, practice_id, first_name, last_name, dob, mobile_phone,
                               texting_updated_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        &[
            id.arg(),
            new.practice_id.arg(),
            new.first_name.arg(),
            new.last_name.arg(),
            new.dob.arg(),
            new.mobile_phone.arg(),
            audit.at.arg(),
        ],
    )
    .await?;
    insert_programs(tx, id, &new.programs).await?;
    // The patient's own copies of the practice's defaults, as they are now.
    let args = [id.arg(), new.practice_id.arg(), audit.at.arg()];
    tx.execute(
        "INSERT INTO patient_reading_frequency (patient_id, vital, readings, per_days, set_at)
         SELECT $1, vital, readings, per_days, $3 FROM practice_reading_frequency
         WHERE practice_id = $2",
        &args,
    )
    .await?;
    tx.execute(
        "INSERT INTO patient_notification_settings (patient_id, kind, enabled, email, text, updated_at)
         SELECT $1, kind, enabled, email, text, $3 FROM practice_patient_notification_defaults
         WHERE practice_id = $2",
        &args,
    )
    .await?;
    for user_id in &new.care_team {
        crate::conversations::assign_care_team(tx, id, *user_id, audit.at).await?;
    }
    let event = patient_event(customer_id, "patient.create", id);
    insert_audit(tx, &audit, &event).await?;
    load_patient(tx, id).await
}

async fn insert_programs(tx: &Tx<'_>, id: Uuid, programs: &[String]) -> StoreResult<()> {
    for program in programs {
        tx.execute(
            "INSERT INTO patient_programs (patient_id, program) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[id.arg(), program.arg()],
        )
        .await?;
    }
    Ok(())
}

async fn update_patient(
    tx: &Tx<'_>,
    audit: Audit,
    id: Uuid,
    patch: PatientPatch,
) -> StoreResult<Patient> {
    // Row lock (PostgreSQL): a concurrent texting transition for this patient waits for us.
    let sql = tx.pick(
        "SELECT id FROM patients WHERE id = $1 FOR NO KEY UPDATE",
        "SELECT id FROM patients WHERE id = $1",
    );
    tx.query_one(sql, &[id.arg()]).await?;
    let current = load_patient(tx, id).await?;
    let mobile_phone = patch
        .mobile_phone
        .clone()
        .unwrap_or(current.mobile_phone.clone());
    // Texting ends before the number changes, so the new number is not checked against the
    // "one texting patient per number" rule as if it were already verified.
    if mobile_phone != current.mobile_phone
        && !matches!(
            current.texting.status,
            TextingStatus::NotEnabled | TextingStatus::OptedOut
        )
    {
        tx.execute(
            "UPDATE patients SET texting_status = 'not_enabled', texting_attempts_left = 0,
                 texting_expires_at = NULL, texting_updated_at = $2 WHERE id = $1",
            &[id.arg(), audit.at.arg()],
        )
        .await?;
    }
    tx.execute(
        "UPDATE patients SET first_name = $2, last_name = $3, dob = $4, mobile_phone = $5 WHERE id = $1",
        &[
            id.arg(),
            patch.first_name.as_ref().unwrap_or(&current.first_name).arg(),
            patch.last_name.as_ref().unwrap_or(&current.last_name).arg(),
            patch.dob.unwrap_or(current.dob).arg(),
            mobile_phone.arg(),
        ],
    )
    .await?;
    if let Some(programs) = &patch.programs {
        let sql = "DELETE FROM patient_programs WHERE patient_id = $1";
        tx.execute(sql, &[id.arg()]).await?;
        insert_programs(tx, id, programs).await?;
        // An ended program takes its staff with it; a new one gets only its creators.
        tx.execute(
            "DELETE FROM program_staff WHERE patient_id = $1
               AND program NOT IN (SELECT program FROM patient_programs WHERE patient_id = $1)",
            &[id.arg()],
        )
        .await?;
        for program in programs.iter().filter(|p| !current.programs.contains(p)) {
            for user_id in &patch.new_program_staff {
                tx.execute(
                    "INSERT INTO program_staff (patient_id, program, user_id) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[id.arg(), program.arg(), user_id.arg()],
                )
                .await?;
                tx.execute(
                    "INSERT INTO care_team (patient_id, user_id, added_at) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[id.arg(), user_id.arg(), audit.at.arg()],
                )
                .await?;
            }
        }
    }
    let event = AuditEvent {
        customer_id: Some(customer_of_practice(tx, current.practice_id).await?),
        action: "patient.update",
        target_type: "patient",
        target_id: Some(id.to_string()),
        patient_id: Some(id),
    };
    insert_audit(tx, &audit, &event).await?;
    load_patient(tx, id).await
}

async fn search_patients(
    tx: &Tx<'_>,
    audit: Audit,
    search: PatientSearch,
) -> StoreResult<Paged<Patient>> {
    if search.practice_ids.is_empty() {
        return Ok(Paged {
            items: Vec::new(),
            next_cursor: None,
        });
    }
    let pattern = search.like_prefix();
    let limit = search.page.fetch_limit();
    let mut args = Vec::new();
    let practices = tx.in_list(&search.practice_ids, &mut args);
    args.push(pattern.arg());
    let p = args.len();
    let restriction = visible_despite_programs(tx, "p.id", &search.restricted_programs, &mut args);
    let after = match &search.page.after {
        Some(cursor) => {
            args.push(cursor.arg());
            format!(
                "AND (lower(p.last_name), lower(p.first_name), p.id) >
                     (SELECT lower(c.last_name), lower(c.first_name), c.id FROM patients c WHERE c.id = ${})",
                args.len()
            )
        }
        None => String::new(),
    };
    args.push(limit.arg());
    let filter = format!(
        "WHERE p.practice_id {practices}
           AND (lower(p.first_name) LIKE ${p} ESCAPE '\\' OR lower(p.last_name) LIKE ${p} ESCAPE '\\'
                OR lower(p.first_name || ' ' || p.last_name) LIKE ${p} ESCAPE '\\')
           {restriction}
           {after}
         ORDER BY lower(p.last_name), lower(p.first_name), p.id
         LIMIT ${}",
        args.len()
    );
    let patients = patients_where(tx, &filter, &args).await?;
    let page = Paged::from_rows(patients, search.page, |p| p.id);
    for patient in &page.items {
        let event = AuditEvent {
            customer_id: Some(customer_of_practice(tx, patient.practice_id).await?),
            action: "patient.search_result",
            target_type: "patient",
            target_id: Some(patient.id.to_string()),
            patient_id: Some(patient.id),
        };
        insert_audit(tx, &audit, &event).await?;
    }
    Ok(page)
}

/// The practice's customer, for audit rows; `NotFound` when there is no such practice.
async fn customer_of_practice(tx: &Tx<'_>, practice_id: Uuid) -> StoreResult<Uuid> {
    let sql = "SELECT customer_id FROM practices WHERE id = $1";
    tx.query_one(sql, &[practice_id.arg()]).await?.get(0)
}

#[async_trait]
impl<D: Db> Templates for D {
    async fn template_overrides(&self, practice_id: Uuid) -> StoreResult<Vec<TemplateOverride>> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                let rows = tx
                    .query(
                        "SELECT name, body, updated_at, updated_by FROM practice_templates
                         WHERE practice_id = $1 ORDER BY name",
                        &[practice_id.arg()],
                    )
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(TemplateOverride {
                            name: r.get(0)?,
                            body: r.get(1)?,
                            updated_at: r.get(2)?,
                            updated_by: r.get(3)?,
                        })
                    })
                    .collect()
            })
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
        self.transaction(move |tx| {
            Box::pin(async move {
                let customer_id = customer_of_practice(tx, practice_id).await?;
                tx.execute(
                    "INSERT INTO practice_templates (practice_id, name, body, updated_at, updated_by)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (practice_id, name) DO UPDATE SET body = excluded.body,
                         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                    &[
                        practice_id.arg(),
                        name.arg(),
                        body.arg(),
                        audit.at.arg(),
                        audit.user_id.arg(),
                    ],
                )
                .await?;
                let event = AuditEvent {
                    customer_id: Some(customer_id),
                    action: "template.set",
                    target_type: "practice",
                    target_id: Some(format!("{practice_id}/{name}")),
                    patient_id: None,
                };
                insert_audit(tx, &audit, &event).await?;
                Ok(TemplateOverride {
                    name,
                    body,
                    updated_at: audit.at,
                    updated_by: audit.user_id,
                })
            })
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
        self.transaction(move |tx| {
            Box::pin(async move {
                let customer_id = customer_of_practice(tx, practice_id).await?;
                tx.execute(
                    "DELETE FROM practice_templates WHERE practice_id = $1 AND name = $2",
                    &[practice_id.arg(), name.arg()],
                )
                .await?;
                let event = AuditEvent {
                    customer_id: Some(customer_id),
                    action: "template.reset",
                    target_type: "practice",
                    target_id: Some(format!("{practice_id}/{name}")),
                    patient_id: None,
                };
                insert_audit(tx, &audit, &event).await
            })
        })
        .await
    }
}
