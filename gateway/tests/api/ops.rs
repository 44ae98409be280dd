//! Operations endpoints, the error shape, request ids and graceful shutdown.

use std::time::Duration;

use serde_json::Value;

use crate::both_backends;
use crate::helpers::{
    Backend, ProxyMode, TcpToggleProxy, content_type, error_message, postgres_address, spawn_app,
    spawn_app_with, url_via,
};

both_backends!(
    healthz_answers_ok,
    readyz_answers_ready_when_the_store_is_reachable,
    an_unknown_route_gets_the_json_error_shape,
    a_wrong_method_gets_a_json_405,
    every_answer_carries_a_request_id,
    metrics_are_valid_prometheus_text_with_counts_and_latency_per_route,
    the_openapi_document_describes_the_routes,
);

async fn healthz_answers_ok(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

async fn readyz_answers_ready_when_the_store_is_reachable(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
}

async fn an_unknown_route_gets_the_json_error_shape(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.get("/v1/nothing-here").await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert!(error_message(&body).contains("not found"));
}

async fn a_wrong_method_gets_a_json_405(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.client.post(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

async fn every_answer_carries_a_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let generated = app.get("/healthz").await;
    let id = generated.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 36, "a UUID is generated: {id}");
    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "abc-123");
}

async fn metrics_are_valid_prometheus_text_with_counts_and_latency_per_route(backend: Backend) {
    let app = spawn_app(backend).await;
    for _ in 0..3 {
        assert_eq!(app.get("/healthz").await.status(), 200);
    }
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(content_type(&response).starts_with("text/plain"));
    let text = response.text().await.unwrap();
    assert_valid_exposition(&text);
    assert!(
        text.contains("# TYPE http_requests_total counter"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE http_request_duration_seconds histogram"),
        "{text}"
    );
    let healthz_count = text
        .lines()
        .find(|l| {
            l.starts_with("http_requests_total{")
                && l.contains("route=\"/healthz\"")
                && l.contains("status=\"200\"")
        })
        .expect("a counter for /healthz");
    let count: f64 = healthz_count.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 3.0, "{healthz_count}");
    assert!(
        text.contains(
            "http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"0.005\"}"
        ),
        "{text}"
    );
}

/// Checks every line against the Prometheus text format: comments, or `name{labels} value`.
fn assert_valid_exposition(text: &str) {
    let sample = regex::Regex::new(
        r#"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)( -?[0-9]+)?$"#,
    )
    .unwrap();
    let comment = regex::Regex::new(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]*( .*)?$").unwrap();
    for line in text.lines().filter(|l| !l.is_empty()) {
        assert!(
            sample.is_match(line) || comment.is_match(line),
            "not valid exposition format: {line:?}"
        );
    }
}

async fn the_openapi_document_describes_the_routes(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert!(
            doc["paths"][path]["get"].is_object(),
            "{path} missing from {doc}"
        );
    }
    assert!(doc["paths"]["/readyz"]["get"]["responses"]["503"].is_object());
    let routes = [
        ("post", "/v1/auth/login"),
        ("post", "/v1/auth/logout"),
        ("get", "/v1/me"),
        ("post", "/v1/customers"),
        ("get", "/v1/customers/{id}"),
        ("put", "/v1/customers/{id}/default-users"),
        ("post", "/v1/customers/{id}/practices"),
        ("get", "/v1/customers/{id}/practices"),
        ("get", "/v1/practices/{id}"),
        ("patch", "/v1/practices/{id}"),
        ("put", "/v1/practices/{id}/users"),
        ("get", "/v1/customers/{id}/practice-groups"),
        ("post", "/v1/customers/{id}/practice-groups"),
        ("patch", "/v1/practice-groups/{id}"),
        ("delete", "/v1/practice-groups/{id}"),
        ("post", "/v1/users"),
        ("get", "/v1/users/{id}"),
        ("patch", "/v1/users/{id}"),
        ("get", "/v1/users/{id}/outstanding"),
        ("post", "/v1/users/{id}/lock"),
        ("post", "/v1/users/{id}/unlock"),
        ("get", "/v1/audit"),
        ("post", "/v1/practices/{id}/patients"),
        ("get", "/v1/patients/{id}"),
        ("patch", "/v1/patients/{id}"),
        ("get", "/v1/patients"),
        ("get", "/v1/practices/{id}/templates"),
        ("put", "/v1/practices/{id}/templates/{name}"),
        ("get", "/v1/users/{id}/notification-settings"),
        ("put", "/v1/users/{id}/notification-settings"),
        ("get", "/v1/practices/{id}/notification-defaults/users"),
        ("put", "/v1/practices/{id}/notification-defaults/users"),
        ("get", "/v1/practices/{id}/notification-defaults/patients"),
        ("put", "/v1/practices/{id}/notification-defaults/patients"),
        ("get", "/v1/practices/{id}/disclaimers"),
        ("put", "/v1/practices/{id}/disclaimers"),
        ("get", "/v1/patients/{id}/texting"),
        ("post", "/v1/patients/{id}/texting/start"),
        ("post", "/v1/patients/{id}/texting/resend"),
        ("post", "/v1/patients/{id}/texting/opt-out"),
        ("get", "/v1/conversations"),
        ("get", "/v1/patients/{id}/messages"),
        ("post", "/v1/patients/{id}/messages"),
        ("post", "/v1/patients/{id}/messages/read"),
        ("post", "/v1/patients/{id}/care-team"),
        ("delete", "/v1/patients/{id}/care-team/{user_id}"),
        ("post", "/v1/patients/{id}/programs/{program}/staff"),
        (
            "delete",
            "/v1/patients/{id}/programs/{program}/staff/{user_id}",
        ),
        ("get", "/v1/patients/{id}/care-team-panel"),
        ("put", "/v1/patients/{id}/notification-subscription"),
        ("delete", "/v1/patients/{id}/notification-subscription"),
        ("post", "/v1/patients/{id}/portal/enroll"),
        ("get", "/v1/notifications"),
        ("get", "/v1/notifications/stream"),
    ];
    for (method, path) in routes {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        let responses = operation["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path} documents no success answer"
        );
        if path != "/v1/auth/login" {
            assert!(
                responses.contains_key("401"),
                "{method} {path} documents no 401"
            );
            assert!(
                operation["security"].is_array(),
                "{method} {path} declares no bearer security"
            );
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}

#[tokio::test]
async fn readyz_is_503_while_postgres_is_unreachable_and_recovers_by_itself() {
    let db = crate::helpers::fresh_db(Backend::Postgres).await;
    let proxy = TcpToggleProxy::start(postgres_address()).await;
    let via = url_via(&db.url(), proxy.address);
    let app = spawn_app_with(db, |_| {}, via).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    proxy.set(ProxyMode::Closed);
    let down = app.get("/readyz").await;
    assert_eq!(down.status(), 503);
    let body: Value = down.json().await.unwrap();
    assert_eq!(body["error"]["code"], "store_unavailable");
    // Liveness does not depend on the store.
    assert_eq!(app.get("/healthz").await.status(), 200);

    proxy.set(ProxyMode::Open);
    let mut recovered = false;
    for _ in 0..50 {
        if app.get("/readyz").await.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "readyz must return to 200 once the store is back"
    );
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish() {
    let db = crate::helpers::fresh_db(Backend::Postgres).await;
    let proxy = TcpToggleProxy::start(postgres_address()).await;
    let via = url_via(&db.url(), proxy.address);
    let mut app = spawn_app_with(db, |_| {}, via).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    // The store hangs, so a readiness check is in flight when shutdown begins.
    proxy.set(ProxyMode::Paused);
    let client = app.client.clone();
    let url = app.url("/readyz");
    let in_flight = tokio::spawn(async move { client.get(url).send().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.trigger_shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy.set(ProxyMode::Open);

    let response = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered, not cut off");
    assert_eq!(response.status(), 200);
    app.wait_stopped().await.unwrap();
}
