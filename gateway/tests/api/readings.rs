//! Readings over HTTP: classification by bands and by change, practice defaults for new or all
//! patients, patient overrides, 422s naming the field, API tokens (create, use, revoke,
//! tenancy), on-call schedules and who is on call now (overnight windows, the DST night), and
//! the OpenAPI document.

use chrono::{DateTime, Duration, TimeZone, Utc};
use gateway::clock::Clock;
use serde_json::{Value, json};

use crate::accounts::{PASSWORD, World, app_with_world};
use crate::both_backends;
use crate::helpers::{Backend, TestApp, error_message, items, spawn_app};

both_backends!(
    readings_are_classified_by_the_bands_including_exact_bounds,
    an_empty_band_is_skipped_and_a_patient_without_settings_reads_unclassified,
    a_change_by_the_set_amount_within_the_window_is_critical,
    practice_defaults_reach_new_patients_only_or_all_patients_as_asked,
    invalid_settings_and_readings_answer_422_naming_the_field,
    an_unknown_vital_in_the_path_is_not_found,
    an_api_token_posts_readings_until_it_is_revoked,
    other_customers_tokens_and_staff_cannot_reach_a_patient,
    reading_frequency_reads_back_as_saved_and_refuses_bad_numbers,
    a_patient_carries_a_copy_of_the_frequency_that_staff_may_change_and_all_patients_replaces,
    a_new_patient_copies_the_patient_defaults_and_only_all_patients_reaches_the_others,
    on_call_schedules_are_saved_and_read_back_by_practice_admins,
    who_is_on_call_now_follows_overnight_windows_and_the_dst_night,
    the_openapi_document_lists_the_reading_routes,
);

async fn patient(app: &TestApp, w: &World, name: &str) -> String {
    let (status, body) = app
        .post_as(
            &w.staff_a,
            &w.practice_a_path("/patients"),
            json!({"first_name": name, "last_name": "Doe", "dob": "1950-02-03"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

fn pulse_settings() -> Value {
    json!({"ranges": {"critical_low": 40, "normal_low": 50, "normal_high": 100, "critical_high": 130}, "change": null})
}

async fn post_reading(
    app: &TestApp,
    token: &str,
    patient: &str,
    vital: &str,
    value: Value,
    taken_at: DateTime<Utc>,
) -> (u16, Value) {
    app.post_as(
        token,
        "/v1/readings",
        json!({"patient_id": patient, "vital": vital, "value": value, "taken_at": taken_at}),
    )
    .await
}

async fn status_of(app: &TestApp, token: &str, patient: &str, vital: &str, value: f64) -> Value {
    // Each reading a second earlier than the one before: the same value at the same instant
    // would be a repeat of it, answered as the first.
    static EARLIER: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let back = EARLIER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let taken_at = now(app) - chrono::Duration::seconds(back);
    let (status, body) = post_reading(app, token, patient, vital, json!(value), taken_at).await;
    assert_eq!(status, 201, "{body}");
    body
}

fn now(app: &TestApp) -> DateTime<Utc> {
    app.clock.now()
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> Value {
    let (status, answer) = app.put_as(token, path, body).await;
    assert_eq!(status, 200, "PUT {path}: {answer}");
    answer
}

async fn readings_are_classified_by_the_bands_including_exact_bounds(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let p = patient(&app, &w, "Ann").await;
    let saved = put(
        &app,
        &format!("/v1/patients/{p}/reading-alerts/pulse"),
        &w.staff_a,
        pulse_settings(),
    )
    .await;
    assert_eq!(saved["source"], "patient");
    for (value, expected, reason) in [
        (39.9, "critical", Some("critical_low")),
        (40.0, "caution", Some("caution_low")),
        (49.0, "caution", Some("caution_low")),
        (50.0, "normal", None),
        (75.0, "normal", None),
        (100.0, "normal", None),
        (100.5, "caution", Some("caution_high")),
        (130.0, "caution", Some("caution_high")),
        (130.1, "critical", Some("critical_high")),
    ] {
        let body = status_of(&app, &w.staff_a, &p, "pulse", value).await;
        assert_eq!(body["status"], expected, "{value}: {body}");
        match reason {
            Some(code) => assert_eq!(body["reasons"][0]["code"], code, "{value}: {body}"),
            None => assert_eq!(body["reasons"], json!([]), "{value}: {body}"),
        }
        assert!(body["id"].is_string());
    }
    // The list answers newest first, with what was answered on arrival.
    let (status, list) = app
        .get_as(
            &w.staff_a,
            &format!("/v1/patients/{p}/readings?vital=pulse&limit=2"),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(items(&list).len(), 2);
    assert!(list["next_cursor"].is_string());
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let critical =
        crate::monitoring::metric_value(&metrics, "gateway_readings_total{status=\"critical\"}");
    assert!(critical >= Some(1.0), "{metrics}");
}

async fn an_empty_band_is_skipped_and_a_patient_without_settings_reads_unclassified(
    backend: Backend,
) {
    let (app, w) = app_with_world(backend).await;
    let p = patient(&app, &w, "Bo").await;
    // No settings at all: unclassified (nothing says whether it is normal), no reasons; the
    // settings say so.
    let body = status_of(&app, &w.staff_a, &p, "spo2", 20.0).await;
    assert_eq!(
        (body["status"].clone(), body["reasons"].clone()),
        (json!("unclassified"), json!([]))
    );
    let (status, none) = app
        .get_as(&w.staff_a, &format!("/v1/patients/{p}/reading-alerts/spo2"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (none["source"].clone(), none["ranges"].clone()),
        (json!("none"), Value::Null)
    );
    // No high caution band (normal_high == critical_high) and no low bands at all.
    put(
        &app,
        &format!("/v1/patients/{p}/reading-alerts/spo2"),
        &w.staff_a,
        json!({"ranges": {"critical_low": 90, "normal_low": 90, "normal_high": 98, "critical_high": 98}}),
    )
    .await;
    for (value, expected) in [
        (89.9, "critical"),
        (90.0, "normal"),
        (98.0, "normal"),
        (98.1, "critical"),
    ] {
        let body = status_of(&app, &w.staff_a, &p, "spo2", value).await;
        assert_eq!(body["status"], expected, "{value}: {body}");
    }
}

async fn a_change_by_the_set_amount_within_the_window_is_critical(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let p = patient(&app, &w, "Cy").await;
    put(
        &app,
        &format!("/v1/patients/{p}/reading-alerts/body_weight"),
        &w.staff_a,
        json!({"ranges": {"critical_low": 0, "normal_low": 0, "normal_high": 500, "critical_high": 500},
               "change": {"amount": 5, "unit": "percent", "within_hours": 24}}),
    )
    .await;
    // Sessions end after their idle timeout, so the clock stays put and readings are dated.
    let t = now(&app);
    let at = |hours_ago: i64| t - Duration::hours(hours_ago);
    let (status, first) =
        post_reading(&app, &w.staff_a, &p, "body_weight", json!(200.0), at(30)).await;
    assert_eq!((status, first["status"].clone()), (201, json!("normal")));
    // 27 hours later: the earlier reading is outside the 24-hour window.
    let (_, outside) = post_reading(&app, &w.staff_a, &p, "body_weight", json!(212.0), at(3)).await;
    assert_eq!(outside["status"], "normal", "{outside}");
    // 4.7% above 212 within the window: still normal; then exactly 5%: critical.
    let (_, small) = post_reading(&app, &w.staff_a, &p, "body_weight", json!(222.0), at(2)).await;
    assert_eq!(small["status"], "normal", "{small}");
    let (_, big) = post_reading(&app, &w.staff_a, &p, "body_weight", json!(222.6), at(1)).await;
    assert_eq!(big["status"], "critical", "{big}");
    assert_eq!(big["reasons"][0]["code"], "rapid_change");
    assert_eq!(big["reasons"][0]["from_value"], 212.0);
    assert_eq!(big["reasons"][0]["within_hours"], 24);
    assert!(
        big["reasons"][0]["message"]
            .as_str()
            .unwrap()
            .contains("rose")
    );
}

async fn practice_defaults_reach_new_patients_only_or_all_patients_as_asked(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let existing = patient(&app, &w, "Dee").await;
    let path = w.practice_a_path("/reading-alerts/pulse");
    let mut body = pulse_settings();
    body["apply_to"] = json!("new_patients");
    // Staff may read the defaults but not change them.
    let (status, _) = app.put_as(&w.staff_a, &path, body.clone()).await;
    assert_eq!(status, 403);
    let saved = put(&app, &path, &w.admin_a, body).await;
    assert_eq!(saved["ranges"]["critical_high"], 130.0);
    let (_, read) = app.get_as(&w.staff_a, &path).await;
    assert_eq!(read["ranges"]["normal_low"], 50.0);
    // The existing patient had no settings and keeps having none; a new patient follows.
    assert_eq!(
        status_of(&app, &w.staff_a, &existing, "pulse", 150.0).await["status"],
        "unclassified"
    );
    let newer = patient(&app, &w, "Eli").await;
    assert_eq!(
        status_of(&app, &w.staff_a, &newer, "pulse", 150.0).await["status"],
        "critical"
    );
    // A patient override wins over the default.
    let own = put(
        &app,
        &format!("/v1/patients/{newer}/reading-alerts/pulse"),
        &w.staff_a,
        json!({"ranges": {"critical_low": 40, "normal_low": 50, "normal_high": 160, "critical_high": 170}}),
    )
    .await;
    assert_eq!(own["source"], "patient");
    assert_eq!(
        status_of(&app, &w.staff_a, &newer, "pulse", 150.0).await["status"],
        "normal"
    );
    // For all patients: every patient follows the new default, overrides included.
    put(
        &app,
        &path,
        &w.admin_a,
        json!({"ranges": {"critical_low": 30, "normal_low": 40, "normal_high": 90, "critical_high": 140}, "change": null, "apply_to": "all_patients"}),
    )
    .await;
    for p in [&existing, &newer] {
        let (_, effective) = app
            .get_as(
                &w.staff_a,
                &format!("/v1/patients/{p}/reading-alerts/pulse"),
            )
            .await;
        assert_eq!(effective["source"], "practice", "{effective}");
        assert_eq!(
            status_of(&app, &w.staff_a, p, "pulse", 150.0).await["status"],
            "critical"
        );
        assert_eq!(
            status_of(&app, &w.staff_a, p, "pulse", 95.0).await["status"],
            "caution"
        );
    }
}

async fn invalid_settings_and_readings_answer_422_naming_the_field(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let p = patient(&app, &w, "Fa").await;
    let cases = [
        (
            json!({"ranges": {"critical_low": 40, "normal_low": 30, "normal_high": 100, "critical_high": 130}}),
            "ranges.normal_low",
        ),
        (
            json!({"ranges": {"critical_low": 40, "normal_low": 50, "normal_high": 100, "critical_high": 90}}),
            "ranges.critical_high",
        ),
        (
            json!({"ranges": {"critical_low": 40, "normal_low": 50, "normal_high": 100, "critical_high": 130},
                   "change": {"amount": 0, "unit": "units", "within_hours": 24}}),
            "change.amount",
        ),
        (
            json!({"ranges": {"critical_low": 40, "normal_low": 50, "normal_high": 100, "critical_high": 130},
                   "change": {"amount": 5, "unit": "units", "within_hours": 0}}),
            "change.within_hours",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = app
            .put_as(
                &w.staff_a,
                &format!("/v1/patients/{p}/reading-alerts/pulse"),
                body,
            )
            .await;
        assert_eq!(status, 422, "{answer}");
        assert!(error_message(&answer).contains(field), "{field}: {answer}");
    }
    let t = now(&app);
    for (vital, value, taken_at, field) in [
        ("temperature", json!(37.0), t, "vital"),
        ("pulse", json!("NaN"), t, "value"),
        ("pulse", json!(null), t, "value"),
        ("pulse", json!(70), t + Duration::minutes(6), "taken_at"),
    ] {
        let (status, answer) = post_reading(&app, &w.staff_a, &p, vital, value, taken_at).await;
        assert_eq!(status, 422, "{answer}");
        assert!(
            error_message(&answer).starts_with(field),
            "{field}: {answer}"
        );
    }
    // A device clock a little ahead is fine.
    let (status, _) = post_reading(
        &app,
        &w.staff_a,
        &p,
        "pulse",
        json!(70),
        t + Duration::minutes(4),
    )
    .await;
    assert_eq!(status, 201);
}

async fn an_unknown_vital_in_the_path_is_not_found(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let p = patient(&app, &w, "Gil").await;
    for path in [
        w.practice_a_path("/reading-alerts/temperature"),
        format!("/v1/patients/{p}/reading-alerts/temperature"),
    ] {
        let (status, body) = app.get_as(&w.admin_a, &path).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
}

async fn create_token(app: &TestApp, customer: &str, admin: &str) -> (String, String) {
    let (status, body) = app
        .post_as(
            admin,
            &format!("/v1/customers/{customer}/api-tokens"),
            json!({"name": "Acme devices", "scopes": ["readings:write"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    (
        body["id"].as_str().unwrap().to_string(),
        body["token"].as_str().unwrap().to_string(),
    )
}

async fn an_api_token_posts_readings_until_it_is_revoked(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let p = patient(&app, &w, "Hu").await;
    // Staff cannot create tokens; bad scopes are refused naming the entry.
    let path = w.customer_a_path("/api-tokens");
    let (status, _) = app
        .post_as(
            &w.staff_a,
            &path,
            json!({"name": "x", "scopes": ["readings:write"]}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = app
        .post_as(
            &w.admin_a,
            &path,
            json!({"name": "x", "scopes": ["everything"]}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(error_message(&body).starts_with("scopes[0]"));
    let (id, token) = create_token(&app, &w.customer_a, &w.admin_a).await;
    let (status, body) = post_reading(&app, &token, &p, "pulse", json!(72), now(&app)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["source_api_token_id"], id.as_str());
    assert_eq!(body["status"], "unclassified");
    // A token is not a session: it cannot read.
    let (status, _) = app
        .get_as(&token, &format!("/v1/patients/{p}/readings"))
        .await;
    assert_eq!(status, 401);
    // The admin of another customer cannot see the token; its own admin revokes it.
    let (status, _) = app
        .delete_as(&w.admin_b, &format!("/v1/api-tokens/{id}"))
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .delete_as(&w.admin_a, &format!("/v1/api-tokens/{id}"))
        .await;
    assert_eq!(status, 204);
    let (status, body) = post_reading(&app, &token, &p, "pulse", json!(72), now(&app)).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = post_reading(&app, "not-a-token", &p, "pulse", json!(72), now(&app)).await;
    assert_eq!(status, 401);
}

async fn other_customers_tokens_and_staff_cannot_reach_a_patient(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let p = patient(&app, &w, "Ivo").await;
    let (_, token_b) = create_token(&app, &w.customer_b, &w.admin_b).await;
    let (status, _) = post_reading(&app, &token_b, &p, "pulse", json!(72), now(&app)).await;
    assert_eq!(status, 404);
    let (status, _) = post_reading(&app, &w.staff_b, &p, "pulse", json!(72), now(&app)).await;
    assert_eq!(status, 404);
    for path in [
        format!("/v1/patients/{p}/readings"),
        format!("/v1/patients/{p}/reading-alerts/pulse"),
    ] {
        let (status, _) = app.get_as(&w.staff_b, &path).await;
        assert_eq!(status, 404, "{path}");
    }
    let (status, _) = app
        .get_as(&w.admin_b, &w.practice_a_path("/reading-alerts/pulse"))
        .await;
    assert_eq!(status, 404);
    // An unknown patient is 404 for a token of the right customer too.
    let (_, token_a) = create_token(&app, &w.customer_a, &w.admin_a).await;
    let (status, _) = post_reading(
        &app,
        &token_a,
        "0190a0b0-0000-7000-8000-000000000000",
        "pulse",
        json!(72),
        now(&app),
    )
    .await;
    assert_eq!(status, 404);
}

async fn reading_frequency_reads_back_as_saved_and_refuses_bad_numbers(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let path = w.practice_a_path("/reading-frequency");
    let (status, initial) = app.get_as(&w.staff_a, &path).await;
    assert_eq!(status, 200);
    assert_eq!(initial["warn_after_days"], 0);
    assert_eq!(initial["updated_at"], Value::Null);
    let body = json!({"warn_after_days": 3, "out_of_range_count": 2,
                      "vitals": [{"vital": "pulse", "readings": 1, "per_days": 1},
                                 {"vital": "body_weight", "readings": 2, "per_days": 7}]});
    let (status, _) = app.put_as(&w.staff_a, &path, body.clone()).await;
    assert_eq!(status, 403);
    let saved = put(&app, &path, &w.admin_a, body).await;
    assert_eq!(saved["out_of_range_count"], 2);
    assert_eq!(saved["vitals"].as_array().unwrap().len(), 2);
    let (_, read) = app.get_as(&w.staff_a, &path).await;
    assert_eq!(read["warn_after_days"], 3);
    for (body, field) in [
        (
            json!({"warn_after_days": 366, "out_of_range_count": 0}),
            "warn_after_days",
        ),
        (
            json!({"warn_after_days": 1, "out_of_range_count": 0, "vitals": [{"vital": "pulse", "readings": 0, "per_days": 1}]}),
            "vitals[0].readings",
        ),
        (
            json!({"warn_after_days": 1, "out_of_range_count": 0, "vitals": [{"vital": "pulse", "readings": 1, "per_days": 1}, {"vital": "pulse", "readings": 1, "per_days": 2}]}),
            "vitals[1].vital",
        ),
    ] {
        let (status, answer) = app.put_as(&w.admin_a, &path, body).await;
        assert_eq!(status, 422, "{answer}");
        assert!(
            error_message(&answer).starts_with(field),
            "{field}: {answer}"
        );
    }
}

async fn user_id(app: &TestApp, token: &str) -> String {
    let (status, me) = app.get_as(token, "/v1/me").await;
    assert_eq!(status, 200, "{me}");
    me["id"]
        .as_str()
        .or_else(|| me["user"]["id"].as_str())
        .unwrap()
        .to_string()
}

async fn on_call_schedules_are_saved_and_read_back_by_practice_admins(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    crate::oncall::able_to_act(&app, &w).await;
    let path = w.practice_a_path("/on-call");
    let schedule = json!([
        {"from": "22:00", "to": "06:00", "user_id": w.staff_a_id},
        {"from": "06:00", "to": "22:00", "user_id": w.idle_a_id},
    ]);
    let (status, _) = app.put_as(&w.staff_a, &path, schedule.clone()).await;
    assert_eq!(status, 403);
    let saved = put(&app, &path, &w.admin_a, schedule.clone()).await;
    assert_eq!(saved, schedule);
    let (status, read) = app.get_as(&w.staff_a, &path).await;
    assert_eq!((status, read), (200, schedule.clone()));
    let stranger = user_id(&app, &w.staff_b).await;
    for (body, field) in [
        (
            json!([{"from": "7:00", "to": "08:00", "user_id": w.staff_a_id}]),
            "[0].from",
        ),
        (
            json!([{"from": "07:00", "to": "24:00", "user_id": w.staff_a_id}]),
            "[0].to",
        ),
        (
            json!([{"from": "07:00", "to": "08:00", "user_id": w.staff_a_id}, {"from": "07:00", "to": "08:00", "user_id": w.staff_a_id}]),
            "[1]",
        ),
        (
            json!([{"from": "07:00", "to": "08:00", "user_id": w.staff_a_id}, {"from": "08:00", "to": "09:00", "user_id": stranger}]),
            "[1].user_id",
        ),
    ] {
        let (status, answer) = app.put_as(&w.admin_a, &path, body).await;
        assert_eq!(status, 422, "{answer}");
        assert!(
            error_message(&answer).starts_with(field),
            "{field}: {answer}"
        );
    }
    // Refused saves changed nothing; another customer's admin does not see the practice.
    let (_, read) = app.get_as(&w.admin_a, &path).await;
    assert_eq!(read, schedule);
    let (status, _) = app.get_as(&w.admin_b, &path).await;
    assert_eq!(status, 404);
}

async fn who_is_on_call_now_follows_overnight_windows_and_the_dst_night(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    crate::oncall::able_to_act(&app, &w).await;
    // The practice is in America/New_York. Overnight 22:00–06:00 for staff; 01:00–02:00 for the
    // idle user, which on 2026-11-01 happens twice (01:30 EDT = 05:30Z, 01:30 EST = 06:30Z).
    put(
        &app,
        &w.practice_a_path("/on-call"),
        &w.admin_a,
        json!([
            {"from": "22:00", "to": "06:00", "user_id": w.staff_a_id},
            {"from": "01:00", "to": "02:00", "user_id": w.idle_a_id},
        ]),
    )
    .await;
    let now_path = w.practice_a_path("/on-call/now");
    let at = |y, mo, d, h, mi| Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
    let cases = [
        // 10:00 EST: nobody.
        (at(2026, 3, 2, 15, 0), "10:00", vec![]),
        // 22:30 EST on March 2: the overnight window, before midnight.
        (at(2026, 3, 3, 3, 30), "22:30", vec![w.staff_a_id.clone()]),
        // 05:59 EST: still the overnight window, after midnight.
        (at(2026, 3, 3, 10, 59), "05:59", vec![w.staff_a_id.clone()]),
        // 06:00 EST: the window has ended (to is exclusive).
        (at(2026, 3, 3, 11, 0), "06:00", vec![]),
        // The DST night: both 01:30s are inside both windows.
        (
            at(2026, 11, 1, 5, 30),
            "01:30",
            vec![w.staff_a_id.clone(), w.idle_a_id.clone()],
        ),
        (
            at(2026, 11, 1, 6, 30),
            "01:30",
            vec![w.staff_a_id.clone(), w.idle_a_id.clone()],
        ),
        // 02:30 EST: only the overnight window.
        (at(2026, 11, 1, 7, 30), "02:30", vec![w.staff_a_id.clone()]),
    ];
    for (instant, local, expected) in cases {
        app.clock.set(instant);
        // Moving the clock ends idle sessions: log in again at each instant.
        let token = app.login("staff-a", PASSWORD).await;
        let (status, body) = app.get_as(&token, &now_path).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["local_time"], local, "{instant}: {body}");
        assert_eq!(body["user_ids"], json!(expected), "{instant}: {body}");
        assert_eq!(body["timezone"], "America/New_York");
    }
    // The answer also says when the set next changes.
    app.clock.set(at(2026, 11, 1, 5, 30));
    let token = app.login("staff-a", PASSWORD).await;
    let (_, body) = app.get_as(&token, &now_path).await;
    assert!(body["next_change_at"].is_string(), "{body}");
}

async fn the_openapi_document_lists_the_reading_routes(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    for (path, methods) in [
        (
            "/v1/practices/{id}/reading-alerts/{vital}",
            &["get", "put"][..],
        ),
        (
            "/v1/patients/{id}/reading-alerts/{vital}",
            &["get", "put"][..],
        ),
        ("/v1/practices/{id}/reading-frequency", &["get", "put"][..]),
        ("/v1/patients/{id}/reading-frequency", &["get", "put"][..]),
        ("/v1/practices/{id}/on-call", &["get", "put"][..]),
        ("/v1/practices/{id}/on-call/now", &["get"][..]),
        ("/v1/customers/{id}/api-tokens", &["post"][..]),
        ("/v1/api-tokens/{id}", &["delete"][..]),
        ("/v1/readings", &["post"][..]),
        ("/v1/patients/{id}/readings", &["get"][..]),
    ] {
        for method in methods {
            let operation = &doc["paths"][path][method];
            assert!(operation.is_object(), "{method} {path} is not documented");
            assert!(
                operation["responses"]["401"].is_object(),
                "{method} {path} documents no 401"
            );
        }
    }
    let schemas = &doc["components"]["schemas"];
    for name in [
        "ReadingView",
        "RangesBody",
        "ChangeBody",
        "OnCallWindowBody",
        "CreatedApiToken",
        "ReadingFrequencyView",
        "PatientReadingFrequencyView",
    ] {
        assert!(schemas[name].is_object(), "schema {name} missing");
    }
    assert!(doc["paths"]["/v1/readings"]["post"]["responses"]["201"].is_object());
}

async fn a_patient_carries_a_copy_of_the_frequency_that_staff_may_change_and_all_patients_replaces(
    backend: Backend,
) {
    let (app, w) = app_with_world(backend).await;
    let before = patient(&app, &w, "Bea").await;
    let practice_path = w.practice_a_path("/reading-frequency");
    put(
        &app,
        &practice_path,
        &w.admin_a,
        json!({"warn_after_days": 3, "out_of_range_count": 2,
               "vitals": [{"vital": "pulse", "readings": 1, "per_days": 1}]}),
    )
    .await;
    let after = patient(&app, &w, "Cal").await;
    let vitals_of = |body: &Value| -> Vec<(String, u64, u64)> {
        body["vitals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["vital"].as_str().unwrap().to_string(),
                    v["readings"].as_u64().unwrap(),
                    v["per_days"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let read = |p: String| {
        let app = &app;
        let token = w.staff_a.clone();
        async move {
            let (status, body) = app
                .get_as(&token, &format!("/v1/patients/{p}/reading-frequency"))
                .await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    // Saved for new patients (the default): only the patient created afterwards has it.
    assert!(vitals_of(&read(before.clone()).await).is_empty());
    let copy = read(after.clone()).await;
    assert_eq!(vitals_of(&copy), vec![("pulse".into(), 1, 1)]);
    assert_eq!(copy["warn_after_days"], 3);
    assert_eq!(copy["out_of_range_count"], 2);
    assert!(copy["vitals"][0]["set_at"].is_string());
    // Staff who see the patient change the patient's own vitals; the practice's rules may be
    // sent back as they are, but not changed here.
    let patient_path = format!("/v1/patients/{after}/reading-frequency");
    let changed = put(
        &app,
        &patient_path,
        &w.staff_a,
        json!({"warn_after_days": 3, "vitals": [{"vital": "spo2", "readings": 2, "per_days": 7}]}),
    )
    .await;
    assert_eq!(vitals_of(&changed), vec![("spo2".into(), 2, 7)]);
    for (body, field) in [
        (
            json!({"warn_after_days": 5, "vitals": []}),
            "warn_after_days",
        ),
        (
            json!({"out_of_range_count": 1, "vitals": []}),
            "out_of_range_count",
        ),
        (
            json!({"vitals": [{"vital": "pulse", "readings": 1, "per_days": 400}]}),
            "vitals[0].per_days",
        ),
        (
            json!({"vitals": [{"vital": "pulse", "readings": 1, "per_days": 1}], "apply_to": "all_patients"}),
            "apply_to",
        ),
    ] {
        let (status, answer) = app.put_as(&w.staff_a, &patient_path, body).await;
        assert_eq!(status, 422, "{answer}");
        assert!(error_message(&answer).contains(field), "{answer}");
    }
    assert_eq!(
        vitals_of(&read(after.clone()).await),
        vec![("spo2".into(), 2, 7)]
    );
    // Another customer's staff cannot see the patient at all.
    let (status, _) = app.get_as(&w.staff_b, &patient_path).await;
    assert_eq!(status, 404);
    let (status, _) = app
        .put_as(&w.staff_b, &patient_path, json!({"vitals": []}))
        .await;
    assert_eq!(status, 404);
    // Saved for all patients: every patient of the practice gets the practice's vitals.
    put(
        &app,
        &practice_path,
        &w.admin_a,
        json!({"warn_after_days": 3, "out_of_range_count": 2, "apply_to": "all_patients",
               "vitals": [{"vital": "body_weight", "readings": 1, "per_days": 7}]}),
    )
    .await;
    for p in [before, after] {
        assert_eq!(
            vitals_of(&read(p).await),
            vec![("body_weight".into(), 1, 7)]
        );
    }
}

async fn a_new_patient_copies_the_patient_defaults_and_only_all_patients_reaches_the_others(
    backend: Backend,
) {
    let (app, w) = app_with_world(backend).await;
    let before = patient(&app, &w, "Dee").await;
    let defaults = format!(
        "/v1/practices/{}/notification-defaults/patients",
        w.practice_a
    );
    let critical_by_text =
        json!({"kind": "reading_critical", "enabled": true, "email": false, "text": true});
    put(
        &app,
        &defaults,
        &w.admin_a,
        json!({"settings": [critical_by_text]}),
    )
    .await;
    let after = patient(&app, &w, "Eve").await;
    let critical_of = |p: String| {
        let app = &app;
        let token = w.staff_a.clone();
        async move {
            let (status, body) = app
                .get_as(&token, &format!("/v1/patients/{p}/notification-settings"))
                .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["settings"].as_array().unwrap().len(), 3, "every kind");
            body["settings"][1].clone()
        }
    };
    // New patients only (the default): the earlier patient keeps everything off.
    assert_eq!(critical_of(after.clone()).await, critical_by_text);
    assert_eq!(critical_of(before.clone()).await["enabled"], false);
    // Another customer's staff cannot see or change the patient's settings.
    let path = format!("/v1/patients/{after}/notification-settings");
    let (status, _) = app.get_as(&w.staff_b, &path).await;
    assert_eq!(status, 404);
    let (status, _) = app.put_as(&w.staff_b, &path, json!({"settings": []})).await;
    assert_eq!(status, 404);
    // For all patients: both get the new default.
    let critical_in_portal =
        json!({"kind": "reading_critical", "enabled": true, "email": false, "text": false});
    put(
        &app,
        &defaults,
        &w.admin_a,
        json!({"settings": [critical_in_portal], "apply_to": "all_patients"}),
    )
    .await;
    assert_eq!(critical_of(before).await, critical_in_portal);
    assert_eq!(critical_of(after).await, critical_in_portal);
}
