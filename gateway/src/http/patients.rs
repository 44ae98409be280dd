//! Patients: created and changed by the staff of their practice; read and searched by users who
//! may see them. A patient whose every program is restricted for the caller does not exist for
//! the caller (404). Every read is written to the audit log by the store.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use store::{NewPatient, Patient, PatientPatch};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::AppState;
use super::auth::CurrentUser;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::validate::{self, PageQuery};
use crate::services::patients;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPatientRequest {
    pub first_name: String,
    pub last_name: String,
    /// `YYYY-MM-DD`
    #[schema(value_type = String, example = "1958-04-12")]
    pub dob: String,
    /// E.164; US numbers may omit +1. Needed for texting.
    pub mobile_phone: Option<String>,
    #[serde(default)]
    pub programs: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientPatchRequest {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    #[schema(value_type = Option<String>, example = "1958-04-12")]
    pub dob: Option<String>,
    /// A new number ends texting until the patient verifies again; an empty string removes it.
    pub mobile_phone: Option<String>,
    pub programs: Option<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct TextingView {
    /// `not_enabled`, `pending`, `failed`, `opted_out` or `enabled`.
    pub status: String,
    pub attempts_left: i16,
    pub expires_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct PatientView {
    pub id: Uuid,
    pub practice_id: Uuid,
    pub first_name: String,
    pub last_name: String,
    #[schema(value_type = String, example = "1958-04-12")]
    pub dob: NaiveDate,
    pub mobile_phone: Option<String>,
    pub programs: Vec<String>,
    pub texting: TextingView,
    pub created_at: DateTime<Utc>,
    /// How many other patients of the practice have the same mobile phone (a family phone):
    /// texts from it go to whichever of them the number's rules pick (README, Texting opt-in).
    /// Only a count: who they are is not shown. Answered by `GET /v1/patients/{id}` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_shared_with: Option<u32>,
}

impl From<Patient> for PatientView {
    fn from(p: Patient) -> PatientView {
        PatientView {
            id: p.id,
            practice_id: p.practice_id,
            first_name: p.first_name,
            last_name: p.last_name,
            dob: p.dob,
            mobile_phone: p.mobile_phone,
            programs: p.programs,
            texting: TextingView {
                status: p.texting.status.to_string(),
                attempts_left: p.texting.attempts_left,
                expires_at: p.texting.expires_at,
                updated_at: p.texting.updated_at,
            },
            created_at: p.created_at,
            number_shared_with: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PatientList {
    pub items: Vec<PatientView>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PatientQuery {
    /// Start of the first name, the last name, or "first last".
    pub q: Option<String>,
    /// Search one practice only (required for super admins).
    pub practice_id: Option<Uuid>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

fn dob(field: &str, value: &str, today: NaiveDate) -> Result<NaiveDate, ApiError> {
    let date = NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::invalid(field, "must be a date as YYYY-MM-DD"))?;
    if date > today || date < NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid date") {
        return Err(ApiError::invalid(
            field,
            "must be between 1900-01-01 and today",
        ));
    }
    Ok(date)
}

/// Register a patient of a practice. A staff user who creates one is put on its care team and
/// every program it is enrolled in, and so is their supervisor (when they work at the practice).
#[utoipa::path(
    post, path = "/v1/practices/{id}/patients", tag = "patients", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = NewPatientRequest,
    responses(
        (status = 201, body = PatientView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn create_patient(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(practice_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<NewPatientRequest>,
) -> Result<(StatusCode, Json<PatientView>), ApiError> {
    let today = caller.now.date_naive();
    let new = NewPatient {
        practice_id,
        first_name: validate::text("first_name", &body.first_name, 100)?,
        last_name: validate::text("last_name", &body.last_name, 100)?,
        dob: dob("dob", &body.dob, today)?,
        mobile_phone: match body.mobile_phone.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => Some(validate::phone("mobile_phone", v)?),
        },
        programs: validate::patient_programs("programs", &body.programs)?,
        // Filled by the service (seed 003: the creator and their supervisor).
        care_team: Vec::new(),
    };
    let patient = patients::create(&state, &caller, new).await?;
    Ok((StatusCode::CREATED, Json(patient.into())))
}

/// A patient with what an integration reads with the care-plan data: the practice's report
/// disclaimers (as `GET /v1/practices/{id}/disclaimers` keeps them).
#[derive(Serialize, ToSchema)]
pub struct PatientDetailView {
    #[serde(flatten)]
    pub patient: PatientView,
    pub disclaimers: super::disclaimers::DisclaimersView,
}

/// Read a patient, with the practice's report disclaimers.
#[utoipa::path(
    get, path = "/v1/patients/{id}", tag = "patients", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PatientDetailView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_patient(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<PatientDetailView>, ApiError> {
    let (patient, shared, disclaimers) = patients::detail_for(&state, &caller, id).await?;
    let mut view = PatientView::from(patient);
    view.number_shared_with = Some(shared);
    Ok(Json(PatientDetailView {
        patient: view,
        disclaimers: disclaimers.into(),
    }))
}

/// Change a patient's names, date of birth, mobile phone or programs.
#[utoipa::path(
    patch, path = "/v1/patients/{id}", tag = "patients", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PatientPatchRequest,
    responses(
        (status = 200, body = PatientView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn update_patient(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PatientPatchRequest>,
) -> Result<Json<PatientView>, ApiError> {
    let today = caller.now.date_naive();
    let patch = PatientPatch {
        first_name: body
            .first_name
            .as_deref()
            .map(|v| validate::text("first_name", v, 100))
            .transpose()?,
        last_name: body
            .last_name
            .as_deref()
            .map(|v| validate::text("last_name", v, 100))
            .transpose()?,
        dob: body
            .dob
            .as_deref()
            .map(|v| dob("dob", v, today))
            .transpose()?,
        mobile_phone: match body.mobile_phone.as_deref().map(str::trim) {
            None => None,
            Some("") => Some(None),
            Some(v) => Some(Some(validate::phone("mobile_phone", v)?)),
        },
        programs: body
            .programs
            .as_deref()
            .map(|p| validate::patient_programs("programs", p))
            .transpose()?,
        // Filled by the service when programs change (seed 003: a new case's first staff).
        new_program_staff: Vec::new(),
    };
    Ok(Json(
        patients::update(&state, &caller, id, patch).await?.into(),
    ))
}

/// Find patients by name among those the caller may see.
#[utoipa::path(
    get, path = "/v1/patients", tag = "patients", security(("bearer" = [])),
    params(PatientQuery),
    responses(
        (status = 200, body = PatientList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn search_patients(
    State(state): State<AppState>,
    caller: CurrentUser,
    ApiQuery(query): ApiQuery<PatientQuery>,
) -> Result<Json<PatientList>, ApiError> {
    let page = PageQuery {
        cursor: query.cursor,
        limit: query.limit,
    }
    .page()?;
    let practice_ids = patients::search_scope(&state, &caller, query.practice_id)
        .await?
        .ok_or_else(|| ApiError::invalid("practice_id", "is required for super admins"))?;
    let q = query.q.unwrap_or_default();
    let found = patients::search_in(&state, &caller, practice_ids, &q, page).await?;
    Ok(Json(PatientList {
        next_cursor: found.next_cursor.map(|c| c.to_string()),
        items: found.items.into_iter().map(Into::into).collect(),
    }))
}
