//! Alerts and on-call: the open critical alerts of the user's practices with their escalation
//! step, acknowledged with one click (the same use case as `POST /v1/alerts/{id}/ack`); and per
//! practice who is on call at this moment and the coming week's windows.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{Datelike, Duration};
use maud::{Markup, html};
use uuid::Uuid;

use super::PageId;
use super::layout::{self, Section, csrf_field, respond, when};
use super::session::{ConsoleUser, redirect_after};
use crate::domain::oncall::{OnCallWindow, format_hhmm};
use crate::http::AppState;
use crate::services::access::visible_patient;
use crate::services::{alerts, oncall, users};

/// The open alerts, refreshed live.
async fn open_alerts(state: &AppState, user: &ConsoleUser) -> Result<Markup, Response> {
    let found = alerts::list_for(
        state,
        user,
        Some(types::AlertState::Open),
        store::Page::first(store::Page::MAX_LIMIT),
    )
    .await
    .map_err(|e| layout::error_page(&e))?;
    let mut names: HashMap<Uuid, String> = HashMap::new();
    for alert in &found.items {
        if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(alert.patient_id) {
            // An audited read, as every display of a patient is.
            if let Ok(patient) = visible_patient(state, user, alert.patient_id).await {
                slot.insert(format!("{} {}", patient.first_name, patient.last_name));
            }
        }
    }
    Ok(html! {
        section #alerts-list aria-labelledby="alerts-heading" hx-get="/app/alerts/list"
            hx-trigger="gw:changed from:body, every 30s" hx-swap="outerHTML" {
            h2 #alerts-heading { "Open critical alerts (" (found.items.len()) ")" }
            @if found.items.is_empty() {
                p.muted { "No open alerts." }
            } @else {
                ul.list {
                    @for alert in &found.items {
                        li {
                            div {
                                span.badge.critical { (alert.level) } " "
                                a href={ "/app/patients/" (alert.patient_id) } {
                                    (names.get(&alert.patient_id).map(String::as_str).unwrap_or("Patient"))
                                }
                                p.muted {
                                    "Opened " (when(alert.opened_at)) " · code " (alert.code) " · "
                                    @if alert.step == 0 { "first notification sent" }
                                    @else { "escalation step " (alert.step) }
                                    " · next step " (when(alert.next_step_at))
                                }
                            }
                            form method="post" action={ "/app/alerts/" (alert.id) "/ack" } {
                                (csrf_field(user))
                                button type="submit" hx-disabled-elt="this"
                                    aria-label={ "Acknowledge alert " (alert.code) } { "Acknowledge" }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// The windows that apply on a day of the week. Windows are daily, so every window applies on
/// every day; a window that starts on one day and ends the next is listed on the day it starts.
/// The windows that start on `day`.
fn windows_on(day: chrono::Weekday, windows: &[OnCallWindow]) -> Vec<&OnCallWindow> {
    windows.iter().filter(|w| w.days.contains(day)).collect()
}

async fn on_call(state: &AppState, user: &ConsoleUser) -> Result<Markup, Response> {
    let practices = users::practices_of(state, user)
        .await
        .map_err(|e| layout::error_page(&e))?;
    let mut sections = Vec::new();
    for practice in practices {
        let now = oncall::board_for(state, user, practice.id)
            .await
            .map_err(|e| layout::error_page(&e))?;
        let mut ids: Vec<Uuid> = now.windows.iter().map(|w| w.user_id).collect();
        ids.extend(&now.now.user_ids);
        let names = users::names_for(state, user, &ids)
            .await
            .map_err(|e| layout::error_page(&e))?;
        let name = |id: &Uuid| names.get(id).cloned().unwrap_or_else(|| "A user".into());
        let today = now.at.with_timezone(&now.timezone).date_naive();
        sections.push(html! {
            section.card aria-labelledby={ "oncall-" (practice.id) } {
                h2 id={ "oncall-" (practice.id) } { (practice.name) }
                p {
                    "On call now: "
                    @if now.now.user_ids.is_empty() { strong { "nobody" } " (alerts go to the practice's fallback users)" }
                    @else { strong { (now.now.user_ids.iter().map(name).collect::<Vec<_>>().join(", ")) } }
                }
                p.muted {
                    "Local time " (format_hhmm(now.at.with_timezone(&now.timezone).time())) " (" (now.timezone.name()) ")"
                    @if let Some(next) = now.now.next_change_at { " · changes " (when(next)) }
                }
                div.scroll {
                    table {
                        caption.visually-hidden { "On-call windows of the coming week at " (practice.name) }
                        thead { tr { th scope="col" { "Day" } th scope="col" { "Windows (local time)" } } }
                        tbody {
                            @for offset in 0..7 {
                                @let day = today + Duration::days(offset);
                                tr {
                                    th scope="row" { (day.format("%a %b %-d")) }
                                    td {
                                        @let on_day = windows_on(day.weekday(), &now.windows);
                                        @if on_day.is_empty() { span.muted { "nobody" } }
                                        @for w in on_day {
                                            div { (format_hhmm(w.from)) "–" (format_hhmm(w.to)) " " (name(&w.user_id)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        });
    }
    Ok(html! {
        @if sections.is_empty() { p.muted { "You belong to no practice." } }
        @for section in sections { (section) }
    })
}

/// `GET /app/alerts`.
pub async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
) -> Response {
    let list = match open_alerts(&state, &user).await {
        Ok(list) => list,
        Err(response) => return response,
    };
    let on_call = match on_call(&state, &user).await {
        Ok(on_call) => on_call,
        Err(response) => return response,
    };
    let body = html! {
        h1 { "Alerts and on-call" }
        div data-live-events="/app/events" {}
        (list)
        h2 { "On call" }
        (on_call)
    };
    layout::render(
        &state,
        &user,
        &headers,
        Section::Alerts,
        "Alerts and on-call",
        body,
    )
}

/// `GET /app/alerts/list`: the open alerts alone, for the live refresh.
pub async fn list_fragment(State(state): State<AppState>, user: ConsoleUser) -> Response {
    match open_alerts(&state, &user).await {
        Ok(list) => respond(StatusCode::OK, list),
        Err(response) => response,
    }
}

/// `POST /app/alerts/{id}/ack`: acknowledges; the escalation stops on every gateway.
pub async fn acknowledge(
    State(state): State<AppState>,
    user: ConsoleUser,
    PageId(id): PageId,
) -> Response {
    let outcome = alerts::acknowledge_for(&state, &user, id)
        .await
        .map(|alert| format!("Alert {} acknowledged.", alert.code));
    redirect_after(&state, "/app/alerts", outcome)
}
