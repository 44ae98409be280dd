//! Arbitrary bytes into every parser behind the HTTP edge, through the real router and store of
//! each backend: the webhook form and `X-Twilio-Signature`, the text of an inbound message (the
//! keyword and date-of-birth parsers read it), and the JSON body of every admin route in the
//! OpenAPI document. Never a 5xx or a panic, and every refusal is the parser's typed error:
//! 403 `forbidden` for a signature, 422 `invalid_field` for a form, 400 `malformed_request` (or
//! 422 `invalid_field` when what could be read has the wrong shape) for bytes that are not JSON,
//! and a 4xx with the API's error body for JSON of the wrong shape.
//!
//! Case counts are bounded for CI; `PROPTEST_CASES` raises them for a longer run.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use store::Audit;
use uuid::Uuid;

use crate::fake_twilio::{AUTH_TOKEN, FakeTwilio, PUBLIC_BASE_URL};
use crate::helpers::{Backend, TestApp, fresh_db, new_patient, spawn_app_with, update_patient};

const SMS: &str = "/webhooks/twilio/sms";
const STATUS: &str = "/webhooks/twilio/status";
const PASSWORD: &str = "n3w-password";

fn runner(default_cases: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// The app with the fake carrier's credentials (so webhooks are signed with its auth token), a
/// super admin's token, and one practice with a verified and a verifying patient.
struct Edge {
    app: TestApp,
    root: String,
    customer: Uuid,
    practice: Uuid,
    patients: [(Uuid, String); 2],
    _fake: FakeTwilio,
}

async fn edge(backend: Backend) -> Edge {
    let fake = FakeTwilio::start().await;
    let db = fresh_db(backend).await;
    let url = db.url();
    let app = spawn_app_with(db, |s| fake.configure(s), url).await;
    app.super_admin("root", PASSWORD).await;
    let root = app.login("root", PASSWORD).await;
    let (practice, patient) = crate::helpers::practice_with_patient(&app, "enabled").await;
    let audit = Audit::system(chrono::Utc::now());
    let customer = app.store.get_practice(practice).await.unwrap().customer_id;
    let mut new = new_patient(practice, "Penny", "Pending", "+15555550124");
    new.dob = chrono::NaiveDate::from_ymd_opt(1970, 1, 2).unwrap();
    let pending = app.store.create_patient(&audit, new).await.unwrap();
    let (status, answer) = app
        .post_empty_as(&root, &format!("/v1/patients/{}/texting/start", pending.id))
        .await;
    assert_eq!(status, 200, "{answer}");
    // Enough attempts that every generated text reaches the date-of-birth parser.
    update_patient(&app.db, "texting_attempts_left = 30000", pending.id).await;
    Edge {
        app,
        root,
        customer,
        practice,
        patients: [
            (patient, crate::helpers::PATIENT_NUMBER.to_string()),
            (pending.id, "+15555550124".to_string()),
        ],
        _fake: fake,
    }
}

/// `(status, error code)` of a response; the code is `None` for a success.
async fn outcome(response: reqwest::Response) -> (u16, Option<String>) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let code = body["error"]["code"].as_str().map(str::to_owned);
    if status >= 400 {
        assert!(
            code.is_some() && body["error"]["message"].is_string(),
            "{status} without the API's error body: {body}"
        );
    }
    (status, code)
}

/// Posts `body` to `path` signed as the carrier signs it; the status and the error code.
fn post_signed(
    rt: &tokio::runtime::Runtime,
    app: &TestApp,
    path: &str,
    body: Vec<u8>,
) -> (u16, Option<String>) {
    let params = webhooks::form::decode(&body);
    let signed = format!("{PUBLIC_BASE_URL}{path}");
    let signature = webhooks::signature::compute(AUTH_TOKEN, &signed, &params);
    rt.block_on(async {
        outcome(post_form(app, path, body, Some(signature.as_bytes())).await).await
    })
}

async fn post_form(
    app: &TestApp,
    path: &str,
    body: Vec<u8>,
    signature: Option<&[u8]>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(signature) = signature {
        request = request.header(
            "X-Twilio-Signature",
            reqwest::header::HeaderValue::from_bytes(signature).unwrap(),
        );
    }
    request.send().await.unwrap()
}

/// Bytes a header value may carry (no control characters but tab).
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop_oneof![Just(b'\t'), 0x20u8..0x7f, 0x80u8..=0xff], 0..64)
}

fn webhook_bodies_and_signatures_refused_with_a_typed_error(backend: Backend) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let edge = rt.block_on(edge(backend));
    let strategy = (
        prop::collection::vec(any::<u8>(), 0..512),
        prop::option::of(header_bytes()),
        any::<bool>(),
    );
    runner(48)
        .run(&strategy, |(body, signature, status_route)| {
            let path = if status_route { STATUS } else { SMS };
            let (status, code) = rt.block_on(async {
                outcome(post_form(&edge.app, path, body, signature.as_deref()).await).await
            });
            prop_assert_eq!((status, code.as_deref()), (403, Some("forbidden")));
            Ok(())
        })
        .unwrap();
}

fn signed_arbitrary_forms_are_recorded_or_refused_naming_a_field(backend: Backend) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let edge = rt.block_on(edge(backend));
    let strategy = (prop::collection::vec(any::<u8>(), 0..512), any::<bool>());
    runner(48)
        .run(&strategy, |(body, status_route)| {
            let path = if status_route { STATUS } else { SMS };
            let (status, code) = post_signed(&rt, &edge.app, path, body);
            prop_assert!(
                status == 200 || (status == 422 && code.as_deref() == Some("invalid_field")),
                "{} answered {} {:?}",
                path,
                status,
                code
            );
            Ok(())
        })
        .unwrap();
}

fn arbitrary_texts_from_patients_are_recorded(backend: Backend) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let edge = rt.block_on(edge(backend));
    // The text as raw bytes (invalid UTF-8 arrives as U+FFFD), or made of the pieces keywords
    // and dates of birth are made of.
    let text = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        "[ stopSTARTHELPackACK0-9/.\\-\u{0}\u{FEFF}\u{2019}]{0,40}".prop_map(String::into_bytes),
    ];
    let strategy = (text, any::<bool>());
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
    runner(48)
        .run(&strategy, |(text, pending)| {
            let (_, from) = &edge.patients[usize::from(pending)];
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let sid = format!("SM{n:032x}");
            let mut body = webhooks::form::encode(&[
                ("MessageSid".to_string(), sid.clone()),
                (
                    "AccountSid".to_string(),
                    crate::fake_twilio::ACCOUNT_SID.to_string(),
                ),
                ("From".to_string(), from.clone()),
                (
                    "To".to_string(),
                    crate::helpers::PRACTICE_NUMBER.to_string(),
                ),
            ])
            .into_bytes();
            body.extend_from_slice(b"&Body=");
            body.extend(url::form_urlencoded::byte_serialize(&text).flat_map(str::bytes));
            let (status, code) = post_signed(&rt, &edge.app, SMS, body);
            prop_assert_eq!((status, code), (200, None));
            Ok(())
        })
        .unwrap();
}

/// A JSON route of the admin API: method, path with its parameters filled in, and its body's
/// schema from the OpenAPI document.
struct JsonRoute {
    method: reqwest::Method,
    path: String,
    schema: Value,
}

/// Every route of the OpenAPI document that takes a JSON body (but the portal's, which take a
/// patient's portal token), with the path's parameters filled in with ids of the arranged
/// practice (or a random id, or a name).
async fn json_routes(edge: &Edge) -> (Value, Vec<JsonRoute>) {
    let doc: Value = edge.app.get("/openapi.json").await.json().await.unwrap();
    let mut routes = Vec::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            if schema.is_null() || path.starts_with("/v1/portal") {
                continue;
            }
            let mut filled = String::new();
            let mut previous = "";
            for segment in path.split('/').filter(|s| !s.is_empty()) {
                let value = match (previous, segment) {
                    ("customers", s) if s.starts_with('{') => edge.customer.to_string(),
                    ("practices", s) if s.starts_with('{') => edge.practice.to_string(),
                    ("patients", s) if s.starts_with('{') => edge.patients[0].0.to_string(),
                    (_, "{name}") => "opt_in_request".to_string(),
                    (_, "{vital}") => "pulse".to_string(),
                    (_, s) if s.starts_with('{') => Uuid::new_v4().to_string(),
                    (_, s) => s.to_string(),
                };
                filled.push('/');
                filled.push_str(&value);
                previous = segment;
            }
            let needs_practice = operation["parameters"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["name"] == "practice_id" && p["in"] == "query")
            });
            if needs_practice {
                filled.push_str(&format!("?practice_id={}", edge.practice));
            }
            routes.push(JsonRoute {
                method: method.to_uppercase().parse().unwrap(),
                path: filled,
                schema: schema.clone(),
            });
        }
    }
    assert!(routes.len() >= 10, "the document lists the JSON routes");
    (doc, routes)
}

/// Strings a field may meet: valid ones of many kinds (so that a body gets past validation and
/// reaches the store) and hostile ones (very long text, dates and instants out of any store's
/// range, NUL characters, which PostgreSQL cannot store and the JSON extractor refuses with 422).
fn any_string(ids: Vec<String>) -> BoxedStrategy<Value> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "", " ", "a", "Acme", "+15555550123", "5555550123", "nurse@example.org", "n3w-password",
            "1961-07-04", "0001-01-01", "10000-01-01", "2026-03-02T15:00:00Z",
            "10000-01-01T00:00:00Z", "-262144-01-01T00:00:00Z", "1969-12-31T23:59:59.999999999Z",
            "23:59", "24:00", "America/New_York", "Mars/Base", "pulse", "percent", "staff",
            "super_admin", "all_patients", "new_patients", "new_patient_message", "{practice_name}",
            "{", "STOP", "readings:write", "\u{FEFF}", "\u{1F600}", "\u{0}", "a\u{0}b",
        ])
        .prop_map(|s| json!(s)),
        1 => prop::sample::select(ids).prop_map(Value::String),
        1 => "\\PC{0,30}".prop_map(Value::String),
        1 => (1usize..3000).prop_map(|n| json!("x".repeat(n))),
    ]
    .boxed()
}

fn any_number() -> BoxedStrategy<Value> {
    prop_oneof![
        prop::sample::select(vec![
            json!(0),
            json!(1),
            json!(-1),
            json!(3),
            json!(150.0),
            json!(0.5),
            json!(-0.0),
            json!(i32::MAX),
            json!(i64::MIN),
            json!(i64::MAX),
            json!(u64::MAX),
            json!(1e308),
            json!(-1e308),
            json!(1e-308),
        ]),
        any::<i32>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
    ]
    .boxed()
}

/// Any value at all, for a field given the wrong type.
fn any_leaf(ids: Vec<String>) -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any_number(),
        any_string(ids),
        Just(json!([])),
        Just(json!({})),
    ]
    .boxed()
}

/// Values that follow `schema` (as utoipa writes it: `$ref`, `type` possibly with `null`,
/// `properties`/`required`, `items`, `enum`, `oneOf`), mostly: now and then a field has the
/// wrong type or an optional one is left out.
fn from_schema(doc: &Value, schema: &Value, ids: &[String], depth: u32) -> BoxedStrategy<Value> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return from_schema(doc, &doc["components"]["schemas"][name], ids, depth);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = schema[key].as_array().filter(|o| !o.is_empty()) {
            let choices: Vec<BoxedStrategy<Value>> = options
                .iter()
                .map(|o| from_schema(doc, o, ids, depth))
                .collect();
            return proptest::strategy::Union::new(choices).boxed();
        }
    }
    if let Some(values) = schema["enum"].as_array().filter(|v| !v.is_empty()) {
        let mut values = values.clone();
        values.push(json!("not-a-member"));
        return prop::sample::select(values).boxed();
    }
    let kinds: Vec<&str> = match &schema["type"] {
        Value::String(kind) => vec![kind.as_str()],
        Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let nullable = kinds.contains(&"null");
    let typed = match kinds.iter().find(|k| **k != "null").copied() {
        Some("object") if depth < 4 => {
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let fields: Vec<BoxedStrategy<Option<(String, Value)>>> = schema["properties"]
                .as_object()
                .map(|properties| {
                    properties
                        .iter()
                        .map(|(name, property)| {
                            let is_required = required.contains(&name.as_str());
                            let name = name.clone();
                            let value = from_schema(doc, property, ids, depth + 1);
                            let field = value.prop_map(move |v| Some((name.clone(), v)));
                            if is_required {
                                prop_oneof![12 => field, 1 => Just(None)].boxed()
                            } else {
                                prop_oneof![2 => field, 1 => Just(None)].boxed()
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            fields
                .prop_map(|fields| Value::Object(fields.into_iter().flatten().collect()))
                .boxed()
        }
        Some("array") if depth < 4 => {
            prop::collection::vec(from_schema(doc, &schema["items"], ids, depth + 1), 0..4)
                .prop_map(Value::Array)
                .boxed()
        }
        Some("string") => any_string(ids.to_vec()),
        Some("integer" | "number") => any_number(),
        Some("boolean") => any::<bool>().prop_map(Value::Bool).boxed(),
        _ => any_leaf(ids.to_vec()),
    };
    let typed = if nullable {
        prop_oneof![4 => typed, 1 => Just(Value::Null)].boxed()
    } else {
        typed
    };
    prop_oneof![12 => typed, 1 => any_leaf(ids.to_vec())].boxed()
}

fn admin_json_bodies_are_refused_with_a_typed_error_never_a_5xx(backend: Backend) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let edge = rt.block_on(edge(backend));
    let (doc, routes) = rt.block_on(json_routes(&edge));
    let ids = vec![
        edge.customer.to_string(),
        edge.practice.to_string(),
        edge.patients[0].0.to_string(),
        Uuid::nil().to_string(),
    ];
    let per_route: Vec<BoxedStrategy<(usize, Vec<u8>)>> = routes
        .iter()
        .enumerate()
        .map(|(i, route)| {
            prop_oneof![
                1 => prop::collection::vec(any::<u8>(), 0..256),
                4 => from_schema(&doc, &route.schema, &ids, 0)
                    .prop_map(|v| serde_json::to_vec(&v).unwrap()),
            ]
            .prop_map(move |body| (i, body))
            .boxed()
        })
        .collect();
    let strategy = proptest::strategy::Union::new(per_route);
    runner(256)
        .run(&strategy, |(i, body)| {
            let route = &routes[i];
            let is_json = serde_json::from_slice::<Value>(&body).is_ok();
            let (status, code) = rt.block_on(async {
                let response = edge
                    .app
                    .client
                    .request(route.method.clone(), edge.app.url(&route.path))
                    .bearer_auth(&edge.root)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                outcome(response).await
            });
            let (method, path) = (&route.method, &route.path);
            prop_assert!(
                status < 500,
                "{} {} answered {} {:?}",
                method,
                path,
                status,
                code
            );
            // Bytes that are not JSON stop at the JSON parser: unreadable (400), or of the wrong
            // shape as far as they could be read ("0:" is a number where an object belongs, 422).
            if !is_json {
                prop_assert!(
                    matches!(
                        (status, code.as_deref()),
                        (400, Some("malformed_request")) | (422, Some("invalid_field"))
                    ),
                    "{} {} answered {} {:?}",
                    method,
                    path,
                    status,
                    code
                );
            }
            Ok(())
        })
        .unwrap();
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $( #[test] fn $name() { super::$name(super::Backend::Postgres) } )*
        }
        mod sqlite {
            $( #[test] fn $name() { super::$name(super::Backend::Sqlite) } )*
        }
    };
}

on_both_stores!(
    webhook_bodies_and_signatures_refused_with_a_typed_error,
    signed_arbitrary_forms_are_recorded_or_refused_naming_a_field,
    arbitrary_texts_from_patients_are_recorded,
    admin_json_bodies_are_refused_with_a_typed_error_never_a_5xx,
);
