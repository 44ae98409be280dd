//! A patient's conversation: SMS and portal messages in order with the delivery state of each
//! outbound text, a reply box (its idempotency key makes a double click send once), the
//! patient's texting status with the actions the opt-in rules allow now, and the care-team
//! panel. Opening the conversation marks it read for this user, as the API's read mark does.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use store::{Message, Patient};
use uuid::Uuid;

use super::PageId;
use super::layout::{self, Section, csrf_field, respond, when};
use super::session::{ConsoleUser, Flash, redirect_after, redirect_with};
use crate::domain::texting::{Event, decide};
use crate::http::AppState;
use crate::http::conversations::{idempotency_key, message_body};
use crate::services::access::visible_patient;
use crate::services::conversations::{self, Channel, PanelEntry, Sent};
use crate::services::texting::{self, StaffAction, state_of};
use crate::services::users::display_name as full_name;

const THREAD_PAGE: u32 = 50;

#[derive(Deserialize)]
pub struct ThreadQuery {
    /// Show messages older than this message id.
    before: Option<Uuid>,
}

/// Names of the staff who may have written in the thread: the care team and followers, and the
/// user themself.
fn author_names(user: &ConsoleUser, panel: &[PanelEntry]) -> HashMap<Uuid, String> {
    let mut names: HashMap<Uuid, String> = panel
        .iter()
        .map(|e| (e.user.id, full_name(&e.user)))
        .collect();
    names.insert(user.id(), full_name(&user.user));
    names
}

/// What a person reads for an outbound text's state (the carrier's status once it has one).
fn delivery(message: &Message) -> String {
    let with_carrier = message.carrier_sid.is_some();
    let text = match message.status.as_str() {
        "queued" | "accepted" if with_carrier => "Accepted by the carrier",
        "queued" | "pending" => "Waiting to be sent",
        "sending" => "Sending",
        "sent" => "Sent",
        "delivered" => "Delivered",
        "read" => "Read",
        "undelivered" => "Not delivered",
        "failed" => "Failed",
        "canceled" | "cancelled" => "Cancelled",
        other => other,
    };
    match message.error_code {
        Some(code) => format!("{text} (carrier error {code})"),
        None => text.to_string(),
    }
}

fn channel_name(channel: &str) -> &'static str {
    if channel == "sms" { "Text" } else { "Portal" }
}

/// The thread, oldest first, refreshed when the notification stream says something changed
/// and every 15 seconds (delivery states change without a notification).
async fn thread(
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
                    @let outbound = m.direction == "outbound";
                    li.outbound[outbound] {
                        p.muted {
                            strong {
                                @if !outbound { "Patient" }
                                @else if let Some(author) = m.author_user_id {
                                    (names.get(&author).map(String::as_str).unwrap_or("A staff member"))
                                } @else { "Automatic message" }
                            }
                            " · " (channel_name(&m.channel)) " · " (when(m.created_at))
                        }
                        @if let Some(body) = &m.body {
                            p { (body) }
                        } @else {
                            p.muted { em { "Not shown: sent while the patient was verifying their identity." } }
                        }
                        @if m.flag.as_deref() == Some(texting::FLAG_POSSIBLE_OPT_OUT) {
                            p { strong { "This may be a request to stop texting." } }
                        }
                        @if outbound && m.channel == "sms" {
                            p.muted { "Delivery: " (delivery(m)) }
                        }
                    }
                }
            }
        }
    })
}

fn texting_panel(user: &ConsoleUser, patient: &Patient) -> Markup {
    let current = state_of(&patient.texting);
    let now = user.now;
    let allowed = |event| decide(&current, event, patient.dob, now).is_ok();
    let actions = [
        (
            "start",
            "Start texting",
            allowed(Event::StaffStart {
                has_valid_mobile: true,
            }),
        ),
        (
            "resend",
            "Resend the opt-in text",
            allowed(Event::StaffResend {
                has_valid_mobile: true,
            }),
        ),
        (
            "opt-out",
            "Opt out of texting",
            current.status != crate::domain::texting::TextingStatus::OptedOut,
        ),
    ];
    html! {
        section.card aria-labelledby="texting-heading" {
            h2 #texting-heading { "Texting" }
            p { "Status: " strong { (current.status.as_str().replace('_', " ")) } }
            @if let Some(expires) = current.expires_at {
                p.muted { (current.attempts_left) " attempt(s) left until " (when(expires)) }
            }
            div.actions {
                @for (action, label, shown) in actions {
                    @if shown {
                        form method="post" action={ "/app/patients/" (patient.id) "/texting/" (action) } {
                            (csrf_field(user))
                            button.secondary[action != "opt-out"].danger[action == "opt-out"] type="submit"
                                hx-disabled-elt="this" { (label) }
                        }
                    }
                }
            }
        }
    }
}

fn care_team(panel: &[PanelEntry]) -> Markup {
    html! {
        section.card aria-labelledby="team-heading" {
            h2 #team-heading { "Care team" }
            @if panel.is_empty() {
                p.muted { "Nobody is on this patient's care team or follows them." }
            } @else {
                ul.list {
                    @for entry in panel {
                        li {
                            span {
                                (full_name(&entry.user))
                                @if !entry.user.title.is_empty() { span.muted { ", " (entry.user.title) } }
                            }
                            span.muted {
                                @if entry.on_care_team { "Care team" } @else if entry.subscribed { "Follows" }
                                @if !entry.programs.is_empty() { " · " (entry.programs.join(", ")) }
                                " · " @if entry.channels_now.is_empty() { "not told of new messages" } @else { "told of new messages by " (entry.channels_now.join(", ")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /app/patients/{id}`.
pub async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    PageId(id): PageId,
    Query(query): Query<ThreadQuery>,
) -> Response {
    let patient = match visible_patient(&state, &user, id).await {
        Ok(patient) => patient,
        Err(error) => return layout::error_page(&error),
    };
    let panel = match conversations::panel_for(&state, &user, id).await {
        Ok(panel) => panel,
        Err(error) => return layout::error_page(&error),
    };
    let names = author_names(&user, &panel);
    let thread = match thread(&state, &user, id, query.before, &names).await {
        Ok(thread) => thread,
        Err(response) => return response,
    };
    let body = html! {
        p { a href="/app/inbox" { "← Inbox" } }
        h1 { (patient.first_name) " " (patient.last_name) }
        @if !patient.programs.is_empty() {
            p.muted { "Programs: " (patient.programs.join(", ")) }
        }
        div data-live-events="/app/events" {}
        div.grid.two {
            div {
                (thread)
                (reply_form(&user, id))
            }
            div {
                (texting_panel(&user, &patient))
                (care_team(&panel))
            }
        }
    };
    layout::render(
        &state,
        &user,
        &headers,
        Section::Inbox,
        "Conversation",
        body,
    )
}

fn reply_form(user: &ConsoleUser, patient_id: Uuid) -> Markup {
    html! {
        form.card method="post" action={ "/app/patients/" (patient_id) "/messages" }
            hx-disabled-elt="find button" {
            (csrf_field(user))
            // One key per rendered form: a second submit of the same form sends nothing new.
            input type="hidden" name="idempotency_key" value=(Uuid::new_v4());
            label for="reply" { "Reply" }
            textarea #reply name="body" required maxlength="1600" aria-describedby="reply-help" {}
            p #reply-help .muted { "Goes by text when the patient's texting is enabled, otherwise by the portal." }
            label for="channel" { "Send by" }
            select #channel name="channel" {
                option value="" selected { "Best available" }
                option value="sms" { "Text message" }
                option value="portal" { "Portal" }
            }
            div.actions { button type="submit" { "Send" } }
        }
    }
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

#[derive(Deserialize)]
pub struct Reply {
    body: String,
    #[serde(default)]
    channel: String,
    idempotency_key: String,
}

/// `POST /app/patients/{id}/messages`: sends the reply through the same use case as
/// `POST /v1/patients/{id}/messages`, with the form's idempotency key.
pub async fn reply(
    State(state): State<AppState>,
    user: ConsoleUser,
    PageId(id): PageId,
    Form(form): Form<Reply>,
) -> Response {
    let back = format!("/app/patients/{id}");
    let outcome = async {
        let body = message_body("body", &form.body)?;
        let channel = match form.channel.as_str() {
            "" => None,
            "sms" => Some(Channel::Sms),
            "portal" => Some(Channel::Portal),
            _ => {
                return Err(crate::http::error::ApiError::invalid(
                    "channel",
                    "must be sms or portal",
                ));
            }
        };
        let key = idempotency_key(Some(&form.idempotency_key))?;
        conversations::send_for(&state, &user, id, body, channel, Some(key)).await
    }
    .await;
    let flash = match outcome {
        Ok(Sent::Created(message)) => Flash::Done(format!(
            "Sent by {}.",
            if message.channel == "sms" {
                "text message"
            } else {
                "the portal"
            }
        )),
        Ok(Sent::Replayed(_)) => Flash::Done("Already sent; it was not sent again.".into()),
        Err(error) => Flash::from_error(&error),
    };
    redirect_with(&state, &back, flash)
}

/// `POST /app/patients/{id}/texting/{start|resend|opt-out}`.
pub async fn texting_action(
    State(state): State<AppState>,
    user: ConsoleUser,
    PageId(id): PageId,
    Path((_, action)): Path<(String, String)>,
) -> Response {
    let (action, done) = match action.as_str() {
        "start" => (
            StaffAction::Start,
            "Texting started: the opt-in text is on its way.",
        ),
        "resend" => (StaffAction::Resend, "The opt-in text was sent again."),
        "opt-out" => (StaffAction::OptOut, "The patient is opted out of texting."),
        _ => {
            return layout::error_page(&crate::http::error::ApiError::NotFound("page"));
        }
    };
    let outcome = texting::act_for(&state, &user, id, action)
        .await
        .map(|_| done.to_string());
    redirect_after(&state, &format!("/app/patients/{id}"), outcome)
}
