//! A patient's texting opt-in: read it, start it (the opt-in text goes out and the patient has 3
//! tries and 14 days to text their date of birth), resend the opt-in text, or opt the patient
//! out on their behalf.

use axum::Json;
use axum::extract::State;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiPath;
use super::patients::TextingView;
use crate::domain::texting::Refusal;
use crate::services::access::visible_patient;
use crate::services::texting::{self, StaffAction, TextingError};

fn view(patient: &store::Patient) -> TextingView {
    TextingView {
        status: patient.texting.status.to_string(),
        attempts_left: patient.texting.attempts_left,
        expires_at: patient.texting.expires_at,
        updated_at: patient.texting.updated_at,
    }
}

impl From<TextingError> for ApiError {
    fn from(error: TextingError) -> ApiError {
        match error {
            TextingError::Refused(Refusal::NoValidMobile) => ApiError::invalid(
                "mobile_phone",
                "the patient needs a valid mobile phone number before texting can start",
            ),
            TextingError::Refused(refusal @ Refusal::InvalidTransition { .. }) => {
                ApiError::Conflict {
                    code: "invalid_texting_transition",
                    message: refusal.to_string(),
                }
            }
            TextingError::Refused(refusal @ Refusal::AlreadyEnabled) => ApiError::Conflict {
                code: "already_enabled",
                message: refusal.to_string(),
            },
            TextingError::Store(e) => e.into(),
        }
    }
}

/// The patient's texting status.
#[utoipa::path(
    get, path = "/v1/patients/{id}/texting", tag = "texting", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = TextingView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_texting(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<TextingView>, ApiError> {
    Ok(Json(view(&visible_patient(&state, &caller, id).await?)))
}

async fn act(
    state: AppState,
    caller: CurrentUser,
    id: Uuid,
    action: StaffAction,
) -> Result<Json<TextingView>, ApiError> {
    let after = texting::act_for(&state, &caller, id, action).await?;
    Ok(Json(view(&after)))
}

/// Start texting: from `not_enabled`, `failed` or `opted_out` to `pending` with 3 fresh attempts
/// and a 14-day window; the opt-in text goes out.
#[utoipa::path(
    post, path = "/v1/patients/{id}/texting/start", tag = "texting", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = TextingView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "already pending or enabled (`invalid_texting_transition`), another texting patient uses the number, or the practice has texting off (`texting_disabled`)", body = ErrorBody),
        (status = 422, description = "no valid mobile phone", body = ErrorBody),
    )
)]
pub async fn start(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<TextingView>, ApiError> {
    act(state, caller, id, StaffAction::Start).await
}

/// Send the opt-in text again: while `pending` nothing else changes; from `failed` verification
/// starts again with fresh attempts and window (as a start does).
#[utoipa::path(
    post, path = "/v1/patients/{id}/texting/resend", tag = "texting", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 200, body = TextingView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`already_enabled` when texting is enabled; `invalid_texting_transition` from not_enabled or opted_out; `texting_disabled` when the practice has texting off", body = ErrorBody),
        (status = 422, description = "no valid mobile phone (restarting from failed)", body = ErrorBody),
    )
)]
pub async fn resend(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<TextingView>, ApiError> {
    act(state, caller, id, StaffAction::Resend).await
}

/// Opt the patient out on their behalf; nothing more is texted to them.
#[utoipa::path(
    post, path = "/v1/patients/{id}/texting/opt-out", tag = "texting", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = TextingView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn opt_out(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<TextingView>, ApiError> {
    act(state, caller, id, StaffAction::OptOut).await
}
