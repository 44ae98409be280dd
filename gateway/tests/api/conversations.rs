//! Conversations over HTTP on both stores: one thread per patient across SMS and the portal,
//! idempotent staff sends, unread per user, seed-003 care-team rules, subscriptions,
//! notifications of patient messages, restricted programs and the portal's isolation.

use reqwest::Method;
use serde_json::{Value, json};

use crate::accounts::{PASSWORD, post};
use crate::both_backends;
use crate::helpers::{Backend, content_type, error_message, items};
use crate::texting::{Clinic, clinic};

both_backends!(
    sms_and_portal_messages_thread_into_one_conversation_in_order,
    a_retried_send_with_the_same_idempotency_key_is_sent_once,
    a_patient_with_no_enabled_channel_cannot_be_sent_to,
    unread_is_per_user_and_a_staff_message_never_makes_a_conversation_unread,
    care_team_rules_follow_seed_003_and_the_panel_shows_who_is_notified,
    a_subscriber_sees_the_conversation_and_hears_of_new_messages,
    a_portal_token_opens_only_its_own_patients_conversation,
    a_patient_whose_programs_are_all_restricted_has_no_conversation_for_that_user,
    an_unread_patient_message_reminds_once_after_24_hours_only_those_who_want_it,
    the_notification_stream_delivers_a_new_patient_message_at_once,
    locking_a_care_team_member_hands_their_place_and_enrolments_to_the_successor,
    a_user_with_text_on_gets_a_text_without_the_patients_words,
    locking_the_only_follower_of_unread_messages_hands_the_patient_to_the_successor,
);

pub async fn enable_texting(c: &Clinic) {
    assert_eq!(c.staff_action("start").await.0, 200);
    c.patient_texts("07/04/1961").await;
    c.texts_sent(0, 2).await;
    assert_eq!(c.texting().await["status"], "enabled");
}

async fn enroll_portal(c: &Clinic) -> String {
    let (status, body) = c.staff_post_empty(&c.patient_path("/portal/enroll")).await;
    assert_eq!(status, 201, "{body}");
    body["portal_token"].as_str().unwrap().to_string()
}

async fn send(c: &Clinic, token: &str, body: Value) -> (u16, Value) {
    c.app
        .post_as(token, &c.patient_path("/messages"), body)
        .await
}

async fn thread(c: &Clinic, token: &str) -> Vec<Value> {
    let (status, body) = c
        .app
        .get_as(token, &c.patient_path("/messages?limit=200"))
        .await;
    assert_eq!(status, 200, "{body}");
    items(&body).clone()
}

async fn conversations(c: &Clinic, token: &str) -> Vec<Value> {
    let (status, body) = c.app.get_as(token, "/v1/conversations").await;
    assert_eq!(status, 200, "{body}");
    items(&body).clone()
}

/// A second staff user of the clinic's practice, logged in.
pub async fn colleague(c: &Clinic, username: &str) -> (String, String) {
    let (_, me) = c.staff_get("/v1/me").await;
    c.app.super_admin("root2", PASSWORD).await;
    let root = c.app.login("root2", PASSWORD).await;
    let user = post(
        &c.app,
        "/v1/users",
        &root,
        json!({"username": username, "password": PASSWORD, "role": "staff", "customer_id": me["customer_id"], "practice_ids": me["practice_ids"]}),
    )
    .await;
    (
        user["id"].as_str().unwrap().to_string(),
        c.app.login(username, PASSWORD).await,
    )
}

async fn sms_and_portal_messages_thread_into_one_conversation_in_order(backend: Backend) {
    let c = clinic(backend).await;
    enable_texting(&c).await;
    let portal = enroll_portal(&c).await;
    assert_eq!(
        send(&c, &c.staff, json!({"body": "How are you feeling?"}))
            .await
            .0,
        201
    );
    c.texts_sent(2, 1).await;
    c.patient_texts("Much better, thanks").await;
    let (status, _) = c
        .app
        .post_as(
            &portal,
            "/v1/portal/messages",
            json!({"body": "Sent from the portal"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, by_portal) =
        send(&c, &c.staff, json!({"body": "Noted", "channel": "portal"})).await;
    assert_eq!(status, 201, "{by_portal}");
    let thread_items = thread(&c, &c.staff).await;
    let recent: Vec<(String, String, Option<String>, bool)> = thread_items[..4]
        .iter()
        .map(|m| {
            (
                m["channel"].as_str().unwrap().to_string(),
                m["direction"].as_str().unwrap().to_string(),
                m["body"].as_str().map(str::to_string),
                m["author_user_id"] == json!(c.staff_id),
            )
        })
        .collect();
    assert_eq!(
        recent,
        [
            (
                "portal".into(),
                "outbound".into(),
                Some("Noted".into()),
                true
            ),
            (
                "portal".into(),
                "inbound".into(),
                Some("Sent from the portal".into()),
                false
            ),
            (
                "sms".into(),
                "inbound".into(),
                Some("Much better, thanks".into()),
                false
            ),
            (
                "sms".into(),
                "outbound".into(),
                Some("How are you feeling?".into()),
                true
            ),
        ],
        "newest first, across channels, with authors"
    );
    // The verification exchange is in the thread too, with the date of birth withheld.
    assert!(
        thread_items
            .iter()
            .any(|m| m["direction"] == "inbound" && m["redacted"] == true && m["body"].is_null())
    );
    // Pages cover the thread without gaps or overlaps.
    let (_, first) = c.staff_get(&c.patient_path("/messages?limit=3")).await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = c
        .staff_get(&format!(
            "/v1/patients/{}/messages?limit=3&before={cursor}",
            c.patient
        ))
        .await;
    let ids: Vec<_> = items(&first)
        .iter()
        .chain(items(&second))
        .map(|m| m["id"].clone())
        .collect();
    assert_eq!(
        ids,
        thread_items[..6]
            .iter()
            .map(|m| m["id"].clone())
            .collect::<Vec<_>>()
    );
    // Every read of the thread is in the audit log, with who read it.
    let patient_id: uuid::Uuid = c.patient.parse().unwrap();
    let filter = store::AuditFilter {
        patient_id: Some(patient_id),
        limit: 200,
        ..Default::default()
    };
    let reads: Vec<_> = c
        .app
        .store
        .list_audit(filter)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "conversation.read")
        .collect();
    assert!(reads.len() >= 3, "one row per read");
    assert!(
        reads
            .iter()
            .all(|r| r.user_id == Some(c.staff_id.parse().unwrap()))
    );
}

async fn a_retried_send_with_the_same_idempotency_key_is_sent_once(backend: Backend) {
    let c = clinic(backend).await;
    enable_texting(&c).await;
    let path = format!("/v1/patients/{}/messages", c.patient);
    let attempt = || {
        c.app
            .authed(Method::POST, &path, &c.staff)
            .header("Idempotency-Key", "send-42")
            .json(&json!({"body": "Your labs are back"}))
            .send()
    };
    let first = attempt().await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let second = attempt().await.unwrap();
    assert_eq!(second.status(), 200);
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["id"], second["id"]);
    c.texts_sent(2, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        c.sent_count(),
        3,
        "the retried send went to the carrier once"
    );
    let outbound = thread(&c, &c.staff)
        .await
        .into_iter()
        .filter(|m| m["body"] == "Your labs are back")
        .count();
    assert_eq!(outbound, 1);
}

async fn a_patient_with_no_enabled_channel_cannot_be_sent_to(backend: Backend) {
    let c = clinic(backend).await;
    let (status, body) = send(&c, &c.staff, json!({"body": "Hello"})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "no_enabled_channel");
    let (status, _) = send(&c, &c.staff, json!({"body": "Hello", "channel": "sms"})).await;
    assert_eq!(status, 409);
    enroll_portal(&c).await;
    let (status, body) = send(&c, &c.staff, json!({"body": "Hello"})).await;
    assert_eq!(
        status, 201,
        "the portal is used when texting is not enabled"
    );
    assert_eq!(body["channel"], "portal");
    assert_eq!(send(&c, &c.staff, json!({"body": ""})).await.0, 422);
    assert_eq!(
        send(&c, &c.staff, json!({"body": "x".repeat(1601)}))
            .await
            .0,
        422
    );
    assert_eq!(
        send(&c, &c.staff, json!({"body": "hi", "channel": "fax"}))
            .await
            .0,
        422
    );
    assert_eq!(c.sent_count(), 0);
}

async fn unread_is_per_user_and_a_staff_message_never_makes_a_conversation_unread(
    backend: Backend,
) {
    let c = clinic(backend).await;
    let (other_id, other) = colleague(&c, "nurse2").await;
    for user in [c.staff_id.clone(), other_id.clone()] {
        let (status, _) = c
            .staff_post(&c.patient_path("/care-team"), json!({"user_id": user}))
            .await;
        assert_eq!(status, 204);
    }
    let portal = enroll_portal(&c).await;
    send(&c, &c.staff, json!({"body": "Checking in"})).await;
    for token in [&c.staff, &other] {
        assert_eq!(conversations(&c, token).await[0]["unread"], false);
    }
    c.portal_message(&portal, "I have a question").await;
    for token in [&c.staff, &other] {
        let list = conversations(&c, token).await;
        assert_eq!(list[0]["unread"], true);
        assert_eq!(list[0]["patient_name"], "Pat Jones");
    }
    let (status, _) = c.staff_post_empty(&c.patient_path("/messages/read")).await;
    assert_eq!(status, 204);
    assert_eq!(conversations(&c, &c.staff).await[0]["unread"], false);
    assert_eq!(
        conversations(&c, &other).await[0]["unread"],
        true,
        "marking read is per user"
    );
    // Both care-team members heard of the patient's message, without its body.
    let (_, notes) = c.app.get_as(&other, "/v1/notifications").await;
    let new_message: Vec<_> = items(&notes)
        .iter()
        .filter(|n| n["kind"] == "new_patient_message")
        .collect();
    assert_eq!(
        new_message.len(),
        1,
        "one notification for the patient message, none for the staff message"
    );
    assert!(
        !new_message[0]["summary"]
            .as_str()
            .unwrap()
            .contains("question")
    );
}

async fn care_team_rules_follow_seed_003_and_the_panel_shows_who_is_notified(backend: Backend) {
    let c = clinic(backend).await;
    let (other_id, _) = colleague(&c, "nurse3").await;
    let pid = &c.patient;
    let (_, patient) = c
        .app
        .patch_as(
            &c.staff,
            &format!("/v1/patients/{pid}"),
            json!({"programs": ["rpm", "ccm"]}),
        )
        .await;
    assert_eq!(patient["programs"], json!(["ccm", "rpm"]));
    let assign = |program: &str| {
        let path = format!("/v1/patients/{pid}/programs/{program}/staff");
        let body = json!({"user_id": other_id});
        let app = &c.app;
        let token = c.staff.clone();
        async move { app.post_as(&token, &path, body).await.0 }
    };
    assert_eq!(assign("rpm").await, 204);
    assert_eq!(assign("ccm").await, 204);
    assert_eq!(
        assign("behavioral").await,
        404,
        "not one of the patient's enrolments"
    );
    let panel = |token: String| {
        let app = &c.app;
        let path = format!("/v1/patients/{pid}/care-team-panel");
        async move {
            let (status, body) = app.get_as(&token, &path).await;
            assert_eq!(status, 200, "{body}");
            items(&body).clone()
        }
    };
    let members = panel(c.staff.clone()).await;
    let member = members
        .iter()
        .find(|m| m["user_id"] == json!(other_id))
        .expect("assigned to an enrolment: on the care team");
    assert_eq!(member["on_care_team"], true);
    assert_eq!(member["programs"], json!(["ccm", "rpm"]));
    assert_eq!(
        member["notified_now"], true,
        "new patient messages are on by default"
    );
    // Removing from one enrolment leaves the care team.
    let (status, _) = c
        .app
        .delete_as(
            &c.staff,
            &format!("/v1/patients/{pid}/programs/rpm/staff/{other_id}"),
        )
        .await;
    assert_eq!(status, 204);
    let members = panel(c.staff.clone()).await;
    let member = members
        .iter()
        .find(|m| m["user_id"] == json!(other_id))
        .unwrap();
    assert_eq!(member["programs"], json!(["ccm"]));
    // Removing from the care team removes from every enrolment.
    let (status, _) = c
        .app
        .delete_as(
            &c.staff,
            &format!("/v1/patients/{pid}/care-team/{other_id}"),
        )
        .await;
    assert_eq!(status, 204);
    assert!(
        panel(c.staff.clone())
            .await
            .iter()
            .all(|m| m["user_id"] != json!(other_id))
    );
    let (status, _) = c
        .staff_post(
            &format!("/v1/patients/{pid}/care-team"),
            json!({"user_id": other_id, "programs": "none"}),
        )
        .await;
    assert_eq!(status, 204);
    let members = panel(c.staff.clone()).await;
    assert_eq!(
        members
            .iter()
            .find(|m| m["user_id"] == json!(other_id))
            .unwrap()["programs"],
        json!([]),
        "\"programs\": \"none\" puts them on the care team only"
    );
    // A user of another customer cannot be put on the care team.
    let (status, body) = c
        .staff_post(
            &format!("/v1/patients/{pid}/care-team"),
            json!({"user_id": uuid::Uuid::now_v7()}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
}

async fn a_subscriber_sees_the_conversation_and_hears_of_new_messages(backend: Backend) {
    let c = clinic(backend).await;
    let (_, follower) = colleague(&c, "nurse4").await;
    assert!(conversations(&c, &follower).await.is_empty());
    let (status, _) = c
        .app
        .call(
            Method::PUT,
            &c.patient_path("/notification-subscription"),
            Some(&follower),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(conversations(&c, &follower).await.len(), 1);
    let portal = enroll_portal(&c).await;
    c.portal_message(&portal, "hello").await;
    let (_, notes) = c.app.get_as(&follower, "/v1/notifications").await;
    assert!(
        items(&notes)
            .iter()
            .any(|n| n["kind"] == "new_patient_message")
    );
    let (status, _) = c
        .app
        .delete_as(&follower, &c.patient_path("/notification-subscription"))
        .await;
    assert_eq!(status, 204);
    assert!(conversations(&c, &follower).await.is_empty());
}

async fn a_portal_token_opens_only_its_own_patients_conversation(backend: Backend) {
    let c = clinic(backend).await;
    let portal = enroll_portal(&c).await;
    send(&c, &c.staff, json!({"body": "For Pat only"})).await;
    let (status, own) = c.app.get_as(&portal, "/v1/portal/messages").await;
    assert_eq!(status, 200);
    assert_eq!(own["items"][0]["body"], "For Pat only");
    let (_, me) = c.staff_get("/v1/me").await;
    let practice = me["practice_ids"][0].as_str().unwrap();
    let other = c
        .add_patient(
            practice,
            json!({"first_name": "Other", "last_name": "Person", "dob": "1980-02-02"}),
        )
        .await;
    let (_, other_portal) = c
        .staff_post_empty(&format!(
            "/v1/patients/{}/portal/enroll",
            other["id"].as_str().unwrap()
        ))
        .await;
    let other_token = other_portal["portal_token"].as_str().unwrap();
    let (_, theirs) = c.app.get_as(other_token, "/v1/portal/messages").await;
    assert_eq!(theirs["items"], json!([]), "nothing of anyone else");
    assert_eq!(
        c.app.get_as("not-a-token", "/v1/portal/messages").await.0,
        401
    );
    assert_eq!(
        c.app
            .call(Method::GET, "/v1/portal/messages", None, None)
            .await
            .0,
        401
    );
    // A portal token is not a staff token.
    assert_eq!(c.app.get_as(&portal, "/v1/me").await.0, 401);
    // Enrolling again replaces the token.
    let fresh = enroll_portal(&c).await;
    assert_eq!(c.app.get_as(&portal, "/v1/portal/messages").await.0, 401);
    assert_eq!(c.app.get_as(&fresh, "/v1/portal/messages").await.0, 200);
}

async fn a_patient_whose_programs_are_all_restricted_has_no_conversation_for_that_user(
    backend: Backend,
) {
    let c = clinic(backend).await;
    let (other_id, other) = colleague(&c, "nurse5").await;
    c.join_care_team(&other_id).await;
    c.app
        .patch_as(
            &c.staff,
            &c.patient_path(""),
            json!({"programs": ["behavioral"]}),
        )
        .await;
    assert_eq!(conversations(&c, &other).await.len(), 1);
    c.app.super_admin("root9", PASSWORD).await;
    let root = c.app.login("root9", PASSWORD).await;
    let (status, _) = c
        .app
        .patch_as(
            &root,
            &format!("/v1/users/{other_id}"),
            json!({"restricted_programs": ["behavioral"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(conversations(&c, &other).await.is_empty());
    let (status, _) = c.app.get_as(&other, &c.patient_path("/messages")).await;
    assert_eq!(status, 404);
}

async fn an_unread_patient_message_reminds_once_after_24_hours_only_those_who_want_it(
    backend: Backend,
) {
    let c = clinic(backend).await;
    let (other_id, other) = colleague(&c, "nurse6").await;
    for user in [&c.staff_id, &other_id] {
        c.join_care_team(user).await;
    }
    let (_, me) = c.app.get_as(&other, "/v1/me").await;
    let practice = me["practice_ids"][0].as_str().unwrap();
    let (status, body) = c
        .app
        .put_as(
            &other,
            &format!("/v1/users/{other_id}/notification-settings?practice_id={practice}"),
            json!({"settings": [{"kind": "unread_message_reminder", "enabled": true, "push": true, "email": false, "text": false}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let portal = enroll_portal(&c).await;
    c.portal_message(&portal, "first").await;
    let remind = || gateway::services::conversations::send_unread_reminders(&c.app.state);
    c.app.clock.advance(chrono::Duration::hours(23));
    assert_eq!(remind().await.unwrap(), 0, "not before 24 hours");
    c.app
        .clock
        .advance(chrono::Duration::hours(1) + chrono::Duration::minutes(1));
    assert_eq!(
        remind().await.unwrap(),
        1,
        "only the user with both settings on"
    );
    assert_eq!(remind().await.unwrap(), 0, "once per message");
    let other = c.app.login("nurse6", PASSWORD).await;
    let (_, notes) = c.app.get_as(&other, "/v1/notifications").await;
    assert!(
        items(&notes)
            .iter()
            .any(|n| n["kind"] == "unread_message_reminder")
    );
    // A message the user has read does not remind them.
    c.portal_message(&portal, "second").await;
    c.app
        .post_empty_as(&other, &c.patient_path("/messages/read"))
        .await;
    c.app.clock.advance(chrono::Duration::hours(25));
    assert_eq!(remind().await.unwrap(), 0);
}

/// Reads the event stream until an event with `event: notification` arrives; returns its lines.
async fn next_notification_event(response: &mut reqwest::Response) -> Vec<String> {
    let mut buffer = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no notification event arrived: {buffer:?}"
        );
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), response.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: Vec<String> = buffer[..end].lines().map(str::to_string).collect();
            buffer = buffer[end + 2..].to_string();
            if event.iter().any(|l| l == "event: notification") {
                return event;
            }
        }
    }
}

/// Two instances on one PostgreSQL: a notification committed on one reaches a stream held open
/// on the other at once (LISTEN/NOTIFY), not at the stream's next 5-second poll.
#[tokio::test]
async fn a_notification_committed_on_one_instance_reaches_a_stream_on_another_at_once() {
    let c = clinic(Backend::Postgres).await;
    let other = c.app.sibling().await;
    c.join_care_team(&c.staff_id).await;
    let portal = enroll_portal(&c).await;
    let mut stream = c
        .app
        .client
        .get(other.url("/v1/notifications/stream"))
        .bearer_auth(&c.staff)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    // Let the stream make its first look at the feed before the message exists.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    c.portal_message(&portal, "hello from the portal").await;
    let event = tokio::time::timeout(
        std::time::Duration::from_millis(2500),
        next_notification_event(&mut stream),
    )
    .await
    .expect("the other instance's stream heard of it within 2.5 s");
    let data = event.iter().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let notification: Value = serde_json::from_str(data).unwrap();
    assert_eq!(notification["kind"], "new_patient_message");
}

async fn the_notification_stream_delivers_a_new_patient_message_at_once(backend: Backend) {
    let c = clinic(backend).await;
    c.join_care_team(&c.staff_id).await;
    let portal = enroll_portal(&c).await;
    let mut stream = c
        .app
        .authed(Method::GET, "/v1/notifications/stream", &c.staff)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(content_type(&stream).starts_with("text/event-stream"));
    c.portal_message(&portal, "private words").await;
    let event = next_notification_event(&mut stream).await;
    let data = event.iter().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let notification: Value = serde_json::from_str(data).unwrap();
    assert_eq!(notification["kind"], "new_patient_message");
    assert!(
        !data.contains("private words"),
        "no message body in notifications"
    );
    let id = event
        .iter()
        .find_map(|l| l.strip_prefix("id: "))
        .unwrap()
        .to_string();
    assert_eq!(notification["id"], json!(id));
    // A stream resumed from before that event replays it.
    let (_, feed) = c.staff_get("/v1/notifications").await;
    let older = items(&feed)
        .iter()
        .find(|n| n["id"] != json!(id))
        .map(|n| n["id"].as_str().unwrap().to_string());
    if let Some(older) = older {
        let mut resumed = c
            .app
            .authed(Method::GET, "/v1/notifications/stream", &c.staff)
            .header("Last-Event-ID", older)
            .send()
            .await
            .unwrap();
        let replay = next_notification_event(&mut resumed).await;
        assert!(
            replay.iter().any(|l| l == &format!("id: {id}"))
                || replay.iter().any(|l| l.starts_with("id: "))
        );
    }
    assert_eq!(
        c.app
            .call(Method::GET, "/v1/notifications/stream", None, None)
            .await
            .0,
        401
    );
}

async fn locking_a_care_team_member_hands_their_place_and_enrolments_to_the_successor(
    backend: Backend,
) {
    let c = clinic(backend).await;
    let (leaving_id, _) = colleague(&c, "leaving").await;
    let (successor_id, _) = colleague(&c, "successor").await;
    let pid = &c.patient;
    c.app
        .patch_as(
            &c.staff,
            &format!("/v1/patients/{pid}"),
            json!({"programs": ["rpm"]}),
        )
        .await;
    let (status, _) = c
        .staff_post(
            &format!("/v1/patients/{pid}/programs/rpm/staff"),
            json!({"user_id": leaving_id}),
        )
        .await;
    assert_eq!(status, 204);
    let root = c.app.login("root2", PASSWORD).await;
    let (_, outstanding) = c
        .app
        .get_as(&root, &format!("/v1/users/{leaving_id}/outstanding"))
        .await;
    assert_eq!(outstanding["care_team_of"], json!([pid]));
    let lock = format!("/v1/users/{leaving_id}/lock");
    let (status, body) = c.app.post_empty_as(&root, &lock).await;
    assert_eq!(status, 409, "{body}");
    let reassign = json!({"reassign_to": successor_id});
    let (status, body) = c.app.post_as(&root, &lock, reassign).await;
    assert_eq!(status, 200, "{body}");
    let (_, panel) = c
        .staff_get(&format!("/v1/patients/{pid}/care-team-panel"))
        .await;
    let items = items(&panel);
    assert!(items.iter().all(|m| m["user_id"] != json!(leaving_id)));
    let successor = items
        .iter()
        .find(|m| m["user_id"] == json!(successor_id))
        .expect("the successor took the place");
    assert_eq!(successor["programs"], json!(["rpm"]));
}

async fn a_user_with_text_on_gets_a_text_without_the_patients_words(backend: Backend) {
    let c = clinic(backend).await;
    let (other_id, other) = colleague(&c, "nurse7").await;
    let (status, _) = c
        .app
        .patch_as(
            &other,
            &format!("/v1/users/{other_id}"),
            json!({"mobile_phone": "+14155550177"}),
        )
        .await;
    assert_eq!(status, 200);
    c.join_care_team(&other_id).await;
    let (_, me) = c.app.get_as(&other, "/v1/me").await;
    let practice = me["practice_ids"][0].as_str().unwrap();
    let (status, body) = c
        .app
        .put_as(
            &other,
            &format!("/v1/users/{other_id}/notification-settings?practice_id={practice}"),
            json!({"settings": [{"kind": "new_patient_message", "enabled": true, "push": false, "email": false, "text": true}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let portal = enroll_portal(&c).await;
    c.portal_message(&portal, "my chest hurts").await;
    let text = crate::helpers::eventually(10, "the staff text at the carrier", || async {
        c.fake
            .received()
            .into_iter()
            .find(|r| r.to == "+14155550177")
    })
    .await;
    assert!(text.body.contains("Main Street Clinic"), "{}", text.body);
    assert!(
        !text.body.contains("chest"),
        "no patient words or clinical detail in staff texts"
    );
    let (_, notes) = c.app.get_as(&other, "/v1/notifications").await;
    assert!(
        items(&notes)
            .iter()
            .all(|n| n["kind"] != "new_patient_message"),
        "push was off"
    );
}

async fn locking_the_only_follower_of_unread_messages_hands_the_patient_to_the_successor(
    backend: Backend,
) {
    let c = clinic(backend).await;
    let (follower_id, follower) = colleague(&c, "nurse-follows").await;
    let root = c.app.login("root2", PASSWORD).await;
    // The nurse who created the patient starts on its care team (seed 003); here nobody is.
    let (status, _) = c
        .app
        .delete_as(
            &c.staff,
            &format!("/v1/patients/{}/care-team/{}", c.patient, c.staff_id),
        )
        .await;
    assert_eq!(status, 204);
    c.app
        .call(
            Method::PUT,
            &c.patient_path("/notification-subscription"),
            Some(&follower),
            None,
        )
        .await;
    assert_eq!(
        outstanding(&c, &root, &follower_id).await["total"],
        0,
        "nothing unread yet"
    );
    let portal = enroll_portal(&c).await;
    c.portal_message(&portal, "anyone there?").await;
    let items = outstanding(&c, &root, &follower_id).await;
    assert_eq!(items["unread_only_theirs"], json!([c.patient]), "{items}");
    // Someone else on the care team would see it: then it is not only theirs.
    c.join_care_team(&c.staff_id).await;
    assert_eq!(outstanding(&c, &root, &follower_id).await["total"], 0);
    c.app
        .delete_as(
            &c.staff,
            &format!("/v1/patients/{}/care-team/{}", c.patient, c.staff_id),
        )
        .await;
    assert_eq!(outstanding(&c, &root, &follower_id).await["total"], 1);

    let lock_path = format!("/v1/users/{follower_id}/lock");
    let (status, body) = c.app.post_empty_as(&root, &lock_path).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        error_message(&body).contains("the only follower of 1 patient(s) with unread messages"),
        "{body}"
    );
    let (status, body) = c
        .app
        .post_as(&root, &lock_path, json!({"reassign_to": c.staff_id}))
        .await;
    assert_eq!(status, 200, "{body}");
    let list = conversations(&c, &c.staff).await;
    assert_eq!(list.len(), 1, "the successor follows the patient now");
    assert_eq!(list[0]["unread"], true, "{list:?}");
}

async fn outstanding(c: &Clinic, root: &str, user_id: &str) -> Value {
    let path = format!("/v1/users/{user_id}/outstanding");
    let (status, body) = c.app.get_as(root, &path).await;
    assert_eq!(status, 200, "{body}");
    body
}
