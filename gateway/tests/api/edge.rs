//! No input gets a 500, and every error has one shape (issue 12), on both stores: PostgreSQL
//! refuses NUL characters and out-of-range timestamps that SQLite accepts, so each of these
//! would have been a 500 there had it reached the store.

use reqwest::Method;
use serde_json::{Value, json};

use crate::accounts::{PASSWORD, World, app_with_world, post};
use crate::both_backends;
use crate::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE_URL};
use crate::helpers::{
    Backend, PATIENT_NUMBER, PRACTICE_NUMBER, TestApp, error_message, form, spawn_app,
};
use crate::texting::clinic;

both_backends!(
    ids_in_paths_that_do_not_parse_answer_404_as_json,
    unknown_fields_are_refused_naming_the_field,
    nul_characters_in_api_text_are_refused_naming_the_field,
    an_inbound_text_with_nul_is_recorded_with_a_replacement_character,
    bodies_over_the_limit_and_of_the_wrong_type_get_json_errors,
    timestamps_are_bounded_in_bodies_and_queries,
    readings_and_alert_ranges_must_be_physically_plausible,
    passwords_names_and_program_lists_are_bounded,
    request_ids_other_than_safe_short_tokens_are_replaced,
    metrics_move_to_their_own_listener_when_asked,
);

/// Asserts the API's error shape and returns the message.
fn error_of(status: u16, body: &Value, expected: u16) -> String {
    assert_eq!(status, expected, "{body}");
    assert!(body["error"]["code"].is_string(), "{body}");
    error_message(body).to_string()
}

/// Asserts a 422 whose message names `field` first.
fn refused(status: u16, body: &Value, field: &str) {
    let message = error_of(status, body, 422);
    assert!(message.starts_with(field), "{field}: {message}");
}

async fn patient_of(app: &TestApp, w: &World) -> String {
    let patient = post(
        app,
        &w.practice_a_path("/patients"),
        &w.staff_a,
        json!({"first_name": "Pat", "last_name": "Jones", "dob": "1961-07-04"}),
    )
    .await;
    patient["id"].as_str().unwrap().to_string()
}

async fn ids_in_paths_that_do_not_parse_answer_404_as_json(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    for (method, path) in [
        (Method::GET, "/v1/patients/not-a-uuid"),
        (Method::GET, "/v1/customers/123"),
        (Method::PATCH, "/v1/practices/xyz"),
        (Method::POST, "/v1/users/42/lock"),
        (
            Method::GET,
            "/v1/patients/00000000-0000-0000-0000-00000000000g/messages",
        ),
        (Method::DELETE, "/v1/patients/x/care-team/y"),
        (Method::POST, "/v1/alerts/nope/ack"),
    ] {
        let (status, body) = app
            .call(method.clone(), path, Some(&w.root), Some(json!({})))
            .await;
        error_of(status, &body, 404);
        assert_eq!(body["error"]["code"], "not_found", "{method} {path}");
    }
    // A NUL in a path segment names nothing that exists.
    let patient = patient_of(&app, &w).await;
    let (status, body) = app
        .post_as(
            &w.staff_a,
            &format!("/v1/patients/{patient}/programs/a%00b/staff"),
            json!({"user_id": w.staff_a_id}),
        )
        .await;
    error_of(status, &body, 404);
}

async fn unknown_fields_are_refused_naming_the_field(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let cases = [
        (
            Method::PATCH,
            w.practice_a_path(""),
            json!({"name": "Renamed", "nmae": "typo"}),
            "nmae",
        ),
        (
            Method::POST,
            "/v1/customers".to_string(),
            json!({"name": "Acme", "plan": "gold"}),
            "plan",
        ),
        (
            Method::PUT,
            w.practice_a_path("/reading-alerts/pulse"),
            json!({"ranges": {"critical_low": 40, "normal_low": 50, "normal_high": 100,
                              "critical_high": 130, "warning": 1},
                   "change": null, "apply_to": "new_patients"}),
            "ranges.warning",
        ),
        (
            Method::POST,
            "/v1/auth/login".to_string(),
            json!({"username": "root", "password": PASSWORD, "remember": true}),
            "remember",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, answer) = app
            .call(method.clone(), &path, Some(&w.root), Some(body))
            .await;
        let message = error_of(status, &answer, 422);
        assert!(message.starts_with(field), "{method} {path}: {message}");
    }
    // Nothing was changed by the refused patch.
    let (_, practice) = app.get_as(&w.root, &w.practice_a_path("")).await;
    assert_eq!(practice["name"], "Practice a");
}

async fn nul_characters_in_api_text_are_refused_naming_the_field(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let patient = patient_of(&app, &w).await;
    let cases = [
        (
            "/v1/customers".to_string(),
            &w.root,
            json!({"name": "Ac\u{0}me"}),
            "name",
        ),
        (
            w.practice_a_path("/patients"),
            &w.staff_a,
            json!({"first_name": "P\u{0}", "last_name": "J", "dob": "1961-07-04"}),
            "first_name",
        ),
        (
            format!("/v1/patients/{patient}/messages"),
            &w.staff_a,
            json!({"body": "hello\u{0}"}),
            "body",
        ),
        (
            w.practice_a_path("/patients"),
            &w.staff_a,
            json!({"first_name": "P", "last_name": "J", "dob": "1961-07-04",
                   "programs": ["ok", "b\u{0}d"]}),
            "programs[1]",
        ),
        (
            "/v1/auth/login".to_string(),
            &w.root,
            json!({"username": "ro\u{0}ot", "password": PASSWORD}),
            "username",
        ),
    ];
    for (path, token, body, field) in cases {
        let (status, answer) = app.post_as(token, &path, body).await;
        let message = error_of(status, &answer, 422);
        assert!(message.starts_with(field), "{path}: {message}");
        assert!(message.contains("NUL"), "{message}");
    }
    // Query parameters too.
    for path in [
        "/v1/patients?q=a%00b".to_string(),
        format!("/v1/patients/{patient}/readings?vital=pu%00lse"),
    ] {
        let (status, answer) = app.get_as(&w.staff_a, &path).await;
        let message = error_of(status, &answer, 422);
        assert!(message.contains("NUL"), "{path}: {message}");
    }
}

async fn an_inbound_text_with_nul_is_recorded_with_a_replacement_character(backend: Backend) {
    let c = clinic(backend).await;
    crate::conversations::enable_texting(&c).await;
    let sid = "SM0123456789abcdef0123456789abcd00";
    let params = form(&[
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", PATIENT_NUMBER),
        ("To", PRACTICE_NUMBER),
        ("Body", "fine\u{0}thanks"),
    ]);
    let answer = c
        .app
        .post_signed(PUBLIC_BASE_URL, AUTH_TOKEN, "/webhooks/twilio/sms", &params)
        .await;
    assert_eq!(answer.status(), 200, "a patient's message is never lost");
    let message = c.message_by_sid(sid).await;
    assert_eq!(message.body.as_deref(), Some("fine\u{FFFD}thanks"));
}

async fn bodies_over_the_limit_and_of_the_wrong_type_get_json_errors(backend: Backend) {
    use tower::ServiceExt;

    let (app, w) = app_with_world(backend).await;
    // Through the router itself: a client may not finish writing a body the server refuses.
    let huge = format!(
        r#"{{"name": "{}"}}"#,
        "x".repeat(gateway::http::extract::BODY_LIMIT)
    );
    for path in ["/v1/customers", "/webhooks/twilio/sms"] {
        let request = axum::http::Request::post(path)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", w.root))
            .body(axum::body::Body::from(huge.clone()))
            .unwrap();
        let answer = gateway::http::router(app.state.clone())
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(answer.status(), 413, "{path}");
        let bytes = http_body_util::BodyExt::collect(answer.into_body())
            .await
            .unwrap()
            .to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"]["code"], "payload_too_large", "{path}");
    }
    let answer = app
        .authed(Method::POST, "/v1/customers", &w.root)
        .header("content-type", "text/plain")
        .body(r#"{"name": "Acme"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 415);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unsupported_media_type");
}

async fn timestamps_are_bounded_in_bodies_and_queries(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let patient = patient_of(&app, &w).await;
    for taken_at in [
        "1999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2026-03-02T15:05:01Z",
    ] {
        let (status, body) = app
            .post_as(
                &w.staff_a,
                "/v1/readings",
                json!({"patient_id": patient, "vital": "pulse", "value": 70, "taken_at": taken_at}),
            )
            .await;
        refused(status, &body, "taken_at");
    }
    let (status, body) = app
        .post_as(
            &w.staff_a,
            "/v1/readings",
            json!({"patient_id": patient, "vital": "pulse", "value": 70, "taken_at": "2026-03-02T15:05:00Z"}),
        )
        .await;
    assert_eq!(status, 201, "five minutes ahead is allowed: {body}");
    for since in [
        "0001-01-01T00:00:00Z",
        "1999-01-01T00:00:00Z",
        "9999-01-01T00:00:00Z",
    ] {
        let (status, body) = app
            .get_as(&w.root, &format!("/v1/audit?since={since}"))
            .await;
        refused(status, &body, "since");
    }
}

async fn readings_and_alert_ranges_must_be_physically_plausible(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let patient = patient_of(&app, &w).await;
    for (vital, value) in [
        ("pulse", 351.0),
        ("pulse", -1.0),
        ("spo2", 100.5),
        ("blood_pressure_systolic", 4000.0),
        ("body_weight", 1e9),
    ] {
        let (status, body) = app
            .post_as(
                &w.staff_a,
                "/v1/readings",
                json!({"patient_id": patient, "vital": vital, "value": value, "taken_at": "2026-03-02T14:00:00Z"}),
            )
            .await;
        refused(status, &body, "value");
    }
    let (status, body) = app
        .put_as(
            &w.admin_a,
            &w.practice_a_path("/reading-alerts/spo2"),
            json!({"ranges": {"critical_low": 85, "normal_low": 92, "normal_high": 100, "critical_high": 140}, "change": null, "apply_to": "new_patients"}),
        )
        .await;
    refused(status, &body, "ranges.critical_high");
}

async fn passwords_names_and_program_lists_are_bounded(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let (status, body) = app
        .post_as(
            &w.root,
            "/v1/users",
            json!({"username": "longpw", "password": "a1".repeat(129), "role": "staff", "customer_id": w.customer_a}),
        )
        .await;
    assert!(error_of(status, &body, 422).starts_with("password"));
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "root", "password": "x".repeat(5000)})),
        )
        .await;
    assert!(error_of(status, &body, 422).starts_with("password"));
    for name in ["\u{202E}nhoJ", "Jo\u{2066}hn", "Jo\nhn"] {
        let (status, body) = app
            .post_as(
                &w.staff_a,
                &w.practice_a_path("/patients"),
                json!({"first_name": name, "last_name": "Doe", "dob": "1961-07-04"}),
            )
            .await;
        assert!(
            error_of(status, &body, 422).starts_with("first_name"),
            "{name:?}"
        );
    }
    let programs: Vec<String> = (0..21).map(|i| format!("program-{i}")).collect();
    let (status, body) = app
        .post_as(
            &w.staff_a,
            &w.practice_a_path("/patients"),
            json!({"first_name": "Pat", "last_name": "Doe", "dob": "1961-07-04", "programs": programs}),
        )
        .await;
    assert!(error_of(status, &body, 422).starts_with("programs"));
    let (status, _) = app
        .post_as(
            &w.staff_a,
            &w.practice_a_path("/patients"),
            json!({"first_name": "Pat", "last_name": "Doe", "dob": "1961-07-04", "programs": programs[..20]}),
        )
        .await;
    assert_eq!(status, 201, "twenty programs are fine");
}

async fn request_ids_other_than_safe_short_tokens_are_replaced(backend: Backend) {
    let app = spawn_app(backend).await;
    let echoed = |id: String| {
        let app = &app;
        async move {
            let answer = app
                .client
                .get(app.url("/healthz"))
                .header("x-request-id", id)
                .send()
                .await
                .unwrap();
            answer.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_string()
        }
    };
    assert_eq!(echoed("req-1.2_3".into()).await, "req-1.2_3");
    for forged in ["two words", "a\"b", &"x".repeat(65), "a;b", "x/y"] {
        let got = echoed(forged.to_string()).await;
        assert_ne!(got, forged);
        assert!(
            (1..=64).contains(&got.len())
                && got
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
            "{got:?}"
        );
    }
}

async fn metrics_move_to_their_own_listener_when_asked(backend: Backend) {
    let db = crate::helpers::fresh_db(backend).await;
    let url = db.url();
    let app = crate::helpers::spawn_app_with(
        db,
        |s| s.metrics_listen = Some("127.0.0.1:0".parse().unwrap()),
        url,
    )
    .await;
    let (status, body) = app.call(Method::GET, "/metrics", None, None).await;
    error_of(status, &body, 404);
    let metrics = app.metrics_address.expect("a metrics listener");
    let answer = app
        .client
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().contains("http_requests_total"));
    let (_, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert!(doc["paths"].get("/metrics").is_none());
    // Without the setting, /metrics is on the main listener.
    let plain = spawn_app(backend).await;
    assert!(plain.metrics_address.is_none());
    assert_eq!(plain.get("/metrics").await.status(), 200);
}
