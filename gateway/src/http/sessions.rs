//! Sessions: log in with username and password, log out, and who am I.

use std::net::{IpAddr, Ipv4Addr};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use store::{AuditEvent, StoreError};
use utoipa::ToSchema;

use super::AppState;
use super::auth::{ClientAddr, CurrentUser};
use super::error::{ApiError, ErrorBody};
use super::extract::ApiJson;
use super::views::UserView;
use crate::auth::{limiter, password, token};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// The bearer token; shown once, stored only as a hash.
    pub token: String,
    /// When the session ends unless used before then (the user's idle timeout).
    pub expires_at: DateTime<Utc>,
}

/// Log in; the answer's token goes in `Authorization: Bearer …` on every other call.
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "sessions",
    request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, description = "wrong username or password", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 423, description = "the user is locked", body = ErrorBody),
        (status = 429, description = "too many failed attempts; see Retry-After", body = ErrorBody),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let address = address.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let username = request.username.trim().to_string();
    if username.is_empty() || username.chars().count() > 64 {
        return Err(ApiError::invalid("username", "must be 1 to 64 characters"));
    }
    crate::domain::bounds::password(&request.password)
        .map_err(|why| ApiError::invalid("password", why.to_string()))?;
    let now = state.clock.now();
    if let Some(wait) = limiter::blocked_for(state.store.as_ref(), now, &username, address).await? {
        return Err(ApiError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    let user = match state.store.find_user_by_username(&username).await {
        Ok(user) => Some(user),
        Err(StoreError::NotFound) => None,
        Err(other) => return Err(other.into()),
    };
    // A locked user is told so before the password is looked at: the answer must not confirm a
    // guessed password.
    if user.as_ref().is_some_and(|u| u.locked_at.is_some()) {
        return Err(ApiError::Locked);
    }
    // A username that failed too often lately (from anywhere) waits for its turn; never refused.
    let delay = limiter::delay_for(state.store.as_ref(), now, &username).await?;
    if !delay.is_zero() {
        metrics::counter!("gateway_login_delays_total").increment(1);
        state.clock.pause(delay).await;
    }
    let now = state.clock.now();
    // Verify against a dummy hash when the user does not exist, so timing reveals nothing.
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| password::dummy_hash().to_string());
    let candidate = request.password;
    let matches = tokio::task::spawn_blocking(move || password::verify(&hash, &candidate))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let user = match user {
        Some(user) if matches => user,
        _ => {
            if let Some(wait) =
                limiter::record_failure(state.store.as_ref(), now, &username, address).await?
            {
                return Err(ApiError::RateLimited {
                    retry_after_secs: wait.as_secs().max(1),
                });
            }
            return Err(ApiError::Unauthorized);
        }
    };
    let issued = token::generate();
    state
        .store
        .create_session(&token::hash(&issued), user.id, now)
        .await?;
    let audit = store::Audit {
        user_id: Some(user.id),
        client_addr: Some(address.to_string()),
        at: now,
    };
    let event = AuditEvent {
        customer_id: user.customer_id,
        action: "session.login",
        target_type: "user",
        target_id: Some(user.id.to_string()),
        patient_id: None,
    };
    state.store.append_audit(&audit, event).await?;
    Ok(Json(LoginResponse {
        token: issued,
        expires_at: now + Duration::minutes(i64::from(user.auto_logout_minutes)),
    }))
}

/// End this session at once.
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    tag = "sessions",
    security(("bearer" = [])),
    responses((status = 204, description = "logged out"), (status = 401, body = ErrorBody))
)]
pub async fn logout(
    State(state): State<AppState>,
    caller: CurrentUser,
) -> Result<StatusCode, ApiError> {
    state.store.delete_session(&caller.token_hash).await?;
    // This session's open notification streams close now.
    state.notify_feed();
    let event = AuditEvent {
        customer_id: caller.user.customer_id,
        action: "session.logout",
        target_type: "user",
        target_id: Some(caller.id().to_string()),
        patient_id: None,
    };
    state.store.append_audit(&caller.audit(), event).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The logged-in user.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "sessions",
    security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody))
)]
pub async fn me(caller: CurrentUser) -> Json<UserView> {
    Json(UserView::from(&caller.user))
}
