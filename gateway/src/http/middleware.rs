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
