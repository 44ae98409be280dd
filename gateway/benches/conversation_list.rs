//! Benchmark (not a test): the staff conversation list for a user on the care team of 2,000
//! patients whose conversations hold 500,000 messages, on PostgreSQL: the store's query, and
//! `GET /v1/conversations` end to end through a gateway started in this process.
//!
//! Run: `cargo bench -p gateway --bench conversation_list` (PostgreSQL on 127.0.0.1:5432;
//! `BENCH_RUNS` sets the runs per figure, default 500). It creates a fresh database from the
//! migrated template, seeds it with set-based SQL (`generate_series`), then times, each
//! `BENCH_RUNS` times after 20 unmeasured runs: the store's first page of 50 and a page at offset
//! 1000, and the API's first page (`GET /v1/conversations?limit=50` as the staff user, over one
//! keep-alive connection). It prints p50/p90/p99/max. The database is dropped afterwards.

use std::time::{Duration, Instant};

use chrono::Utc;
use gateway::settings::Settings;
use gateway::startup::Application;
use store::Audit;
use store::testing::TestPostgres;

mod seed;

const PATIENTS: i64 = 2_000;
const MESSAGES: i64 = 500_000;
const WARMUP: usize = 20;
const PASSWORD: &str = "bench-password-1";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(500)
}

fn print_times(label: &str, mut times: Vec<Duration>, note: &str) {
    times.sort();
    let n = times.len();
    println!(
        "{label}: p50 {:?}, p90 {:?}, p99 {:?}, max {:?} over {n} runs{note}",
        percentile(&times, 0.5),
        percentile(&times, 0.9),
        percentile(&times, 0.99),
        times[n - 1]
    );
}

#[tokio::main]
async fn main() {
    let runs = runs();
    let db = TestPostgres::migrated().await;
    let store = db.store();
    let audit = Audit::system(Utc::now());
    let practice = seed::practice(store.as_ref(), &audit, "Bench", "+15550000000").await;
    let hash = gateway::auth::password::Password::parse(PASSWORD)
        .unwrap()
        .hash();
    let bench = seed::staff(&practice, "bench".into(), String::new(), hash);
    let user_id = seed::create_user(store.as_ref(), &audit, bench).await;

    let client = seed::sql_client(&db.url).await;
    let seeding = Instant::now();
    client
        .execute(
            "INSERT INTO patients (id, practice_id, first_name, last_name, dob, texting_status, texting_updated_at, created_at)
             SELECT gen_random_uuid(), $1, 'P' || i, 'Bench', DATE '1960-01-01', 'enabled', now(), now()
             FROM generate_series(1, $2::bigint) AS i",
            &[&practice.id, &PATIENTS],
        )
        .await
        .unwrap();
    client
        .execute("INSERT INTO care_team (patient_id, user_id, added_at) SELECT id, $1, now() FROM patients", &[&user_id])
        .await
        .unwrap();
    // Messages spread over the patients and over 90 days, half inbound, ids in time order.
    client
        .batch_execute(&format!(
            "CREATE TEMP TABLE numbered AS SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM patients;
             INSERT INTO messages (id, practice_id, patient_id, channel, direction, body, status, created_at, updated_at)
             SELECT (lpad(to_hex((extract(epoch FROM t.at) * 1000)::bigint), 12, '0') || '7' ||
                     substr(md5(i::text), 1, 3) || '8' || substr(md5(i::text), 4, 15))::uuid,
                    '{practice}', p.id, 'sms', CASE WHEN i % 2 = 0 THEN 'inbound' ELSE 'outbound' END,
                    'message ' || i, 'received', t.at, t.at
             FROM generate_series(1, {MESSAGES}) AS i
             JOIN numbered p ON p.n = i % {PATIENTS}
             CROSS JOIN LATERAL (SELECT now() - interval '90 days' + (i * interval '15 seconds') AS at) t;
             ANALYZE;",
            practice = practice.id
        ))
        .await
        .unwrap();
    // The user has read about half the conversations.
    client
        .execute(
            "INSERT INTO conversation_reads (user_id, patient_id, read_through, read_at)
             SELECT $1, m.patient_id, (array_agg(m.id ORDER BY m.id DESC))[1], now() FROM messages m
             WHERE m.patient_id IN (SELECT id FROM patients ORDER BY id LIMIT $2::bigint / 2) GROUP BY m.patient_id",
            &[&user_id, &PATIENTS],
        )
        .await
        .unwrap();
    println!(
        "seeded {PATIENTS} patients and {MESSAGES} messages in {:?}",
        seeding.elapsed()
    );
    // The heads the trigger kept row by row are the heads computed from scratch (migration
    // 0034's backfill), both ways round.
    let differing: i64 = client
        .query_one(
            "WITH fresh AS (
                 SELECT DISTINCT ON (m.patient_id) m.patient_id, m.id, m.created_at,
                        (SELECT i.id FROM messages i
                         WHERE i.patient_id = m.patient_id AND i.direction = 'inbound' AND i.body IS NOT NULL
                         ORDER BY i.id DESC LIMIT 1) AS last_inbound_id
                 FROM messages m WHERE m.patient_id IS NOT NULL ORDER BY m.patient_id, m.id DESC),
             kept AS (SELECT patient_id, last_message_id, last_at, last_inbound_id FROM conversation_heads)
             SELECT (SELECT count(*) FROM (SELECT * FROM fresh EXCEPT SELECT * FROM kept) a)
                  + (SELECT count(*) FROM (SELECT * FROM kept EXCEPT SELECT * FROM fresh) b)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(differing, 0, "conversation heads differ from the messages");
    // The seeding rewrote each head 250 times in one transaction, so no dead version could be
    // pruned; live traffic writes one message per transaction and HOT pruning keeps the table
    // compact (migration 0034). Start from that steady state.
    client
        .batch_execute("VACUUM FULL ANALYZE conversation_heads")
        .await
        .unwrap();

    for (label, offset) in [("first page (50)", 0u32), ("page at offset 1000", 1000u32)] {
        let mut times = Vec::with_capacity(runs);
        let mut unread = 0;
        for run in 0..WARMUP + runs {
            let started = Instant::now();
            let page = store
                .list_conversations(user_id, vec![], 50, offset)
                .await
                .unwrap();
            if run >= WARMUP {
                times.push(started.elapsed());
            }
            assert_eq!(page.len(), 50);
            unread = page.iter().filter(|c| c.unread).count();
        }
        print_times(
            &format!("store list_conversations {label}"),
            times,
            &format!(" ({unread} unread on the page)"),
        );
    }

    // The same list through the API, as the staff user would ask for it.
    let app = Application::build(Settings::for_tests(db.url.clone()))
        .await
        .unwrap();
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{base}/v1/auth/login"))
        .json(&serde_json::json!({"username": "bench", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("logged in").to_owned();
    let mut times = Vec::with_capacity(runs);
    for run in 0..WARMUP + runs {
        let started = Instant::now();
        let response = http
            .get(format!("{base}/v1/conversations?limit=50"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let page: serde_json::Value = response.json().await.unwrap();
        if run >= WARMUP {
            times.push(started.elapsed());
        }
        assert_eq!(page["items"].as_array().map(Vec::len), Some(50));
    }
    print_times("GET /v1/conversations?limit=50 (first page)", times, "");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
