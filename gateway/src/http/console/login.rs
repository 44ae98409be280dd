//! Sign in and sign out. Signing in goes through the same use case as `POST /v1/auth/login`
//! (throttling, locked users, audit), and the session it starts is the API's: its token goes
//! into the `HttpOnly` session cookie instead of an `Authorization` header.

use std::net::{IpAddr, Ipv4Addr};

use axum::Form;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::layout::{self, respond, shell};
use super::session::{
    self, CSRF_FIELD, ConsoleUser, Flash, LOGIN_CSRF_COOKIE, SESSION_COOKIE, redirect_with,
    set_cookie, take_flash,
};
use crate::auth::token;
use crate::http::AppState;
use crate::http::auth::ClientAddr;
use crate::http::error::ApiError;
use crate::services::sessions;

/// `GET /app/login`: the sign-in form, with a fresh double-submit CSRF token.
pub async fn form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let flash = take_flash(&headers);
    let csrf = token::generate();
    let markup = shell(
        "Sign in",
        html! {
            main #main {
                h1 { "Sign in to the care gateway" }
                @match &flash {
                    Some(Flash::Failed(m)) => div.flash.error role="alert" { (m) },
                    Some(Flash::Done(m)) => div.flash role="status" { (m) },
                    None => {},
                }
                form.card method="post" action="/app/login" hx-boost="false" {
                    input type="hidden" name=(CSRF_FIELD) value=(csrf);
                    label for="username" { "Username" }
                    input #username type="text" name="username" autocomplete="username" required autofocus;
                    label for="password" { "Password" }
                    input #password type="password" name="password" autocomplete="current-password" required;
                    div.actions { button type="submit" { "Sign in" } }
                }
            }
        },
        None,
    );
    let mut response = respond(StatusCode::OK, markup);
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(&state, LOGIN_CSRF_COOKIE, &csrf, Some(3600)),
    );
    if flash.is_some() {
        session::clear_flash(&state, &mut response);
    }
    response
}

#[derive(Deserialize)]
pub struct SignIn {
    username: String,
    password: String,
}

/// `POST /app/login`: starts a session and sets the session cookie, or says why not.
pub async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    Form(form): Form<SignIn>,
) -> Response {
    let address = address.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    match sessions::login(&state, &form.username, form.password, address).await {
        Ok(login) => {
            let mut response = Redirect::to("/app/inbox").into_response();
            let headers = response.headers_mut();
            headers.append(
                SET_COOKIE,
                set_cookie(&state, SESSION_COOKIE, &login.token, None),
            );
            headers.append(
                SET_COOKIE,
                set_cookie(&state, LOGIN_CSRF_COOKIE, "", Some(0)),
            );
            response
        }
        Err(error) => {
            let message = match error {
                ApiError::Unauthorized => "Wrong username or password.".to_string(),
                ApiError::Invalid { .. } => "Enter your username and password.".to_string(),
                other => layout::error_message(&other),
            };
            redirect_with(&state, "/app/login", Flash::Failed(message))
        }
    }
}

/// `POST /app/logout`: ends the session at once and clears the cookie.
pub async fn sign_out(State(state): State<AppState>, user: ConsoleUser) -> Response {
    if let Err(error) = sessions::logout(&state, &user.caller).await {
        return layout::error_page(&error);
    }
    let mut response = redirect_with(
        &state,
        "/app/login",
        Flash::Done("You are signed out.".into()),
    );
    response
        .headers_mut()
        .append(SET_COOKIE, set_cookie(&state, SESSION_COOKIE, "", Some(0)));
    response
}
