//! The patient portal: staff enrol a patient (the answer carries a portal token, shown once),
//! and with that token the patient reads their own conversation and writes into it ("Chat With
//! My Care Team"). A portal token opens exactly one patient's conversation and nothing else.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use store::{Audit, Patient};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::auth::{CurrentUser, client_addr};
use super::conversations::{MessageList, MessageView, message_body};
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::services::portal as portal_service;

#[derive(Serialize, ToSchema)]
pub struct PortalEnrollment {
    /// Give this to the patient; it is shown only once and replaces any earlier token.
    pub portal_token: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalMessageRequest {
    pub body: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PortalQuery {
    pub before: Option<Uuid>,
    pub limit: Option<u32>,
}

/// The patient whose portal token this request carries.
pub struct PortalPatient {
    pub patient: Patient,
    pub audit: Audit,
}

impl FromRequestParts<AppState> for PortalPatient {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let patient = portal_service::patient_of(state, presented).await?;
        let audit = Audit {
            user_id: None,
            client_addr: client_addr(parts).map(|a| a.to_string()),
            at: state.clock.now(),
        };
        Ok(PortalPatient { patient, audit })
    }
}

/// Enrol the patient in the portal; earlier portal tokens stop working.
#[utoipa::path(
    post, path = "/v1/patients/{id}/portal/enroll", tag = "portal", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 201, body = PortalEnrollment), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`portal_disabled`: the practice has the portal turned off", body = ErrorBody),
    )
)]
pub async fn enroll(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<PortalEnrollment>), ApiError> {
    let portal_token = portal_service::enroll_for(&state, &caller, id).await?;
    Ok((StatusCode::CREATED, Json(PortalEnrollment { portal_token })))
}

/// The patient's own conversation, newest first (portal token).
#[utoipa::path(
    get, path = "/v1/portal/messages", tag = "portal", security(("bearer" = [])),
    params(PortalQuery),
    responses((status = 200, body = MessageList), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn list(
    State(state): State<AppState>,
    portal: PortalPatient,
    ApiQuery(query): ApiQuery<PortalQuery>,
) -> Result<Json<MessageList>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    let page =
        portal_service::thread(&state, &portal.patient, &portal.audit, query.before, limit).await?;
    Ok(Json(MessageList {
        next_cursor: page.next_cursor.map(|c| c.to_string()),
        items: page.items.into_iter().map(MessageView::from).collect(),
    }))
}

/// Write to the care team (portal token).
#[utoipa::path(
    post, path = "/v1/portal/messages", tag = "portal", security(("bearer" = [])),
    request_body = PortalMessageRequest,
    responses(
        (status = 201, body = MessageView), (status = 401, body = ErrorBody),
        (status = 409, description = "`portal_disabled`: the practice has the portal turned off", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn post(
    State(state): State<AppState>,
    portal: PortalPatient,
    ApiJson(body): ApiJson<PortalMessageRequest>,
) -> Result<(StatusCode, Json<MessageView>), ApiError> {
    let text = message_body("body", &body.body)?;
    let message = portal_service::post(&state, &portal.patient, &portal.audit, &text).await?;
    Ok((StatusCode::CREATED, Json(message.into())))
}
