//! Practice settings, for customer admins: on-call windows, reading alerts per vital, and the
//! notification defaults for users and for new patients. Each form saves through the same use
//! case as its `/v1/practices/{id}/…` route, so the same rules refuse the same input. This module
//! has the pages; each form, with the handler that saves it, has its own module.

mod notification_defaults;
mod on_call;
mod reading_alerts;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use types::Vital;
use uuid::Uuid;

use super::PageId;
use super::layout::{self, Section, page as shell_page, respond};
use super::session::ConsoleUser;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::services::access::administered_practice;
use crate::services::notification_settings as settings;
use crate::services::{oncall, readings, users};

pub use notification_defaults::{save_patient_defaults, save_user_defaults};
pub use on_call::save_on_call;
pub use reading_alerts::save_reading_alert;

/// A practice the signed-in admin administers; 404/403 page otherwise.
/// `GET /app/admin/practices`.
pub async fn list(State(state): State<AppState>, user: ConsoleUser) -> Response {
    let practices = match users::practices_of(&state, &user).await {
        Ok(p) => p,
        Err(error) => return layout::error_page(&error),
    };
    let body = html! {
        h1 { "Practice settings" }
        ul.list {
            @for p in &practices {
                li { a href={ "/app/admin/practices/" (p.id) } { (p.name) } span.muted { (p.timezone) } }
            }
        }
    };
    respond(
        StatusCode::OK,
        shell_page(&user, Section::Practices, "Practice settings", None, body),
    )
}

#[derive(Deserialize)]
pub struct VitalQuery {
    vital: Option<String>,
}

/// `GET /app/admin/practices/{id}`.
pub async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    PageId(id): PageId,
    Query(query): Query<VitalQuery>,
) -> Response {
    let vital = query
        .vital
        .as_deref()
        .and_then(|v| Vital::parse(v).ok())
        .unwrap_or(Vital::Pulse);
    let loaded = async {
        let practice = administered_practice(&state, &user, id).await?;
        let customer_id = practice.customer_id;
        let people = users::list_for(&state, &user, customer_id).await?;
        let windows = oncall::schedule_for(&state, &user, id).await?;
        let alert = readings::practice_alert_for(&state, &user, id, vital).await?;
        let user_defaults = settings::practice_user_defaults_for(&state, &user, id).await?;
        let patient_defaults = settings::practice_patient_defaults_for(&state, &user, id).await?;
        Ok::<_, ApiError>((
            practice,
            people,
            windows,
            alert,
            user_defaults,
            patient_defaults,
        ))
    }
    .await;
    let (practice, people, windows, alert, user_defaults, patient_defaults) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => return layout::error_page(&error),
    };
    let bodies = crate::services::schedule_changes::bodies_of(&windows);
    let body = html! {
        p { a href="/app/admin/practices" { "← Practices" } }
        h1 { "Settings of " (practice.name) }
        (on_call::on_call_form(&user, &practice, &bodies, &people))
        (reading_alerts::reading_alert_form(&user, &practice, vital, alert.as_ref()))
        (notification_defaults::user_defaults_form(&user, &practice, &user_defaults))
        (notification_defaults::patient_defaults_form(&user, &practice, &patient_defaults))
    };
    layout::render(
        &state,
        &user,
        &headers,
        Section::Practices,
        "Practice settings",
        body,
    )
}

/// Where each form's save returns: the practice's settings page.
fn back(id: Uuid) -> String {
    format!("/app/admin/practices/{id}")
}
