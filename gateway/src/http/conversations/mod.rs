//! Conversations: the caller's list with unread marks, a patient's thread, staff messages on the
//! patient's enabled channel, read marks (per user), the care team and program staff (seed 003),
//! notification subscriptions and the care-team panel. Every thread read is audited by the store.

mod shapes;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::services::care_team;
use crate::services::conversations::{self, Channel, Sent};
pub use shapes::*;

/// The caller's care-team and subscribed patients, newest activity first, with unread marks.
#[utoipa::path(
    get, path = "/v1/conversations", tag = "conversations", security(("bearer" = [])),
    params(ConversationQuery),
    responses((status = 200, body = ConversationList), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn list_conversations(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<ConversationQuery>,
) -> Result<Json<ConversationList>, ApiError> {
    let limit = limit(query.limit, 50)?;
    if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let items = conversations::search_for(&state, &caller, q, limit).await?;
        return Ok(Json(ConversationList {
            items: items.into_iter().map(ConversationView::from).collect(),
            next_cursor: None,
        }));
    }
    let offset = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => c
            .parse::<u32>()
            .map_err(|_| ApiError::invalid("cursor", "is not a cursor this API returned"))?,
        None => 0,
    };
    let page = conversations::list_for(&state, &caller, limit, offset).await?;
    Ok(Json(ConversationList {
        items: page.items.into_iter().map(ConversationView::from).collect(),
        next_cursor: page.next_offset.map(|o| o.to_string()),
    }))
}

impl From<store::ConversationItem> for ConversationView {
    fn from(i: store::ConversationItem) -> ConversationView {
        ConversationView {
            patient_id: i.patient_id,
            patient_name: i.patient_name,
            last_message_at: i.last_message_at,
            unread: i.unread,
        }
    }
}

/// The patient's conversation, newest first.
#[utoipa::path(
    get, path = "/v1/patients/{id}/messages", tag = "conversations", security(("bearer" = [])),
    params(("id" = Uuid, Path), ThreadQuery),
    responses((status = 200, body = MessageList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn list_messages(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<ThreadQuery>,
) -> Result<Json<MessageList>, ApiError> {
    let page =
        conversations::thread_for(&state, &caller, id, query.before, limit(query.limit, 50)?)
            .await?;
    Ok(Json(MessageList {
        next_cursor: page.next_cursor.map(|c| c.to_string()),
        items: page.items.into_iter().map(Into::into).collect(),
    }))
}

/// Send a message to the patient: by SMS when texting is enabled, by the portal when enrolled;
/// 409 when neither. A retry with the same `Idempotency-Key` returns the first answer.
#[utoipa::path(
    post, path = "/v1/patients/{id}/messages", tag = "conversations", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header, description = "makes a retried send a no-op")),
    request_body = NewMessageRequest,
    responses(
        (status = 201, body = MessageView), (status = 200, description = "a replayed send", body = MessageView),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`no_enabled_channel`: the patient cannot be reached on the channel asked for or any; `texting_disabled` / `portal_disabled`: the practice has that channel turned off", body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn send_message(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewMessageRequest>,
) -> Result<(StatusCode, Json<MessageView>), ApiError> {
    let text = message_body("body", &body.body)?;
    let channel = body
        .channel
        .as_deref()
        .map(Channel::parse)
        .transpose()
        .map_err(|_| ApiError::invalid("channel", "must be sms or portal"))?;
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => Some(idempotency_key(value.to_str().ok())?),
    };
    let outcome = conversations::send_for(&state, &caller, id, text, channel, key).await?;
    Ok(match outcome {
        Sent::Created(message) => (StatusCode::CREATED, Json((*message).into())),
        Sent::Replayed(message) => (StatusCode::OK, Json((*message).into())),
    })
}

/// An `Idempotency-Key`: 1 to 255 visible characters.
pub fn idempotency_key(value: Option<&str>) -> Result<String, ApiError> {
    value
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .map(str::to_string)
        .ok_or_else(|| ApiError::invalid("Idempotency-Key", "must be 1 to 255 visible characters"))
}

/// Mark the conversation read for the caller only.
#[utoipa::path(
    post, path = "/v1/patients/{id}/messages/read", tag = "conversations", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "marked read"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn mark_read(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    conversations::mark_read_for(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Put a user on the patient's care team and, unless `programs` is `none`, on every program
/// enrolment of the patient (seed 003).
#[utoipa::path(
    post, path = "/v1/patients/{id}/care-team", tag = "care team", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = CareTeamRequest,
    responses((status = 204, description = "on the care team (and the programs asked for)"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn add_care_team(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<CareTeamRequest>,
) -> Result<StatusCode, ApiError> {
    let programs = match body.programs {
        None | Some(ProgramsChoice::All) => care_team::Programs::All,
        Some(ProgramsChoice::None) => care_team::Programs::None,
    };
    care_team::add_for(&state, &caller, id, body.user_id, programs).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Take a user off the care team, and so off every program enrolment of the patient.
#[utoipa::path(
    delete, path = "/v1/patients/{id}/care-team/{user_id}", tag = "care team", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204, description = "removed"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn remove_care_team(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath((id, user_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    care_team::remove_for(&state, &caller, id, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Assign a user to one of the patient's program enrolments (which puts them on the care team).
#[utoipa::path(
    post, path = "/v1/patients/{id}/programs/{program}/staff", tag = "care team", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("program" = String, Path)), request_body = UserRequest,
    responses((status = 204, description = "assigned"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn add_program_staff(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath((id, program)): ApiPath<(Uuid, String)>,
    ApiJson(body): ApiJson<UserRequest>,
) -> Result<StatusCode, ApiError> {
    care_team::add_program_staff_for(&state, &caller, id, &program, body.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a user from one program enrolment; the care team stays as it is.
#[utoipa::path(
    delete, path = "/v1/patients/{id}/programs/{program}/staff/{user_id}", tag = "care team", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("program" = String, Path), ("user_id" = Uuid, Path)),
    responses((status = 204, description = "removed"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn remove_program_staff(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath((id, program, user_id)): ApiPath<(Uuid, String, Uuid)>,
) -> Result<StatusCode, ApiError> {
    care_team::remove_program_staff_for(&state, &caller, id, &program, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Everyone who works on or follows the patient, and whether a new message notifies them now.
#[utoipa::path(
    get, path = "/v1/patients/{id}/care-team-panel", tag = "care team", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Panel), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn care_team_panel(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Panel>, ApiError> {
    let items = conversations::panel_for(&state, &caller, id)
        .await?
        .into_iter()
        .map(|entry| PanelMember {
            user_id: entry.user.id,
            name: format!("{} {}", entry.user.first_name, entry.user.last_name)
                .trim()
                .to_string(),
            title: entry.user.title,
            on_care_team: entry.on_care_team,
            programs: entry.programs,
            subscribed: entry.subscribed,
            notified_now: !entry.channels_now.is_empty(),
            channels_now: entry.channels_now.iter().map(|c| c.to_string()).collect(),
        })
        .collect();
    Ok(Json(Panel {
        items,
        next_cursor: None,
    }))
}

/// Follow the patient as a notification user (for users not on the care team).
#[utoipa::path(
    put, path = "/v1/patients/{id}/notification-subscription", tag = "care team", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "subscribed"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn subscribe(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    care_team::follow(&state, &caller, id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stop following the patient.
#[utoipa::path(
    delete, path = "/v1/patients/{id}/notification-subscription", tag = "care team", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "unsubscribed"), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn unsubscribe(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    care_team::follow(&state, &caller, id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A message body: trimmed, not empty, at most 1600 characters (line breaks are fine), no NUL
/// (`types::MessageBody`).
pub fn message_body(field: &str, value: &str) -> Result<String, ApiError> {
    types::MessageBody::parse(value)
        .map(types::MessageBody::into_string)
        .map_err(|why| ApiError::invalid(field, why.to_string()))
}
