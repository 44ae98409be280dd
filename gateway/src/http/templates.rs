//! Message templates of a practice: every template with its current text (the practice's own or
//! the default), and saving a practice's own text after validation (unknown placeholders and an
//! opt-in request without STOP are refused), reporting the SMS segments it will take.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use templates::{TemplateName, TemplateSet};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use crate::services::templates as templates_service;

#[derive(Serialize, ToSchema)]
pub struct TemplateView {
    pub name: String,
    pub text: String,
    /// False when the practice saved its own text.
    pub is_default: bool,
    pub placeholders: Vec<String>,
    /// `gsm7` or `ucs2`, for the text filled with sample values.
    pub encoding: String,
    pub segments: usize,
}

#[derive(Serialize, ToSchema)]
pub struct TemplateList {
    pub items: Vec<TemplateView>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    /// The new text; an empty text returns to the default.
    pub text: String,
}

fn view(set: &TemplateSet, name: TemplateName) -> TemplateView {
    let text = set.text_for(name).to_string();
    let (encoding, segments) = match templates::validate(name, &text) {
        Ok(v) => (v.segments.encoding, v.segments.segments),
        Err(_) => {
            let count = templates::segments(&text);
            (count.encoding, count.segments)
        }
    };
    TemplateView {
        name: name.as_str().to_string(),
        is_default: !set.is_overridden(name),
        placeholders: name.placeholders().iter().map(|p| p.to_string()).collect(),
        encoding: match encoding {
            templates::Encoding::Gsm7 => "gsm7".into(),
            templates::Encoding::Ucs2 => "ucs2".into(),
        },
        segments,
        text,
    }
}

/// Every template of the practice with its current text.
#[utoipa::path(
    get, path = "/v1/practices/{id}/templates", tag = "templates", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = TemplateList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn list_templates(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<TemplateList>, ApiError> {
    let set = templates_service::list_for(&state, &caller, id).await?;
    Ok(Json(TemplateList {
        items: TemplateName::ALL.iter().map(|n| view(&set, *n)).collect(),
        next_cursor: None,
    }))
}

/// Save the practice's own text for a template (customer admins).
#[utoipa::path(
    put, path = "/v1/practices/{id}/templates/{name}", tag = "templates", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("name" = String, Path, description = "e.g. opt_in_request")),
    request_body = TemplateRequest,
    responses(
        (status = 200, body = TemplateView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn put_template(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath((id, name)): ApiPath<(Uuid, String)>,
    ApiJson(body): ApiJson<TemplateRequest>,
) -> Result<Json<TemplateView>, ApiError> {
    let name = TemplateName::parse(&name).map_err(|_| ApiError::NotFound("template"))?;
    let set = templates_service::save_for(&state, &caller, id, name, &body.text).await?;
    Ok(Json(view(&set, name)))
}
