//! Sessions as use cases: log in with username and password (throttled, audited), log out.
//!
//! The JSON API (`POST /v1/auth/login`, bearer token) and the staff console (the same token in a
//! cookie) both start and end sessions here, so the throttle, lock and idle-timeout rules are
//! the same whichever door a user comes through. Never log a password or a token.

use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use store::{AuditEvent, StoreError, User};

use crate::app::{App, AppError, CurrentUser};
use crate::auth::{limiter, password, token};

/// The user of the session `presented` belongs to (a bearer token, or the staff console's
/// cookie): 401 unless the session exists, is within the idle timeout and its user is not
/// locked. Records the use.
pub async fn authenticate(
    app: &App,
    presented: &str,
    client_addr: Option<IpAddr>,
) -> Result<CurrentUser, AppError> {
    let token_hash = token::hash(presented);
    let now = app.clock.now();
    let session = match app.store.use_session(&token_hash, now).await {
        Ok(session) => session,
        Err(StoreError::NotFound) => return Err(AppError::Unauthorized),
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

/// A session just started.
pub struct Login {
    /// The bearer token; shown once, stored only as a hash.
    pub token: String,
    /// When the session ends unless used before then (the user's idle timeout).
    pub expires_at: DateTime<Utc>,
    pub user: User,
}

/// Checks the password (against a dummy hash for unknown users, so timing reveals nothing) and
/// starts a session. Failures are limited per (username, client address) pair and per address
/// (429 with the wait); a username that failed often lately, from anywhere, makes each login
/// wait for its turn but is never refused, so one guesser cannot lock a user out. A locked user
/// gets 423 before the password is looked at, so the answer never confirms a guessed password.
/// 401 wrong, 422 an empty or over-long username or password.
pub async fn login(
    state: &App,
    username: &str,
    candidate: String,
    address: IpAddr,
) -> Result<Login, AppError> {
    let username = username.trim().to_string();
    if username.is_empty() || username.chars().count() > 64 {
        return Err(AppError::invalid("username", "must be 1 to 64 characters"));
    }
    crate::domain::bounds::password(&candidate)
        .map_err(|why| AppError::invalid("password", why.to_string()))?;
    let now = state.clock.now();
    if let Some(wait) = limiter::blocked_for(state.store.as_ref(), now, &username, address).await? {
        return Err(AppError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    let user = match state.store.find_user_by_username(&username).await {
        Ok(user) => Some(user),
        Err(StoreError::NotFound) => None,
        Err(other) => return Err(other.into()),
    };
    if user.as_ref().is_some_and(|u| u.locked_at.is_some()) {
        return Err(AppError::Locked);
    }
    let delay = limiter::delay_for(state.store.as_ref(), now, &username).await?;
    if !delay.is_zero() {
        metrics::counter!(crate::telemetry::catalogue::LOGIN_DELAYS).increment(1);
        state.clock.pause(delay).await;
    }
    let now = state.clock.now();
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| password::dummy_hash().to_string());
    let matches = tokio::task::spawn_blocking(move || password::verify(&hash, &candidate))
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let user = match user {
        Some(user) if matches => user,
        _ => {
            if let Some(wait) =
                limiter::record_failure(state.store.as_ref(), now, &username, address).await?
            {
                return Err(AppError::RateLimited {
                    retry_after_secs: wait.as_secs().max(1),
                });
            }
            return Err(AppError::Unauthorized);
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
    Ok(Login {
        token: issued,
        expires_at: now + Duration::minutes(i64::from(user.auto_logout_minutes)),
        user,
    })
}

/// Ends the caller's session at once, with its audit row.
pub async fn logout(state: &App, caller: &CurrentUser) -> Result<(), AppError> {
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
    Ok(())
}
