//! Notification settings routes: a user's own settings per practice, and a practice's defaults
//! for its users and for its new patients.
//!
//! Who may do what:
//! - a user's settings: the user themself, their customer's admins and super admins. A staff
//!   user asking for someone else's gets 403; a user of another customer is 404, as is a practice
//!   the caller cannot see. The practice must be one the user works at (a member, or an admin of
//!   its customer), else 422 on `practice_id`.
//! - practice defaults: readable by whoever can see the practice, changed by its customer's
//!   admins and super admins.
//!
//! Bodies are checked item by item so a 422 names the exact field (`settings[2].push`); the
//! rules themselves live in [`crate::domain::notifications`]. Every change is audited by the
//! store in the change's transaction.

use std::borrow::Cow;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use store::{ApplyDefaultsTo, Practice, Role, StoreError, User};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{IntoParams, PartialSchema, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::practices::visible_practice;
use crate::domain::notifications::{
    Change, Kind, NotificationKind, NotificationSetting, PatientNotificationKind,
    PatientNotificationSetting, PatientSettings, UserSettings,
};
use crate::services::notification_settings::{self as service, ChangeError};

// ---- wire types -------------------------------------------------------------------------------

fn kind_schema<K: Kind>(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(K::ALL.iter().map(|k| k.as_str())))
        .description(Some(description))
        .into()
}

impl PartialSchema for NotificationKind {
    fn schema() -> RefOr<Schema> {
        kind_schema::<NotificationKind>("A kind of user notification.")
    }
}

impl ToSchema for NotificationKind {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("NotificationKind")
    }
}

impl PartialSchema for PatientNotificationKind {
    fn schema() -> RefOr<Schema> {
        kind_schema::<PatientNotificationKind>(
            "A kind of patient notification (about the patient's own readings).",
        )
    }
}

impl ToSchema for PatientNotificationKind {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("PatientNotificationKind")
    }
}

/// One kind's effective setting.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationSettingView {
    pub kind: NotificationKind,
    pub enabled: bool,
    /// In the app (notification feed and stream).
    pub push: bool,
    pub email: bool,
    /// SMS to the user's mobile phone.
    pub text: bool,
}

/// Every kind, always all six, with effective values.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationSettingsView {
    pub settings: Vec<NotificationSettingView>,
}

impl From<&UserSettings> for NotificationSettingsView {
    fn from(set: &UserSettings) -> Self {
        NotificationSettingsView {
            settings: set
                .iter()
                .map(|(kind, s)| NotificationSettingView {
                    kind,
                    enabled: s.enabled,
                    push: s.push,
                    email: s.email,
                    text: s.text,
                })
                .collect(),
        }
    }
}

/// The new setting of one kind. Every field is required; a channel can only be on while
/// `enabled` is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettingInput {
    pub kind: NotificationKind,
    #[schema(value_type = bool, required = true)]
    pub enabled: Option<bool>,
    #[schema(value_type = bool, required = true)]
    pub push: Option<bool>,
    #[schema(value_type = bool, required = true)]
    pub email: Option<bool>,
    #[schema(value_type = bool, required = true)]
    pub text: Option<bool>,
}

/// Kinds to change, each at most once; kinds not listed keep their values.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettingsInput {
    pub settings: Vec<NotificationSettingInput>,
}

/// Whose settings a save of practice defaults changes.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplyTo {
    /// Users who start at the practice later; existing users keep their settings.
    NewUsers,
    /// Every user of the practice, now and later; their own choices are replaced.
    AllUsers,
}

/// Practice defaults for users: kinds to change (the others keep their values) and whom the
/// change reaches.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserDefaultsInput {
    pub settings: Vec<NotificationSettingInput>,
    pub apply_to: ApplyTo,
}

/// One kind of what new patients start with; patients are told by email or text.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientNotificationSettingView {
    pub kind: PatientNotificationKind,
    pub enabled: bool,
    pub email: bool,
    pub text: bool,
}

/// Every patient kind with what new patients of the practice start with.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientNotificationSettingsView {
    pub settings: Vec<PatientNotificationSettingView>,
}

impl From<&PatientSettings> for PatientNotificationSettingsView {
    fn from(set: &PatientSettings) -> Self {
        PatientNotificationSettingsView {
            settings: set
                .iter()
                .map(|(kind, s)| PatientNotificationSettingView {
                    kind,
                    enabled: s.enabled,
                    email: s.email,
                    text: s.text,
                })
                .collect(),
        }
    }
}

/// The new setting of one patient kind. Every field is required; a channel can only be on
/// while `enabled` is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientNotificationSettingInput {
    pub kind: PatientNotificationKind,
    #[schema(value_type = bool, required = true)]
    pub enabled: Option<bool>,
    #[schema(value_type = bool, required = true)]
    pub email: Option<bool>,
    #[schema(value_type = bool, required = true)]
    pub text: Option<bool>,
}

/// Patient kinds to change; kinds not listed keep their values. Only new patients get them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientNotificationSettingsInput {
    pub settings: Vec<PatientNotificationSettingInput>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PracticeQuery {
    /// The practice whose settings these are.
    pub practice_id: Uuid,
}

// ---- parsing and errors -----------------------------------------------------------------------

fn required(value: Option<bool>, index: usize, name: &str) -> Result<bool, ApiError> {
    value.ok_or_else(|| ApiError::invalid(format!("settings[{index}].{name}"), "is required"))
}

fn user_changes(
    items: &[NotificationSettingInput],
) -> Result<Vec<Change<NotificationKind, NotificationSetting>>, ApiError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            Ok(Change {
                kind: item.kind,
                setting: NotificationSetting {
                    enabled: required(item.enabled, i, "enabled")?,
                    push: required(item.push, i, "push")?,
                    email: required(item.email, i, "email")?,
                    text: required(item.text, i, "text")?,
                },
            })
        })
        .collect()
}

fn patient_changes(
    items: &[PatientNotificationSettingInput],
) -> Result<Vec<Change<PatientNotificationKind, PatientNotificationSetting>>, ApiError> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            Ok(Change {
                kind: item.kind,
                setting: PatientNotificationSetting {
                    enabled: required(item.enabled, i, "enabled")?,
                    email: required(item.email, i, "email")?,
                    text: required(item.text, i, "text")?,
                },
            })
        })
        .collect()
}

impl From<ChangeError> for ApiError {
    fn from(e: ChangeError) -> ApiError {
        match e {
            ChangeError::Invalid(rule) => ApiError::invalid(rule.field(), rule.to_string()),
            ChangeError::Store(StoreError::NotFound) => ApiError::NotFound("practice"),
            ChangeError::Store(other) => other.into(),
        }
    }
}

// ---- authorization ----------------------------------------------------------------------------

/// Whether `user` works at `practice`: a member of it, or an admin of its customer.
fn works_at(user: &User, practice: &Practice) -> bool {
    user.customer_id == Some(practice.customer_id)
        && crate::domain::access::can_see_practice(user, practice)
}

/// The user whose settings are asked for and the practice, once the caller may see them.
async fn authorize_user_settings(
    state: &AppState,
    caller: &CurrentUser,
    user_id: Uuid,
    practice_id: Uuid,
) -> Result<(User, Practice), ApiError> {
    let target = if user_id == caller.id() {
        caller.user.clone()
    } else {
        match state.store.get_user(user_id).await {
            Ok(user) => user,
            Err(StoreError::NotFound) => return Err(ApiError::NotFound("user")),
            Err(other) => return Err(other.into()),
        }
    };
    if !caller.is_super_admin() && target.customer_id != caller.user.customer_id {
        return Err(ApiError::NotFound("user"));
    }
    if caller.role() == Role::Staff && target.id != caller.id() {
        return Err(ApiError::Forbidden(
            "staff may read and change only their own notification settings".into(),
        ));
    }
    let practice = visible_practice(state, caller, practice_id).await?;
    if !works_at(&target, &practice) {
        return Err(ApiError::invalid(
            "practice_id",
            "the user does not work at this practice; pick one of the user's practices",
        ));
    }
    Ok((target, practice))
}

// ---- users' settings --------------------------------------------------------------------------

/// A user's effective notification settings at one practice: every kind, with the user's own
/// choice, else the practice's default, else the built-in default.
#[utoipa::path(
    get,
    path = "/v1/users/{id}/notification-settings",
    tag = "notification settings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the user"), PracticeQuery),
    responses(
        (status = 200, body = NotificationSettingsView),
        (status = 400, description = "the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "staff asking for another user's settings", body = ErrorBody),
        (status = 404, description = "no such user or practice (or not the caller's to see)", body = ErrorBody),
        (status = 422, description = "`practice_id` missing, or not a practice the user works at", body = ErrorBody),
    )
)]
pub async fn get_user_settings(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(user_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<PracticeQuery>,
) -> Result<Json<NotificationSettingsView>, ApiError> {
    let (user, practice) =
        authorize_user_settings(&state, &caller, user_id, query.practice_id).await?;
    let settings = service::user_settings(state.store.as_ref(), user.id, practice.id).await?;
    Ok(Json(NotificationSettingsView::from(&settings)))
}

/// Change some or all of a user's notification settings at one practice. Kinds not listed keep
/// their effective values; the answer lists every kind.
#[utoipa::path(
    put,
    path = "/v1/users/{id}/notification-settings",
    tag = "notification settings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the user"), PracticeQuery),
    request_body = NotificationSettingsInput,
    responses(
        (status = 200, body = NotificationSettingsView),
        (status = 400, description = "the body is not JSON, or the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "staff changing another user's settings", body = ErrorBody),
        (status = 404, description = "no such user or practice (or not the caller's to see)", body = ErrorBody),
        (status = 422, description = "a field breaks a rule, e.g. `settings[2].push` on while `enabled` is off, or the unread reminder without new patient messages; the message names the field", body = ErrorBody),
    )
)]
pub async fn put_user_settings(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(user_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<PracticeQuery>,
    ApiJson(body): ApiJson<NotificationSettingsInput>,
) -> Result<Json<NotificationSettingsView>, ApiError> {
    let (user, practice) =
        authorize_user_settings(&state, &caller, user_id, query.practice_id).await?;
    let changes = user_changes(&body.settings)?;
    let settings = service::change_user_settings(
        state.store.as_ref(),
        &caller.audit(),
        user.id,
        practice.id,
        &changes,
    )
    .await?;
    Ok(Json(NotificationSettingsView::from(&settings)))
}

// ---- practice defaults for users --------------------------------------------------------------

/// The practice's default notification settings for users (saved, else built-in).
#[utoipa::path(
    get,
    path = "/v1/practices/{id}/notification-defaults/users",
    tag = "notification settings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the practice")),
    responses(
        (status = 200, body = NotificationSettingsView),
        (status = 400, description = "the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no such practice (or not the caller's to see)", body = ErrorBody),
    )
)]
pub async fn get_user_defaults(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(practice_id): ApiPath<Uuid>,
) -> Result<Json<NotificationSettingsView>, ApiError> {
    let practice = visible_practice(&state, &caller, practice_id).await?;
    let defaults = service::practice_user_defaults(state.store.as_ref(), practice.id).await?;
    Ok(Json(NotificationSettingsView::from(&defaults)))
}

/// Change the practice's default notification settings for users. `new_users`: users who start
/// at the practice later get them, existing users keep their effective settings. `all_users`:
/// every user of the practice gets them now, replacing their own choices (which they may change
/// again at any time).
#[utoipa::path(
    put,
    path = "/v1/practices/{id}/notification-defaults/users",
    tag = "notification settings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the practice")),
    request_body = UserDefaultsInput,
    responses(
        (status = 200, description = "the defaults after the change", body = NotificationSettingsView),
        (status = 400, description = "the body is not JSON, or the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an administrator of the practice's customer", body = ErrorBody),
        (status = 404, description = "no such practice (or not the caller's to see)", body = ErrorBody),
        (status = 422, description = "a field breaks a rule; the message names it", body = ErrorBody),
    )
)]
pub async fn put_user_defaults(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(practice_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UserDefaultsInput>,
) -> Result<Json<NotificationSettingsView>, ApiError> {
    let practice = visible_practice(&state, &caller, practice_id).await?;
    caller.require_practice_admin(&practice)?;
    let changes = user_changes(&body.settings)?;
    let apply_to = match body.apply_to {
        ApplyTo::NewUsers => ApplyDefaultsTo::NewUsers,
        ApplyTo::AllUsers => ApplyDefaultsTo::AllUsers,
    };
    let defaults = service::change_practice_user_defaults(
        state.store.as_ref(),
        &caller.audit(),
        practice.id,
        &changes,
        apply_to,
    )
    .await?;
    Ok(Json(NotificationSettingsView::from(&defaults)))
}

// ---- practice defaults for new patients -------------------------------------------------------

/// What new patients of the practice start with (saved, else built-in: everything off).
#[utoipa::path(
    get,
    path = "/v1/practices/{id}/notification-defaults/patients",
    tag = "notification settings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the practice")),
    responses(
        (status = 200, body = PatientNotificationSettingsView),
        (status = 400, description = "the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no such practice (or not the caller's to see)", body = ErrorBody),
    )
)]
pub async fn get_patient_defaults(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(practice_id): ApiPath<Uuid>,
) -> Result<Json<PatientNotificationSettingsView>, ApiError> {
    let practice = visible_practice(&state, &caller, practice_id).await?;
    let defaults = service::practice_patient_defaults(state.store.as_ref(), practice.id).await?;
    Ok(Json(PatientNotificationSettingsView::from(&defaults)))
}

/// Change what new patients of the practice start with. Existing patients keep theirs.
#[utoipa::path(
    put,
    path = "/v1/practices/{id}/notification-defaults/patients",
    tag = "notification settings",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the practice")),
    request_body = PatientNotificationSettingsInput,
    responses(
        (status = 200, description = "the defaults after the change", body = PatientNotificationSettingsView),
        (status = 400, description = "the body is not JSON, or the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an administrator of the practice's customer", body = ErrorBody),
        (status = 404, description = "no such practice (or not the caller's to see)", body = ErrorBody),
        (status = 422, description = "a field breaks a rule; the message names it", body = ErrorBody),
    )
)]
pub async fn put_patient_defaults(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(practice_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PatientNotificationSettingsInput>,
) -> Result<Json<PatientNotificationSettingsView>, ApiError> {
    let practice = visible_practice(&state, &caller, practice_id).await?;
    caller.require_practice_admin(&practice)?;
    let changes = patient_changes(&body.settings)?;
    let defaults = service::change_practice_patient_defaults(
        state.store.as_ref(),
        &caller.audit(),
        practice.id,
        &changes,
    )
    .await?;
    Ok(Json(PatientNotificationSettingsView::from(&defaults)))
}
