//! The request and answer shapes of the conversation, message and care-team routes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use store::Message;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::super::error::ApiError;

#[derive(Serialize, ToSchema)]
pub struct MessageView {
    pub id: Uuid,
    pub patient_id: Option<Uuid>,
    /// `sms` or `portal`.
    pub channel: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// `null` when withheld (a text sent while verifying may hold a date of birth).
    pub body: Option<String>,
    pub redacted: bool,
    /// The staff member who wrote it; `null` for the patient and for automatic texts.
    pub author_user_id: Option<Uuid>,
    /// `queued`, `sent`, `delivered`, `failed`, `cancelled`, … (the carrier's status once known).
    pub status: String,
    /// Why it has its status where the status alone does not say: `opted_out` for a text
    /// cancelled because the patient opted out before it went.
    pub status_reason: Option<String>,
    /// For staff attention, e.g. `possible_opt_out`.
    pub flag: Option<String>,
    /// `true` on an outbound text that was sent again because the gateway stopped while sending
    /// it (its claim was lost, e.g. a crash or `kill -9`): the patient may have received it
    /// twice. Always `false` on inbound and portal messages.
    pub recovered: bool,
    pub created_at: DateTime<Utc>,
}

impl From<Message> for MessageView {
    fn from(m: Message) -> MessageView {
        MessageView {
            id: m.id,
            patient_id: m.patient_id,
            channel: m.channel.to_string(),
            direction: m.direction.to_string(),
            body: m.body,
            redacted: m.redacted,
            author_user_id: m.author_user_id,
            status: m.status.to_string(),
            status_reason: m.status_reason,
            flag: m.flag,
            recovered: m.recovered,
            created_at: m.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MessageList {
    pub items: Vec<MessageView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationView {
    pub patient_id: Uuid,
    pub patient_name: String,
    pub last_message_at: Option<DateTime<Utc>>,
    pub unread: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationList {
    pub items: Vec<ConversationView>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConversationQuery {
    /// Find other patients the caller may see by the start of their name (not only the caller's
    /// own list).
    pub q: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ThreadQuery {
    /// Messages older than this message id (the `next_cursor` of the previous page).
    pub before: Option<Uuid>,
    pub limit: Option<u32>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessageRequest {
    pub body: String,
    /// `sms` or `portal`; by default SMS when texting is enabled, else the portal.
    pub channel: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRequest {
    pub user_id: Uuid,
}

/// Which program enrolments a user put on the care team is assigned to.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum ProgramsChoice {
    /// Every program the patient is enrolled in (the default).
    All,
    /// None: the care team only.
    None,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CareTeamRequest {
    pub user_id: Uuid,
    /// `all` (default): also every program enrolment of the patient; `none`: the care team only.
    pub programs: Option<ProgramsChoice>,
}

#[derive(Serialize, ToSchema)]
pub struct PanelMember {
    pub user_id: Uuid,
    pub name: String,
    pub title: String,
    pub on_care_team: bool,
    /// Program enrolments the user is assigned to.
    pub programs: Vec<String>,
    pub subscribed: bool,
    /// Whether a new message from the patient would notify this user now, on any channel.
    pub notified_now: bool,
    /// The channels (`push`, `email`, `text`) on which a new message from the patient would
    /// notify this user now.
    pub channels_now: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Panel {
    pub items: Vec<PanelMember>,
    pub next_cursor: Option<String>,
}

pub(super) fn limit(value: Option<u32>, default: u32) -> Result<u32, ApiError> {
    let limit = value.unwrap_or(default);
    if (1..=store::Page::MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::invalid("limit", "must be between 1 and 200"))
    }
}
