//! The outbox dispatcher against a local server that answers as Twilio's Messages API does:
//! what is sent and how, pacing per number, retries, permanent failures, priority, crash
//! recovery, and two gateways on one PostgreSQL.

use std::time::Duration;

use chrono::Duration as TimeDelta;
use gateway::carrier::twilio::TwilioCarrier;
use gateway::carrier::{Carrier, OutboundSms, SendError};
use gateway::clock::Clock;
use serde_json::Value;
use store::{Audit, NewOutbound, Outbound, OutboxState, priority};
use types::{MessageStatus, TextingStatus};
use uuid::Uuid;

use crate::both_backends;
use crate::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, Answer, FakeTwilio, PUBLIC_BASE_URL};
use crate::helpers::{
    Backend, Fetch, PATIENT_NUMBER, PRACTICE_NUMBER, TestApp, eventually, fresh_db,
    practice_with_patient, spawn_app, spawn_app_configured, spawn_app_on_wall_clock,
    texting_status,
};

both_backends!(
    a_queued_text_goes_to_twilio_with_basic_auth_its_sender_and_our_status_callback,
    a_status_reported_before_the_send_was_recorded_is_applied_once_it_is,
    a_send_whose_outcome_never_arrived_is_settled_by_asking_twilio,
    throttling_and_server_errors_are_retried_with_backoff_until_the_text_is_sent,
    a_permanent_error_fails_the_text_at_once_with_the_carriers_code,
    error_21610_in_a_send_answer_opts_the_patient_out,
    a_lost_claim_is_sent_once_more_and_shows_as_recovered_and_a_second_loss_fails_it,
    texts_are_paced_per_number_and_use_the_full_rate_under_a_backlog,
    a_critical_alert_overtakes_a_backlog_of_routine_texts,
    without_credentials_texts_go_to_the_dev_outbox,
);

async fn app_with_twilio(backend: Backend, mps: u32) -> (TestApp, FakeTwilio) {
    let fake = FakeTwilio::start().await;
    let app = spawn_app_configured(backend, |s| {
        fake.configure(s);
        s.sms_sender_mps = mps.try_into().unwrap();
    })
    .await;
    (app, fake)
}

async fn wall_clock_app(backend: Backend, mps: u32) -> (TestApp, FakeTwilio) {
    let fake = FakeTwilio::start().await;
    let app = spawn_app_on_wall_clock(fresh_db(backend).await, |s| {
        fake.configure(s);
        s.sms_sender_mps = mps.try_into().unwrap();
    })
    .await;
    (app, fake)
}

fn text(to: &str, from: &str, body: &str, priority: i16) -> NewOutbound {
    NewOutbound {
        practice_id: None,
        patient_id: None,
        from_number: from.into(),
        to_number: to.into(),
        body: body.into(),
        priority,
        record_message: false,
        author_user_id: None,
    }
}

/// A routine text from the practice to the patient on `PATIENT_NUMBER`, recorded in the
/// conversation when `record`.
fn to_patient(practice: Uuid, patient: Uuid, body: &str, record: bool) -> NewOutbound {
    NewOutbound {
        practice_id: Some(practice),
        patient_id: Some(patient),
        record_message: record,
        ..text(PATIENT_NUMBER, PRACTICE_NUMBER, body, priority::ROUTINE)
    }
}

/// Queues through the service, which wakes the dispatcher after the commit.
async fn enqueue(app: &TestApp, new: NewOutbound) -> Outbound {
    let audit = Audit::system(app.state.clock.now());
    gateway::services::enqueue_sms(&app.state, &audit, new)
        .await
        .unwrap()
}

async fn row(app: &TestApp, id: Uuid) -> Outbound {
    app.store.get_outbound(id).await.unwrap()
}

async fn wait_for_state(app: &TestApp, id: Uuid, state: OutboxState) -> Outbound {
    eventually(10, &format!("outbox row to be {state:?}"), || async {
        let row = row(app, id).await;
        (row.state == state).then_some(row)
    })
    .await
}

async fn a_queued_text_goes_to_twilio_with_basic_auth_its_sender_and_our_status_callback(
    backend: Backend,
) {
    let (app, fake) = app_with_twilio(backend, 1).await;
    let (practice_id, patient_id) = practice_with_patient(&app, "enabled").await;
    let queued = enqueue(
        &app,
        to_patient(practice_id, patient_id, "See you at 3 pm", true),
    )
    .await;
    let sent = wait_for_state(&app, queued.id, OutboxState::Sent).await;
    let received = fake.received();
    assert_eq!(
        received.len(),
        1,
        "the fake refuses requests without the right Basic auth"
    );
    let request = &received[0];
    assert_eq!(request.to, PATIENT_NUMBER);
    assert_eq!(request.from.as_deref(), Some(PRACTICE_NUMBER));
    assert_eq!(request.body, "See you at 3 pm");
    assert_eq!(
        request.status_callback.as_deref(),
        Some(format!("{PUBLIC_BASE_URL}/webhooks/twilio/status").as_str())
    );
    assert_eq!(sent.carrier_sid, request.sid);
    assert_eq!(sent.carrier_status.as_deref(), Some("queued"));
    assert_eq!(sent.carrier.as_deref(), Some("twilio"));
    assert_eq!(sent.attempts, 1);
    let conversation = app.message_of(&sent).await;
    assert_eq!(conversation.carrier_sid, request.sid);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for series in [
        "gateway_outbound_messages_total{status=\"sent\"}",
        "gateway_carrier_request_duration_seconds_count{carrier=\"twilio\",outcome=\"accepted\"}",
    ] {
        let value = crate::monitoring::metric_value(&metrics, series);
        assert!(value >= Some(1.0), "{series} in\n{metrics}");
    }
}

async fn throttling_and_server_errors_are_retried_with_backoff_until_the_text_is_sent(
    backend: Backend,
) {
    let (app, fake) = app_with_twilio(backend, 1).await;
    fake.script([
        Answer::TooManyRequests {
            retry_after: Some(30),
        },
        Answer::ServerError,
    ]);
    let queued = enqueue(
        &app,
        text(PATIENT_NUMBER, PRACTICE_NUMBER, "hi", priority::ROUTINE),
    )
    .await;
    let now = app.clock.now();
    let waiting = eventually(10, "the first retry to be scheduled", || async {
        let row = row(&app, queued.id).await;
        (row.state == OutboxState::Queued && row.attempts == 1).then_some(row)
    })
    .await;
    assert_eq!(waiting.error_code, Some(20429), "a 429 is never permanent");
    assert!(
        waiting.next_attempt_at >= now + TimeDelta::seconds(30),
        "Retry-After is honoured"
    );
    // Nothing is due yet: no second request however often the dispatcher wakes.
    app.wake_dispatcher();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.received().len(), 1);

    app.clock.advance(TimeDelta::seconds(31));
    app.wake_dispatcher();
    let waiting = eventually(10, "the second retry to be scheduled", || async {
        let row = row(&app, queued.id).await;
        (row.state == OutboxState::Queued && row.attempts == 2).then_some(row)
    })
    .await;
    assert_eq!(waiting.error_code, Some(20500));
    let delay = waiting.next_attempt_at - app.clock.now();
    assert!(
        delay >= TimeDelta::seconds(2) && delay <= TimeDelta::seconds(4),
        "second backoff is 2-4 s with jitter: {delay}"
    );

    app.clock.advance(TimeDelta::seconds(5));
    app.wake_dispatcher();
    let sent = wait_for_state(&app, queued.id, OutboxState::Sent).await;
    assert_eq!(sent.attempts, 3);
    assert_eq!(sent.recovered, 0);
    assert_eq!(fake.received().len(), 3);
}

async fn a_permanent_error_fails_the_text_at_once_with_the_carriers_code(backend: Backend) {
    let (app, fake) = app_with_twilio(backend, 100).await;
    let (practice_id, patient_id) = practice_with_patient(&app, "enabled").await;
    fake.answer_for(
        "+15005550001",
        Answer::Error {
            code: 21211,
            message: "The 'To' number +15005550001 is not a valid phone number.",
        },
    );
    fake.answer_for(
        "+15005550009",
        Answer::Error {
            code: 21614,
            message: "'To' number is not a valid mobile number",
        },
    );
    let invalid = enqueue(
        &app,
        NewOutbound {
            to_number: "+15005550001".into(),
            ..to_patient(practice_id, patient_id, "hi", true)
        },
    )
    .await;
    let landline = enqueue(
        &app,
        text("+15005550009", PRACTICE_NUMBER, "hi", priority::ROUTINE),
    )
    .await;
    for (id, code) in [(invalid.id, 21211), (landline.id, 21614)] {
        let failed = wait_for_state(&app, id, OutboxState::Failed).await;
        assert_eq!(failed.error_code, Some(code));
        assert_eq!(failed.attempts, 1, "no retry for a permanent error");
        assert!(failed.last_error.unwrap().contains("not a valid"));
    }
    assert_eq!(fake.received().len(), 2);
    let conversation = app.message_of(&invalid).await;
    assert_eq!(conversation.status, MessageStatus::Failed);
    assert_eq!(conversation.error_code, Some(21211));
    assert_eq!(
        texting_status(&app, patient_id).await,
        TextingStatus::Enabled
    );
}

async fn error_21610_in_a_send_answer_opts_the_patient_out(backend: Backend) {
    let (app, fake) = app_with_twilio(backend, 1).await;
    let (practice_id, patient_id) = practice_with_patient(&app, "enabled").await;
    fake.answer_for(
        PATIENT_NUMBER,
        Answer::Error {
            code: 21610,
            message: "Attempt to send to unsubscribed recipient",
        },
    );
    let queued = enqueue(&app, to_patient(practice_id, patient_id, "hi", false)).await;
    let failed = wait_for_state(&app, queued.id, OutboxState::Failed).await;
    assert_eq!(failed.error_code, Some(21610));
    assert_eq!(
        texting_status(&app, patient_id).await,
        TextingStatus::OptedOut
    );
}

async fn a_lost_claim_is_sent_once_more_and_shows_as_recovered_and_a_second_loss_fails_it(
    backend: Backend,
) {
    let (app, fake) = app_with_twilio(backend, 100).await;
    let store = &app.store;
    // Rows due an hour from now, so the running dispatcher leaves them alone until then; a
    // "crashed" gateway claims them first and never answers.
    let later = app.clock.now() + TimeDelta::hours(1);
    let crash = |at| store::ClaimRequest {
        worker: "crashed".into(),
        now: at,
        lease: TimeDelta::seconds(60),
        limit: 10,
        sender_interval: TimeDelta::milliseconds(10),
        horizon: TimeDelta::seconds(1),
    };
    let once = store
        .enqueue_sms(
            &Audit::system(later),
            text(
                PATIENT_NUMBER,
                PRACTICE_NUMBER,
                "lost once",
                priority::ROUTINE,
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_outbound(crash(later))
            .await
            .unwrap()
            .sends
            .len(),
        1
    );

    app.clock.set(later + TimeDelta::seconds(61));
    app.wake_dispatcher();
    let sent = wait_for_state(&app, once.id, OutboxState::Sent).await;
    assert_eq!(sent.recovered, 1);
    assert_eq!(sent.attempts, 2);
    assert!(sent.last_error.unwrap().contains("sent again"));
    assert_eq!(fake.received().len(), 1);

    let even_later = later + TimeDelta::hours(1);
    let twice = store
        .enqueue_sms(
            &Audit::system(even_later),
            text(
                PATIENT_NUMBER,
                PRACTICE_NUMBER,
                "lost twice",
                priority::ROUTINE,
            ),
        )
        .await
        .unwrap();
    store.claim_outbound(crash(even_later)).await.unwrap();
    let recovered = store
        .claim_outbound(crash(even_later + TimeDelta::seconds(61)))
        .await
        .unwrap();
    assert_eq!(recovered.sends[0].outbound.recovered, 1);
    app.clock.set(even_later + TimeDelta::seconds(200));
    app.wake_dispatcher();
    let failed = wait_for_state(&app, twice.id, OutboxState::Failed).await;
    assert!(failed.last_error.unwrap().contains("twice"));
    assert_eq!(fake.received().len(), 1, "never sent a third time");
}

/// True when no `rate + 1` consecutive sends fit in one second (a little slack for the network).
fn at_most_rate_per_second(times: &[std::time::Instant], rate: usize) -> bool {
    times
        .windows(rate + 1)
        .all(|w| w[rate].duration_since(w[0]) >= Duration::from_millis(970))
}

async fn texts_are_paced_per_number_and_use_the_full_rate_under_a_backlog(backend: Backend) {
    const RATE: usize = 5;
    const EACH: usize = 12;
    let (app, fake) = wall_clock_app(backend, RATE as u32).await;
    let numbers = ["+15555550100", "+15555550101"];
    for i in 0..EACH {
        for from in numbers {
            enqueue(
                &app,
                text(
                    PATIENT_NUMBER,
                    from,
                    &format!("{from} {i}"),
                    priority::ROUTINE,
                ),
            )
            .await;
        }
    }
    eventually(15, "every text to be sent", || async {
        (fake.received().len() == EACH * numbers.len()).then_some(())
    })
    .await;
    for from in numbers {
        let times: Vec<_> = fake
            .received()
            .iter()
            .filter(|r| r.from.as_deref() == Some(from))
            .map(|r| r.at)
            .collect();
        assert_eq!(times.len(), EACH);
        assert!(
            at_most_rate_per_second(&times, RATE),
            "more than {RATE} in a second from {from}: {:?}",
            times.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>()
        );
        // Full use: 12 sends at 5/s take 11 gaps of 200 ms.
        let span = times[EACH - 1] - times[0];
        let tightest = times
            .windows(RATE + 1)
            .map(|w| w[RATE] - w[0])
            .min()
            .unwrap();
        eprintln!(
            "{from}: {EACH} sends in {span:?}; tightest {} consecutive: {tightest:?}",
            RATE + 1
        );
        // Full use: the ideal is 2.2 s. The bound only catches real under-use (a dispatcher
        // that waits a whole poll period between sends would take 12 s or more); it leaves room
        // for a loaded 2-core machine. The measured figure is in the README's benchmarks.
        assert!(
            span <= Duration::from_millis(2200 * 2),
            "backlog drained too slowly from {from}: {span:?}"
        );
    }
}

async fn a_critical_alert_overtakes_a_backlog_of_routine_texts(backend: Backend) {
    let (app, fake) = wall_clock_app(backend, 5).await;
    for i in 0..20 {
        enqueue(
            &app,
            text(
                PATIENT_NUMBER,
                PRACTICE_NUMBER,
                &format!("routine {i}"),
                priority::ROUTINE,
            ),
        )
        .await;
    }
    let before = eventually(10, "the backlog to start", || async {
        let n = fake.received().len();
        (n >= 2).then_some(n)
    })
    .await;
    enqueue(
        &app,
        text(
            "+15555550124",
            PRACTICE_NUMBER,
            "CRITICAL: SpO2 84%",
            priority::ALERT,
        ),
    )
    .await;
    eventually(10, "the alert to be sent", || async {
        fake.received()
            .iter()
            .any(|r| r.body.starts_with("CRITICAL"))
            .then_some(())
    })
    .await;
    let received = fake.received();
    let position = received
        .iter()
        .position(|r| r.body.starts_with("CRITICAL"))
        .unwrap();
    // At most the slots already reserved (one second at 5/s) go out before it.
    assert!(
        position <= before + 6,
        "the alert waited behind {position} texts (backlog had sent {before})"
    );
    assert!(
        position < 15,
        "the alert did not wait for the backlog to drain"
    );
}

async fn without_credentials_texts_go_to_the_dev_outbox(backend: Backend) {
    let app = spawn_app(backend).await;
    let password = gateway::auth::password::Password::parse("dev-admin-1").unwrap();
    app.store
        .upsert_super_admin(&Audit::system(app.clock.now()), "root", &password.hash())
        .await
        .unwrap();
    let login: Value = app
        .client
        .post(app.url("/v1/auth/login"))
        .json(&serde_json::json!({"username": "root", "password": "dev-admin-1"}))
        .fetch_json()
        .await;
    let token = login["token"].as_str().unwrap().to_owned();
    let queued = enqueue(
        &app,
        text(
            PATIENT_NUMBER,
            PRACTICE_NUMBER,
            "hello dev",
            priority::ROUTINE,
        ),
    )
    .await;
    let sent = wait_for_state(&app, queued.id, OutboxState::Sent).await;
    assert_eq!(sent.carrier.as_deref(), Some("dev"));
    let page: Value = app
        .client
        .get(app.url("/v1/dev/outbox"))
        .bearer_auth(&token)
        .fetch_json()
        .await;
    let item = &page["items"][0];
    assert_eq!(item["body"], "hello dev");
    assert_eq!(item["state"], "sent");
    assert!(item["carrier_sid"].as_str().unwrap().starts_with("SM"));
    let unauthenticated = app.get("/v1/dev/outbox").await;
    assert_eq!(unauthenticated.status(), 401);
}

#[tokio::test]
async fn the_dev_outbox_does_not_exist_when_twilio_credentials_are_set() {
    let (app, _fake) = app_with_twilio(Backend::Sqlite, 1).await;
    assert_eq!(app.get("/v1/dev/outbox").await.status(), 404);
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert!(doc["paths"].get("/v1/dev/outbox").is_none());
    assert!(doc["paths"].get("/webhooks/twilio/sms").is_some());
}

#[tokio::test]
async fn a_carrier_answer_slower_than_the_timeout_is_retryable() {
    let fake = FakeTwilio::start().await;
    fake.script([Answer::Slow(Duration::from_secs(2))]);
    let carrier = TwilioCarrier::with_timeout(
        &fake.base_url().parse().unwrap(),
        gateway::settings::TwilioCredentials {
            account_sid: ACCOUNT_SID.into(),
            auth_token: gateway::settings::Secret::new(AUTH_TOKEN),
        },
        Duration::from_millis(300),
    )
    .unwrap();
    let sms = OutboundSms {
        to: PATIENT_NUMBER.into(),
        from: "MG0123456789abcdef0123456789abcdef".into(),
        body: "hi".into(),
        status_callback: None,
    };
    let error = carrier.send(&sms).await.unwrap_err();
    assert!(
        matches!(error, SendError::Retryable { code: None, .. }),
        "{error:?}"
    );
    let accepted = carrier.send(&sms).await.unwrap();
    assert!(accepted.sid.starts_with("SM"));
    let received = fake.received();
    assert_eq!(
        received[1].messaging_service_sid.as_deref(),
        Some("MG0123456789abcdef0123456789abcdef")
    );
    assert_eq!(received[1].from, None);
}

#[tokio::test]
async fn two_gateways_on_one_postgres_send_each_outbox_row_exactly_once() {
    const ROWS: usize = 60;
    let fake = FakeTwilio::start().await;
    let db = fresh_db(Backend::Postgres).await;
    let url = db.url();
    let configure = |s: &mut gateway::settings::Settings| {
        fake.configure(s);
        s.sms_sender_mps = 50.try_into().unwrap();
        s.store = gateway::settings::StoreLocation::Url(url.clone());
    };
    let first = spawn_app_on_wall_clock(db, configure).await;
    let second = spawn_app_on_wall_clock(fresh_db(Backend::Sqlite).await, configure).await;
    // Slow answers keep claims in flight on both instances at once.
    fake.script((0..ROWS / 3).map(|_| Answer::Slow(Duration::from_millis(30))));
    let numbers = ["+15555550100", "+15555550101", "+15555550102"];
    let mut ids = Vec::new();
    for i in 0..ROWS {
        let app = if i % 2 == 0 { &first } else { &second };
        let from = numbers[i % numbers.len()];
        ids.push(
            enqueue(
                app,
                text(PATIENT_NUMBER, from, &format!("row {i}"), priority::ROUTINE),
            )
            .await
            .id,
        );
    }
    eventually(20, "every row to be sent", || async {
        (fake.received().len() >= ROWS).then_some(())
    })
    .await;
    // Give a duplicate the chance to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut bodies: Vec<_> = fake.received().into_iter().map(|r| r.body).collect();
    assert_eq!(bodies.len(), ROWS);
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), ROWS, "a row was sent twice");
    let mut workers = std::collections::HashSet::new();
    for id in ids {
        let row = first.state.store.get_outbound(id).await.unwrap();
        assert_eq!(row.state, OutboxState::Sent);
        assert_eq!(row.attempts, 1);
        workers.insert(row.claimed_by.unwrap());
    }
    assert_eq!(workers.len(), 2, "both gateways took part");
}

async fn a_status_reported_before_the_send_was_recorded_is_applied_once_it_is(backend: Backend) {
    let (app, fake) = app_with_twilio(backend, 1).await;
    let (practice_id, patient_id) = practice_with_patient(&app, "enabled").await;
    fake.script([Answer::CreatedAfterCallback {
        status: "delivered",
        deliver_to: app.url("/webhooks/twilio/status"),
    }]);
    let queued = enqueue(
        &app,
        to_patient(practice_id, patient_id, "Results are in", true),
    )
    .await;
    wait_for_state(&app, queued.id, OutboxState::Sent).await;
    let delivered = eventually(10, "the early status applied", || async {
        let row = row(&app, queued.id).await;
        (row.carrier_status.as_deref() == Some("delivered")).then_some(row)
    })
    .await;
    let sid = delivered.carrier_sid.clone().unwrap();
    assert_eq!(fake.received()[0].sid.as_deref(), Some(sid.as_str()));
    let message = app.message_of(&delivered).await;
    assert_eq!(message.status, MessageStatus::Delivered);
    // The status is unparked right after it is applied (a separate write), so allow a moment.
    eventually(5, "applied statuses are not kept", || async {
        let parked = app.store.parked_statuses(&sid).await.unwrap();
        parked.is_empty().then_some(())
    })
    .await;
}

async fn a_send_whose_outcome_never_arrived_is_settled_by_asking_twilio(backend: Backend) {
    let (app, fake) = app_with_twilio(backend, 1).await;
    let (practice_id, patient_id) = practice_with_patient(&app, "enabled").await;
    let mut sent = Vec::new();
    for body in ["First", "Second"] {
        let queued = enqueue(&app, to_patient(practice_id, patient_id, body, true)).await;
        sent.push(wait_for_state(&app, queued.id, OutboxState::Sent).await);
        // The number's next send slot is a second later on the gateway's clock.
        app.clock.advance(TimeDelta::seconds(1));
    }
    let sid = |i: usize| sent[i].carrier_sid.clone().unwrap();
    fake.set_status(&sid(0), "undelivered", Some(30003));
    fake.set_status(&sid(1), "sent", None);
    let settle = || gateway::services::delivery::settle_unsettled(&app.state);
    assert_eq!(settle().await.unwrap(), 0, "not within the first hour");
    assert!(fake.fetched().is_empty());

    app.clock.advance(TimeDelta::minutes(61));
    assert_eq!(settle().await.unwrap(), 2);
    assert_eq!(fake.fetched().len(), 2);
    let first = row(&app, sent[0].id).await;
    assert_eq!(first.carrier_status.as_deref(), Some("undelivered"));
    assert_eq!(first.state, OutboxState::Failed, "undelivered is not sent");
    assert_eq!(first.error_code, Some(30003));
    assert_eq!(
        row(&app, sent[1].id).await.carrier_status.as_deref(),
        Some("sent")
    );

    // Asked about at most once an hour; a settled one never again.
    assert_eq!(settle().await.unwrap(), 0);
    assert_eq!(fake.fetched().len(), 2);
    fake.set_status(&sid(1), "delivered", None);
    app.clock.advance(TimeDelta::minutes(61));
    assert_eq!(settle().await.unwrap(), 1);
    assert_eq!(fake.fetched(), vec![sid(0), sid(1), sid(1)]);
    let second = row(&app, sent[1].id).await;
    assert_eq!(second.carrier_status.as_deref(), Some("delivered"));
}
