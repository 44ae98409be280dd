//! AuditLog on sqlite.

use async_trait::async_trait;
use rusqlite::params;

use super::rows::*;
use super::{SqliteStore, insert_audit, map_err};
use crate::*;

#[async_trait]
impl AuditLog for SqliteStore {
    async fn append_audit(&self, audit: &Audit, event: AuditEvent<'_>) -> StoreResult<()> {
        let audit = audit.clone();
        let action = event.action.to_string();
        let target_type = event.target_type.to_string();
        let (customer_id, target_id, patient_id) =
            (event.customer_id, event.target_id, event.patient_id);
        self.write(move |tx| {
            let event = AuditEvent {
                customer_id,
                action: &action,
                target_type: &target_type,
                target_id,
                patient_id,
            };
            insert_audit(tx, &audit, &event)
        })
        .await
    }

    async fn list_audit(&self, filter: AuditFilter) -> StoreResult<Vec<AuditRecord>> {
        self.call(move |conn| {
            let limit = i64::from(filter.limit.clamp(1, Page::MAX_LIMIT + 1));
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, at, user_id, customer_id, action, target_type, target_id, patient_id, client_addr
                     FROM audit_log
                     WHERE (?1 IS NULL OR customer_id = ?1)
                       AND (?2 IS NULL OR user_id = ?2)
                       AND (?3 IS NULL OR patient_id = ?3)
                       AND (?4 IS NULL OR at >= ?4)
                       AND (?5 IS NULL OR id > ?5)
                     ORDER BY id LIMIT ?6",
                )
                .map_err(map_err)?;
            let rows = stmt
                .query_map(
                    params![
                        filter.customer_id,
                        filter.user_id,
                        filter.patient_id,
                        filter.since.map(micros),
                        filter.after_id,
                        limit
                    ],
                    audit_from_row,
                )
                .map_err(map_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(map_err)?;
            Ok(rows)
        })
        .await
    }
}
