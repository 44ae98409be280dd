//! Conversations: who hears of a new patient message, and sending a staff message on the
//! patient's enabled channel.
//!
//! A patient message (never a staff one) notifies the care team and the subscribed notification
//! users whose "New Patient Message" setting is on; the in-app notification is written in the
//! transaction that records the message. Staff notifications never carry the message body.

use std::collections::HashMap;

use store::{
    NewNotification, NewOutbound, NewStaffMessage, Patient, Practice, StaffMessageOutcome,
    StoreError, priority,
};
use templates::{Placeholder, TemplateName, TemplateSet, Vars};
use uuid::Uuid;

use crate::domain::notifications::{Kind as _, NotificationKind};
use crate::http::AppState;
use crate::services::notification_settings::effective_settings_of_users;

/// What staff notifications of a new patient message say: only that there is one to look at.
pub const NEW_MESSAGE_SUMMARY: &str = "A patient sent a new message.";

/// Care team and subscribers of the patient, without duplicates, care team first.
pub async fn interested_users(state: &AppState, patient_id: Uuid) -> Result<Vec<Uuid>, StoreError> {
    let mut users: Vec<Uuid> = state
        .store
        .care_team(patient_id)
        .await?
        .into_iter()
        .map(|m| m.user_id)
        .collect();
    for subscriber in state.store.subscribers(patient_id).await? {
        if !users.contains(&subscriber) {
            users.push(subscriber);
        }
    }
    Ok(users)
}

/// Who hears of something, on which channel: the in-app feed (push) or a text to their mobile.
#[derive(Debug, Clone, Default)]
pub struct Audience {
    pub push: Vec<Uuid>,
    /// Users with "text" on and a mobile number on file, with that number.
    pub text: Vec<(Uuid, String)>,
}

/// Splits `users` by their effective setting of `kind` for the practice.
pub async fn audience(
    state: &AppState,
    practice_id: Uuid,
    users: &[Uuid],
    kind: NotificationKind,
) -> Result<Audience, StoreError> {
    let settings =
        effective_settings_of_users(state.store.as_ref(), practice_id, kind, users).await?;
    let mut audience = Audience::default();
    for (user_id, setting) in settings.into_iter().filter(|(_, s)| s.enabled) {
        if setting.push {
            audience.push.push(user_id);
        }
        if setting.text {
            let user = state.store.get_user(user_id).await?;
            if let (None, Some(mobile)) = (user.locked_at, user.mobile_phone) {
                audience.text.push((user_id, mobile));
            }
        }
    }
    Ok(audience)
}

/// Who hears of a new message from this patient now: the care team and subscribers per their
/// settings, and whoever is on call for the practice at this moment (whatever their link to the
/// patient).
pub async fn new_message_recipients(
    state: &AppState,
    practice_id: Uuid,
    patient_id: Uuid,
) -> Result<Audience, StoreError> {
    let practice = state.store.get_practice(practice_id).await?;
    let now = state.clock.now();
    let users =
        crate::services::alerts::followers_and_on_call(state, &practice, patient_id, now).await?;
    audience(
        state,
        practice_id,
        &users,
        NotificationKind::NewPatientMessage,
    )
    .await
}

/// Texts telling staff there is something to look at: the practice's template, never the
/// patient's words or clinical detail.
pub fn staff_texts(
    to: &[(Uuid, String)],
    practice: &Practice,
    templates: &TemplateSet,
    name: TemplateName,
) -> Vec<NewOutbound> {
    let vars = Vars::new()
        .with(Placeholder::PracticeName, practice.name.clone())
        .with(Placeholder::PracticePhone, practice.sms_number.clone());
    let body = templates
        .render(name, &vars)
        .or_else(|_| TemplateSet::defaults().render(name, &vars))
        .unwrap_or_else(|_| name.default_text().to_string());
    to.iter()
        .map(|(_, mobile)| NewOutbound {
            practice_id: Some(practice.id),
            patient_id: None,
            from_number: practice.sms_number.clone(),
            to_number: mobile.clone(),
            body: body.clone(),
            priority: priority::NOTIFY,
            record_message: false,
            author_user_id: None,
        })
        .collect()
}

/// Recipients for each patient of the practice on this number (an inbound text is routed to one
/// of them inside its transaction).
pub async fn recipients_by_patient(
    state: &AppState,
    practice_id: Uuid,
    number: &str,
) -> Result<HashMap<Uuid, Audience>, StoreError> {
    let mut map = HashMap::new();
    for patient_id in state
        .store
        .patients_with_number(practice_id, number)
        .await?
    {
        map.insert(
            patient_id,
            new_message_recipients(state, practice_id, patient_id).await?,
        );
    }
    Ok(map)
}

pub fn new_message_notifications(
    recipients: &[Uuid],
    practice_id: Uuid,
    patient_id: Uuid,
) -> Vec<NewNotification> {
    recipients
        .iter()
        .map(|user_id| NewNotification {
            user_id: *user_id,
            practice_id,
            patient_id: Some(patient_id),
            kind: NotificationKind::NewPatientMessage.as_str().to_string(),
            summary: NEW_MESSAGE_SUMMARY.to_string(),
        })
        .collect()
}

/// The channel a staff message goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Sms,
    Portal,
}

/// Why a staff message cannot be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(
        "the patient has no enabled channel: texting is not enabled and the patient is not enrolled in the portal"
    )]
    NoChannel,
    #[error("the patient cannot be texted (texting status {0}); use the portal or start texting")]
    SmsNotEnabled(String),
    #[error("the patient is not enrolled in the portal")]
    PortalNotEnrolled,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a staff member asked to send.
#[derive(Clone)]
pub struct StaffMessage {
    pub author_user_id: Uuid,
    pub body: String,
    /// `None`: SMS when texting is enabled, else the portal.
    pub channel: Option<Channel>,
    pub idempotency_key: Option<String>,
}

/// Sends a staff message on the asked channel, or the best enabled one (SMS, then portal).
pub async fn send_staff_message(
    state: &AppState,
    audit: &store::Audit,
    patient: &Patient,
    practice: &Practice,
    message: StaffMessage,
) -> Result<StaffMessageOutcome, SendError> {
    let StaffMessage {
        author_user_id,
        body,
        channel,
        idempotency_key,
    } = message;
    let sms_enabled = patient.texting.status == "enabled" && patient.mobile_phone.is_some();
    let chosen = match channel {
        Some(Channel::Sms) if !sms_enabled => {
            return Err(SendError::SmsNotEnabled(patient.texting.status.clone()));
        }
        Some(Channel::Portal) if !state.store.has_portal(patient.id).await? => {
            return Err(SendError::PortalNotEnrolled);
        }
        Some(channel) => channel,
        None if sms_enabled => Channel::Sms,
        None if state.store.has_portal(patient.id).await? => Channel::Portal,
        None => return Err(SendError::NoChannel),
    };
    let sms = (chosen == Channel::Sms).then(|| NewOutbound {
        practice_id: Some(practice.id),
        patient_id: Some(patient.id),
        from_number: practice.sms_number.clone(),
        to_number: patient.mobile_phone.clone().unwrap_or_default(),
        body: body.clone(),
        priority: priority::ROUTINE,
        record_message: true,
        author_user_id: Some(author_user_id),
    });
    let outcome = state
        .store
        .post_staff_message(
            audit,
            NewStaffMessage {
                patient_id: patient.id,
                author_user_id,
                body,
                sms,
                idempotency_key,
            },
        )
        .await?;
    if let StaffMessageOutcome::Created {
        enqueued: Some(_), ..
    } = &outcome
    {
        state.wake_dispatcher();
    }
    Ok(outcome)
}

/// How long a patient message may stay unread before the reminder.
pub const UNREAD_REMINDER_AFTER: chrono::Duration = chrono::Duration::hours(24);
/// Messages older than this are not reminded of any more (a long outage should not flood staff).
const REMINDER_LOOKBACK: chrono::Duration = chrono::Duration::days(7);

/// Sends the "Unread Message Reminder" for every patient message that has stayed unread for 24
/// hours, once per message and user, to the care team and subscribers who have both "New Patient
/// Message" and "Unread Message Reminder" on. Returns how many reminders went out.
pub async fn send_unread_reminders(state: &AppState) -> Result<usize, StoreError> {
    let now = state.clock.now();
    let until = now - UNREAD_REMINDER_AFTER;
    let mut from = now - REMINDER_LOOKBACK;
    let mut sent = 0;
    loop {
        let batch = state
            .store
            .patient_messages_between(from, until, 200)
            .await?;
        let Some(last) = batch.last() else {
            return Ok(sent);
        };
        let next_from = last.created_at;
        let full = batch.len() == 200;
        for message in &batch {
            let (Some(patient_id), Some(practice_id)) = (message.patient_id, message.practice_id)
            else {
                continue;
            };
            let users = interested_users(state, patient_id).await?;
            let wanted =
                |kind| effective_settings_of_users(state.store.as_ref(), practice_id, kind, &users);
            let new_message = wanted(NotificationKind::NewPatientMessage).await?;
            let reminder = wanted(NotificationKind::UnreadMessageReminder).await?;
            let eligible: Vec<Uuid> = users
                .iter()
                .copied()
                .filter(|u| new_message.iter().any(|(id, s)| id == u && s.enabled))
                .filter(|u| {
                    reminder
                        .iter()
                        .any(|(id, s)| id == u && s.enabled && s.push)
                })
                .collect();
            if eligible.is_empty() {
                continue;
            }
            let note = NewNotification {
                user_id: Uuid::nil(),
                practice_id,
                patient_id: Some(patient_id),
                kind: NotificationKind::UnreadMessageReminder.as_str().to_string(),
                summary: "A patient message has been waiting unread for a day.".to_string(),
            };
            let reminded = state
                .store
                .remind_unread(now, message, &eligible, &note)
                .await?
                .len();
            if reminded > 0 {
                state.notify_feed();
            }
            sent += reminded;
        }
        if !full || next_from == from {
            return Ok(sent);
        }
        from = next_from;
    }
}
