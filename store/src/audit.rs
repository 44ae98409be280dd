//! The append-only audit log: who did what, to what, when and from where.

use async_trait::async_trait;

use crate::*;

#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Records an event that is not part of another store operation (a read through the API).
    async fn append_audit(&self, audit: &Audit, event: AuditEvent<'_>) -> StoreResult<()>;
    async fn list_audit(&self, filter: AuditFilter) -> StoreResult<Vec<AuditRecord>>;
}
