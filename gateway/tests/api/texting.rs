//! The texting opt-in end to end: staff routes, signed inbound webhooks, the outbox and a local
//! server speaking Twilio's Messages API, on both stores.

use chrono::Duration;
use gateway::clock::Clock;
use gateway::settings::Settings;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::accounts::{PASSWORD, post};
use crate::both_backends;
use crate::fake_twilio::{AUTH_TOKEN, FakeTwilio, PUBLIC_BASE_URL};
use crate::helpers::{
    Backend, PATIENT_NUMBER, PRACTICE_NUMBER, TestApp, error_message, eventually, form, items,
    spawn_app_configured,
};

both_backends!(
    a_patient_goes_from_opt_in_through_stop_start_and_expiry_and_every_text_is_right,
    staff_actions_are_refused_from_the_wrong_state,
    a_family_phone_verifies_each_patient_by_date_and_opts_out_and_in_as_one_number,
    a_verification_that_expired_while_the_gateway_was_down_fails_at_start_up_without_a_text,
    help_gets_the_help_text_and_changes_nothing,
    a_message_that_mentions_stop_is_delivered_and_flagged_for_staff,
    a_number_may_restart_verification_by_start_three_times_then_once_a_day,
);

/// A gateway on the fake carrier, a practice on `PRACTICE_NUMBER`, a staff user who wants
/// "Two-Way Texting" notifications, and a patient born 1961-07-04 on `PATIENT_NUMBER`.
pub struct Clinic {
    pub app: TestApp,
    pub fake: FakeTwilio,
    pub staff: String,
    pub staff_id: String,
    pub patient: String,
}

pub async fn clinic(backend: Backend) -> Clinic {
    clinic_with(backend, |_| {}).await
}

/// [`clinic`] with more settings (an SMTP server, say).
pub async fn clinic_with(backend: Backend, more: impl FnOnce(&mut Settings)) -> Clinic {
    let fake = FakeTwilio::start().await;
    let app = spawn_app_configured(backend, |s| {
        fake.configure(s);
        s.sms_sender_mps = 100.try_into().unwrap();
        more(s);
    })
    .await;
    app.super_admin("root", PASSWORD).await;
    let root = app.login("root", PASSWORD).await;
    let customer = post(&app, "/v1/customers", &root, json!({"name": "Acme"})).await;
    let cid = customer["id"].as_str().unwrap();
    let practice = post(
        &app,
        &format!("/v1/customers/{cid}/practices"),
        &root,
        json!({"name": "Main Street Clinic", "timezone": "America/New_York", "sms_number": PRACTICE_NUMBER}),
    )
    .await;
    let pid = practice["id"].as_str().unwrap();
    let staff = post(
        &app,
        "/v1/users",
        &root,
        json!({"username": "nurse", "password": PASSWORD, "role": "staff", "customer_id": cid, "practice_ids": [pid]}),
    )
    .await;
    let staff_id = staff["id"].as_str().unwrap().to_string();
    let token = app.login("nurse", PASSWORD).await;
    let (status, body) = app
        .put_as(
            &token,
            &format!("/v1/users/{staff_id}/notification-settings?practice_id={pid}"),
            json!({"settings": [{"kind": "two_way_texting", "enabled": true, "push": true, "email": false, "text": false}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let patient = post(
        &app,
        &format!("/v1/practices/{pid}/patients"),
        &token,
        json!({"first_name": "Pat", "last_name": "Jones", "dob": "1961-07-04", "mobile_phone": PATIENT_NUMBER}),
    )
    .await;
    Clinic {
        app,
        fake,
        staff: token,
        staff_id,
        patient: patient["id"].as_str().unwrap().to_string(),
    }
}

impl Clinic {
    /// Moves the clock on; the staff session has idled out by then, so log in again.
    async fn days_pass(&mut self, by: Duration) {
        self.app.clock.advance(by);
        self.staff = self.app.login("nurse", PASSWORD).await;
    }

    pub async fn texting(&self) -> Value {
        let (status, body) = self.staff_get(&self.patient_path("/texting")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn staff_action(&self, action: &str) -> (u16, Value) {
        self.staff_post_empty(&self.patient_path(&format!("/texting/{action}")))
            .await
    }

    /// The patient texts `body`; returns the carrier message id used.
    pub async fn patient_texts(&self, body: &str) -> String {
        let sid = format!("SM{}", Uuid::new_v4().simple());
        let params = form(&[
            ("MessageSid", &sid),
            ("AccountSid", crate::fake_twilio::ACCOUNT_SID),
            ("From", PATIENT_NUMBER),
            ("To", PRACTICE_NUMBER),
            ("Body", body),
            ("NumSegments", "1"),
            ("NumMedia", "0"),
        ]);
        let response = self
            .app
            .post_signed(PUBLIC_BASE_URL, AUTH_TOKEN, "/webhooks/twilio/sms", &params)
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.text().await.unwrap(),
            webhooks::twiml::EMPTY_RESPONSE
        );
        sid
    }

    /// Waits until the carrier has received `n` texts in all and returns the new ones' bodies.
    pub async fn texts_sent(&self, already: usize, n: usize) -> Vec<String> {
        let received = eventually(10, &format!("{n} texts at the carrier"), || async {
            let got = self.fake.received();
            (got.len() >= already + n).then_some(got)
        })
        .await;
        assert_eq!(
            received.len(),
            already + n,
            "more texts than expected went out"
        );
        received[already..]
            .iter()
            .map(|r| {
                assert_eq!(r.to, PATIENT_NUMBER);
                assert_eq!(r.from.as_deref(), Some(PRACTICE_NUMBER));
                r.body.clone()
            })
            .collect()
    }

    pub fn sent_count(&self) -> usize {
        self.fake.received().len()
    }

    pub async fn notifications(&self) -> Vec<Value> {
        let (_, body) = self.staff_get("/v1/notifications?limit=200").await;
        items(&body).clone()
    }
}

async fn a_patient_goes_from_opt_in_through_stop_start_and_expiry_and_every_text_is_right(
    backend: Backend,
) {
    let mut c = clinic(backend).await;
    assert_eq!(c.texting().await["status"], "not_enabled");

    // Staff start: the opt-in request goes out with the practice's name and STOP.
    let started_at = c.app.clock.now();
    let (status, texting) = c.staff_action("start").await;
    assert_eq!(status, 200, "{texting}");
    assert_eq!(texting["status"], "pending");
    assert_eq!(texting["attempts_left"], 3);
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(texting["expires_at"].clone()).unwrap();
    assert_eq!(expires, started_at + Duration::days(14));
    let sent = c.texts_sent(0, 1).await;
    assert!(
        sent[0].starts_with(
            "A member of your care team at Main Street Clinic is trying to get in contact"
        ),
        "{sent:?}"
    );
    assert!(sent[0].contains("'STOP'"));

    // Two wrong dates, each costing an attempt and answered with the attempts left.
    let wrong = c.patient_texts("01/01/1960").await;
    assert_eq!(c.texts_sent(1, 1).await.len(), 1);
    assert_eq!(c.texting().await["attempts_left"], 2);
    c.patient_texts("1-1-1960").await;
    let retry = c.texts_sent(2, 1).await;
    assert!(
        retry[0].contains('1'),
        "the retry prompt says how many tries are left: {retry:?}"
    );
    assert_eq!(c.texting().await["attempts_left"], 1);

    // The right date in another accepted format enables texting.
    let right = c.patient_texts("7/4/1961").await;
    let confirmed = c.texts_sent(3, 1).await;
    assert_eq!(c.texting().await["status"], "enabled");
    assert!(!confirmed[0].is_empty());

    // No date of birth the patient sent is kept anywhere in the conversation.
    for sid in [&wrong, &right] {
        let message = c.message_by_sid(sid).await;
        assert_eq!(message.body, None);
        assert!(message.redacted);
    }

    // A text from the enabled patient is kept as a conversation message.
    let hello = c.patient_texts("Feeling better today").await;
    let kept = c.message_by_sid(&hello).await;
    assert_eq!(kept.body.as_deref(), Some("Feeling better today"));

    // STOP: opted out with exactly one confirmation, then silence.
    c.patient_texts("Stop").await;
    let stop = c.texts_sent(4, 1).await;
    assert!(!stop[0].is_empty());
    assert_eq!(c.texting().await["status"], "opted_out");
    c.patient_texts("are you there?").await;
    c.patient_texts("STOP").await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        c.sent_count(),
        5,
        "nothing more is sent to an opted-out number"
    );

    // START: back to pending, identity verified again, with the restart and the request.
    c.patient_texts("START").await;
    let restart = c.texts_sent(5, 2).await;
    assert!(
        restart
            .iter()
            .any(|t| t.starts_with("A member of your care team")),
        "{restart:?}"
    );
    let texting = c.texting().await;
    assert_eq!(texting["status"], "pending");
    assert_eq!(texting["attempts_left"], 3);

    // Fourteen days without a match: failed by the expiry worker, and nothing is sent.
    c.days_pass(Duration::days(14) + Duration::minutes(1)).await;
    let expired = gateway::services::texting::expire_due(&c.app.state)
        .await
        .unwrap();
    assert_eq!(expired, 1);
    assert_eq!(c.texting().await["status"], "failed");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(c.sent_count(), 7);

    // Staff start again: fresh attempts and window, and the request goes out once more.
    let (status, texting) = c.staff_action("start").await;
    assert_eq!(status, 200, "{texting}");
    assert_eq!(texting["status"], "pending");
    assert_eq!(texting["attempts_left"], 3);
    let again = c.texts_sent(7, 1).await;
    assert!(again[0].starts_with("A member of your care team"));

    // Every status change reached the user who asked for Two-Way Texting notifications.
    let notes = c.notifications().await;
    let statuses: Vec<_> = notes
        .iter()
        .filter(|n| n["kind"] == "two_way_texting" && n["patient_id"] == json!(c.patient))
        .map(|n| {
            n["summary"]
                .as_str()
                .unwrap()
                .rsplit(' ')
                .next()
                .unwrap()
                .trim_end_matches('.')
                .to_string()
        })
        .collect();
    assert_eq!(
        statuses,
        [
            "pending",
            "failed",
            "pending",
            "opted_out",
            "enabled",
            "pending"
        ],
        "newest first"
    );
    let _ = c.staff_id;
}

async fn staff_actions_are_refused_from_the_wrong_state(backend: Backend) {
    let c = clinic(backend).await;
    let (status, body) = c.staff_action("resend").await;
    assert_eq!(status, 409, "resend needs pending: {body}");
    assert_eq!(body["error"]["code"], "invalid_texting_transition");
    assert_eq!(c.staff_action("start").await.0, 200);
    let before = c.texting().await;
    assert_eq!(c.staff_action("start").await.0, 409, "already pending");
    let (status, after) = c.staff_action("resend").await;
    assert_eq!(status, 200);
    assert_eq!(after, before, "resend changes nothing but the text");
    assert_eq!(c.texts_sent(0, 2).await.len(), 2);
    let (status, body) = c.staff_action("opt-out").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "opted_out");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(c.sent_count(), 2, "a staff opt-out sends nothing");
    // Without a mobile phone texting cannot start.
    let (_, patient) = c
        .app
        .patch_as(&c.staff, &c.patient_path(""), json!({"mobile_phone": ""}))
        .await;
    assert_eq!(patient["mobile_phone"], Value::Null);
    let (status, body) = c.staff_action("start").await;
    assert_eq!(status, 422, "{body}");
    assert!(error_message(&body).starts_with("mobile_phone"));
}

async fn a_family_phone_verifies_each_patient_by_date_and_opts_out_and_in_as_one_number(
    backend: Backend,
) {
    let c = clinic(backend).await;
    let (_, pat) = c.staff_get(&c.patient_path("")).await;
    assert_eq!(pat["number_shared_with"], 0);
    let pid = pat["practice_id"].as_str().unwrap();
    let kid = post(
        &c.app,
        &format!("/v1/practices/{pid}/patients"),
        &c.staff,
        json!({"first_name": "Sam", "last_name": "Jones", "dob": "2010-02-03", "mobile_phone": PATIENT_NUMBER}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let get = |path: String| {
        let (app, token) = (&c.app, c.staff.clone());
        async move {
            let (status, body) = app.get_as(&token, &path).await;
            assert_eq!(status, 200, "{path}: {body}");
            body
        }
    };
    // Staff see that the number is shared, not with whom.
    let view = get(format!("/v1/patients/{}", c.patient)).await;
    assert_eq!(view["number_shared_with"], 1);
    assert_eq!(
        get(format!("/v1/patients/{kid}")).await["number_shared_with"],
        1
    );
    // Both may verify on the one number.
    assert_eq!(c.staff_action("start").await.0, 200);
    let (status, body) = c
        .staff_post_empty(&format!("/v1/patients/{kid}/texting/start"))
        .await;
    assert_eq!(status, 200, "{body}");
    let texting = |id: String| {
        let get = &get;
        async move { get(format!("/v1/patients/{id}/texting")).await }
    };
    // The kid's date verifies the kid; the mother is still pending, attempts untouched.
    c.patient_texts("02/03/2010").await;
    assert_eq!(texting(kid.clone()).await["status"], "enabled");
    let mother = texting(c.patient.clone()).await;
    assert_eq!(
        (mother["status"].as_str(), mother["attempts_left"].as_i64()),
        (Some("pending"), Some(3))
    );
    // A date that is nobody's costs the pending mother an attempt.
    c.patient_texts("01/01/1999").await;
    assert_eq!(texting(c.patient.clone()).await["attempts_left"], 2);
    assert_eq!(texting(kid.clone()).await["status"], "enabled");
    // An ordinary text belongs to the enabled kid.
    c.patient_texts("see you at ten").await;
    let said = |id: String| {
        let get = &get;
        async move {
            get(format!("/v1/patients/{id}/messages?limit=50")).await["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["body"] == "see you at ten")
        }
    };
    assert!(said(kid.clone()).await);
    assert!(!said(c.patient.clone()).await);
    // STOP belongs to the number: both opted out, one confirmation. So far: two opt-in
    // requests, the kid's confirmation and one retry prompt.
    c.texts_sent(0, 4).await;
    let before = 4;
    c.patient_texts("STOP").await;
    assert_eq!(texting(kid.clone()).await["status"], "opted_out");
    assert_eq!(texting(c.patient.clone()).await["status"], "opted_out");
    let confirmation = c.texts_sent(before, 1).await;
    assert!(confirmation[0].contains("unsubscribed"), "{confirmation:?}");
    // START re-opts them both into verification, one prompt pair.
    let before = 5;
    c.patient_texts("START").await;
    assert_eq!(texting(kid.clone()).await["status"], "pending");
    assert_eq!(texting(c.patient.clone()).await["status"], "pending");
    assert_eq!(c.texts_sent(before, 2).await.len(), 2);
}

async fn a_verification_that_expired_while_the_gateway_was_down_fails_at_start_up_without_a_text(
    backend: Backend,
) {
    let mut c = clinic(backend).await;
    assert_eq!(c.staff_action("start").await.0, 200);
    c.texts_sent(0, 1).await;
    // The gateway is "down" for three weeks; the next start-up's first pass fails the window.
    c.days_pass(Duration::days(21)).await;
    let restarted = c.app.sibling().await;
    let response = eventually(
        10,
        "the restarted worker to fail the verification",
        || async {
            let r = c
                .app
                .client
                .get(restarted.url(&c.patient_path("/texting")))
                .bearer_auth(&c.staff)
                .send()
                .await
                .unwrap();
            let body: Value = r.json().await.unwrap();
            (body["status"] == "failed").then_some(body)
        },
    )
    .await;
    assert_eq!(response["attempts_left"], 0);
    // A date of birth arriving after the window does not enable texting.
    c.patient_texts("07/04/1961").await;
    assert_eq!(c.texting().await["status"], "failed");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(c.sent_count(), 1, "nothing is sent on expiry");
}

async fn help_gets_the_help_text_and_changes_nothing(backend: Backend) {
    let c = clinic(backend).await;
    assert_eq!(c.staff_action("start").await.0, 200);
    c.texts_sent(0, 1).await;
    let before = c.texting().await;
    c.patient_texts("help").await;
    let help = c.texts_sent(1, 1).await;
    assert!(help[0].to_uppercase().contains("STOP"), "{help:?}");
    assert_eq!(
        c.texting().await,
        before,
        "HELP is not a verification attempt"
    );
}

async fn a_message_that_mentions_stop_is_delivered_and_flagged_for_staff(backend: Backend) {
    let c = clinic(backend).await;
    c.staff_action("start").await;
    c.patient_texts("07/04/1961").await;
    c.texts_sent(0, 2).await;
    assert_eq!(c.texting().await["status"], "enabled");
    let sid = c.patient_texts("I can't stop coughing at night").await;
    let message = c.message_by_sid(&sid).await;
    assert_eq!(
        message.body.as_deref(),
        Some("I can't stop coughing at night")
    );
    assert_eq!(message.flag.as_deref(), Some("possible_opt_out"));
    assert_eq!(
        c.texting().await["status"],
        "enabled",
        "only flagged, not acted on"
    );
    assert!(
        c.notifications()
            .await
            .iter()
            .any(|n| n["summary"].as_str().unwrap().contains("request to stop"))
    );
    // A clear revocation phrase opts out.
    c.patient_texts("please stop texting me").await;
    assert_eq!(c.texting().await["status"], "opted_out");
}

#[tokio::test]
async fn two_texts_from_one_patient_at_the_same_moment_are_applied_one_after_the_other() {
    let c = clinic(Backend::Postgres).await;
    assert_eq!(c.staff_action("start").await.0, 200);
    c.texts_sent(0, 1).await;
    for _round in 0..3 {
        let before = c.texting().await["attempts_left"].as_i64().unwrap();
        if before < 2 {
            break;
        }
        let (a, b) = tokio::join!(c.patient_texts("01/01/1950"), c.patient_texts("02/02/1950"));
        assert_ne!(a, b);
        let after = c.texting().await;
        let expected_after = before - 2;
        if expected_after == 0 {
            assert_eq!(after["status"], "failed");
        } else {
            assert_eq!(
                after["attempts_left"], expected_after,
                "each text counted once, never against the same state"
            );
        }
    }
    // Two retry prompts with different counts prove the second saw the first's result.
    let sent = c.texts_sent(1, 2).await;
    assert_ne!(sent[0], sent[1], "{sent:?}");
}

impl Clinic {
    /// `/v1/patients/{patient}{rest}`: a route of the clinic's patient.
    pub fn patient_path(&self, rest: &str) -> String {
        format!("/v1/patients/{}{rest}", self.patient)
    }

    /// `GET path` as the clinic's staff user.
    pub async fn staff_get(&self, path: &str) -> (u16, Value) {
        self.app.get_as(&self.staff, path).await
    }

    /// `POST path` without a body as the clinic's staff user.
    pub async fn staff_post_empty(&self, path: &str) -> (u16, Value) {
        self.app.post_empty_as(&self.staff, path).await
    }

    /// `POST path` with a JSON body as the clinic's staff user.
    pub async fn staff_post(&self, path: &str, body: Value) -> (u16, Value) {
        self.app.post_as(&self.staff, path, body).await
    }

    /// Registers `patient` at `practice` as the clinic's staff user; answers the new patient.
    pub async fn add_patient(&self, practice: &str, patient: Value) -> Value {
        let path = format!("/v1/practices/{practice}/patients");
        post(&self.app, &path, &self.staff, patient).await
    }

    /// The message the carrier knows as `sid`.
    pub async fn message_by_sid(&self, sid: &str) -> store::Message {
        let found = self.app.store.find_message_by_carrier_sid("twilio", sid);
        found.await.unwrap()
    }

    /// The staff user starts verification and its first text goes out; answers the texts sent.
    pub async fn verification_started(&self) -> usize {
        assert_eq!(self.staff_action("start").await.0, 200);
        self.texts_sent(0, 1).await;
        1
    }

    /// The patient texts STOP and then START, and the three answers (the opt-out confirmation,
    /// then "identity again" and the opt-in request) follow the `sent` texts before them;
    /// answers the texts sent in all.
    pub async fn verification_restarted(&self, sent: usize) -> usize {
        self.patient_texts("STOP").await;
        self.patient_texts("START").await;
        self.texts_sent(sent, 3).await;
        sent + 3
    }

    /// Puts a user on the patient's care team (as the clinic's staff user).
    pub async fn join_care_team(&self, user_id: impl std::fmt::Display) {
        let (status, body) = self
            .staff_post(
                &self.patient_path("/care-team"),
                json!({ "user_id": user_id.to_string() }),
            )
            .await;
        assert!(
            status == 200 || status == 201 || status == 204,
            "{status}: {body}"
        );
    }

    /// The patient writes in the portal with `portal_token`.
    pub async fn portal_message(&self, portal_token: &str, body: &str) {
        let (status, answer) = self
            .app
            .post_as(portal_token, "/v1/portal/messages", json!({ "body": body }))
            .await;
        assert_eq!(status, 201, "{answer}");
    }

    /// Bodies of the texts the carrier received for `to` after the first `already` texts.
    pub fn app_texts_to(&self, to: &str, already: usize) -> Vec<String> {
        self.fake.received()[already..]
            .iter()
            .filter(|r| r.to == to)
            .map(|r| r.body.clone())
            .collect()
    }
}

/// START gives fresh date-of-birth attempts; without a limit the holder of a number could guess
/// a date of birth by STOP, START, three guesses, over and over.
async fn a_number_may_restart_verification_by_start_three_times_then_once_a_day(backend: Backend) {
    let mut c = clinic(backend).await;
    let mut sent = c.verification_started().await;
    for restart in 0..3 {
        sent = c.verification_restarted(sent).await;
        let texting = c.texting().await;
        assert_eq!(texting["status"], "pending", "restart {restart}");
        assert_eq!(texting["attempts_left"], 3);
    }
    // The fourth within a day: nothing changes; the patient is told to call the practice.
    c.patient_texts("STOP").await;
    c.patient_texts("START").await;
    let texts = c.texts_sent(sent, 2).await;
    sent += 2;
    assert!(texts[1].to_lowercase().contains("call"), "{texts:?}");
    assert_eq!(c.texting().await["status"], "opted_out");
    // A day later the patient may restart again.
    c.days_pass(Duration::days(1)).await;
    c.patient_texts("START").await;
    c.texts_sent(sent, 2).await;
    assert_eq!(c.texting().await["status"], "pending");
}
