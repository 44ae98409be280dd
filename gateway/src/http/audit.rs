//! Reading the audit log: customer admins see their customer's rows, super admins everyone's.
//! No route changes or deletes audit rows; the database refuses it too.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use store::AuditRecord;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiQuery;
use crate::services::audit::{self, AuditRequest};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    pub user_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    /// Rows at or after this time (RFC 3339), from 2000-01-01 to a year ahead.
    pub since: Option<DateTime<Utc>>,
    /// Super admins only: one customer's rows.
    pub customer_id: Option<Uuid>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub user_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub patient_id: Option<Uuid>,
    pub client_addr: Option<String>,
}

impl From<AuditRecord> for AuditEntry {
    fn from(r: AuditRecord) -> AuditEntry {
        AuditEntry {
            id: r.id,
            at: r.at,
            user_id: r.user_id,
            customer_id: r.customer_id,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            patient_id: r.patient_id,
            client_addr: r.client_addr,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    pub items: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

/// Audit rows, oldest first, filtered by user, patient and time.
#[utoipa::path(
    get, path = "/v1/audit", tag = "audit", security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, body = AuditList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn list_audit(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditList>, ApiError> {
    let after_id = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| ApiError::invalid("cursor", "is not a cursor this API returned"))?,
        ),
        None => None,
    };
    let limit = query.limit.unwrap_or(100);
    if !(1..=store::Page::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 200"));
    }
    let (rows, next_cursor) = audit::page_for(
        &state,
        &caller,
        AuditRequest {
            customer_id: query.customer_id,
            user_id: query.user_id,
            patient_id: query.patient_id,
            since: query.since,
            after_id,
            limit,
        },
    )
    .await?;
    Ok(Json(AuditList {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}
