//! The store goes away under inbound load and comes back, against the real binary. PostgreSQL:
//! for 20 seconds every connection is cut (the proxy in front of it drops them and refuses new
//! ones, and the server-side sessions are terminated, as a restart would); SQLite: another
//! process holds the database's write lock for longer than the busy timeout. Webhooks answer 503
//! meanwhile (never 500), `/readyz` says so, the gateway recovers by itself, and after Twilio's
//! retries every webhook is stored exactly once.

use std::time::Duration;

use store::testing::TestStore;

use crate::fake_twilio::FakeTwilio;
use crate::fixtures::{self, Clinic, clinic};
use crate::helpers::{ProxyMode, TcpToggleProxy, eventually, pg_client, postgres_address, url_via};
use crate::load::Load;
use crate::process::{Config, Gateway};

/// The end of a store fault: every webhook was answered (200 or 503) within Twilio's 15 s, and
/// after Twilio's retries each is stored exactly once. Returns how many were sent and how many
/// were retried.
async fn finish_and_check(load: Load, db: &TestStore) -> (usize, usize) {
    assert_eq!(
        load.count(None),
        0,
        "every webhook was answered within Twilio's 15 s"
    );
    let (answers, retried) = load.finish().await;
    fixtures::assert_answered_once_each(db, &answers).await;
    (answers.len(), retried)
}

async fn readyz(gateway: &Gateway) -> Option<u16> {
    fixtures::client(Duration::from_secs(10))
        .get(gateway.url("/readyz"))
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// Ends every session of the test database but the caller's, as a server restart would.
async fn terminate_sessions(db: &TestStore) -> u64 {
    let TestStore::Postgres(pg) = db else {
        unreachable!("PostgreSQL only")
    };
    let client = pg_client(&store::testing::admin_url()).await;
    client
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&pg.name],
        )
        .await
        .unwrap()
        .len() as u64
}

/// Inbound texts from every patient of `clinic` by `senders` senders, a pause of 200 ms each,
/// until `answered` of them were answered 200.
async fn steady_load(gateway: &Gateway, clinic: &Clinic, senders: usize, answered: usize) -> Load {
    let numbers = clinic.patients.iter().map(|p| p.1.clone()).collect();
    let pause = Duration::from_millis(200);
    let load = Load::start(&gateway.address, numbers, senders, pause, None);
    eventually(20, "webhooks to be answered 200", || async {
        (load.count(Some(200)) >= answered).then_some(())
    })
    .await;
    load
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_cut_off_for_20_seconds_answers_503_recovers_by_itself_and_loses_nothing() {
    let db = TestStore::postgres().await;
    let clinic = clinic(&db, 10).await;
    let fake = FakeTwilio::start().await;
    let proxy = TcpToggleProxy::start(postgres_address()).await;
    let dir = tempfile::tempdir().unwrap();
    let gateway =
        Gateway::start(&Config::new(url_via(&db.url(), proxy.address), &dir).with_carrier(&fake));
    let load = steady_load(&gateway, &clinic, 2, 20).await;

    // The server "restarts": every connection dropped, no new one for 20 s.
    proxy.set(ProxyMode::Closed);
    let ended = terminate_sessions(&db).await;
    let cut = std::time::Instant::now();
    eventually(15, "/readyz to say the store is gone", || async {
        (readyz(&gateway).await == Some(503)).then_some(())
    })
    .await;
    eventually(15, "webhooks to be answered 503", || async {
        (load.count(Some(503)) > 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(cut.elapsed())).await;
    let answered_before = load.count(Some(200));
    proxy.set(ProxyMode::Open);

    // Back by itself: ready again, and new webhooks are answered 200.
    eventually(20, "/readyz to say the store is back", || async {
        (readyz(&gateway).await == Some(200)).then_some(())
    })
    .await;
    eventually(20, "webhooks to be answered 200 again", || async {
        (load.count(Some(200)) >= answered_before + 10).then_some(())
    })
    .await;
    let (webhooks, unavailable) = finish_and_check(load, &db).await;
    assert!(!gateway.logged("panicked"), "{}", gateway.log());
    println!(
        "PostgreSQL cut for 20 s ({ended} sessions ended): {webhooks} webhooks, {unavailable} answered 503 and retried, 0 lost, 0 doubled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sqlite_file_locked_beyond_the_busy_timeout_answers_503_never_500_and_loses_nothing() {
    let db = TestStore::sqlite();
    let clinic = clinic(&db, 5).await;
    let fake = FakeTwilio::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(&Config::new(db.url(), &dir).with_carrier(&fake));
    let load = steady_load(&gateway, &clinic, 4, 10).await;

    // Another process takes the write lock and keeps it for 12 s, more than twice the busy
    // timeout (5 s): on a loaded machine a write that started waiting a little late must still
    // run out of it before the lock is given back.
    let TestStore::Sqlite(lite) = &db else {
        unreachable!()
    };
    let path = lite.dir.path().join("gateway.db");
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE; UPDATE practices SET name = name;")
            .unwrap();
        let _ = locked_tx.send(());
        std::thread::sleep(Duration::from_secs(12));
        conn.execute_batch("COMMIT").unwrap();
    });
    locked_rx.await.unwrap();
    eventually(20, "webhooks to be answered 503", || async {
        (load.count(Some(503)) > 0).then_some(())
    })
    .await;
    tokio::task::spawn_blocking(move || holder.join().unwrap())
        .await
        .unwrap();
    let answered_before = load.count(Some(200));
    eventually(30, "webhooks to be answered 200 again", || async {
        (load.count(Some(200)) >= answered_before + 10).then_some(())
    })
    .await;
    let (webhooks, unavailable) = finish_and_check(load, &db).await;
    println!(
        "SQLite locked for 12 s: {webhooks} webhooks, {unavailable} answered 503 and retried, 0 lost, 0 doubled"
    );
}
