//! What a refusal leaves behind (issue 12), on both stores: a read refused by tenancy or role
//! writes no row into the other tenant's audit log and is counted in the metrics; an
//! `Idempotency-Key` used again with another request is refused, never answered with the first
//! request's result.

use reqwest::Method;
use serde_json::{Value, json};

use crate::accounts::{app_with_world, post};
use crate::both_backends;
use crate::conversations::enable_texting;
use crate::helpers::{Backend, items};
use crate::texting::clinic;

both_backends!(
    a_read_refused_by_tenancy_leaves_no_row_in_the_other_tenants_audit_log,
    an_idempotency_key_used_again_with_another_request_is_refused,
);

/// The value of a counter line such as `name{reason="tenancy"} 3` in `/metrics`.
fn counter(metrics: &str, name: &str, label: &str) -> f64 {
    metrics
        .lines()
        .find(|line| line.starts_with(name) && line.contains(label))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

async fn a_read_refused_by_tenancy_leaves_no_row_in_the_other_tenants_audit_log(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let patient = post(
        &app,
        &w.practice_a_path("/patients"),
        &w.staff_a,
        json!({"first_name": "Pat", "last_name": "Jones", "dob": "1961-07-04"}),
    )
    .await;
    let patient = patient["id"].as_str().unwrap();
    let audit_rows = || async {
        let (status, body) = app
            .get_as(
                &w.admin_a,
                &format!("/v1/audit?patient_id={patient}&limit=200"),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        items(&body).clone()
    };
    let before = audit_rows().await.len();
    let refused_before = counter(
        &app.get("/metrics").await.text().await.unwrap(),
        "gateway_access_refused_total",
        "tenancy",
    );
    // Staff and admins of customer B try to read customer A's patient, its thread and readings.
    for token in [&w.staff_b, &w.admin_b] {
        for path in [
            format!("/v1/patients/{patient}"),
            format!("/v1/patients/{patient}/messages"),
            format!("/v1/patients/{patient}/readings"),
        ] {
            let (status, body) = app.get_as(token, &path).await;
            assert_eq!(status, 404, "{path}: {body}");
        }
    }
    let after: Vec<Value> = audit_rows().await;
    assert_eq!(
        after.len(),
        before,
        "no refused read in A's audit log: {after:?}"
    );
    let refused_after = counter(
        &app.get("/metrics").await.text().await.unwrap(),
        "gateway_access_refused_total",
        "tenancy",
    );
    assert!(
        refused_after >= refused_before + 6.0,
        "{refused_before} -> {refused_after}"
    );
    // A permitted read is audited as before.
    let (status, _) = app
        .get_as(&w.staff_a, &format!("/v1/patients/{patient}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(audit_rows().await.len(), before + 1);
}

async fn an_idempotency_key_used_again_with_another_request_is_refused(backend: Backend) {
    let c = clinic(backend).await;
    enable_texting(&c).await;
    let send = |patient: String, body: Value| {
        let app = &c.app;
        let staff = c.staff.clone();
        async move {
            let answer = app
                .authed(
                    Method::POST,
                    &format!("/v1/patients/{patient}/messages"),
                    &staff,
                )
                .header("Idempotency-Key", "visit-7")
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = answer.status().as_u16();
            (status, answer.json::<Value>().await.unwrap())
        }
    };
    let (status, first) = send(c.patient.clone(), json!({"body": "See you at 3"})).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = send(c.patient.clone(), json!({"body": "See you at 3"})).await;
    assert_eq!(status, 200);
    assert_eq!(again["id"], first["id"], "the same request replays");
    for other in [
        json!({"body": "See you at 4"}),
        json!({"body": "See you at 3", "channel": "sms"}),
    ] {
        let (status, body) = send(c.patient.clone(), other.clone()).await;
        assert_eq!(status, 422, "{other}: {body}");
        assert_eq!(body["error"]["code"], "idempotency_key_reused");
    }
    // Another patient with the same key: refused, not answered with the first patient's message.
    let (_, other_patient) = c.staff_get(&c.patient_path("")).await;
    let practice = other_patient["practice_id"].as_str().unwrap();
    let second = c
        .add_patient(
            practice,
            json!({"first_name": "Sam", "last_name": "Lee", "dob": "1970-01-01"}),
        )
        .await;
    let (status, body) = send(
        second["id"].as_str().unwrap().to_string(),
        json!({"body": "See you at 3"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "idempotency_key_reused");
}
