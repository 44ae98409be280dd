//! Patients: demographics, programs and the stored texting opt-in state.

use async_trait::async_trait;
use uuid::Uuid;

use crate::*;

#[async_trait]
pub trait Patients: Send + Sync {
    async fn create_patient(&self, audit: &Audit, new: NewPatient) -> StoreResult<Patient>;
    /// Reads a patient and records the read in the audit log.
    async fn get_patient(&self, audit: &Audit, id: Uuid) -> StoreResult<Patient>;
}
