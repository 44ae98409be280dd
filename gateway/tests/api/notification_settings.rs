//! Notification settings (users' own, practice defaults for users and for new patients) and
//! practice disclaimers: rules, who may do what, and the audit trail.
//!
//! Customers, practices and users are created through the store directly (their routes are
//! built elsewhere); everything under test goes through HTTP with a real login.

use std::sync::Arc;

use gateway::auth::password::Password;
use gateway::domain::notifications::{NotificationKind, NotificationSetting};
use gateway::services::notification_settings::effective_settings_of_users;
use serde_json::{Value, json};
use store::{Audit, AuditFilter, NewCustomer, NewPractice, Role, Store};
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, error_message, new_user, spawn_app};

both_backends!(
    a_user_reads_their_own_settings_as_the_built_in_defaults_until_anything_is_saved,
    a_user_changes_some_kinds_and_gets_all_six_back_with_the_others_unchanged,
    a_channel_on_while_the_kind_is_disabled_is_refused_naming_the_field,
    the_unread_reminder_is_refused_while_new_patient_messages_are_off,
    a_setting_without_a_field_or_with_an_unknown_kind_is_refused_naming_it,
    staff_cannot_read_or_change_another_users_settings,
    anything_of_another_customer_is_not_found,
    a_customer_admin_changes_the_settings_of_a_user_of_their_customer,
    settings_for_a_practice_the_user_does_not_work_at_are_refused,
    defaults_for_new_users_leave_existing_users_alone_and_reach_users_who_join_later,
    defaults_for_all_users_overwrite_every_users_settings,
    only_the_customers_admins_change_practice_defaults,
    patient_notification_defaults_change_in_part_and_keep_the_channel_rule,
    disclaimers_are_read_by_practice_users_and_replaced_by_admins,
    a_disclaimer_over_4000_characters_is_refused_naming_the_field,
    every_change_is_written_to_the_audit_log_with_who_and_from_where,
    the_notifier_reads_the_effective_setting_of_many_users_at_once,
    the_openapi_document_describes_the_notification_and_disclaimer_routes,
);

const PASSWORD: &str = "correct horse 42";

/// Two customers: A with practices `p1` and `p2`, B with `q`. Users of A: an admin, two staff
/// of `p1`, one of `p2`; of B: an admin and a staff of `q`; and a super admin.
struct World {
    app: TestApp,
    store: Arc<dyn Store>,
    password_hash: String,
    customer_a: Uuid,
    p1: Uuid,
    p2: Uuid,
    q: Uuid,
    admin_a: Uuid,
    ann: Uuid,
    ben: Uuid,
    cat: Uuid,
    admin_b: Uuid,
    bob: Uuid,
    root: Uuid,
}

fn audit() -> Audit {
    Audit::system(chrono::Utc::now())
}

async fn practice(store: &Arc<dyn Store>, customer_id: Uuid, sms: &str) -> Uuid {
    store
        .create_practice(
            &audit(),
            NewPractice {
                customer_id,
                name: format!("Clinic {sms}"),
                timezone: "America/New_York".parse().unwrap(),
                sms_number: sms.into(),
                practice_group_id: None,
            },
        )
        .await
        .unwrap()
        .id
}

async fn user(
    store: &Arc<dyn Store>,
    password_hash: &str,
    customer_id: Option<Uuid>,
    username: &str,
    role: Role,
    practice_ids: Vec<Uuid>,
) -> Uuid {
    let new = new_user(customer_id, username, password_hash, role, practice_ids);
    store.create_user(&audit(), new).await.unwrap().id
}

async fn world(backend: Backend) -> World {
    let app = spawn_app(backend).await;
    let store = app.db.store().await;
    let password_hash = Password::parse(PASSWORD).unwrap().hash();
    let customer = |name: &str| NewCustomer { name: name.into() };
    let customer_a = store
        .create_customer(&audit(), customer("A"))
        .await
        .unwrap()
        .id;
    let customer_b = store
        .create_customer(&audit(), customer("B"))
        .await
        .unwrap()
        .id;
    let p1 = practice(&store, customer_a, "+15555550401").await;
    let p2 = practice(&store, customer_a, "+15555550402").await;
    let q = practice(&store, customer_b, "+15555550403").await;
    let h = &password_hash;
    let a = Some(customer_a);
    let b = Some(customer_b);
    World {
        admin_a: user(&store, h, a, "admin_a", Role::CustomerAdmin, vec![]).await,
        ann: user(&store, h, a, "ann", Role::Staff, vec![p1]).await,
        ben: user(&store, h, a, "ben", Role::Staff, vec![p1]).await,
        cat: user(&store, h, a, "cat", Role::Staff, vec![p2]).await,
        admin_b: user(&store, h, b, "admin_b", Role::CustomerAdmin, vec![]).await,
        bob: user(&store, h, b, "bob", Role::Staff, vec![q]).await,
        root: user(&store, h, None, "root", Role::SuperAdmin, vec![]).await,
        app,
        store,
        password_hash,
        customer_a,
        p1,
        p2,
        q,
    }
}

impl World {
    async fn login(&self, username: &str) -> String {
        let response = self
            .app
            .client
            .post(self.app.url("/v1/auth/login"))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "login of {username}");
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_string()
    }

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let response = self
            .app
            .client
            .get(self.app.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn put(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .app
            .client
            .put(self.app.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `PUT path` as `token` with `body` is refused with 422 naming `field`; answers the refusal.
    async fn refused(&self, token: &str, path: &str, field: &str, body: Value) -> Value {
        let (status, answer) = self.put(token, path, body).await;
        assert_invalid(status, &answer, field);
        answer
    }

    fn settings_path(&self, user: Uuid, practice: Uuid) -> String {
        format!("/v1/users/{user}/notification-settings?practice_id={practice}")
    }

    async fn settings_of(&self, token: &str, user: Uuid, practice: Uuid) -> Value {
        let (status, body) = self.get(token, &self.settings_path(user, practice)).await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

fn item(kind: &str, enabled: bool, push: bool, email: bool, text: bool) -> Value {
    json!({"kind": kind, "enabled": enabled, "push": push, "email": email, "text": text})
}

/// The answer's setting of one kind.
fn kind_of<'a>(body: &'a Value, kind: &str) -> &'a Value {
    body["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == kind)
        .unwrap_or_else(|| panic!("{kind} missing from {body}"))
}

fn assert_invalid(status: u16, body: &Value, field: &str) {
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_field", "{body}");
    let message = error_message(body);
    assert!(message.starts_with(field), "{field} not named in {message}");
}

const BUILT_IN: [(&str, bool, bool); 6] = [
    ("new_patient_message", true, true),
    ("unread_message_reminder", false, false),
    ("two_way_texting", false, false),
    ("reading_caution", false, false),
    ("reading_critical", true, true),
    ("overdue_readings", false, false),
];

async fn a_user_reads_their_own_settings_as_the_built_in_defaults_until_anything_is_saved(
    backend: Backend,
) {
    let w = world(backend).await;
    let token = w.login("ann").await;
    let body = w.settings_of(&token, w.ann, w.p1).await;
    let settings = body["settings"].as_array().unwrap();
    assert_eq!(settings.len(), 6);
    for (i, (kind, enabled, push)) in BUILT_IN.iter().enumerate() {
        assert_eq!(settings[i], item(kind, *enabled, *push, false, false));
    }
}

async fn a_user_changes_some_kinds_and_gets_all_six_back_with_the_others_unchanged(
    backend: Backend,
) {
    let w = world(backend).await;
    let token = w.login("ann").await;
    let (status, body) = w
        .put(
            &token,
            &w.settings_path(w.ann, w.p1),
            json!({"settings": [
                item("unread_message_reminder", true, false, true, false),
                item("reading_critical", true, true, false, true),
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["settings"].as_array().unwrap().len(), 6);
    assert_eq!(
        kind_of(&body, "unread_message_reminder"),
        &item("unread_message_reminder", true, false, true, false)
    );
    assert_eq!(
        kind_of(&body, "reading_critical"),
        &item("reading_critical", true, true, false, true)
    );
    assert_eq!(
        kind_of(&body, "new_patient_message"),
        &item("new_patient_message", true, true, false, false)
    );
    // Read back the same; another practice's and another user's settings are untouched.
    assert_eq!(w.settings_of(&token, w.ann, w.p1).await, body);
    let ben = w.login("ben").await;
    assert_eq!(
        kind_of(&w.settings_of(&ben, w.ben, w.p1).await, "reading_critical"),
        &item("reading_critical", true, true, false, false)
    );
}

async fn a_channel_on_while_the_kind_is_disabled_is_refused_naming_the_field(backend: Backend) {
    let w = world(backend).await;
    let token = w.login("ann").await;
    let path = w.settings_path(w.ann, w.p1);
    let input = json!({"settings": [
        item("reading_caution", true, true, false, false),
        item("overdue_readings", true, false, false, false),
        item("two_way_texting", false, true, false, false),
    ]});
    w.refused(&token, &path, "settings[2].push", input).await;
    let input = json!({"settings": [item("two_way_texting", false, false, false, true)]});
    w.refused(&token, &path, "settings[0].text", input).await;
    // Nothing of a refused request was saved.
    let now = w.settings_of(&token, w.ann, w.p1).await;
    assert_eq!(
        kind_of(&now, "reading_caution"),
        &item("reading_caution", false, false, false, false)
    );
}

async fn the_unread_reminder_is_refused_while_new_patient_messages_are_off(backend: Backend) {
    let w = world(backend).await;
    let token = w.login("ann").await;
    let path = w.settings_path(w.ann, w.p1);
    let input = json!({"settings": [
        item("new_patient_message", false, false, false, false),
        item("unread_message_reminder", true, true, false, false),
    ]});
    let answer = w.refused(&token, &path, "settings[1].enabled", input).await;
    assert!(error_message(&answer).contains("new_patient_message"));

    // With both on, turning new messages off alone is refused too, naming that item.
    let input = json!({"settings": [item("unread_message_reminder", true, true, false, false)]});
    assert_eq!(w.put(&token, &path, input).await.0, 200);
    let input = json!({"settings": [item("new_patient_message", false, false, false, false)]});
    w.refused(&token, &path, "settings[0].enabled", input).await;
    // Both off together is fine.
    let (status, body) = w
        .put(
            &token,
            &path,
            json!({"settings": [
                item("unread_message_reminder", false, false, false, false),
                item("new_patient_message", false, false, false, false),
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn a_setting_without_a_field_or_with_an_unknown_kind_is_refused_naming_it(backend: Backend) {
    let w = world(backend).await;
    let token = w.login("ann").await;
    let path = w.settings_path(w.ann, w.p1);
    let input = json!({"settings": [
        item("reading_caution", true, true, false, false),
        {"kind": "overdue_readings", "enabled": true, "push": false, "email": false},
    ]});
    w.refused(&token, &path, "settings[1].text", input).await;
    let input = json!({"settings": [item("birthday_wishes", true, true, false, false)]});
    w.refused(&token, &path, "settings[0].kind", input).await;
    let input = json!({"settings": [
        item("reading_caution", true, true, false, false),
        item("reading_caution", false, false, false, false),
    ]});
    w.refused(&token, &path, "settings[1].kind", input).await;
    let input = json!({"settings": []});
    w.refused(&token, &path, "settings", input).await;
    let (status, body) = w
        .get(
            &token,
            &format!("/v1/users/{}/notification-settings", w.ann),
        )
        .await;
    assert_invalid(status, &body, "practice_id");
    let (status, body) = w
        .get(&token, "/v1/users/not-a-uuid/notification-settings")
        .await;
    assert_eq!(
        status, 404,
        "an id that does not parse names nothing: {body}"
    );
}

async fn staff_cannot_read_or_change_another_users_settings(backend: Backend) {
    let w = world(backend).await;
    let ann = w.login("ann").await;
    let path = w.settings_path(w.ben, w.p1);
    let (status, body) = w.get(&ann, &path).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let input = json!({"settings": [item("reading_caution", true, true, false, false)]});
    assert_eq!(w.put(&ann, &path, input).await.0, 403);
    let ben = w.login("ben").await;
    assert_eq!(
        kind_of(&w.settings_of(&ben, w.ben, w.p1).await, "reading_caution"),
        &item("reading_caution", false, false, false, false)
    );
}

async fn anything_of_another_customer_is_not_found(backend: Backend) {
    let w = world(backend).await;
    let admin_b = w.login("admin_b").await;
    // A user of customer A, asked for by B's admin: 404 whatever the practice.
    for practice in [w.p1, w.q] {
        let (status, body) = w.get(&admin_b, &w.settings_path(w.ann, practice)).await;
        assert_eq!(status, 404, "{body}");
    }
    let input = json!({"settings": [item("reading_caution", true, true, false, false)]});
    assert_eq!(
        w.put(&admin_b, &w.settings_path(w.ann, w.p1), input)
            .await
            .0,
        404
    );
    // Practice A's defaults and disclaimers, asked for by B's admin and B's staff: 404.
    let bob = w.login("bob").await;
    for token in [&admin_b, &bob] {
        for path in [
            format!("/v1/practices/{}/notification-defaults/users", w.p1),
            format!("/v1/practices/{}/notification-defaults/patients", w.p1),
            format!("/v1/practices/{}/disclaimers", w.p1),
        ] {
            let (status, body) = w.get(token, &path).await;
            assert_eq!(status, 404, "{path}: {body}");
        }
    }
    let input = json!({"settings": [item("reading_caution", true, true, false, false)], "apply_to": "all_users"});
    assert_eq!(
        w.put(
            &admin_b,
            &format!("/v1/practices/{}/notification-defaults/users", w.p1),
            input
        )
        .await
        .0,
        404
    );
    let input = json!({"care_plan_report": "x", "hra_report": "y"});
    assert_eq!(
        w.put(
            &admin_b,
            &format!("/v1/practices/{}/disclaimers", w.p1),
            input
        )
        .await
        .0,
        404
    );
    // A staff user's own settings for a practice of another customer: 404 too.
    let (status, _) = w.get(&bob, &w.settings_path(w.bob, w.p1)).await;
    assert_eq!(status, 404);
    // A user who does not exist at all looks the same.
    let (status, _) = w.get(&admin_b, &w.settings_path(Uuid::now_v7(), w.q)).await;
    assert_eq!(status, 404);
}

async fn a_customer_admin_changes_the_settings_of_a_user_of_their_customer(backend: Backend) {
    let w = world(backend).await;
    let admin = w.login("admin_a").await;
    let (status, body) = w
        .put(
            &admin,
            &w.settings_path(w.ben, w.p1),
            json!({"settings": [item("overdue_readings", true, false, true, false)]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let ben = w.login("ben").await;
    assert_eq!(
        kind_of(&w.settings_of(&ben, w.ben, w.p1).await, "overdue_readings"),
        &item("overdue_readings", true, false, true, false)
    );
    // Admins have settings of their own for their customer's practices, and so does a super
    // admin's view of anyone.
    w.settings_of(&admin, w.admin_a, w.p2).await;
    let root = w.login("root").await;
    assert_eq!(
        kind_of(&w.settings_of(&root, w.ben, w.p1).await, "overdue_readings"),
        &item("overdue_readings", true, false, true, false)
    );
}

async fn settings_for_a_practice_the_user_does_not_work_at_are_refused(backend: Backend) {
    let w = world(backend).await;
    let admin = w.login("admin_a").await;
    // cat works at p2, not p1.
    let (status, body) = w.get(&admin, &w.settings_path(w.cat, w.p1)).await;
    assert_invalid(status, &body, "practice_id");
    // A staff user cannot even see a practice of their customer they do not work at.
    let ann = w.login("ann").await;
    let (status, _) = w.get(&ann, &w.settings_path(w.ann, w.p2)).await;
    assert_eq!(status, 404);
    let (status, _) = w.get(&ann, &w.settings_path(w.ann, Uuid::now_v7())).await;
    assert_eq!(status, 404);
}

async fn defaults_for_new_users_leave_existing_users_alone_and_reach_users_who_join_later(
    backend: Backend,
) {
    let w = world(backend).await;
    let admin = w.login("admin_a").await;
    let ann = w.login("ann").await;
    // ann chose something of her own; ben never did.
    let input = json!({"settings": [item("two_way_texting", true, false, false, true)]});
    assert_eq!(
        w.put(&ann, &w.settings_path(w.ann, w.p1), input).await.0,
        200
    );
    let ann_before = w.settings_of(&ann, w.ann, w.p1).await;
    let ben = w.login("ben").await;
    let ben_before = w.settings_of(&ben, w.ben, w.p1).await;

    let defaults = json!({"settings": [
        item("new_patient_message", true, false, true, true),
        item("reading_caution", true, true, false, false),
        item("two_way_texting", false, false, false, false),
    ], "apply_to": "new_users"});
    let path = format!("/v1/practices/{}/notification-defaults/users", w.p1);
    let (status, body) = w.put(&admin, &path, defaults).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["settings"].as_array().unwrap().len(), 6);
    assert_eq!(
        kind_of(&body, "reading_caution"),
        &item("reading_caution", true, true, false, false)
    );
    // Unlisted kinds keep the built-in defaults.
    assert_eq!(
        kind_of(&body, "reading_critical"),
        &item("reading_critical", true, true, false, false)
    );
    let (status, read) = w.get(&ann, &path).await;
    assert_eq!((status, &read), (200, &body), "staff may read the defaults");

    assert_eq!(w.settings_of(&ann, w.ann, w.p1).await, ann_before);
    assert_eq!(w.settings_of(&ben, w.ben, w.p1).await, ben_before);

    // A user who joins the practice afterwards starts with the new defaults.
    let dan = user(
        &w.store,
        &w.password_hash,
        Some(w.customer_a),
        "dan",
        Role::Staff,
        vec![w.p1],
    )
    .await;
    let dan_token = w.login("dan").await;
    assert_eq!(w.settings_of(&dan_token, dan, w.p1).await, body);
}

async fn defaults_for_all_users_overwrite_every_users_settings(backend: Backend) {
    let w = world(backend).await;
    let admin = w.login("admin_a").await;
    let ann = w.login("ann").await;
    let input = json!({"settings": [
        item("reading_critical", true, false, false, true),
        item("unread_message_reminder", true, true, false, false),
    ]});
    assert_eq!(
        w.put(&ann, &w.settings_path(w.ann, w.p1), input).await.0,
        200
    );
    let cat = w.login("cat").await;
    let cat_before = w.settings_of(&cat, w.cat, w.p2).await;

    let path = format!("/v1/practices/{}/notification-defaults/users", w.p1);
    let (status, body) = w
        .put(
            &admin,
            &path,
            json!({"settings": [
                item("new_patient_message", false, false, false, false),
                item("unread_message_reminder", false, false, false, false),
                item("reading_critical", true, false, true, false),
            ], "apply_to": "all_users"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(w.settings_of(&ann, w.ann, w.p1).await, body);
    let ben = w.login("ben").await;
    assert_eq!(w.settings_of(&ben, w.ben, w.p1).await, body);
    // Another practice's users are untouched.
    assert_eq!(w.settings_of(&cat, w.cat, w.p2).await, cat_before);
    // Users may change their own again at any time.
    let (status, mine) = w
        .put(
            &ann,
            &w.settings_path(w.ann, w.p1),
            json!({"settings": [item("reading_critical", true, true, false, false)]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        kind_of(&mine, "new_patient_message"),
        &item("new_patient_message", false, false, false, false)
    );

    // The same rules hold for defaults; a reminder without new messages is refused.
    let input = json!({"settings": [item("unread_message_reminder", true, true, false, false)], "apply_to": "all_users"});
    w.refused(&admin, &path, "settings[0].enabled", input).await;
    let input = json!({"settings": [item("reading_caution", true, true, false, false)], "apply_to": "some_users"});
    w.refused(&admin, &path, "apply_to", input).await;
}

async fn only_the_customers_admins_change_practice_defaults(backend: Backend) {
    let w = world(backend).await;
    let ann = w.login("ann").await;
    let body = json!({"settings": [item("reading_caution", true, true, false, false)], "apply_to": "new_users"});
    let users = format!("/v1/practices/{}/notification-defaults/users", w.p1);
    let patients = format!("/v1/practices/{}/notification-defaults/patients", w.p1);
    let (status, answer) = w.put(&ann, &users, body.clone()).await;
    assert_eq!(status, 403, "{answer}");
    let input = json!({"settings": [{"kind": "reading_critical", "enabled": true, "email": false, "text": true}]});
    assert_eq!(w.put(&ann, &patients, input).await.0, 403);
    let root = w.login("root").await;
    assert_eq!(w.put(&root, &users, body.clone()).await.0, 200);
    let admin = w.login("admin_a").await;
    assert_eq!(w.put(&admin, &users, body).await.0, 200);
}

async fn patient_notification_defaults_change_in_part_and_keep_the_channel_rule(backend: Backend) {
    let w = world(backend).await;
    let admin = w.login("admin_a").await;
    let path = format!("/v1/practices/{}/notification-defaults/patients", w.p1);
    let (status, body) = w.get(&admin, &path).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"settings": [
            {"kind": "reading_caution", "enabled": false, "email": false, "text": false},
            {"kind": "reading_critical", "enabled": false, "email": false, "text": false},
            {"kind": "overdue_readings", "enabled": false, "email": false, "text": false},
        ]})
    );
    let (status, body) = w
        .put(
            &admin,
            &path,
            json!({"settings": [{"kind": "overdue_readings", "enabled": true, "email": false, "text": true}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["settings"][2],
        json!({"kind": "overdue_readings", "enabled": true, "email": false, "text": true})
    );
    assert_eq!(body["settings"][0]["enabled"], false);
    let ann = w.login("ann").await;
    assert_eq!(w.get(&ann, &path).await, (200, body));

    let input = json!({"settings": [{"kind": "reading_caution", "enabled": false, "email": true, "text": false}]});
    w.refused(&admin, &path, "settings[0].email", input).await;
    let input = json!({"settings": [{"kind": "two_way_texting", "enabled": true, "email": true, "text": false}]});
    w.refused(&admin, &path, "settings[0].kind", input).await;
}

async fn disclaimers_are_read_by_practice_users_and_replaced_by_admins(backend: Backend) {
    let w = world(backend).await;
    let path = format!("/v1/practices/{}/disclaimers", w.p1);
    let ann = w.login("ann").await;
    let (status, body) = w.get(&ann, &path).await;
    assert_eq!(status, 200);
    assert_eq!(body["care_plan_report"], "");
    assert_eq!(body["hra_report"], "");
    assert_eq!(body["updated_at"], Value::Null);

    let text = json!({"care_plan_report": "This plan does not replace your doctor's advice.", "hra_report": ""});
    assert_eq!(w.put(&ann, &path, text.clone()).await.0, 403);
    let admin = w.login("admin_a").await;
    let (status, saved) = w.put(&admin, &path, text).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(
        saved["care_plan_report"],
        "This plan does not replace your doctor's advice."
    );
    assert!(saved["updated_at"].is_string());
    assert_eq!(w.get(&ann, &path).await, (200, saved));
    // Staff of another practice of the customer cannot see this one.
    let cat = w.login("cat").await;
    assert_eq!(w.get(&cat, &path).await.0, 404);
    // Both fields are required.
    let input = json!({"care_plan_report": "only one"});
    w.refused(&admin, &path, "hra_report", input).await;
}

async fn a_disclaimer_over_4000_characters_is_refused_naming_the_field(backend: Backend) {
    let w = world(backend).await;
    let admin = w.login("admin_a").await;
    let path = format!("/v1/practices/{}/disclaimers", w.p1);
    // Characters, not bytes: 4000 two-byte characters fit.
    let (status, body) = w
        .put(
            &admin,
            &path,
            json!({"care_plan_report": "é".repeat(4000), "hra_report": "ok"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let input = json!({"care_plan_report": "ok", "hra_report": "x".repeat(4001)});
    w.refused(&admin, &path, "hra_report", input).await;
    let (status, body) = w.get(&admin, &path).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["hra_report"], "ok",
        "nothing of the refused request was saved"
    );
}

async fn every_change_is_written_to_the_audit_log_with_who_and_from_where(backend: Backend) {
    let w = world(backend).await;
    let admin = w.login("admin_a").await;
    let ann = w.login("ann").await;
    let one = json!({"settings": [item("reading_caution", true, true, false, false)]});
    assert_eq!(
        w.put(&ann, &w.settings_path(w.ann, w.p1), one.clone())
            .await
            .0,
        200
    );
    let mut defaults = one.clone();
    defaults["apply_to"] = json!("new_users");
    let users = format!("/v1/practices/{}/notification-defaults/users", w.p1);
    assert_eq!(w.put(&admin, &users, defaults.clone()).await.0, 200);
    defaults["apply_to"] = json!("all_users");
    assert_eq!(w.put(&admin, &users, defaults).await.0, 200);
    let patients = format!("/v1/practices/{}/notification-defaults/patients", w.p1);
    let patient = json!({"settings": [{"kind": "reading_critical", "enabled": true, "email": true, "text": false}]});
    assert_eq!(w.put(&admin, &patients, patient).await.0, 200);
    let disclaimers = format!("/v1/practices/{}/disclaimers", w.p1);
    let texts = json!({"care_plan_report": "a", "hra_report": "b"});
    assert_eq!(w.put(&admin, &disclaimers, texts).await.0, 200);
    // A refused change leaves no trace.
    let bad = json!({"settings": [item("reading_caution", false, true, false, false)]});
    assert_eq!(w.put(&ann, &w.settings_path(w.ann, w.p1), bad).await.0, 422);

    let records = w
        .store
        .list_audit(AuditFilter {
            customer_id: Some(w.customer_a),
            limit: 200,
            ..Default::default()
        })
        .await
        .unwrap();
    let find = |action: &str| {
        let found: Vec<_> = records.iter().filter(|r| r.action == action).collect();
        assert_eq!(found.len(), 1, "{action} in {records:?}");
        found[0].clone()
    };
    let own = find("user.notification_settings.update");
    assert_eq!(own.user_id, Some(w.ann));
    assert_eq!(own.target_id, Some(w.ann.to_string()));
    assert_eq!(own.client_addr.as_deref(), Some("127.0.0.1"));
    for action in [
        "practice.user_notification_defaults.set_for_new_users",
        "practice.user_notification_defaults.set_for_all_users",
        "practice.patient_notification_defaults.update",
        "practice.disclaimers.update",
    ] {
        let record = find(action);
        assert_eq!(record.user_id, Some(w.admin_a), "{action}");
        assert_eq!(record.target_type, "practice");
        assert_eq!(record.target_id, Some(w.p1.to_string()));
        assert!(record.client_addr.is_some());
    }
}

async fn the_notifier_reads_the_effective_setting_of_many_users_at_once(backend: Backend) {
    let w = world(backend).await;
    let admin = w.login("admin_a").await;
    let ann = w.login("ann").await;
    // The practice sends critical readings by email; ann wants them by text instead.
    let users = format!("/v1/practices/{}/notification-defaults/users", w.p1);
    let defaults = json!({"settings": [item("reading_critical", true, false, true, false)], "apply_to": "all_users"});
    assert_eq!(w.put(&admin, &users, defaults).await.0, 200);
    let mine = json!({"settings": [item("reading_critical", true, false, false, true)]});
    assert_eq!(
        w.put(&ann, &w.settings_path(w.ann, w.p1), mine).await.0,
        200
    );

    let found = effective_settings_of_users(
        w.store.as_ref(),
        w.p1,
        NotificationKind::ReadingCritical,
        &[w.ben, w.ann, w.admin_a, w.ann],
    )
    .await
    .unwrap();
    let email = NotificationSetting {
        enabled: true,
        push: false,
        email: true,
        text: false,
    };
    let text = NotificationSetting {
        email: false,
        text: true,
        ..email
    };
    assert_eq!(
        found,
        vec![(w.ben, email), (w.ann, text), (w.admin_a, email)]
    );
    // Where the practice saved nothing, the built-in default applies.
    let elsewhere = effective_settings_of_users(
        w.store.as_ref(),
        w.p2,
        NotificationKind::NewPatientMessage,
        &[w.cat],
    )
    .await
    .unwrap();
    assert_eq!(elsewhere, vec![(w.cat, NotificationSetting::PUSH)]);
    let _ = (w.q, w.bob, w.admin_b, w.root);
}

async fn the_openapi_document_describes_the_notification_and_disclaimer_routes(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    for path in [
        "/v1/users/{id}/notification-settings",
        "/v1/practices/{id}/notification-defaults/users",
        "/v1/practices/{id}/notification-defaults/patients",
        "/v1/patients/{id}/notification-settings",
        "/v1/practices/{id}/disclaimers",
    ] {
        for method in ["get", "put"] {
            let operation = &doc["paths"][path][method];
            assert!(operation.is_object(), "{method} {path} missing");
            assert!(operation["responses"]["200"].is_object(), "{method} {path}");
            assert!(operation["responses"]["404"].is_object(), "{method} {path}");
        }
        assert!(
            doc["paths"][path]["put"]["requestBody"].is_object(),
            "{path}"
        );
        assert!(
            doc["paths"][path]["put"]["responses"]["422"].is_object(),
            "{path}"
        );
    }
    let schemas = &doc["components"]["schemas"];
    let kinds = schemas["NotificationKind"]["enum"].as_array().unwrap();
    assert_eq!(kinds.len(), 6);
    assert!(schemas["UserDefaultsInput"]["properties"]["apply_to"].is_object());
    assert!(schemas["PatientDefaultsInput"]["properties"]["apply_to"].is_object());
    assert!(
        schemas["NotificationSettingInput"]["required"]
            .as_array()
            .unwrap()
            .contains(&json!("push"))
    );
    let params = doc["paths"]["/v1/users/{id}/notification-settings"]["get"]["parameters"]
        .as_array()
        .unwrap();
    assert!(
        params
            .iter()
            .any(|p| p["name"] == "practice_id" && p["in"] == "query")
    );
}
