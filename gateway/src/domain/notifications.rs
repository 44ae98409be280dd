//! Notification settings: which notifications a user gets for a practice, on which channels, and
//! what a new patient of a practice starts with.
//!
//! Owns the kinds (API.md), the built-in defaults, how an effective setting is found (the user's
//! own, else the practice's default, else built-in) and the rules a change must keep:
//!
//! - a channel (`push`, `email`, `text`) can only be on while `enabled` is on;
//! - `unread_message_reminder` can only be enabled while `new_patient_message` is enabled
//!   (DESIGN.md, seed 001). A change that breaks it is refused, never repaired silently: turning
//!   `new_patient_message` off while the reminder stays on names `new_patient_message`, turning
//!   the reminder on while new messages are off names the reminder;
//! - a change lists each kind at most once, and lists at least one.
//!
//! A change may list a subset of the kinds; the others keep their current values, and the rules
//! are checked on the result. Errors name the offending field as a path into the request body,
//! e.g. `settings[2].push`.
//!
//! Must never do I/O or decide who is notified of what: the store keeps the settings, the
//! services read them, and the notifier (elsewhere) asks for the effective setting of the users it
//! considers.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

// ---- kinds ----------------------------------------------------------------------------------

/// A kind of user notification. Serialized in snake_case as in API.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    NewPatientMessage,
    UnreadMessageReminder,
    TwoWayTexting,
    ReadingCaution,
    ReadingCritical,
    OverdueReadings,
}

/// A kind of patient notification a practice sets defaults for: what a patient is told about
/// their own readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatientNotificationKind {
    ReadingCaution,
    ReadingCritical,
    OverdueReadings,
}

/// What the generic rules need of a kind.
pub trait Kind: Copy + Ord + fmt::Display + 'static {
    /// Every kind, in the order answers list them.
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;
}

impl Kind for NotificationKind {
    const ALL: &'static [NotificationKind] = &[
        NotificationKind::NewPatientMessage,
        NotificationKind::UnreadMessageReminder,
        NotificationKind::TwoWayTexting,
        NotificationKind::ReadingCaution,
        NotificationKind::ReadingCritical,
        NotificationKind::OverdueReadings,
    ];

    fn as_str(self) -> &'static str {
        match self {
            NotificationKind::NewPatientMessage => "new_patient_message",
            NotificationKind::UnreadMessageReminder => "unread_message_reminder",
            NotificationKind::TwoWayTexting => "two_way_texting",
            NotificationKind::ReadingCaution => "reading_caution",
            NotificationKind::ReadingCritical => "reading_critical",
            NotificationKind::OverdueReadings => "overdue_readings",
        }
    }
}

impl Kind for PatientNotificationKind {
    const ALL: &'static [PatientNotificationKind] = &[
        PatientNotificationKind::ReadingCaution,
        PatientNotificationKind::ReadingCritical,
        PatientNotificationKind::OverdueReadings,
    ];

    fn as_str(self) -> &'static str {
        match self {
            PatientNotificationKind::ReadingCaution => "reading_caution",
            PatientNotificationKind::ReadingCritical => "reading_critical",
            PatientNotificationKind::OverdueReadings => "overdue_readings",
        }
    }
}

/// A kind name that is not one of the kinds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown notification kind {0:?}")]
pub struct UnknownKind(pub String);

fn parse_kind<K: Kind>(s: &str) -> Result<K, UnknownKind> {
    K::ALL
        .iter()
        .copied()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| UnknownKind(s.to_string()))
}

impl FromStr for NotificationKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_kind(s)
    }
}

impl FromStr for PatientNotificationKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_kind(s)
    }
}

impl fmt::Display for NotificationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for PatientNotificationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---- one kind's setting -----------------------------------------------------------------------

/// What the generic rules need of one kind's setting.
pub trait Choice: Copy + PartialEq + fmt::Debug {
    fn enabled(&self) -> bool;
    /// The name of the first channel that is on, if any (in the order of the API body).
    fn first_channel_on(&self) -> Option<&'static str>;
}

/// A user's setting of one kind: whether it is on, and its channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NotificationSetting {
    pub enabled: bool,
    /// The in-app feed and its event stream.
    pub push: bool,
    pub email: bool,
    /// SMS to the user's mobile phone.
    pub text: bool,
}

impl NotificationSetting {
    pub const OFF: NotificationSetting = NotificationSetting {
        enabled: false,
        push: false,
        email: false,
        text: false,
    };

    /// Enabled and delivered in the app only.
    pub const PUSH: NotificationSetting = NotificationSetting {
        enabled: true,
        push: true,
        email: false,
        text: false,
    };
}

impl Choice for NotificationSetting {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn first_channel_on(&self) -> Option<&'static str> {
        [
            ("push", self.push),
            ("email", self.email),
            ("text", self.text),
        ]
        .into_iter()
        .find_map(|(name, on)| on.then_some(name))
    }
}

/// A patient's setting of one kind; patients are told by text or email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PatientNotificationSetting {
    pub enabled: bool,
    pub email: bool,
    pub text: bool,
}

impl Choice for PatientNotificationSetting {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn first_channel_on(&self) -> Option<&'static str> {
        [("email", self.email), ("text", self.text)]
            .into_iter()
            .find_map(|(name, on)| on.then_some(name))
    }
}

// ---- complete sets ----------------------------------------------------------------------------

/// A setting for every kind: what answers and the store's rows are built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingSet<K: Kind, C: Choice> {
    settings: BTreeMap<K, C>,
}

/// A user's settings of every kind for one practice (or a practice's defaults for users).
pub type UserSettings = SettingSet<NotificationKind, NotificationSetting>;

/// A practice's patient notification defaults of every kind.
pub type PatientSettings = SettingSet<PatientNotificationKind, PatientNotificationSetting>;

impl<K: Kind, C: Choice> SettingSet<K, C> {
    /// Every kind from `of`.
    pub fn from_fn(mut of: impl FnMut(K) -> C) -> Self {
        SettingSet {
            settings: K::ALL.iter().map(|&k| (k, of(k))).collect(),
        }
    }

    pub fn get(&self, kind: K) -> C {
        self.settings[&kind]
    }

    /// Every kind with its setting, in the order of `K::ALL`.
    pub fn iter(&self) -> impl Iterator<Item = (K, C)> + '_ {
        self.settings.iter().map(|(k, c)| (*k, *c))
    }

    /// The rules every set must keep whatever its kinds; `changes` are the request's items,
    /// so errors can name them. Returns the set with the changes applied.
    fn apply_common(&self, changes: &[Change<K, C>]) -> Result<Self, SettingsError> {
        if changes.is_empty() {
            return Err(SettingsError::Empty);
        }
        let mut next = self.clone();
        for (index, change) in changes.iter().enumerate() {
            if changes[..index].iter().any(|c| c.kind == change.kind) {
                return Err(SettingsError::DuplicateKind {
                    index,
                    kind: change.kind.as_str(),
                });
            }
            if !change.setting.enabled()
                && let Some(channel) = change.setting.first_channel_on()
            {
                return Err(SettingsError::ChannelWhileDisabled {
                    index,
                    channel,
                    kind: change.kind.as_str(),
                });
            }
            next.settings.insert(change.kind, change.setting);
        }
        Ok(next)
    }
}

/// One item of a change request: the new setting of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change<K, C> {
    pub kind: K,
    pub setting: C,
}

/// Why a change was refused. [`SettingsError::field`] names the offending field of the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("list at least one kind to change")]
    Empty,
    #[error("`{kind}` is listed more than once")]
    DuplicateKind { index: usize, kind: &'static str },
    #[error("`{channel}` can only be on while `enabled` is on (kind `{kind}`)")]
    ChannelWhileDisabled {
        index: usize,
        channel: &'static str,
        kind: &'static str,
    },
    #[error("`unread_message_reminder` can only be enabled while `new_patient_message` is enabled")]
    ReminderWithoutNewMessage { index: usize },
    #[error(
        "`new_patient_message` cannot be turned off while `unread_message_reminder` is enabled; \
         turn the reminder off in the same request"
    )]
    NewMessageOffWhileReminderOn { index: usize },
}

impl SettingsError {
    /// The offending field, as a path into the request body.
    pub fn field(&self) -> String {
        match self {
            SettingsError::Empty => "settings".into(),
            SettingsError::DuplicateKind { index, .. } => format!("settings[{index}].kind"),
            SettingsError::ChannelWhileDisabled { index, channel, .. } => {
                format!("settings[{index}].{channel}")
            }
            SettingsError::ReminderWithoutNewMessage { index }
            | SettingsError::NewMessageOffWhileReminderOn { index } => {
                format!("settings[{index}].enabled")
            }
        }
    }
}

// ---- user settings ----------------------------------------------------------------------------

/// The built-in default of a kind, used where neither the user nor the practice saved one: new
/// patient messages and critical readings in the app, everything else off. Conservative on
/// purpose: text and email need contact details a user may not have given, and caution and
/// overdue notices are frequent enough that a practice should opt into them.
pub fn builtin_default(kind: NotificationKind) -> NotificationSetting {
    match kind {
        NotificationKind::NewPatientMessage | NotificationKind::ReadingCritical => {
            NotificationSetting::PUSH
        }
        NotificationKind::UnreadMessageReminder
        | NotificationKind::TwoWayTexting
        | NotificationKind::ReadingCaution
        | NotificationKind::OverdueReadings => NotificationSetting::OFF,
    }
}

/// A user's effective setting of one kind: their own, else the practice's default, else built-in.
pub fn effective(
    kind: NotificationKind,
    own: Option<NotificationSetting>,
    practice_default: Option<NotificationSetting>,
) -> NotificationSetting {
    own.or(practice_default)
        .unwrap_or_else(|| builtin_default(kind))
}

pub type UserChange = Change<NotificationKind, NotificationSetting>;

impl UserSettings {
    /// The built-in defaults of every kind.
    pub fn builtin() -> UserSettings {
        SettingSet::from_fn(builtin_default)
    }

    /// Applies a (possibly partial) change and checks the result; see the module docs.
    pub fn apply(&self, changes: &[UserChange]) -> Result<UserSettings, SettingsError> {
        let next = self.apply_common(changes)?;
        let reminder = next.get(NotificationKind::UnreadMessageReminder);
        if reminder.enabled && !next.get(NotificationKind::NewPatientMessage).enabled {
            let position = |kind| changes.iter().position(|c| c.kind == kind);
            return Err(match position(NotificationKind::UnreadMessageReminder) {
                // The request turns (or keeps) the reminder on: that is the field to fix.
                Some(index) => SettingsError::ReminderWithoutNewMessage { index },
                // Otherwise the request must have turned new patient messages off.
                None => SettingsError::NewMessageOffWhileReminderOn {
                    index: position(NotificationKind::NewPatientMessage).unwrap_or(0),
                },
            });
        }
        Ok(next)
    }
}

// ---- who is considered ------------------------------------------------------------------------

/// Who is considered for a patient notification of `kind` before their settings are looked at:
/// the kind's own audience (the practice's users for "two-way texting", the patient's care team
/// and subscribers for every other kind) and, for every kind, whoever is on call at the practice
/// at this moment, whatever their link to the patient (seed 000: on-call users "receive all
/// incoming patient-related notifications, regardless of their association to the patient,
/// during the hours specified"). Each user once, in that order.
pub fn considered(
    kind: NotificationKind,
    followers: &[uuid::Uuid],
    practice_users: &[uuid::Uuid],
    on_call: &[uuid::Uuid],
) -> Vec<uuid::Uuid> {
    let own = match kind {
        NotificationKind::TwoWayTexting => practice_users,
        NotificationKind::NewPatientMessage
        | NotificationKind::UnreadMessageReminder
        | NotificationKind::ReadingCaution
        | NotificationKind::ReadingCritical
        | NotificationKind::OverdueReadings => followers,
    };
    let mut users: Vec<uuid::Uuid> = Vec::with_capacity(own.len() + on_call.len());
    for user in own.iter().chain(on_call) {
        if !users.contains(user) {
            users.push(*user);
        }
    }
    users
}

// ---- patient settings -------------------------------------------------------------------------

pub type PatientChange = Change<PatientNotificationKind, PatientNotificationSetting>;

impl PatientSettings {
    /// A new patient is told nothing until the practice chooses otherwise: texting a patient
    /// needs their opt-in, and what to send them is the practice's clinical decision.
    pub fn builtin() -> PatientSettings {
        SettingSet::from_fn(|_| PatientNotificationSetting::default())
    }

    /// Applies a (possibly partial) change and checks the result; see the module docs.
    pub fn apply(&self, changes: &[PatientChange]) -> Result<PatientSettings, SettingsError> {
        self.apply_common(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_on_call_user_is_considered_for_every_kind_whatever_their_link() {
        let id = |n: u128| uuid::Uuid::from_u128(n);
        let (follower, colleague, on_call) = (id(1), id(2), id(3));
        for kind in NotificationKind::ALL {
            let users = considered(*kind, &[follower], &[follower, colleague], &[on_call]);
            assert!(users.contains(&on_call), "{kind}");
            let expected_colleague = *kind == NotificationKind::TwoWayTexting;
            assert_eq!(users.contains(&colleague), expected_colleague, "{kind}");
            assert!(users.contains(&follower), "{kind}");
        }
        // Someone who is both is considered once.
        assert_eq!(
            considered(
                NotificationKind::ReadingCaution,
                &[follower],
                &[],
                &[follower]
            ),
            vec![follower]
        );
    }
    use NotificationKind::*;

    fn set(enabled: bool, push: bool, email: bool, text: bool) -> NotificationSetting {
        NotificationSetting {
            enabled,
            push,
            email,
            text,
        }
    }

    fn change(kind: NotificationKind, setting: NotificationSetting) -> UserChange {
        Change { kind, setting }
    }

    #[test]
    fn kinds_read_and_print_as_in_the_api() {
        for &kind in NotificationKind::ALL {
            assert_eq!(kind.as_str().parse::<NotificationKind>(), Ok(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::String(kind.to_string())
            );
        }
        for &kind in PatientNotificationKind::ALL {
            assert_eq!(kind.as_str().parse::<PatientNotificationKind>(), Ok(kind));
        }
        assert!(
            "unread_message_reminder"
                .parse::<PatientNotificationKind>()
                .is_err()
        );
        assert_eq!(NotificationKind::ALL.len(), 6);
    }

    #[test]
    fn the_built_in_defaults_keep_every_rule() {
        let builtin = UserSettings::builtin();
        assert_eq!(builtin.get(NewPatientMessage), NotificationSetting::PUSH);
        assert_eq!(builtin.get(ReadingCritical), NotificationSetting::PUSH);
        assert_eq!(builtin.get(UnreadMessageReminder), NotificationSetting::OFF);
        // Re-applying every kind as it is must pass the checks.
        let all: Vec<_> = builtin.iter().map(|(k, s)| change(k, s)).collect();
        assert_eq!(builtin.apply(&all), Ok(builtin.clone()));
    }

    #[test]
    fn an_effective_setting_is_the_users_own_else_the_practices_else_built_in() {
        let own = set(true, false, true, false);
        let practice = set(true, false, false, true);
        assert_eq!(effective(TwoWayTexting, Some(own), Some(practice)), own);
        assert_eq!(effective(TwoWayTexting, None, Some(practice)), practice);
        assert_eq!(
            effective(ReadingCritical, None, None),
            NotificationSetting::PUSH
        );
    }

    #[test]
    fn a_partial_change_keeps_the_other_kinds() {
        let current = UserSettings::builtin();
        let next = current
            .apply(&[change(OverdueReadings, set(true, false, true, false))])
            .unwrap();
        assert_eq!(next.get(OverdueReadings), set(true, false, true, false));
        for &kind in &[
            NewPatientMessage,
            UnreadMessageReminder,
            TwoWayTexting,
            ReadingCaution,
        ] {
            assert_eq!(next.get(kind), current.get(kind));
        }
    }

    #[test]
    fn a_channel_while_disabled_is_refused_naming_the_item_and_channel() {
        let current = UserSettings::builtin();
        let err = current
            .apply(&[
                change(ReadingCaution, set(true, true, false, false)),
                change(TwoWayTexting, set(false, false, false, true)),
            ])
            .unwrap_err();
        assert_eq!(err.field(), "settings[1].text");
        let err = current
            .apply(&[change(TwoWayTexting, set(false, true, true, true))])
            .unwrap_err();
        assert_eq!(err.field(), "settings[0].push");
    }

    #[test]
    fn the_reminder_needs_new_patient_messages() {
        let off = UserSettings::builtin()
            .apply(&[change(NewPatientMessage, NotificationSetting::OFF)])
            .unwrap();
        let err = off
            .apply(&[change(UnreadMessageReminder, NotificationSetting::PUSH)])
            .unwrap_err();
        assert_eq!(err, SettingsError::ReminderWithoutNewMessage { index: 0 });
        assert_eq!(err.field(), "settings[0].enabled");
        // Both in one request, in any order, is fine.
        let both = off
            .apply(&[
                change(UnreadMessageReminder, NotificationSetting::PUSH),
                change(NewPatientMessage, set(true, false, true, false)),
            ])
            .unwrap();
        assert!(both.get(UnreadMessageReminder).enabled);
        // Turning new messages off while the reminder stays on names new messages.
        let err = both
            .apply(&[
                change(ReadingCaution, NotificationSetting::OFF),
                change(NewPatientMessage, NotificationSetting::OFF),
            ])
            .unwrap_err();
        assert_eq!(
            err,
            SettingsError::NewMessageOffWhileReminderOn { index: 1 }
        );
        assert_eq!(err.field(), "settings[1].enabled");
        // Turning both off together is fine.
        both.apply(&[
            change(NewPatientMessage, NotificationSetting::OFF),
            change(UnreadMessageReminder, NotificationSetting::OFF),
        ])
        .unwrap();
    }

    #[test]
    fn a_kind_listed_twice_or_no_kind_at_all_is_refused() {
        let current = UserSettings::builtin();
        let err = current
            .apply(&[
                change(ReadingCaution, NotificationSetting::OFF),
                change(ReadingCaution, NotificationSetting::PUSH),
            ])
            .unwrap_err();
        assert_eq!(err.field(), "settings[1].kind");
        assert_eq!(current.apply(&[]).unwrap_err().field(), "settings");
    }

    #[test]
    fn patient_defaults_start_off_and_follow_the_channel_rule() {
        let builtin = PatientSettings::builtin();
        assert!(builtin.iter().all(|(_, s)| !s.enabled));
        let err = builtin
            .apply(&[Change {
                kind: PatientNotificationKind::ReadingCritical,
                setting: PatientNotificationSetting {
                    enabled: false,
                    email: true,
                    text: false,
                },
            }])
            .unwrap_err();
        assert_eq!(err.field(), "settings[0].email");
    }
}
