//! Reading the audit log: customer admins read their customer's rows, super admins everyone's
//! or one customer's; staff none. Nothing changes or deletes audit rows (the database refuses
//! it too).

use chrono::{DateTime, Utc};
use store::{AuditFilter, AuditRecord, Role};
use uuid::Uuid;

use crate::app::{App, AppError, CurrentUser};

/// What a reader asks of the audit log; `after_id` and `limit` come from a checked cursor.
pub struct AuditRequest {
    /// Super admins only: one customer's rows.
    pub customer_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub since: Option<DateTime<Utc>>,
    pub after_id: Option<i64>,
    pub limit: u32,
}

/// A page of audit rows, oldest first, and the cursor of the next page.
pub async fn page_for(
    state: &App,
    caller: &CurrentUser,
    request: AuditRequest,
) -> Result<(Vec<AuditRecord>, Option<String>), AppError> {
    let customer_id = match caller.role() {
        Role::SuperAdmin => request.customer_id,
        Role::CustomerAdmin => {
            if request
                .customer_id
                .is_some_and(|c| Some(c) != caller.user.customer_id)
            {
                return Err(AppError::NotFound("customer"));
            }
            caller.user.customer_id
        }
        Role::Staff => {
            return Err(AppError::Forbidden(
                "only administrators may read the audit log".into(),
            ));
        }
    };
    if let Some(since) = request.since {
        crate::domain::bounds::instant(since, caller.now)
            .map_err(|why| AppError::invalid("since", why.to_string()))?;
    }
    let filter = AuditFilter {
        customer_id,
        user_id: request.user_id,
        patient_id: request.patient_id,
        since: request.since,
        after_id: request.after_id,
        limit: request.limit + 1,
    };
    let mut rows = state.store.list_audit(filter).await?;
    let more = rows.len() > request.limit as usize;
    rows.truncate(request.limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| r.id.to_string())
    } else {
        None
    };
    Ok((rows, next_cursor))
}
