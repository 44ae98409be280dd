//! Who is using the console: the session cookie, the CSRF check every POST passes, and the
//! flash message a redirect carries to the next page.
//!
//! The cookie holds the same opaque token as the API's bearer token and is checked by the same
//! code ([`crate::services::sessions::authenticate`]), so the idle timeout, logout and locking end a console
//! session exactly as they end an API session. It is `HttpOnly`, `SameSite=Strict`, scoped to
//! `/app`, and `Secure` when `PUBLIC_BASE_URL` is https.
//!
//! CSRF: a signed-in form carries `HMAC-SHA256(key = session token, "console-csrf")`. Only a
//! page that could read the cookie's token can compute it, it needs no server secret (so it
//! holds across instances and restarts), and it dies with the session. The sign-in form, which
//! has no session yet, uses a random double-submit cookie instead. [`require_csrf`] checks every
//! POST under `/app` before any handler runs, so no form can forget it.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::http::AppState;
use crate::http::auth::{CurrentUser, client_addr};
use crate::http::error::ApiError;

/// The session cookie: the bearer token itself.
pub const SESSION_COOKIE: &str = "gw_session";
/// The sign-in form's double-submit token (before there is a session).
pub const LOGIN_CSRF_COOKIE: &str = "gw_login_csrf";
/// A one-shot message for the next page (never patient data: only outcomes and field errors).
pub const FLASH_COOKIE: &str = "gw_flash";
/// The form field (or `X-CSRF-Token` header, for htmx requests) carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
const CSRF_HEADER: &str = "x-csrf-token";
/// Largest form the console accepts (a reply is at most 1600 characters; settings forms are
/// small).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The signed-in console user: the API's [`CurrentUser`] plus what the pages need to build
/// forms.
pub struct ConsoleUser {
    pub caller: CurrentUser,
    /// The CSRF token of this session, for hidden form fields.
    pub csrf: String,
}

impl std::ops::Deref for ConsoleUser {
    type Target = CurrentUser;
    fn deref(&self) -> &CurrentUser {
        &self.caller
    }
}

/// The CSRF token of the session whose token is `session_token`.
pub fn csrf_for(session_token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(session_token.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(b"console-csrf");
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// A `Set-Cookie` value scoped to the console, `HttpOnly` and `SameSite=Strict`; `Secure` when
/// the gateway is reached over https. `None` for `max_age` makes a browser-session cookie.
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let mut cookie = format!("{name}={value}; Path=/app; HttpOnly; SameSite=Strict");
    if state.settings.public_base_url.scheme() == "https" {
        cookie.push_str("; Secure");
    }
    if let Some(seconds) = max_age {
        cookie.push_str(&format!("; Max-Age={seconds}"));
    }
    HeaderValue::from_str(&cookie).expect("cookie values are URL-safe base64 or percent-encoded")
}

/// Where an unauthenticated request goes: the sign-in page (htmx follows `HX-Redirect`).
fn to_sign_in(state: &AppState, parts: &Parts) -> Response {
    let mut response = if parts.headers.contains_key("hx-request") {
        let mut r = StatusCode::NO_CONTENT.into_response();
        r.headers_mut()
            .insert("hx-redirect", HeaderValue::from_static("/app/login"));
        r
    } else {
        Redirect::to("/app/login").into_response()
    };
    if cookie(&parts.headers, SESSION_COOKIE).is_some() {
        response
            .headers_mut()
            .append(SET_COOKIE, set_cookie(state, SESSION_COOKIE, "", Some(0)));
    }
    response
}

impl FromRequestParts<AppState> for ConsoleUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_sign_in(state, parts));
        };
        match crate::services::sessions::authenticate(state, token, client_addr(parts)).await {
            Ok(caller) => Ok(ConsoleUser {
                csrf: csrf_for(token),
                caller,
            }),
            Err(ApiError::Unauthorized) => Err(to_sign_in(state, parts)),
            Err(other) => Err(super::layout::error_page(&other)),
        }
    }
}

/// Refuses every POST under `/app` whose CSRF token (form field `csrf` or header
/// `X-CSRF-Token`) does not match the session's, or for the sign-in form the double-submit
/// cookie's. Runs before the handlers; the body is read once here and handed on.
pub async fn require_csrf(
    State(_state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let expected = if request.uri().path() == "/app/login" {
        cookie(request.headers(), LOGIN_CSRF_COOKIE).map(str::to_string)
    } else {
        cookie(request.headers(), SESSION_COOKIE).map(csrf_for)
    };
    let from_header = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return super::layout::error_page(&ApiError::Malformed(
                "the form is too large or could not be read".into(),
            ));
        }
    };
    let presented = from_header.or_else(|| {
        url::form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.into_owned())
    });
    let valid = match (expected, presented) {
        (Some(expected), Some(presented)) => {
            bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
        }
        _ => false,
    };
    if !valid {
        return super::layout::error_page(&ApiError::Forbidden(
            "this form has expired or did not come from this console; reload the page and try again"
                .into(),
        ));
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// A redirect after a form (303, so the browser follows with GET), carrying a flash message.
pub fn redirect_with(state: &AppState, to: &str, flash: Flash) -> Response {
    let mut response = Redirect::to(to).into_response();
    let value: String = url::form_urlencoded::byte_serialize(flash.encode().as_bytes()).collect();
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(state, FLASH_COOKIE, &value, Some(60)),
    );
    response
}

/// A redirect after a form that either did what it says (`Ok(message)`) or was refused.
pub fn redirect_after(state: &AppState, to: &str, outcome: Result<String, ApiError>) -> Response {
    let flash = match outcome {
        Ok(message) => Flash::Done(message),
        Err(error) => Flash::from_error(&error),
    };
    redirect_with(state, to, flash)
}

/// The outcome of the last form, shown once on the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flash {
    Done(String),
    Failed(String),
}

impl Flash {
    fn encode(&self) -> String {
        match self {
            Flash::Done(m) => format!("ok:{m}"),
            Flash::Failed(m) => format!("error:{m}"),
        }
    }

    fn decode(raw: &str) -> Option<Flash> {
        let text: String = url::form_urlencoded::parse(format!("f={raw}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())?;
        if let Some(m) = text.strip_prefix("ok:") {
            Some(Flash::Done(m.to_string()))
        } else {
            text.strip_prefix("error:")
                .map(|m| Flash::Failed(m.to_string()))
        }
    }

    /// The message of a refused form: what went wrong and how to fix it (never a 500's detail).
    pub fn from_error(error: &ApiError) -> Flash {
        Flash::Failed(super::layout::error_message(error))
    }
}

/// The flash message of this request, if any (the page clears it with [`clear_flash`]).
pub fn take_flash(headers: &HeaderMap) -> Option<Flash> {
    cookie(headers, FLASH_COOKIE).and_then(Flash::decode)
}

/// Adds the header that clears the flash cookie once shown.
pub fn clear_flash(state: &AppState, response: &mut Response) {
    response
        .headers_mut()
        .append(SET_COOKIE, set_cookie(state, FLASH_COOKIE, "", Some(0)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_depends_on_the_session_and_reveals_nothing_of_it() {
        let a = csrf_for("token-a");
        assert_eq!(a, csrf_for("token-a"));
        assert_ne!(a, csrf_for("token-b"));
        assert!(!a.contains("token-a"));
        assert_eq!(a.len(), 43);
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("x_gw_session=no; gw_session=yes; other=1"),
        );
        assert_eq!(cookie(&headers, "gw_session"), Some("yes"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn a_flash_survives_its_cookie_encoding() {
        for flash in [
            Flash::Done("Reply sent.".into()),
            Flash::Failed("body: must not be empty; see ü & ;=".into()),
        ] {
            let value: String =
                url::form_urlencoded::byte_serialize(flash.encode().as_bytes()).collect();
            assert!(!value.contains(';') && !value.contains(' '));
            assert_eq!(Flash::decode(&value), Some(flash));
        }
    }
}
