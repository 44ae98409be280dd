//! PostgreSQL's group commit of inbound texts (`store/src/postgres/inbound_batch.rs`): texts
//! waiting at the same moment share a transaction, each is still recorded exactly once and
//! decided on its own, and a text the batch cannot take (it changes state, or its batch failed)
//! is recorded on its own with nothing lost.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use store::testing::TestStore;
use store::{
    InboundDecision, InboundOutcome, NewInbound, NewNotification, NewPatient, Store, StoreError,
    TextingRow,
};
use types::TextingStatus;
use uuid::Uuid;

use super::{audit_at, create_staff, customer_and_practice, set_texting, t0};

const PRACTICE: &str = "+15555550100";

fn number(i: usize) -> String {
    format!("+1555020{i:04}")
}

/// A patient of the practice on `mobile`, texting in `status`.
async fn patient_on(
    db: &TestStore,
    practice_id: Uuid,
    name: &str,
    mobile: &str,
    status: &str,
) -> Uuid {
    let new = NewPatient {
        practice_id,
        first_name: name.into(),
        last_name: "Doe".into(),
        dob: NaiveDate::from_ymd_opt(1970, 1, 2).unwrap(),
        mobile_phone: Some(mobile.into()),
        programs: vec![],
        care_team: Vec::new(),
    };
    let store = db.store().await;
    let id = store.create_patient(&audit_at(t0()), new).await.unwrap().id;
    set_texting(db, id, status).await;
    id
}

/// A store, the practice on [`PRACTICE`] and a staff user of it.
async fn practice_with_nurse(db: &TestStore) -> (Arc<dyn Store>, Uuid, Uuid) {
    let store = db.store().await;
    let (customer, practice_id) = customer_and_practice(&store, PRACTICE).await;
    let user = create_staff(&store, customer, "nurse", vec![practice_id]).await;
    (store, practice_id, user.id)
}

/// `count` patients of the practice, patient `i` on [`number`]`(i)`, texting in `status`.
async fn patients(db: &TestStore, practice_id: Uuid, count: usize, status: &str) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for i in 0..count {
        ids.push(patient_on(db, practice_id, &format!("P{i}"), &number(i), status).await);
    }
    ids
}

fn text(sid: &str, from: &str, body: &str) -> NewInbound {
    NewInbound {
        carrier: "twilio".into(),
        carrier_sid: sid.into(),
        from_number: from.into(),
        to_number: PRACTICE.into(),
        body: body.into(),
        num_segments: 1,
        throttle_key: None,
    }
}

/// Keeps the body of an enabled patient, flags the message with its own id (so a test sees that
/// each text was written as its own decision said) and tells `user` in the feed with a row of
/// `kind`.
fn ordinary(user: Uuid, kind: &'static str) -> store::InboundDecider {
    Box::new(move |ctx| {
        let patient = ctx.patient.as_ref();
        let practice = ctx.practice.as_ref().expect("the practice");
        InboundDecision {
            keep_body: patient.is_some_and(|p| p.texting.status == TextingStatus::Enabled),
            notifications: vec![NewNotification::in_feed(
                user,
                practice.id,
                patient.map(|p| p.id),
                kind,
                "New message",
            )],
            flag: Some(format!("seen {}", ctx.message_id)),
            ..Default::default()
        }
    })
}

/// Enables its patient: a decision that changes state.
fn enabling() -> store::InboundDecider {
    Box::new(|_| InboundDecision {
        texting: Some(TextingRow {
            status: TextingStatus::Enabled,
            attempts_left: 0,
            expires_at: None,
            updated_at: t0(),
        }),
        ..Default::default()
    })
}

/// Runs every text at once on one store and answers each text's outcome, in order.
async fn record_all(
    store: &Arc<dyn Store>,
    texts: Vec<(NewInbound, store::InboundDecider)>,
) -> Vec<Result<InboundOutcome, StoreError>> {
    let tasks: Vec<_> = texts
        .into_iter()
        .map(|(text, decide)| {
            let store = Arc::clone(store);
            tokio::spawn(async move { store.record_inbound(&audit_at(t0()), text, decide).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    outcomes
}

async fn pg(db: &TestStore) -> tokio_postgres::Client {
    let TestStore::Postgres(pg) = db else {
        panic!("a PostgreSQL test");
    };
    let (client, conn) = tokio_postgres::connect(&pg.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

async fn count(client: &tokio_postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

pub async fn postgres_texts_arriving_together_share_transactions_and_each_is_recorded_once(
    db: &TestStore,
) {
    let (store, practice_id, user) = practice_with_nurse(db).await;
    let ids = patients(db, practice_id, 10, "enabled").await;
    // 120 texts from ten patients, and 40 of them delivered a second time at the same moment.
    let mut texts: Vec<NewInbound> = (0..120)
        .map(|i| text(&format!("SMb{i}"), &number(i % 10), &format!("hello {i}")))
        .collect();
    texts.extend((0..40).map(|i| text(&format!("SMb{i}"), &number(i % 10), "again")));
    let texts = texts
        .into_iter()
        .map(|t| (t, ordinary(user, "new_patient_message")))
        .collect();
    let outcomes = record_all(&store, texts).await;

    let mut recorded: HashMap<String, Uuid> = HashMap::new();
    let mut repeats = Vec::new();
    for outcome in outcomes {
        match outcome.unwrap() {
            InboundOutcome::Recorded { message, enqueued } => {
                assert!(enqueued.is_empty());
                let sid = message.carrier_sid.clone().unwrap();
                assert_eq!(
                    message.flag.as_deref(),
                    Some(format!("seen {}", message.id).as_str()),
                    "written as its own decision said"
                );
                let i: usize = sid.trim_start_matches("SMb").parse().unwrap();
                assert_eq!(message.patient_id, Some(ids[i % 10]));
                assert_eq!(message.body.as_deref(), Some(format!("hello {i}").as_str()));
                assert!(recorded.insert(sid, message.id).is_none(), "recorded twice");
            }
            InboundOutcome::Duplicate { message_id } => repeats.push(message_id),
        }
    }
    assert_eq!(recorded.len(), 120);
    assert_eq!(repeats.len(), 40);
    for repeat in &repeats {
        assert!(
            recorded.values().any(|id| id == repeat),
            "a repeat finds the first"
        );
    }
    let c = pg(db).await;
    assert_eq!(count(&c, "SELECT count(*) FROM messages").await, 120);
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM audit_log WHERE action = 'message.inbound'"
        )
        .await,
        120
    );
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM notifications WHERE kind = 'new_patient_message'"
        )
        .await,
        120
    );
    // Rows written by one transaction carry its id: far fewer transactions than texts.
    let transactions = count(&c, "SELECT count(DISTINCT xmin::text) FROM messages").await;
    eprintln!("{transactions} transactions for 120 texts");
    assert!(
        transactions <= 30,
        "{transactions} transactions for 120 texts"
    );
    // Each patient's conversation head is its newest message.
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM conversation_heads h
             WHERE h.last_message_id = (SELECT m.id FROM messages m
                                        WHERE m.patient_id = h.patient_id
                                        ORDER BY m.id DESC LIMIT 1)"
        )
        .await,
        10
    );
}

pub async fn postgres_a_text_its_batch_cannot_take_is_recorded_alone_and_costs_the_others_nothing(
    db: &TestStore,
) {
    let (store, practice_id, user) = practice_with_nurse(db).await;
    let enabled = patients(db, practice_id, 5, "enabled").await;
    let pending_number = number(5);
    let pending = patient_on(db, practice_id, "Pending", &pending_number, "pending").await;
    // Forty ordinary texts; among them one whose feed row the database refuses (its batch fails
    // and every text of it is recorded alone), and one that enables its patient.
    let mut texts: Vec<(NewInbound, store::InboundDecider)> = (0..40)
        .map(|i| {
            let t = text(&format!("SMc{i}"), &number(i % 5), "hello");
            (t, ordinary(user, "new_patient_message"))
        })
        .collect();
    texts[20] = (
        text("SMbad", &number(0), "bad"),
        ordinary(user, "no_such_kind"),
    );
    texts[30] = (text("SMverify", &pending_number, "verify"), enabling());
    let outcomes = record_all(&store, texts).await;
    for (i, outcome) in outcomes.into_iter().enumerate() {
        match (i, outcome) {
            (20, Err(StoreError::Conflict { .. })) => {}
            (20, other) => panic!("the refused text: {other:?}"),
            (_, Ok(InboundOutcome::Recorded { message, .. })) => {
                if i == 30 {
                    assert_eq!(message.patient_id, Some(pending));
                } else {
                    assert_eq!(message.patient_id, Some(enabled[i % 5]));
                    assert_eq!(message.body.as_deref(), Some("hello"));
                }
            }
            (_, other) => panic!("text {i}: {other:?}"),
        }
    }
    let c = pg(db).await;
    assert_eq!(count(&c, "SELECT count(*) FROM messages").await, 39);
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM messages WHERE carrier_sid = 'SMbad'"
        )
        .await,
        0,
        "nothing of the refused text"
    );
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM audit_log WHERE action = 'message.inbound'"
        )
        .await,
        39
    );
    assert_eq!(
        count(&c, "SELECT count(*) FROM notifications").await,
        38,
        "one feed row for each ordinary text recorded"
    );
    let patient = store.get_patient(&audit_at(t0()), pending).await.unwrap();
    assert_eq!(patient.texting.status, TextingStatus::Enabled);
}
