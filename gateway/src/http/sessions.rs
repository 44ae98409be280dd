//! Sessions: log in with username and password, log out, and who am I.

use std::net::{IpAddr, Ipv4Addr};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::auth::{ClientAddr, CurrentUser};
use super::error::{ApiError, ErrorBody};
use super::extract::ApiJson;
use super::views::UserView;
use crate::services::sessions;

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
    let login = sessions::login(&state, &request.username, request.password, address).await?;
    Ok(Json(LoginResponse {
        token: login.token,
        expires_at: login.expires_at,
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
    sessions::logout(&state, &caller).await?;
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
