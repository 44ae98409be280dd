//! The on-call form of a practice's settings: its weekly windows, replaced as a whole.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};
use store::{Practice, User};
use uuid::Uuid;

use super::back;
use crate::http::AppState;
use crate::http::console::layout::csrf_field;
use crate::http::console::session::{ConsoleUser, redirect_after};
use crate::http::console::{Fields, PageId};
use crate::http::error::ApiError;
use crate::services::schedule_changes::OnCallWindowBody;
use crate::services::{oncall, users};

fn user_options(users: &[User], selected: Option<Uuid>) -> Markup {
    html! {
        option value="" selected[selected.is_none()] { "—" }
        @for u in users.iter().filter(|u| u.locked_at.is_none()) {
            option value=(u.id) selected[selected == Some(u.id)] { (users::display_name(u)) }
        }
    }
}

pub(super) fn on_call_form(
    user: &ConsoleUser,
    practice: &Practice,
    windows: &[OnCallWindowBody],
    people: &[User],
) -> Markup {
    let blank = OnCallWindowBody {
        from: String::new(),
        to: String::new(),
        user_id: Uuid::nil(),
        days: None,
    };
    let rows: Vec<&OnCallWindowBody> = windows.iter().chain([&blank, &blank]).collect();
    html! {
        form.card method="post" action={ "/app/admin/practices/" (practice.id) "/on-call" } {
            (csrf_field(user))
            h2 { "On-call windows" }
            p.muted { "Weekly windows in " (practice.timezone) ". A window whose end is before its start runs past midnight and belongs to the day it starts; equal times mean all day. Days: e.g. mon tue wed thu fri, or empty for every day. Leave a row empty to remove it." }
            div.scroll {
                table {
                    thead { tr { th scope="col" { "From" } th scope="col" { "To" } th scope="col" { "Days" } th scope="col" { "Who" } } }
                    tbody {
                        @for (i, w) in rows.iter().enumerate() {
                            tr {
                                td { input type="time" name="from" value=(w.from) aria-label={ "Window " (i + 1) " from" }; }
                                td { input type="time" name="to" value=(w.to) aria-label={ "Window " (i + 1) " to" }; }
                                td { input type="text" name="days" size="14" value=(w.days.as_deref().map(|d| d.join(" ")).unwrap_or_default()) aria-label={ "Window " (i + 1) " days (empty: every day)" }; }
                                td {
                                    select name="user_id" aria-label={ "Window " (i + 1) " user" } {
                                        (user_options(people, (!w.user_id.is_nil()).then_some(w.user_id)))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            div.actions { button type="submit" { "Save on-call windows" } }
        }
    }
}

/// `POST /app/admin/practices/{id}/on-call`: replaces the whole schedule.
pub async fn save_on_call(
    State(state): State<AppState>,
    user: ConsoleUser,
    PageId(id): PageId,
    body: Bytes,
) -> Response {
    let form = Fields::parse(&body);
    let (from, to, who) = (form.all("from"), form.all("to"), form.all("user_id"));
    let days = form.all("days");
    let outcome = async {
        let mut windows = Vec::new();
        for (i, ((from, to), who)) in from.iter().zip(&to).zip(&who).enumerate() {
            if from.is_empty() && to.is_empty() && who.is_empty() {
                continue;
            }
            // Days as typed ("mon tue" or "mon,tue"); the API's parser checks each one.
            let days: Vec<String> = days
                .get(i)
                .map(|d| {
                    d.split(|c: char| c == ',' || c.is_whitespace())
                        .filter(|d| !d.is_empty())
                        .map(|d| d.to_lowercase())
                        .collect()
                })
                .unwrap_or_default();
            let user_id = Uuid::parse_str(who).map_err(|_| {
                ApiError::invalid(format!("window {}", i + 1), "choose who is on call")
            })?;
            windows.push(OnCallWindowBody {
                from: from.to_string(),
                to: to.to_string(),
                user_id,
                days: (!days.is_empty()).then_some(days),
            });
        }
        let saved = oncall::replace_for(&state, &user, id, &windows).await?;
        Ok(format!("{} on-call window(s) saved.", saved.len()))
    }
    .await;
    redirect_after(&state, &back(id), outcome)
}
