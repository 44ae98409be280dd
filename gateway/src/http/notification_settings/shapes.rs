//! The request and answer shapes of the notification-settings routes (users, practice defaults,
//! patients) and their conversion to the domain's changes, each field checked and named.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{IntoParams, PartialSchema, ToSchema};
use uuid::Uuid;

use super::super::error::ApiError;
use super::super::reading_alerts::ApplyToPatients;
use crate::domain::notifications::{
    Change, Kind, NotificationKind, NotificationSetting, PatientNotificationKind,
    PatientNotificationSetting, PatientSettings, UserSettings,
};

// ---- wire types -------------------------------------------------------------------------------

pub(super) fn kind_schema<K: Kind>(description: &str) -> RefOr<Schema> {
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

/// A patient's own kinds to change; kinds not listed keep their values.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientNotificationSettingsInput {
    pub settings: Vec<PatientNotificationSettingInput>,
}

/// Patient kinds to change in the practice's defaults (kinds not listed keep their values),
/// and whom the change reaches (new patients unless said otherwise).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientDefaultsInput {
    pub settings: Vec<PatientNotificationSettingInput>,
    #[serde(default)]
    pub apply_to: ApplyToPatients,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PracticeQuery {
    /// The practice whose settings these are.
    pub practice_id: Uuid,
}

// ---- parsing and errors -----------------------------------------------------------------------

pub(super) fn required(value: Option<bool>, index: usize, name: &str) -> Result<bool, ApiError> {
    value.ok_or_else(|| ApiError::invalid(format!("settings[{index}].{name}"), "is required"))
}

pub(super) fn user_changes(
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

pub(super) fn patient_changes(
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
