//! Who may post readings: a logged-in user, or an integration (a device vendor) presenting one
//! of its customer's API tokens as `Authorization: Bearer <token>`.
//!
//! Sessions are tried first, then API tokens; both are looked up by the SHA-256 of the
//! presented token, which is never logged. A revoked token is not found, so revocation takes
//! effect on the next request on every instance. What the caller may then do (scope, tenancy)
//! is the route's check. [`CurrentUser`] stays the extractor of every user-only route.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use store::{ApiToken, Audit, ReadingSource};
use uuid::Uuid;

use super::AppState;
use super::auth::{CurrentUser, bearer_token, client_addr};
use super::error::ApiError;

/// An integration authenticated by an active API token.
#[derive(Debug, Clone)]
pub struct Integration {
    /// The token's row (never the token itself): its customer and scopes.
    pub token: ApiToken,
    pub client_addr: Option<IpAddr>,
    pub now: DateTime<Utc>,
}

impl Integration {
    /// 403 unless the token carries `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), ApiError> {
        if self.token.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this API token lacks the `{scope}` scope; create one that has it"
            )))
        }
    }
}

/// The caller of a route open to users and integrations alike.
#[derive(Debug, Clone)]
pub enum ReadingsCaller {
    User(Box<CurrentUser>),
    Integration(Integration),
}

impl ReadingsCaller {
    /// The audit context: the user, or no user for an integration (the reading row names the
    /// token it came with).
    pub fn audit(&self) -> Audit {
        match self {
            ReadingsCaller::User(user) => user.audit(),
            ReadingsCaller::Integration(integration) => Audit {
                user_id: None,
                client_addr: integration.client_addr.map(|a| a.to_string()),
                at: integration.now,
            },
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            ReadingsCaller::User(user) => user.now,
            ReadingsCaller::Integration(integration) => integration.now,
        }
    }

    /// Who a reading posted by this caller comes from.
    pub fn source(&self) -> ReadingSource {
        match self {
            ReadingsCaller::User(user) => ReadingSource::User(user.id()),
            ReadingsCaller::Integration(integration) => {
                ReadingSource::ApiToken(integration.token.id)
            }
        }
    }

    /// The token's id, for an integration.
    pub fn api_token_id(&self) -> Option<Uuid> {
        match self {
            ReadingsCaller::User(_) => None,
            ReadingsCaller::Integration(integration) => Some(integration.token.id),
        }
    }
}

impl FromRequestParts<AppState> for ReadingsCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = bearer_token(parts).ok_or(ApiError::Unauthorized)?;
        match crate::services::sessions::authenticate(state, presented, client_addr(parts)).await {
            Ok(user) => return Ok(ReadingsCaller::User(Box::new(user))),
            Err(ApiError::Unauthorized) => {}
            Err(other) => return Err(other),
        }
        let token = crate::services::api_tokens::active(state, presented).await?;
        Ok(ReadingsCaller::Integration(Integration {
            token,
            client_addr: client_addr(parts),
            now: state.clock.now(),
        }))
    }
}
