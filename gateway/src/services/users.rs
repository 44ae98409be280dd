//! Users as use cases: create (admins), list a customer's users (admins), lock with hand-over of
//! outstanding items, unlock. The JSON API and the staff console both call these; the field
//! rules and who may act on whom are `http::users`' checks, used by both.

use store::{LockOutcome, NewUser, Outstanding, Role, StoreError, User};
use uuid::Uuid;

use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::ApiError;
use crate::http::oncall::refusal;
use crate::http::users::{
    DEFAULT_AUTO_LOGOUT, MAX_AUTO_LOGOUT, NewUserRequest, check_practices, check_successor,
    may_grant, optional_phone, password, require_admin_of, username, visible_user,
};
use crate::http::validate;
use crate::services::oncall;

/// Creates a user (admins; customer admins within their customer and never a super admin).
pub async fn create(
    state: &AppState,
    caller: &CurrentUser,
    body: NewUserRequest,
) -> Result<User, ApiError> {
    if caller.role() == Role::Staff {
        return Err(ApiError::Forbidden(
            "only administrators may create users".into(),
        ));
    }
    if !may_grant(caller, body.role) {
        return Err(ApiError::Forbidden(
            "you may not create users with this role".into(),
        ));
    }
    let customer_id = match (body.role, body.customer_id) {
        (Role::SuperAdmin, None) => None,
        (Role::SuperAdmin, Some(_)) => {
            return Err(ApiError::invalid(
                "customer_id",
                "super admins belong to no customer; leave it out",
            ));
        }
        (_, None) => {
            return Err(ApiError::invalid(
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
                .map_err(|_| ApiError::NotFound("customer"))?;
            Some(customer_id)
        }
    };
    if let Some(customer_id) = customer_id {
        check_practices(state, customer_id, &body.practice_ids).await?;
    } else if !body.practice_ids.is_empty() {
        return Err(ApiError::invalid(
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
        .map_err(|e| ApiError::Internal(e.into()))?;
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

/// The users of the caller's customer, by username (customer admins and super admins; staff 403).
pub async fn list_for(
    state: &AppState,
    caller: &CurrentUser,
    customer_id: Uuid,
) -> Result<Vec<User>, ApiError> {
    caller.require_customer_admin(customer_id)?;
    Ok(state.store.list_users(customer_id).await?)
}

/// Why a lock did not happen.
pub enum LockRefusal {
    /// The user has outstanding items and nobody was named to take them over.
    Outstanding(Outstanding),
    Error(ApiError),
}

impl From<ApiError> for LockRefusal {
    fn from(e: ApiError) -> LockRefusal {
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
    state: &AppState,
    caller: &CurrentUser,
    user_id: Uuid,
    reassign_to: Option<Uuid>,
) -> Result<User, LockRefusal> {
    let user = visible_user(state, caller, user_id).await?;
    require_admin_of(caller, &user)?;
    if user.id == caller.id() {
        return Err(ApiError::Conflict {
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
pub async fn unlock(
    state: &AppState,
    caller: &CurrentUser,
    user_id: Uuid,
) -> Result<User, ApiError> {
    let user = visible_user(state, caller, user_id).await?;
    require_admin_of(caller, &user)?;
    Ok(state.store.unlock_user(&caller.audit(), user_id).await?)
}

/// Display names ("First Last", else the username) of the users the caller may know of, for
/// lists that show who is on call or who wrote what; others are left out.
pub async fn names_for(
    state: &AppState,
    caller: &CurrentUser,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, String>, ApiError> {
    let mut names = std::collections::HashMap::new();
    for id in ids {
        if names.contains_key(id) {
            continue;
        }
        match visible_user(state, caller, *id).await {
            Ok(user) => {
                names.insert(*id, display_name(&user));
            }
            Err(ApiError::NotFound(_)) => {}
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
    state: &AppState,
    caller: &CurrentUser,
) -> Result<Option<Vec<Uuid>>, ApiError> {
    Ok(match caller.role() {
        Role::Staff => Some(caller.user.practice_ids.clone()),
        Role::CustomerAdmin => {
            let customer_id = caller
                .user
                .customer_id
                .ok_or(ApiError::NotFound("customer"))?;
            Some(crate::http::patients::all_practice_ids(state, customer_id).await?)
        }
        Role::SuperAdmin => None,
    })
}

/// The practices the caller works at (see [`practice_ids_of`]).
pub async fn practices_of(
    state: &AppState,
    caller: &CurrentUser,
) -> Result<Vec<store::Practice>, ApiError> {
    let ids = practice_ids_of(state, caller).await?.unwrap_or_default();
    let mut practices = Vec::with_capacity(ids.len());
    for id in ids {
        practices.push(crate::http::practices::visible_practice(state, caller, id).await?);
    }
    Ok(practices)
}
