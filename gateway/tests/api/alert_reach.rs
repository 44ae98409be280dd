//! An alert is "seen" only when a person who can act on it has it: reachability by text, numbers
//! known to fail, acknowledgement bound to the numbers told, program restrictions, alert storms,
//! readings out of order, late, in other units or without ranges. Both stores.

use chrono::Duration;
use gateway::clock::Clock;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::accounts::{PASSWORD, post};
use crate::alerts::{ADMIN_MOBILE, ON_CALL_MOBILE, Ward, ward};
use crate::both_backends;
use crate::fake_twilio::{AUTH_TOKEN, Answer, PUBLIC_BASE_URL};
use crate::helpers::{
    Backend, PRACTICE_NUMBER, error_message, eventually, form, items, raw_sql, sql_uuid,
};

both_backends!(
    a_step_whose_people_read_only_the_feed_has_reached_nobody_and_the_next_is_texted_at_once,
    a_staff_number_that_fails_for_good_makes_the_next_step_due_at_once_and_is_skipped_after,
    a_stop_from_a_staff_number_skips_it_until_it_texts_start,
    an_ack_is_answered_acknowledged_and_then_already_acknowledged_with_name_and_time,
    an_ack_from_a_number_the_alert_was_not_sent_to_is_not_recognised,
    an_ack_from_a_user_who_can_no_longer_see_the_patient_acknowledges_nothing,
    code_not_recognised_answers_are_limited_per_number,
    alerts_of_a_patient_whose_programs_are_all_restricted_are_neither_listed_nor_told,
    an_alert_template_without_its_code_is_refused,
    a_repeated_reading_is_stored_once_and_answered_as_the_first,
    critical_readings_of_a_vital_with_an_open_alert_join_it_without_new_texts,
    a_reading_uploaded_after_a_later_one_is_compared_with_it,
    a_late_critical_reading_is_marked_late_in_the_notification,
    glucose_in_mmol_per_litre_is_converted_before_it_is_classified,
    a_vital_without_ranges_is_unclassified_and_the_care_team_hears_once_per_run,
    one_alert_that_cannot_escalate_does_not_stop_the_others,
    an_alert_that_opens_reaching_nobody_by_text_is_counted_once,
);

const OTHER_MOBILE: &str = "+14155550163";

impl Ward {
    /// A critical reading whose alert is texted to the on-call user; answers the alert's code.
    async fn critical_alert_texted_to_on_call(&self) -> String {
        self.reading(150.0).await;
        self.wait_texts_to(ON_CALL_MOBILE, 1).await;
        let alerts = self.open_alerts(&self.c.staff).await;
        alerts[0]["code"].as_str().unwrap().to_string()
    }

    /// A signed inbound text to the practice number.
    async fn text_from(&self, from: &str, body: &str) {
        let sms = form(&[
            ("MessageSid", &format!("SM{}", Uuid::new_v4().simple())),
            ("AccountSid", crate::fake_twilio::ACCOUNT_SID),
            ("From", from),
            ("To", PRACTICE_NUMBER),
            ("Body", body),
        ]);
        let status = self
            .c
            .app
            .post_signed(PUBLIC_BASE_URL, AUTH_TOKEN, "/webhooks/twilio/sms", &sms)
            .await
            .status();
        assert_eq!(status, 200);
        self.c.app.wake_dispatcher();
    }

    async fn api(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.c.app.call(method, path, Some(token), body).await;
        assert!((200..300).contains(&status), "{path}: {status} {answer}");
        answer
    }

    async fn reading_of(&self, vital: &str, value: f64, minutes_ago: i64) -> Value {
        let taken_at = self.c.app.clock.now() - Duration::minutes(minutes_ago);
        self.api(
            Method::POST,
            "/v1/readings",
            &self.c.staff,
            Some(json!({"patient_id": self.c.patient, "vital": vital, "value": value, "taken_at": taken_at})),
        )
        .await
    }

    /// A staff user of the practice with a mobile number; returns its id.
    async fn staff_with_mobile(&self, username: &str, mobile: &str) -> String {
        let me = self.api(Method::GET, "/v1/me", &self.c.staff, None).await;
        post(
            &self.c.app,
            "/v1/users",
            &self.root,
            json!({"username": username, "password": PASSWORD, "role": "staff", "first_name": "Olu",
                   "customer_id": me["customer_id"], "practice_ids": [self.practice], "mobile_phone": mobile}),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn notifications_of(&self, username: &str) -> Vec<Value> {
        let token = self.c.app.login(username, PASSWORD).await;
        self.api(Method::GET, "/v1/notifications", &token, None)
            .await["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn settings(&self, user_id: &str, username: &str, kind: &str, text: bool) {
        let token = self.c.app.login(username, PASSWORD).await;
        self.api(
            Method::PUT,
            &format!(
                "/v1/users/{user_id}/notification-settings?practice_id={}",
                self.practice
            ),
            &token,
            Some(json!({"settings": [{"kind": kind, "enabled": true, "push": true, "email": false, "text": text}]})),
        )
        .await;
    }

    async fn no_one_on_call(&self) {
        self.api(
            Method::PUT,
            &self.practice_path("/on-call"),
            &self.root,
            Some(json!([])),
        )
        .await;
    }

    async fn acknowledge_all(&self) {
        for alert in self.open_alerts(&self.c.staff).await {
            self.api(
                Method::POST,
                &format!("/v1/alerts/{}/ack", alert["id"].as_str().unwrap()),
                &self.c.staff,
                None,
            )
            .await;
        }
    }

    async fn patient_programs(&self, programs: &[&str]) {
        self.api(
            Method::PATCH,
            &format!("/v1/patients/{}", self.c.patient),
            &self.c.staff,
            Some(json!({ "programs": programs })),
        )
        .await;
    }
}

async fn a_step_whose_people_read_only_the_feed_has_reached_nobody_and_the_next_is_texted_at_once(
    backend: Backend,
) {
    let w = ward(backend).await;
    w.no_one_on_call().await;
    // The nurse is on the care team and wants critical readings on every channel, but has no
    // mobile number: the feed alone does not count as reaching someone.
    w.c.join_care_team(&w.c.staff_id).await;
    w.settings(&w.c.staff_id, "nurse", "reading_critical", true)
        .await;
    w.reading(150.0).await;
    // No default users: the customer's admins are texted with the opening notification.
    w.wait_texts_to(ADMIN_MOBILE, 1).await;
    let notes = w.notifications_of("nurse").await;
    assert!(
        notes.iter().any(|n| n["kind"] == "reading_critical"),
        "the care team still hears of it in the feed: {notes:?}"
    );
}

async fn a_staff_number_that_fails_for_good_makes_the_next_step_due_at_once_and_is_skipped_after(
    backend: Backend,
) {
    let w = ward(backend).await;
    w.c.fake.answer_for(
        ON_CALL_MOBILE,
        Answer::Error {
            code: 21211,
            message: "The 'To' number is not a valid phone number.",
        },
    );
    w.reading(150.0).await;
    w.wait_texts_to(ON_CALL_MOBILE, 1).await;
    // Not after the escalation delay: at once, the clock standing still. (The background
    // worker may take the step before this loop does; it is taken once either way.)
    // The on-call number is known to fail now, so step 1 (on call again) reaches nobody and the
    // step goes on to the admins (no default users) straight away.
    let admin = eventually(15, "the next step to reach the admins at once", || async {
        gateway::services::alerts::escalate_due(&w.c.app.state)
            .await
            .unwrap();
        let texts = w.texts_to(ADMIN_MOBILE);
        (!texts.is_empty()).then_some(texts)
    })
    .await;
    assert!(admin[0].contains("ACK"), "{admin:?}");
    let alert = &w.open_alerts(&w.c.staff).await[0];
    assert_eq!(alert["step"], 3);
    assert_eq!(
        w.texts_to(ON_CALL_MOBILE).len(),
        1,
        "the failing number is not texted again"
    );
    // A new alert skips the failing number from its opening.
    w.acknowledge_all().await;
    w.reading_of("pulse", 155.0, 0).await;
    w.wait_texts_to(ADMIN_MOBILE, 2).await;
    assert_eq!(w.texts_to(ON_CALL_MOBILE).len(), 1);
    // Saving the number again says it works: the next alert texts it.
    w.api(
        Method::PATCH,
        &format!("/v1/users/{}", w.on_call),
        &w.root,
        Some(json!({ "mobile_phone": ON_CALL_MOBILE })),
    )
    .await;
    w.acknowledge_all().await;
    w.reading_of("pulse", 156.0, 0).await;
    w.wait_texts_to(ON_CALL_MOBILE, 2).await;
}

async fn a_stop_from_a_staff_number_skips_it_until_it_texts_start(backend: Backend) {
    let w = ward(backend).await;
    w.text_from(ON_CALL_MOBILE, "STOP").await;
    w.reading(150.0).await;
    w.wait_texts_to(ADMIN_MOBILE, 1).await;
    assert!(w.texts_to(ON_CALL_MOBILE).is_empty());
    w.acknowledge_all().await;
    w.text_from(ON_CALL_MOBILE, "START").await;
    w.reading_of("pulse", 151.0, 0).await;
    w.wait_texts_to(ON_CALL_MOBILE, 1).await;
}

async fn an_ack_is_answered_acknowledged_and_then_already_acknowledged_with_name_and_time(
    backend: Backend,
) {
    let w = ward(backend).await;
    w.api(
        Method::PATCH,
        &format!("/v1/users/{}", w.on_call),
        &w.root,
        Some(json!({ "first_name": "Dana" })),
    )
    .await;
    let code = w.critical_alert_texted_to_on_call().await;
    w.text_from(ON_CALL_MOBILE, &format!("ack {}", code.to_lowercase()))
        .await;
    let replies = w.wait_texts_to(ON_CALL_MOBILE, 2).await;
    assert!(replies[1].contains("acknowledged"), "{replies:?}");
    assert!(w.open_alerts(&w.c.staff).await.is_empty());
    w.text_from(ON_CALL_MOBILE, &format!("ACK {code}")).await;
    let replies = w.wait_texts_to(ON_CALL_MOBILE, 3).await;
    assert!(
        replies[2].contains("already acknowledged by Dana at"),
        "{replies:?}"
    );
}

async fn an_ack_from_a_number_the_alert_was_not_sent_to_is_not_recognised(backend: Backend) {
    let w = ward(backend).await;
    // A colleague of the same practice who was not on call: not told, so cannot acknowledge.
    w.staff_with_mobile("colleague", OTHER_MOBILE).await;
    let code = w.critical_alert_texted_to_on_call().await;
    w.text_from(OTHER_MOBILE, &format!("ACK {code}")).await;
    let reply = w.wait_texts_to(OTHER_MOBILE, 1).await;
    assert!(reply[0].contains("not recognised"), "{reply:?}");
    assert_eq!(w.open_alerts(&w.c.staff).await.len(), 1);
}

async fn an_ack_from_a_user_who_can_no_longer_see_the_patient_acknowledges_nothing(
    backend: Backend,
) {
    let w = ward(backend).await;
    w.patient_programs(&["behavioral"]).await;
    let code = w.critical_alert_texted_to_on_call().await;
    // Restricted after the text went out.
    w.api(
        Method::PATCH,
        &format!("/v1/users/{}", w.on_call),
        &w.root,
        Some(json!({ "restricted_programs": ["behavioral"] })),
    )
    .await;
    w.text_from(ON_CALL_MOBILE, &format!("ACK {code}")).await;
    let replies = w.wait_texts_to(ON_CALL_MOBILE, 2).await;
    assert!(replies[1].contains("not recognised"), "{replies:?}");
    assert_eq!(w.open_alerts(&w.c.staff).await.len(), 1);
}

async fn code_not_recognised_answers_are_limited_per_number(backend: Backend) {
    let w = ward(backend).await;
    for _ in 0..5 {
        w.text_from("+14155550999", "ACK ABCDEF").await;
    }
    w.wait_texts_to("+14155550999", 3).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(w.texts_to("+14155550999").len(), 3);
}

async fn alerts_of_a_patient_whose_programs_are_all_restricted_are_neither_listed_nor_told(
    backend: Backend,
) {
    let w = ward(backend).await;
    w.patient_programs(&["behavioral"]).await;
    let restricted = w.staff_with_mobile("restricted", OTHER_MOBILE).await;
    w.api(
        Method::PATCH,
        &format!("/v1/users/{restricted}"),
        &w.root,
        Some(json!({ "restricted_programs": ["behavioral"] })),
    )
    .await;
    // The restricted user is on call too, and follows the patient.
    w.api(
        Method::PUT,
        &w.practice_path("/on-call"),
        &w.root,
        Some(
            json!([{"from": "00:00", "to": "00:00", "user_id": w.on_call},
                    {"from": "00:00", "to": "00:00", "user_id": restricted}]),
        ),
    )
    .await;
    w.reading(150.0).await;
    w.wait_texts_to(ON_CALL_MOBILE, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(w.texts_to(OTHER_MOBILE).is_empty(), "not texted");
    assert!(
        !w.notifications_of("restricted")
            .await
            .iter()
            .any(|n| n["kind"] == "reading_critical"),
        "not in the feed"
    );
    let token = w.c.app.login("restricted", PASSWORD).await;
    assert!(w.open_alerts(&token).await.is_empty(), "not listed");
    let oncall = w.c.app.login("oncall", PASSWORD).await;
    assert_eq!(w.open_alerts(&oncall).await.len(), 1);
}

async fn an_alert_template_without_its_code_is_refused(backend: Backend) {
    let w = ward(backend).await;
    let template = w.practice_path("/templates/alert_critical");
    let without_code = "{practice_name}: a reading needs review. Sign in.";
    let (status, body) = w.root_put(&template, json!({ "text": without_code })).await;
    assert_eq!(status, 422, "{body}");
    assert!(error_message(&body).contains("text"), "{body}");
    let with_code = "{practice_name}: urgent. Reply ACK {alert_code}";
    let (status, body) = w.root_put(&template, json!({ "text": with_code })).await;
    assert_eq!(status, 200, "{body}");
}

async fn a_repeated_reading_is_stored_once_and_answered_as_the_first(backend: Backend) {
    let w = ward(backend).await;
    let first = w.reading_of("pulse", 150.0, 3).await;
    let again = w.reading_of("pulse", 150.0, 3).await;
    assert_eq!(first, again, "answered as the first");
    let readings = w
        .api(
            Method::GET,
            &w.c.patient_path("/readings"),
            &w.c.staff,
            None,
        )
        .await;
    assert_eq!(items(&readings).len(), 1);
    assert_eq!(w.open_alerts(&w.c.staff).await.len(), 1);
    w.wait_texts_to(ON_CALL_MOBILE, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(w.texts_to(ON_CALL_MOBILE).len(), 1);
}

async fn critical_readings_of_a_vital_with_an_open_alert_join_it_without_new_texts(
    backend: Backend,
) {
    let w = ward(backend).await;
    let first = w.reading_of("pulse", 150.0, 2).await;
    let second = w.reading_of("pulse", 160.0, 1).await;
    let third = w.reading_of("pulse", 170.0, 0).await;
    assert_eq!(third["status"], "critical");
    let alerts = w.open_alerts(&w.c.staff).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let mut ids: Vec<&str> = alerts[0]["reading_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    ids.sort();
    let mut expected = vec![
        first["id"].as_str().unwrap(),
        second["id"].as_str().unwrap(),
        third["id"].as_str().unwrap(),
    ];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(alerts[0]["reading_id"], first["id"]);
    w.wait_texts_to(ON_CALL_MOBILE, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(w.texts_to(ON_CALL_MOBILE).len(), 1, "one text per alert");
    // Once acknowledged, the next critical reading opens a new alert.
    w.acknowledge_all().await;
    w.reading_of("pulse", 175.0, 0).await;
    assert_eq!(w.open_alerts(&w.c.staff).await.len(), 1);
    w.wait_texts_to(ON_CALL_MOBILE, 2).await;
}

async fn a_reading_uploaded_after_a_later_one_is_compared_with_it(backend: Backend) {
    let w = ward(backend).await;
    w.api(
        Method::PUT,
        &w.practice_path("/reading-alerts/pulse"),
        &w.root,
        Some(json!({"ranges": {"critical_low": 40, "normal_low": 60, "normal_high": 100, "critical_high": 130},
                    "change": {"amount": 20, "unit": "units", "within_hours": 24}, "apply_to": "all_patients"})),
    )
    .await;
    // The device uploads newest first: 95 taken an hour ago, then 70 taken five hours ago.
    assert_eq!(w.reading_of("pulse", 95.0, 60).await["status"], "normal");
    let older = w.reading_of("pulse", 70.0, 300).await;
    assert_eq!(older["status"], "critical", "{older}");
    assert_eq!(older["reasons"][0]["code"], "rapid_change");
    assert_eq!(older["reasons"][0]["later"], true);
    assert_eq!(older["reasons"][0]["from_value"], 95.0);
}

async fn a_late_critical_reading_is_marked_late_in_the_notification(backend: Backend) {
    let w = ward(backend).await;
    w.reading_of("pulse", 150.0, 73 * 60).await;
    let notes = w.notifications_of("oncall").await;
    let critical: Vec<&Value> = notes
        .iter()
        .filter(|n| n["kind"] == "reading_critical")
        .collect();
    assert_eq!(critical.len(), 1, "{notes:?}");
    assert!(
        critical[0]["summary"].as_str().unwrap().contains("late"),
        "{critical:?}"
    );
}

async fn glucose_in_mmol_per_litre_is_converted_before_it_is_classified(backend: Backend) {
    let w = ward(backend).await;
    w.api(
        Method::PUT,
        &format!(
            "/v1/practices/{}/reading-alerts/blood_glucose_before_meal",
            w.practice
        ),
        &w.root,
        Some(json!({"ranges": {"critical_low": 54, "normal_low": 70, "normal_high": 180, "critical_high": 300},
                    "change": null, "apply_to": "all_patients"})),
    )
    .await;
    let taken_at = w.c.app.clock.now();
    let reading = w
        .api(
            Method::POST,
            "/v1/readings",
            &w.c.staff,
            Some(json!({"patient_id": w.c.patient, "vital": "blood_glucose_before_meal", "value": 2.5,
                        "unit": "mmol/L", "taken_at": taken_at})),
        )
        .await;
    // 2.5 mmol/L is 45 mg/dL: below the critical low of 54, though 2.5 < 54 would be too.
    assert_eq!(reading["status"], "critical");
    assert_eq!(reading["unit"], "mg/dL");
    assert!(
        (reading["value"].as_f64().unwrap() - 45.039).abs() < 0.01,
        "{reading}"
    );
    assert_eq!(reading["sent_value"], 2.5);
    assert_eq!(reading["sent_unit"], "mmol/L");
    // 7 mmol/L (126 mg/dL) is normal, although 7 would be critically low in mg/dL.
    let taken_at = w.c.app.clock.now() - Duration::minutes(1);
    let normal = w
        .api(
            Method::POST,
            "/v1/readings",
            &w.c.staff,
            Some(
                json!({"patient_id": w.c.patient, "vital": "blood_glucose_before_meal", "value": 7,
                        "unit": "mmol/L", "taken_at": taken_at}),
            ),
        )
        .await;
    assert_eq!(normal["status"], "normal", "{normal}");
    let (status, body) =
        w.c.staff_post(
            "/v1/readings",
            json!({"patient_id": w.c.patient, "vital": "pulse", "value": 70, "unit": "mmol/L", "taken_at": taken_at}),
        )
            .await;
    assert_eq!(status, 422, "{body}");
    assert!(error_message(&body).contains("unit"), "{body}");
}

async fn a_vital_without_ranges_is_unclassified_and_the_care_team_hears_once_per_run(
    backend: Backend,
) {
    let w = ward(backend).await;
    w.c.join_care_team(&w.c.staff_id).await;
    w.settings(&w.c.staff_id, "nurse", "reading_caution", false)
        .await;
    let first = w.reading_of("spo2", 80.0, 2).await;
    assert_eq!(first["status"], "unclassified", "{first}");
    assert_eq!(first["reasons"], json!([]));
    w.reading_of("spo2", 81.0, 1).await;
    let cautions = |notes: Vec<Value>| {
        notes
            .into_iter()
            .filter(|n| n["kind"] == "reading_caution")
            .count()
    };
    assert_eq!(cautions(w.notifications_of("nurse").await), 1);
    assert!(w.open_alerts(&w.c.staff).await.is_empty());
}

async fn one_alert_that_cannot_escalate_does_not_stop_the_others(backend: Backend) {
    let mut w = ward(backend).await;
    let broken = w.reading(150.0).await;
    // A second patient of the practice with an alert of their own.
    let other = post(
        &w.c.app,
        &w.practice_path("/patients"),
        &w.c.staff,
        json!({"first_name": "Sam", "last_name": "Lee", "dob": "1970-01-01"}),
    )
    .await;
    let taken_at = w.c.app.clock.now();
    w.api(
        Method::POST,
        "/v1/readings",
        &w.c.staff,
        Some(json!({"patient_id": other["id"], "vital": "pulse", "value": 150, "taken_at": taken_at})),
    )
    .await;
    let alerts = w.open_alerts(&w.c.staff).await;
    assert_eq!(alerts.len(), 2);
    let broken_alert = alerts
        .iter()
        .find(|a| a["reading_id"] == broken["id"])
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .parse::<Uuid>()
        .unwrap();
    let id = sql_uuid(&w.c.app.db, broken_alert);
    let sabotage = match backend {
        Backend::Postgres => format!(
            "CREATE FUNCTION sabotage() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'sabotage'; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER sabotage BEFORE UPDATE ON alerts FOR EACH ROW WHEN (OLD.id = {id})
                 EXECUTE FUNCTION sabotage();"
        ),
        Backend::Sqlite => format!(
            "CREATE TRIGGER sabotage BEFORE UPDATE ON alerts WHEN OLD.id = {id}
             BEGIN SELECT RAISE(ABORT, 'sabotage'); END;"
        ),
    };
    raw_sql(&w.c.app.db, &sabotage).await;
    assert_eq!(w.minutes_pass(10).await, 1, "the other alert took its step");
    let mend = match backend {
        Backend::Postgres => "DROP TRIGGER sabotage ON alerts",
        Backend::Sqlite => "DROP TRIGGER sabotage",
    };
    raw_sql(&w.c.app.db, mend).await;
    assert_eq!(w.minutes_pass(0).await, 1, "and the broken one once mended");
}

async fn an_alert_that_opens_reaching_nobody_by_text_is_counted_once(backend: Backend) {
    let w = ward(backend).await;
    let unreachable = || async {
        let metrics = w.c.app.get("/metrics").await.text().await.unwrap();
        crate::monitoring::metric_value(&metrics, "gateway_escalation_unreachable_total")
            .unwrap_or(0.0)
    };
    // A normal and a caution reading prepare no alert and count nothing.
    w.reading(80.0).await;
    w.reading(110.0).await;
    assert_eq!(unreachable().await, 0.0);
    w.no_one_on_call().await;
    raw_sql(
        &w.c.app.db,
        "UPDATE users SET mobile_phone = NULL WHERE username = 'admin-alerts'",
    )
    .await;
    w.reading(150.0).await;
    assert_eq!(w.open_alerts(&w.c.staff).await.len(), 1);
    assert_eq!(unreachable().await, 1.0);
    // A later critical reading joins the open alert: no new alert, nothing more counted.
    w.reading(160.0).await;
    assert_eq!(unreachable().await, 1.0);
}
