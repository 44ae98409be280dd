//! The caller's in-app notification feed, newest first. Entries say that something needs a
//! look, never what a patient wrote or measured.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use store::Notification;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiQuery;
use super::validate::PageQuery;

#[derive(Serialize, ToSchema)]
pub struct NotificationView {
    pub id: Uuid,
    pub practice_id: Uuid,
    pub patient_id: Option<Uuid>,
    /// The notification kind, e.g. `two_way_texting`.
    pub kind: String,
    pub summary: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> NotificationView {
        NotificationView {
            id: n.id,
            practice_id: n.practice_id,
            patient_id: n.patient_id,
            kind: n.kind,
            summary: n.summary,
            created_at: n.created_at,
            read_at: n.read_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NotificationList {
    pub items: Vec<NotificationView>,
    pub next_cursor: Option<String>,
}

/// The caller's notifications, newest first.
#[utoipa::path(
    get, path = "/v1/notifications", tag = "notifications", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = NotificationList), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn list_notifications(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<NotificationList>, ApiError> {
    let page = state
        .store
        .list_notifications(caller.id(), query.page()?)
        .await?;
    Ok(Json(NotificationList {
        next_cursor: page.next_cursor.map(|c| c.to_string()),
        items: page.items.into_iter().map(Into::into).collect(),
    }))
}
