//! `kill -9` of the real binary on PostgreSQL: under inbound webhook load (nothing answered 200
//! is lost, nothing is stored twice), and in the middle of draining staff texts to a slow carrier
//! (every accepted text reaches the carrier; only a text in flight at the kill goes twice, and it
//! shows as `recovered`; the restarted process takes over its predecessor's claims at once).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use store::testing::TestStore;

use crate::fake_twilio::{Answer, FakeTwilio};
use crate::fixtures::{self, clinic};
use crate::helpers::eventually;
use crate::load::Load;
use crate::process::{Config, Gateway};

const WEBHOOKS: usize = 600;
const SENDERS: usize = 6;
/// Pause between one sender's requests: about 120 webhooks a second in all.
const SENDER_PAUSE: Duration = Duration::from_millis(50);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_webhook_answered_200_is_stored_exactly_once_across_a_kill_9_and_a_restart() {
    let db = TestStore::postgres().await;
    let clinic = clinic(&db, 10).await;
    let fake = FakeTwilio::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = Config::new(db.url(), &dir).with_carrier(&fake);
    let first = Gateway::start(&config);
    let numbers = clinic.patients.iter().map(|p| p.1.clone()).collect();
    let load = Load::start(
        &first.address,
        numbers,
        SENDERS,
        SENDER_PAUSE,
        Some(WEBHOOKS),
    );

    // A third of the way in, with requests in flight: kill -9, and start it again half a second
    // later (as a supervisor would), while webhooks keep arriving.
    eventually(30, "a third of the webhooks to be answered", || async {
        (load.sent() >= WEBHOOKS / 3).then_some(())
    })
    .await;
    let mut first = first;
    first.kill9();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = tokio::task::spawn_blocking(move || Gateway::start(&config))
        .await
        .unwrap();
    *load.target.write().unwrap() = second.address.clone();
    let (answers, unanswered) = load.finish().await;
    assert_eq!(answers.len(), WEBHOOKS);
    assert!(
        unanswered > 0,
        "the kill cut some webhooks off (else this test proved nothing)"
    );
    fixtures::assert_answered_once_each(&db, &answers).await;
    println!(
        "kill -9 under inbound load: {WEBHOOKS} webhooks, {unanswered} cut off by the kill or sent while it was down and retried, 0 lost, 0 doubled"
    );
}

const TEXTS: usize = 40;
const CARRIER_DELAY: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_after_kill_9_mid_drain_sends_every_text_and_marks_the_ones_that_may_have_gone_twice()
 {
    let db = TestStore::postgres().await;
    let clinic = clinic(&db, 8).await;
    let fake = FakeTwilio::start().await;
    fake.answer_all(Answer::Slow(CARRIER_DELAY));
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(db.url(), &dir).with_carrier(&fake);
    config.sms_sender_mps = 10;
    let mut first = Gateway::start(&config);
    let token = fixtures::login(&first.address).await;
    let mut patient_of = HashMap::new();
    for n in 0..TEXTS {
        let (patient, _) = clinic.patients[n % clinic.patients.len()];
        let body = format!("drain text {n}");
        fixtures::staff_sends(&first.address, &token, patient, &body).await;
        patient_of.insert(body, patient);
    }

    // Kill while sends are in flight: the carrier has some, without having answered them.
    eventually(30, "the carrier to receive a dozen texts", || async {
        (fake.received().len() >= 12).then_some(())
    })
    .await;
    first.kill9();
    let killed_at = Instant::now();
    let received_before = fake.received().len();
    let second = tokio::task::spawn_blocking(move || Gateway::start(&config))
        .await
        .unwrap();
    let restarted_at = second.started;

    // Every accepted text reaches the carrier, well before the dead process's leases (60 s)
    // would have run out.
    let drained_at = eventually(45, "every text to reach the carrier", || async {
        let mut seen: Vec<&String> = Vec::new();
        let received = fake.received();
        for r in &received {
            seen.push(&r.body);
        }
        patient_of
            .keys()
            .all(|body| seen.contains(&body))
            .then(Instant::now)
    })
    .await;
    let drain = drained_at.duration_since(restarted_at);
    assert!(
        drain < Duration::from_secs(30),
        "took {drain:?} after the restart: the predecessor's claims were not released"
    );
    assert!(
        second.logged("released the claims of gone instances"),
        "{}",
        second.log()
    );

    // Which texts went twice, and were they in flight at the kill?
    let mut arrivals: HashMap<String, Vec<Instant>> = HashMap::new();
    for r in fake.received() {
        arrivals.entry(r.body.clone()).or_default().push(r.at);
    }
    // The answer left the carrier but its record had not committed yet: a few ms of slack.
    let in_flight_at_kill = |at: &Instant| {
        *at < killed_at && *at + CARRIER_DELAY + Duration::from_millis(250) > killed_at
    };
    let mut doubled = Vec::new();
    for (body, times) in &arrivals {
        assert!(times.len() <= 2, "{body} sent {} times", times.len());
        if times.len() == 2 {
            assert!(
                in_flight_at_kill(&times[0]),
                "{body} went twice but was not in flight at the kill"
            );
            doubled.push(body.clone());
        }
    }

    // The conversation marks exactly what may have gone twice: every doubled text, and never
    // a text the carrier had answered before the kill.
    let token = fixtures::login(&second.address).await;
    eventually(20, "every text to be recorded as sent", || async {
        let counts =
            fixtures::counts(&db, "SELECT state, count(*) FROM outbox GROUP BY state").await;
        (counts.get("sent") == Some(&(TEXTS as i64)) && counts.len() == 1).then_some(())
    })
    .await;
    let mut recovered = 0;
    for patient in clinic.patients.iter().map(|p| p.0) {
        for message in fixtures::conversation(&second.address, &token, patient).await {
            let body = message["body"].as_str().unwrap().to_string();
            let marked = message["recovered"].as_bool().expect("recovered is shown");
            let first_arrival = arrivals[&body][0];
            if doubled.contains(&body) {
                assert!(marked, "{body} went twice but is not marked recovered");
            }
            if marked {
                recovered += 1;
                assert!(
                    first_arrival > killed_at || in_flight_at_kill(&first_arrival),
                    "{body} is marked recovered but had been answered before the kill"
                );
            } else {
                assert_eq!(arrivals[&body].len(), 1);
            }
        }
    }
    assert!(recovered > 0, "some claims were taken over");
    println!(
        "kill -9 mid-drain: {TEXTS} texts, {received_before} at the carrier before the kill, {} sent twice (all in flight at the kill and marked recovered), {recovered} marked recovered, 0 lost; drained {:.1} s after the restart",
        doubled.len(),
        drain.as_secs_f64()
    );
}
