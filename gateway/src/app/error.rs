//! The error of every use case: what went wrong, in the words of the API's contract (API.md).
//!
//! Services return [`AppError`]; the HTTP layer gives each variant its status code and writes
//! the `{"error": {"code", "message"}}` body (`http::error`), and the staff console shows the
//! message. A store refusal becomes the conflict or field error the API documents for it.

use store::{RuleRefusal, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
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
    #[error("the body is too large: at most {limit} bytes are accepted")]
    PayloadTooLarge { limit: usize },
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

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> AppError {
        AppError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Malformed(_) => "malformed_request",
            AppError::Unauthorized => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict { code, .. } => code,
            AppError::PayloadTooLarge { .. } => "payload_too_large",
            AppError::UnsupportedMediaType(_) => "unsupported_media_type",
            AppError::Invalid { .. } => "invalid_field",
            AppError::Unprocessable { code, .. } => code,
            AppError::Locked => "user_locked",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::Unavailable => "store_unavailable",
            AppError::Internal(_) => "internal_error",
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        match e {
            StoreError::NotFound => AppError::NotFound("resource"),
            StoreError::Conflict { constraint } => conflict_for(&constraint),
            StoreError::Rule(rule) => refusal_for(rule),
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "store unavailable");
                AppError::Unavailable
            }
            StoreError::Unexpected(detail) => AppError::Internal(anyhow::anyhow!(detail)),
        }
    }
}

/// The API's answer to each named store rule; unknown names get a generic 409.
fn conflict_for(constraint: &str) -> AppError {
    let (code, message) = match constraint {
        "practices_sms_number_key" => (
            "sms_number_taken",
            "another practice already uses this sms_number",
        ),
        "users_username_key" => ("username_taken", "this username is taken; choose another"),
        "practice_groups_customer_id_name_key" => (
            "group_name_taken",
            "this customer already has a group with that name",
        ),
        "patients_practice_id_mobile_phone_key" => (
            "mobile_phone_in_use",
            "another patient of this practice is texting from this mobile_phone (pending or enabled)",
        ),
        other => {
            tracing::warn!(constraint = other, "unmapped store conflict");
            ("conflict", "the request conflicts with existing data")
        }
    };
    AppError::Conflict {
        code,
        message: message.to_string(),
    }
}

/// The API's answer to each refusal a store use case decides itself.
fn refusal_for(rule: RuleRefusal) -> AppError {
    let conflict = |code, message: &str| AppError::Conflict {
        code,
        message: message.to_string(),
    };
    match rule {
        RuleRefusal::UsersOfAnotherCustomer => {
            AppError::invalid("user_ids", "every user must be a user of this customer")
        }
        RuleRefusal::PracticeInAnotherGroup => conflict(
            "practice_in_another_group",
            "every practice_ids entry must be a practice of this customer that is in no other group",
        ),
        RuleRefusal::TooFewPracticesForGroups => conflict(
            "too_few_practices",
            "practice groups are available once the customer has 10 or more practices",
        ),
        RuleRefusal::IdempotencyKeyReused => AppError::Unprocessable {
            code: "idempotency_key_reused",
            message: "this Idempotency-Key was used for a different request (another route,                           patient or body); use a new key for a new request"
                .into(),
        },
        RuleRefusal::TextingDisabled => conflict(
            "texting_disabled",
            "this practice has texting turned off (PATCH /v1/practices/{id} texting_enabled)",
        ),
        RuleRefusal::PortalDisabled => conflict(
            "portal_disabled",
            "this practice has the patient portal turned off (PATCH /v1/practices/{id} portal_enabled)",
        ),
        RuleRefusal::SupervisorOfAnotherCustomer => {
            AppError::invalid("supervisor_id", "must be another user of the same customer")
        }
        RuleRefusal::GroupOfAnotherCustomer => AppError::invalid(
            "practice_group_id",
            "must be a practice group of the practice's customer",
        ),
        // The services decide again on these; one reaching a handler is a bug.
        RuleRefusal::TextingChanged | RuleRefusal::ReadingUnprepared => {
            AppError::Internal(anyhow::anyhow!("store refusal reached the API: {rule}"))
        }
    }
}
