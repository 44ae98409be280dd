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
use chrono::{DateTime, Utc};
use store::{Audit, Practice, Role, StoreError, User};
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use crate::auth::token;

/// The logged-in user of this request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    /// The stored form of the presented token (for logout).
    pub token_hash: String,
    pub session_expires_at: DateTime<Utc>,
    pub client_addr: Option<IpAddr>,
    pub now: DateTime<Utc>,
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = bearer_token(parts).ok_or(ApiError::Unauthorized)?;
        CurrentUser::from_token(state, presented, client_addr(parts)).await
    }
}

impl CurrentUser {
    /// The user of the session `presented` belongs to (a bearer token, or the staff console's
    /// cookie): 401 unless the session exists, is within the idle timeout and its user is not
    /// locked. Records the use.
    pub async fn from_token(
        state: &AppState,
        presented: &str,
        client_addr: Option<IpAddr>,
    ) -> Result<CurrentUser, ApiError> {
        let token_hash = token::hash(presented);
        let now = state.clock.now();
        let session = match state.store.use_session(&token_hash, now).await {
            Ok(session) => session,
            Err(StoreError::NotFound) => return Err(ApiError::Unauthorized),
            Err(other) => return Err(other.into()),
        };
        Ok(CurrentUser {
            user: session.user,
            token_hash,
            session_expires_at: session.expires_at,
            client_addr,
            now,
        })
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

/// Counts a request refused by tenancy (`tenancy`: another customer's, practice's or a
/// restricted patient, answered 404) or by role (`role`, answered 403). Refusals write no audit
/// row: they would land in the log of a tenant the caller has nothing to do with.
pub fn count_refusal(reason: &'static str) {
    metrics::counter!(crate::telemetry::catalogue::ACCESS_REFUSED, "reason" => reason).increment(1);
}

impl CurrentUser {
    pub fn id(&self) -> Uuid {
        self.user.id
    }

    pub fn role(&self) -> Role {
        self.user.role
    }

    /// The audit context of this request.
    pub fn audit(&self) -> Audit {
        Audit {
            user_id: Some(self.user.id),
            client_addr: self.client_addr.map(|a| a.to_string()),
            at: self.now,
        }
    }

    pub fn is_super_admin(&self) -> bool {
        self.user.role == Role::SuperAdmin
    }

    /// Super admins see every customer; everyone else only their own.
    pub fn can_see_customer(&self, customer_id: Uuid) -> bool {
        self.is_super_admin() || self.user.customer_id == Some(customer_id)
    }

    /// 404 unless the caller may know the customer exists.
    pub fn require_customer(&self, customer_id: Uuid) -> Result<(), ApiError> {
        if self.can_see_customer(customer_id) {
            Ok(())
        } else {
            count_refusal("tenancy");
            Err(ApiError::NotFound("customer"))
        }
    }

    /// Customer administration: super admins, or the customer's own admins (staff get 403).
    pub fn require_customer_admin(&self, customer_id: Uuid) -> Result<(), ApiError> {
        self.require_customer(customer_id)?;
        match self.user.role {
            Role::SuperAdmin | Role::CustomerAdmin => Ok(()),
            Role::Staff => {
                count_refusal("role");
                Err(ApiError::Forbidden(
                    "only administrators of this customer may do this".into(),
                ))
            }
        }
    }

    pub fn require_super_admin(&self) -> Result<(), ApiError> {
        if self.is_super_admin() {
            Ok(())
        } else {
            count_refusal("role");
            Err(ApiError::Forbidden(
                "only super administrators may do this".into(),
            ))
        }
    }

    /// Staff work with the patients of their own practices; admins with all their customer's.
    pub fn can_see_practice(&self, practice: &Practice) -> bool {
        crate::domain::access::can_see_practice(&self.user, practice)
    }

    pub fn require_practice(&self, practice: &Practice) -> Result<(), ApiError> {
        if self.can_see_practice(practice) {
            Ok(())
        } else {
            count_refusal("tenancy");
            Err(ApiError::NotFound("practice"))
        }
    }

    /// Practice administration (settings, users, templates): admins of its customer.
    pub fn require_practice_admin(&self, practice: &Practice) -> Result<(), ApiError> {
        self.require_practice(practice)?;
        self.require_customer_admin(practice.customer_id)
    }
}

/// Whether `user` may see `practice` (the one rule lives in `domain::access`).
pub use crate::domain::access::can_see_practice;
