//! The API's error type: the only place that knows HTTP status codes.
//!
//! Every error leaves as `{"error": {"code", "message"}}` (API.md). A 500 answers with a generic
//! message while the detail is logged inside the request span; a 500 is always a bug.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use store::StoreError;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request could not be read at all.
    #[error("{0}")]
    Malformed(String),
    /// 401: no valid session or token.
    #[error("log in first: the bearer token is missing, expired or revoked")]
    Unauthorized,
    /// 403: known caller, not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: absent, or not the caller's to know about.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409: conflicts with the current state.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 413: the body is larger than the API accepts.
    #[error(
        "the body is too large: at most {} bytes are accepted",
        super::extract::BODY_LIMIT
    )]
    PayloadTooLarge,
    /// 415: the body is not of a type the route reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: a field is invalid; the message names it.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// 422 with its own code: the request as a whole cannot be processed (e.g. an
    /// `Idempotency-Key` already used for another request).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// 423: the user is locked.
    #[error("this user is locked; ask an administrator to unlock it")]
    Locked,
    /// 429: slow down.
    #[error("too many attempts; retry after {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    /// 503: the store cannot be reached.
    #[error("the data store is unavailable; retry shortly")]
    Unavailable,
    /// 500: a bug. The detail is logged, never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The error body of every non-2xx answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code to branch on.
    #[schema(example = "not_found")]
    pub code: String,
    /// What went wrong and how to fix it.
    pub message: String,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Invalid { .. } | ApiError::Unprocessable { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Locked => StatusCode::LOCKED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Malformed(_) => "malformed_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict { code, .. } => code,
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Invalid { .. } => "invalid_field",
            ApiError::Unprocessable { code, .. } => code,
            ApiError::Locked => "user_locked",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable => "store_unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = ?detail, "internal error");
                "an unexpected error occurred; it has been logged".to_string()
            }
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_string(),
                message,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::RateLimited { retry_after_secs } = self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::NotFound("resource"),
            StoreError::Conflict { constraint } => conflict_for(&constraint),
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "store unavailable");
                ApiError::Unavailable
            }
            StoreError::Unexpected(detail) => ApiError::Internal(anyhow::anyhow!(detail)),
        }
    }
}

/// The API's answer to each named store rule; unknown names get a generic 409.
fn conflict_for(constraint: &str) -> ApiError {
    let (code, message) = match constraint {
        "practices_sms_number_key" => (
            "sms_number_taken",
            "another practice already uses this sms_number",
        ),
        "users_username_key" => ("username_taken", "this username is taken; choose another"),
        "practice_groups_minimum_practices" => (
            "too_few_practices",
            "practice groups are available once the customer has 10 or more practices",
        ),
        "practices_practice_group_id" => (
            "practice_in_another_group",
            "every practice_ids entry must be a practice of this customer that is in no other group",
        ),
        "practice_groups_customer_id_name_key" => (
            "group_name_taken",
            "this customer already has a group with that name",
        ),
        "patients_practice_id_mobile_phone_key" => (
            "mobile_phone_in_use",
            "another patient of this practice is texting from this mobile_phone (pending or enabled)",
        ),
        store::TEXTING_DISABLED => (
            "texting_disabled",
            "this practice has texting turned off (PATCH /v1/practices/{id} texting_enabled)",
        ),
        store::PORTAL_DISABLED => (
            "portal_disabled",
            "this practice has the patient portal turned off (PATCH /v1/practices/{id} portal_enabled)",
        ),
        "users_supervisor_id" => {
            return ApiError::invalid("supervisor_id", "must be another user of the same customer");
        }
        "practice_group_of_customer" => {
            return ApiError::invalid(
                "practice_group_id",
                "must be a practice group of the practice's customer",
            );
        }
        "on_call_windows_user_of_customer" => {
            return ApiError::invalid(
                "user_id",
                "every on-call user must be an unlocked user of the practice's customer",
            );
        }
        "users_of_customer" => {
            return ApiError::invalid("user_ids", "every user must be a user of this customer");
        }
        store::IDEMPOTENCY_KEY_REUSED => {
            return ApiError::Unprocessable {
                code: "idempotency_key_reused",
                message: "this Idempotency-Key was used for a different request (another route,                           patient or body); use a new key for a new request"
                    .into(),
            };
        }
        other => {
            tracing::warn!(constraint = other, "unmapped store conflict");
            ("conflict", "the request conflicts with existing data")
        }
    };
    ApiError::Conflict {
        code,
        message: message.to_string(),
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        let detail = rejection.body_text();
        let field = field_from_serde_message(&detail).unwrap_or_else(|| "query".into());
        ApiError::invalid(field, detail)
    }
}

/// serde names the culprit as "missing field `x`" or "… at line 1 column 9" after "`x`: …" for
/// nested paths (axum prefixes the path, e.g. "settings[0].kind: unknown variant").
fn field_from_serde_message(message: &str) -> Option<String> {
    if let Some(rest) = message.split("missing field `").nth(1) {
        return rest.split('`').next().map(str::to_string);
    }
    let after_colon = message.split(": ").nth(1)?;
    let path = after_colon.split(": ").next()?;
    if !path.is_empty()
        && path
            .chars()
            .all(|c| c.is_alphanumeric() || "_.[]".contains(c))
    {
        return Some(path.to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_maps_to_its_documented_status() {
        let cases = [
            (ApiError::Malformed("x".into()), 400),
            (ApiError::Unauthorized, 401),
            (ApiError::Forbidden("x".into()), 403),
            (ApiError::NotFound("patient"), 404),
            (
                ApiError::Conflict {
                    code: "c",
                    message: "m".into(),
                },
                409,
            ),
            (ApiError::PayloadTooLarge, 413),
            (ApiError::UnsupportedMediaType("x".into()), 415),
            (ApiError::invalid("f", "m"), 422),
            (
                ApiError::Unprocessable {
                    code: "c",
                    message: "m".into(),
                },
                422,
            ),
            (ApiError::Locked, 423),
            (
                ApiError::RateLimited {
                    retry_after_secs: 3,
                },
                429,
            ),
            (ApiError::Unavailable, 503),
            (ApiError::Internal(anyhow::anyhow!("boom")), 500),
        ];
        for (error, status) in cases {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
        }
    }

    #[test]
    fn a_rate_limited_answer_carries_retry_after() {
        let response = ApiError::RateLimited {
            retry_after_secs: 7,
        }
        .into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
    }

    #[test]
    fn the_store_errors_map_to_404_409_503_and_500() {
        assert_eq!(ApiError::from(StoreError::NotFound).status(), 404);
        assert_eq!(
            ApiError::from(StoreError::Conflict {
                constraint: "x".into()
            })
            .status(),
            409
        );
        assert_eq!(
            ApiError::from(StoreError::Unavailable("down".into())).status(),
            503
        );
        assert_eq!(
            ApiError::from(StoreError::Unexpected("bug".into())).status(),
            500
        );
    }

    #[test]
    fn serde_messages_name_the_field() {
        assert_eq!(
            field_from_serde_message("missing field `name` at line 1 column 2").as_deref(),
            Some("name")
        );
        assert_eq!(
            field_from_serde_message("Failed to deserialize the JSON body into the target type: timezone: invalid type: integer `3`, expected a string at line 1 column 14").as_deref(),
            Some("timezone")
        );
    }
}
