//! Seed 003 (staff assignment) and seed 000 practice settings over HTTP on both stores: the
//! care-team assignment with every active program or none, a new patient's and a new program's
//! first staff (creator and supervisor), client access against case access, the panel's
//! `channels_now`, texting and portal switches, practice groups on create and PATCH, resending
//! the opt-in text, the on-call user hearing of every kind, and disclaimers on the patient.

use chrono::Duration;
use gateway::clock::Clock;
use reqwest::Method;
use serde_json::{Value, json};

use crate::accounts::{PASSWORD, post};
use crate::both_backends;
use crate::helpers::{Backend, error_message, items};
use crate::texting::{Clinic, clinic};

both_backends!(
    a_care_team_place_covers_every_active_program_unless_asked_for_the_care_team_only,
    a_new_patient_and_a_new_program_start_with_their_creator_and_the_creators_supervisor,
    client_access_shows_the_conversation_and_case_access_adds_readings_and_alerts,
    the_panel_tells_on_which_channels_each_member_hears_of_a_new_message_now,
    with_texting_off_start_and_staff_texts_are_refused_and_opt_out_still_works,
    with_the_portal_off_enrolment_portal_posts_and_portal_sends_are_refused,
    a_practice_moves_into_and_out_of_a_group_and_a_new_one_gets_its_groups_default_users,
    resend_from_failed_restarts_verification_and_from_enabled_is_refused,
    the_on_call_user_hears_of_every_patient_notification_kind_whatever_their_link,
    a_patient_is_read_with_the_practices_disclaimers,
);

impl Clinic {
    async fn api(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.app.call(method, path, Some(token), body).await;
        assert!((200..300).contains(&status), "{path}: {status} {answer}");
        answer
    }

    async fn root(&self) -> String {
        self.app.login("root", PASSWORD).await
    }

    async fn practice_id(&self) -> String {
        let me = self.api(Method::GET, "/v1/me", &self.staff, None).await;
        me["practice_ids"][0].as_str().unwrap().to_string()
    }

    async fn customer_id(&self) -> String {
        let me = self.api(Method::GET, "/v1/me", &self.staff, None).await;
        me["customer_id"].as_str().unwrap().to_string()
    }

    /// A user of the clinic's customer (and practice, unless an admin), logged in: (id, token).
    async fn user(&self, username: &str, role: &str, extra: Value) -> (String, String) {
        let mut body = json!({"username": username, "password": PASSWORD, "role": role,
                              "customer_id": self.customer_id().await});
        if role == "staff" {
            body["practice_ids"] = json!([self.practice_id().await]);
        }
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let user = post(&self.app, "/v1/users", &self.root().await, body).await;
        (
            user["id"].as_str().unwrap().to_string(),
            self.app.login(username, PASSWORD).await,
        )
    }

    async fn panel(&self, patient: &str) -> Vec<Value> {
        self.api(
            Method::GET,
            &format!("/v1/patients/{patient}/care-team-panel"),
            &self.staff,
            None,
        )
        .await["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn member(&self, patient: &str, user_id: &str) -> Value {
        self.panel(patient)
            .await
            .into_iter()
            .find(|m| m["user_id"] == json!(user_id))
            .unwrap_or_else(|| panic!("{user_id} is not on the panel"))
    }

    async fn set_programs(&self, token: &str, programs: &[&str]) {
        self.api(
            Method::PATCH,
            &self.patient_path(""),
            token,
            Some(json!({ "programs": programs })),
        )
        .await;
    }

    async fn patch_practice(&self, body: Value) -> (u16, Value) {
        let path = format!("/v1/practices/{}", self.practice_id().await);
        let root = self.root().await;
        self.app.patch_as(&root, &path, body).await
    }

    async fn on_call(&self, user_ids: &[&str]) {
        let windows: Vec<Value> = user_ids
            .iter()
            .map(|u| json!({"from": "00:00", "to": "00:00", "user_id": u}))
            .collect();
        self.api(
            Method::PUT,
            &format!("/v1/practices/{}/on-call", self.practice_id().await),
            &self.root().await,
            Some(json!(windows)),
        )
        .await;
    }

    async fn status_of(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> u16 {
        self.app.call(method, path, Some(token), body).await.0
    }
}

async fn a_care_team_place_covers_every_active_program_unless_asked_for_the_care_team_only(
    backend: Backend,
) {
    let c = clinic(backend).await;
    c.set_programs(&c.staff, &["rpm", "ccm"]).await;
    let (all_id, _) = c.user("nurse-all", "staff", json!({})).await;
    let (none_id, _) = c.user("nurse-none", "staff", json!({})).await;
    let path = format!("/v1/patients/{}/care-team", c.patient);
    c.api(
        Method::POST,
        &path,
        &c.staff,
        Some(json!({"user_id": all_id})),
    )
    .await;
    c.api(
        Method::POST,
        &path,
        &c.staff,
        Some(json!({"user_id": none_id, "programs": "none"})),
    )
    .await;
    let all = c.member(&c.patient, &all_id).await;
    assert_eq!(all["on_care_team"], true);
    assert_eq!(
        all["programs"],
        json!(["ccm", "rpm"]),
        "every active program"
    );
    let none = c.member(&c.patient, &none_id).await;
    assert_eq!(none["on_care_team"], true);
    assert_eq!(none["programs"], json!([]), "the care team only");
    // Asking again for every program assigns them now.
    c.api(
        Method::POST,
        &path,
        &c.staff,
        Some(json!({"user_id": none_id, "programs": "all"})),
    )
    .await;
    assert_eq!(
        c.member(&c.patient, &none_id).await["programs"],
        json!(["ccm", "rpm"])
    );
    let (status, body) = c
        .staff_post(&path, json!({"user_id": all_id, "programs": "some"}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(error_message(&body).starts_with("programs"), "{body}");
    // A program the patient leaves takes its staff with it.
    c.set_programs(&c.staff, &["ccm"]).await;
    assert_eq!(
        c.member(&c.patient, &all_id).await["programs"],
        json!(["ccm"])
    );
}

async fn a_new_patient_and_a_new_program_start_with_their_creator_and_the_creators_supervisor(
    backend: Backend,
) {
    let c = clinic(backend).await;
    let root = c.root().await;
    let (lead_id, _) = c.user("lead", "staff", json!({})).await;
    let (bystander_id, _) = c.user("bystander", "staff", json!({})).await;
    let other_customer = post(&c.app, "/v1/customers", &root, json!({"name": "Other"})).await;
    let stranger = post(
        &c.app,
        "/v1/users",
        &root,
        json!({"username": "stranger", "password": PASSWORD, "role": "staff",
               "customer_id": other_customer["id"]}),
    )
    .await;
    let nurse = format!("/v1/users/{}", c.staff_id);
    for (supervisor, why) in [
        (stranger["id"].clone(), "of another customer"),
        (json!(c.staff_id), "oneself"),
        (json!(uuid::Uuid::new_v4()), "nobody"),
    ] {
        let (status, body) = c
            .app
            .patch_as(&root, &nurse, json!({ "supervisor_id": supervisor }))
            .await;
        assert_eq!(status, 422, "{why}: {body}");
        assert!(error_message(&body).starts_with("supervisor_id"), "{body}");
    }
    let user = c
        .api(
            Method::PATCH,
            &nurse,
            &root,
            Some(json!({ "supervisor_id": lead_id })),
        )
        .await;
    assert_eq!(user["supervisor_id"], json!(lead_id));
    let (status, _) = c
        .app
        .patch_as(&c.staff, &nurse, json!({ "supervisor_id": null }))
        .await;
    assert_eq!(status, 403, "staff do not choose their own supervisor");

    let patient = post(
        &c.app,
        &format!("/v1/practices/{}/patients", c.practice_id().await),
        &c.staff,
        json!({"first_name": "Ann", "last_name": "Lee", "dob": "1950-02-03", "programs": ["rpm"]}),
    )
    .await;
    let pid = patient["id"].as_str().unwrap();
    let members = c.panel(pid).await;
    let ids: Vec<&str> = members
        .iter()
        .map(|m| m["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "creator and supervisor only: {members:?}");
    for who in [&c.staff_id, &lead_id] {
        let member = c.member(pid, who).await;
        assert_eq!(member["on_care_team"], true);
        assert_eq!(member["programs"], json!(["rpm"]));
    }
    // A new program (case) on an existing patient: its creator and supervisor, nobody else.
    c.api(
        Method::POST,
        &format!("/v1/patients/{pid}/care-team"),
        &c.staff,
        Some(json!({"user_id": bystander_id})),
    )
    .await;
    c.api(
        Method::PATCH,
        &format!("/v1/patients/{pid}"),
        &c.staff,
        Some(json!({"programs": ["rpm", "ccm"]})),
    )
    .await;
    assert_eq!(
        c.member(pid, &lead_id).await["programs"],
        json!(["ccm", "rpm"])
    );
    assert_eq!(
        c.member(pid, &bystander_id).await["programs"],
        json!(["rpm"]),
        "other staff are added individually"
    );
    let user = c
        .api(
            Method::PATCH,
            &nurse,
            &root,
            Some(json!({ "supervisor_id": null })),
        )
        .await;
    assert_eq!(user["supervisor_id"], Value::Null);
}

async fn client_access_shows_the_conversation_and_case_access_adds_readings_and_alerts(
    backend: Backend,
) {
    let c = clinic(backend).await;
    // The nurse adds the program, and so is its staff (seed 003).
    c.set_programs(&c.staff, &["rpm"]).await;
    let (aide_id, aide) = c
        .user("aide", "staff", json!({"mobile_phone": "+14155550161"}))
        .await;
    c.api(
        Method::POST,
        &c.patient_path("/care-team"),
        &c.staff,
        Some(json!({"user_id": aide_id, "programs": "none"})),
    )
    .await;
    let (_, admin) = c.user("admin", "customer_admin", json!({})).await;
    let p = &c.patient;
    c.api(
        Method::PUT,
        &format!("/v1/patients/{p}/reading-alerts/pulse"),
        &c.staff,
        Some(json!({"ranges": {"critical_low": 40, "normal_low": 50, "normal_high": 100, "critical_high": 130}, "change": null})),
    )
    .await;
    let now = c.app.clock.now();
    c.api(
        Method::POST,
        "/v1/readings",
        &c.staff,
        Some(json!({"patient_id": p, "vital": "pulse", "value": 150, "taken_at": now})),
    )
    .await;
    let alerts = |token: String| {
        let app = &c.app;
        async move {
            let (status, body) = app.get_as(&token, "/v1/alerts?state=open").await;
            assert_eq!(status, 200, "{body}");
            items(&body).len()
        }
    };
    assert_eq!(alerts(c.staff.clone()).await, 1);

    // Client access: demographics and the conversation, not the clinical part.
    let clinical = [
        (Method::GET, format!("/v1/patients/{p}/readings"), None),
        (
            Method::GET,
            format!("/v1/patients/{p}/reading-alerts/pulse"),
            None,
        ),
        (
            Method::POST,
            "/v1/readings".to_string(),
            Some(json!({"patient_id": p, "vital": "pulse", "value": 70, "taken_at": now})),
        ),
    ];
    let clinical_status = |token: String| {
        let clinical = clinical.clone();
        let c = &c;
        async move {
            let mut statuses = Vec::new();
            for (method, path, body) in clinical {
                statuses.push(c.status_of(method, &path, &token, body).await);
            }
            statuses
        }
    };
    assert_eq!(
        c.status_of(Method::GET, &format!("/v1/patients/{p}"), &aide, None)
            .await,
        200
    );
    assert_eq!(
        c.status_of(
            Method::GET,
            &format!("/v1/patients/{p}/messages"),
            &aide,
            None
        )
        .await,
        200
    );
    assert_eq!(clinical_status(aide.clone()).await, [403, 403, 403]);
    assert_eq!(alerts(aide.clone()).await, 0, "alerts are clinical");
    let (status, _) = c
        .app
        .get_as(&aide, &format!("/v1/patients/{p}/readings"))
        .await;
    assert_eq!(status, 403);

    // Admins see all of their practice.
    assert_eq!(clinical_status(admin.clone()).await[..2], [200, 200]);
    assert_eq!(alerts(admin).await, 1);

    // The on-call user of the moment too, and only while on call.
    c.on_call(&[&aide_id]).await;
    assert_eq!(clinical_status(aide.clone()).await, [200, 200, 201]);
    assert_eq!(alerts(aide.clone()).await, 1);
    c.on_call(&[]).await;
    assert_eq!(clinical_status(aide.clone()).await[..2], [403, 403]);

    // Program (case) access adds the clinical part.
    c.api(
        Method::POST,
        &format!("/v1/patients/{p}/programs/rpm/staff"),
        &c.staff,
        Some(json!({"user_id": aide_id})),
    )
    .await;
    assert_eq!(clinical_status(aide.clone()).await[..2], [200, 200]);
    assert_eq!(alerts(aide).await, 1);
}

async fn the_panel_tells_on_which_channels_each_member_hears_of_a_new_message_now(
    backend: Backend,
) {
    let c = clinic(backend).await;
    let practice = c.practice_id().await;
    let (mail_id, mail) = c
        .user(
            "mail",
            "staff",
            json!({"email": "mail@example.org", "mobile_phone": "+14155550162"}),
        )
        .await;
    let (quiet_id, quiet) = c.user("quiet", "staff", json!({})).await;
    for (id, token, setting) in [
        (
            &mail_id,
            &mail,
            json!({"kind": "new_patient_message", "enabled": true, "push": false, "email": true, "text": true}),
        ),
        (
            &quiet_id,
            &quiet,
            json!({"kind": "new_patient_message", "enabled": false, "push": false, "email": false, "text": false}),
        ),
    ] {
        c.api(
            Method::PUT,
            &format!("/v1/users/{id}/notification-settings?practice_id={practice}"),
            token,
            Some(json!({"settings": [setting.clone()]})),
        )
        .await;
        c.join_care_team(id).await;
    }
    let nurse = c.member(&c.patient, &c.staff_id).await;
    assert_eq!(nurse["channels_now"], json!(["push"]), "the defaults: push");
    assert_eq!(nurse["notified_now"], true);
    let mail = c.member(&c.patient, &mail_id).await;
    assert_eq!(mail["channels_now"], json!(["email", "text"]));
    assert_eq!(
        mail["notified_now"], true,
        "any channel counts, not push only"
    );
    let quiet = c.member(&c.patient, &quiet_id).await;
    assert_eq!(quiet["channels_now"], json!([]));
    assert_eq!(quiet["notified_now"], false);
}

async fn with_texting_off_start_and_staff_texts_are_refused_and_opt_out_still_works(
    backend: Backend,
) {
    let c = clinic(backend).await;
    let (status, practice) = c.patch_practice(json!({"texting_enabled": false})).await;
    assert_eq!(status, 200, "{practice}");
    assert_eq!(practice["texting_enabled"], false);
    assert_eq!(practice["portal_enabled"], true);
    let (status, body) = c.staff_action("start").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "texting_disabled");
    assert_eq!(c.texting().await["status"], "not_enabled");

    // On again: the patient verifies; off again: staff texts are refused, nothing is sent.
    c.patch_practice(json!({"texting_enabled": true})).await;
    crate::conversations::enable_texting(&c).await;
    c.patch_practice(json!({"texting_enabled": false})).await;
    let sent = c.sent_count();
    let path = format!("/v1/patients/{}/messages", c.patient);
    for body in [
        json!({"body": "hello"}),
        json!({"body": "hello", "channel": "sms"}),
    ] {
        let (status, answer) = c.staff_post(&path, body).await;
        assert_eq!(status, 409, "{answer}");
        assert_eq!(answer["error"]["code"], "texting_disabled");
    }
    assert_eq!(c.sent_count(), sent);
    // Staff can always stop texting on the patient's behalf.
    let (status, body) = c.staff_action("opt-out").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = c.staff_action("start").await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "texting_disabled");
}

async fn with_the_portal_off_enrolment_portal_posts_and_portal_sends_are_refused(backend: Backend) {
    let c = clinic(backend).await;
    let enroll = format!("/v1/patients/{}/portal/enroll", c.patient);
    let token = c.api(Method::POST, &enroll, &c.staff, None).await["portal_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, practice) = c.patch_practice(json!({"portal_enabled": false})).await;
    assert_eq!(status, 200);
    assert_eq!(practice["portal_enabled"], false);
    let (status, body) = c.staff_post_empty(&enroll).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "portal_disabled");
    let (status, body) = c
        .app
        .post_as(&token, "/v1/portal/messages", json!({"body": "hello?"}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "portal_disabled");
    let path = format!("/v1/patients/{}/messages", c.patient);
    for body in [
        json!({"body": "hi"}),
        json!({"body": "hi", "channel": "portal"}),
    ] {
        let (status, answer) = c.staff_post(&path, body).await;
        assert_eq!(status, 409, "{answer}");
        assert_eq!(answer["error"]["code"], "portal_disabled");
    }
    let thread = c
        .api(Method::GET, &format!("{path}?limit=200"), &c.staff, None)
        .await;
    assert_eq!(thread["items"], json!([]), "nothing was recorded");
    c.patch_practice(json!({"portal_enabled": true})).await;
    c.api(Method::POST, &enroll, &c.staff, None).await;
}

async fn a_practice_moves_into_and_out_of_a_group_and_a_new_one_gets_its_groups_default_users(
    backend: Backend,
) {
    let c = clinic(backend).await;
    let root = c.root().await;
    let cid = c.customer_id().await;
    let practice = c.practice_id().await;
    for n in 1..10 {
        post(
            &c.app,
            &format!("/v1/customers/{cid}/practices"),
            &root,
            json!({"name": format!("Branch {n}"), "timezone": "America/New_York",
                   "sms_number": format!("+1415555020{n}")}),
        )
        .await;
    }
    let (customer_default, _) = c.user("customer-default", "staff", json!({})).await;
    let (group_default, _) = c.user("group-default", "staff", json!({})).await;
    c.api(
        Method::PUT,
        &format!("/v1/customers/{cid}/default-users"),
        &root,
        Some(json!({"user_ids": [customer_default]})),
    )
    .await;
    let group = post(
        &c.app,
        &format!("/v1/customers/{cid}/practice-groups"),
        &root,
        json!({"name": "North", "default_user_ids": [group_default], "practice_ids": []}),
    )
    .await;
    let gid = group["id"].as_str().unwrap();
    let practices_of = |user: String| {
        let c = &c;
        let root = root.clone();
        async move {
            c.api(Method::GET, &format!("/v1/users/{user}"), &root, None)
                .await["practice_ids"]
                .as_array()
                .unwrap()
                .clone()
        }
    };

    // Created in the group: the group's default users join, not the customer's.
    let created = post(
        &c.app,
        &format!("/v1/customers/{cid}/practices"),
        &root,
        json!({"name": "North Branch", "timezone": "America/New_York",
               "sms_number": "+14155550299", "practice_group_id": gid}),
    )
    .await;
    assert_eq!(created["practice_group_id"], json!(gid));
    assert!(
        practices_of(group_default.clone())
            .await
            .contains(&created["id"])
    );
    assert!(
        !practices_of(customer_default.clone())
            .await
            .contains(&created["id"])
    );

    // Moved into the group: its default users join; out again with null.
    let (status, moved) = c.patch_practice(json!({"practice_group_id": gid})).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["practice_group_id"], json!(gid));
    assert!(
        practices_of(group_default.clone())
            .await
            .contains(&json!(practice))
    );
    let groups = c
        .api(
            Method::GET,
            &format!("/v1/customers/{cid}/practice-groups"),
            &root,
            None,
        )
        .await;
    let group = items(&groups)
        .iter()
        .find(|g| g["id"] == json!(gid))
        .unwrap()
        .clone();
    assert!(
        group["practice_ids"]
            .as_array()
            .unwrap()
            .contains(&json!(practice))
    );
    let (status, out) = c.patch_practice(json!({"practice_group_id": null})).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["practice_group_id"], Value::Null);
    // Leaving other fields alone leaves the group alone.
    c.patch_practice(json!({"practice_group_id": gid})).await;
    let (_, same) = c
        .patch_practice(json!({"escalation_delay_minutes": 5}))
        .await;
    assert_eq!(same["practice_group_id"], json!(gid));

    // A group that is not the customer's is refused on both routes.
    let unknown = uuid::Uuid::new_v4();
    let (status, body) = c
        .patch_practice(json!({"practice_group_id": unknown}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(error_message(&body).starts_with("practice_group_id"));
    let (status, body) = c
        .app
        .post_as(
            &root,
            &format!("/v1/customers/{cid}/practices"),
            json!({"name": "Lost", "timezone": "America/New_York", "sms_number": "+14155550298", "practice_group_id": unknown}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
}

async fn resend_from_failed_restarts_verification_and_from_enabled_is_refused(backend: Backend) {
    let c = clinic(backend).await;
    assert_eq!(c.staff_action("start").await.0, 200);
    for _ in 0..3 {
        c.patient_texts("01/01/1900").await;
    }
    assert_eq!(c.texting().await["status"], "failed");
    // The opt-in request, two retry prompts and the "call the practice" text.
    c.texts_sent(0, 4).await;
    let sent = 4;
    let (status, body) = c.staff_action("resend").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "pending");
    assert_eq!(body["attempts_left"], 3, "fresh attempts, as a start");
    let texts = c.texts_sent(sent, 1).await;
    assert!(texts[0].contains("date of birth"), "{texts:?}");
    c.patient_texts("07/04/1961").await;
    assert_eq!(c.texting().await["status"], "enabled");
    let (status, body) = c.staff_action("resend").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "already_enabled");
}

async fn the_on_call_user_hears_of_every_patient_notification_kind_whatever_their_link(
    backend: Backend,
) {
    let c = clinic(backend).await;
    let practice = c.practice_id().await;
    // A customer admin who is not a user of the practice nor on the care team, on call all day.
    let (admin_id, admin) = c
        .user(
            "night-admin",
            "customer_admin",
            json!({"mobile_phone": "+14155550164"}),
        )
        .await;
    c.api(
        Method::PUT,
        &format!("/v1/users/{admin_id}/notification-settings?practice_id={practice}"),
        &admin,
        Some(json!({"settings": [
            {"kind": "two_way_texting", "enabled": true, "push": true, "email": false, "text": false},
            {"kind": "new_patient_message", "enabled": true, "push": true, "email": false, "text": false},
            {"kind": "unread_message_reminder", "enabled": true, "push": true, "email": false, "text": false},
        ]})),
    )
    .await;
    c.on_call(&[&admin_id]).await;
    // The nurse starts texting: a two-way texting status change.
    assert_eq!(c.staff_action("start").await.0, 200);
    c.patient_texts("07/04/1961").await;
    c.patient_texts("A question for you").await;
    c.app.clock.advance(Duration::hours(25));
    gateway::services::conversations::send_unread_reminders(&c.app.state)
        .await
        .unwrap();
    let admin = c.app.login("night-admin", PASSWORD).await;
    let notes = c
        .api(Method::GET, "/v1/notifications?limit=200", &admin, None)
        .await;
    let kinds: Vec<&str> = items(&notes)
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "two_way_texting",
        "new_patient_message",
        "unread_message_reminder",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing: {kinds:?}");
    }
}

async fn a_patient_is_read_with_the_practices_disclaimers(backend: Backend) {
    let c = clinic(backend).await;
    let practice = c.practice_id().await;
    c.api(
        Method::PUT,
        &format!("/v1/practices/{practice}/disclaimers"),
        &c.root().await,
        Some(json!({"care_plan_report": "Not a diagnosis.", "hra_report": "For review."})),
    )
    .await;
    let patient = c
        .api(Method::GET, &c.patient_path(""), &c.staff, None)
        .await;
    assert_eq!(patient["first_name"], "Pat");
    assert_eq!(
        patient["disclaimers"]["care_plan_report"],
        "Not a diagnosis."
    );
    assert_eq!(patient["disclaimers"]["hra_report"], "For review.");
    assert!(patient["disclaimers"]["updated_at"].is_string());
}
