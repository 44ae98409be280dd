//! The caller's in-app notification feed, newest first, and its live event stream. Entries say
//! that something needs a look, never what a patient wrote or measured.

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use futures::Stream;
use serde::Serialize;
use store::Notification;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiQuery;
use super::validate::PageQuery;
use crate::services::feed;

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
    let page = feed::page_for(&state, &caller, query.page()?).await?;
    Ok(Json(NotificationList {
        next_cursor: page.next_cursor.map(|c| c.to_string()),
        items: page.items.into_iter().map(Into::into).collect(),
    }))
}

/// How often an open stream looks for notifications another gateway instance wrote.
const STREAM_POLL: std::time::Duration = std::time::Duration::from_secs(5);

struct StreamState {
    state: AppState,
    user_id: Uuid,
    /// The stream's session: it ends when this no longer lets its user in.
    token_hash: String,
    last: Option<Uuid>,
    changes: tokio::sync::watch::Receiver<u64>,
    pending: std::collections::VecDeque<Event>,
}

/// A server-sent event stream of the caller's new notifications (event `notification`, data a
/// notification as in the list, id its id; send `Last-Event-ID` to resume). It ends when its
/// session does: logout, a password change, the user locked, or the idle timeout (the stream
/// itself does not count as use).
#[utoipa::path(
    get, path = "/v1/notifications/stream", tag = "notifications", security(("bearer" = [])),
    params(("Last-Event-ID" = Option<String>, Header, description = "resume after this notification id")),
    responses(
        (status = 200, description = "text/event-stream of `notification` events", content_type = "text/event-stream"),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn stream(
    State(state): State<AppState>,
    caller: CurrentUser,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    events_for(state, &caller, &headers).await
}

/// The event stream of `caller`'s new notifications (the staff console's live updates use it
/// too, signed in by cookie).
pub async fn events_for(
    state: AppState,
    caller: &CurrentUser,
    headers: &HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>, ApiError> {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::parse_str(v).ok());
    let last = match resume {
        Some(id) => Some(id),
        // A new stream starts from now: only notifications that arrive later are sent.
        None => feed::latest_id(&state, caller).await?,
    };
    let start = StreamState {
        changes: state.feed_changed.subscribe(),
        state,
        user_id: caller.id(),
        last,
        pending: Default::default(),
        token_hash: caller.token_hash.clone(),
    };
    let events = futures::stream::unfold(start, |mut s| async move {
        loop {
            if !feed::session_lives(&s.state, &s.token_hash).await {
                return None;
            }
            if let Some(event) = s.pending.pop_front() {
                return Some((Ok(event), s));
            }
            match feed::newer_than(&s.state, s.user_id, s.last).await {
                Ok(items) => {
                    for n in items {
                        s.last = Some(n.id);
                        let id = n.id.to_string();
                        let data =
                            serde_json::to_string(&NotificationView::from(n)).unwrap_or_default();
                        s.pending
                            .push_back(Event::default().event("notification").id(id).data(data));
                    }
                }
                Err(error) => tracing::warn!(%error, "notification stream could not read the feed"),
            }
            if !s.pending.is_empty() {
                continue;
            }
            tokio::select! {
                _ = s.changes.changed() => {}
                _ = tokio::time::sleep(STREAM_POLL) => {}
            }
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}
