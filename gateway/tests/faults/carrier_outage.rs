//! A carrier outage against the real binary on PostgreSQL: the fake carrier answers 500 for a few
//! seconds, then stops answering at all (every request runs into the gateway's timeout, here
//! `TWILIO_TIMEOUT_SECS=2`) for 12 seconds, then recovers. The outbox backs off (each text's
//! attempts at least as far apart as the backoff's lower bound), keeps to `SMS_SENDER_MPS`
//! (during the outage and when it ends), and every text is delivered once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use store::testing::TestStore;

use crate::fake_twilio::{Answer, FakeTwilio};
use crate::fixtures::{self, clinic};
use crate::helpers::eventually;
use crate::process::{Config, Gateway};

const TEXTS: usize = 12;
const MPS: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn through_a_carrier_outage_the_outbox_backs_off_keeps_the_rate_and_delivers_each_text_once()
{
    let db = TestStore::postgres().await;
    let clinic = clinic(&db, 4).await;
    let fake = FakeTwilio::start().await;
    fake.answer_all(Answer::ServerError);
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(db.url(), &dir).with_carrier(&fake);
    config.sms_sender_mps = MPS as u32;
    config.twilio_timeout_secs = Some(2);
    let gateway = Gateway::start(&config);
    let token = fixtures::login(&gateway.address).await;
    let outage = Instant::now();
    for n in 0..TEXTS {
        let (patient, _) = clinic.patients[n % clinic.patients.len()];
        fixtures::staff_sends(
            &gateway.address,
            &token,
            patient,
            &format!("outage text {n}"),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    fake.answer_all(Answer::Hang);
    tokio::time::sleep(Duration::from_secs(12)).await;
    fake.answer_all(Answer::Created);
    let recovered_at = Instant::now();

    let delivered = eventually(40, "every text to be delivered", || async {
        let received = fake.received();
        let created: Vec<&str> = received
            .iter()
            .filter(|r| r.sid.is_some())
            .map(|r| r.body.as_str())
            .collect();
        (created.len() >= TEXTS).then_some(received)
    })
    .await;
    // Give a stray duplicate the chance to show.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let received = fake.received();
    assert_eq!(received.len(), delivered.len(), "nothing more was sent");

    let mut attempts: HashMap<&str, Vec<Instant>> = HashMap::new();
    let mut created: HashMap<&str, usize> = HashMap::new();
    for r in &received {
        attempts.entry(&r.body).or_default().push(r.at);
        if r.sid.is_some() {
            *created.entry(&r.body).or_default() += 1;
        }
    }
    assert_eq!(created.len(), TEXTS);
    assert!(
        created.values().all(|n| *n == 1),
        "each text created once at the carrier: {created:?}"
    );
    // Backoff: attempt k+1 comes at least 2^(k-1) s (the lower half of the jittered delay)
    // after attempt k.
    for (body, times) in &attempts {
        for (k, pair) in times.windows(2).enumerate() {
            let least = Duration::from_secs(1 << k) - Duration::from_millis(50);
            assert!(
                pair[1].duration_since(pair[0]) >= least,
                "{body}: attempt {} came {:?} after the previous one (at least {least:?})",
                k + 2,
                pair[1].duration_since(pair[0])
            );
        }
    }
    let most = attempts.values().map(Vec::len).max().unwrap();
    assert!(most >= 3, "the outage was felt: at most {most} attempts");
    // Pacing from the carrier's side, over the whole run, the burst when it came back included.
    // Each send waits for its slot (1/MPS apart); at the carrier it may arrive late by its own
    // request time (see `fixtures::LATENESS`).
    let mut all: Vec<Instant> = received.iter().map(|r| r.at).collect();
    all.sort();
    let tightest = fixtures::tightest(&all, MPS);
    assert!(
        tightest >= Duration::from_secs(1) - fixtures::LATENESS,
        "more than {MPS} a second: {MPS} + 1 in a row within {tightest:?}"
    );
    let failed = fixtures::counts(
        &db,
        "SELECT state, count(*) FROM outbox WHERE state <> 'sent' GROUP BY state",
    )
    .await;
    assert!(failed.is_empty(), "every row sent: {failed:?}");
    let last = all.last().unwrap().duration_since(recovered_at);
    let after: Vec<Instant> = all
        .iter()
        .copied()
        .filter(|at| *at >= recovered_at)
        .collect();
    println!(
        "carrier outage (500 for 3 s, no answer for 12 s): {TEXTS} texts, {} requests, at most {most} attempts per text, each created once; drained {:.1} s after the carrier came back ({} sends then), {:.1} s after the outage began; tightest {} in a row {:.3} s",
        received.len(),
        last.as_secs_f64(),
        after.len(),
        all.last().unwrap().duration_since(outage).as_secs_f64(),
        MPS + 1,
        tightest.as_secs_f64()
    );
}
