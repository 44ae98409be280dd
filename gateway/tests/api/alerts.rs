//! Critical readings open alerts that reach whoever is on call and escalate until someone
//! acknowledges, on both stores, with the carrier as a local Twilio-speaking server.

use chrono::Duration;
use gateway::clock::Clock;
use gateway::settings::Settings;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::accounts::{PASSWORD, post};
use crate::both_backends;
use crate::fake_twilio::{AUTH_TOKEN, PUBLIC_BASE_URL};
use crate::helpers::{
    Backend, PATIENT_NUMBER, PRACTICE_NUMBER, error_message, eventually, form, items,
};
use crate::texting::{Clinic, clinic_with};

both_backends!(
    a_critical_reading_opens_an_alert_and_texts_the_on_call_phone_without_clinical_detail,
    an_unacknowledged_alert_escalates_step_by_step_and_skips_a_step_with_nobody,
    acknowledging_stops_the_escalation,
    an_ack_reply_from_the_on_call_phone_acknowledges_the_alert,
    a_normal_reading_opens_no_alert,
    escalation_resumes_on_a_restarted_gateway,
    an_alert_at_0130_on_the_night_the_clocks_go_back_reaches_the_overnight_on_call_user,
    in_an_on_call_gap_the_alert_goes_to_the_fallback_users_at_once,
    the_on_call_user_hears_of_a_new_patient_message,
    locking_the_on_call_user_hands_their_windows_to_the_successor,
    a_caution_reading_notifies_those_who_want_caution_notices_without_an_alert,
    the_nth_out_of_range_reading_in_a_row_notifies_once_per_run,
    an_overdue_vital_is_warned_about_once_per_episode_and_other_vitals_do_not_reset_it,
    a_patient_is_told_of_their_own_caution_and_critical_readings_without_detail_until_stop,
    a_practice_with_texting_off_texts_its_patients_no_reading_notice,
);

pub const ON_CALL_MOBILE: &str = "+14155550161";
pub const ADMIN_MOBILE: &str = "+14155550162";

pub struct Ward {
    pub c: Clinic,
    pub root: String,
    pub practice: String,
    pub on_call: String,
}

pub async fn ward(backend: Backend) -> Ward {
    ward_with(backend, |_| {}).await
}

/// [`ward`] with more settings (an SMTP server, say).
pub async fn ward_with(backend: Backend, more: impl FnOnce(&mut Settings)) -> Ward {
    let c = clinic_with(backend, more).await;
    c.app.super_admin("root-alerts", PASSWORD).await;
    let root = c.app.login("root-alerts", PASSWORD).await;
    let (_, me) = c.staff_get("/v1/me").await;
    let practice = me["practice_ids"][0].as_str().unwrap().to_string();
    let customer = me["customer_id"].as_str().unwrap().to_string();
    let on_call = post(
        &c.app,
        "/v1/users",
        &root,
        json!({"username": "oncall", "password": PASSWORD, "role": "staff", "customer_id": customer,
               "practice_ids": [practice], "mobile_phone": ON_CALL_MOBILE}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    post(
        &c.app,
        "/v1/users",
        &root,
        json!({"username": "admin-alerts", "password": PASSWORD, "role": "customer_admin", "customer_id": customer,
               "mobile_phone": ADMIN_MOBILE}),
    )
    .await;
    let (status, body) = c
        .app
        .put_as(
            &root,
            &format!("/v1/practices/{practice}/reading-alerts/pulse"),
            json!({"ranges": {"critical_low": 40, "normal_low": 60, "normal_high": 100, "critical_high": 130}, "change": null, "apply_to": "all_patients"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // On call all day.
    let on_call_all_day = json!([{"from": "00:00", "to": "00:00", "user_id": on_call}]);
    let path = format!("/v1/practices/{practice}/on-call");
    let (status, body) = c.app.put_as(&root, &path, on_call_all_day).await;
    assert_eq!(status, 200, "{body}");
    Ward {
        c,
        root,
        practice,
        on_call,
    }
}

impl Ward {
    /// `/v1/practices/{practice}{rest}`: a route of the ward's practice.
    pub fn practice_path(&self, rest: &str) -> String {
        format!("/v1/practices/{}{rest}", self.practice)
    }

    /// The on-call user, signed in as `token`, saves `setting` as theirs at the ward's practice.
    pub async fn on_call_saves(&self, token: &str, setting: Value) -> (u16, Value) {
        let user = &self.on_call;
        let path = format!(
            "/v1/users/{user}/notification-settings?practice_id={}",
            self.practice
        );
        let body = json!({ "settings": [setting] });
        self.c.app.put_as(token, &path, body).await
    }

    /// The kinds of the notifications in `username`'s feed, newest first.
    pub async fn notification_kinds_of(&self, username: &str) -> Vec<String> {
        let token = self.c.app.login(username, PASSWORD).await;
        let (status, notes) = self.c.app.get_as(&token, "/v1/notifications").await;
        assert_eq!(status, 200, "{notes}");
        let kinds = items(&notes)
            .iter()
            .map(|n| n["kind"].as_str().unwrap_or_default());
        kinds.map(str::to_string).collect()
    }

    /// `GET path` as the ward's super admin.
    pub async fn root_get(&self, path: &str) -> (u16, Value) {
        self.c.app.get_as(&self.root, path).await
    }

    /// `POST path` without a body as the ward's super admin.
    pub async fn root_post_empty(&self, path: &str) -> (u16, Value) {
        self.c.app.post_empty_as(&self.root, path).await
    }

    /// `POST path` with a JSON body as the ward's super admin.
    pub async fn root_post(&self, path: &str, body: Value) -> (u16, Value) {
        self.c.app.post_as(&self.root, path, body).await
    }

    /// `PUT path` with a JSON body as the ward's super admin.
    pub async fn root_put(&self, path: &str, body: Value) -> (u16, Value) {
        self.c.app.put_as(&self.root, path, body).await
    }

    /// `PATCH path` with a JSON body as the ward's super admin.
    pub async fn root_patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.c.app.patch_as(&self.root, path, body).await
    }

    pub async fn reading(&self, value: f64) -> Value {
        let taken_at = self.c.app.clock.now();
        let (status, body) = self
            .c
            .app
            .post_as(
                &self.c.staff,
                "/v1/readings",
                json!({"patient_id": self.c.patient, "vital": "pulse", "value": value, "taken_at": taken_at}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    pub async fn open_alerts(&self, token: &str) -> Vec<Value> {
        let (status, body) = self.c.app.get_as(token, "/v1/alerts?state=open").await;
        assert_eq!(status, 200, "{body}");
        items(&body).clone()
    }

    pub fn texts_to(&self, number: &str) -> Vec<String> {
        self.c
            .fake
            .received()
            .into_iter()
            .filter(|r| r.to == number)
            .map(|r| r.body)
            .collect()
    }

    pub async fn wait_texts_to(&self, number: &str, n: usize) -> Vec<String> {
        eventually(10, &format!("{n} texts to {number}"), || async {
            let got = self.texts_to(number);
            (got.len() >= n).then_some(got)
        })
        .await
    }

    /// Moves the clock on and takes due escalation steps; logs in again (sessions idle out).
    /// Answers how many alerts moved on a step, whether this call or the background escalation
    /// worker (which runs every few seconds) took it: a step is taken once either way.
    pub async fn minutes_pass(&mut self, minutes: i64) -> usize {
        let before = self.steps().await;
        self.c.app.clock.advance(Duration::minutes(minutes));
        self.c.staff = self.c.app.login("nurse", PASSWORD).await;
        self.root = self.c.app.login("root-alerts", PASSWORD).await;
        gateway::services::alerts::escalate_due(&self.c.app.state)
            .await
            .unwrap();
        let after = self.steps().await;
        after
            .iter()
            .filter(|(id, step)| before.iter().any(|(b, s)| b == id && s != step))
            .count()
    }

    /// Every alert of the practice with its step.
    async fn steps(&self) -> Vec<(Uuid, i32)> {
        let practice: Uuid = self.practice.parse().unwrap();
        self.c
            .app
            .store
            .list_alerts(vec![practice], None, store::Page::first(200))
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|a| (a.id, a.step))
            .collect()
    }
}

async fn a_critical_reading_opens_an_alert_and_texts_the_on_call_phone_without_clinical_detail(
    backend: Backend,
) {
    let w = ward(backend).await;
    let reading = w.reading(150.0).await;
    assert_eq!(reading["status"], "critical");
    let alerts = w.open_alerts(&w.c.staff).await;
    assert_eq!(alerts.len(), 1);
    let code = alerts[0]["code"].as_str().unwrap();
    assert_eq!(alerts[0]["reading_id"], reading["id"]);
    assert_eq!(alerts[0]["escalation_step"], 0);
    // Recorded once, although the first attempt (without an alert prepared) was rolled back.
    let (status, readings) = w.c.staff_get(&w.c.patient_path("/readings")).await;
    assert_eq!(status, 200, "{readings}");
    assert_eq!(items(&readings).len(), 1, "{readings}");
    let texts = w.wait_texts_to(ON_CALL_MOBILE, 1).await;
    assert!(
        texts[0].contains(code),
        "the text carries the code to acknowledge: {texts:?}"
    );
    assert!(
        !texts[0].contains("150") && !texts[0].to_lowercase().contains("pulse"),
        "no clinical detail: {texts:?}"
    );
    let outbox =
        w.c.app
            .store
            .list_outbox(store::Page::first(50))
            .await
            .unwrap();
    let alert_row = outbox
        .items
        .iter()
        .find(|o| o.to_number == ON_CALL_MOBILE)
        .unwrap();
    assert_eq!(
        alert_row.priority,
        store::priority::ALERT,
        "alert texts go out first"
    );
    let kinds = w.notification_kinds_of("oncall").await;
    assert!(kinds.contains(&"reading_critical".to_string()), "{kinds:?}");
}

async fn an_unacknowledged_alert_escalates_step_by_step_and_skips_a_step_with_nobody(
    backend: Backend,
) {
    let mut w = ward(backend).await;
    w.reading(30.0).await;
    w.wait_texts_to(ON_CALL_MOBILE, 1).await;
    assert_eq!(
        w.minutes_pass(9).await,
        0,
        "not before the escalation delay (10 minutes)"
    );
    // Step 1: sent again to whoever is on call.
    assert_eq!(w.minutes_pass(1).await, 1);
    w.wait_texts_to(ON_CALL_MOBILE, 2).await;
    // Step 2 would be the practice's default users: there are none, so it goes straight to the
    // customer's admins (step 3) without waiting another delay.
    assert_eq!(w.minutes_pass(10).await, 1);
    let admin = w.wait_texts_to(ADMIN_MOBILE, 1).await;
    assert!(!admin[0].is_empty());
    let alert = &w.open_alerts(&w.c.staff).await[0];
    assert_eq!(alert["escalation_step"], 3);
    // And round again: someone is always being asked until the alert is acknowledged.
    assert_eq!(w.minutes_pass(10).await, 1);
    w.wait_texts_to(ON_CALL_MOBILE, 3).await;
}

async fn acknowledging_stops_the_escalation(backend: Backend) {
    let mut w = ward(backend).await;
    w.reading(150.0).await;
    let alert = w.open_alerts(&w.c.staff).await[0].clone();
    let oncall = w.c.app.login("oncall", PASSWORD).await;
    let (status, acked) =
        w.c.app
            .post_empty_as(
                &oncall,
                &format!("/v1/alerts/{}/ack", alert["id"].as_str().unwrap()),
            )
            .await;
    assert_eq!(status, 200, "{acked}");
    assert_eq!(acked["state"], "acknowledged");
    assert_eq!(acked["acknowledged_by"], json!(w.on_call));
    assert!(w.open_alerts(&w.c.staff).await.is_empty());
    assert_eq!(
        w.minutes_pass(30).await,
        0,
        "an acknowledged alert never escalates"
    );
    let (status, again) = w
        .root_post_empty(&format!("/v1/alerts/{}/ack", alert["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        again["acknowledged_by"],
        json!(w.on_call),
        "the first acknowledgement stands"
    );
    let oncall = w.c.app.login("oncall", PASSWORD).await;
    let (status, _) =
        w.c.app
            .post_empty_as(&oncall, &format!("/v1/alerts/{}/ack", Uuid::now_v7()))
            .await;
    assert_eq!(status, 404);
}

async fn an_ack_reply_from_the_on_call_phone_acknowledges_the_alert(backend: Backend) {
    let w = ward(backend).await;
    w.reading(150.0).await;
    let alert = w.open_alerts(&w.c.staff).await[0].clone();
    let code = alert["code"].as_str().unwrap();
    // A reply from a number that is nobody's changes nothing.
    let stranger = form(&[
        ("MessageSid", &format!("SM{}", Uuid::new_v4().simple())),
        ("AccountSid", crate::fake_twilio::ACCOUNT_SID),
        ("From", "+14155550999"),
        ("To", PRACTICE_NUMBER),
        ("Body", &format!("ACK {code}")),
    ]);
    assert_eq!(
        w.c.app
            .post_signed(
                PUBLIC_BASE_URL,
                AUTH_TOKEN,
                "/webhooks/twilio/sms",
                &stranger
            )
            .await
            .status(),
        200
    );
    assert_eq!(w.open_alerts(&w.c.staff).await.len(), 1);
    let reply = form(&[
        ("MessageSid", &format!("SM{}", Uuid::new_v4().simple())),
        ("AccountSid", crate::fake_twilio::ACCOUNT_SID),
        ("From", ON_CALL_MOBILE),
        ("To", PRACTICE_NUMBER),
        ("Body", &format!("ack {}", code.to_lowercase())),
    ]);
    assert_eq!(
        w.c.app
            .post_signed(PUBLIC_BASE_URL, AUTH_TOKEN, "/webhooks/twilio/sms", &reply)
            .await
            .status(),
        200
    );
    assert!(w.open_alerts(&w.c.staff).await.is_empty());
    let (_, all) = w.c.staff_get("/v1/alerts?state=acknowledged").await;
    assert_eq!(all["items"][0]["acknowledged_by"], json!(w.on_call));
}

async fn a_normal_reading_opens_no_alert(backend: Backend) {
    let w = ward(backend).await;
    assert_eq!(w.reading(80.0).await["status"], "normal");
    assert_eq!(w.reading(110.0).await["status"], "caution");
    assert!(w.open_alerts(&w.c.staff).await.is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(w.texts_to(ON_CALL_MOBILE).is_empty());
    let _ = &w.practice;
}

async fn escalation_resumes_on_a_restarted_gateway(backend: Backend) {
    let w = ward(backend).await;
    w.reading(150.0).await;
    w.wait_texts_to(ON_CALL_MOBILE, 1).await;
    // Time passes while "the gateway is down"; a new instance's worker takes the step at start.
    w.c.app.clock.advance(Duration::minutes(11));
    let _restarted = w.c.app.sibling().await;
    let step = eventually(15, "the restarted instance to escalate", || async {
        let alert =
            w.c.app
                .store
                .due_alerts(w.c.app.clock.now() + Duration::days(1), 10)
                .await
                .unwrap();
        alert.first().filter(|a| a.step >= 1).map(|a| a.step)
    })
    .await;
    assert_eq!(step, 1);
}

/// Two windows in New York time: overnight 22:00-06:00 for the on-call user, the day for `day`.
async fn overnight_schedule(w: &Ward, day: &str) {
    let (status, body) = w
        .c
        .app
        .put_as(
            &w.root,
            &w.practice_path("/on-call"),
            json!([{"from": "22:00", "to": "06:00", "user_id": w.on_call}, {"from": "06:00", "to": "22:00", "user_id": day}]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn an_alert_at_0130_on_the_night_the_clocks_go_back_reaches_the_overnight_on_call_user(
    backend: Backend,
) {
    let mut w = ward(backend).await;
    let (_, me) = w.c.staff_get("/v1/me").await;
    crate::oncall::give_mobile(&w.c.app, &w.root, me["id"].as_str().unwrap()).await;
    overnight_schedule(&w, me["id"].as_str().unwrap()).await;
    // 2026-11-01 in New York: 01:30 happens twice, at 05:30 UTC (EDT) and 06:30 UTC (EST).
    for (utc, texts) in [((5, 30), 1), ((6, 30), 2)] {
        w.c.app.clock.set(
            chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 1, utc.0, utc.1, 0).unwrap(),
        );
        w.c.staff = w.c.app.login("nurse", PASSWORD).await;
        w.root = w.c.app.login("root-alerts", PASSWORD).await;
        w.reading(150.0).await;
        w.wait_texts_to(ON_CALL_MOBILE, texts).await;
        // Acknowledged, so the second reading opens an alert of its own rather than joining it.
        let alert = w.open_alerts(&w.c.staff).await[0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (status, _) =
            w.c.staff_post_empty(&format!("/v1/alerts/{alert}/ack"))
                .await;
        assert_eq!(status, 200);
    }
    let (_, all) = w.c.staff_get("/v1/alerts").await;
    assert_eq!(items(&all).len(), 2, "{all}");
}

async fn in_an_on_call_gap_the_alert_goes_to_the_fallback_users_at_once(backend: Backend) {
    let w = ward(backend).await;
    // On call only 09:00-10:00 New York time; the clock stands at 10:00 there (15:00 UTC in March).
    let (status, _) = w
        .root_put(
            &w.practice_path("/on-call"),
            json!([{"from": "09:00", "to": "10:00", "user_id": w.on_call}]),
        )
        .await;
    assert_eq!(status, 200);
    w.reading(150.0).await;
    // Nobody on call and no care team: the first texts go straight to the customer's admins.
    w.wait_texts_to(ADMIN_MOBILE, 1).await;
    assert!(w.texts_to(ON_CALL_MOBILE).is_empty());
}

async fn the_on_call_user_hears_of_a_new_patient_message(backend: Backend) {
    let w = ward(backend).await;
    let (_, portal) =
        w.c.staff_post_empty(&w.c.patient_path("/portal/enroll"))
            .await;
    let token = portal["portal_token"].as_str().unwrap();
    w.c.app
        .post_as(token, "/v1/portal/messages", json!({"body": "hello"}))
        .await;
    let kinds = w.notification_kinds_of("oncall").await;
    assert!(
        kinds.contains(&"new_patient_message".to_string()),
        "{kinds:?}"
    );
}

async fn locking_the_on_call_user_hands_their_windows_to_the_successor(backend: Backend) {
    let w = ward(backend).await;
    let (_, me) = w.c.staff_get("/v1/me").await;
    let successor = me["id"].as_str().unwrap().to_string();
    crate::oncall::give_mobile(&w.c.app, &w.root, &successor).await;
    let (_, outstanding) = w
        .root_get(&format!("/v1/users/{}/outstanding", w.on_call))
        .await;
    assert_eq!(outstanding["on_call_at"], json!([w.practice]));
    assert_eq!(outstanding["open_alerts"], json!([]));
    // An open alert the on-call user was told of is theirs to hand over too.
    let reading = w.reading(150.0).await;
    assert_eq!(reading["status"], "critical");
    let alert_id = w.open_alerts(&w.c.staff).await[0]["id"].clone();
    let (_, outstanding) = w
        .root_get(&format!("/v1/users/{}/outstanding", w.on_call))
        .await;
    assert_eq!(
        outstanding["open_alerts"],
        json!([alert_id]),
        "{outstanding}"
    );
    let (status, body) = w
        .root_post_empty(&format!("/v1/users/{}/lock", w.on_call))
        .await;
    assert_eq!(status, 409, "on call: must be handed over: {body}");
    let (status, body) = w
        .root_post(
            &format!("/v1/users/{}/lock", w.on_call),
            json!({"reassign_to": successor}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, schedule) = w.root_get(&w.practice_path("/on-call")).await;
    assert_eq!(schedule[0]["user_id"], json!(successor), "{schedule}");
    let handed =
        w.c.notifications()
            .await
            .into_iter()
            .filter(|n| n["summary"] == store::HANDED_OVER_ALERT_SUMMARY)
            .count();
    assert_eq!(handed, 1, "the successor is told of the open alert");
}

async fn a_caution_reading_notifies_those_who_want_caution_notices_without_an_alert(
    backend: Backend,
) {
    let w = ward(backend).await;
    let oncall = w.c.app.login("oncall", PASSWORD).await;
    let (status, body) = w.on_call_saves(
        &oncall,
        json!({"kind": "reading_caution", "enabled": true, "push": true, "email": false, "text": true}),
    )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(w.reading(115.0).await["status"], "caution");
    let texts = w.wait_texts_to(ON_CALL_MOBILE, 1).await;
    assert!(!texts[0].contains("115"));
    let (_, notes) = w.c.app.get_as(&oncall, "/v1/notifications").await;
    assert!(items(&notes).iter().any(|n| n["kind"] == "reading_caution"));
    assert!(
        w.open_alerts(&w.c.staff).await.is_empty(),
        "a caution opens no alert"
    );
}

async fn the_nth_out_of_range_reading_in_a_row_notifies_once_per_run(backend: Backend) {
    let mut w = ward(backend).await;
    let (status, body) = w
        .root_put(
            &w.practice_path("/reading-frequency"),
            json!({"warn_after_days": 0, "out_of_range_count": 3, "vitals": []}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let oncall = w.c.app.login("oncall", PASSWORD).await;
    let (status, body) = w.on_call_saves(
        &oncall,
        json!({"kind": "reading_caution", "enabled": true, "push": true, "email": false, "text": false}),
    )
        .await;
    assert_eq!(status, 200, "{body}");
    let runs = |token: String| {
        let app = &w.c.app;
        async move {
            let (_, notes) = app.get_as(&token, "/v1/notifications?limit=200").await;
            items(&notes)
                .iter()
                .filter(|n| n["summary"].as_str().unwrap().contains("in a row"))
                .count()
        }
    };
    for (value, expected_runs) in [
        (110.0, 0),
        (112.0, 0),
        (115.0, 1),
        (118.0, 1),
        (80.0, 1),
        (111.0, 1),
        (112.0, 1),
        (113.0, 2),
    ] {
        w.c.app.clock.advance(Duration::minutes(1));
        w.c.staff = w.c.app.login("nurse", PASSWORD).await;
        w.reading(value).await;
        let oncall = w.c.app.login("oncall", PASSWORD).await;
        assert_eq!(runs(oncall).await, expected_runs, "after {value}");
    }
    let _ = &mut w;
}

async fn an_overdue_vital_is_warned_about_once_per_episode_and_other_vitals_do_not_reset_it(
    backend: Backend,
) {
    let mut w = ward(backend).await;
    // Pulse once a day, warned about two days after it falls behind; for all patients, so the
    // ward's existing patient gets it too.
    let (status, body) =
        w.root_put(
            &w.practice_path("/reading-frequency"),
            json!({"warn_after_days": 2, "out_of_range_count": 0, "vitals": [{"vital": "pulse", "readings": 1, "per_days": 1}], "apply_to": "all_patients"}),
        )
            .await;
    assert_eq!(status, 200, "{body}");
    let oncall = w.c.app.login("oncall", PASSWORD).await;
    let (status, _) = w.on_call_saves(
        &oncall,
        json!({"kind": "overdue_readings", "enabled": true, "push": true, "email": false, "text": false}),
    )
        .await;
    assert_eq!(status, 200);
    w.reading(80.0).await;
    let warn = || gateway::services::reading_frequency::warn_overdue(&w.c.app.state);
    // A body-weight reading (a vital with no frequency) on day 2 does not silence pulse.
    w.c.app.clock.advance(Duration::days(2));
    w.c.staff = w.c.app.login("nurse", PASSWORD).await;
    let taken_at = w.c.app.clock.now();
    let (status, body) = w
        .c
        .app
        .post_as(
            &w.c.staff,
            "/v1/readings",
            json!({"patient_id": w.c.patient, "vital": "body_weight", "value": 70, "taken_at": taken_at}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // Pulse fell behind a day after its reading; the warning comes two days later.
    w.c.app
        .clock
        .advance(Duration::days(1) - Duration::minutes(1));
    assert_eq!(warn().await.unwrap(), 0, "not yet warned");
    w.c.app.clock.advance(Duration::minutes(2));
    assert_eq!(warn().await.unwrap(), 1);
    assert_eq!(warn().await.unwrap(), 0, "once per episode");
    // A new pulse reading ends the episode; the next silence warns again.
    w.c.staff = w.c.app.login("nurse", PASSWORD).await;
    w.reading(82.0).await;
    w.c.app.clock.advance(Duration::days(3));
    assert_eq!(warn().await.unwrap(), 1);
    let oncall = w.c.app.login("oncall", PASSWORD).await;
    let (_, notes) = w.c.app.get_as(&oncall, "/v1/notifications?limit=200").await;
    let overdue: Vec<&Value> = items(&notes)
        .iter()
        .filter(|n| n["kind"] == "overdue_readings")
        .collect();
    assert_eq!(overdue.len(), 2);
    assert!(
        overdue[0]["summary"]
            .as_str()
            .unwrap()
            .starts_with("Pulse readings are overdue"),
        "{}",
        overdue[0]
    );
    let _ = &mut w;
}

async fn a_patient_is_told_of_their_own_caution_and_critical_readings_without_detail_until_stop(
    backend: Backend,
) {
    let mut w = ward(backend).await;
    // The practice's patient defaults, saved for all patients: the ward's patient gets them.
    let (status, body) =
        w.root_put(
            &w.practice_path("/notification-defaults/patients"),
            json!({"settings": [ {"kind": "reading_caution", "enabled": true, "email": false, "text": true}, {"kind": "reading_critical", "enabled": true, "email": false, "text": true}], "apply_to": "all_patients"}),
        )
            .await;
    assert_eq!(status, 200, "{body}");
    let (status, own) =
        w.c.staff_get(&w.c.patient_path("/notification-settings"))
            .await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(
        own["settings"][0],
        json!({"kind": "reading_caution", "enabled": true, "email": false, "text": true})
    );
    // Texting enabled: start, then the patient confirms the date of birth.
    let (status, _) = w.c.staff_action("start").await;
    assert_eq!(status, 200);
    w.c.patient_texts("07/04/1961").await;
    assert_eq!(w.c.texting().await["status"], "enabled");
    let before = w.wait_texts_to(PATIENT_NUMBER, 2).await.len();
    let (_, practice) = w.root_get(&w.practice_path("")).await;
    let notice = format!(
        "We received a reading that needs attention. Your care team at {} has been told.",
        practice["name"].as_str().unwrap()
    );
    // A caution reading: one text, with nothing clinical in it.
    assert_eq!(w.reading(115.0).await["status"], "caution");
    let texts = w.wait_texts_to(PATIENT_NUMBER, before + 1).await;
    assert_eq!(texts[before], notice);
    assert_eq!(notices(&w, &notice).await, 1);
    // The next caution of the same run tells the patient nothing new.
    w.c.app.clock.advance(Duration::minutes(1));
    assert_eq!(w.reading(116.0).await["status"], "caution");
    assert_eq!(notices(&w, &notice).await, 1);
    // A critical reading that opens an alert is told; one that joins it is not.
    w.c.app.clock.advance(Duration::minutes(1));
    assert_eq!(w.reading(140.0).await["status"], "critical");
    assert_eq!(notices(&w, &notice).await, 2);
    w.c.app.clock.advance(Duration::minutes(1));
    assert_eq!(w.reading(141.0).await["status"], "critical");
    assert_eq!(notices(&w, &notice).await, 2);
    let texts = w.wait_texts_to(PATIENT_NUMBER, before + 2).await;
    assert_eq!(texts[before + 1], notice);
    // STOP wins: after it, a new caution run texts the patient nothing.
    w.c.patient_texts("STOP").await;
    assert_eq!(w.c.texting().await["status"], "opted_out");
    w.c.app.clock.advance(Duration::minutes(1));
    assert_eq!(w.reading(80.0).await["status"], "normal");
    w.c.app.clock.advance(Duration::minutes(1));
    assert_eq!(w.reading(117.0).await["status"], "caution");
    assert_eq!(notices(&w, &notice).await, 2);
    // Staff turn the patient's caution notices off: nothing either way.
    let (status, body) = w
        .c
        .app
        .put_as(
            &w.c.staff,
            &w.c.patient_path("/notification-settings"),
            json!({"settings": [{"kind": "reading_caution", "enabled": false, "email": false, "text": true}]}),
        )
        .await;
    assert_eq!(status, 422, "a channel on while off: {body}");
    assert!(error_message(&body).contains("settings[0].text"));
    let (status, body) = w
        .c
        .app
        .put_as(
            &w.c.staff,
            &w.c.patient_path("/notification-settings"),
            json!({"settings": [{"kind": "reading_caution", "enabled": false, "email": false, "text": false}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["settings"][0]["enabled"], false);
    assert_eq!(
        body["settings"][1]["enabled"], true,
        "other kinds keep theirs"
    );
    let _ = &mut w;
}

async fn a_practice_with_texting_off_texts_its_patients_no_reading_notice(backend: Backend) {
    let w = ward(backend).await;
    let (status, body) =
        w.root_put(
            &w.practice_path("/notification-defaults/patients"),
            json!({"settings": [ {"kind": "reading_caution", "enabled": true, "email": false, "text": true}], "apply_to": "all_patients"}),
        )
            .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = w.c.staff_action("start").await;
    assert_eq!(status, 200);
    w.c.patient_texts("07/04/1961").await;
    assert_eq!(w.c.texting().await["status"], "enabled");
    // The practice turns texting off: the patient's caution notice has no channel left (the
    // patient is not enrolled in the portal), so nothing is sent or recorded.
    let (status, body) = w
        .root_patch(&w.practice_path(""), json!({"texting_enabled": false}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, practice) = w.root_get(&w.practice_path("")).await;
    let notice = format!(
        "We received a reading that needs attention. Your care team at {} has been told.",
        practice["name"].as_str().unwrap()
    );
    assert_eq!(w.reading(115.0).await["status"], "caution");
    assert_eq!(notices(&w, &notice).await, 0);
}

/// How many notices about their readings the patient's conversation holds.
async fn notices(w: &Ward, notice: &str) -> usize {
    let path = format!("/v1/patients/{}/messages?limit=100", w.c.patient);
    let (status, body) = w.c.staff_get(&path).await;
    assert_eq!(status, 200, "{body}");
    items(&body)
        .iter()
        .filter(|m| m["body"] == notice)
        .inspect(|m| {
            assert_eq!(m["direction"], "outbound");
            assert_eq!(m["author_user_id"], Value::Null);
        })
        .count()
}
