//! Cross-cutting HTTP behaviour: per-route request metrics and the request span.
//!
//! Labels and span fields use the matched route pattern (`/v1/patients/{id}`), never the raw
//! path or query, which can carry identifiers and patient names and would explode cardinality.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Span;

/// Records `http_requests_total` and `http_request_duration_seconds` per method, route, status.
pub async fn record_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = matched_route(&request);
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let elapsed = started.elapsed().as_secs_f64();
    metrics::counter!(crate::telemetry::catalogue::HTTP_REQUESTS, "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(crate::telemetry::catalogue::HTTP_REQUEST_DURATION, "method" => method, "route" => route)
        .record(elapsed);
    response
}

fn matched_route(request: &Request) -> String {
    request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned())
}

/// The span every request's logs are recorded in: method, route and request id only.
pub fn request_span(request: &Request) -> Span {
    let request_id = header_str(request.headers(), "x-request-id");
    tracing::info_span!(
        "request",
        method = %request.method(),
        route = %matched_route(request),
        request_id = %request_id,
        status = tracing::field::Empty,
    )
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
}

/// Whether an `x-request-id` may be kept and logged: 1 to 64 of `[A-Za-z0-9._-]`. Anything else
/// could forge or break log lines.
pub fn is_valid_request_id(value: &[u8]) -> bool {
    (1..=64).contains(&value.len())
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Drops an `x-request-id` that is not a valid one, so the request-id layer generates a fresh id
/// in its place (and that is what is logged and echoed).
pub async fn sanitise_request_id(mut request: Request, next: Next) -> Response {
    let invalid = request
        .headers()
        .get_all("x-request-id")
        .iter()
        .enumerate()
        .any(|(i, value)| i > 0 || !is_valid_request_id(value.as_bytes()));
    if invalid {
        request.headers_mut().remove("x-request-id");
    }
    next.run(request).await
}

/// Runs a reading's request as urgent work ([`store::urgent`]): its store calls do not queue
/// behind ordinary requests for a connection.
pub async fn reading_urgency(request: Request, next: Next) -> Response {
    store::urgent(store::Urgency::Readings, next.run(request)).await
}

/// Refuses a NUL character in the path (404: nothing is named that way) or in a query parameter
/// (422 naming it) before any extractor or store sees it: PostgreSQL cannot hold one.
pub async fn refuse_nul(request: Request, next: Next) -> Response {
    use axum::response::IntoResponse;

    use super::error::ApiError;

    let uri = request.uri();
    if uri.path().to_ascii_lowercase().contains("%00") {
        return ApiError::NotFound("resource").into_response();
    }
    if let Some(query) = uri.query() {
        let bad = url::form_urlencoded::parse(query.as_bytes())
            .find(|(name, value)| name.contains('\0') || value.contains('\0'));
        if let Some((name, _)) = bad {
            let field = if name.contains('\0') {
                "query".to_string()
            } else {
                name.into_owned()
            };
            return ApiError::invalid(field, "must not contain NUL (U+0000) characters")
                .into_response();
        }
    }
    next.run(request).await
}

/// Gives every error the API's JSON shape, also those answered outside the handlers (a body over
/// the limit refused while buffering, the request timeout, a rejection of axum's own): a 4xx or
/// 5xx whose body is not JSON gets `{"error": {"code", "message"}}` for its status.
pub async fn json_errors(request: Request, next: Next) -> Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use super::error::{ErrorBody, ErrorDetail};

    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            format!(
                "the body is too large: at most {} bytes are accepted",
                super::extract::BODY_LIMIT
            ),
        ),
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => (
            "unavailable",
            "the request took too long or the service is unavailable; retry shortly".into(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "send the body with the content type the route documents".into(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not accept that method".into(),
        ),
        other if other.is_server_error() => (
            "internal_error",
            "an unexpected error occurred; it has been logged".into(),
        ),
        other => (
            "bad_request",
            format!(
                "the request was refused ({})",
                other.canonical_reason().unwrap_or("client error")
            ),
        ),
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.into(),
            message,
        },
    };
    let mut json = (status, axum::Json(body)).into_response();
    for (name, value) in parts.headers.iter() {
        json.headers_mut().insert(name.clone(), value.clone());
    }
    json
}

#[cfg(test)]
mod tests {
    use super::is_valid_request_id;

    #[test]
    fn request_ids_are_one_to_sixty_four_safe_characters() {
        assert!(is_valid_request_id(b"abc-123_X.9"));
        assert!(is_valid_request_id("a".repeat(64).as_bytes()));
        for bad in [
            &b""[..],
            "a".repeat(65).as_bytes(),
            b"two words",
            b"line\nbreak",
            b"quote\"",
            "\u{e9}".as_bytes(),
        ] {
            assert!(!is_valid_request_id(bad), "{bad:?}");
        }
    }
}
