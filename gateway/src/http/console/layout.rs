//! The page shell every console page shares: landmarks (skip link, header with navigation,
//! main), the flash message, the assets, and the headers of every page (no caching of patient
//! data, a strict content security policy, no referrer).
//!
//! Titles name the page only ("Conversation"), never a patient: titles end up in browser
//! history, tab lists and screen-sharing.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use store::Role;

use super::assets;
use super::session::{CSRF_FIELD, ConsoleUser, Flash, clear_flash, take_flash};
use crate::http::AppState;
use crate::http::error::ApiError;

/// htmx must not inject inline styles (the content security policy refuses them) nor keep
/// pages with patient data in its history cache.
const HTMX_CONFIG: &str =
    r#"{"includeIndicatorStyles": false, "historyCacheSize": 0, "refreshOnHistoryMiss": true}"#;

/// The sections of the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Inbox,
    Alerts,
    Users,
    Practices,
}

/// A complete page for a signed-in user.
pub fn page(
    user: &ConsoleUser,
    section: Section,
    title: &str,
    flash: Option<&Flash>,
    body: Markup,
) -> Markup {
    let admin = matches!(user.role(), Role::CustomerAdmin) && user.user.customer_id.is_some();
    let link = |href: &str, label: &str, this: Section| {
        html! {
            li { a href=(href) aria-current=[(section == this).then_some("page")] { (label) } }
        }
    };
    shell(
        title,
        html! {
            a.skip href="#main" { "Skip to main content" }
            header.top {
                span.brand { "Care gateway" }
                nav aria-label="Main" {
                    ul {
                        (link("/app/inbox", "Inbox", Section::Inbox))
                        (link("/app/alerts", "Alerts and on-call", Section::Alerts))
                        @if admin {
                            (link("/app/admin/users", "Users", Section::Users))
                            (link("/app/admin/practices", "Practice settings", Section::Practices))
                        }
                    }
                }
                form method="post" action="/app/logout" {
                    (csrf_field(user))
                    span.signed-in { "Signed in as " (user.user.username) " " }
                    button type="submit" { "Sign out" }
                }
            }
            main #main tabindex="-1" {
                (flash_box(flash))
                (body)
            }
        },
        Some(&user.csrf),
    )
}

/// A page answered 200, showing (once) the flash message the request carries.
pub fn render(
    state: &AppState,
    user: &ConsoleUser,
    headers: &axum::http::HeaderMap,
    section: Section,
    title: &str,
    body: Markup,
) -> Response {
    let flash = take_flash(headers);
    let mut response = respond(
        StatusCode::OK,
        page(user, section, title, flash.as_ref(), body),
    );
    if flash.is_some() {
        clear_flash(state, &mut response);
    }
    response
}

/// The document around `body`; `csrf` also goes to htmx requests as a header.
pub fn shell(title: &str, body: Markup, csrf: Option<&str>) -> Markup {
    let headers = csrf.map(|t| format!(r#"{{"X-CSRF-Token": "{t}"}}"#));
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                meta name="htmx-config" content=(HTMX_CONFIG);
                title { (title) " · Care gateway" }
                link rel="stylesheet" href=(assets::css_url());
                script src=(assets::htmx_url()) defer {}
                script src=(assets::js_url()) defer {}
            }
            body hx-boost="true" hx-headers=[headers] {
                (body)
            }
        }
    }
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(user: &ConsoleUser) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(user.csrf); }
}

fn flash_box(flash: Option<&Flash>) -> Markup {
    html! {
        @match flash {
            Some(Flash::Done(message)) => div.flash role="status" { (message) },
            Some(Flash::Failed(message)) => div.flash.error role="alert" { (message) },
            None => {},
        }
    }
}

/// The answer of every page: HTML that no cache keeps, under a strict content security policy.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// What a person is told about an error: the API's message, except for a bug, whose detail is
/// logged and never shown.
pub fn error_message(error: &ApiError) -> String {
    match error {
        ApiError::Internal(detail) => {
            tracing::error!(error = ?detail, "internal error in the console");
            "Something went wrong on our side; it has been logged. Try again.".into()
        }
        ApiError::NotFound(_) => "Not found, or not yours to see.".into(),
        other => other.to_string(),
    }
}

/// A page for an error that has no page to go back to (a missing patient, a refused form).
pub fn error_page(error: &ApiError) -> Response {
    let heading = match error.status() {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::SERVICE_UNAVAILABLE => "Temporarily unavailable",
        _ => "Something is not right",
    };
    respond(
        error.status(),
        shell(
            heading,
            html! {
                main #main {
                    h1 { (heading) }
                    p { (error_message(error)) }
                    p { a href="/app/inbox" { "Back to the inbox" } }
                }
            },
            None,
        ),
    )
}

/// A short local date and time for lists ("Mar 2, 15:04 UTC").
pub fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%b %-d, %H:%M UTC").to_string()
}
