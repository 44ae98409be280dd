//! Practice groups: once a customer has 10 or more practices its admins may group them. A
//! practice is in at most one group, and a group's default users replace the customer's for the
//! practices in it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use store::{NewPracticeGroup, PracticeGroup, PracticeGroupPatch, StoreError};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::validate;
use super::views::{PracticeGroupList, PracticeGroupView};

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
    caller.require_customer(customer_id)?;
    let items = state
        .store
        .list_practice_groups(customer_id)
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
    caller.require_customer_admin(customer_id)?;
    let new = NewPracticeGroup {
        customer_id,
        name: validate::text("name", &body.name, 120)?,
        default_user_ids: body.default_user_ids,
        practice_ids: body.practice_ids,
    };
    let group = state
        .store
        .create_practice_group(&caller.audit(), new)
        .await
        .map_err(not_found_as_customer)?;
    Ok((StatusCode::CREATED, Json(group.into())))
}

fn not_found_as_customer(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::NotFound("customer"),
        other => other.into(),
    }
}

async fn group_for_admin(
    state: &AppState,
    caller: &CurrentUser,
    id: Uuid,
) -> Result<PracticeGroup, ApiError> {
    let group = match state.store.get_practice_group(id).await {
        Ok(group) => group,
        Err(StoreError::NotFound) => return Err(ApiError::NotFound("practice group")),
        Err(e) => return Err(e.into()),
    };
    if !caller.can_see_customer(group.customer_id) {
        return Err(ApiError::NotFound("practice group"));
    }
    caller.require_customer_admin(group.customer_id)?;
    Ok(group)
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
    group_for_admin(&state, &caller, id).await?;
    let patch = PracticeGroupPatch {
        name: body
            .name
            .as_deref()
            .map(|n| validate::text("name", n, 120))
            .transpose()?,
        default_user_ids: body.default_user_ids,
        practice_ids: body.practice_ids,
    };
    Ok(Json(
        state
            .store
            .update_practice_group(&caller.audit(), id, patch)
            .await?
            .into(),
    ))
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
    group_for_admin(&state, &caller, id).await?;
    state
        .store
        .delete_practice_group(&caller.audit(), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
