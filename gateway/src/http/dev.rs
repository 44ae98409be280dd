//! Dev-mode routes, mounted only while a dev transport is in use.
//!
//! `GET /v1/dev/outbox` (no carrier credentials) lists what the gateway queued and "sent" through
//! the dev transport, so a developer can see the texts without a phone. It must never be mounted
//! with real credentials: it shows message bodies. `GET /v1/dev/emails` (no `SMTP_URL`) does the
//! same for notification emails, without their bodies.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use store::{EmailOutboxRow, Outbound, Page};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiQuery;
use crate::services::dev_transport;

#[derive(Deserialize, IntoParams)]
pub struct OutboxQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<Uuid>,
    /// Rows per page (1–200, default 50).
    pub limit: Option<u32>,
}

impl OutboxQuery {
    fn page(&self) -> Page {
        Page {
            after: self.cursor,
            limit: self.limit.unwrap_or(50).clamp(1, Page::MAX_LIMIT),
        }
    }
}

/// One outbox row as the dev transport shows it.
#[derive(Serialize, ToSchema)]
pub struct OutboxItem {
    pub id: Uuid,
    pub message_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub to: String,
    pub from: String,
    pub body: String,
    pub priority: i16,
    /// `queued`, `sending`, `sent` or `failed`.
    pub state: String,
    pub attempts: i32,
    pub recovered: i32,
    pub carrier_sid: Option<String>,
    pub carrier_status: Option<String>,
    pub error_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct OutboxPage {
    pub items: Vec<OutboxItem>,
    pub next_cursor: Option<Uuid>,
}

impl From<Outbound> for OutboxItem {
    fn from(o: Outbound) -> OutboxItem {
        OutboxItem {
            id: o.id,
            message_id: o.message_id,
            patient_id: o.patient_id,
            to: o.to_number,
            from: o.from_number,
            body: o.body,
            priority: o.priority,
            state: o.state.as_str().into(),
            attempts: o.attempts,
            recovered: o.recovered,
            carrier_sid: o.carrier_sid,
            carrier_status: o.carrier_status,
            error_code: o.error_code,
            last_error: o.last_error,
            created_at: o.created_at,
            sent_at: o.sent_at,
        }
    }
}

/// What the dev transport queued and "sent", oldest first (super admin; dev transport only).
#[utoipa::path(
    get,
    path = "/v1/dev/outbox",
    tag = "dev",
    params(OutboxQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = OutboxPage),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
pub async fn outbox(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<OutboxQuery>,
) -> Result<Json<OutboxPage>, ApiError> {
    let rows = dev_transport::outbox_for(&state, &user, query.page()).await?;
    Ok(Json(OutboxPage {
        items: rows.items.into_iter().map(OutboxItem::from).collect(),
        next_cursor: rows.next_cursor,
    }))
}

/// One notification email as the dev mail transport shows it (the body is left out).
#[derive(Serialize, ToSchema)]
pub struct EmailItem {
    pub id: Uuid,
    pub user_id: Uuid,
    pub practice_id: Option<Uuid>,
    /// The notification kind it tells of.
    pub kind: String,
    pub to: String,
    pub subject: String,
    /// `queued`, `sending`, `sent` or `failed`.
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct EmailPage {
    pub items: Vec<EmailItem>,
    pub next_cursor: Option<Uuid>,
}

impl From<EmailOutboxRow> for EmailItem {
    fn from(e: EmailOutboxRow) -> EmailItem {
        EmailItem {
            id: e.id,
            user_id: e.user_id,
            practice_id: e.practice_id,
            kind: e.kind,
            to: e.to_address,
            subject: e.subject,
            state: e.state.to_string(),
            attempts: e.attempts,
            last_error: e.last_error,
            created_at: e.created_at,
            sent_at: e.sent_at,
        }
    }
}

/// Notification emails the dev mail transport "sent", newest first (super admin; only when
/// `SMTP_URL` is not set).
#[utoipa::path(
    get,
    path = "/v1/dev/emails",
    tag = "dev",
    params(OutboxQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = EmailPage),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    )
)]
pub async fn emails(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<OutboxQuery>,
) -> Result<Json<EmailPage>, ApiError> {
    let rows = dev_transport::emails_for(&state, &user, query.page()).await?;
    Ok(Json(EmailPage {
        items: rows.items.into_iter().map(EmailItem::from).collect(),
        next_cursor: rows.next_cursor,
    }))
}
