//! The API's error type: the only place that knows HTTP status codes.
//!
//! Every error leaves as `{"error": {"code", "message"}}` (API.md). A 500 answers with a generic
//! message while the detail is logged inside the request span; a 500 is always a bug.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

pub use crate::app::AppError as ApiError;

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
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
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
    use store::{RuleRefusal, StoreError};

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
            (ApiError::PayloadTooLarge { limit: 1 }, 413),
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
    fn each_store_refusal_has_its_own_answer() {
        let cases = [
            (RuleRefusal::UsersOfAnotherCustomer, 422, "invalid_field"),
            (
                RuleRefusal::PracticeInAnotherGroup,
                409,
                "practice_in_another_group",
            ),
            (
                RuleRefusal::TooFewPracticesForGroups,
                409,
                "too_few_practices",
            ),
            (
                RuleRefusal::IdempotencyKeyReused,
                422,
                "idempotency_key_reused",
            ),
            (RuleRefusal::TextingChanged, 500, "internal_error"),
            (RuleRefusal::ReadingUnprepared, 500, "internal_error"),
        ];
        for (rule, status, code) in cases {
            let error = ApiError::from(StoreError::Rule(rule));
            assert_eq!(
                (error.status().as_u16(), error.code()),
                (status, code),
                "{rule:?}"
            );
        }
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
