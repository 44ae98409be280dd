//! The staff console: server-rendered pages at `/app` for the people who work in a practice —
//! inbox, conversation, alerts and on-call, and for customer admins users and practice
//! settings.
//!
//! It is another door to the same use cases as the JSON API: every page reads and every form
//! changes through the same `services` functions and access checks the `/v1` handlers call,
//! signed in by the same sessions. Pages are plain HTML forms that POST and redirect; htmx
//! (vendored, see [`assets`]) boosts links and forms and refreshes the live parts when the
//! user's notification stream says something changed. Nothing that identifies a patient goes
//! into a URL or a title: pages are addressed by ids, searches are POSTed.

// Page helpers return the finished error page as their `Err`: it is answered at once, on a cold
// path, so boxing it would only add noise.
#![allow(clippy::result_large_err)]

mod admin_practices;
mod admin_users;
mod alerts;
pub mod assets;
mod conversation;
mod inbox;
mod layout;
mod login;
pub mod session;

use axum::Router;
use axum::extract::{FromRequestParts, RawPathParams, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use uuid::Uuid;

use crate::http::AppState;
use crate::http::error::ApiError;
use session::ConsoleUser;

/// The console's routes, each under `/app`, every POST behind the CSRF check.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/app", get(|| async { Redirect::to("/app/inbox") }))
        .route("/app/", get(|| async { Redirect::to("/app/inbox") }))
        .route("/app/login", get(login::form).post(login::sign_in))
        .route("/app/logout", post(login::sign_out))
        .route("/app/inbox", get(inbox::page))
        .route("/app/inbox/list", get(inbox::list_fragment))
        .route(
            "/app/search",
            get(|| async { Redirect::to("/app/inbox") }).post(inbox::search),
        )
        .route("/app/patients/{id}", get(conversation::page))
        .route(
            "/app/patients/{id}/thread",
            get(conversation::thread_fragment),
        )
        .route("/app/patients/{id}/messages", post(conversation::reply))
        .route(
            "/app/patients/{id}/texting/{action}",
            post(conversation::texting_action),
        )
        .route("/app/alerts", get(alerts::page))
        .route("/app/alerts/list", get(alerts::list_fragment))
        .route("/app/alerts/{id}/ack", post(alerts::acknowledge))
        .route("/app/events", get(events))
        .route(
            "/app/admin/users",
            get(admin_users::page).post(admin_users::create),
        )
        .route("/app/admin/users/{id}/lock", post(admin_users::lock))
        .route("/app/admin/users/{id}/unlock", post(admin_users::unlock))
        .route("/app/admin/practices", get(admin_practices::list))
        .route("/app/admin/practices/{id}", get(admin_practices::page))
        .route(
            "/app/admin/practices/{id}/on-call",
            post(admin_practices::save_on_call),
        )
        .route(
            "/app/admin/practices/{id}/reading-alerts",
            post(admin_practices::save_reading_alert),
        )
        .route(
            "/app/admin/practices/{id}/notification-defaults/users",
            post(admin_practices::save_user_defaults),
        )
        .route(
            "/app/admin/practices/{id}/notification-defaults/patients",
            post(admin_practices::save_patient_defaults),
        )
        .route("/app/assets/{file}", get(assets::asset))
        .route("/app/{*rest}", get(not_found).post(not_found))
        .layer(axum::middleware::from_fn_with_state(
            state,
            session::require_csrf,
        ))
}

async fn not_found() -> Response {
    layout::error_page(&ApiError::NotFound("page"))
}

/// The `{id}` of a page's path; a malformed one is a page that does not exist.
pub(crate) struct PageId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PageId {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let missing = || layout::error_page(&ApiError::NotFound("page"));
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| missing())?;
        params
            .iter()
            .find(|(name, _)| *name == "id")
            .and_then(|(_, value)| Uuid::parse_str(value).ok())
            .map(PageId)
            .ok_or_else(missing)
    }
}

/// `GET /app/events`: the signed-in user's notification stream, as the API serves it.
async fn events(State(state): State<AppState>, user: ConsoleUser, headers: HeaderMap) -> Response {
    match crate::http::notifications::events_for(state, &user.caller, &headers).await {
        Ok(stream) => stream.into_response(),
        Err(error) => layout::error_page(&error),
    }
}

/// A submitted form as name/value pairs, in order (checkbox groups repeat a name, which
/// `axum::Form` cannot read into a list).
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    pub(crate) fn parse(body: &[u8]) -> Fields {
        Fields(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`, or "".
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Every value of `name`, in order.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a checkbox `name` was ticked.
    pub(crate) fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }
}
