//! Alerts of critical readings: list them and acknowledge them. An acknowledgement stops the
//! escalation at once, on every gateway.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use store::{Alert, Role, StoreError};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiPath, ApiQuery};
use super::patients::visible_patient;
use super::validate::PageQuery;

#[derive(Serialize, ToSchema)]
pub struct AlertView {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub reading_id: Uuid,
    /// `open` or `acknowledged`.
    pub state: String,
    pub level: String,
    pub opened_at: DateTime<Utc>,
    pub acknowledged_by: Option<Uuid>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// What an SMS reply "ACK code" acknowledges.
    pub code: String,
    /// Escalation steps taken so far (0: only the opening notification).
    pub escalation_step: i32,
}

impl From<Alert> for AlertView {
    fn from(a: Alert) -> AlertView {
        AlertView {
            id: a.id,
            patient_id: a.patient_id,
            reading_id: a.reading_id,
            state: a.state,
            level: a.level,
            opened_at: a.opened_at,
            acknowledged_by: a.acknowledged_by,
            acknowledged_at: a.acknowledged_at,
            code: a.code,
            escalation_step: a.step,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AlertList {
    pub items: Vec<AlertView>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// `open` or `acknowledged`.
    pub state: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// Alerts of the caller's practices, newest first.
#[utoipa::path(
    get, path = "/v1/alerts", tag = "alerts", security(("bearer" = [])),
    params(AlertQuery),
    responses((status = 200, body = AlertList), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn list_alerts(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<AlertQuery>,
) -> Result<Json<AlertList>, ApiError> {
    if let Some(s) = query.state.as_deref()
        && s != "open"
        && s != "acknowledged"
    {
        return Err(ApiError::invalid("state", "must be open or acknowledged"));
    }
    let page = PageQuery {
        cursor: query.cursor,
        limit: query.limit,
    }
    .page()?;
    let practice_ids = match caller.role() {
        Role::Staff => caller.user.practice_ids.clone(),
        Role::CustomerAdmin => {
            let customer_id = caller
                .user
                .customer_id
                .ok_or(ApiError::NotFound("customer"))?;
            super::patients::all_practice_ids(&state, customer_id).await?
        }
        Role::SuperAdmin => {
            return Err(ApiError::Forbidden(
                "super admins see alerts through a practice's admins".into(),
            ));
        }
    };
    let found = state
        .store
        .list_alerts(practice_ids, query.state, page)
        .await?;
    Ok(Json(AlertList {
        next_cursor: found.next_cursor.map(|c| c.to_string()),
        items: found.items.into_iter().map(Into::into).collect(),
    }))
}

/// Acknowledge an alert; its escalation stops. Acknowledging again changes nothing.
#[utoipa::path(
    post, path = "/v1/alerts/{id}/ack", tag = "alerts", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = AlertView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn acknowledge(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<AlertView>, ApiError> {
    let alert = match state.store.get_alert(id).await {
        Ok(alert) => alert,
        Err(StoreError::NotFound) => return Err(ApiError::NotFound("alert")),
        Err(e) => return Err(e.into()),
    };
    visible_patient(&state, &caller, alert.patient_id)
        .await
        .map_err(|_| ApiError::NotFound("alert"))?;
    let acked =
        crate::services::alerts::acknowledge(&state, &caller.audit(), &alert, caller.id()).await?;
    Ok(Json(acked.into()))
}
