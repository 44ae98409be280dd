//! Notification settings: each user's per practice and kind, the practice defaults users fall
//! back to, the practice's patient notification defaults for new patients, and each patient's
//! own copy of them.
//!
//! The store keeps kinds as the API's snake_case strings and checks only what a row alone can
//! break (a channel on while the notification is off). Which kinds exist, the built-in defaults
//! and the rule that ties `unread_message_reminder` to `new_patient_message` are the gateway's
//! domain. A user's effective setting for one kind is their own row, else the practice's default
//! row, else the built-in default the gateway supplies.

use async_trait::async_trait;
use uuid::Uuid;

use crate::*;

/// One kind of a user's (or a practice's default) notification setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationSettingRow {
    /// `new_patient_message`, `unread_message_reminder`, … (API.md).
    pub kind: String,
    pub enabled: bool,
    /// In-app feed and stream.
    pub push: bool,
    pub email: bool,
    /// SMS to the user's mobile phone.
    pub text: bool,
}

/// One kind of a practice's patient notification defaults (patients are told by text or email).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientNotificationSettingRow {
    /// `reading_caution`, `reading_critical` or `overdue_readings`.
    pub kind: String,
    pub enabled: bool,
    pub email: bool,
    pub text: bool,
}

/// What the gateway needs to work out a user's effective settings for one practice: the rows
/// the user saved and the rows the practice saved as defaults. Either may be empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserNotificationLayers {
    pub own: Vec<NotificationSettingRow>,
    pub practice_defaults: Vec<NotificationSettingRow>,
}

/// Whose settings a save of practice defaults changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyDefaultsTo {
    /// Only users who join the practice later: existing users keep their effective settings
    /// (the previous effective values are written as their own rows where they had none).
    NewUsers,
    /// Every user of the practice: their own rows are removed so they follow the new defaults.
    AllUsers,
}

/// A user's setting of one kind for one practice as stored: their own row, else the practice's
/// default; `None` when neither exists (the caller applies the built-in default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUserSetting {
    pub user_id: Uuid,
    pub setting: Option<NotificationSettingRow>,
}

#[async_trait]
pub trait NotificationSettings: Send + Sync {
    /// The user's own rows and the practice's default rows, read together.
    async fn user_notification_layers(
        &self,
        user_id: Uuid,
        practice_id: Uuid,
    ) -> StoreResult<UserNotificationLayers>;

    /// Writes (inserts or replaces) the user's rows of the given kinds for the practice and the
    /// audit row (`user.notification_settings.update`, of the practice's customer); answers the
    /// layers as they are after the write. `NotFound` when the practice does not exist.
    async fn save_user_notification_settings(
        &self,
        audit: &Audit,
        user_id: Uuid,
        practice_id: Uuid,
        rows: Vec<NotificationSettingRow>,
    ) -> StoreResult<UserNotificationLayers>;

    /// The practice's saved default rows (empty when never saved).
    async fn practice_notification_defaults(
        &self,
        practice_id: Uuid,
    ) -> StoreResult<Vec<NotificationSettingRow>>;

    /// Saves the practice's defaults (inserting or replacing the given kinds) and applies them
    /// per `apply_to`, with the audit row, in one transaction serialised per practice. `NotFound`
    /// when the practice does not exist.
    ///
    /// With [`ApplyDefaultsTo::NewUsers`], every existing user of the practice (its members and
    /// its customer's admins) without a row of a kind first gets one holding the previous
    /// effective value: the saved default, else the matching row of `builtin`. Answers the
    /// practice's default rows after the save.
    async fn save_practice_notification_defaults(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        defaults: Vec<NotificationSettingRow>,
        apply_to: ApplyDefaultsTo,
        builtin: Vec<NotificationSettingRow>,
    ) -> StoreResult<Vec<NotificationSettingRow>>;

    /// The stored setting of one kind for each of `user_ids` (deduplicated, in the order given)
    /// for the practice, in one query whatever the number of users: for deciding whom to notify.
    /// Does not check that the users belong to the practice.
    async fn notification_settings_of_users(
        &self,
        practice_id: Uuid,
        kind: &str,
        user_ids: &[Uuid],
    ) -> StoreResult<Vec<StoredUserSetting>>;

    /// The practice's saved patient notification defaults (empty when never saved).
    async fn patient_notification_defaults(
        &self,
        practice_id: Uuid,
    ) -> StoreResult<Vec<PatientNotificationSettingRow>>;

    /// Writes (inserts or replaces) the given kinds of the practice's patient notification
    /// defaults with the audit row, in one transaction serialised per practice; answers all
    /// saved rows after the write. Patients keep their own settings (copied at their creation),
    /// unless `apply_to` is [`ApplyReadingDefaultsTo::AllPatients`]: then every patient of the
    /// practice gets these rows as their own.
    async fn save_patient_notification_defaults(
        &self,
        audit: &Audit,
        practice_id: Uuid,
        rows: Vec<PatientNotificationSettingRow>,
        apply_to: ApplyReadingDefaultsTo,
    ) -> StoreResult<Vec<PatientNotificationSettingRow>>;

    /// The patient's own notification settings (a kind without a row is off). `NotFound` when
    /// the patient does not exist.
    async fn patient_notification_settings(
        &self,
        patient_id: Uuid,
    ) -> StoreResult<Vec<PatientNotificationSettingRow>>;

    /// Writes (inserts or replaces) the given kinds of the patient's own settings with the audit
    /// row (`patient.notification_settings.update`); answers all of the patient's rows after the
    /// write. `NotFound` when the patient does not exist.
    async fn save_patient_notification_settings(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        rows: Vec<PatientNotificationSettingRow>,
    ) -> StoreResult<Vec<PatientNotificationSettingRow>>;
}

/// The effective practice default of every kind before a save: the saved row, else the built-in
/// one. Kinds of either list appear once, saved ones first.
pub(crate) fn previous_effective(
    saved: &[NotificationSettingRow],
    builtin: &[NotificationSettingRow],
) -> Vec<NotificationSettingRow> {
    let mut out: Vec<NotificationSettingRow> = saved.to_vec();
    for row in builtin {
        if !out.iter().any(|s| s.kind == row.kind) {
            out.push(row.clone());
        }
    }
    out
}

/// `ids` without repeats, first occurrences kept in order.
pub(crate) fn distinct_in_order(ids: &[Uuid]) -> Vec<Uuid> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
}
