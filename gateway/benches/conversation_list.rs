//! Benchmark (not a test): how long `GET /v1/conversations`' store query takes for a user on the
//! care team of 2,000 patients whose conversations hold 500,000 messages, on PostgreSQL.
//!
//! Run: `cargo bench -p gateway --bench conversation_list` (PostgreSQL on 127.0.0.1:5432). It
//! creates a fresh database from the migrated template, seeds it with set-based SQL, runs the
//! list 50 times (first page of 50, and a page deep in the list) and prints the latency
//! percentiles. The database is dropped afterwards.

use std::time::{Duration, Instant};

use chrono::Utc;
use store::testing::TestPostgres;
use store::{Audit, NewCustomer, NewPractice, NewUser, Role};

const PATIENTS: i64 = 2_000;
const MESSAGES: i64 = 500_000;
const RUNS: usize = 50;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::main]
async fn main() {
    let db = TestPostgres::migrated().await;
    let store = db.store();
    let audit = Audit::system(Utc::now());
    let customer = store
        .create_customer(
            &audit,
            NewCustomer {
                name: "Bench".into(),
            },
        )
        .await
        .unwrap();
    let practice = store
        .create_practice(
            &audit,
            NewPractice {
                customer_id: customer.id,
                name: "Bench".into(),
                timezone: "UTC".parse().unwrap(),
                sms_number: "+15550000000".into(),
            },
        )
        .await
        .unwrap();
    let user = store
        .create_user(
            &audit,
            NewUser {
                customer_id: Some(customer.id),
                username: "bench".into(),
                password_hash: "x".into(),
                role: Role::Staff,
                email: String::new(),
                first_name: String::new(),
                last_name: String::new(),
                title: String::new(),
                mobile_phone: None,
                auto_logout_minutes: 30,
                practice_ids: vec![practice.id],
                restricted_programs: vec![],
            },
        )
        .await
        .unwrap();

    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
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
        .execute("INSERT INTO care_team (patient_id, user_id, added_at) SELECT id, $1, now() FROM patients", &[&user.id])
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
            &[&user.id, &PATIENTS],
        )
        .await
        .unwrap();
    println!(
        "seeded {PATIENTS} patients and {MESSAGES} messages in {:?}",
        seeding.elapsed()
    );

    for (label, offset) in [("first page (50)", 0u32), ("page at offset 1000", 1000u32)] {
        let mut times = Vec::with_capacity(RUNS);
        let mut unread = 0;
        for _ in 0..RUNS {
            let started = Instant::now();
            let page = store
                .list_conversations(user.id, vec![], 50, offset)
                .await
                .unwrap();
            times.push(started.elapsed());
            assert_eq!(page.len(), 50);
            unread = page.iter().filter(|c| c.unread).count();
        }
        times.sort();
        println!(
            "list_conversations {label}: p50 {:?}, p90 {:?}, p99 {:?}, max {:?} over {RUNS} runs ({unread} unread on the page)",
            percentile(&times, 0.5),
            percentile(&times, 0.9),
            percentile(&times, 0.99),
            times[RUNS - 1]
        );
    }
}
