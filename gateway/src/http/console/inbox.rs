//! The inbox: the user's conversations (care team and followed patients) with unread marks,
//! refreshed live, and a search for other patients. The search is a POST, so a patient's name
//! never lands in a URL or the browser's history.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use store::ConversationItem;

use super::layout::{self, Section, csrf_field, page as shell_page, respond, when};
use super::session::{ConsoleUser, Flash, redirect_with};
use crate::http::AppState;
use crate::services::conversations;

const PAGE: u32 = 50;

#[derive(Deserialize)]
pub struct InboxQuery {
    offset: Option<u32>,
}

fn rows(items: &[ConversationItem], empty: &str) -> Markup {
    html! {
        @if items.is_empty() {
            p.muted { (empty) }
        } @else {
            ul.list {
                @for item in items {
                    li .unread[item.unread] {
                        a href={ "/app/patients/" (item.patient_id) } {
                            (item.patient_name)
                            @if item.unread { span.visually-hidden { " (unread)" } }
                        }
                        span {
                            @if item.unread { span.badge.unread-mark aria-hidden="true" { "Unread" } " " }
                            span.muted {
                                @match item.last_message_at {
                                    Some(at) => { "Last message " (when(at)) },
                                    None => "No messages yet",
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The live list: re-fetched when the notification stream says something changed, and every
/// 30 seconds for what it does not announce.
async fn list(state: &AppState, user: &ConsoleUser, offset: u32) -> Result<Markup, Response> {
    let found = conversations::list_for(state, user, PAGE, offset)
        .await
        .map_err(|e| layout::error_page(&e))?;
    Ok(html! {
        section #inbox-list aria-labelledby="inbox-heading"
            hx-get={ "/app/inbox/list?offset=" (offset) } hx-trigger="gw:changed from:body, every 30s"
            hx-swap="outerHTML" {
            h2 #inbox-heading { "My conversations" }
            (rows(&found.items, "No conversations yet: patients whose care team you are on, or whom you follow, appear here."))
            nav aria-label="More conversations" {
                @if offset > 0 {
                    a href={ "/app/inbox?offset=" (offset.saturating_sub(PAGE)) } { "Newer" } " "
                }
                @if let Some(next) = found.next_offset {
                    a href={ "/app/inbox?offset=" (next) } { "Older" }
                }
            }
        }
    })
}

fn search_form(user: &ConsoleUser, q: &str) -> Markup {
    html! {
        form.card role="search" method="post" action="/app/search" {
            (csrf_field(user))
            label for="q" { "Find another patient" }
            input #q type="search" name="q" value=(q) autocomplete="off" maxlength="100"
                aria-describedby="q-help";
            p #q-help .muted { "The start of a first or last name, or \"first last\"." }
            div.actions { button type="submit" { "Search" } }
        }
    }
}

/// `GET /app/inbox`.
pub async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Query(query): Query<InboxQuery>,
) -> Response {
    let list = match list(&state, &user, query.offset.unwrap_or(0)).await {
        Ok(list) => list,
        Err(response) => return response,
    };
    let body = html! {
        h1 { "Inbox" }
        div data-live-events="/app/events" {}
        (search_form(&user, ""))
        (list)
    };
    layout::render(&state, &user, &headers, Section::Inbox, "Inbox", body)
}

/// `GET /app/inbox/list`: the list alone, for the live refresh.
pub async fn list_fragment(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(query): Query<InboxQuery>,
) -> Response {
    match list(&state, &user, query.offset.unwrap_or(0)).await {
        Ok(list) => respond(StatusCode::OK, list),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
pub struct Search {
    q: String,
}

/// `POST /app/search`: patients found by name among those the user may see (audited), shown
/// at once (no redirect: the query stays out of every URL).
pub async fn search(
    State(state): State<AppState>,
    user: ConsoleUser,
    Form(form): Form<Search>,
) -> Response {
    let q = form.q.trim();
    if q.is_empty() {
        return redirect_with(
            &state,
            "/app/inbox",
            Flash::Failed("Type the start of a name to search.".into()),
        );
    }
    let found = match conversations::search_for(&state, &user, q, PAGE).await {
        Ok(found) => found,
        Err(error) => return redirect_with(&state, "/app/inbox", Flash::from_error(&error)),
    };
    let body = html! {
        h1 { "Search results" }
        (search_form(&user, q))
        section aria-labelledby="results-heading" {
            h2 #results-heading { (found.len()) " patient(s) found" }
            (rows(&found, "Nobody you may see has a name starting like that."))
        }
        p { a href="/app/inbox" { "Back to my conversations" } }
    };
    respond(
        StatusCode::OK,
        shell_page(&user, Section::Inbox, "Search results", None, body),
    )
}
