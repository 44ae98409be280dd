//! Users: every person has their own login. Admins create and change the users of their
//! customer; users may change their own names, contact details and password. Users are locked,
//! never deleted; locking hands their outstanding items to another user first.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use store::{Outstanding, Role, StoreError, User, UserPatch};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, OptionalJson};
use super::oncall::refusal;
use super::validate;
use super::views::UserView;
use crate::auth::limiter;
use crate::auth::password::Password;
use crate::services::oncall;
use crate::services::users::{self, LockRefusal};

/// Auto-logout bounds in minutes: at least a minute, at most 12 hours.
pub const MAX_AUTO_LOGOUT: i64 = 720;
pub const DEFAULT_AUTO_LOGOUT: i32 = 30;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    pub username: String,
    /// At least 8 characters including a digit.
    pub password: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub title: String,
    #[schema(value_type = String, example = "staff")]
    pub role: Role,
    /// Required except for super admins; customer admins may only give their own.
    pub customer_id: Option<Uuid>,
    #[serde(default)]
    pub practice_ids: Vec<Uuid>,
    pub mobile_phone: Option<String>,
    pub auto_logout_minutes: Option<i64>,
    #[serde(default)]
    pub restricted_programs: Vec<String>,
    /// Another user of the same customer, who joins the care team (and programs) of the
    /// patients this user creates.
    pub supervisor_id: Option<Uuid>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatchRequest {
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    /// Empty string clears it.
    pub mobile_phone: Option<String>,
    /// A new password: every other session of the user ends.
    pub password: Option<String>,
    /// Required with `password` when changing one's own password.
    pub current_password: Option<String>,
    /// Admins only.
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    /// Admins only.
    pub auto_logout_minutes: Option<i64>,
    /// Admins only.
    pub practice_ids: Option<Vec<Uuid>>,
    /// Admins only.
    pub restricted_programs: Option<Vec<String>>,
    /// Admins only: another user of the same customer; `null` removes the supervisor.
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<Uuid>, nullable)]
    pub supervisor_id: Option<Option<Uuid>>,
    /// Admins only. Who takes over on-call windows and running overrides that this change would
    /// leave with the user although they could no longer act on them (a practice removed from
    /// `practice_ids`, `role` lowered to staff, `mobile_phone` cleared). Needed only then; must be
    /// another unlocked user of the same customer who can act at those practices.
    pub reassign_to: Option<Uuid>,
}

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

pub(crate) fn username(value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    let valid = (3..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c));
    if valid {
        Ok(value.to_string())
    } else {
        Err(ApiError::invalid(
            "username",
            "must be 3 to 64 characters of letters, digits, '.', '_', '@' or '-'",
        ))
    }
}

pub(crate) fn password(value: &str) -> Result<Password, ApiError> {
    Password::parse(value).map_err(|why| ApiError::invalid("password", why))
}

pub(crate) fn optional_phone(value: Option<&str>) -> Result<Option<String>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => validate::phone("mobile_phone", v).map(Some),
    }
}

/// Which roles the caller may hand out.
pub(crate) fn may_grant(caller: &CurrentUser, role: Role) -> bool {
    match caller.role() {
        Role::SuperAdmin => true,
        Role::CustomerAdmin => role != Role::SuperAdmin,
        Role::Staff => false,
    }
}

/// Every practice must be a practice of the customer.
pub(crate) async fn check_practices(
    state: &AppState,
    customer_id: Uuid,
    practice_ids: &[Uuid],
) -> Result<(), ApiError> {
    for (i, id) in practice_ids.iter().enumerate() {
        match state.store.get_practice(*id).await {
            Ok(p) if p.customer_id == customer_id => {}
            Ok(_) | Err(StoreError::NotFound) => {
                return Err(ApiError::invalid(
                    format!("practice_ids[{i}]"),
                    "is not a practice of this customer",
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A user the caller may know exists: same customer, or any for super admins.
pub(crate) async fn visible_user(
    state: &AppState,
    caller: &CurrentUser,
    id: Uuid,
) -> Result<User, ApiError> {
    let user = match state.store.get_user(id).await {
        Ok(user) => user,
        Err(StoreError::NotFound) => return Err(ApiError::NotFound("user")),
        Err(e) => return Err(e.into()),
    };
    let visible = caller.is_super_admin()
        || (user.customer_id.is_some() && user.customer_id == caller.user.customer_id);
    if visible {
        Ok(user)
    } else {
        Err(ApiError::NotFound("user"))
    }
}

/// 422 unless `successor` is another unlocked user of `user`'s customer (who takes over what
/// `user` hands on; the store checks on-call duty further inside its transaction).
pub(crate) async fn check_successor(
    state: &AppState,
    user: &User,
    successor: Uuid,
) -> Result<(), ApiError> {
    let valid = match state.store.get_user(successor).await {
        Ok(s) => s.customer_id == user.customer_id && s.locked_at.is_none() && s.id != user.id,
        Err(StoreError::NotFound) => false,
        Err(e) => return Err(e.into()),
    };
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "reassign_to",
            "must be another unlocked user of the same customer",
        ))
    }
}

/// Admin rights over `user`: super admins, or admins of the user's customer.
pub(crate) fn require_admin_of(caller: &CurrentUser, user: &User) -> Result<(), ApiError> {
    match user.customer_id {
        Some(customer_id) => caller.require_customer_admin(customer_id),
        None => caller.require_super_admin(),
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
        &visible_user(&state, &caller, id).await?,
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
    let user = visible_user(&state, &caller, id).await?;
    let is_self = user.id == caller.id();
    let admin_fields = body.role.is_some()
        || body.auto_logout_minutes.is_some()
        || body.practice_ids.is_some()
        || body.restricted_programs.is_some()
        || body.supervisor_id.is_some()
        || body.reassign_to.is_some();
    if !is_self || admin_fields {
        require_admin_of(&caller, &user)?;
    }
    if let Some(role) = body.role {
        let valid_for_account = (role == Role::SuperAdmin) == user.customer_id.is_none();
        if !may_grant(&caller, role) || !valid_for_account {
            return Err(ApiError::invalid(
                "role",
                "this role cannot be given to this user",
            ));
        }
    }
    if let (Some(practice_ids), Some(customer_id)) = (&body.practice_ids, user.customer_id) {
        check_practices(&state, customer_id, practice_ids).await?;
    }
    if let Some(successor) = body.reassign_to {
        check_successor(&state, &user, successor).await?;
    }
    if body.current_password.is_some() && body.password.is_none() {
        return Err(ApiError::invalid(
            "current_password",
            "is only needed together with a new password",
        ));
    }
    if is_self && body.password.is_some() {
        check_current_password(&state, &caller, body.current_password.as_deref()).await?;
    }
    let password_hash = match body.password.as_deref() {
        Some(p) => {
            let secret = password(p)?;
            Some(
                tokio::task::spawn_blocking(move || secret.hash())
                    .await
                    .map_err(|e| ApiError::Internal(e.into()))?,
            )
        }
        None => None,
    };
    let patch = UserPatch {
        email: body
            .email
            .as_deref()
            .map(|e| {
                if e.trim().is_empty() {
                    Ok(String::new())
                } else {
                    validate::email("email", e)
                }
            })
            .transpose()?,
        first_name: body
            .first_name
            .as_deref()
            .map(|v| validate::optional_text("first_name", v, 100))
            .transpose()?,
        last_name: body
            .last_name
            .as_deref()
            .map(|v| validate::optional_text("last_name", v, 100))
            .transpose()?,
        title: body
            .title
            .as_deref()
            .map(|v| validate::optional_text("title", v, 100))
            .transpose()?,
        role: body.role,
        mobile_phone: match body.mobile_phone.as_deref() {
            None => None,
            Some(v) => Some(optional_phone(Some(v))?),
        },
        auto_logout_minutes: body
            .auto_logout_minutes
            .map(|v| validate::range("auto_logout_minutes", v, 1, MAX_AUTO_LOGOUT))
            .transpose()?,
        practice_ids: body.practice_ids,
        restricted_programs: body
            .restricted_programs
            .as_deref()
            .map(|p| validate::programs("restricted_programs", p))
            .transpose()?,
        supervisor_id: body.supervisor_id,
        // A new password ends the user's other sessions; one's own change keeps this one.
        keep_session: (is_self && password_hash.is_some()).then(|| caller.token_hash.clone()),
        password_hash,
    };
    let ended_sessions = patch.password_hash.is_some();
    let updated = state
        .store
        .update_user(
            &caller.audit(),
            id,
            patch,
            oncall::handover(body.reassign_to),
        )
        .await?
        .map_err(|r| refusal(r, |_| "reassign_to".into()))?;
    if ended_sessions {
        // Open notification streams of the ended sessions close now, not at their next poll.
        state.notify_feed();
    }
    Ok(Json(UserView::from(&updated)))
}

/// Changing one's own password needs the current one, so a session left open on a shared
/// computer cannot take the account over. Wrong answers count as failed logins (and are
/// throttled as they are).
async fn check_current_password(
    state: &AppState,
    caller: &CurrentUser,
    current: Option<&str>,
) -> Result<(), ApiError> {
    let current = current.ok_or_else(|| {
        ApiError::invalid(
            "current_password",
            "is required to change your own password",
        )
    })?;
    let address = caller
        .client_addr
        .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let username = caller.user.username.clone();
    if let Some(wait) =
        limiter::blocked_for(state.store.as_ref(), caller.now, &username, address).await?
    {
        return Err(ApiError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    let hash = caller.user.password_hash.clone();
    let candidate = current.to_string();
    let matches =
        tokio::task::spawn_blocking(move || crate::auth::password::verify(&hash, &candidate))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
    if matches {
        return Ok(());
    }
    if let Some(wait) =
        limiter::record_failure(state.store.as_ref(), caller.now, &username, address).await?
    {
        return Err(ApiError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    Err(ApiError::invalid(
        "current_password",
        "does not match your current password",
    ))
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
    let user = visible_user(&state, &caller, id).await?;
    require_admin_of(&caller, &user)?;
    Ok(Json(state.store.outstanding(id, caller.now).await?.into()))
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
