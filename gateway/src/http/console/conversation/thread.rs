//! A conversation's message thread: SMS and portal messages in order with the delivery state of
//! each outbound text, a page at a time, and the fragment the page refreshes itself with.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use store::Message;
use types::{Channel, Direction, MessageStatus};
use uuid::Uuid;

use crate::http::AppState;
use crate::http::console::PageId;
use crate::http::console::layout::{self, respond, when};
use crate::http::console::session::ConsoleUser;
use crate::services::conversations::{self, PanelEntry};
use crate::services::texting;
use crate::services::users::display_name as full_name;

const THREAD_PAGE: u32 = 50;

#[derive(Deserialize)]
pub struct ThreadQuery {
    /// Show messages older than this message id.
    pub(super) before: Option<Uuid>,
}

/// Names of the staff who may have written in the thread: the care team and followers, and the
/// user themself.
pub(super) fn author_names(user: &ConsoleUser, panel: &[PanelEntry]) -> HashMap<Uuid, String> {
    let mut names: HashMap<Uuid, String> = panel
        .iter()
        .map(|e| (e.user.id, full_name(&e.user)))
        .collect();
    names.insert(user.id(), full_name(&user.user));
    names
}

/// What a person reads for an outbound text's state (the carrier's status once it has one).
fn delivery(message: &Message) -> String {
    use MessageStatus::*;
    let with_carrier = message.carrier_sid.is_some();
    let text = match message.status {
        Queued | Accepted if with_carrier => "Accepted by the carrier",
        Queued => "Waiting to be sent",
        Sending => "Sending",
        Sent => "Sent",
        Delivered => "Delivered",
        Read => "Read",
        Undelivered => "Not delivered",
        Failed => "Failed",
        Canceled | Cancelled => "Cancelled",
        // Statuses an outbound text seldom or never has are shown by their name.
        Accepted | Scheduled | PartiallyDelivered | Receiving | Received => message.status.as_str(),
    };
    match message.error_code {
        Some(code) => format!("{text} (carrier error {code})"),
        None => text.to_string(),
    }
}

fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "Text",
        Channel::Portal => "Portal",
    }
}

/// The thread, oldest first, refreshed when the notification stream says something changed
/// and every 15 seconds (delivery states change without a notification).
pub(super) async fn thread(
    state: &AppState,
    user: &ConsoleUser,
    patient_id: Uuid,
    before: Option<Uuid>,
    names: &HashMap<Uuid, String>,
) -> Result<Markup, Response> {
    let page = conversations::thread_for(state, user, patient_id, before, THREAD_PAGE)
        .await
        .map_err(|e| layout::error_page(&e))?;
    // The read mark follows what the user has been shown.
    if before.is_none() {
        conversations::mark_read_for(state, user, patient_id)
            .await
            .map_err(|e| layout::error_page(&e))?;
    }
    let mut messages = page.items;
    messages.reverse();
    let refresh = match before {
        None => format!("/app/patients/{patient_id}/thread"),
        Some(b) => format!("/app/patients/{patient_id}/thread?before={b}"),
    };
    Ok(html! {
        section #thread aria-labelledby="thread-heading" hx-get=(refresh)
            hx-trigger="gw:changed from:body, every 15s" hx-swap="outerHTML" {
            h2 #thread-heading { "Messages" }
            @if let Some(older) = page.next_cursor {
                p { a href={ "/app/patients/" (patient_id) "?before=" (older) } { "Older messages" } }
            }
            @if before.is_some() {
                p { a href={ "/app/patients/" (patient_id) } { "Newest messages" } }
            }
            @if messages.is_empty() {
                p.muted { "No messages yet." }
            }
            ol.thread aria-label="Messages, oldest first" {
                @for m in &messages {
                    @let outbound = m.direction == Direction::Outbound;
                    li.outbound[outbound] {
                        p.muted {
                            strong {
                                @if !outbound { "Patient" }
                                @else if let Some(author) = m.author_user_id {
                                    (names.get(&author).map(String::as_str).unwrap_or("A staff member"))
                                } @else { "Automatic message" }
                            }
                            " · " (channel_name(m.channel)) " · " (when(m.created_at))
                        }
                        @if let Some(body) = &m.body {
                            p { (body) }
                        } @else {
                            p.muted { em { "Not shown: sent while the patient was verifying their identity." } }
                        }
                        @if m.flag.as_deref() == Some(texting::FLAG_POSSIBLE_OPT_OUT) {
                            p { strong { "This may be a request to stop texting." } }
                        }
                        @if outbound && m.channel == Channel::Sms {
                            p.muted { "Delivery: " (delivery(m)) }
                        }
                    }
                }
            }
        }
    })
}

/// `GET /app/patients/{id}/thread`: the thread alone, for the live refresh.
pub async fn thread_fragment(
    State(state): State<AppState>,
    user: ConsoleUser,
    PageId(id): PageId,
    Query(query): Query<ThreadQuery>,
) -> Response {
    let names = match conversations::panel_for(&state, &user, id).await {
        Ok(panel) => author_names(&user, &panel),
        Err(error) => return layout::error_page(&error),
    };
    match thread(&state, &user, id, query.before, &names).await {
        Ok(thread) => respond(StatusCode::OK, thread),
        Err(response) => response,
    }
}
