//! Report disclaimers of a practice: the texts printed on its care plan and HRA reports.
//!
//! Readable by whoever can see the practice; replaced by its customer's admins and super admins.
//! Texts are kept exactly as sent (they appear on reports as typed), up to
//! [`MAX_DISCLAIMER_CHARS`] characters each. They are never logged.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use store::PracticeDisclaimers;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use crate::services::disclaimers;

/// The longest disclaimer accepted, in characters (not bytes).
pub const MAX_DISCLAIMER_CHARS: usize = 4000;

#[derive(Debug, Serialize, ToSchema)]
pub struct DisclaimersView {
    /// Printed on care plan reports; empty when none.
    pub care_plan_report: String,
    /// Printed on HRA reports; empty when none.
    pub hra_report: String,
    /// When they were last saved; null when never.
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<PracticeDisclaimers> for DisclaimersView {
    fn from(d: PracticeDisclaimers) -> Self {
        DisclaimersView {
            care_plan_report: d.care_plan_report,
            hra_report: d.hra_report,
            updated_at: d.updated_at,
        }
    }
}

/// Both disclaimers; an empty string removes one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisclaimersInput {
    #[schema(max_length = 4000)]
    pub care_plan_report: String,
    #[schema(max_length = 4000)]
    pub hra_report: String,
}

fn check_length(field: &str, text: &str) -> Result<(), ApiError> {
    let length = text.chars().count();
    if length > MAX_DISCLAIMER_CHARS {
        return Err(ApiError::invalid(
            field,
            format!("must be at most {MAX_DISCLAIMER_CHARS} characters long (it has {length})"),
        ));
    }
    Ok(())
}

/// The practice's report disclaimers.
#[utoipa::path(
    get,
    path = "/v1/practices/{id}/disclaimers",
    tag = "practices",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the practice")),
    responses(
        (status = 200, body = DisclaimersView),
        (status = 400, description = "the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "no such practice (or not the caller's to see)", body = ErrorBody),
    )
)]
pub async fn get_disclaimers(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(practice_id): ApiPath<Uuid>,
) -> Result<Json<DisclaimersView>, ApiError> {
    let disclaimers = disclaimers::get_for(&state, &caller, practice_id).await?;
    Ok(Json(disclaimers.into()))
}

/// Replace the practice's report disclaimers.
#[utoipa::path(
    put,
    path = "/v1/practices/{id}/disclaimers",
    tag = "practices",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the practice")),
    request_body = DisclaimersInput,
    responses(
        (status = 200, body = DisclaimersView),
        (status = 400, description = "the body is not JSON, or the id is not a UUID", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "not an administrator of the practice's customer", body = ErrorBody),
        (status = 404, description = "no such practice (or not the caller's to see)", body = ErrorBody),
        (status = 422, description = "a disclaimer is missing or longer than 4000 characters; the message names it", body = ErrorBody),
    )
)]
pub async fn put_disclaimers(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(practice_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<DisclaimersInput>,
) -> Result<Json<DisclaimersView>, ApiError> {
    check_length("care_plan_report", &body.care_plan_report)?;
    check_length("hra_report", &body.hra_report)?;
    let saved = disclaimers::replace_for(
        &state,
        &caller,
        practice_id,
        body.care_plan_report,
        body.hra_report,
    )
    .await?;
    Ok(Json(saved.into()))
}
