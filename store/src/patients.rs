//! Patients: demographics, programs and the stored texting opt-in state.

use async_trait::async_trait;
use uuid::Uuid;

use crate::*;

#[async_trait]
pub trait Patients: Send + Sync {
    async fn create_patient(&self, audit: &Audit, new: NewPatient) -> StoreResult<Patient>;
    /// Reads a patient and records the read in the audit log.
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
    async fn get_patient(&self, audit: &Audit, id: Uuid) -> StoreResult<Patient>;
}

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
