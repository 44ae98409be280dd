//! Users: every person has their own login. Admins create and change the users of their
//! customer; users may change their own names, contact details and password. Users are locked,
//! never deleted; locking hands their outstanding items to another user first.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use store::Outstanding;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, OptionalJson};
use super::views::UserView;
use crate::services::users::{self, LockRefusal, NewUserRequest, UserPatchRequest};

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct LockRequest {
    /// Who takes over the user's outstanding items.
    pub reassign_to: Option<Uuid>,
}

#[derive(Serialize, ToSchema)]
pub struct OutstandingView {
    pub customer_default_user_of: Vec<Uuid>,
    pub practice_group_default_user_of: Vec<Uuid>,
    /// Patients whose care team the user is on.
    pub care_team_of: Vec<Uuid>,
    /// Practices where the user has on-call windows.
    pub on_call_at: Vec<Uuid>,
    /// Practices where the user has on-call overrides that have not ended.
    pub on_call_overrides_at: Vec<Uuid>,
    /// Patients only this user follows (as a notification user) whose messages they have not
    /// read; the successor follows them.
    pub unread_only_theirs: Vec<Uuid>,
    /// Open alerts this user was notified of; the successor is notified of them.
    pub open_alerts: Vec<Uuid>,
    pub total: usize,
}

impl From<Outstanding> for OutstandingView {
    fn from(o: Outstanding) -> OutstandingView {
        let total = o.customer_default_user_of.len()
            + o.practice_group_default_user_of.len()
            + o.care_team_of.len()
            + o.on_call_at.len()
            + o.on_call_overrides_at.len()
            + o.unread_only_theirs.len()
            + o.open_alerts.len();
        OutstandingView {
            customer_default_user_of: o.customer_default_user_of,
            practice_group_default_user_of: o.practice_group_default_user_of,
            care_team_of: o.care_team_of,
            on_call_at: o.on_call_at,
            on_call_overrides_at: o.on_call_overrides_at,
            unread_only_theirs: o.unread_only_theirs,
            open_alerts: o.open_alerts,
            total,
        }
    }
}

/// Create a user (admins; customer admins within their customer).
#[utoipa::path(
    post, path = "/v1/users", tag = "users", security(("bearer" = [])),
    request_body = NewUserRequest,
    responses(
        (status = 201, body = UserView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn create_user(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiJson(body): ApiJson<NewUserRequest>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let user = users::create(&state, &caller, body).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

/// Read a user of the caller's customer.
#[utoipa::path(
    get, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_user(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(UserView::from(
        &users::visible_user(&state, &caller, id).await?,
    )))
}

/// Change a user. Users may change their own names, e-mail, title, mobile phone and password
/// (with `current_password`); role, auto-logout, practices, program restrictions and
/// `reassign_to` need an administrator. A new password ends every other session of the user. A
/// change that would leave the user on call where they could no longer act (a practice removed,
/// role lowered, mobile number cleared) hands those windows and running overrides to
/// `reassign_to` in the same transaction, or is refused with 409 without one.
#[utoipa::path(
    patch, path = "/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = UserPatchRequest,
    responses(
        (status = 200, body = UserView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`outstanding_items`: the change would leave on-call duty with the user where they could no longer act, and no reassign_to was sent; nothing changed", body = ErrorBody),
        (status = 422, description = "a field is invalid, or reassign_to cannot take over that on-call duty", body = ErrorBody),
        (status = 429, description = "too many wrong current passwords; see Retry-After", body = ErrorBody),
    )
)]
pub async fn update_user(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UserPatchRequest>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(UserView::from(
        &users::update(&state, &caller, id, body).await?,
    )))
}

/// What the user must hand over before being locked.
#[utoipa::path(
    get, path = "/v1/users/{id}/outstanding", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = OutstandingView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn outstanding(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<OutstandingView>, ApiError> {
    Ok(Json(users::outstanding(&state, &caller, id).await?.into()))
}

/// Lock a user: their sessions end at once on every instance. With outstanding items, a
/// `reassign_to` user takes them over; without one the answer is 409 listing them. On-call
/// windows and running overrides go over only to someone who can act at those practices.
#[utoipa::path(
    post, path = "/v1/users/{id}/lock", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body(content = LockRequest, description = "optional"),
    responses(
        (status = 200, body = UserView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "`outstanding_items` and no reassign_to; nothing changed", body = ErrorBody),
        (status = 422, description = "reassign_to is not another unlocked user of the customer, or cannot be on call where the user is", body = ErrorBody),
    )
)]
pub async fn lock_user(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    OptionalJson(body): OptionalJson<LockRequest>,
) -> Result<Json<UserView>, ApiError> {
    let reassign_to = body.and_then(|b| b.reassign_to);
    match users::lock(&state, &caller, id, reassign_to).await {
        Ok(user) => Ok(Json(UserView::from(&user))),
        Err(LockRefusal::Error(e)) => Err(e),
        Err(LockRefusal::Outstanding(items)) => Err(outstanding_conflict(items)),
    }
}

/// 409 `outstanding_items`, counting what the user still holds.
pub fn outstanding_conflict(items: Outstanding) -> ApiError {
    let view = OutstandingView::from(items);
    ApiError::Conflict {
        code: "outstanding_items",
        message: format!(
            "this user has {} outstanding item(s) (default user of {} customer(s) and {} practice group(s), \
             on the care team of {} patient(s), on call at {} practice(s), with on-call overrides at {} practice(s), \
             the only follower of {} patient(s) with unread messages, notified of {} open alert(s)); \
             send reassign_to with the user who takes them over",
            view.total,
            view.customer_default_user_of.len(),
            view.practice_group_default_user_of.len(),
            view.care_team_of.len(),
            view.on_call_at.len(),
            view.on_call_overrides_at.len(),
            view.unread_only_theirs.len(),
            view.open_alerts.len()
        ),
    }
}

/// Unlock a user; they log in again with their password.
#[utoipa::path(
    post, path = "/v1/users/{id}/unlock", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = UserView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn unlock_user(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<UserView>, ApiError> {
    Ok(Json(UserView::from(
        &users::unlock(&state, &caller, id).await?,
    )))
}
