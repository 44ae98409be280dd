//! AuditLog on postgres.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::rows::*;
use super::{PostgresStore, insert_audit, map_err};
use crate::*;

#[async_trait]
impl AuditLog for PostgresStore {
    async fn append_audit(&self, audit: &Audit, event: AuditEvent<'_>) -> StoreResult<()> {
        let client = self.client().await?;
        insert_audit(&client, audit, &event).await
    }

    async fn list_audit(&self, filter: AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        let client = self.client().await?;
        let limit = i64::from(filter.limit.clamp(1, Page::MAX_LIMIT + 1));
        let rows = client
            .query(
                "SELECT id, at, user_id, customer_id, action, target_type, target_id, patient_id, client_addr
                 FROM audit_log
                 WHERE ($1::uuid IS NULL OR customer_id = $1)
                   AND ($2::uuid IS NULL OR user_id = $2)
                   AND ($3::uuid IS NULL OR patient_id = $3)
                   AND ($4::timestamptz IS NULL OR at >= $4)
                   AND ($5::bigint IS NULL OR id > $5)
                 ORDER BY id LIMIT $6",
                &[&filter.customer_id, &filter.user_id, &filter.patient_id, &filter.since, &filter.after_id, &limit],
            )
            .await
            .map_err(map_err)?;
        Ok(rows.iter().map(audit_from_row).collect())
    }
}
