//! Customers: created by super admins; read by their own users; default users set by their
//! admins (they join every practice created afterwards).

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
use super::views::{CustomerView, UserIds};
use crate::services::customers;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomerRequest {
    pub name: String,
}

/// Create a customer (super admins only).
#[utoipa::path(
    post, path = "/v1/customers", tag = "customers", security(("bearer" = [])),
    request_body = NewCustomerRequest,
    responses(
        (status = 201, body = CustomerView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn create_customer(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiJson(body): ApiJson<NewCustomerRequest>,
) -> Result<(StatusCode, Json<CustomerView>), ApiError> {
    let customer = customers::create(&state, &caller, &body.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(CustomerView::new(customer, Vec::new())),
    ))
}

/// Read a customer.
#[utoipa::path(
    get, path = "/v1/customers/{id}", tag = "customers", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CustomerView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_customer(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<CustomerView>, ApiError> {
    let (customer, defaults) = customers::get_for(&state, &caller, id).await?;
    Ok(Json(CustomerView::new(customer, defaults)))
}

/// Replace the customer's default users; they join every practice created afterwards and are
/// the fallback users of practices outside a group.
#[utoipa::path(
    put, path = "/v1/customers/{id}/default-users", tag = "customers", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = UserIds,
    responses(
        (status = 200, body = UserIds), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn set_default_users(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UserIds>,
) -> Result<Json<UserIds>, ApiError> {
    let user_ids = customers::set_default_users(&state, &caller, id, body.user_ids).await?;
    Ok(Json(UserIds { user_ids }))
}
