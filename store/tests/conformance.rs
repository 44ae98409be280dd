//! The store conformance suite: every test here runs against PostgreSQL (a fresh database copied
//! from the migrated template) and against SQLite (a file in a temporary directory). A backend
//! that passes this suite can serve the gateway.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use store::testing::{TestPostgres, TestStore};
use store::{
    ApplyDefaultsTo, Audit, AuditFilter, NewCustomer, NewPatient, NewPractice, NewUser,
    NotificationSettingRow, Page, PatientNotificationSettingRow, Role, Store, StoreError,
};
use uuid::Uuid;

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
    a_users_notification_settings_read_back_beside_the_practice_defaults_and_are_audited,
    a_notification_channel_cannot_be_on_while_the_notification_is_off,
    defaults_saved_for_new_users_leave_existing_users_settings_as_they_were,
    defaults_saved_for_all_users_replace_every_users_own_settings,
    the_settings_of_many_users_are_read_in_one_call_in_the_order_asked,
    patient_notification_defaults_read_back_and_are_audited,
    disclaimers_are_empty_until_saved_then_read_back_and_are_audited,
    settings_of_a_missing_practice_are_not_found,
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

// ---- notification settings and disclaimers ---------------------------------------------------

fn setting(
    kind: &str,
    enabled: bool,
    push: bool,
    email: bool,
    text: bool,
) -> NotificationSettingRow {
    NotificationSettingRow {
        kind: kind.into(),
        enabled,
        push,
        email,
        text,
    }
}

/// What the gateway passes as its built-in defaults in these scenarios.
fn builtin() -> Vec<NotificationSettingRow> {
    vec![
        setting("new_patient_message", true, true, false, false),
        setting("reading_critical", true, true, false, false),
    ]
}

async fn actions_of(store: &Arc<dyn Store>, customer_id: Uuid) -> Vec<String> {
    store
        .list_audit(AuditFilter {
            customer_id: Some(customer_id),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.action)
        .collect()
}

async fn a_users_notification_settings_read_back_beside_the_practice_defaults_and_are_audited(
    db: &TestStore,
) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550301").await;
    let user = store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, "nina", vec![practice_id]),
        )
        .await
        .unwrap();
    let empty = store
        .user_notification_layers(user.id, practice_id)
        .await
        .unwrap();
    assert!(empty.own.is_empty() && empty.practice_defaults.is_empty());

    let saved = store
        .save_user_notification_settings(
            &audit_at(t0()),
            user.id,
            practice_id,
            vec![
                setting("two_way_texting", true, false, true, false),
                setting("reading_caution", false, false, false, false),
            ],
        )
        .await
        .unwrap();
    assert_eq!(saved.own.len(), 2);
    // Saving a kind again replaces it.
    let saved = store
        .save_user_notification_settings(
            &audit_at(t0()),
            user.id,
            practice_id,
            vec![setting("two_way_texting", true, true, true, true)],
        )
        .await
        .unwrap();
    let read = store
        .user_notification_layers(user.id, practice_id)
        .await
        .unwrap();
    assert_eq!(saved, read);
    assert!(
        read.own
            .contains(&setting("two_way_texting", true, true, true, true))
    );
    assert!(
        read.own
            .contains(&setting("reading_caution", false, false, false, false))
    );
    assert_eq!(read.own.len(), 2);

    store
        .save_practice_notification_defaults(
            &audit_at(t0()),
            practice_id,
            vec![setting("overdue_readings", true, false, true, false)],
            ApplyDefaultsTo::AllUsers,
            builtin(),
        )
        .await
        .unwrap();
    let read = store
        .user_notification_layers(user.id, practice_id)
        .await
        .unwrap();
    assert_eq!(
        read.practice_defaults,
        vec![setting("overdue_readings", true, false, true, false)]
    );
    let actions = actions_of(&store, customer_id).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "user.notification_settings.update")
            .count(),
        2
    );
    assert!(actions.contains(&"practice.user_notification_defaults.set_for_all_users".into()));
}

async fn a_notification_channel_cannot_be_on_while_the_notification_is_off(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550302").await;
    let user = store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, "omar", vec![practice_id]),
        )
        .await
        .unwrap();
    let before = actions_of(&store, customer_id).await;
    let err = store
        .save_user_notification_settings(
            &audit_at(t0()),
            user.id,
            practice_id,
            vec![
                setting("reading_caution", true, true, false, false),
                setting("reading_critical", false, false, false, true),
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    // Nothing of the refused save remains, not even the row that was valid, nor an audit row.
    let read = store
        .user_notification_layers(user.id, practice_id)
        .await
        .unwrap();
    assert!(read.own.is_empty());
    assert_eq!(actions_of(&store, customer_id).await, before);
}

async fn defaults_saved_for_new_users_leave_existing_users_settings_as_they_were(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550303").await;
    let member = store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, "pia", vec![practice_id]),
        )
        .await
        .unwrap();
    let admin = store
        .create_user(
            &audit_at(t0()),
            NewUser {
                role: Role::CustomerAdmin,
                ..staff(customer_id, "quinn", vec![])
            },
        )
        .await
        .unwrap();
    let outsider = store
        .create_user(&audit_at(t0()), staff(customer_id, "ravi", vec![]))
        .await
        .unwrap();
    // The member chose one kind already; that row must survive untouched.
    store
        .save_user_notification_settings(
            &audit_at(t0()),
            member.id,
            practice_id,
            vec![setting("new_patient_message", true, false, false, true)],
        )
        .await
        .unwrap();

    // First save: no saved defaults yet, so the built-in ones are what existing users had.
    let first = vec![
        setting("new_patient_message", false, false, false, false),
        setting("reading_critical", true, false, true, false),
    ];
    let saved = store
        .save_practice_notification_defaults(
            &audit_at(t0()),
            practice_id,
            first.clone(),
            ApplyDefaultsTo::NewUsers,
            builtin(),
        )
        .await
        .unwrap();
    assert_eq!(saved, first);
    let member_layers = store
        .user_notification_layers(member.id, practice_id)
        .await
        .unwrap();
    assert_eq!(
        member_layers.own,
        vec![
            setting("new_patient_message", true, false, false, true),
            setting("reading_critical", true, true, false, false),
        ]
    );
    let admin_layers = store
        .user_notification_layers(admin.id, practice_id)
        .await
        .unwrap();
    assert_eq!(admin_layers.own, builtin());
    // Someone who is not a user of the practice gets nothing written.
    let outsider_layers = store
        .user_notification_layers(outsider.id, practice_id)
        .await
        .unwrap();
    assert!(outsider_layers.own.is_empty());

    // A user who joins later has no rows of their own and so follows the new defaults.
    let newcomer = store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, "sara", vec![practice_id]),
        )
        .await
        .unwrap();
    // Second save: what the newcomer had was the saved defaults; those become their rows.
    store
        .save_practice_notification_defaults(
            &audit_at(t0()),
            practice_id,
            vec![setting("reading_critical", false, false, false, false)],
            ApplyDefaultsTo::NewUsers,
            builtin(),
        )
        .await
        .unwrap();
    let newcomer_layers = store
        .user_notification_layers(newcomer.id, practice_id)
        .await
        .unwrap();
    assert_eq!(newcomer_layers.own, first);
    assert_eq!(
        newcomer_layers.practice_defaults,
        vec![
            setting("new_patient_message", false, false, false, false),
            setting("reading_critical", false, false, false, false),
        ]
    );
    assert!(
        actions_of(&store, customer_id)
            .await
            .contains(&"practice.user_notification_defaults.set_for_new_users".into())
    );
}

async fn defaults_saved_for_all_users_replace_every_users_own_settings(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550304").await;
    let (_, other_practice) = customer_and_practice(&store, "+15555550305").await;
    let user = store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, "tom", vec![practice_id, other_practice]),
        )
        .await
        .unwrap();
    for practice in [practice_id, other_practice] {
        store
            .save_user_notification_settings(
                &audit_at(t0()),
                user.id,
                practice,
                vec![setting("overdue_readings", true, true, true, true)],
            )
            .await
            .unwrap();
    }
    store
        .save_practice_notification_defaults(
            &audit_at(t0()),
            practice_id,
            vec![setting("overdue_readings", false, false, false, false)],
            ApplyDefaultsTo::AllUsers,
            builtin(),
        )
        .await
        .unwrap();
    let here = store
        .user_notification_layers(user.id, practice_id)
        .await
        .unwrap();
    assert!(here.own.is_empty());
    // Another practice's settings are not touched.
    let there = store
        .user_notification_layers(user.id, other_practice)
        .await
        .unwrap();
    assert_eq!(
        there.own,
        vec![setting("overdue_readings", true, true, true, true)]
    );
}

async fn the_settings_of_many_users_are_read_in_one_call_in_the_order_asked(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550306").await;
    let mut users = Vec::new();
    for name in ["uma", "vic", "wes"] {
        users.push(
            store
                .create_user(&audit_at(t0()), staff(customer_id, name, vec![practice_id]))
                .await
                .unwrap()
                .id,
        );
    }
    let [uma, vic, wes] = [users[0], users[1], users[2]];
    let unknown = Uuid::now_v7();

    // Neither own rows nor defaults: nothing stored for anyone.
    let none = store
        .notification_settings_of_users(practice_id, "reading_critical", &[wes, uma])
        .await
        .unwrap();
    assert_eq!(
        none.iter().map(|s| s.user_id).collect::<Vec<_>>(),
        vec![wes, uma]
    );
    assert!(none.iter().all(|s| s.setting.is_none()));

    store
        .save_user_notification_settings(
            &audit_at(t0()),
            vic,
            practice_id,
            vec![
                setting("reading_critical", true, false, false, true),
                setting("reading_caution", true, true, false, false),
            ],
        )
        .await
        .unwrap();
    store
        .save_practice_notification_defaults(
            &audit_at(t0()),
            practice_id,
            vec![setting("reading_critical", true, true, true, false)],
            ApplyDefaultsTo::AllUsers,
            builtin(),
        )
        .await
        .unwrap();
    // Saved for all users removed vic's rows; give vic his own again.
    store
        .save_user_notification_settings(
            &audit_at(t0()),
            vic,
            practice_id,
            vec![setting("reading_critical", true, false, false, true)],
        )
        .await
        .unwrap();

    let found = store
        .notification_settings_of_users(
            practice_id,
            "reading_critical",
            &[wes, vic, uma, vic, unknown],
        )
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|s| s.user_id).collect::<Vec<_>>(),
        vec![wes, vic, uma, unknown],
        "deduplicated, in the order asked"
    );
    let practice_default = Some(setting("reading_critical", true, true, true, false));
    assert_eq!(found[0].setting, practice_default);
    assert_eq!(
        found[1].setting,
        Some(setting("reading_critical", true, false, false, true))
    );
    assert_eq!(found[2].setting, practice_default);
    assert_eq!(found[3].setting, practice_default);

    // A kind with no defaults and no own rows.
    let caution = store
        .notification_settings_of_users(practice_id, "reading_caution", &[vic, uma])
        .await
        .unwrap();
    assert!(caution.iter().all(|s| s.setting.is_none()));
    assert!(
        store
            .notification_settings_of_users(practice_id, "reading_caution", &[])
            .await
            .unwrap()
            .is_empty()
    );
}

async fn patient_notification_defaults_read_back_and_are_audited(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550307").await;
    assert!(
        store
            .patient_notification_defaults(practice_id)
            .await
            .unwrap()
            .is_empty()
    );
    let row = |kind: &str, enabled, email, text| PatientNotificationSettingRow {
        kind: kind.into(),
        enabled,
        email,
        text,
    };
    store
        .save_patient_notification_defaults(
            &audit_at(t0()),
            practice_id,
            vec![
                row("reading_critical", true, false, true),
                row("overdue_readings", true, true, false),
            ],
        )
        .await
        .unwrap();
    let saved = store
        .save_patient_notification_defaults(
            &audit_at(t0()),
            practice_id,
            vec![row("overdue_readings", false, false, false)],
        )
        .await
        .unwrap();
    assert_eq!(
        saved,
        vec![
            row("overdue_readings", false, false, false),
            row("reading_critical", true, false, true),
        ]
    );
    assert_eq!(
        store
            .patient_notification_defaults(practice_id)
            .await
            .unwrap(),
        saved
    );
    let err = store
        .save_patient_notification_defaults(
            &audit_at(t0()),
            practice_id,
            vec![row("reading_caution", false, true, false)],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let actions = actions_of(&store, customer_id).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "practice.patient_notification_defaults.update")
            .count(),
        2
    );
}

async fn disclaimers_are_empty_until_saved_then_read_back_and_are_audited(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550308").await;
    let empty = store.practice_disclaimers(practice_id).await.unwrap();
    assert_eq!(empty.care_plan_report, "");
    assert_eq!(empty.hra_report, "");
    assert_eq!(empty.updated_at, None);
    let saved = store
        .save_practice_disclaimers(
            &audit_at(t0()),
            practice_id,
            "Not a substitute for medical advice.".into(),
            "Ünïcode ✓ welcome.".into(),
        )
        .await
        .unwrap();
    assert_eq!(saved.updated_at, Some(t0()));
    assert_eq!(
        store.practice_disclaimers(practice_id).await.unwrap(),
        saved
    );
    let later = t0() + Duration::minutes(5);
    let replaced = store
        .save_practice_disclaimers(&audit_at(later), practice_id, String::new(), "HRA".into())
        .await
        .unwrap();
    assert_eq!(replaced.care_plan_report, "");
    assert_eq!(replaced.hra_report, "HRA");
    assert_eq!(replaced.updated_at, Some(later));
    // Exactly 4000 characters (of several bytes each) fit; one more does not.
    let longest = "é".repeat(4000);
    store
        .save_practice_disclaimers(&audit_at(later), practice_id, longest.clone(), longest)
        .await
        .unwrap();
    let err = store
        .save_practice_disclaimers(
            &audit_at(later),
            practice_id,
            "é".repeat(4001),
            String::new(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let actions = actions_of(&store, customer_id).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "practice.disclaimers.update")
            .count(),
        3
    );
}

async fn settings_of_a_missing_practice_are_not_found(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550309").await;
    let user = store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, "xena", vec![practice_id]),
        )
        .await
        .unwrap();
    let missing = Uuid::now_v7();
    assert!(matches!(
        store
            .save_user_notification_settings(&audit_at(t0()), user.id, missing, vec![])
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .save_practice_notification_defaults(
                &audit_at(t0()),
                missing,
                vec![],
                ApplyDefaultsTo::NewUsers,
                builtin(),
            )
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .save_patient_notification_defaults(&audit_at(t0()), missing, vec![])
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.practice_disclaimers(missing).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .save_practice_disclaimers(&audit_at(t0()), missing, String::new(), String::new())
            .await,
        Err(StoreError::NotFound)
    ));
}
