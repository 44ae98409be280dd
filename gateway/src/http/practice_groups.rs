//! Practice groups: once a customer has 10 or more practices its admins may group them. A
//! practice is in at most one group, and a group's default users replace the customer's for the
//! practices in it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::views::{PracticeGroupList, PracticeGroupView};
use crate::services::practice_groups;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PracticeGroupRequest {
    pub name: String,
    #[serde(default)]
    pub default_user_ids: Vec<Uuid>,
    #[serde(default)]
    pub practice_ids: Vec<Uuid>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PracticeGroupPatchRequest {
    pub name: Option<String>,
    pub default_user_ids: Option<Vec<Uuid>>,
    pub practice_ids: Option<Vec<Uuid>>,
}

/// The customer's practice groups.
#[utoipa::path(
    get, path = "/v1/customers/{id}/practice-groups", tag = "practice groups", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PracticeGroupList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn list_groups(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(customer_id): ApiPath<Uuid>,
) -> Result<Json<PracticeGroupList>, ApiError> {
    let items = practice_groups::list_for(&state, &caller, customer_id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(PracticeGroupList {
        items,
        next_cursor: None,
    }))
}

/// Create a group (customer admins; 409 while the customer has fewer than 10 practices).
#[utoipa::path(
    post, path = "/v1/customers/{id}/practice-groups", tag = "practice groups", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PracticeGroupRequest,
    responses(
        (status = 201, body = PracticeGroupView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn create_group(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(customer_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PracticeGroupRequest>,
) -> Result<(StatusCode, Json<PracticeGroupView>), ApiError> {
    let group = practice_groups::create(
        &state,
        &caller,
        customer_id,
        &body.name,
        body.default_user_ids,
        body.practice_ids,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(group.into())))
}

/// Rename a group or replace its default users or practices (customer admins).
#[utoipa::path(
    patch, path = "/v1/practice-groups/{id}", tag = "practice groups", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PracticeGroupPatchRequest,
    responses(
        (status = 200, body = PracticeGroupView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn update_group(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PracticeGroupPatchRequest>,
) -> Result<Json<PracticeGroupView>, ApiError> {
    let group = practice_groups::update(
        &state,
        &caller,
        id,
        body.name.as_deref(),
        body.default_user_ids,
        body.practice_ids,
    )
    .await?;
    Ok(Json(group.into()))
}

/// Remove a group; its practices fall back to the customer's default users.
#[utoipa::path(
    delete, path = "/v1/practice-groups/{id}", tag = "practice groups", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses(
        (status = 204, description = "removed"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
pub async fn delete_group(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    practice_groups::delete(&state, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
