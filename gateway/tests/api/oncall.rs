//! On-call over HTTP: weekly windows with weekdays, dated overrides that take precedence, who is
//! on call now and when that changes, the alert reaching whoever `/on-call/now` names, the rule
//! that on-call users can act (422 naming the field), the hand-over of on-call duty on lock and
//! on loss of access (409 without `reassign_to`), and practice settings that must parse (time
//! zone) or stay in bounds (escalation delay).

use chrono::{DateTime, TimeZone, Utc};
use gateway::clock::Clock;
use reqwest::Method;
use serde_json::{Value, json};

use crate::accounts::{PASSWORD, World, app_with_world, post};
use crate::alerts::ward_with;
use crate::both_backends;
use crate::helpers::{Backend, TestApp, error_message, eventually, spawn_app};

both_backends!(
    weekday_windows_read_back_and_decide_who_is_on_call_now_across_the_dst_weekend,
    bad_days_answer_422_naming_the_entry,
    an_override_takes_precedence_until_it_ends_and_now_says_so,
    bad_overrides_answer_422_naming_the_field_and_change_nothing,
    only_users_who_can_act_may_be_put_on_call,
    a_critical_alert_reaches_whoever_on_call_now_names_under_an_override,
    locking_hands_over_overrides_too_and_only_to_someone_who_can_act,
    taking_away_a_users_access_hands_over_their_on_call_duty_or_answers_409,
    a_practice_time_zone_that_does_not_parse_is_refused_on_create_and_patch,
    the_escalation_delay_is_one_to_sixty_minutes,
    the_openapi_document_describes_the_on_call_routes,
);

pub const NURSE_MOBILE: &str = "+14155550171";
const DOCTOR_MOBILE: &str = "+14155550172";

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

async fn expect(app: &TestApp, method: Method, path: &str, token: &str, body: Value) -> Value {
    let (status, answer) = app
        .call(method.clone(), path, Some(token), Some(body))
        .await;
    assert_eq!(status, 200, "{method} {path}: {answer}");
    answer
}

/// Asserts a 422 whose message starts with `field`, and returns the message.
async fn refused(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
    field: &str,
) -> String {
    let (status, answer) = app.call(method, path, Some(token), Some(body)).await;
    assert_eq!(status, 422, "{field}: {answer}");
    let message = error_message(&answer).to_string();
    assert!(message.starts_with(field), "{field}: {message}");
    message
}

/// Gives staff-a and idle-a of the world what an on-call user needs: a mobile number each, and
/// for idle-a a place at practice a. Staff-a is "the nurse", idle-a "the doctor".
pub async fn able_to_act(app: &TestApp, w: &World) {
    expect(
        app,
        Method::PATCH,
        &w.staff_a_path(""),
        &w.admin_a,
        json!({"mobile_phone": NURSE_MOBILE}),
    )
    .await;
    expect(
        app,
        Method::PATCH,
        &format!("/v1/users/{}", w.idle_a_id),
        &w.admin_a,
        json!({"mobile_phone": DOCTOR_MOBILE, "practice_ids": [w.practice_a]}),
    )
    .await;
}

/// Gives `user_id` a mobile number of its own (so it may be put on call).
pub async fn give_mobile(app: &TestApp, admin: &str, user_id: &str) {
    expect(
        app,
        Method::PATCH,
        &format!("/v1/users/{user_id}"),
        admin,
        json!({"mobile_phone": "+14155550179"}),
    )
    .await;
}

/// A fresh user of customer a.
async fn new_user(app: &TestApp, w: &World, username: &str, extra: Value) -> String {
    let mut body = json!({"username": username, "password": PASSWORD, "role": "staff",
                          "customer_id": w.customer_a});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    post(app, "/v1/users", &w.root, body).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Moves the clock and logs staff-a in again (moving the clock idles sessions out).
async fn now_at(app: &TestApp, w: &World, instant: DateTime<Utc>) -> Value {
    app.clock.set(instant);
    let token = app.login("staff-a", PASSWORD).await;
    let (status, body) = app.get_as(&token, &w.practice_a_path("/on-call/now")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn weekday_windows_read_back_and_decide_who_is_on_call_now_across_the_dst_weekend(
    backend: Backend,
) {
    let (app, w) = app_with_world(backend).await;
    able_to_act(&app, &w).await;
    let path = w.practice_a_path("/on-call");
    let (nurse, doctor) = (&w.staff_a_id, &w.idle_a_id);
    let saved = expect(
        &app,
        Method::PUT,
        &path,
        &w.admin_a,
        json!([
            {"from": "08:00", "to": "17:00", "user_id": nurse, "days": ["fri", "mon", "tue", "wed", "thu"]},
            {"from": "17:00", "to": "08:00", "user_id": doctor, "days": ["fri"]},
            {"from": "00:00", "to": "00:00", "user_id": doctor, "days": ["sat", "sun"]},
            {"from": "12:00", "to": "13:00", "user_id": nurse,
             "days": ["sun", "sat", "fri", "thu", "wed", "tue", "mon"]},
        ]),
    )
    .await;
    // Days read back Monday first; every day reads back as no `days` at all.
    let expected = json!([
        {"from": "08:00", "to": "17:00", "user_id": nurse, "days": ["mon", "tue", "wed", "thu", "fri"]},
        {"from": "17:00", "to": "08:00", "user_id": doctor, "days": ["fri"]},
        {"from": "00:00", "to": "00:00", "user_id": doctor, "days": ["sat", "sun"]},
        {"from": "12:00", "to": "13:00", "user_id": nurse},
    ]);
    assert_eq!(saved, expected);
    let (_, read) = app.get_as(&w.staff_a, &path).await;
    assert_eq!(read, expected);

    // The practice is in New York; 2026-03-08 (a Sunday) the clocks go forward.
    let cases = [
        // Monday 10:00 EST: the weekday window (the lunch window changes nothing) until 17:00.
        (
            at(2026, 3, 2, 15, 0),
            "10:00",
            vec![nurse],
            Some("2026-03-02T22:00:00Z"),
        ),
        // Friday 23:00 EST: the doctor's Friday night runs into the weekend window; the nurse
        // joins for Saturday lunch.
        (
            at(2026, 3, 7, 4, 0),
            "23:00",
            vec![doctor],
            Some("2026-03-07T17:00:00Z"),
        ),
        // Sunday 12:30 EDT: the weekend window and the every-day lunch window.
        (
            at(2026, 3, 8, 16, 30),
            "12:30",
            vec![doctor, nurse],
            Some("2026-03-08T17:00:00Z"),
        ),
        // Sunday 13:00 EDT: the weekend window alone, until Monday 00:00 EDT (the night after
        // the clocks went forward).
        (
            at(2026, 3, 8, 17, 0),
            "13:00",
            vec![doctor],
            Some("2026-03-09T04:00:00Z"),
        ),
        // Monday 07:00 EDT: nobody until the weekday window at 08:00 EDT.
        (
            at(2026, 3, 9, 11, 0),
            "07:00",
            vec![],
            Some("2026-03-09T12:00:00Z"),
        ),
    ];
    for (instant, local, users, next) in cases {
        let body = now_at(&app, &w, instant).await;
        assert_eq!(body["local_time"], local, "{instant}: {body}");
        assert_eq!(body["user_ids"], json!(users), "{instant}: {body}");
        assert_eq!(body["overridden"], false, "{instant}: {body}");
        assert_eq!(body["next_change_at"], json!(next), "{instant}: {body}");
    }
}

async fn bad_days_answer_422_naming_the_entry(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    able_to_act(&app, &w).await;
    let path = w.practice_a_path("/on-call");
    let nurse = &w.staff_a_id;
    for (days, field) in [
        (json!([]), "[1].days"),
        (json!(["mon", "Tue"]), "[1].days[1]"),
        (json!(["monday"]), "[1].days[0]"),
        (json!(["sat", "sun", "sat"]), "[1].days[2]"),
        (json!("mon"), "[1].days"),
    ] {
        let body = json!([
            {"from": "08:00", "to": "17:00", "user_id": nurse},
            {"from": "08:00", "to": "17:00", "user_id": nurse, "days": days},
        ]);
        refused(&app, Method::PUT, &path, &w.admin_a, body, field).await;
    }
    // The same hours on other days are another window; the very same window is a repeat.
    let body = json!([
        {"from": "08:00", "to": "17:00", "user_id": nurse, "days": ["mon"]},
        {"from": "08:00", "to": "17:00", "user_id": nurse, "days": ["tue"]},
        {"from": "08:00", "to": "17:00", "user_id": nurse, "days": ["mon"]},
    ]);
    refused(&app, Method::PUT, &path, &w.admin_a, body, "[2]").await;
    let (_, read) = app.get_as(&w.admin_a, &path).await;
    assert_eq!(read, json!([]), "refused saves change nothing");
}

async fn an_override_takes_precedence_until_it_ends_and_now_says_so(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    able_to_act(&app, &w).await;
    let (nurse, doctor) = (&w.staff_a_id, &w.idle_a_id);
    expect(
        &app,
        Method::PUT,
        &w.practice_a_path("/on-call"),
        &w.admin_a,
        json!([{"from": "00:00", "to": "00:00", "user_id": nurse}]),
    )
    .await;
    let path = w.practice_a_path("/on-call/overrides");
    // The clock stands at 2026-03-02T15:00Z; instants may carry any offset and read back in UTC.
    let saved = expect(
        &app,
        Method::PUT,
        &path,
        &w.admin_a,
        json!([
            {"user_id": doctor, "from": "2026-03-02T10:30:00-05:00", "to": "2026-03-02T17:00:00Z"},
            {"user_id": nurse, "from": "2026-12-24T00:00:00-05:00", "to": "2026-12-26T00:00:00-05:00"},
        ]),
    )
    .await;
    let expected = json!([
        {"user_id": doctor, "from": "2026-03-02T15:30:00Z", "to": "2026-03-02T17:00:00Z"},
        {"user_id": nurse, "from": "2026-12-24T05:00:00Z", "to": "2026-12-26T05:00:00Z"},
    ]);
    assert_eq!(saved, expected);
    let (status, read) = app.get_as(&w.staff_a, &path).await;
    assert_eq!((status, &read), (200, &expected));

    let body = now_at(&app, &w, at(2026, 3, 2, 15, 0)).await;
    assert_eq!(body["user_ids"], json!([nurse]), "{body}");
    assert_eq!(body["overridden"], false);
    assert_eq!(body["next_change_at"], "2026-03-02T15:30:00Z");
    let body = now_at(&app, &w, at(2026, 3, 2, 15, 45)).await;
    assert_eq!(body["user_ids"], json!([doctor]), "{body}");
    assert_eq!(body["overridden"], true);
    assert_eq!(body["next_change_at"], "2026-03-02T17:00:00Z");
    // Ended: back to the weekly window, and no longer listed.
    let body = now_at(&app, &w, at(2026, 3, 2, 17, 0)).await;
    assert_eq!(body["user_ids"], json!([nurse]), "{body}");
    assert_eq!(body["overridden"], false);
    // The nurse's own Christmas override changes nothing: nurse is always on call anyway.
    assert_eq!(body["next_change_at"], Value::Null, "{body}");
    let admin = app.login("admin-a", PASSWORD).await;
    let (_, read) = app.get_as(&admin, &path).await;
    assert_eq!(read, json!([expected[1]]));
    // `[]` removes them all.
    assert_eq!(
        expect(&app, Method::PUT, &path, &admin, json!([])).await,
        json!([])
    );
}

async fn bad_overrides_answer_422_naming_the_field_and_change_nothing(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    able_to_act(&app, &w).await;
    let path = w.practice_a_path("/on-call/overrides");
    let nurse = &w.staff_a_id;
    let good =
        json!({"user_id": nurse, "from": "2026-03-02T16:00:00Z", "to": "2026-03-02T18:00:00Z"});
    expect(&app, Method::PUT, &path, &w.admin_a, json!([good])).await;
    let one = |from: &str, to: &str| json!([{"user_id": nurse, "from": from, "to": to}]);
    // The clock stands at 2026-03-02T15:00Z.
    for (body, field) in [
        (
            one("2026-03-02T16:00:00Z", "2026-03-02T16:00:00Z"),
            "[0].to",
        ),
        (
            one("2026-03-02T17:00:00Z", "2026-03-02T16:00:00Z"),
            "[0].to",
        ),
        (
            one("2026-03-01T10:00:00Z", "2026-03-02T15:00:00Z"),
            "[0].to",
        ),
        (
            one("2027-03-01T00:00:00Z", "2027-03-04T00:00:00Z"),
            "[0].to",
        ),
        (
            one("2025-03-01T00:00:00Z", "2026-03-03T00:00:00Z"),
            "[0].to",
        ),
        (
            one("2026-03-02T16:00:30Z", "2026-03-02T18:00:00Z"),
            "[0].from",
        ),
        (one("tomorrow", "2026-03-02T18:00:00Z"), "[0].from"),
        (
            one("2026-03-02T16:00:00", "2026-03-02T18:00:00Z"),
            "[0].from",
        ),
        (
            one("2026-03-02T16:00:00Z", "2026-03-02T18:00:00.5Z"),
            "[0].to",
        ),
        (json!([good, good]), "[1]"),
        (
            json!([{"user_id": "00000000-0000-0000-0000-000000000000", "from": "2026-03-02T16:00:00Z", "to": "2026-03-02T18:00:00Z"}]),
            "[0].user_id",
        ),
        (json!(vec![good.clone(); 101]), "body"),
    ] {
        refused(&app, Method::PUT, &path, &w.admin_a, body, field).await;
    }
    let (_, read) = app.get_as(&w.admin_a, &path).await;
    assert_eq!(read, json!([good]));
    // Staff may read but not change them.
    let (status, _) = app.put_as(&w.staff_a, &path, json!([])).await;
    assert_eq!(status, 403);
    let (status, _) = app.get_as(&w.admin_b, &path).await;
    assert_eq!(status, 404);
}

async fn only_users_who_can_act_may_be_put_on_call(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let windows = w.practice_a_path("/on-call");
    let overrides = w.practice_a_path("/on-call/overrides");
    let ready = new_user(
        &app,
        &w,
        "ready",
        json!({"practice_ids": [w.practice_a], "mobile_phone": NURSE_MOBILE}),
    )
    .await;
    let locked = new_user(
        &app,
        &w,
        "gone",
        json!({"practice_ids": [w.practice_a], "mobile_phone": DOCTOR_MOBILE}),
    )
    .await;
    post(
        &app,
        &format!("/v1/users/{locked}/lock"),
        &w.root,
        json!({}),
    )
    .await;
    let (_, other) = app.get_as(&w.staff_b, "/v1/me").await;
    let cases = [
        // Staff-a is one of the practice's users but has no mobile number.
        (w.staff_a_id.clone(), "mobile number"),
        // Idle-a has no place at the practice.
        (w.idle_a_id.clone(), "cannot see this practice"),
        (locked, "is locked"),
        (
            other["id"].as_str().unwrap().to_string(),
            "is not a user of the practice's customer",
        ),
        (
            uuid::Uuid::now_v7().to_string(),
            "is not a user of the practice's customer",
        ),
    ];
    for (user, reason) in cases {
        let body = json!([
            {"from": "08:00", "to": "12:00", "user_id": ready},
            {"from": "12:00", "to": "17:00", "user_id": user},
            {"from": "17:00", "to": "20:00", "user_id": user},
        ]);
        let message = refused(&app, Method::PUT, &windows, &w.admin_a, body, "[1].user_id").await;
        assert!(message.contains(reason), "{reason}: {message}");
        let body = json!([
            {"user_id": user, "from": "2026-03-02T16:00:00Z", "to": "2026-03-02T18:00:00Z"},
        ]);
        let message = refused(
            &app,
            Method::PUT,
            &overrides,
            &w.admin_a,
            body,
            "[0].user_id",
        )
        .await;
        assert!(message.contains(reason), "{reason}: {message}");
    }
    // A customer admin sees every practice of the customer: with a mobile number they may be on
    // call without being one of its users.
    let admin = new_user(
        &app,
        &w,
        "on-call-admin",
        json!({"role": "customer_admin", "mobile_phone": DOCTOR_MOBILE}),
    )
    .await;
    expect(
        &app,
        Method::PUT,
        &windows,
        &w.admin_a,
        json!([{"from": "08:00", "to": "12:00", "user_id": ready}, {"from": "12:00", "to": "17:00", "user_id": admin}]),
    )
    .await;
}

async fn a_critical_alert_reaches_whoever_on_call_now_names_under_an_override(backend: Backend) {
    let w = ward_with(backend, |_| {}).await;
    let app = &w.c.app;
    // The ward's on-call user is on call all day; Dr Lee covers the next hour.
    let (_, me) = app.get_as(&w.c.staff, "/v1/me").await;
    let lee = post(
        app,
        "/v1/users",
        &w.root,
        json!({"username": "dr-lee", "password": PASSWORD, "role": "staff",
               "customer_id": me["customer_id"], "practice_ids": [w.practice],
               "mobile_phone": DOCTOR_MOBILE}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let now = app.clock.now();
    let hour_later = now + chrono::Duration::hours(1);
    expect(
        app,
        Method::PUT,
        &format!("/v1/practices/{}/on-call/overrides", w.practice),
        &w.root,
        json!([{"user_id": lee, "from": now, "to": hour_later}]),
    )
    .await;
    let (_, body) = app
        .get_as(
            &w.root,
            &format!("/v1/practices/{}/on-call/now", w.practice),
        )
        .await;
    assert_eq!(body["user_ids"], json!([lee]), "{body}");
    assert_eq!(body["next_change_at"], json!(hour_later), "{body}");
    let reading = w.reading(150.0).await;
    assert_eq!(reading["status"], "critical");
    let texts = eventually(10, "the alert text to Dr Lee", || async {
        let to_lee: Vec<_> =
            w.c.fake
                .received()
                .into_iter()
                .filter(|r| r.to == DOCTOR_MOBILE)
                .collect();
        (!to_lee.is_empty()).then_some(to_lee)
    })
    .await;
    assert_eq!(texts.len(), 1);
    let (_, weekly) = app
        .get_as(&w.root, &format!("/v1/users/{}", w.on_call))
        .await;
    let weekly_mobile = weekly["mobile_phone"].as_str().unwrap().to_string();
    assert!(
        w.c.fake.received().iter().all(|r| r.to != weekly_mobile),
        "the weekly on-call user is not on call while the override runs"
    );
}

async fn locking_hands_over_overrides_too_and_only_to_someone_who_can_act(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    able_to_act(&app, &w).await;
    let (nurse, doctor) = (&w.staff_a_id, &w.idle_a_id);
    let windows = w.practice_a_path("/on-call");
    let overrides = w.practice_a_path("/on-call/overrides");
    expect(
        &app,
        Method::PUT,
        &windows,
        &w.admin_a,
        json!([{"from": "00:00", "to": "00:00", "user_id": doctor}]),
    )
    .await;
    expect(
        &app,
        Method::PUT,
        &overrides,
        &w.admin_a,
        json!([{"user_id": nurse, "from": "2026-03-02T16:00:00Z", "to": "2026-03-02T18:00:00Z"}]),
    )
    .await;
    let (_, outstanding) = app
        .get_as(&w.admin_a, &format!("/v1/users/{nurse}/outstanding"))
        .await;
    assert_eq!(outstanding["on_call_at"], json!([]), "{outstanding}");
    assert_eq!(outstanding["on_call_overrides_at"], json!([w.practice_a]));
    assert_eq!(outstanding["total"], 1);
    let lock = format!("/v1/users/{nurse}/lock");
    let (status, body) = app.post_empty_as(&w.admin_a, &lock).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "outstanding_items");
    assert!(
        error_message(&body).contains("on-call overrides at 1 practice"),
        "{body}"
    );
    // A successor without a mobile number could not act on an alert: refused, nothing changes.
    let silent = new_user(&app, &w, "silent", json!({"practice_ids": [w.practice_a]})).await;
    let message = refused(
        &app,
        Method::POST,
        &lock,
        &w.admin_a,
        json!({"reassign_to": silent}),
        "reassign_to",
    )
    .await;
    assert!(message.contains("mobile number"), "{message}");
    let (_, user) = app.get_as(&w.admin_a, &format!("/v1/users/{nurse}")).await;
    assert!(user["locked_at"].is_null(), "{user}");
    expect(
        &app,
        Method::POST,
        &lock,
        &w.admin_a,
        json!({"reassign_to": doctor}),
    )
    .await;
    let (_, read) = app.get_as(&w.admin_a, &overrides).await;
    assert_eq!(
        read,
        json!([{"user_id": doctor, "from": "2026-03-02T16:00:00Z", "to": "2026-03-02T18:00:00Z"}])
    );
}

async fn taking_away_a_users_access_hands_over_their_on_call_duty_or_answers_409(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    able_to_act(&app, &w).await;
    let (nurse, doctor) = (&w.staff_a_id, &w.idle_a_id);
    let windows = w.practice_a_path("/on-call");
    expect(
        &app,
        Method::PUT,
        &windows,
        &w.admin_a,
        json!([
            {"from": "08:00", "to": "17:00", "user_id": nurse},
            {"from": "17:00", "to": "08:00", "user_id": doctor},
        ]),
    )
    .await;
    let nurse_path = format!("/v1/users/{nurse}");

    // PATCH /v1/users/{id}: leaving the practice needs a successor.
    let (status, body) = app
        .patch_as(&w.admin_a, &nurse_path, json!({"practice_ids": []}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "outstanding_items");
    assert!(error_message(&body).contains(&w.practice_a));
    let (_, user) = app.get_as(&w.admin_a, &nurse_path).await;
    assert_eq!(
        user["practice_ids"],
        json!([w.practice_a]),
        "nothing changed"
    );
    let (_, stranger) = app.get_as(&w.staff_b, "/v1/me").await;
    refused(
        &app,
        Method::PATCH,
        &nurse_path,
        &w.admin_a,
        json!({"practice_ids": [], "reassign_to": stranger["id"]}),
        "reassign_to",
    )
    .await;
    // Staff may not hand over duty, not even their own.
    let (status, _) = app
        .patch_as(&w.staff_a, &nurse_path, json!({"reassign_to": doctor}))
        .await;
    assert_eq!(status, 403);
    // Clearing one's own mobile number while on call: refused until an admin hands it over.
    let (status, body) = app
        .patch_as(&w.staff_a, &nurse_path, json!({"mobile_phone": ""}))
        .await;
    assert_eq!(status, 409, "{body}");
    // With a successor who can act, duty moves in the same change.
    let changed = expect(
        &app,
        Method::PATCH,
        &nurse_path,
        &w.admin_a,
        json!({"practice_ids": [], "reassign_to": doctor}),
    )
    .await;
    assert_eq!(changed["practice_ids"], json!([]));
    let (_, read) = app.get_as(&w.admin_a, &windows).await;
    assert_eq!(
        read,
        json!([
            {"from": "08:00", "to": "17:00", "user_id": doctor},
            {"from": "17:00", "to": "08:00", "user_id": doctor},
        ])
    );

    // PUT /v1/practices/{id}/users: the same rule. The nurse comes back with a mobile number.
    let users = w.practice_a_path("/users");
    let (status, body) = app
        .put_as(&w.admin_a, &users, json!({"user_ids": [nurse]}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "outstanding_items");
    // The successor must be able to act here after the change.
    refused(
        &app,
        Method::PUT,
        &users,
        &w.admin_a,
        json!({"user_ids": [], "reassign_to": nurse}),
        "reassign_to",
    )
    .await;
    let saved = expect(
        &app,
        Method::PUT,
        &users,
        &w.admin_a,
        json!({"user_ids": [nurse], "reassign_to": nurse}),
    )
    .await;
    assert_eq!(saved["user_ids"], json!([nurse]));
    let (_, read) = app.get_as(&w.admin_a, &windows).await;
    assert!(
        read.as_array()
            .unwrap()
            .iter()
            .all(|window| window["user_id"] == json!(nurse)),
        "{read}"
    );
    let (_, doctor_now) = app.get_as(&w.admin_a, &format!("/v1/users/{doctor}")).await;
    assert_eq!(doctor_now["practice_ids"], json!([]));
}

async fn a_practice_time_zone_that_does_not_parse_is_refused_on_create_and_patch(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let create = w.customer_a_path("/practices");
    for bad in [
        "Mars/Olympus",
        "",
        "  ",
        "america/new_york",
        "EST+5",
        "+05:00",
    ] {
        refused(
            &app,
            Method::POST,
            &create,
            &w.root,
            json!({"name": "New", "timezone": bad, "sms_number": "+14155550177"}),
            "timezone",
        )
        .await;
    }
    let practice = w.practice_a_path("");
    for bad in ["Mars/Olympus", "", "Europe/Londres"] {
        refused(
            &app,
            Method::PATCH,
            &practice,
            &w.admin_a,
            json!({"timezone": bad}),
            "timezone",
        )
        .await;
    }
    let (_, read) = app.get_as(&w.admin_a, &practice).await;
    assert_eq!(
        read["timezone"], "America/New_York",
        "refused patches change nothing"
    );
    let changed = expect(
        &app,
        Method::PATCH,
        &practice,
        &w.admin_a,
        json!({"timezone": " Europe/London "}),
    )
    .await;
    assert_eq!(changed["timezone"], "Europe/London");
    // On-call now reads in the new zone: 15:00Z on 2 March is 15:00 in London.
    let body = now_at(&app, &w, at(2026, 3, 2, 15, 0)).await;
    assert_eq!(body["timezone"], "Europe/London");
    assert_eq!(body["local_time"], "15:00");
}

async fn the_escalation_delay_is_one_to_sixty_minutes(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let practice = w.practice_a_path("");
    for bad in [json!(0), json!(61), json!(1440), json!(-5)] {
        refused(
            &app,
            Method::PATCH,
            &practice,
            &w.admin_a,
            json!({"escalation_delay_minutes": bad}),
            "escalation_delay_minutes",
        )
        .await;
    }
    for good in [1, 60] {
        let changed = expect(
            &app,
            Method::PATCH,
            &practice,
            &w.admin_a,
            json!({"escalation_delay_minutes": good}),
        )
        .await;
        assert_eq!(changed["escalation_delay_minutes"], good);
    }
}

async fn the_openapi_document_describes_the_on_call_routes(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    for (path, method, statuses) in [
        (
            "/v1/practices/{id}/on-call/overrides",
            "get",
            &["200", "401", "404"][..],
        ),
        (
            "/v1/practices/{id}/on-call/overrides",
            "put",
            &["200", "401", "403", "404", "422"][..],
        ),
        ("/v1/practices/{id}/on-call", "put", &["200", "422"][..]),
        ("/v1/practices/{id}/on-call/now", "get", &["200"][..]),
        ("/v1/users/{id}", "patch", &["200", "409", "422"][..]),
        ("/v1/users/{id}/lock", "post", &["200", "409", "422"][..]),
        (
            "/v1/practices/{id}/users",
            "put",
            &["200", "409", "422"][..],
        ),
    ] {
        let operation = &doc["paths"][path][method];
        for status in statuses {
            assert!(
                operation["responses"][status].is_object(),
                "{method} {path} documents no {status}"
            );
        }
    }
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["OnCallOverrideBody"]["properties"]["from"].is_object());
    assert!(schemas["OnCallWindowBody"]["properties"]["days"].is_object());
    assert!(schemas["OnCallNowView"]["properties"]["overridden"].is_object());
    assert!(schemas["PracticeUsersRequest"]["properties"]["reassign_to"].is_object());
    assert!(schemas["UserPatchRequest"]["properties"]["reassign_to"].is_object());
    assert!(schemas["OutstandingView"]["properties"]["on_call_overrides_at"].is_object());
}
