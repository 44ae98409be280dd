//! Patients: demographics, programs and the stored texting opt-in state.

use async_trait::async_trait;
use uuid::Uuid;

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
