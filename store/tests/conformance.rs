//! The store conformance suite: every test here runs against PostgreSQL (a fresh database copied
//! from the migrated template) and against SQLite (a file in a temporary directory). A backend
//! that passes this suite can serve the gateway.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use store::testing::{TestPostgres, TestStore};
use store::{
    Audit, AuditFilter, NewCustomer, NewPatient, NewPractice, NewUser, Page, Role, Store,
    StoreError,
};
use uuid::Uuid;

#[path = "conformance/messaging.rs"]
mod messaging;
use messaging::*;

/// Generates one `#[tokio::test]` per backend for each listed scenario.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = store::testing::TestStore::postgres().await;
                    super::$name(&db).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = store::testing::TestStore::sqlite();
                    super::$name(&db).await;
                }
            )*
        }
    };
}

conformance!(
    migrating_again_changes_nothing,
    a_customer_reads_back_as_created_and_its_creation_is_audited,
    a_missing_row_is_not_found,
    two_practices_cannot_share_an_sms_number,
    practices_page_through_in_creation_order,
    usernames_are_unique_regardless_of_case,
    a_user_reads_back_with_its_practices,
    creating_the_super_admin_twice_resets_its_password_and_unlocks_it,
    a_session_lives_while_used_within_the_idle_timeout,
    an_idle_session_is_gone_for_good,
    locking_a_user_ends_their_sessions_at_once,
    a_patient_read_is_written_to_the_audit_log,
    the_audit_log_filters_by_user_patient_and_time_and_pages,
    the_audit_log_refuses_updates_and_deletes,
    a_failed_operation_writes_no_audit_row,
    // Messaging (conformance/messaging.rs).
    a_repeated_carrier_message_id_is_recorded_once_and_changes_nothing,
    an_inbound_text_goes_to_the_texting_patient_of_the_practice_it_was_sent_to,
    a_body_the_decision_does_not_keep_is_never_stored,
    an_unknown_sender_or_number_is_recorded_without_patient_or_practice,
    the_decision_writes_texting_state_and_replies_in_the_inbound_transaction,
    due_rows_are_claimed_highest_priority_first,
    a_number_gets_send_slots_no_closer_than_its_rate_across_claims,
    a_lost_claim_is_sent_once_more_as_recovered_and_a_second_loss_fails_it,
    a_retry_waits_for_its_time_and_a_success_records_the_carrier_id,
    a_status_never_moves_backwards_and_undelivered_fails_the_row,
    error_21610_opts_the_patient_out_from_a_callback_and_from_a_send_answer,
    outbox_stats_count_what_waits_and_its_oldest_age,
);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn audit_at(at: DateTime<Utc>) -> Audit {
    Audit {
        user_id: None,
        client_addr: Some("127.0.0.1".into()),
        at,
    }
}

async fn customer_and_practice(store: &Arc<dyn Store>, sms: &str) -> (Uuid, Uuid) {
    let customer = store
        .create_customer(
            &audit_at(t0()),
            NewCustomer {
                name: "Acme Health".into(),
            },
        )
        .await
        .unwrap();
    let practice = store
        .create_practice(
            &audit_at(t0()),
            NewPractice {
                customer_id: customer.id,
                name: "Main Street Clinic".into(),
                timezone: "America/New_York".into(),
                sms_number: sms.into(),
            },
        )
        .await
        .unwrap();
    (customer.id, practice.id)
}

fn staff(customer_id: Uuid, username: &str, practice_ids: Vec<Uuid>) -> NewUser {
    NewUser {
        customer_id: Some(customer_id),
        username: username.into(),
        password_hash: "$argon2id$placeholder".into(),
        role: Role::Staff,
        email: format!("{username}@example.org"),
        first_name: "Sam".into(),
        last_name: "Staff".into(),
        title: "RN".into(),
        mobile_phone: Some("+15555550100".into()),
        auto_logout_minutes: 15,
        practice_ids,
    }
}

async fn migrating_again_changes_nothing(db: &TestStore) {
    let store = db.store().await;
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
}

async fn a_customer_reads_back_as_created_and_its_creation_is_audited(db: &TestStore) {
    let store = db.store().await;
    let created = store
        .create_customer(
            &audit_at(t0()),
            NewCustomer {
                name: "Acme".into(),
            },
        )
        .await
        .unwrap();
    let read = store.get_customer(created.id).await.unwrap();
    assert_eq!(created, read);
    assert_eq!(read.created_at, t0());
    let audit = store
        .list_audit(AuditFilter {
            customer_id: Some(created.id),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "customer.create");
    assert_eq!(audit[0].client_addr.as_deref(), Some("127.0.0.1"));
}

async fn a_missing_row_is_not_found(db: &TestStore) {
    let store = db.store().await;
    assert!(matches!(
        store.get_customer(Uuid::now_v7()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_practice(Uuid::now_v7()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_user(Uuid::now_v7()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.find_user_by_username("nobody").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_patient(&audit_at(t0()), Uuid::now_v7()).await,
        Err(StoreError::NotFound)
    ));
}

async fn two_practices_cannot_share_an_sms_number(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, _) = customer_and_practice(&store, "+15555550001").await;
    let err = store
        .create_practice(
            &audit_at(t0()),
            NewPractice {
                customer_id,
                name: "Second".into(),
                timezone: "UTC".into(),
                sms_number: "+15555550001".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(err.is_conflict_on("practices_sms_number_key"), "{err:?}");
}

async fn practices_page_through_in_creation_order(db: &TestStore) {
    let store = db.store().await;
    let customer = store
        .create_customer(
            &audit_at(t0()),
            NewCustomer {
                name: "Many".into(),
            },
        )
        .await
        .unwrap();
    let mut created = Vec::new();
    for i in 0..5 {
        let p = store
            .create_practice(
                &audit_at(t0()),
                NewPractice {
                    customer_id: customer.id,
                    name: format!("Practice {i}"),
                    timezone: "UTC".into(),
                    sms_number: format!("+1555555100{i}"),
                },
            )
            .await
            .unwrap();
        created.push(p.id);
    }
    let first = store
        .list_practices(customer.id, Page::first(2))
        .await
        .unwrap();
    assert_eq!(
        first.items.iter().map(|p| p.id).collect::<Vec<_>>(),
        created[0..2]
    );
    let second = store
        .list_practices(
            customer.id,
            Page {
                after: first.next_cursor,
                limit: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        second.items.iter().map(|p| p.id).collect::<Vec<_>>(),
        created[2..4]
    );
    let third = store
        .list_practices(
            customer.id,
            Page {
                after: second.next_cursor,
                limit: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        third.items.iter().map(|p| p.id).collect::<Vec<_>>(),
        created[4..5]
    );
    assert_eq!(third.next_cursor, None);
}

async fn usernames_are_unique_regardless_of_case(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, _) = customer_and_practice(&store, "+15555550002").await;
    store
        .create_user(&audit_at(t0()), staff(customer_id, "alice", vec![]))
        .await
        .unwrap();
    let err = store
        .create_user(&audit_at(t0()), staff(customer_id, "ALICE", vec![]))
        .await
        .unwrap_err();
    assert!(err.is_conflict_on("users_username_key"), "{err:?}");
    let found = store.find_user_by_username("Alice").await.unwrap();
    assert_eq!(found.username, "alice");
}

async fn a_user_reads_back_with_its_practices(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550003").await;
    let user = store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, "bob", vec![practice_id]),
        )
        .await
        .unwrap();
    let read = store.get_user(user.id).await.unwrap();
    assert_eq!(read.practice_ids, vec![practice_id]);
    assert_eq!(read.role, Role::Staff);
    assert_eq!(read.customer_id, Some(customer_id));
    assert_eq!(read.auto_logout_minutes, 15);
    assert_eq!(read.locked_at, None);
}

async fn creating_the_super_admin_twice_resets_its_password_and_unlocks_it(db: &TestStore) {
    let store = db.store().await;
    let first = store
        .upsert_super_admin(&audit_at(t0()), "root", "hash-1")
        .await
        .unwrap();
    store.lock_user(&audit_at(t0()), first.id).await.unwrap();
    let second = store
        .upsert_super_admin(&audit_at(t0()), "ROOT", "hash-2")
        .await
        .unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(second.password_hash, "hash-2");
    assert_eq!(second.locked_at, None);
    assert_eq!(second.role, Role::SuperAdmin);
    assert_eq!(second.customer_id, None);
}

async fn a_session_lives_while_used_within_the_idle_timeout(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, _) = customer_and_practice(&store, "+15555550004").await;
    let user = store
        .create_user(&audit_at(t0()), staff(customer_id, "carol", vec![]))
        .await
        .unwrap();
    store.create_session("hash-a", user.id, t0()).await.unwrap();
    // Used every 10 minutes with a 15-minute idle timeout: alive for an hour and beyond.
    for step in 1..=6 {
        let now = t0() + Duration::minutes(10 * step);
        let session = store.use_session("hash-a", now).await.unwrap();
        assert_eq!(session.user.id, user.id);
        assert_eq!(session.expires_at, now + Duration::minutes(15));
    }
}

async fn an_idle_session_is_gone_for_good(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, _) = customer_and_practice(&store, "+15555550005").await;
    let user = store
        .create_user(&audit_at(t0()), staff(customer_id, "dave", vec![]))
        .await
        .unwrap();
    store.create_session("hash-b", user.id, t0()).await.unwrap();
    // Exactly at the timeout the session has ended.
    let err = store
        .use_session("hash-b", t0() + Duration::minutes(15))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound));
    // It was removed, not merely refused: an earlier clock cannot revive it.
    assert!(matches!(
        store.use_session("hash-b", t0()).await,
        Err(StoreError::NotFound)
    ));
}

async fn locking_a_user_ends_their_sessions_at_once(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, _) = customer_and_practice(&store, "+15555550006").await;
    let user = store
        .create_user(&audit_at(t0()), staff(customer_id, "erin", vec![]))
        .await
        .unwrap();
    let other = store
        .create_user(&audit_at(t0()), staff(customer_id, "frank", vec![]))
        .await
        .unwrap();
    store.create_session("hash-c", user.id, t0()).await.unwrap();
    store
        .create_session("hash-d", other.id, t0())
        .await
        .unwrap();
    let locked = store.lock_user(&audit_at(t0()), user.id).await.unwrap();
    assert_eq!(locked.locked_at, Some(t0()));
    assert!(matches!(
        store.use_session("hash-c", t0()).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        store.use_session("hash-d", t0()).await.is_ok(),
        "other users keep their sessions"
    );
    assert!(matches!(
        store.lock_user(&audit_at(t0()), Uuid::now_v7()).await,
        Err(StoreError::NotFound)
    ));
}

async fn a_patient_read_is_written_to_the_audit_log(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550007").await;
    let reader = store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, "gina", vec![practice_id]),
        )
        .await
        .unwrap();
    let created = store
        .create_patient(
            &audit_at(t0()),
            NewPatient {
                practice_id,
                first_name: "Pat".into(),
                last_name: "Jones".into(),
                dob: NaiveDate::from_ymd_opt(1961, 7, 4).unwrap(),
                mobile_phone: Some("+15555550199".into()),
                programs: vec!["rpm".into(), "ccm".into()],
            },
        )
        .await
        .unwrap();
    assert_eq!(created.texting.status, "not_enabled");
    assert_eq!(created.programs, vec!["ccm".to_string(), "rpm".to_string()]);
    let later = t0() + Duration::minutes(5);
    let by_reader = Audit {
        user_id: Some(reader.id),
        client_addr: Some("10.1.2.3".into()),
        at: later,
    };
    let read = store.get_patient(&by_reader, created.id).await.unwrap();
    assert_eq!(read, created);
    let rows = store
        .list_audit(AuditFilter {
            patient_id: Some(created.id),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<_> = rows.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["patient.create", "patient.read"]);
    assert_eq!(rows[1].user_id, Some(reader.id));
    assert_eq!(rows[1].at, later);
    assert_eq!(rows[1].client_addr.as_deref(), Some("10.1.2.3"));
    assert_eq!(rows[1].customer_id, Some(customer_id));
}

async fn the_audit_log_filters_by_user_patient_and_time_and_pages(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, _) = customer_and_practice(&store, "+15555550008").await;
    let actor = store
        .create_user(&audit_at(t0()), staff(customer_id, "hank", vec![]))
        .await
        .unwrap();
    for i in 0..5 {
        let audit = Audit {
            user_id: Some(actor.id),
            client_addr: None,
            at: t0() + Duration::hours(i),
        };
        store
            .append_audit(
                &audit,
                store::AuditEvent {
                    customer_id: Some(customer_id),
                    action: "conversation.read",
                    target_type: "patient",
                    target_id: Some(format!("p{i}")),
                    patient_id: None,
                },
            )
            .await
            .unwrap();
    }
    let by_user = AuditFilter {
        user_id: Some(actor.id),
        limit: 100,
        ..Default::default()
    };
    assert_eq!(store.list_audit(by_user.clone()).await.unwrap().len(), 5);
    let since = AuditFilter {
        since: Some(t0() + Duration::hours(3)),
        ..by_user.clone()
    };
    assert_eq!(store.list_audit(since).await.unwrap().len(), 2);
    let page1 = store
        .list_audit(AuditFilter {
            limit: 3,
            ..by_user.clone()
        })
        .await
        .unwrap();
    assert_eq!(page1.len(), 3);
    let page2 = store
        .list_audit(AuditFilter {
            limit: 3,
            after_id: Some(page1[2].id),
            ..by_user.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        page2
            .iter()
            .map(|r| r.target_id.clone().unwrap())
            .collect::<Vec<_>>(),
        ["p3", "p4"]
    );
    let other_customer = AuditFilter {
        customer_id: Some(Uuid::now_v7()),
        limit: 100,
        ..Default::default()
    };
    assert!(store.list_audit(other_customer).await.unwrap().is_empty());
}

async fn the_audit_log_refuses_updates_and_deletes(db: &TestStore) {
    let store = db.store().await;
    customer_and_practice(&store, "+15555550009").await;
    for sql in ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"] {
        let refused = raw_execute(db, sql).await;
        assert!(refused.is_err(), "{sql} must be refused");
    }
    let rows = store
        .list_audit(AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.action != "x"));
}

async fn a_failed_operation_writes_no_audit_row(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, _) = customer_and_practice(&store, "+15555550010").await;
    store
        .create_user(&audit_at(t0()), staff(customer_id, "ivy", vec![]))
        .await
        .unwrap();
    let before = store
        .list_audit(AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .len();
    assert!(
        store
            .create_user(&audit_at(t0()), staff(customer_id, "ivy", vec![]))
            .await
            .is_err()
    );
    // A practice that does not exist: the user insert fails half-way and nothing remains.
    let bad = staff(customer_id, "jack", vec![Uuid::now_v7()]);
    assert!(store.create_user(&audit_at(t0()), bad).await.is_err());
    assert!(matches!(
        store.find_user_by_username("jack").await,
        Err(StoreError::NotFound)
    ));
    let after = store
        .list_audit(AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .len();
    assert_eq!(before, after);
}

/// Runs SQL outside the store API, to check what the database itself refuses.
async fn raw_execute(db: &TestStore, sql: &str) -> Result<(), String> {
    match db {
        TestStore::Postgres(pg) => {
            let (client, conn) = tokio_postgres::connect(&pg.url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            client.batch_execute(sql).await.map_err(|e| e.to_string())
        }
        TestStore::Sqlite(lite) => {
            let conn = rusqlite::Connection::open(lite.dir.path().join("gateway.db")).unwrap();
            conn.execute_batch(sql).map_err(|e| e.to_string())
        }
    }
}

// Backend-specific behaviour.

#[tokio::test]
async fn postgres_migrations_are_safe_when_several_gateways_start_at_once() {
    let db = TestPostgres::empty().await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = db.url.clone();
        tasks.push(tokio::spawn(async move {
            let store = store::PostgresStore::connect(&url).unwrap();
            store.migrate().await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let applied: i64 = client
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied, store::migrations::MIGRATIONS.len() as i64);
}

#[tokio::test]
async fn postgres_refuses_to_start_on_an_edited_migration() {
    let db = TestStore::postgres().await;
    let store = db.store().await;
    raw_execute(
        &db,
        "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1",
    )
    .await
    .unwrap();
    let err = store.migrate().await.unwrap_err();
    assert!(
        err.to_string().contains("was changed after it was applied"),
        "{err}"
    );
}

#[tokio::test]
async fn sqlite_refuses_to_start_on_an_edited_migration() {
    let db = TestStore::sqlite();
    let store = db.store().await;
    raw_execute(
        &db,
        "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1",
    )
    .await
    .unwrap();
    assert!(store.migrate().await.is_err());
}

#[tokio::test]
async fn an_unreachable_postgres_is_reported_as_unavailable() {
    // Port 9 (discard) has no PostgreSQL behind it on the test machine.
    let store = store::PostgresStore::connect("postgres://postgres@127.0.0.1:9/none").unwrap();
    let err = store.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn sqlite_keeps_data_across_reopening() {
    let db = store::testing::TestSqlite::new();
    let id = {
        let store = db.store().await;
        store
            .create_customer(
                &audit_at(t0()),
                NewCustomer {
                    name: "Durable".into(),
                },
            )
            .await
            .unwrap()
            .id
    };
    let reopened = db.store().await;
    assert_eq!(reopened.get_customer(id).await.unwrap().name, "Durable");
}

#[tokio::test]
async fn postgres_two_claimers_never_claim_one_row_twice() {
    let db = TestStore::postgres().await;
    let store = db.store().await;
    for i in 0..60 {
        store
            .enqueue_sms(
                &audit_now(),
                new_outbound("+15555550201", &format!("+1555555{:04}", i % 6), "x"),
            )
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = db.store().await;
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for round in 0..20 {
                let now = t0() + Duration::seconds(round);
                let claim = store
                    .claim_outbound(claim_request(now, 100, 7))
                    .await
                    .unwrap();
                ids.extend(claim.sends.into_iter().map(|s| s.outbound.id));
            }
            ids
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let claimed = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), claimed, "a row was claimed twice");
    assert_eq!(claimed, 60);
}

#[tokio::test]
async fn postgres_two_concurrent_deliveries_of_one_message_record_it_once() {
    let db = TestStore::postgres().await;
    let store = db.store().await;
    customer_and_practice(&store, "+15555550100").await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = db.store().await;
        tasks.push(tokio::spawn(async move {
            store
                .record_inbound(&audit_now(), new_inbound("SMsame"), keep_body())
                .await
                .unwrap()
        }));
    }
    let mut recorded = 0;
    for task in tasks {
        if matches!(task.await.unwrap(), store::InboundOutcome::Recorded { .. }) {
            recorded += 1;
        }
    }
    assert_eq!(recorded, 1);
}
