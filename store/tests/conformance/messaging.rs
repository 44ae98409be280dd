//! Conformance scenarios of the messaging aggregate: inbound dedup and routing, the outbox claim
//! (priority, per-number slots, leases and recovery), send outcomes and status callbacks.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use store::testing::TestStore;
use store::{
    Audit, ClaimRequest, InboundDecision, InboundOutcome, NewInbound, NewOutbound, NewPatient,
    OutboxState, SendFailure, StatusOutcome, Store, StoreError, TextingRow, priority,
};
use types::{Direction, MessageStatus, TextingStatus};
use uuid::Uuid;

use super::{audit_at, customer_and_practice, raw_execute, t0};

const PRACTICE_NUMBER: &str = "+15555550100";
const PATIENT_NUMBER: &str = "+15555550123";

fn status_rank(status: &str) -> u8 {
    match status {
        "accepted" | "queued" => 1,
        "sending" => 2,
        "sent" => 3,
        "delivered" | "undelivered" | "failed" => 4,
        _ => 0,
    }
}

fn later_status(current: &str, incoming: &str) -> bool {
    status_rank(incoming) > status_rank(current)
}

async fn patient(store: &Arc<dyn Store>, practice_id: Uuid, name: &str, at: DateTime<Utc>) -> Uuid {
    store
        .create_patient(
            &audit_at(at),
            NewPatient {
                practice_id,
                first_name: name.into(),
                last_name: "Doe".into(),
                dob: NaiveDate::from_ymd_opt(1970, 1, 2).unwrap(),
                mobile_phone: Some(PATIENT_NUMBER.into()),
                programs: vec![],
                care_team: Vec::new(),
            },
        )
        .await
        .unwrap()
        .id
}

pub async fn set_texting(db: &TestStore, patient_id: Uuid, status: &str) {
    let id = match db {
        TestStore::Postgres(_) => format!("'{patient_id}'"),
        TestStore::Sqlite(_) => format!("X'{}'", patient_id.simple()),
    };
    raw_execute(
        db,
        &format!("UPDATE patients SET texting_status = '{status}' WHERE id = {id}"),
    )
    .await
    .unwrap();
}

fn inbound(sid: &str, body: &str) -> NewInbound {
    NewInbound {
        carrier: "twilio".into(),
        carrier_sid: sid.into(),
        from_number: PATIENT_NUMBER.into(),
        to_number: PRACTICE_NUMBER.into(),
        body: body.into(),
        num_segments: 1,
        throttle_key: None,
    }
}

fn keep_body_when_enabled() -> store::InboundDecider {
    Box::new(|ctx| InboundDecision {
        keep_body: ctx
            .patient
            .as_ref()
            .is_some_and(|p| p.texting.status == TextingStatus::Enabled),
        ..Default::default()
    })
}

fn outbound(to: &str, from: &str, body: &str, priority: i16) -> NewOutbound {
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

fn claim_at(now: DateTime<Utc>, per_second: i64, limit: u32) -> ClaimRequest {
    ClaimRequest {
        worker: "test".into(),
        now,
        lease: Duration::seconds(60),
        limit,
        sender_interval: Duration::microseconds(1_000_000 / per_second),
        horizon: Duration::seconds(1),
    }
}

fn failure(code: Option<i32>, opted_out: bool) -> SendFailure {
    SendFailure {
        error_code: code,
        message: "carrier said no".into(),
        opted_out,
    }
}

pub async fn a_repeated_carrier_message_id_is_recorded_once_and_changes_nothing(db: &TestStore) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, PRACTICE_NUMBER).await;
    let patient_id = patient(&store, practice_id, "Ann", t0()).await;
    let first = store
        .record_inbound(
            &audit_at(t0()),
            inbound("SM1", "hello"),
            keep_body_when_enabled(),
        )
        .await
        .unwrap();
    let InboundOutcome::Recorded { message, .. } = first else {
        panic!("first delivery is recorded: {first:?}");
    };
    assert_eq!(message.patient_id, Some(patient_id));
    assert_eq!(message.practice_id, Some(practice_id));
    assert_eq!(message.direction, Direction::Inbound);
    let again = store
        .record_inbound(
            &audit_at(t0() + Duration::seconds(5)),
            inbound("SM1", "hello"),
            Box::new(|_| panic!("a repeat is never decided again")),
        )
        .await
        .unwrap();
    assert!(
        matches!(again, InboundOutcome::Duplicate { message_id } if message_id == message.id),
        "{again:?}"
    );
    let stored = store
        .find_message_by_carrier_sid("twilio", "SM1")
        .await
        .unwrap();
    assert_eq!(stored, *message);
}

pub async fn an_inbound_text_goes_to_the_texting_patient_of_the_practice_it_was_sent_to(
    db: &TestStore,
) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, PRACTICE_NUMBER).await;
    let older = patient(&store, practice_id, "Old", t0()).await;
    let texting = patient(&store, practice_id, "Texting", t0() + Duration::seconds(1)).await;
    let newest = patient(&store, practice_id, "New", t0() + Duration::seconds(2)).await;
    set_texting(db, texting, "enabled").await;
    let InboundOutcome::Recorded { message, .. } = store
        .record_inbound(
            &audit_at(t0()),
            inbound("SM2", "hi"),
            keep_body_when_enabled(),
        )
        .await
        .unwrap()
    else {
        panic!("recorded");
    };
    assert_eq!(message.patient_id, Some(texting));
    assert_eq!(message.body.as_deref(), Some("hi"));
    assert!(!message.redacted);

    // With nobody texting, the most recently created patient with that number.
    set_texting(db, texting, "failed").await;
    let InboundOutcome::Recorded { message, .. } = store
        .record_inbound(
            &audit_at(t0()),
            inbound("SM3", "hi"),
            keep_body_when_enabled(),
        )
        .await
        .unwrap()
    else {
        panic!("recorded");
    };
    assert_eq!(message.patient_id, Some(newest));
    assert_ne!(message.patient_id, Some(older));
}

pub async fn a_body_the_decision_does_not_keep_is_never_stored(db: &TestStore) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, PRACTICE_NUMBER).await;
    let patient_id = patient(&store, practice_id, "Ann", t0()).await;
    set_texting(db, patient_id, "pending").await;
    let InboundOutcome::Recorded { message, .. } = store
        .record_inbound(
            &audit_at(t0()),
            inbound("SM4", "01/02/1970"),
            keep_body_when_enabled(),
        )
        .await
        .unwrap()
    else {
        panic!("recorded");
    };
    assert!(message.redacted);
    assert_eq!(message.body, None);
    assert_eq!(
        store.get_message(message.id).await.unwrap().body,
        None,
        "the date of birth is not in the store"
    );
}

pub async fn an_unknown_sender_or_number_is_recorded_without_patient_or_practice(db: &TestStore) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, PRACTICE_NUMBER).await;
    let mut unknown_sender = inbound("SM5", "who is this");
    unknown_sender.from_number = "+15555550999".into();
    let InboundOutcome::Recorded { message, enqueued } = store
        .record_inbound(&audit_at(t0()), unknown_sender, keep_body_when_enabled())
        .await
        .unwrap()
    else {
        panic!("recorded");
    };
    assert_eq!(message.practice_id, Some(practice_id));
    assert_eq!(message.patient_id, None);
    assert!(message.redacted);
    assert!(enqueued.is_empty());

    let mut unknown_number = inbound("SM6", "hello?");
    unknown_number.to_number = "+15555550888".into();
    let InboundOutcome::Recorded { message, .. } = store
        .record_inbound(&audit_at(t0()), unknown_number, keep_body_when_enabled())
        .await
        .unwrap()
    else {
        panic!("recorded");
    };
    assert_eq!(message.practice_id, None);
    assert_eq!(message.patient_id, None);
}

pub async fn the_decision_writes_texting_state_and_replies_in_the_inbound_transaction(
    db: &TestStore,
) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, PRACTICE_NUMBER).await;
    let patient_id = patient(&store, practice_id, "Ann", t0()).await;
    set_texting(db, patient_id, "pending").await;
    let decided_at = t0() + Duration::minutes(1);
    let outcome = store
        .record_inbound(
            &audit_at(decided_at),
            inbound("SM7", "01/02/1970"),
            Box::new(move |ctx| {
                let practice = ctx.practice.as_ref().unwrap();
                let patient = ctx.patient.as_ref().unwrap();
                assert_eq!(patient.texting.status, TextingStatus::Pending);
                InboundDecision {
                    keep_body: false,
                    texting: Some(TextingRow {
                        status: TextingStatus::Enabled,
                        attempts_left: 0,
                        expires_at: None,
                        updated_at: decided_at,
                    }),
                    replies: vec![NewOutbound {
                        practice_id: Some(practice.id),
                        patient_id: Some(patient.id),
                        record_message: true,
                        ..outbound(
                            PATIENT_NUMBER,
                            &practice.sms_number,
                            "Confirmed",
                            priority::REPLY,
                        )
                    }],
                    ..Default::default()
                }
            }),
        )
        .await
        .unwrap();
    let InboundOutcome::Recorded { enqueued, .. } = outcome else {
        panic!("recorded");
    };
    assert_eq!(enqueued.len(), 1);
    let reply = store.get_outbound(enqueued[0]).await.unwrap();
    assert_eq!(reply.state, OutboxState::Queued);
    assert_eq!(reply.priority, priority::REPLY);
    assert_eq!(reply.next_attempt_at, decided_at);
    let conversation = store.get_message(reply.message_id.unwrap()).await.unwrap();
    assert_eq!(conversation.direction, Direction::Outbound);
    assert_eq!(conversation.status, MessageStatus::Queued);
    let patient = store
        .get_patient(&audit_at(decided_at), patient_id)
        .await
        .unwrap();
    assert_eq!(patient.texting.status, TextingStatus::Enabled);
    assert_eq!(patient.texting.updated_at, decided_at);
}

pub async fn due_rows_are_claimed_highest_priority_first(db: &TestStore) {
    let store = db.store().await;
    for i in 0..5 {
        store
            .enqueue_sms(
                &audit_at(t0()),
                outbound(
                    "+15555550201",
                    PRACTICE_NUMBER,
                    &format!("routine {i}"),
                    priority::ROUTINE,
                ),
            )
            .await
            .unwrap();
    }
    let alert = store
        .enqueue_sms(
            &audit_at(t0() + Duration::seconds(1)),
            outbound("+15555550202", PRACTICE_NUMBER, "critical", priority::ALERT),
        )
        .await
        .unwrap();
    let claim = store
        .claim_outbound(claim_at(t0() + Duration::seconds(2), 100, 3))
        .await
        .unwrap();
    assert_eq!(claim.sends.len(), 3);
    assert_eq!(claim.sends[0].outbound.id, alert.id);
    assert!(claim.sends[0].send_at <= claim.sends[1].send_at);
    for send in &claim.sends {
        assert_eq!(send.outbound.state, OutboxState::Sending);
        assert_eq!(send.outbound.attempts, 1);
    }
    // Rows not yet due are not claimed.
    let early = store
        .enqueue_sms(
            &audit_at(t0() + Duration::hours(1)),
            outbound("+15555550203", "+15555550111", "later", priority::ALERT),
        )
        .await
        .unwrap();
    let claim = store
        .claim_outbound(claim_at(t0() + Duration::seconds(2), 100, 50))
        .await
        .unwrap();
    assert_eq!(claim.sends.len(), 3);
    assert!(claim.sends.iter().all(|s| s.outbound.id != early.id));
}

pub async fn a_number_gets_send_slots_no_closer_than_its_rate_across_claims(db: &TestStore) {
    let store = db.store().await;
    for i in 0..12 {
        store
            .enqueue_sms(
                &audit_at(t0()),
                outbound(
                    "+15555550201",
                    PRACTICE_NUMBER,
                    &format!("m{i}"),
                    priority::ROUTINE,
                ),
            )
            .await
            .unwrap();
    }
    store
        .enqueue_sms(
            &audit_at(t0()),
            outbound(
                "+15555550201",
                "+15555550111",
                "other number",
                priority::ROUTINE,
            ),
        )
        .await
        .unwrap();
    // 5 per second: one claim reserves the slots of the next second only, and the other number
    // is not starved by the first one's backlog.
    let now = t0() + Duration::seconds(1);
    let first = store.claim_outbound(claim_at(now, 5, 50)).await.unwrap();
    let ours: Vec<_> = first
        .sends
        .iter()
        .filter(|s| s.outbound.from_number == PRACTICE_NUMBER)
        .map(|s| s.send_at)
        .collect();
    assert_eq!(ours.len(), 5);
    assert_eq!(first.sends.len(), 6);
    for pair in ours.windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::milliseconds(200));
    }
    // A second claim in the same instant finds every slot of the horizon taken.
    let second = store.claim_outbound(claim_at(now, 5, 50)).await.unwrap();
    assert!(second.sends.is_empty(), "{:?}", second.sends);
    // Half a second on, only the slots after the last reserved one are given out.
    let third = store
        .claim_outbound(claim_at(now + Duration::milliseconds(500), 5, 50))
        .await
        .unwrap();
    let slots: Vec<_> = third.sends.iter().map(|s| s.send_at).collect();
    let second = Duration::seconds(1);
    assert_eq!(
        slots,
        [
            now + second,
            now + second + Duration::milliseconds(200),
            now + second + Duration::milliseconds(400)
        ]
    );
}

pub async fn a_lost_claim_is_sent_once_more_as_recovered_and_a_second_loss_fails_it(
    db: &TestStore,
) {
    let store = db.store().await;
    let queued = store
        .enqueue_sms(
            &audit_at(t0()),
            NewOutbound {
                record_message: true,
                ..outbound("+15555550201", PRACTICE_NUMBER, "hello", priority::ROUTINE)
            },
        )
        .await
        .unwrap();
    let first = store.claim_outbound(claim_at(t0(), 100, 10)).await.unwrap();
    assert_eq!(first.sends.len(), 1);
    let lost = first.sends[0].outbound.clone();
    assert_eq!(lost.recovered, 0);
    // While the lease holds, nobody else gets the row.
    let during = store
        .claim_outbound(claim_at(t0() + Duration::seconds(30), 100, 10))
        .await
        .unwrap();
    assert!(during.sends.is_empty());
    // After it runs out, it is claimed once more and marked as recovered.
    let after = t0() + Duration::seconds(61);
    let second = store
        .claim_outbound(claim_at(after, 100, 10))
        .await
        .unwrap();
    assert_eq!(second.sends.len(), 1);
    let recovered = second.sends[0].outbound.clone();
    assert_eq!(recovered.id, queued.id);
    assert_eq!(recovered.recovered, 1);
    assert_eq!(recovered.attempts, 2);
    assert!(
        recovered
            .last_error
            .as_deref()
            .unwrap()
            .contains("sent again")
    );
    // The first claimer's late answer no longer counts.
    assert!(
        !store
            .record_send_accepted(&lost, "test", "SMlate", MessageStatus::Queued, after)
            .await
            .unwrap()
    );
    // A second run-out fails it instead of sending a third time.
    let third = store
        .claim_outbound(claim_at(after + Duration::seconds(120), 100, 10))
        .await
        .unwrap();
    assert!(third.sends.is_empty());
    assert_eq!(third.abandoned, 1);
    let failed = store.get_outbound(queued.id).await.unwrap();
    assert_eq!(failed.state, OutboxState::Failed);
    assert!(failed.last_error.as_deref().unwrap().contains("twice"));
    let message = store.get_message(queued.message_id.unwrap()).await.unwrap();
    assert_eq!(message.status, MessageStatus::Failed);
}

pub async fn a_retry_waits_for_its_time_and_a_success_records_the_carrier_id(db: &TestStore) {
    let store = db.store().await;
    let queued = store
        .enqueue_sms(
            &audit_at(t0()),
            NewOutbound {
                record_message: true,
                ..outbound("+15555550201", PRACTICE_NUMBER, "hello", priority::ROUTINE)
            },
        )
        .await
        .unwrap();
    let claimed = store
        .claim_outbound(claim_at(t0(), 100, 10))
        .await
        .unwrap()
        .sends[0]
        .outbound
        .clone();
    let retry_at = t0() + Duration::seconds(4);
    assert!(
        store
            .record_send_retry(&claimed, failure(Some(20429), false), retry_at, t0())
            .await
            .unwrap()
    );
    let waiting = store.get_outbound(queued.id).await.unwrap();
    assert_eq!(waiting.state, OutboxState::Queued);
    assert_eq!(waiting.error_code, Some(20429));
    assert_eq!(store.outbox_next_due().await.unwrap(), Some(retry_at));
    let early = store
        .claim_outbound(claim_at(t0() + Duration::seconds(3), 100, 10))
        .await
        .unwrap();
    assert!(early.sends.is_empty());
    let again = store
        .claim_outbound(claim_at(retry_at, 100, 10))
        .await
        .unwrap();
    let claimed = again.sends[0].outbound.clone();
    assert_eq!(claimed.attempts, 2);
    assert_eq!(claimed.recovered, 0, "a retry is not a recovery");
    assert!(
        store
            .record_send_accepted(&claimed, "twilio", "SMabc", MessageStatus::Queued, retry_at)
            .await
            .unwrap()
    );
    let sent = store.get_outbound(queued.id).await.unwrap();
    assert_eq!(sent.state, OutboxState::Sent);
    assert_eq!(sent.carrier_sid.as_deref(), Some("SMabc"));
    assert_eq!(sent.sent_at, Some(retry_at));
    let message = store.get_message(queued.message_id.unwrap()).await.unwrap();
    assert_eq!(message.carrier_sid.as_deref(), Some("SMabc"));
    assert_eq!(message.status, MessageStatus::Queued);
    assert_eq!(store.outbox_next_due().await.unwrap(), None);
    assert_eq!(store.outbox_stats().await.unwrap().depth, 0);
}

async fn sent_row(store: &Arc<dyn Store>, sid: &str, to: &str) -> Uuid {
    let queued = store
        .enqueue_sms(
            &audit_at(t0()),
            NewOutbound {
                record_message: true,
                ..outbound(to, PRACTICE_NUMBER, "hello", priority::ROUTINE)
            },
        )
        .await
        .unwrap();
    let claim = store.claim_outbound(claim_at(t0(), 100, 10)).await.unwrap();
    let claimed = &claim.sends[0].outbound;
    store
        .record_send_accepted(claimed, "twilio", sid, MessageStatus::Queued, t0())
        .await
        .unwrap();
    queued.id
}

/// Nothing the store writes can leave a status it cannot read, but a hand edit or a bug could:
/// the read is an error that names the value, never a default.
pub async fn a_message_status_the_store_does_not_know_is_an_error_when_read(db: &TestStore) {
    let store = db.store().await;
    let outbox_id = sent_row(&store, "SModd", "+15555550203").await;
    let message_id = store.get_outbound(outbox_id).await.unwrap().message_id;
    raw_execute(db, "UPDATE messages SET status = 'teleported'")
        .await
        .unwrap();
    let read = store.get_message(message_id.unwrap()).await;
    assert!(
        matches!(&read, Err(StoreError::Unexpected(why)) if why.contains("unknown message status \"teleported\"")),
        "{read:?}"
    );
}

fn status(sid: &str, status: &str, error_code: Option<i32>) -> store::CarrierStatusUpdate {
    store::CarrierStatusUpdate {
        carrier_sid: sid.into(),
        status: status.into(),
        is_failure: matches!(status, "failed" | "undelivered"),
        error_code,
        opted_out: error_code == Some(21610),
    }
}

pub async fn a_status_never_moves_backwards_and_undelivered_fails_the_row(db: &TestStore) {
    let store = db.store().await;
    let delivered = sent_row(&store, "SMd", "+15555550201").await;
    let audit = audit_at(t0());
    for (update, applied) in [
        (status("SMd", "delivered", None), true),
        (status("SMd", "sent", None), false),
        (status("SMd", "undelivered", Some(30003)), false),
    ] {
        let outcome = store
            .apply_carrier_status(&audit, update, later_status)
            .await
            .unwrap();
        assert!(
            matches!(outcome, StatusOutcome::Known { applied: a, .. } if a == applied),
            "{outcome:?}"
        );
    }
    let row = store.get_outbound(delivered).await.unwrap();
    assert_eq!(row.carrier_status.as_deref(), Some("delivered"));
    assert_eq!(row.state, OutboxState::Sent);
    let message = store.get_message(row.message_id.unwrap()).await.unwrap();
    assert_eq!(message.status, MessageStatus::Delivered);

    let undelivered = sent_row(&store, "SMu", "+15555550202").await;
    store
        .apply_carrier_status(
            &audit,
            status("SMu", "undelivered", Some(30003)),
            later_status,
        )
        .await
        .unwrap();
    let row = store.get_outbound(undelivered).await.unwrap();
    assert_eq!(row.state, OutboxState::Failed, "undelivered is not sent");
    assert_eq!(row.error_code, Some(30003));
    let message = store.get_message(row.message_id.unwrap()).await.unwrap();
    assert_eq!(message.status, MessageStatus::Undelivered);
    assert_eq!(message.error_code, Some(30003));

    let unknown = store
        .apply_carrier_status(&audit, status("SMnone", "delivered", None), later_status)
        .await
        .unwrap();
    assert_eq!(unknown, StatusOutcome::Unknown);
}

pub async fn error_21610_opts_the_patient_out_from_a_callback_and_from_a_send_answer(
    db: &TestStore,
) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, PRACTICE_NUMBER).await;
    let patient_id = patient(&store, practice_id, "Ann", t0()).await;
    set_texting(db, patient_id, "enabled").await;
    sent_row(&store, "SMo", PATIENT_NUMBER).await;
    let outcome = store
        .apply_carrier_status(
            &audit_at(t0()),
            status("SMo", "failed", Some(21610)),
            later_status,
        )
        .await
        .unwrap();
    assert!(
        matches!(
            outcome,
            StatusOutcome::Known {
                opted_out_patients: 1,
                ..
            }
        ),
        "{outcome:?}"
    );
    let read = store
        .get_patient(&audit_at(t0()), patient_id)
        .await
        .unwrap();
    assert_eq!(read.texting.status, TextingStatus::OptedOut);
    assert_eq!(read.texting.attempts_left, 0);
    assert_eq!(read.texting.expires_at, None);

    // The same from a send answer, in the transaction that fails the row.
    set_texting(db, patient_id, "enabled").await;
    let queued = store
        .enqueue_sms(
            &audit_at(t0()),
            outbound(PATIENT_NUMBER, PRACTICE_NUMBER, "hello", priority::ROUTINE),
        )
        .await
        .unwrap();
    let claim = store
        .claim_outbound(claim_at(t0() + Duration::seconds(5), 100, 10))
        .await
        .unwrap();
    let claimed = &claim.sends[0].outbound;
    let later = t0() + Duration::seconds(6);
    assert!(
        store
            .record_send_failed(&audit_at(later), claimed, failure(Some(21610), true))
            .await
            .unwrap()
    );
    let row = store.get_outbound(queued.id).await.unwrap();
    assert_eq!(row.state, OutboxState::Failed);
    assert_eq!(row.error_code, Some(21610));
    let read = store
        .get_patient(&audit_at(later), patient_id)
        .await
        .unwrap();
    assert_eq!(read.texting.status, TextingStatus::OptedOut);
    assert_eq!(read.texting.updated_at, later);
}

pub async fn outbox_stats_count_what_waits_and_its_oldest_age(db: &TestStore) {
    let store = db.store().await;
    assert_eq!(store.outbox_stats().await.unwrap().depth, 0);
    for i in 0..3 {
        store
            .enqueue_sms(
                &audit_at(t0() + Duration::seconds(i)),
                outbound("+15555550201", PRACTICE_NUMBER, "x", priority::ROUTINE),
            )
            .await
            .unwrap();
    }
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!(stats.depth, 3);
    assert_eq!(stats.oldest_created_at, Some(t0()));
    assert_eq!(store.outbox_next_due().await.unwrap(), Some(t0()));
    let page = store.list_outbox(store::Page::first(2)).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(page.next_cursor.is_some());
}

/// Used by the PostgreSQL-only tests below.
pub fn audit_now() -> Audit {
    audit_at(t0())
}

pub fn claim_request(now: DateTime<Utc>, per_second: i64, limit: u32) -> ClaimRequest {
    claim_at(now, per_second, limit)
}

pub fn new_outbound(to: &str, from: &str, body: &str) -> NewOutbound {
    outbound(to, from, body, priority::ROUTINE)
}

pub fn new_inbound(sid: &str) -> NewInbound {
    inbound(sid, "hello")
}

pub fn keep_body() -> store::InboundDecider {
    keep_body_when_enabled()
}

pub async fn early_statuses_are_kept_once_listed_in_order_and_forgotten_after_their_day(
    db: &TestStore,
) {
    let store = db.store().await;
    let update = |status: &str| store::CarrierStatusUpdate {
        carrier_sid: "SM0123456789abcdef0123456789abcdef".into(),
        status: status.into(),
        is_failure: status == "undelivered",
        error_code: (status == "undelivered").then_some(30003),
        opted_out: false,
    };
    store.park_status(&update("sent"), t0()).await.unwrap();
    store
        .park_status(&update("undelivered"), t0() + Duration::seconds(1))
        .await
        .unwrap();
    store
        .park_status(&update("sent"), t0() + Duration::seconds(2))
        .await
        .unwrap();
    let parked = store
        .parked_statuses("SM0123456789abcdef0123456789abcdef")
        .await
        .unwrap();
    let statuses: Vec<&str> = parked.iter().map(|u| u.status.as_str()).collect();
    assert_eq!(statuses, ["sent", "undelivered"]);
    assert_eq!(parked[1].error_code, Some(30003));
    assert!(parked[1].is_failure);
    assert!(store.parked_statuses("SMother").await.unwrap().is_empty());
    store
        .unpark_status("SM0123456789abcdef0123456789abcdef", "sent")
        .await
        .unwrap();
    assert_eq!(
        store
            .forget_parked_statuses(t0() + Duration::seconds(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .forget_parked_statuses(t0() + Duration::seconds(2))
            .await
            .unwrap(),
        1
    );
    assert!(
        store
            .parked_statuses("SM0123456789abcdef0123456789abcdef")
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn outbox_depth_is_counted_per_priority_and_sent_rows_leave_it(db: &TestStore) {
    let store = db.store().await;
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!(stats.depth_by_priority, vec![]);
    for (i, level) in [
        priority::ROUTINE,
        priority::ALERT,
        priority::ROUTINE,
        priority::NOTIFY,
    ]
    .into_iter()
    .enumerate()
    {
        store
            .enqueue_sms(
                &audit_at(t0() + Duration::seconds(i64::try_from(i).unwrap())),
                outbound("+15555550202", PRACTICE_NUMBER, "x", level),
            )
            .await
            .unwrap();
    }
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!(
        stats.depth_by_priority,
        vec![
            (priority::ALERT, 1),
            (priority::NOTIFY, 1),
            (priority::ROUTINE, 2)
        ]
    );
    assert_eq!(stats.depth, 4);
    assert_eq!(stats.oldest_created_at, Some(t0()));
    // The alert text is claimed (still counted while sending) and then sent (no longer counted).
    let claim = store
        .claim_outbound(claim_at(t0() + Duration::seconds(10), 100, 1))
        .await
        .unwrap();
    assert_eq!(claim.sends.len(), 1);
    let row = &claim.sends[0].outbound;
    assert_eq!(row.priority, priority::ALERT);
    assert_eq!(store.outbox_stats().await.unwrap().depth, 4);
    assert!(
        store
            .record_send_accepted(
                row,
                "twilio",
                "SM-stats",
                MessageStatus::Queued,
                t0() + Duration::seconds(11)
            )
            .await
            .unwrap()
    );
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!(
        stats.depth_by_priority,
        vec![(priority::NOTIFY, 1), (priority::ROUTINE, 2)]
    );
    assert_eq!(stats.depth, 3);
}

pub async fn an_inbound_text_on_a_shared_number_may_be_routed_to_and_change_every_patient_on_it(
    db: &TestStore,
) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, PRACTICE_NUMBER).await;
    let mother = patient(&store, practice_id, "Mother", t0()).await;
    let kid = patient(&store, practice_id, "Kid", t0() + Duration::seconds(1)).await;
    // Both may be texting on the one number.
    set_texting(db, mother, "pending").await;
    set_texting(db, kid, "pending").await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let slot = seen.clone();
    let row = |status: TextingStatus| TextingRow {
        status,
        attempts_left: 0,
        expires_at: None,
        updated_at: t0(),
    };
    let (enabled, opted_out) = (row(TextingStatus::Enabled), row(TextingStatus::OptedOut));
    let InboundOutcome::Recorded { message, .. } = store
        .record_inbound(
            &audit_at(t0()),
            inbound("SM-family-1", "hi"),
            Box::new(move |ctx| {
                let mut ids: Vec<Uuid> = ctx.patient.iter().map(|p| p.id).collect();
                ids.extend(ctx.sharing.iter().map(|p| p.id));
                *slot.lock().unwrap() = ids;
                InboundDecision {
                    patient_id: Some(mother),
                    texting: Some(enabled.clone()),
                    sharing_texting: vec![(kid, opted_out.clone())],
                    ..Default::default()
                }
            }),
        )
        .await
        .unwrap()
    else {
        panic!("recorded");
    };
    // The store's choice (newest created) first, the other patient on the number beside it.
    assert_eq!(*seen.lock().unwrap(), vec![kid, mother]);
    assert_eq!(message.patient_id, Some(mother));
    let status = |id: Uuid| {
        let store = store.clone();
        async move {
            store
                .get_patient(&audit_at(t0()), id)
                .await
                .unwrap()
                .texting
                .status
        }
    };
    assert_eq!(status(mother).await, TextingStatus::Enabled);
    assert_eq!(status(kid).await, TextingStatus::OptedOut);
    // A decision naming a patient without the number writes nothing.
    let err = store
        .record_inbound(
            &audit_at(t0()),
            inbound("SM-family-2", "hi"),
            Box::new(move |_| InboundDecision {
                patient_id: Some(Uuid::now_v7()),
                ..Default::default()
            }),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, store::StoreError::Unexpected(_)), "{err:?}");
    assert!(
        store
            .find_message_by_carrier_sid("twilio", "SM-family-2")
            .await
            .is_err()
    );
}
