//! Notification settings as use cases: read a user's effective settings, change them, read and
//! save a practice's defaults for users and for new patients, read and change a patient's own
//! settings, and — for whoever sends notifications — the effective setting of one kind for many
//! users at once.
//!
//! The `…_for` functions are the staff use cases (the JSON API and the staff console call them):
//! each first checks that the caller may see, or administer, what it asks for, then reads or
//! changes it. The others take the store and check nothing, for the notifier and the patient
//! notices, which decide whom they read for. This module checks the rules of
//! [`crate::domain::notifications`] and converts between the domain's types and the store's
//! rows. It logs nothing.

use std::collections::HashMap;

use store::{
    ApplyDefaultsTo, ApplyReadingDefaultsTo, Audit, NotificationSettingRow,
    PatientNotificationSettingRow, Store, StoreError, StoreResult,
};
use store::{Practice, Role, User};
use uuid::Uuid;

use crate::app::{App, AppError, CurrentUser};
use crate::services::access::{administered_practice, visible_practice};

use crate::domain::notifications::{
    Kind, NotificationKind, NotificationSetting, PatientChange, PatientNotificationKind,
    PatientNotificationSetting, PatientSettings, SettingsError, UserChange, UserSettings,
    effective,
};

/// Why a change was not saved.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The change breaks a rule; nothing was written.
    #[error(transparent)]
    Invalid(#[from] SettingsError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ChangeError> for AppError {
    fn from(e: ChangeError) -> AppError {
        match e {
            ChangeError::Invalid(rule) => AppError::invalid(rule.field(), rule.to_string()),
            ChangeError::Store(StoreError::NotFound) => AppError::NotFound("practice"),
            ChangeError::Store(other) => other.into(),
        }
    }
}

/// A change as the caller sent it: the changes, or why the body could not be read. Use cases
/// answer the error only once the caller is known to be allowed, so someone who may not change
/// the settings learns nothing of their rules.
pub type SentChanges<C> = Result<Vec<C>, AppError>;

// ---- conversions ------------------------------------------------------------------------------

fn to_row(kind: NotificationKind, s: NotificationSetting) -> NotificationSettingRow {
    NotificationSettingRow {
        kind: kind.as_str().to_string(),
        enabled: s.enabled,
        push: s.push,
        email: s.email,
        text: s.text,
    }
}

fn from_row(row: &NotificationSettingRow) -> StoreResult<(NotificationKind, NotificationSetting)> {
    let kind = row
        .kind
        .parse::<NotificationKind>()
        .map_err(|e| StoreError::Unexpected(e.to_string()))?;
    Ok((
        kind,
        NotificationSetting {
            enabled: row.enabled,
            push: row.push,
            email: row.email,
            text: row.text,
        },
    ))
}

fn by_kind(
    rows: &[NotificationSettingRow],
) -> StoreResult<HashMap<NotificationKind, NotificationSetting>> {
    rows.iter().map(from_row).collect()
}

fn all_rows(settings: &UserSettings) -> Vec<NotificationSettingRow> {
    settings.iter().map(|(k, s)| to_row(k, s)).collect()
}

/// A practice's effective defaults: what it saved, else built-in, kind by kind.
fn defaults_from_rows(rows: &[NotificationSettingRow]) -> StoreResult<UserSettings> {
    let saved = by_kind(rows)?;
    Ok(UserSettings::from_fn(|kind| {
        effective(kind, None, saved.get(&kind).copied())
    }))
}

// ---- users' settings --------------------------------------------------------------------------

/// A user's effective settings of every kind for a practice.
pub async fn user_settings(
    store: &dyn Store,
    user_id: Uuid,
    practice_id: Uuid,
) -> StoreResult<UserSettings> {
    let layers = store.user_notification_layers(user_id, practice_id).await?;
    let own = by_kind(&layers.own)?;
    let defaults = by_kind(&layers.practice_defaults)?;
    Ok(UserSettings::from_fn(|kind| {
        effective(kind, own.get(&kind).copied(), defaults.get(&kind).copied())
    }))
}

/// Applies a (possibly partial) change to a user's effective settings for a practice and saves
/// every kind as the user's own, so the result no longer depends on the practice's defaults
/// (until they are saved "for all users"). Two concurrent changes each save a complete set that
/// keeps the rules, so the later one wins whole. Answers the effective settings after the save.
pub async fn change_user_settings(
    store: &dyn Store,
    audit: &Audit,
    user_id: Uuid,
    practice_id: Uuid,
    changes: &[UserChange],
) -> Result<UserSettings, ChangeError> {
    let current = user_settings(store, user_id, practice_id).await?;
    let next = current.apply(changes)?;
    store
        .save_user_notification_settings(audit, user_id, practice_id, all_rows(&next))
        .await?;
    Ok(next)
}

/// The effective setting of `kind` at `practice_id` for each of `user_ids` (deduplicated, in the
/// order given), read in one store query however many users there are. For the notifier: the
/// users are whoever it considers (care team, notification users, on-call); membership of the
/// practice is not checked here.
pub async fn effective_settings_of_users(
    store: &dyn Store,
    practice_id: Uuid,
    kind: NotificationKind,
    user_ids: &[Uuid],
) -> StoreResult<Vec<(Uuid, NotificationSetting)>> {
    let stored = store
        .notification_settings_of_users(practice_id, kind.as_str(), user_ids)
        .await?;
    stored
        .into_iter()
        .map(|found| {
            let own_or_default = found
                .setting
                .as_ref()
                .map(from_row)
                .transpose()?
                .map(|(_, s)| s);
            Ok((found.user_id, effective(kind, own_or_default, None)))
        })
        .collect()
}

// ---- practice defaults for users ---------------------------------------------------------------

/// The practice's effective defaults for users (saved, else built-in, kind by kind).
pub async fn practice_user_defaults(
    store: &dyn Store,
    practice_id: Uuid,
) -> StoreResult<UserSettings> {
    defaults_from_rows(&store.practice_notification_defaults(practice_id).await?)
}

/// Applies a (possibly partial) change to the practice's defaults and saves every kind.
/// `NewUsers`: existing users keep their effective settings; `AllUsers`: everyone follows the
/// new defaults. Answers the defaults after the save.
pub async fn change_practice_user_defaults(
    store: &dyn Store,
    audit: &Audit,
    practice_id: Uuid,
    changes: &[UserChange],
    apply_to: ApplyDefaultsTo,
) -> Result<UserSettings, ChangeError> {
    let current = practice_user_defaults(store, practice_id).await?;
    let next = current.apply(changes)?;
    let saved = store
        .save_practice_notification_defaults(
            audit,
            practice_id,
            all_rows(&next),
            apply_to,
            all_rows(&UserSettings::builtin()),
        )
        .await?;
    Ok(defaults_from_rows(&saved)?)
}

// ---- practice defaults for new patients --------------------------------------------------------

fn patient_settings_from_rows(
    rows: &[PatientNotificationSettingRow],
) -> StoreResult<PatientSettings> {
    let mut saved = HashMap::new();
    for row in rows {
        let kind = row
            .kind
            .parse::<PatientNotificationKind>()
            .map_err(|e| StoreError::Unexpected(e.to_string()))?;
        saved.insert(
            kind,
            PatientNotificationSetting {
                enabled: row.enabled,
                email: row.email,
                text: row.text,
            },
        );
    }
    let builtin = PatientSettings::builtin();
    Ok(PatientSettings::from_fn(|kind| {
        saved
            .get(&kind)
            .copied()
            .unwrap_or_else(|| builtin.get(kind))
    }))
}

/// What a new patient of the practice starts with (saved, else built-in, kind by kind).
pub async fn practice_patient_defaults(
    store: &dyn Store,
    practice_id: Uuid,
) -> StoreResult<PatientSettings> {
    patient_settings_from_rows(&store.patient_notification_defaults(practice_id).await?)
}

fn patient_rows(settings: &PatientSettings) -> Vec<PatientNotificationSettingRow> {
    settings
        .iter()
        .map(|(kind, s)| PatientNotificationSettingRow {
            kind: kind.as_str().to_string(),
            enabled: s.enabled,
            email: s.email,
            text: s.text,
        })
        .collect()
}

/// Applies a (possibly partial) change to what new patients start with and saves every kind.
/// Existing patients keep their own settings, unless `apply_to` is `AllPatients`: then every
/// patient of the practice gets the new defaults as their own.
pub async fn change_practice_patient_defaults(
    store: &dyn Store,
    audit: &Audit,
    practice_id: Uuid,
    changes: &[PatientChange],
    apply_to: ApplyReadingDefaultsTo,
) -> Result<PatientSettings, ChangeError> {
    let current = practice_patient_defaults(store, practice_id).await?;
    let next = current.apply(changes)?;
    let saved = store
        .save_patient_notification_defaults(audit, practice_id, patient_rows(&next), apply_to)
        .await?;
    Ok(patient_settings_from_rows(&saved)?)
}

// ---- a patient's own settings ------------------------------------------------------------------

/// A patient's own settings of every kind (a kind the patient has no row of is off: the
/// built-in default, which is what a patient created before the practice saved defaults got).
pub async fn patient_settings(store: &dyn Store, patient_id: Uuid) -> StoreResult<PatientSettings> {
    patient_settings_from_rows(&store.patient_notification_settings(patient_id).await?)
}

/// Applies a (possibly partial) change to a patient's own settings and saves every kind, so
/// two concurrent changes each save a complete set and the later one wins whole.
pub async fn change_patient_settings(
    store: &dyn Store,
    audit: &Audit,
    patient_id: Uuid,
    changes: &[PatientChange],
) -> Result<PatientSettings, ChangeError> {
    let current = patient_settings(store, patient_id).await?;
    let next = current.apply(changes)?;
    let saved = store
        .save_patient_notification_settings(audit, patient_id, patient_rows(&next))
        .await?;
    Ok(patient_settings_from_rows(&saved)?)
}

/// The user whose settings are asked for and the practice, once the caller may see them.
pub async fn settings_subject(
    state: &App,
    caller: &CurrentUser,
    user_id: Uuid,
    practice_id: Uuid,
) -> Result<(User, Practice), AppError> {
    let target = if user_id == caller.id() {
        caller.user.clone()
    } else {
        match state.store.get_user(user_id).await {
            Ok(user) => user,
            Err(StoreError::NotFound) => return Err(AppError::NotFound("user")),
            Err(other) => return Err(other.into()),
        }
    };
    if !crate::domain::access::can_see_user(&caller.user, &target) {
        return Err(AppError::NotFound("user"));
    }
    if caller.role() == Role::Staff && target.id != caller.id() {
        return Err(AppError::Forbidden(
            "staff may read and change only their own notification settings".into(),
        ));
    }
    let practice = visible_practice(state, caller, practice_id).await?;
    if !crate::domain::access::works_at(&target, &practice) {
        return Err(AppError::invalid(
            "practice_id",
            "the user does not work at this practice; pick one of the user's practices",
        ));
    }
    Ok((target, practice))
}

// ---- staff use cases ---------------------------------------------------------------------------

/// A user's effective settings at a practice, for a caller who may see them
/// ([`settings_subject`]).
pub async fn user_settings_for(
    state: &App,
    caller: &CurrentUser,
    user_id: Uuid,
    practice_id: Uuid,
) -> Result<UserSettings, AppError> {
    let (user, practice) = settings_subject(state, caller, user_id, practice_id).await?;
    Ok(user_settings(state.store.as_ref(), user.id, practice.id).await?)
}

/// Changes a user's settings at a practice, for a caller who may see them.
pub async fn change_user_settings_for(
    state: &App,
    caller: &CurrentUser,
    user_id: Uuid,
    practice_id: Uuid,
    changes: SentChanges<UserChange>,
) -> Result<UserSettings, AppError> {
    let (user, practice) = settings_subject(state, caller, user_id, practice_id).await?;
    let store = state.store.as_ref();
    Ok(change_user_settings(store, &caller.audit(), user.id, practice.id, &changes?).await?)
}

/// The practice's defaults for users, for whoever can see the practice.
pub async fn practice_user_defaults_for(
    state: &App,
    caller: &CurrentUser,
    practice_id: Uuid,
) -> Result<UserSettings, AppError> {
    let practice = visible_practice(state, caller, practice_id).await?;
    Ok(practice_user_defaults(state.store.as_ref(), practice.id).await?)
}

/// Changes the practice's defaults for users (its customer's admins).
pub async fn change_practice_user_defaults_for(
    state: &App,
    caller: &CurrentUser,
    practice_id: Uuid,
    changes: SentChanges<UserChange>,
    apply_to: ApplyDefaultsTo,
) -> Result<UserSettings, AppError> {
    let practice = administered_practice(state, caller, practice_id).await?;
    let store = state.store.as_ref();
    let audit = caller.audit();
    Ok(change_practice_user_defaults(store, &audit, practice.id, &changes?, apply_to).await?)
}

/// What new patients of the practice start with, for whoever can see the practice.
pub async fn practice_patient_defaults_for(
    state: &App,
    caller: &CurrentUser,
    practice_id: Uuid,
) -> Result<PatientSettings, AppError> {
    let practice = visible_practice(state, caller, practice_id).await?;
    Ok(practice_patient_defaults(state.store.as_ref(), practice.id).await?)
}

/// Changes what new patients of the practice start with (its customer's admins).
pub async fn change_practice_patient_defaults_for(
    state: &App,
    caller: &CurrentUser,
    practice_id: Uuid,
    changes: SentChanges<PatientChange>,
    apply_to: ApplyReadingDefaultsTo,
) -> Result<PatientSettings, AppError> {
    let practice = administered_practice(state, caller, practice_id).await?;
    let store = state.store.as_ref();
    let audit = caller.audit();
    Ok(change_practice_patient_defaults(store, &audit, practice.id, &changes?, apply_to).await?)
}
