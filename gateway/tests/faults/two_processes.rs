//! Two gateway processes (the real binary) on one PostgreSQL database, as behind a load balancer:
//! both started at the same moment on an empty database migrate it once; staff sends and inbound
//! webhooks split between them (some webhooks delivered to both at once) are each sent or stored
//! exactly once, one number's pace holds across both, and each due escalation step of an alert
//! is taken once however many processes see it due.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;
use store::testing::{TestPostgres, TestStore};

use crate::fake_twilio::FakeTwilio;
use crate::fixtures::{self, Answers, clinic, post_inbound, sid};
use crate::helpers::{eventually, raw_sql};
use crate::process::{Config, Gateway};

const MPS: usize = 5;

const TEXTS: usize = 30;
const WEBHOOKS: usize = 60;

/// Starts two gateways at the same instant.
async fn two(config: &Config) -> (Gateway, Gateway) {
    let (a, b) = (config.clone(), config.clone());
    let first = tokio::task::spawn_blocking(move || Gateway::start(&a));
    let second = tokio::task::spawn_blocking(move || Gateway::start(&b));
    (first.await.unwrap(), second.await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_migrate_once_and_send_and_store_everything_exactly_once_at_one_shared_pace()
{
    let db = TestStore::Postgres(TestPostgres::empty().await);
    let fake = FakeTwilio::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(db.url(), &dir).with_carrier(&fake);
    config.sms_sender_mps = MPS as u32;
    let (g1, g2) = two(&config).await;
    let versions = fixtures::counts(
        &db,
        "SELECT version::text, count(*) FROM schema_migrations GROUP BY version",
    )
    .await;
    assert_eq!(versions.len(), store::migrations::MIGRATIONS.len());
    assert!(versions.values().all(|n| *n == 1), "{versions:?}");

    let clinic = clinic(&db, 6).await;
    let gateways = [g1.address.clone(), g2.address.clone()];
    let tokens = [
        fixtures::login(&gateways[0]).await,
        fixtures::login(&gateways[1]).await,
    ];
    let mut work = Vec::new();
    for n in 0..TEXTS {
        let (patient, _) = clinic.patients[n % clinic.patients.len()];
        let (address, token) = (gateways[n % 2].clone(), tokens[n % 2].clone());
        work.push(tokio::spawn(async move {
            fixtures::staff_sends(&address, &token, patient, &format!("shared text {n}")).await;
            None
        }));
    }
    for n in 0..WEBHOOKS {
        let from = clinic.patients[n % clinic.patients.len()].1.clone();
        // Every fifth one is delivered to both processes at once (a carrier retry racing).
        let targets: Vec<String> = if n % 5 == 0 {
            gateways.to_vec()
        } else {
            vec![gateways[n % 2].clone()]
        };
        for address in targets {
            let from = from.clone();
            work.push(tokio::spawn(async move {
                let client = fixtures::client(Duration::from_secs(10));
                let status = post_inbound(&client, &address, &sid(n), &from, "hello").await;
                Some((sid(n), status))
            }));
        }
    }
    let mut answers = Answers::new();
    for task in work {
        if let Some((sid, status)) = task.await.unwrap() {
            answers.entry(sid).or_default().push(status);
        }
    }
    assert!(
        answers
            .values()
            .flatten()
            .all(|status| *status == Some(200)),
        "{answers:?}"
    );
    fixtures::assert_answered_once_each(&db, &answers).await;

    let received = eventually(30, "every text to reach the carrier", || async {
        let received = fake.received();
        (received.len() >= TEXTS).then_some(received)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        fake.received().len(),
        received.len(),
        "nothing sent twice later"
    );
    let mut per_text: HashMap<&str, usize> = HashMap::new();
    for r in &received {
        *per_text.entry(&r.body).or_default() += 1;
    }
    assert_eq!(per_text.len(), TEXTS);
    assert!(per_text.values().all(|n| *n == 1), "{per_text:?}");
    // The store hands out one number's send slots 1/MPS apart to both processes, and neither
    // sends before its slot. At the carrier, a send can arrive late by its own request time (a
    // process's first send opens a connection: 0.1 s and more here), so arrivals may bunch by that
    // much: any MPS+1 in a row span at least 1 s less that slack, and the whole drain keeps the
    // rate. Two processes pacing only themselves would send at twice the rate and fail both.
    let mut times: Vec<Instant> = received.iter().map(|r| r.at).collect();
    times.sort();
    let offsets: Vec<u128> = times
        .iter()
        .map(|t| t.duration_since(times[0]).as_millis())
        .collect();
    let tightest = fixtures::tightest(&times, MPS);
    assert!(
        tightest >= Duration::from_secs(1) - fixtures::LATENESS,
        "more than {MPS} a second from one number across the two processes: {offsets:?}"
    );
    let span = times.last().unwrap().duration_since(times[0]);
    assert!(
        span >= Duration::from_secs(1) * (TEXTS as u32 - 1) / MPS as u32 - fixtures::LATENESS,
        "the drain beat the rate: {offsets:?}"
    );
    let claimers = fixtures::counts(
        &db,
        "SELECT claimed_by, count(*) FROM outbox GROUP BY claimed_by",
    )
    .await;
    println!(
        "two processes: migrated once, {TEXTS} texts sent once each over {:.2} s (ideal {:.2} s), tightest {} in a row {:.3} s, {WEBHOOKS} webhooks ({} delivered to both) stored once each; texts claimed per process: {:?}",
        span.as_secs_f64(),
        (TEXTS - 1) as f64 / MPS as f64,
        MPS + 1,
        tightest.as_secs_f64(),
        WEBHOOKS / 5,
        claimers.values().collect::<Vec<_>>()
    );
}

const ON_CALL_PHONE: &str = "+15555559000";
const ALERTS: usize = 4;

async fn call(
    address: &str,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let (status, answer) = fixtures::api(address, method, path, Some(token), Some(body)).await;
    assert!((200..300).contains(&status), "{path}: {status} {answer}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_take_each_due_escalation_step_once() {
    let db = TestStore::postgres().await;
    let clinic = clinic(&db, ALERTS).await;
    let store = db.store().await;
    let hash = gateway::auth::password::Password::parse(fixtures::PASSWORD)
        .unwrap()
        .hash();
    store
        .upsert_super_admin(&store::Audit::system(chrono::Utc::now()), "root", &hash)
        .await
        .unwrap();
    let fake = FakeTwilio::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = Config::new(db.url(), &dir).with_carrier(&fake);
    let (g1, g2) = two(&config).await;

    let root = fixtures::login_as(&g1.address, "root").await;
    let root = root.as_str();
    let practice = clinic.practice_id;
    call(
        &g1.address,
        reqwest::Method::PUT,
        &format!("/v1/practices/{practice}/reading-alerts/pulse"),
        root,
        json!({"ranges": {"critical_low": 40.0, "normal_low": 50.0, "normal_high": 100.0, "critical_high": 130.0},
               "change": null, "apply_to": "all_patients"}),
    )
    .await;
    call(
        &g1.address,
        reqwest::Method::PUT,
        &format!("/v1/practices/{practice}/on-call"),
        root,
        json!([{"from": "00:00", "to": "00:00", "user_id": clinic.staff_id}]),
    )
    .await;
    let token = call(
        &g1.address,
        reqwest::Method::POST,
        &format!("/v1/customers/{}/api-tokens", clinic.customer_id),
        root,
        json!({"name": "devices", "scopes": ["readings:write"]}),
    )
    .await;
    let token = token["token"].as_str().unwrap();
    for (n, (patient, _)) in clinic.patients.iter().enumerate() {
        let address = if n % 2 == 0 { &g1.address } else { &g2.address };
        let reading = call(
            address,
            reqwest::Method::POST,
            "/v1/readings",
            token,
            json!({"patient_id": patient, "vital": "pulse", "value": 150.0,
                   "taken_at": chrono::Utc::now().to_rfc3339()}),
        )
        .await;
        assert_eq!(reading["status"], "critical", "{reading}");
    }
    let codes: Vec<String> =
        fixtures::counts(&db, "SELECT code, count(*) FROM alerts GROUP BY code")
            .await
            .into_keys()
            .collect();
    assert_eq!(codes.len(), ALERTS);
    let texts_with = |code: &str| {
        fake.received()
            .iter()
            .filter(|r| r.to == ON_CALL_PHONE && r.body.contains(code))
            .count()
    };
    eventually(20, "each alert's first text", || async {
        codes.iter().all(|c| texts_with(c) == 1).then_some(())
    })
    .await;
    let before = fixtures::counts(&db, "SELECT code, step::bigint FROM alerts").await;

    // The escalation delay has passed for every alert; both processes see them due.
    raw_sql(
        &db,
        "UPDATE alerts SET next_step_at = now() - interval '1 minute' WHERE state = 'open'",
    )
    .await;
    eventually(20, "each alert's step to be taken", || async {
        let now = fixtures::counts(&db, "SELECT code, step::bigint FROM alerts").await;
        codes
            .iter()
            .all(|c| now[c] > before[c] && texts_with(c) == 2)
            .then_some(())
    })
    .await;
    // Both have had another pass (every 5 s) since: still one step each.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after = fixtures::counts(&db, "SELECT code, step::bigint FROM alerts").await;
    for code in &codes {
        assert_eq!(after[code], before[code] + 1, "alert {code} stepped once");
        assert_eq!(
            texts_with(code),
            2,
            "alert {code}: its first text and one step's"
        );
    }
    let future = fixtures::counts(
        &db,
        "SELECT code, count(*) FROM alerts WHERE next_step_at > now() + interval '5 minutes' GROUP BY code",
    )
    .await;
    assert_eq!(
        future.len(),
        ALERTS,
        "the next step is an escalation delay away"
    );
    println!("two processes: {ALERTS} alerts due at once, each stepped exactly once");
}
