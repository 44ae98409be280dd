//! Practices: created by super admins under a customer; settings changed by the customer's
//! admins; staff see only the practices they belong to.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use store::{NewPractice, PracticePatch};

use crate::services::access::visible_practice;
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::validate::{self, PageQuery};
use super::views::{PracticeList, PracticeView, UserIds};
use crate::services::practices;

/// Longest practice name: it is rendered into patient texts.
const MAX_NAME: usize = 80;

/// Longest escalation delay: an unacknowledged critical alert must move on within the hour.
const MAX_ESCALATION_DELAY_MINUTES: i64 = 60;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPracticeRequest {
    pub name: String,
    /// IANA time zone, e.g. `America/New_York`.
    pub timezone: String,
    /// The number patients text (E.164; US numbers may omit +1).
    pub sms_number: String,
    /// A practice group of the customer: the practice joins it and receives the group's default
    /// users instead of the customer's.
    pub practice_group_id: Option<Uuid>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PracticePatchRequest {
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub sms_number: Option<String>,
    /// Minutes before an unacknowledged critical alert escalates (1 to 60).
    pub escalation_delay_minutes: Option<i64>,
    /// Off: staff cannot start texting, resend the opt-in text or text patients (409
    /// `texting_disabled`).
    pub texting_enabled: Option<bool>,
    /// Off: patients cannot be enrolled in the portal or post there (409 `portal_disabled`).
    pub portal_enabled: Option<bool>,
    /// Moves the practice into a group of its customer (whose default users join it), or out of
    /// its group with `null`.
    #[serde(default, deserialize_with = "validate::nullable")]
    #[schema(value_type = Option<Uuid>, nullable)]
    pub practice_group_id: Option<Option<Uuid>>,
}

/// Create a practice (super admins only); the customer's default users join it, or with
/// `practice_group_id` the group's default users (the customer's when the group has none).
#[utoipa::path(
    post, path = "/v1/customers/{id}/practices", tag = "practices", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = NewPracticeRequest,
    responses(
        (status = 201, body = PracticeView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn create_practice(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(customer_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<NewPracticeRequest>,
) -> Result<(StatusCode, Json<PracticeView>), ApiError> {
    let new = NewPractice {
        customer_id,
        name: validate::text("name", &body.name, MAX_NAME)?,
        timezone: validate::timezone("timezone", &body.timezone)?,
        sms_number: validate::phone("sms_number", &body.sms_number)?,
        practice_group_id: body.practice_group_id,
    };
    let practice = practices::create(&state, &caller, new).await?;
    Ok((StatusCode::CREATED, Json(practice.into())))
}

/// The customer's practices the caller may see.
#[utoipa::path(
    get, path = "/v1/customers/{id}/practices", tag = "practices", security(("bearer" = [])),
    params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, body = PracticeList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn list_practices(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(customer_id): ApiPath<Uuid>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<PracticeList>, ApiError> {
    let page = practices::list_for(&state, &caller, customer_id, query.page()?).await?;
    let next_cursor = page.next_cursor.map(|c| c.to_string());
    let items = page.items.into_iter().map(PracticeView::from).collect();
    Ok(Json(PracticeList { items, next_cursor }))
}

/// Read a practice.
#[utoipa::path(
    get, path = "/v1/practices/{id}", tag = "practices", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PracticeView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_practice(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<PracticeView>, ApiError> {
    Ok(Json(visible_practice(&state, &caller, id).await?.into()))
}

/// Change a practice's name, time zone, number, escalation delay, texting and portal switches,
/// or group (customer admins).
#[utoipa::path(
    patch, path = "/v1/practices/{id}", tag = "practices", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PracticePatchRequest,
    responses(
        (status = 200, body = PracticeView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`sms_number_taken`: another practice uses the number", body = ErrorBody),
        (status = 422, description = "a field is invalid; `practice_group_id` not a group of the practice's customer", body = ErrorBody),
    )
)]
pub async fn update_practice(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PracticePatchRequest>,
) -> Result<Json<PracticeView>, ApiError> {
    let patch = PracticePatch {
        name: body
            .name
            .as_deref()
            .map(|v| validate::text("name", v, MAX_NAME))
            .transpose()?,
        timezone: body
            .timezone
            .as_deref()
            .map(|v| validate::timezone("timezone", v))
            .transpose()?,
        sms_number: body
            .sms_number
            .as_deref()
            .map(|v| validate::phone("sms_number", v))
            .transpose()?,
        escalation_delay_minutes: body
            .escalation_delay_minutes
            .map(|v| {
                validate::range(
                    "escalation_delay_minutes",
                    v,
                    1,
                    MAX_ESCALATION_DELAY_MINUTES,
                )
            })
            .transpose()?,
        texting_enabled: body.texting_enabled,
        portal_enabled: body.portal_enabled,
        practice_group_id: body.practice_group_id,
    };
    Ok(Json(
        practices::update(&state, &caller, id, patch).await?.into(),
    ))
}

/// `{user_ids, reassign_to?}`: the practice's users, and who takes over on-call duty here of
/// users who leave.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PracticeUsersRequest {
    pub user_ids: Vec<Uuid>,
    /// Who takes over the on-call windows and running overrides at this practice of staff who
    /// leave it (they could no longer act on its alerts). Needed only when someone leaving is on
    /// call here; must be able to act here afterwards (a user of the practice's customer,
    /// unlocked, who sees the practice and has a mobile number).
    pub reassign_to: Option<Uuid>,
}

/// Replace the practice's users (customer admins). Staff leaving the practice who are on call
/// here hand their windows and running overrides to `reassign_to`, in the same transaction.
#[utoipa::path(
    put, path = "/v1/practices/{id}/users", tag = "practices", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PracticeUsersRequest,
    responses(
        (status = 200, body = UserIds), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`outstanding_items`: a user leaving is on call here and no reassign_to was sent; nothing changed", body = ErrorBody),
        (status = 422, description = "a user is not of this customer, or reassign_to cannot be on call here", body = ErrorBody),
    )
)]
pub async fn set_practice_users(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PracticeUsersRequest>,
) -> Result<Json<UserIds>, ApiError> {
    let user_ids =
        practices::set_users(&state, &caller, id, body.user_ids, body.reassign_to).await?;
    Ok(Json(UserIds { user_ids }))
}
