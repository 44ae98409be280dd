//! A conversation's texting panel: the patient's texting status and the actions the opt-in
//! rules allow now, with the handler those actions post to.

use axum::extract::{Path, State};
use axum::response::Response;
use maud::{Markup, html};
use store::Patient;

use crate::domain::texting::{Event, decide};
use crate::http::AppState;
use crate::http::console::PageId;
use crate::http::console::layout::{self, csrf_field, when};
use crate::http::console::session::{ConsoleUser, redirect_after};
use crate::services::texting::{self, StaffAction, state_of};

pub(super) fn texting_panel(user: &ConsoleUser, patient: &Patient) -> Markup {
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
