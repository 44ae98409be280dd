//! Who is calling: the bearer-token extractor and the tenancy checks every route uses.
//!
//! A request reaches a handler's data only with a session that exists, is within its user's idle
//! timeout and belongs to an unlocked user; the store checks all three in one statement, so a
//! lock takes effect on the next request on every instance. Tenancy rule: anything of another
//! customer answers 404, never 403, so its existence is not revealed.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;

pub use crate::app::caller::{CurrentUser, count_refusal};

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = bearer_token(parts).ok_or(ApiError::Unauthorized)?;
        crate::services::sessions::authenticate(state, presented, client_addr(parts)).await
    }
}

pub(crate) fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The peer address of the request, when known.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_addr(parts)))
    }
}

/// The peer address of the connection (the gateway does not trust forwarding headers).
pub fn client_addr(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// Whether `user` may see `practice` (the one rule lives in `domain::access`).
pub use crate::domain::access::can_see_practice;
