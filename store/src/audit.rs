//! The append-only audit log: who did what, to what, when and from where.

use async_trait::async_trait;

use crate::rows::{audit_from_row, insert_audit};
use crate::sql::{Db, ToArg};
use crate::*;

#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Records an event that is not part of another store operation (a read through the API).
    async fn append_audit(&self, audit: &Audit, event: AuditEvent<'_>) -> StoreResult<()>;
    async fn list_audit(&self, filter: AuditFilter) -> StoreResult<Vec<AuditRecord>>;
}

#[async_trait]
impl<D: Db> AuditLog for D {
    async fn append_audit(&self, audit: &Audit, event: AuditEvent<'_>) -> StoreResult<()> {
        let audit = audit.clone();
        let (action, target_type) = (event.action.to_string(), event.target_type.to_string());
        let (customer_id, target_id, patient_id) =
            (event.customer_id, event.target_id, event.patient_id);
        self.autocommit(move |tx| {
            Box::pin(async move {
                let event = AuditEvent {
                    customer_id,
                    action: &action,
                    target_type: &target_type,
                    target_id,
                    patient_id,
                };
                insert_audit(tx, &audit, &event).await
            })
        })
        .await
    }

    async fn list_audit(&self, filter: AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                let limit = i64::from(filter.limit.clamp(1, Page::MAX_LIMIT + 1));
                let rows = tx
                    .query(
                        "SELECT id, at, user_id, customer_id, action, target_type, target_id, patient_id, client_addr
                         FROM audit_log
                         WHERE (customer_id = $1 OR $1 IS NULL)
                           AND (user_id = $2 OR $2 IS NULL)
                           AND (patient_id = $3 OR $3 IS NULL)
                           AND (at >= $4 OR $4 IS NULL)
                           AND (id > $5 OR $5 IS NULL)
                         ORDER BY id LIMIT $6",
                        &[
                            filter.customer_id.arg(),
                            filter.user_id.arg(),
                            filter.patient_id.arg(),
                            filter.since.arg(),
                            filter.after_id.arg(),
                            limit.arg(),
                        ],
                    )
                    .await?;
                rows.iter().map(audit_from_row).collect()
            })
        })
        .await
    }
}
