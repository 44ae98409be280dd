//! A patient's conversation: SMS and portal messages in order with the delivery state of each
//! outbound text, a reply box (its idempotency key makes a double click send once), the
//! patient's texting status with the actions the opt-in rules allow now, and the care-team
//! panel. Opening the conversation marks it read for this user, as the API's read mark does.
//! The page itself is here; the thread, the reply box and the side panels have their own
//! modules.

mod care_team;
mod reply;
mod texting;
mod thread;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use maud::html;

use super::PageId;
use super::layout::{self, Section};
use super::session::ConsoleUser;
use crate::http::AppState;
use crate::services::access::visible_patient;
use crate::services::conversations;

pub use reply::reply;
pub use texting::texting_action;
pub use thread::thread_fragment;
use thread::{ThreadQuery, author_names};

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
    let thread = match thread::thread(&state, &user, id, query.before, &names).await {
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
                (reply::reply_form(&user, id))
            }
            div {
                (texting::texting_panel(&user, &patient))
                (care_team::care_team(&panel))
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
