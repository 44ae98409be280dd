//! Who may post readings: a logged-in user, or an integration (a device vendor) presenting one
//! of its customer's API tokens as `Authorization: Bearer <token>`.
//!
//! API tokens are tried first (devices post most readings: one statement for them, where a
//! session's look-up would also try to delete the idle session it did not find), then
//! sessions; both are looked up by the SHA-256 of the presented token, which is never logged.
//! A revoked token is not found, so revocation takes effect on the next request on every
//! instance. What the caller may then do (scope, tenancy) is the route's check. [`CurrentUser`]
//! stays the extractor of every user-only route.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::AppState;
use super::auth::{bearer_token, client_addr};
use super::error::ApiError;

pub use crate::app::caller::{Integration, ReadingsCaller};

impl FromRequestParts<AppState> for ReadingsCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = bearer_token(parts).ok_or(ApiError::Unauthorized)?;
        match crate::services::api_tokens::active(state, presented).await {
            Ok(token) => {
                return Ok(ReadingsCaller::Integration(Integration {
                    token,
                    client_addr: client_addr(parts),
                    now: state.clock.now(),
                }));
            }
            Err(ApiError::Unauthorized) => {}
            Err(other) => return Err(other),
        }
        let user =
            crate::services::sessions::authenticate(state, presented, client_addr(parts)).await?;
        Ok(ReadingsCaller::User(Box::new(user)))
    }
}
