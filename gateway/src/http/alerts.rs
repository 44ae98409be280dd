//! Alerts of critical readings: list them and acknowledge them. An acknowledgement stops the
//! escalation at once, on every gateway.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use store::Alert;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiPath, ApiQuery};
use super::validate::PageQuery;
use crate::services::alerts;

#[derive(Serialize, ToSchema)]
pub struct AlertView {
    pub id: Uuid,
    pub patient_id: Uuid,
    /// The reading that opened it.
    pub reading_id: Uuid,
    /// Every critical reading of the vital while it was open, the opening one included.
    pub reading_ids: Vec<Uuid>,
    /// The vital it is about.
    #[schema(example = "pulse")]
    pub vital: String,
    /// `open` or `acknowledged`.
    pub state: String,
    pub level: String,
    pub opened_at: DateTime<Utc>,
    pub acknowledged_by: Option<Uuid>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// What an SMS reply "ACK code" acknowledges.
    pub code: String,
    /// Escalation steps taken so far (0: only the opening notification).
    pub step: i32,
    /// The same as `step` (kept for earlier clients).
    pub escalation_step: i32,
}

impl From<Alert> for AlertView {
    fn from(a: Alert) -> AlertView {
        AlertView {
            id: a.id,
            patient_id: a.patient_id,
            reading_id: a.reading_id,
            reading_ids: a.reading_ids,
            vital: a.vital,
            state: a.state.to_string(),
            level: a.level,
            opened_at: a.opened_at,
            acknowledged_by: a.acknowledged_by,
            acknowledged_at: a.acknowledged_at,
            code: a.code,
            step: a.step,
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

/// Alerts of the caller's practices that the caller may see (patients whose every program is
/// restricted for the caller are left out), newest first.
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
    let page = PageQuery {
        cursor: query.cursor,
        limit: query.limit,
    }
    .page()?;
    let alert_state = alerts::state_filter(query.state.as_deref())?;
    let found = alerts::list_for(&state, &caller, alert_state, page).await?;
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
    let acked = alerts::acknowledge_for(&state, &caller, id).await?;
    Ok(Json(acked.into()))
}
