//! Telling staff that there is something to look at: who hears of it on which channel, and the
//! feed rows, emails and texts that carry it.
//!
//! Channels (DESIGN.md "Notifications"): push (the in-app feed and its stream), email (the email
//! outbox, sent over SMTP) and text (the SMS outbox). Whatever the channel, a notification says
//! only that there is something to look at: never a message body, a reading's value or a patient's
//! name. The rows are handed to the store with the change that caused them, so they exist exactly
//! when it does.

use store::{NewNotification, NewOutbound, NotificationEmail, Practice, StoreError};
use templates::{Placeholder, TemplateName, TemplateSet, Vars};
use uuid::Uuid;

use crate::app::App;
use crate::domain::notifications::{Kind as _, NotificationKind};
use crate::services::notification_settings::effective_settings_of_users;

/// Who hears of something, on which channel.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Audience {
    /// In-app feed and stream.
    pub push: Vec<Uuid>,
    /// Users with "email" on, with their address.
    pub email: Vec<(Uuid, String)>,
    /// Users with "text" on and a mobile number on file, with that number.
    pub text: Vec<(Uuid, String)>,
}

impl Audience {
    pub fn is_empty(&self) -> bool {
        self.push.is_empty() && self.email.is_empty() && self.text.is_empty()
    }

    /// Adds everyone of `other` not reached yet on that channel (a number is texted once, even
    /// when two users share it).
    pub fn merge(&mut self, other: Audience) {
        for user in other.push {
            if !self.push.contains(&user) {
                self.push.push(user);
            }
        }
        for (user, address) in other.email {
            if !self.email.iter().any(|(u, _)| *u == user) {
                self.email.push((user, address));
            }
        }
        for (user, mobile) in other.text {
            if !self.text.iter().any(|(_, m)| *m == mobile) {
                self.text.push((user, mobile));
            }
        }
    }

    /// Every user it reaches on any channel, each once.
    pub fn users(&self) -> Vec<Uuid> {
        let mut users = self.push.clone();
        for id in self
            .email
            .iter()
            .map(|(u, _)| u)
            .chain(self.text.iter().map(|(u, _)| u))
        {
            if !users.contains(id) {
                users.push(*id);
            }
        }
        users
    }

    /// Keeps only the users `keep` says yes to, on every channel.
    pub fn retain_users(&mut self, keep: impl Fn(Uuid) -> bool) {
        self.push.retain(|u| keep(*u));
        self.email.retain(|(u, _)| keep(*u));
        self.text.retain(|(u, _)| keep(*u));
    }

    /// The same people on the feed and email only: how those of a step that reaches nobody by
    /// text still hear of an alert.
    pub fn without_texts(&self) -> Audience {
        Audience {
            text: Vec::new(),
            ..self.clone()
        }
    }

    /// Users who must hear of it whatever their settings (on call, fallback of an alert): every
    /// channel they can be reached on. Locked users are left out.
    pub async fn everywhere(state: &App, users: &[Uuid]) -> Result<Audience, StoreError> {
        let mut forced = Audience::default();
        // One query, answered in the order asked; an id that names no user reaches nobody.
        let loaded = state.store.get_users(users).await?;
        for user_id in users {
            let Some(user) = loaded.iter().find(|u| u.id == *user_id) else {
                continue;
            };
            if user.locked_at.is_some() {
                continue;
            }
            forced.push.push(user.id);
            if !user.email.trim().is_empty() {
                forced.email.push((user.id, user.email.clone()));
            }
            if let Some(mobile) = &user.mobile_phone {
                forced.text.push((user.id, mobile.clone()));
            }
        }
        Ok(forced)
    }
}

/// How one user hears of something of one kind, by their effective setting: absent when not at
/// all (the kind is off, no channel is on, or the user is locked).
#[derive(Debug, Clone, PartialEq)]
pub struct UserReach {
    pub user_id: Uuid,
    pub push: bool,
    /// The address, when email is on and one is on file.
    pub email: Option<String>,
    /// The mobile number, when text is on and one is on file.
    pub text: Option<String>,
}

impl Audience {
    /// Adds one user as their reach says.
    pub fn add_reach(&mut self, reach: &UserReach) {
        if reach.push {
            self.push.push(reach.user_id);
        }
        if let Some(address) = &reach.email {
            self.email.push((reach.user_id, address.clone()));
        }
        if let Some(mobile) = &reach.text {
            self.text.push((reach.user_id, mobile.clone()));
        }
    }
}

/// The reach of each of `users` (deduplicated, in order) for `kind` at the practice.
pub async fn reach_of_users(
    state: &App,
    practice_id: Uuid,
    users: &[Uuid],
    kind: NotificationKind,
) -> Result<Vec<(Uuid, Option<UserReach>)>, StoreError> {
    let settings =
        effective_settings_of_users(state.store.as_ref(), practice_id, kind, users).await?;
    let mut reach = Vec::with_capacity(settings.len());
    for (user_id, setting) in settings {
        if !setting.enabled || !(setting.push || setting.email || setting.text) {
            reach.push((user_id, None));
            continue;
        }
        let user = state.store.get_user(user_id).await?;
        if user.locked_at.is_some() {
            reach.push((user_id, None));
            continue;
        }
        reach.push((
            user_id,
            Some(UserReach {
                user_id,
                push: setting.push,
                email: (setting.email && !user.email.trim().is_empty()).then_some(user.email),
                text: user.mobile_phone.filter(|_| setting.text),
            }),
        ));
    }
    Ok(reach)
}

/// Splits `users` by their effective setting of `kind` for the practice. Locked users get
/// nothing.
pub async fn audience(
    state: &App,
    practice_id: Uuid,
    users: &[Uuid],
    kind: NotificationKind,
) -> Result<Audience, StoreError> {
    let mut audience = Audience::default();
    for (_, reach) in reach_of_users(state, practice_id, users, kind).await? {
        if let Some(reach) = reach {
            audience.add_reach(&reach);
        }
    }
    Ok(audience)
}

/// What a notification is about.
#[derive(Debug, Clone, Copy)]
pub struct Notice<'a> {
    pub practice: &'a Practice,
    pub patient_id: Option<Uuid>,
    pub kind: NotificationKind,
    /// One sentence without a body, a value or a name.
    pub summary: &'a str,
}

/// One notification per user reached by feed or email: in the feed when they have push on, with
/// an email when they have email on.
pub fn notifications(audience: &Audience, notice: Notice<'_>) -> Vec<NewNotification> {
    let mut users: Vec<Uuid> = audience.push.clone();
    for (user, _) in &audience.email {
        if !users.contains(user) {
            users.push(*user);
        }
    }
    users
        .into_iter()
        .map(|user_id| NewNotification {
            user_id,
            practice_id: notice.practice.id,
            patient_id: notice.patient_id,
            kind: notice.kind.as_str().to_string(),
            summary: notice.summary.to_string(),
            in_feed: audience.push.contains(&user_id),
            email: audience
                .email
                .iter()
                .find(|(u, _)| *u == user_id)
                .map(|(_, address)| email(notice, address)),
        })
        .collect()
}

/// The email of a notice: what kind of thing, at which practice, and where to look.
pub fn email(notice: Notice<'_>, to_address: &str) -> NotificationEmail {
    let title = title(notice.kind);
    NotificationEmail {
        to_address: to_address.to_string(),
        subject: format!("{}: {title}", notice.practice.name),
        body: format!(
            "{summary}\r\n\r\nSign in to the gateway to see it. For privacy, this email carries no \
             patient details.\r\n\r\nYou get this email because email is on for \"{title}\" \
             notifications of {practice} in your notification settings.\r\n",
            summary = notice.summary,
            practice = notice.practice.name,
        ),
    }
}

/// A kind as people read it.
pub fn title(kind: NotificationKind) -> &'static str {
    match kind {
        NotificationKind::NewPatientMessage => "New patient message",
        NotificationKind::UnreadMessageReminder => "Unread message reminder",
        NotificationKind::TwoWayTexting => "Two-way texting status",
        NotificationKind::ReadingCaution => "Reading caution",
        NotificationKind::ReadingCritical => "Critical reading",
        NotificationKind::OverdueReadings => "Overdue readings",
    }
}

/// The text staff get for a notice: the practice's template when the kind has one, else one
/// plain sentence naming the practice and the kind.
pub fn text_body(practice: &Practice, templates: &TemplateSet, kind: NotificationKind) -> String {
    let template = match kind {
        NotificationKind::NewPatientMessage => Some(TemplateName::NewPatientMessage),
        _ => None,
    };
    if let Some(name) = template {
        let vars = Vars::new()
            .with(Placeholder::PracticeName, practice.name.clone())
            .with(Placeholder::PracticePhone, practice.sms_number.clone());
        return templates
            .render(name, &vars)
            .or_else(|_| TemplateSet::defaults().render(name, &vars))
            .unwrap_or_else(|_| name.default_text().to_string());
    }
    let what = match kind {
        NotificationKind::UnreadMessageReminder => {
            "a patient message has been waiting unread for a day"
        }
        NotificationKind::TwoWayTexting => "a patient's texting status changed",
        NotificationKind::ReadingCaution => "a patient reading needs a look when you can",
        NotificationKind::ReadingCritical => "a patient reading needs urgent review",
        NotificationKind::OverdueReadings => "a patient's readings are overdue",
        NotificationKind::NewPatientMessage => "a patient sent a new message",
    };
    format!("{}: {what}. Sign in to see it.", practice.name)
}

/// Texts of `body` to each number, from the practice's number, at `priority`.
pub fn texts(
    to: &[(Uuid, String)],
    practice: &Practice,
    body: &str,
    priority: i16,
) -> Vec<NewOutbound> {
    to.iter()
        .map(|(_, mobile)| NewOutbound {
            practice_id: Some(practice.id),
            patient_id: None,
            from_number: practice.sms_number.clone(),
            to_number: mobile.clone(),
            body: body.to_string(),
            priority,
            record_message: false,
            author_user_id: None,
        })
        .collect()
}
