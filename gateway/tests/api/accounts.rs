//! Accounts, tenancy and the configuration admin API (issue 3), over real HTTP on both stores.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, error_message, items, spawn_app};

both_backends!(
    the_walk_through_creates_a_customer_a_practice_and_a_staff_user,
    a_session_ends_after_the_idle_timeout,
    logout_ends_the_session,
    wrong_and_missing_tokens_never_reach_data,
    a_locked_user_gets_423_at_login_and_their_token_stops_working_at_once,
    repeated_failed_logins_are_rate_limited_with_retry_after,
    every_route_answers_each_role_of_two_customers_as_it_should,
    bad_input_gets_400_or_422_naming_the_field,
    passwords_must_have_eight_characters_and_a_digit,
    default_users_join_practices_created_afterwards,
    groups_need_ten_practices_and_hide_from_other_customers,
    locking_with_outstanding_items_needs_reassign_to,
    the_audit_log_records_changes_with_who_and_where_for_admins_only,
    staff_see_only_their_own_practices,
);

pub const PASSWORD: &str = "correct-horse-1";

/// Two customers, each with an admin and a staff user in one practice, and a super admin.
pub struct World {
    pub root: String,
    pub customer_a: String,
    pub practice_a: String,
    pub admin_a: String,
    pub staff_a: String,
    pub staff_a_id: String,
    pub idle_a_id: String,
    pub customer_b: String,
    pub practice_b: String,
    pub admin_b: String,
    pub staff_b: String,
}

impl World {
    /// `/v1/practices/{practice_a}{rest}`.
    pub fn practice_a_path(&self, rest: &str) -> String {
        format!("/v1/practices/{}{rest}", self.practice_a)
    }

    /// `/v1/customers/{customer_a}{rest}`.
    pub fn customer_a_path(&self, rest: &str) -> String {
        format!("/v1/customers/{}{rest}", self.customer_a)
    }

    /// `/v1/users/{staff_a_id}{rest}`.
    pub fn staff_a_path(&self, rest: &str) -> String {
        format!("/v1/users/{}{rest}", self.staff_a_id)
    }
}

pub async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> Value {
    let (status, answer) = app.post_as(token, path, body).await;
    assert!(
        status == 200 || status == 201,
        "POST {path}: {status} {answer}"
    );
    answer
}

/// An application on a fresh database of `backend`, with [`world`] in it.
pub async fn app_with_world(backend: Backend) -> (TestApp, World) {
    let app = spawn_app(backend).await;
    let w = world(&app).await;
    (app, w)
}

pub async fn world(app: &TestApp) -> World {
    app.super_admin("root", PASSWORD).await;
    let root = app.login("root", PASSWORD).await;
    let mut ids = Vec::new();
    for (tag, sms) in [("a", "+14155550101"), ("b", "+14155550102")] {
        let customer = post(
            app,
            "/v1/customers",
            &root,
            json!({"name": format!("Customer {tag}")}),
        )
        .await;
        let cid = customer["id"].as_str().unwrap().to_string();
        let practice = post(
            app,
            &format!("/v1/customers/{cid}/practices"),
            &root,
            json!({"name": format!("Practice {tag}"), "timezone": "America/New_York", "sms_number": sms}),
        )
        .await;
        let pid = practice["id"].as_str().unwrap().to_string();
        let admin = post(
            app,
            "/v1/users",
            &root,
            json!({"username": format!("admin-{tag}"), "password": PASSWORD, "role": "customer_admin", "customer_id": cid, "practice_ids": [pid]}),
        )
        .await;
        let staff = post(
            app,
            "/v1/users",
            &root,
            json!({"username": format!("staff-{tag}"), "password": PASSWORD, "role": "staff", "customer_id": cid, "practice_ids": [pid]}),
        )
        .await;
        let idle = post(
            app,
            "/v1/users",
            &root,
            json!({"username": format!("idle-{tag}"), "password": PASSWORD, "role": "staff", "customer_id": cid}),
        )
        .await;
        let _ = admin;
        ids.push((
            cid,
            pid,
            staff["id"].as_str().unwrap().to_string(),
            idle["id"].as_str().unwrap().to_string(),
        ));
    }
    let admin_a = app.login("admin-a", PASSWORD).await;
    let staff_a = app.login("staff-a", PASSWORD).await;
    let admin_b = app.login("admin-b", PASSWORD).await;
    let staff_b = app.login("staff-b", PASSWORD).await;
    let (a, b) = (ids[0].clone(), ids[1].clone());
    World {
        root,
        customer_a: a.0,
        practice_a: a.1,
        admin_a,
        staff_a,
        staff_a_id: a.2,
        idle_a_id: a.3,
        customer_b: b.0,
        practice_b: b.1,
        admin_b,
        staff_b,
    }
}

async fn the_walk_through_creates_a_customer_a_practice_and_a_staff_user(backend: Backend) {
    let app = spawn_app(backend).await;
    app.super_admin("root", PASSWORD).await;
    let root = app.login("root", PASSWORD).await;
    let customer = post(&app, "/v1/customers", &root, json!({"name": "Acme Health"})).await;
    assert_eq!(customer["name"], "Acme Health");
    let cid = customer["id"].as_str().unwrap();
    let (status, practice) = app
        .post_as(
            &root,
            &format!("/v1/customers/{cid}/practices"),
            json!({"name": "Main St", "timezone": "America/Chicago", "sms_number": "(312) 555-0142"}),
        )
        .await;
    assert_eq!(status, 201, "{practice}");
    assert_eq!(
        practice["sms_number"], "+13125550142",
        "normalised to E.164"
    );
    assert_eq!(practice["escalation_delay_minutes"], 10);
    let pid = practice["id"].as_str().unwrap();
    let (status, staff) = app
        .post_as(
            &root,
            "/v1/users",
            json!({"username": "nurse", "password": "n3w-password", "role": "staff", "customer_id": cid, "practice_ids": [pid], "first_name": "Nora", "email": "nora@example.org", "auto_logout_minutes": 10}),
        )
        .await;
    assert_eq!(status, 201, "{staff}");
    assert!(staff.get("password").is_none() && staff.get("password_hash").is_none());
    let nurse = app.login("nurse", "n3w-password").await;
    let (status, me) = app.get_as(&nurse, "/v1/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["username"], "nurse");
    assert_eq!(me["role"], "staff");
    assert_eq!(me["practice_ids"], json!([pid]));
}

async fn a_session_ends_after_the_idle_timeout(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let _ = w;
    let (_, body) = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "staff-a", "password": PASSWORD})),
        )
        .await;
    let token = body["token"].as_str().unwrap().to_string();
    // Default idle timeout is 30 minutes: activity every 20 minutes keeps it alive.
    for _ in 0..3 {
        app.clock.advance(chrono::Duration::minutes(20));
        assert_eq!(app.get_as(&token, "/v1/me").await.0, 200);
    }
    app.clock.advance(chrono::Duration::minutes(31));
    let (status, body) = app.get_as(&token, "/v1/me").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "unauthorized");
}

async fn logout_ends_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.super_admin("root", PASSWORD).await;
    let token = app.login("root", PASSWORD).await;
    let other = app.login("root", PASSWORD).await;
    assert_eq!(app.post_empty_as(&token, "/v1/auth/logout").await.0, 204);
    assert_eq!(app.get_as(&token, "/v1/me").await.0, 401);
    assert_eq!(
        app.get_as(&other, "/v1/me").await.0,
        200,
        "other sessions live on"
    );
}

async fn wrong_and_missing_tokens_never_reach_data(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let path = w.customer_a_path("");
    assert_eq!(app.call(Method::GET, &path, None, None).await.0, 401);
    assert_eq!(app.get_as("not-a-token", &path).await.0, 401);
    let basic = app
        .client
        .get(app.url(&path))
        .header("authorization", "Basic cm9vdDpwdw==")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    let (status, body) = app.get_as("", &path).await;
    assert_eq!(status, 401, "{body}");
}

async fn a_locked_user_gets_423_at_login_and_their_token_stops_working_at_once(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    assert_eq!(app.get_as(&w.staff_a, "/v1/me").await.0, 200);
    let (status, body) = app
        .post_empty_as(&w.admin_a, &w.staff_a_path("/lock"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["locked"], true);
    assert_eq!(app.get_as(&w.staff_a, "/v1/me").await.0, 401);
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "staff-a", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 423, "{body}");
    assert_eq!(body["error"]["code"], "user_locked");
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": "staff-a", "password": "wrong-pass-1"})),
        )
        .await;
    assert_eq!(
        status, 423,
        "locked whatever the password: the answer confirms no guess"
    );
    let (status, _) = app
        .post_empty_as(&w.admin_a, &w.staff_a_path("/unlock"))
        .await;
    assert_eq!(status, 200);
    app.login("staff-a", PASSWORD).await;
}

#[tokio::test]
async fn locking_on_one_instance_ends_the_session_on_another_at_once() {
    let app = spawn_app(Backend::Postgres).await;
    let w = world(&app).await;
    let other = app.sibling().await;
    let me_on_other = || {
        app.client
            .get(other.url("/v1/me"))
            .bearer_auth(&w.staff_a)
            .send()
    };
    assert_eq!(
        me_on_other().await.unwrap().status(),
        200,
        "a session works on every instance"
    );
    let (status, _) = app
        .post_empty_as(&w.admin_a, &w.staff_a_path("/lock"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(me_on_other().await.unwrap().status(), 401);
}

async fn repeated_failed_logins_are_rate_limited_with_retry_after(backend: Backend) {
    let app = spawn_app(backend).await;
    app.super_admin("root", PASSWORD).await;
    let attempt = |password: &'static str| {
        app.client
            .post(app.url("/v1/auth/login"))
            .json(&json!({"username": "root", "password": password}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(attempt("wrong-password-1").await.unwrap().status(), 401);
    }
    let limited = attempt("wrong-password-1").await.unwrap();
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    // Even the right password waits: a guesser learns nothing while blocked.
    assert_eq!(attempt(PASSWORD).await.unwrap().status(), 429);
}

#[tokio::test]
async fn failed_logins_count_across_instances() {
    let app = spawn_app(Backend::Postgres).await;
    app.super_admin("root", PASSWORD).await;
    let other = app.sibling().await;
    let attempt = |url: String, password: &'static str| {
        app.client
            .post(url)
            .json(&json!({"username": "ROOT", "password": password}))
            .send()
    };
    // Three failures on one instance and two on the other use up the five.
    for _ in 0..3 {
        let answer = attempt(app.url("/v1/auth/login"), "wrong-password-1");
        assert_eq!(answer.await.unwrap().status(), 401);
    }
    for _ in 0..2 {
        let answer = attempt(other.url("/v1/auth/login"), "wrong-password-1");
        assert_eq!(answer.await.unwrap().status(), 401);
    }
    let sixth = attempt(app.url("/v1/auth/login"), "wrong-password-1");
    assert_eq!(sixth.await.unwrap().status(), 429);
    // Blocked on every instance, even with the right password.
    let right = attempt(other.url("/v1/auth/login"), PASSWORD);
    assert_eq!(right.await.unwrap().status(), 429);
    // Three minutes later one more attempt is allowed, and the right password works.
    app.clock.advance(chrono::Duration::minutes(3));
    let later = attempt(other.url("/v1/auth/login"), PASSWORD);
    assert_eq!(later.await.unwrap().status(), 200);
}

/// Expected answers, in the order the callers are tried: no token, staff B, admin B, staff A,
/// admin A, super admin. Unauthorised callers go first so state changes come after.
struct Case {
    method: Method,
    path: String,
    body: Option<Value>,
    expect: [u16; 6],
}

async fn every_route_answers_each_role_of_two_customers_as_it_should(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let (ca, pa, sa, idle) = (&w.customer_a, &w.practice_a, &w.staff_a_id, &w.idle_a_id);
    let new_user = |n: u32| json!({"username": format!("new-{n}"), "password": PASSWORD, "role": "staff", "customer_id": ca});
    let cases = vec![
        Case {
            method: Method::GET,
            path: format!("/v1/customers/{ca}"),
            body: None,
            expect: [401, 404, 404, 200, 200, 200],
        },
        Case {
            method: Method::PUT,
            path: format!("/v1/customers/{ca}/default-users"),
            body: Some(json!({"user_ids": []})),
            expect: [401, 404, 404, 403, 200, 200],
        },
        Case {
            method: Method::GET,
            path: format!("/v1/customers/{ca}/practices"),
            body: None,
            expect: [401, 404, 404, 200, 200, 200],
        },
        Case {
            method: Method::GET,
            path: format!("/v1/practices/{pa}"),
            body: None,
            expect: [401, 404, 404, 200, 200, 200],
        },
        Case {
            method: Method::PATCH,
            path: format!("/v1/practices/{pa}"),
            body: Some(json!({"escalation_delay_minutes": 15})),
            expect: [401, 404, 404, 403, 200, 200],
        },
        Case {
            method: Method::PUT,
            path: format!("/v1/practices/{pa}/users"),
            body: Some(json!({"user_ids": [sa]})),
            expect: [401, 404, 404, 403, 200, 200],
        },
        Case {
            method: Method::GET,
            path: format!("/v1/customers/{ca}/practice-groups"),
            body: None,
            expect: [401, 404, 404, 200, 200, 200],
        },
        Case {
            method: Method::POST,
            path: format!("/v1/customers/{ca}/practice-groups"),
            body: Some(json!({"name": "g"})),
            expect: [401, 404, 404, 403, 409, 409],
        },
        Case {
            method: Method::GET,
            path: format!("/v1/users/{sa}"),
            body: None,
            expect: [401, 404, 404, 200, 200, 200],
        },
        Case {
            method: Method::PATCH,
            path: format!("/v1/users/{sa}"),
            body: Some(json!({"title": "RN"})),
            expect: [401, 404, 404, 200, 200, 200],
        },
        Case {
            method: Method::PATCH,
            path: format!("/v1/users/{sa}"),
            body: Some(json!({"auto_logout_minutes": 45})),
            expect: [401, 404, 404, 403, 200, 200],
        },
        Case {
            method: Method::GET,
            path: format!("/v1/users/{sa}/outstanding"),
            body: None,
            expect: [401, 404, 404, 403, 200, 200],
        },
        Case {
            method: Method::POST,
            path: format!("/v1/users/{idle}/unlock"),
            body: None,
            expect: [401, 404, 404, 403, 200, 200],
        },
        Case {
            method: Method::POST,
            path: format!("/v1/users/{idle}/lock"),
            body: None,
            expect: [401, 404, 404, 403, 200, 200],
        },
        Case {
            method: Method::GET,
            path: format!("/v1/audit?customer_id={ca}"),
            body: None,
            expect: [401, 403, 404, 403, 200, 200],
        },
        Case {
            method: Method::POST,
            path: format!("/v1/customers/{ca}/practices"),
            body: None,
            expect: [401, 404, 404, 403, 403, 201],
        },
        Case {
            method: Method::POST,
            path: "/v1/users".into(),
            body: None,
            expect: [401, 403, 404, 403, 201, 201],
        },
        Case {
            method: Method::POST,
            path: "/v1/customers".into(),
            body: Some(json!({"name": "Another"})),
            expect: [401, 403, 403, 403, 403, 201],
        },
    ];
    let callers: [Option<&str>; 6] = [
        None,
        Some(&w.staff_b),
        Some(&w.admin_b),
        Some(&w.staff_a),
        Some(&w.admin_a),
        Some(&w.root),
    ];
    let mut serial = 0u32;
    for case in &cases {
        for (caller, expected) in callers.iter().zip(case.expect) {
            serial += 1;
            // Creation routes get a fresh body each time so repeated successes do not collide.
            let body = match (&case.body, case.path.as_str()) {
                (Some(body), _) => Some(body.clone()),
                (None, "/v1/users") => Some(new_user(serial)),
                (None, p) if p.ends_with("/practices") => Some(
                    json!({"name": "P", "timezone": "UTC", "sms_number": format!("+1415555{:04}", 2000 + serial)}),
                ),
                (None, _) => None,
            };
            let (status, answer) = app
                .call(case.method.clone(), &case.path, *caller, body)
                .await;
            assert_eq!(
                status, expected,
                "{} {} as caller #{serial}: {answer}",
                case.method, case.path
            );
            if status >= 400 {
                assert!(
                    answer["error"]["code"].is_string(),
                    "error shape for {} {}: {answer}",
                    case.method,
                    case.path
                );
            }
        }
    }
    // Nothing of customer A leaked into B's view of the world.
    let (_, practices_b) = app
        .get_as(
            &w.admin_b,
            &format!("/v1/customers/{}/practices", w.customer_b),
        )
        .await;
    assert!(
        items(&practices_b)
            .iter()
            .all(|p| p["customer_id"] == json!(w.customer_b))
    );
    let _ = w.practice_b;
}

async fn bad_input_gets_400_or_422_naming_the_field(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let malformed = app
        .authed(Method::POST, "/v1/customers", &w.root)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let cases = [
        ("/v1/customers", json!({}), "name"),
        ("/v1/customers", json!({"name": 5}), "name"),
        (
            &*w.customer_a_path("/practices"),
            json!({"name": "x", "timezone": "Nowhere/Land", "sms_number": "+14155550199"}),
            "timezone",
        ),
        (
            &*w.customer_a_path("/practices"),
            json!({"name": "x", "timezone": "UTC", "sms_number": "555"}),
            "sms_number",
        ),
        (
            &*w.customer_a_path("/practices"),
            json!({"name": "   ", "timezone": "UTC", "sms_number": "+14155550199"}),
            "name",
        ),
        (
            "/v1/users",
            json!({"username": "a b", "password": PASSWORD, "role": "staff", "customer_id": w.customer_a}),
            "username",
        ),
        (
            "/v1/users",
            json!({"username": "okname", "password": PASSWORD, "role": "janitor", "customer_id": w.customer_a}),
            "role",
        ),
        (
            "/v1/users",
            json!({"username": "okname", "password": PASSWORD, "role": "staff"}),
            "customer_id",
        ),
        (
            "/v1/users",
            json!({"username": "okname", "password": PASSWORD, "role": "staff", "customer_id": w.customer_a, "mobile_phone": "12"}),
            "mobile_phone",
        ),
        (
            "/v1/users",
            json!({"username": "okname", "password": PASSWORD, "role": "staff", "customer_id": w.customer_a, "practice_ids": [w.practice_b]}),
            "practice_ids[0]",
        ),
    ];
    for (path, body, field) in cases {
        let (status, answer) = app.post_as(&w.root, path, body.clone()).await;
        assert_eq!(status, 422, "{path} {body}: {answer}");
        let message = error_message(&answer);
        assert!(
            message.contains(field),
            "{path} {body}: message {message:?} should name {field}"
        );
    }
    let (status, answer) = app
        .patch_as(
            &w.root,
            &w.practice_a_path(""),
            json!({"escalation_delay_minutes": 0}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(error_message(&answer).contains("escalation_delay_minutes"));
    let (status, _) = app
        .get_as(&w.root, &w.customer_a_path("/practices?limit=0"))
        .await;
    assert_eq!(status, 422);
    let (status, _) = app.get_as(&w.root, "/v1/customers/not-a-uuid").await;
    assert!(status == 400 || status == 404, "{status}");
    let (status, body) = app
        .post_as(
            &w.root,
            &format!("/v1/customers/{}/practices", w.customer_b),
            json!({"name": "dup", "timezone": "UTC", "sms_number": "+14155550101"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "sms_number_taken");
}

async fn passwords_must_have_eight_characters_and_a_digit(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    for bad in ["short1", "no-digits-at-all"] {
        let (status, body) = app
            .post_as(
                &w.admin_a,
                "/v1/users",
                json!({"username": "pwuser", "password": bad, "role": "staff", "customer_id": w.customer_a}),
            )
            .await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert!(error_message(&body).starts_with("password"));
    }
    let (status, _) = app
        .patch_as(
            &w.staff_a,
            &w.staff_a_path(""),
            json!({"password": "weakweak", "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = app
        .patch_as(
            &w.staff_a,
            &w.staff_a_path(""),
            json!({"password": "stronger-pass-2", "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200);
    app.login("staff-a", "stronger-pass-2").await;
}

async fn default_users_join_practices_created_afterwards(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let (status, _) = app
        .put_as(
            &w.admin_a,
            &w.customer_a_path("/default-users"),
            json!({"user_ids": [w.idle_a_id]}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, customer) = app.get_as(&w.admin_a, &w.customer_a_path("")).await;
    assert_eq!(customer["default_user_ids"], json!([w.idle_a_id]));
    let practice = post(
        &app,
        &w.customer_a_path("/practices"),
        &w.root,
        json!({"name": "New", "timezone": "UTC", "sms_number": "+14155550177"}),
    )
    .await;
    let (_, idle) = app
        .get_as(&w.admin_a, &format!("/v1/users/{}", w.idle_a_id))
        .await;
    assert!(
        idle["practice_ids"]
            .as_array()
            .unwrap()
            .contains(&practice["id"])
    );
    let (status, body) = app
        .put_as(
            &w.admin_b,
            &format!("/v1/customers/{}/default-users", w.customer_b),
            json!({"user_ids": [w.idle_a_id]}),
        )
        .await;
    assert_eq!(
        status, 422,
        "users of another customer cannot be default users: {body}"
    );
}

async fn groups_need_ten_practices_and_hide_from_other_customers(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let (status, body) = app
        .post_as(
            &w.admin_a,
            &w.customer_a_path("/practice-groups"),
            json!({"name": "North"}),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "too_few_practices");
    let mut practices = vec![w.practice_a.clone()];
    for i in 0..9 {
        let p = post(
            &app,
            &w.customer_a_path("/practices"),
            &w.root,
            json!({"name": format!("P{i}"), "timezone": "UTC", "sms_number": format!("+1415555030{i}")}),
        ).await;
        practices.push(p["id"].as_str().unwrap().to_string());
    }
    let (status, group) = app
        .post_as(
            &w.admin_a,
            &w.customer_a_path("/practice-groups"),
            json!({"name": "North", "practice_ids": [practices[0], practices[1]], "default_user_ids": [w.idle_a_id]}),
        )
        .await;
    assert_eq!(status, 201, "{group}");
    let gid = group["id"].as_str().unwrap();
    let (status, body) = app
        .post_as(
            &w.admin_a,
            &w.customer_a_path("/practice-groups"),
            json!({"name": "South", "practice_ids": [practices[1]]}),
        )
        .await;
    assert_eq!(status, 409, "a practice is in at most one group: {body}");
    assert_eq!(body["error"]["code"], "practice_in_another_group");
    let (_, p0) = app
        .get_as(&w.admin_a, &format!("/v1/practices/{}", practices[0]))
        .await;
    assert_eq!(p0["practice_group_id"], json!(gid));
    for token in [&w.admin_b, &w.staff_b] {
        assert_eq!(
            app.patch_as(
                token,
                &format!("/v1/practice-groups/{gid}"),
                json!({"name": "x"})
            )
            .await
            .0,
            404
        );
        assert_eq!(
            app.delete_as(token, &format!("/v1/practice-groups/{gid}"))
                .await
                .0,
            404
        );
    }
    assert_eq!(
        app.delete_as(&w.staff_a, &format!("/v1/practice-groups/{gid}"))
            .await
            .0,
        403
    );
    let (status, renamed) = app
        .patch_as(
            &w.admin_a,
            &format!("/v1/practice-groups/{gid}"),
            json!({"name": "Northern", "practice_ids": [practices[2]]}),
        )
        .await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["practice_ids"], json!([practices[2]]));
    assert_eq!(
        app.delete_as(&w.admin_a, &format!("/v1/practice-groups/{gid}"))
            .await
            .0,
        204
    );
    let (_, groups) = app
        .get_as(&w.admin_a, &w.customer_a_path("/practice-groups"))
        .await;
    assert_eq!(groups["items"], json!([]));
}

async fn locking_with_outstanding_items_needs_reassign_to(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    app.put_as(
        &w.admin_a,
        &w.customer_a_path("/default-users"),
        json!({"user_ids": [w.staff_a_id]}),
    )
    .await;
    let (status, outstanding) = app
        .get_as(&w.admin_a, &w.staff_a_path("/outstanding"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(outstanding["total"], 1);
    let (status, body) = app
        .post_empty_as(&w.admin_a, &w.staff_a_path("/lock"))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "outstanding_items");
    assert_eq!(
        app.get_as(&w.staff_a, "/v1/me").await.0,
        200,
        "nothing changed"
    );
    let (status, body) = app
        .post_as(
            &w.admin_a,
            &w.staff_a_path("/lock"),
            json!({"reassign_to": w.staff_a_id}),
        )
        .await;
    assert_eq!(status, 422, "cannot hand over to oneself: {body}");
    let (status, body) = app
        .post_as(
            &w.admin_a,
            &w.staff_a_path("/lock"),
            json!({"reassign_to": w.idle_a_id}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.get_as(&w.staff_a, "/v1/me").await.0, 401);
    let (_, customer) = app.get_as(&w.admin_a, &w.customer_a_path("")).await;
    assert_eq!(customer["default_user_ids"], json!([w.idle_a_id]));
    let (status, body) = app
        .post_empty_as(
            &w.admin_a,
            "/v1/users/00000000-0000-0000-0000-000000000000/lock",
        )
        .await;
    assert_eq!(status, 404, "{body}");
}

async fn the_audit_log_records_changes_with_who_and_where_for_admins_only(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    app.patch_as(
        &w.admin_a,
        &w.practice_a_path(""),
        json!({"name": "Renamed"}),
    )
    .await;
    let (status, audit) = app.get_as(&w.admin_a, "/v1/audit").await;
    assert_eq!(status, 200);
    let rows = items(&audit);
    assert!(
        rows.iter().all(|i| i["customer_id"] == json!(w.customer_a)),
        "only customer A's rows"
    );
    let update = rows
        .iter()
        .find(|i| i["action"] == "practice.update")
        .expect("the change is audited");
    assert_eq!(update["client_addr"], "127.0.0.1");
    assert!(update["user_id"].is_string());
    assert!(rows.iter().any(|i| i["action"] == "session.login"));
    let (_, first) = app.get_as(&w.admin_a, "/v1/audit?limit=2").await;
    let cursor = first["next_cursor"].as_str().expect("more pages");
    let (_, second) = app
        .get_as(&w.admin_a, &format!("/v1/audit?limit=2&cursor={cursor}"))
        .await;
    assert_ne!(first["items"][0]["id"], second["items"][0]["id"]);
    assert_eq!(app.get_as(&w.staff_a, "/v1/audit").await.0, 403);
    let (_, everything) = app.get_as(&w.root, "/v1/audit?limit=200").await;
    assert!(
        items(&everything)
            .iter()
            .any(|i| i["customer_id"] == json!(w.customer_b))
    );
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        assert_eq!(
            app.call(method, "/v1/audit", Some(&w.root), None).await.0,
            405,
            "no route edits the audit log"
        );
    }
}

async fn staff_see_only_their_own_practices(backend: Backend) {
    let (app, w) = app_with_world(backend).await;
    let other = post(
        &app,
        &w.customer_a_path("/practices"),
        &w.root,
        json!({"name": "Other", "timezone": "UTC", "sms_number": "+14155550188"}),
    )
    .await;
    let oid = other["id"].as_str().unwrap();
    assert_eq!(
        app.get_as(&w.staff_a, &format!("/v1/practices/{oid}"))
            .await
            .0,
        404
    );
    assert_eq!(
        app.get_as(&w.admin_a, &format!("/v1/practices/{oid}"))
            .await
            .0,
        200
    );
    let (_, list) = app
        .get_as(&w.staff_a, &w.customer_a_path("/practices"))
        .await;
    let ids: Vec<_> = items(&list)
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, vec![w.practice_a.clone()]);
}
