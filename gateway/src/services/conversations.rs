//! Conversations: who hears of a new patient message, and sending a staff message on the
//! patient's enabled channel.
//!
//! A patient message (never a staff one) notifies the care team and the subscribed notification
//! users whose "New Patient Message" setting is on; the in-app notification is written in the
//! transaction that records the message. Staff notifications never carry the message body.

use std::collections::HashMap;

use store::{
    NewNotification, NewOutbound, NewStaffMessage, Patient, Practice, StaffMessageOutcome,
    StoreError, UnreadReminder, priority,
};
use templates::TemplateSet;
use types::TextingStatus;
use uuid::Uuid;

use crate::app::App;
use crate::app::AppError;
use crate::app::CurrentUser;
use crate::domain::notifications::{Kind as _, NotificationKind};
use crate::services::access::visible_patient;
use crate::services::notification_settings::effective_settings_of_users;
use crate::services::notify::{self, Notice};
pub use crate::services::notify::{Audience, audience};
use crate::services::texting::state_of;

/// What staff notifications of a new patient message say: only that there is one to look at.
pub const NEW_MESSAGE_SUMMARY: &str = "A patient sent a new message.";

/// Care team and subscribers of the patient, without duplicates, care team first.
pub async fn interested_users(state: &App, patient_id: Uuid) -> Result<Vec<Uuid>, StoreError> {
    let (team, subscribers) = tokio::try_join!(
        state.store.care_team(patient_id),
        state.store.subscribers(patient_id)
    )?;
    let mut users: Vec<Uuid> = team.into_iter().map(|m| m.user_id).collect();
    for subscriber in subscribers {
        if !users.contains(&subscriber) {
            users.push(subscriber);
        }
    }
    Ok(users)
}

/// Who hears of a new message from this patient now: the care team and subscribers per their
/// settings, and whoever is on call for the practice at this moment (whatever their link to the
/// patient).
pub async fn new_message_recipients(
    state: &App,
    practice_id: Uuid,
    patient_id: Uuid,
) -> Result<Audience, StoreError> {
    let practice = state.store.get_practice(practice_id).await?;
    let now = state.clock.now();
    let kind = NotificationKind::NewPatientMessage;
    let users =
        crate::services::alerts::followers_and_on_call(state, &practice, patient_id, kind, now)
            .await?;
    audience(state, practice_id, &users, kind).await
}

/// The feed rows, emails and texts telling `audience` of a new message from the patient.
pub fn new_message_deliveries(
    audience: &Audience,
    practice: &Practice,
    patient_id: Uuid,
    templates: &TemplateSet,
) -> (Vec<NewNotification>, Vec<NewOutbound>) {
    let kind = NotificationKind::NewPatientMessage;
    let notices = notify::notifications(
        audience,
        Notice {
            practice,
            patient_id: Some(patient_id),
            kind,
            summary: NEW_MESSAGE_SUMMARY,
        },
    );
    let body = notify::text_body(practice, templates, kind);
    let texts = notify::texts(&audience.text, practice, &body, priority::NOTIFY);
    (notices, texts)
}

/// The channel a staff message goes out on.
pub use types::Channel;

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
    #[error("this practice has texting turned off (PATCH /v1/practices/{{id}} texting_enabled)")]
    TextingDisabled,
    #[error(
        "this practice has the patient portal turned off (PATCH /v1/practices/{{id}} portal_enabled)"
    )]
    PortalDisabled,
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

/// The route a staff send's `Idempotency-Key` is bound to (with the patient and the body).
const SEND_ROUTE: &str = "POST /v1/patients/{id}/messages";

/// The fingerprint an `Idempotency-Key` is stored with: a hash of the route, the patient and
/// what was asked (body and channel), so the same key with another request is recognised.
pub fn request_fingerprint(patient_id: Uuid, body: &str, channel: Option<Channel>) -> String {
    use sha2::{Digest, Sha256};
    let channel = channel.map_or("default", Channel::as_str);
    let mut hash = Sha256::new();
    // Length-prefixed parts, so that no two different requests hash the same bytes.
    for part in [SEND_ROUTE, &patient_id.to_string(), channel, body] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The channel for a staff message to `patient` as it is now (its row locked by the send's
/// transaction): the one asked for if the patient can be reached on it, else SMS when texting
/// is enabled, else the portal.
fn choose_channel(
    context: &store::StaffSendContext,
    asked: Option<Channel>,
) -> Result<Channel, SendError> {
    let patient = &context.patient;
    let sms_enabled = state_of(&patient.texting).status == TextingStatus::Enabled
        && patient.mobile_phone.is_some();
    // The practice's switches (as read in the same transaction) come before the patient's own
    // state: with texting off no staff text goes out, whatever the patient's status.
    match asked {
        Some(Channel::Sms) if !context.texting_enabled => Err(SendError::TextingDisabled),
        Some(Channel::Sms) if !sms_enabled => {
            Err(SendError::SmsNotEnabled(patient.texting.status.to_string()))
        }
        Some(Channel::Portal) if !context.portal_enabled => Err(SendError::PortalDisabled),
        Some(Channel::Portal) if !context.has_portal => Err(SendError::PortalNotEnrolled),
        Some(channel) => Ok(channel),
        None if sms_enabled && context.texting_enabled => Ok(Channel::Sms),
        None if context.has_portal && context.portal_enabled => Ok(Channel::Portal),
        None if sms_enabled => Err(SendError::TextingDisabled),
        None if context.has_portal => Err(SendError::PortalDisabled),
        None => Err(SendError::NoChannel),
    }
}

impl SendError {
    /// The API's error code for a refusal (409).
    pub fn code(&self) -> &'static str {
        match self {
            SendError::TextingDisabled => "texting_disabled",
            SendError::PortalDisabled => "portal_disabled",
            _ => "no_enabled_channel",
        }
    }
}

/// Sends a staff message on the asked channel, or the best enabled one (SMS, then portal). The
/// channel is chosen inside the store's transaction with the patient's row locked, so a send
/// racing the patient's STOP goes by portal (or not at all), never by text: `Refused` says why.
pub async fn send_staff_message(
    state: &App,
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
    let idempotency = idempotency_key.map(|key| store::IdempotencyKey {
        fingerprint: request_fingerprint(patient.id, &body, channel),
        key,
    });
    let practice = practice.clone();
    let text = body.clone();
    let choose: store::StaffSendDecider =
        Box::new(move |context| match choose_channel(context, channel) {
            Ok(Channel::Sms) => store::StaffSendChoice::Sms(NewOutbound {
                practice_id: Some(practice.id),
                patient_id: Some(context.patient.id),
                from_number: practice.sms_number.clone(),
                to_number: context.patient.mobile_phone.clone().unwrap_or_default(),
                body: text,
                priority: priority::ROUTINE,
                record_message: true,
                author_user_id: Some(author_user_id),
            }),
            Ok(Channel::Portal) => store::StaffSendChoice::Portal,
            Err(refusal) => store::StaffSendChoice::Refused {
                code: refusal.code().to_string(),
                reason: refusal.to_string(),
            },
        });
    let outcome = state
        .store
        .post_staff_message(
            audit,
            NewStaffMessage {
                patient_id: patient.id,
                author_user_id,
                body,
                choose,
                idempotency,
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

/// The reminders the care team and subscribers of a patient, and the on-call user of the moment,
/// want on their channels: only users who have both "New Patient Message" and "Unread Message
/// Reminder" on.
async fn reminders_for(
    state: &App,
    practice: &Practice,
    patient_id: Uuid,
) -> Result<Vec<UnreadReminder>, StoreError> {
    let users = crate::services::alerts::followers_and_on_call(
        state,
        practice,
        patient_id,
        NotificationKind::UnreadMessageReminder,
        state.clock.now(),
    )
    .await?;
    let new_message = effective_settings_of_users(
        state.store.as_ref(),
        practice.id,
        NotificationKind::NewPatientMessage,
        &users,
    )
    .await?;
    let eligible: Vec<Uuid> = new_message
        .iter()
        .filter(|(_, s)| s.enabled)
        .map(|(id, _)| *id)
        .collect();
    let kind = NotificationKind::UnreadMessageReminder;
    let wanted = audience(state, practice.id, &eligible, kind).await?;
    let notices = notify::notifications(
        &wanted,
        Notice {
            practice,
            patient_id: Some(patient_id),
            kind,
            summary: UNREAD_REMINDER_SUMMARY,
        },
    );
    let body = notify::text_body(practice, &TemplateSet::defaults(), kind);
    let mut reminders: Vec<UnreadReminder> = notices
        .into_iter()
        .map(|notification| UnreadReminder {
            notification,
            text: None,
        })
        .collect();
    for (user_id, mobile) in &wanted.text {
        let text = notify::texts(
            &[(*user_id, mobile.clone())],
            practice,
            &body,
            priority::NOTIFY,
        )
        .pop();
        match reminders
            .iter_mut()
            .find(|r| r.notification.user_id == *user_id)
        {
            Some(reminder) => reminder.text = text,
            None => reminders.push(UnreadReminder {
                notification: NewNotification {
                    in_feed: false,
                    email: None,
                    ..NewNotification::in_feed(
                        *user_id,
                        practice.id,
                        Some(patient_id),
                        kind.as_str(),
                        UNREAD_REMINDER_SUMMARY,
                    )
                },
                text,
            }),
        }
    }
    Ok(reminders)
}

/// What an unread reminder says.
pub const UNREAD_REMINDER_SUMMARY: &str = "A patient message has been waiting unread for a day.";

/// How long a patient message may stay unread before the reminder.
pub const UNREAD_REMINDER_AFTER: chrono::Duration = chrono::Duration::hours(24);
/// Messages older than this are not reminded of any more (a long outage should not flood staff).
const REMINDER_LOOKBACK: chrono::Duration = chrono::Duration::days(7);

/// Sends the "Unread Message Reminder" for every patient message that has stayed unread for 24
/// hours, once per message and user, to the care team and subscribers who have both "New Patient
/// Message" and "Unread Message Reminder" on. Returns how many reminders went out.
pub async fn send_unread_reminders(state: &App) -> Result<usize, StoreError> {
    let now = state.clock.now();
    let until = now - UNREAD_REMINDER_AFTER;
    let mut from = now - REMINDER_LOOKBACK;
    let mut sent = 0;
    let mut practices: HashMap<Uuid, Practice> = HashMap::new();
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
            let practice = match practices.get(&practice_id) {
                Some(practice) => practice,
                None => {
                    let practice = state.store.get_practice(practice_id).await?;
                    practices.entry(practice_id).or_insert(practice)
                }
            };
            let reminders = reminders_for(state, practice, patient_id).await?;
            if reminders.is_empty() {
                continue;
            }
            let reminded = state.store.remind_unread(now, message, &reminders).await?;
            if !reminded.is_empty() {
                state.notify_feed();
                if reminders
                    .iter()
                    .any(|r| r.text.is_some() && reminded.contains(&r.notification.user_id))
                {
                    state.wake_dispatcher();
                }
            }
            let reminded = reminded.len();
            sent += reminded;
        }
        if !full || next_from == from {
            return Ok(sent);
        }
        from = next_from;
    }
}

// ---- staff use cases (the JSON API and the staff console call these) --------------------------

/// One page of a user's own conversation list.
pub struct ConversationPage {
    pub items: Vec<store::ConversationItem>,
    /// The offset of the next page, when there is one.
    pub next_offset: Option<u32>,
}

/// The caller's care-team and subscribed patients, newest activity first, with unread marks;
/// staff see only the patients of their practices.
pub async fn list_for(
    state: &App,
    caller: &CurrentUser,
    limit: u32,
    offset: u32,
) -> Result<ConversationPage, AppError> {
    // The store lists the caller's care-team and followed patients; a staff user no longer at a
    // patient's practice does not see that conversation. Filtering happens while the page is
    // filled (not after it is cut), so a page is short only at the end, and the cursor is the
    // store position of the first conversation not shown.
    let visible = |item: &store::ConversationItem| {
        crate::domain::access::member_of(&caller.user, item.practice_id)
    };
    let mut items = Vec::with_capacity(limit as usize);
    let mut position = offset;
    loop {
        let batch = state
            .store
            .list_conversations(
                caller.id(),
                caller.user.restricted_programs.clone(),
                limit + 1,
                position,
            )
            .await?;
        let exhausted = batch.len() <= limit as usize;
        for item in batch {
            if !visible(&item) {
                position += 1;
                continue;
            }
            if items.len() == limit as usize {
                return Ok(ConversationPage {
                    items,
                    next_offset: Some(position),
                });
            }
            items.push(item);
            position += 1;
        }
        if exhausted {
            return Ok(ConversationPage {
                items,
                next_offset: None,
            });
        }
    }
}

/// Conversations of patients found by name among those the caller may see (the search is
/// audited as a read of each patient found).
pub async fn search_for(
    state: &App,
    caller: &CurrentUser,
    q: &str,
    limit: u32,
) -> Result<Vec<store::ConversationItem>, AppError> {
    let practice_ids = crate::services::patients::search_scope(state, caller, None)
        .await?
        .ok_or_else(|| {
            AppError::invalid("q", "super admins search patients with GET /v1/patients")
        })?;
    let found = crate::services::patients::search_in(
        state,
        caller,
        practice_ids,
        q,
        store::Page::first(limit),
    )
    .await?;
    let ids = found.items.iter().map(|p| p.id).collect();
    Ok(state.store.conversations_of(caller.id(), ids).await?)
}

/// A page of the patient's conversation, newest first (an audited read); 404 unless the caller
/// may see the patient.
pub async fn thread_for(
    state: &App,
    caller: &CurrentUser,
    patient_id: Uuid,
    before: Option<Uuid>,
    limit: u32,
) -> Result<store::Paged<store::Message>, AppError> {
    visible_patient(state, caller, patient_id).await?;
    Ok(state
        .store
        .list_messages(&caller.audit(), patient_id, before, limit)
        .await?)
}

/// Sends the caller's message to a patient they may see (see [`send_staff_message`]); 409
/// `no_enabled_channel` when the asked or any channel is not open.
pub async fn send_for(
    state: &App,
    caller: &CurrentUser,
    patient_id: Uuid,
    body: String,
    channel: Option<Channel>,
    idempotency_key: Option<String>,
) -> Result<Sent, AppError> {
    let patient = visible_patient(state, caller, patient_id).await?;
    let practice = state.store.get_practice(patient.practice_id).await?;
    let message = StaffMessage {
        author_user_id: caller.id(),
        body,
        channel,
        idempotency_key,
    };
    let outcome = send_staff_message(state, &caller.audit(), &patient, &practice, message)
        .await
        .map_err(|e| match e {
            SendError::Store(e) => AppError::from(e),
            other => AppError::Conflict {
                code: other.code(),
                message: other.to_string(),
            },
        })?;
    match outcome {
        StaffMessageOutcome::Created { message, .. } => Ok(Sent::Created(message)),
        StaffMessageOutcome::Replayed { message } => Ok(Sent::Replayed(message)),
        // Decided with the patient's row locked (a STOP may just have ended texting).
        StaffMessageOutcome::Refused { code, reason } => Err(AppError::Conflict {
            code: match code.as_str() {
                "texting_disabled" => "texting_disabled",
                "portal_disabled" => "portal_disabled",
                _ => "no_enabled_channel",
            },
            message: reason,
        }),
    }
}

/// A staff message that was sent.
pub enum Sent {
    /// Sent now.
    Created(Box<store::Message>),
    /// The same request was sent before (its idempotency key): the first message, nothing new.
    Replayed(Box<store::Message>),
}

/// Marks the patient's conversation read for the caller only.
pub async fn mark_read_for(
    state: &App,
    caller: &CurrentUser,
    patient_id: Uuid,
) -> Result<(), AppError> {
    visible_patient(state, caller, patient_id).await?;
    state
        .store
        .mark_read(caller.id(), patient_id, caller.now)
        .await?;
    Ok(())
}

/// One line of the care-team panel.
pub struct PanelEntry {
    pub user: store::User,
    pub on_care_team: bool,
    /// Program enrolments the user is assigned to.
    pub programs: Vec<String>,
    pub subscribed: bool,
    /// The channels on which a new message from the patient would notify this user now: the
    /// audience a patient message gets at this moment (`new_message_recipients`), so the panel
    /// and the notification cannot disagree.
    pub channels_now: Vec<&'static str>,
}

/// Everyone who works on or follows the patient, and whether a new message notifies them now.
pub async fn panel_for(
    state: &App,
    caller: &CurrentUser,
    patient_id: Uuid,
) -> Result<Vec<PanelEntry>, AppError> {
    let patient = visible_patient(state, caller, patient_id).await?;
    let team = state.store.care_team(patient_id).await?;
    let subscribers = state.store.subscribers(patient_id).await?;
    let users = interested_users(state, patient_id).await?;
    let told = new_message_recipients(state, patient.practice_id, patient_id).await?;
    let mut items = Vec::with_capacity(users.len());
    for user_id in users {
        let user = state.store.get_user(user_id).await?;
        let member = team.iter().find(|m| m.user_id == user_id);
        let mut channels_now = Vec::new();
        if told.push.contains(&user_id) {
            channels_now.push("push");
        }
        if told.email.iter().any(|(u, _)| *u == user_id) {
            channels_now.push("email");
        }
        if told.text.iter().any(|(u, _)| *u == user_id) {
            channels_now.push("text");
        }
        items.push(PanelEntry {
            user,
            on_care_team: member.is_some(),
            programs: member.map(|m| m.programs.clone()).unwrap_or_default(),
            subscribed: subscribers.contains(&user_id),
            channels_now,
        });
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_changes_with_the_patient_the_body_and_the_channel_only() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let base = request_fingerprint(a, "See you at 3", None);
        assert_eq!(base, request_fingerprint(a, "See you at 3", None));
        for other in [
            request_fingerprint(b, "See you at 3", None),
            request_fingerprint(a, "See you at 4", None),
            request_fingerprint(a, "See you at 3", Some(Channel::Sms)),
            request_fingerprint(a, "See you at 3", Some(Channel::Portal)),
        ] {
            assert_ne!(base, other);
        }
        // Parts are length-prefixed: moving text between them changes the hash.
        assert_ne!(
            request_fingerprint(a, "portalx", None),
            request_fingerprint(a, "x", Some(Channel::Portal))
        );
    }
}
