//! Users as use cases: create (admins), change, list a customer's users (admins), lock with
//! hand-over of outstanding items, unlock. The JSON API and the staff console both call these,
//! with the same field rules; who may see or grant what is `domain::access`.

use serde::Deserialize;
use store::{LockOutcome, NewUser, Outstanding, Role, StoreError, User, UserPatch};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::App;
use crate::app::AppError;
use crate::app::CurrentUser;
use crate::app::validate;
use crate::auth::limiter;
use crate::auth::password::Password;
use crate::services::oncall;
use crate::services::schedule_changes::refusal;

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

/// Creates a user (admins; customer admins within their customer and never a super admin).
pub async fn create(
    state: &App,
    caller: &CurrentUser,
    body: NewUserRequest,
) -> Result<User, AppError> {
    if caller.role() == Role::Staff {
        return Err(AppError::Forbidden(
            "only administrators may create users".into(),
        ));
    }
    if !may_grant(caller, body.role) {
        return Err(AppError::Forbidden(
            "you may not create users with this role".into(),
        ));
    }
    let customer_id = match (body.role, body.customer_id) {
        (Role::SuperAdmin, None) => None,
        (Role::SuperAdmin, Some(_)) => {
            return Err(AppError::invalid(
                "customer_id",
                "super admins belong to no customer; leave it out",
            ));
        }
        (_, None) => {
            return Err(AppError::invalid(
                "customer_id",
                "is required for this role",
            ));
        }
        (_, Some(customer_id)) => {
            caller.require_customer_admin(customer_id)?;
            state
                .store
                .get_customer(customer_id)
                .await
                .map_err(|_| AppError::NotFound("customer"))?;
            Some(customer_id)
        }
    };
    if let Some(customer_id) = customer_id {
        check_practices(state, customer_id, &body.practice_ids).await?;
    } else if !body.practice_ids.is_empty() {
        return Err(AppError::invalid(
            "practice_ids",
            "super admins belong to no practice",
        ));
    }
    let new = NewUser {
        customer_id,
        username: username(&body.username)?,
        password_hash: String::new(),
        role: body.role,
        email: validate::optional_text("email", &body.email, 254)?,
        first_name: validate::optional_text("first_name", &body.first_name, 100)?,
        last_name: validate::optional_text("last_name", &body.last_name, 100)?,
        title: validate::optional_text("title", &body.title, 100)?,
        mobile_phone: optional_phone(body.mobile_phone.as_deref())?,
        auto_logout_minutes: match body.auto_logout_minutes {
            Some(v) => validate::range("auto_logout_minutes", v, 1, MAX_AUTO_LOGOUT)?,
            None => DEFAULT_AUTO_LOGOUT,
        },
        practice_ids: body.practice_ids,
        restricted_programs: validate::programs("restricted_programs", &body.restricted_programs)?,
        supervisor_id: body.supervisor_id,
    };
    if !new.email.is_empty() {
        validate::email("email", &new.email)?;
    }
    let secret = password(&body.password)?;
    let hash = tokio::task::spawn_blocking(move || secret.hash())
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(state
        .store
        .create_user(
            &caller.audit(),
            NewUser {
                password_hash: hash,
                ..new
            },
        )
        .await?)
}

/// Changes a user. Users may change their own names, e-mail, title, mobile phone and password
/// (with `current_password`); role, auto-logout, practices, program restrictions and
/// `reassign_to` need an administrator. A new password ends every other session of the user. A
/// change that would leave the user on call where they could no longer act hands those windows
/// and running overrides to `reassign_to` in the same transaction, or is refused without one.
pub async fn update(
    state: &App,
    caller: &CurrentUser,
    id: Uuid,
    body: UserPatchRequest,
) -> Result<User, AppError> {
    let user = visible_user(state, caller, id).await?;
    let is_self = user.id == caller.id();
    let admin_fields = body.role.is_some()
        || body.auto_logout_minutes.is_some()
        || body.practice_ids.is_some()
        || body.restricted_programs.is_some()
        || body.supervisor_id.is_some()
        || body.reassign_to.is_some();
    if !is_self || admin_fields {
        require_admin_of(caller, &user)?;
    }
    if let Some(role) = body.role {
        let valid_for_account = (role == Role::SuperAdmin) == user.customer_id.is_none();
        if !may_grant(caller, role) || !valid_for_account {
            return Err(AppError::invalid(
                "role",
                "this role cannot be given to this user",
            ));
        }
    }
    if let (Some(practice_ids), Some(customer_id)) = (&body.practice_ids, user.customer_id) {
        check_practices(state, customer_id, practice_ids).await?;
    }
    if let Some(successor) = body.reassign_to {
        check_successor(state, &user, successor).await?;
    }
    if body.current_password.is_some() && body.password.is_none() {
        return Err(AppError::invalid(
            "current_password",
            "is only needed together with a new password",
        ));
    }
    if is_self && body.password.is_some() {
        check_current_password(state, caller, body.current_password.as_deref()).await?;
    }
    let password_hash = match body.password.as_deref() {
        Some(p) => {
            let secret = password(p)?;
            Some(
                tokio::task::spawn_blocking(move || secret.hash())
                    .await
                    .map_err(|e| AppError::Internal(e.into()))?,
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
    Ok(updated)
}

/// Changing one's own password needs the current one, so a session left open on a shared
/// computer cannot take the account over. Wrong answers count as failed logins (and are
/// throttled as they are).
async fn check_current_password(
    state: &App,
    caller: &CurrentUser,
    current: Option<&str>,
) -> Result<(), AppError> {
    let current = current.ok_or_else(|| {
        AppError::invalid(
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
        return Err(AppError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    let hash = caller.user.password_hash.clone();
    let candidate = current.to_string();
    let matches =
        tokio::task::spawn_blocking(move || crate::auth::password::verify(&hash, &candidate))
            .await
            .map_err(|e| AppError::Internal(e.into()))?;
    if matches {
        return Ok(());
    }
    if let Some(wait) =
        limiter::record_failure(state.store.as_ref(), caller.now, &username, address).await?
    {
        return Err(AppError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    Err(AppError::invalid(
        "current_password",
        "does not match your current password",
    ))
}

/// What the user must hand over before being locked (admins of the user).
pub async fn outstanding(
    state: &App,
    caller: &CurrentUser,
    id: Uuid,
) -> Result<Outstanding, AppError> {
    let user = visible_user(state, caller, id).await?;
    require_admin_of(caller, &user)?;
    Ok(state.store.outstanding(id, caller.now).await?)
}

/// The users of the caller's customer, by username (customer admins and super admins; staff 403).
pub async fn list_for(
    state: &App,
    caller: &CurrentUser,
    customer_id: Uuid,
) -> Result<Vec<User>, AppError> {
    caller.require_customer_admin(customer_id)?;
    Ok(state.store.list_users(customer_id).await?)
}

/// Why a lock did not happen.
pub enum LockRefusal {
    /// The user has outstanding items and nobody was named to take them over.
    Outstanding(Outstanding),
    Error(AppError),
}

impl From<AppError> for LockRefusal {
    fn from(e: AppError) -> LockRefusal {
        LockRefusal::Error(e)
    }
}

impl From<StoreError> for LockRefusal {
    fn from(e: StoreError) -> LockRefusal {
        LockRefusal::Error(e.into())
    }
}

/// Locks a user (their sessions end at once on every instance). With outstanding items,
/// `reassign_to` (another unlocked user of the same customer) takes them over; without one
/// nothing changes and the items are reported.
pub async fn lock(
    state: &App,
    caller: &CurrentUser,
    user_id: Uuid,
    reassign_to: Option<Uuid>,
) -> Result<User, LockRefusal> {
    let user = visible_user(state, caller, user_id).await?;
    require_admin_of(caller, &user)?;
    if user.id == caller.id() {
        return Err(AppError::Conflict {
            code: "cannot_lock_self",
            message: "you cannot lock your own user".into(),
        }
        .into());
    }
    if let Some(successor) = reassign_to {
        check_successor(state, &user, successor).await?;
    }
    match state
        .store
        .lock_user(
            &caller.audit(),
            user_id,
            reassign_to,
            oncall::may_be_on_call,
        )
        .await?
    {
        LockOutcome::Locked(user) => {
            // The locked user's open notification streams close now.
            state.notify_feed();
            Ok(*user)
        }
        LockOutcome::Refused(r) => Err(refusal(r, |_| "reassign_to".into()).into()),
        LockOutcome::Outstanding(items) => Err(LockRefusal::Outstanding(items)),
    }
}

/// Unlocks a user; they log in again with their password.
pub async fn unlock(state: &App, caller: &CurrentUser, user_id: Uuid) -> Result<User, AppError> {
    let user = visible_user(state, caller, user_id).await?;
    require_admin_of(caller, &user)?;
    Ok(state.store.unlock_user(&caller.audit(), user_id).await?)
}

/// Display names ("First Last", else the username) of the users the caller may know of, for
/// lists that show who is on call or who wrote what; others are left out.
pub async fn names_for(
    state: &App,
    caller: &CurrentUser,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, String>, AppError> {
    let mut names = std::collections::HashMap::new();
    for id in ids {
        if names.contains_key(id) {
            continue;
        }
        match visible_user(state, caller, *id).await {
            Ok(user) => {
                names.insert(*id, display_name(&user));
            }
            Err(AppError::NotFound(_)) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(names)
}

/// "First Last", or the username when the user has no name.
pub fn display_name(user: &User) -> String {
    let name = format!("{} {}", user.first_name, user.last_name);
    let name = name.trim();
    if name.is_empty() {
        user.username.clone()
    } else {
        name.to_string()
    }
}

/// The ids of the practices the caller works at: their own (staff), or all their customer's
/// (customer admins); `None` for a super admin, who works at none.
pub async fn practice_ids_of(
    state: &App,
    caller: &CurrentUser,
) -> Result<Option<Vec<Uuid>>, AppError> {
    Ok(match caller.role() {
        Role::Staff => Some(caller.user.practice_ids.clone()),
        Role::CustomerAdmin => {
            let customer_id = caller
                .user
                .customer_id
                .ok_or(AppError::NotFound("customer"))?;
            Some(crate::services::access::all_practice_ids(state, customer_id).await?)
        }
        Role::SuperAdmin => None,
    })
}

/// The practices the caller works at (see [`practice_ids_of`]).
pub async fn practices_of(
    state: &App,
    caller: &CurrentUser,
) -> Result<Vec<store::Practice>, AppError> {
    let ids = practice_ids_of(state, caller).await?.unwrap_or_default();
    let mut practices = Vec::with_capacity(ids.len());
    for id in ids {
        practices.push(crate::services::access::visible_practice(state, caller, id).await?);
    }
    Ok(practices)
}

pub fn username(value: &str) -> Result<String, AppError> {
    let value = value.trim();
    let valid = (3..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c));
    if valid {
        Ok(value.to_string())
    } else {
        Err(AppError::invalid(
            "username",
            "must be 3 to 64 characters of letters, digits, '.', '_', '@' or '-'",
        ))
    }
}

pub fn password(value: &str) -> Result<Password, AppError> {
    Password::parse(value).map_err(|why| AppError::invalid("password", why))
}

pub fn optional_phone(value: Option<&str>) -> Result<Option<String>, AppError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => validate::phone("mobile_phone", v).map(Some),
    }
}

/// Which roles the caller may hand out (`domain::access::may_grant`).
fn may_grant(caller: &CurrentUser, role: Role) -> bool {
    crate::domain::access::may_grant(caller.role(), role)
}

/// Every practice must be a practice of the customer.
pub async fn check_practices(
    state: &App,
    customer_id: Uuid,
    practice_ids: &[Uuid],
) -> Result<(), AppError> {
    for (i, id) in practice_ids.iter().enumerate() {
        match state.store.get_practice(*id).await {
            Ok(p) if p.customer_id == customer_id => {}
            Ok(_) | Err(StoreError::NotFound) => {
                return Err(AppError::invalid(
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
pub async fn visible_user(state: &App, caller: &CurrentUser, id: Uuid) -> Result<User, AppError> {
    let user = match state.store.get_user(id).await {
        Ok(user) => user,
        Err(StoreError::NotFound) => return Err(AppError::NotFound("user")),
        Err(e) => return Err(e.into()),
    };
    if crate::domain::access::can_see_user(&caller.user, &user) {
        Ok(user)
    } else {
        Err(AppError::NotFound("user"))
    }
}

/// 422 unless `successor` is another unlocked user of `user`'s customer (who takes over what
/// `user` hands on; the store checks on-call duty further inside its transaction).
pub async fn check_successor(state: &App, user: &User, successor: Uuid) -> Result<(), AppError> {
    let valid = match state.store.get_user(successor).await {
        Ok(s) => s.customer_id == user.customer_id && s.locked_at.is_none() && s.id != user.id,
        Err(StoreError::NotFound) => false,
        Err(e) => return Err(e.into()),
    };
    if valid {
        Ok(())
    } else {
        Err(AppError::invalid(
            "reassign_to",
            "must be another unlocked user of the same customer",
        ))
    }
}

/// Admin rights over `user`: super admins, or admins of the user's customer.
pub fn require_admin_of(caller: &CurrentUser, user: &User) -> Result<(), AppError> {
    match user.customer_id {
        Some(customer_id) => caller.require_customer_admin(customer_id),
        None => caller.require_super_admin(),
    }
}
