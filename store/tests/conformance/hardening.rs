//! Conformance scenarios of issue 12: STOP means silence (queued texts cancelled in the STOP's
//! transaction, a claim cancelling what a racing transaction queued), limits counted where the
//! text is decided, staff sends deciding their channel from the locked patient, idempotency keys
//! bound to their request, sessions ending with a new password, and refused reads leaving no
//! audit row.

use std::sync::Arc;

use chrono::Duration;
use store::testing::TestStore;
use store::{
    AuditFilter, IdempotencyKey, InboundDecision, InboundOutcome, NewInbound, NewOutbound,
    NewPatient, NewStaffMessage, OutboxState, StaffMessageOutcome, StaffSendChoice, Store,
    StoreError, TextingRow, ThrottleRow, UserPatch, priority,
};
use types::{Channel, MessageStatus, TextingStatus};
use uuid::Uuid;

use super::{audit_at, create_patient, customer_and_practice, raw_execute, staff, t0};
use crate::messaging::claim_request;

const PRACTICE: &str = "+15555550140";
const OTHER_PRACTICE: &str = "+15555550141";
const PHONE: &str = "+15555550142";
const OTHER_PHONE: &str = "+15555550143";

async fn patient_with(store: &Arc<dyn Store>, practice_id: Uuid, phone: &str) -> Uuid {
    let new = NewPatient {
        mobile_phone: Some(phone.into()),
        ..super::patient(practice_id, "Pat", "Doe", &[])
    };
    create_patient(store, new).await
}

fn sql_id(db: &TestStore, id: Uuid) -> String {
    match db {
        TestStore::Postgres(_) => format!("'{id}'"),
        TestStore::Sqlite(_) => format!("X'{}'", id.simple()),
    }
}

async fn set_status(db: &TestStore, patient_id: Uuid, status: &str) {
    raw_execute(
        db,
        &format!(
            "UPDATE patients SET texting_status = '{status}' WHERE id = {}",
            sql_id(db, patient_id)
        ),
    )
    .await
    .unwrap();
}

/// The practice on `PRACTICE` and a staff user of it.
async fn practice_and_author(store: &Arc<dyn Store>, username: &str) -> (Uuid, Uuid) {
    let (customer_id, practice_id) = customer_and_practice(store, PRACTICE).await;
    let author = store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, username, vec![practice_id]),
        )
        .await
        .unwrap()
        .id;
    (practice_id, author)
}

/// A text from `from` to `to`, recorded in the conversation of `patient_id` when there is one.
fn text(from: &str, to: &str, patient_id: Option<Uuid>, priority: i16) -> NewOutbound {
    NewOutbound {
        practice_id: None,
        patient_id,
        from_number: from.into(),
        to_number: to.into(),
        body: "body".into(),
        priority,
        record_message: patient_id.is_some(),
        author_user_id: None,
    }
}

fn stop(sid: &str) -> NewInbound {
    NewInbound {
        carrier: "twilio".into(),
        carrier_sid: sid.into(),
        from_number: PHONE.into(),
        to_number: PRACTICE.into(),
        body: "STOP".into(),
        num_segments: 1,
        throttle_key: None,
    }
}

/// What the gateway decides for a STOP: opted out, one confirmation at the top of the queue.
fn opt_out_decision() -> store::InboundDecider {
    Box::new(|ctx| {
        let patient = ctx.patient.as_ref().expect("a known patient");
        InboundDecision {
            keep_body: true,
            texting: Some(TextingRow {
                status: TextingStatus::OptedOut,
                attempts_left: 0,
                expires_at: None,
                updated_at: t0(),
            }),
            replies: vec![NewOutbound {
                practice_id: Some(patient.practice_id),
                ..text(
                    PRACTICE,
                    PHONE,
                    Some(patient.id),
                    priority::OPT_OUT_CONFIRMATION,
                )
            }],
            opted_out: true,
            ..Default::default()
        }
    })
}

pub async fn a_stop_cancels_what_is_queued_to_the_number_and_only_its_confirmation_goes(
    db: &TestStore,
) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, PRACTICE).await;
    customer_and_practice(&store, OTHER_PRACTICE).await;
    let patient_id = patient_with(&store, practice_id, PHONE).await;
    set_status(db, patient_id, "enabled").await;
    let audit = audit_at(t0());
    let mut to_patient = Vec::new();
    for priority in [priority::ROUTINE, priority::REPLY] {
        let queued = store
            .enqueue_sms(&audit, text(PRACTICE, PHONE, Some(patient_id), priority))
            .await
            .unwrap();
        to_patient.push(queued);
    }
    let other_number = store
        .enqueue_sms(&audit, text(PRACTICE, OTHER_PHONE, None, priority::ROUTINE))
        .await
        .unwrap();
    let other_practice = store
        .enqueue_sms(&audit, text(OTHER_PRACTICE, PHONE, None, priority::ROUTINE))
        .await
        .unwrap();

    let InboundOutcome::Recorded { enqueued, .. } = store
        .record_inbound(&audit_at(t0()), stop("SMstop1"), opt_out_decision())
        .await
        .unwrap()
    else {
        panic!("recorded");
    };
    for queued in &to_patient {
        let row = store.get_outbound(queued.id).await.unwrap();
        assert_eq!(row.state, OutboxState::Cancelled);
        assert_eq!(row.cancel_reason.as_deref(), Some("opted_out"));
        let message = store
            .get_message(queued.message_id.expect("recorded"))
            .await
            .unwrap();
        assert_eq!(
            message.status,
            MessageStatus::Cancelled,
            "visible in the conversation"
        );
        assert_eq!(message.status_reason.as_deref(), Some("opted_out"));
    }
    for untouched in [&other_number, &other_practice] {
        let row = store.get_outbound(untouched.id).await.unwrap();
        assert_eq!(row.state, OutboxState::Queued, "another number or practice");
    }
    let confirmation = store.get_outbound(enqueued[0]).await.unwrap();
    assert!(confirmation.opt_out_reply);
    assert_eq!(confirmation.state, OutboxState::Queued);

    // The confirmation goes first (top priority), although its number is opted out now.
    let claim = store
        .claim_outbound(claim_request(t0(), 10, 10))
        .await
        .unwrap();
    let order: Vec<Uuid> = claim.sends.iter().map(|s| s.outbound.id).collect();
    assert_eq!(order.first(), Some(&confirmation.id), "{order:?}");
    assert!(!order.contains(&to_patient[0].id) && !order.contains(&to_patient[1].id));
    assert_eq!(
        claim.cancelled, 0,
        "nothing was left for the claim to cancel"
    );

    // A second STOP cancels again but never the first one's confirmation.
    let again = store.enqueue_sms(&audit, text(PRACTICE, PHONE, Some(patient_id), 10));
    let again = again.await.unwrap();
    store
        .record_inbound(&audit_at(t0()), stop("SMstop2"), opt_out_decision())
        .await
        .unwrap();
    assert_eq!(
        store.get_outbound(again.id).await.unwrap().state,
        OutboxState::Cancelled
    );
}

pub async fn a_claim_cancels_a_due_text_whose_number_opted_out_after_it_was_queued(db: &TestStore) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, PRACTICE).await;
    customer_and_practice(&store, OTHER_PRACTICE).await;
    let patient_id = patient_with(&store, practice_id, PHONE).await;
    set_status(db, patient_id, "enabled").await;
    let audit = audit_at(t0());
    let to_patient = store
        .enqueue_sms(&audit, text(PRACTICE, PHONE, Some(patient_id), 10))
        .await
        .unwrap();
    // A staff notification to the same phone (no patient on the row): the number rule.
    let to_number = store
        .enqueue_sms(&audit, text(PRACTICE, PHONE, None, priority::NOTIFY))
        .await
        .unwrap();
    let from_other_practice = store
        .enqueue_sms(&audit, text(OTHER_PRACTICE, PHONE, None, 10))
        .await
        .unwrap();
    // The opt-out committed without seeing these rows (as a transaction that raced it would).
    set_status(db, patient_id, "opted_out").await;

    let claim = store
        .claim_outbound(claim_request(t0(), 10, 10))
        .await
        .unwrap();
    let claimed: Vec<Uuid> = claim.sends.iter().map(|s| s.outbound.id).collect();
    assert_eq!(
        claimed,
        vec![from_other_practice.id],
        "opt-out is per practice number"
    );
    assert_eq!(claim.cancelled, 2);
    for id in [to_patient.id, to_number.id] {
        let row = store.get_outbound(id).await.unwrap();
        assert_eq!(row.state, OutboxState::Cancelled);
        assert_eq!(row.cancel_reason.as_deref(), Some("opted_out"));
        assert_eq!(row.claimed_until, None);
    }
    let message = store
        .get_message(to_patient.message_id.unwrap())
        .await
        .unwrap();
    assert_eq!(message.status, MessageStatus::Cancelled);
    assert_eq!(message.status_reason.as_deref(), Some("opted_out"));
}

pub async fn a_relatives_old_opt_out_does_not_hold_back_a_patient_texting_again_on_that_number(
    db: &TestStore,
) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, PRACTICE).await;
    let stopped = patient_with(&store, practice_id, PHONE).await;
    let restarted = patient_with(&store, practice_id, PHONE).await;
    set_status(db, stopped, "opted_out").await;
    set_status(db, restarted, "pending").await;
    let audit = audit_at(t0());
    let to_restarted = store
        .enqueue_sms(
            &audit,
            text(PRACTICE, PHONE, Some(restarted), priority::REPLY),
        )
        .await
        .unwrap();
    let to_stopped = store
        .enqueue_sms(
            &audit,
            text(PRACTICE, PHONE, Some(stopped), priority::REPLY),
        )
        .await
        .unwrap();
    let claim = store
        .claim_outbound(claim_request(t0(), 10, 10))
        .await
        .unwrap();
    let claimed: Vec<Uuid> = claim.sends.iter().map(|s| s.outbound.id).collect();
    assert_eq!(claimed, vec![to_restarted.id]);
    assert_eq!(
        store.get_outbound(to_stopped.id).await.unwrap().state,
        OutboxState::Cancelled,
        "the opted-out patient's own text"
    );
}

pub async fn a_staff_opt_out_cancels_what_is_queued_to_the_number(db: &TestStore) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, PRACTICE).await;
    let patient_id = patient_with(&store, practice_id, PHONE).await;
    set_status(db, patient_id, "enabled").await;
    let audit = audit_at(t0());
    let queued = store
        .enqueue_sms(&audit, text(PRACTICE, PHONE, Some(patient_id), 10))
        .await
        .unwrap();
    let patient = store.get_patient(&audit, patient_id).await.unwrap();
    store
        .change_texting(
            &audit,
            patient_id,
            store::TextingChange {
                expected: patient.texting.clone(),
                new_state: Some(TextingRow {
                    status: TextingStatus::OptedOut,
                    attempts_left: 0,
                    expires_at: None,
                    updated_at: t0(),
                }),
                replies: vec![],
                notifications: vec![],
                action: "texting.opt_out",
                opted_out: true,
                needs_texting: false,
            },
        )
        .await
        .unwrap();
    let row = store.get_outbound(queued.id).await.unwrap();
    assert_eq!(row.state, OutboxState::Cancelled);
}

pub async fn error_21610_cancels_what_is_queued_to_the_number(db: &TestStore) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, PRACTICE).await;
    let patient_id = patient_with(&store, practice_id, PHONE).await;
    set_status(db, patient_id, "enabled").await;
    let audit = audit_at(t0());
    let queued = store
        .enqueue_sms(&audit, text(PRACTICE, PHONE, Some(patient_id), 10))
        .await
        .unwrap();
    store.opt_out_number(&audit, PRACTICE, PHONE).await.unwrap();
    assert_eq!(
        store.get_outbound(queued.id).await.unwrap().state,
        OutboxState::Cancelled
    );
}

pub async fn a_throttle_key_is_read_and_counted_inside_the_inbound_transaction(db: &TestStore) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, PRACTICE).await;
    patient_with(&store, practice_id, PHONE).await;
    let key = "restart:test";
    let inbound = |sid: &str| NewInbound {
        throttle_key: Some(key.into()),
        body: "START".into(),
        ..stop(sid)
    };
    // Each text sees what the one before it counted, and counts one more.
    let mut seen = Vec::new();
    for (i, sid) in ["SMr1", "SMr2", "SMr3"].iter().enumerate() {
        let (tx, rx) = std::sync::mpsc::channel();
        let decide: store::InboundDecider = Box::new(move |ctx| {
            tx.send(ctx.throttle).unwrap();
            InboundDecision {
                throttle: Some(ThrottleRow {
                    tat: t0() + Duration::hours(i as i64 + 1),
                    blocked_until: None,
                }),
                ..Default::default()
            }
        });
        store
            .record_inbound(&audit_at(t0()), inbound(sid), decide)
            .await
            .unwrap();
        seen.push(rx.recv().unwrap().map(|row| row.tat));
    }
    assert_eq!(
        seen,
        vec![
            None,
            Some(t0() + Duration::hours(1)),
            Some(t0() + Duration::hours(2))
        ]
    );
    let stored = store.throttle_rows(&[key.to_string()]).await.unwrap();
    assert_eq!(stored[0].1.tat, t0() + Duration::hours(3));
    // A decision that counts nothing leaves the count as it was.
    store
        .record_inbound(
            &audit_at(t0()),
            inbound("SMr4"),
            Box::new(|_| InboundDecision::default()),
        )
        .await
        .unwrap();
    let stored = store.throttle_rows(&[key.to_string()]).await.unwrap();
    assert_eq!(stored[0].1.tat, t0() + Duration::hours(3));
}

/// A staff message whose channel the decision picks from the patient it is shown.
fn staff_message(
    patient_id: Uuid,
    author: Uuid,
    seen: std::sync::mpsc::Sender<TextingStatus>,
) -> NewStaffMessage {
    NewStaffMessage {
        patient_id,
        author_user_id: author,
        body: "Your results are in".into(),
        choose: Box::new(move |ctx| {
            seen.send(ctx.patient.texting.status).unwrap();
            if ctx.patient.texting.status == TextingStatus::Enabled {
                StaffSendChoice::Sms(text(PRACTICE, PHONE, Some(ctx.patient.id), 10))
            } else if ctx.has_portal {
                StaffSendChoice::Portal
            } else {
                StaffSendChoice::Refused {
                    code: "no_enabled_channel".into(),
                    reason: "no channel".into(),
                }
            }
        }),
        idempotency: None,
    }
}

pub async fn a_staff_send_chooses_its_channel_from_the_patient_as_it_is_in_the_transaction(
    db: &TestStore,
) {
    let store = db.store().await;
    let (practice_id, author) = practice_and_author(&store, "sender").await;
    let patient_id = patient_with(&store, practice_id, PHONE).await;
    set_status(db, patient_id, "enabled").await;
    let (tx, rx) = std::sync::mpsc::channel();
    let sent = store
        .post_staff_message(&audit_at(t0()), staff_message(patient_id, author, tx))
        .await
        .unwrap();
    assert_eq!(rx.recv().unwrap(), TextingStatus::Enabled);
    let StaffMessageOutcome::Created {
        message,
        enqueued: Some(_),
    } = sent
    else {
        panic!("sent by text: {sent:?}");
    };
    assert_eq!(message.channel, Channel::Sms);

    // Opted out since the caller last looked: the decision sees it and refuses; nothing written.
    set_status(db, patient_id, "opted_out").await;
    let (tx, rx) = std::sync::mpsc::channel();
    let refused = store
        .post_staff_message(&audit_at(t0()), staff_message(patient_id, author, tx))
        .await
        .unwrap();
    assert_eq!(rx.recv().unwrap(), TextingStatus::OptedOut);
    assert!(
        matches!(refused, StaffMessageOutcome::Refused { .. }),
        "{refused:?}"
    );
    let thread = store
        .list_messages(&audit_at(t0()), patient_id, None, 50)
        .await
        .unwrap();
    assert_eq!(thread.items.len(), 1, "the refused send wrote nothing");

    // With a portal token the same decision goes by portal.
    store
        .enroll_portal(&audit_at(t0()), patient_id, "portal-hash")
        .await
        .unwrap();
    let (tx, _rx) = std::sync::mpsc::channel();
    let by_portal = store
        .post_staff_message(&audit_at(t0()), staff_message(patient_id, author, tx))
        .await
        .unwrap();
    let StaffMessageOutcome::Created {
        message,
        enqueued: None,
    } = by_portal
    else {
        panic!("sent by portal: {by_portal:?}");
    };
    assert_eq!(message.channel, Channel::Portal);
}

pub async fn an_idempotency_key_replays_only_the_request_it_came_with(db: &TestStore) {
    let store = db.store().await;
    let (practice_id, author) = practice_and_author(&store, "keyed").await;
    let patient_id = patient_with(&store, practice_id, PHONE).await;
    let send = |key: &str, fingerprint: &str| NewStaffMessage {
        patient_id,
        author_user_id: author,
        body: "Hello".into(),
        choose: Box::new(|_| StaffSendChoice::Portal),
        idempotency: Some(IdempotencyKey {
            key: key.into(),
            fingerprint: fingerprint.into(),
        }),
    };
    let first = match store
        .post_staff_message(&audit_at(t0()), send("k1", "request-a"))
        .await
        .unwrap()
    {
        StaffMessageOutcome::Created { message, .. } => message,
        other => panic!("{other:?}"),
    };
    match store
        .post_staff_message(&audit_at(t0()), send("k1", "request-a"))
        .await
        .unwrap()
    {
        StaffMessageOutcome::Replayed { message } => assert_eq!(message.id, first.id),
        other => panic!("{other:?}"),
    }
    match store
        .post_staff_message(&audit_at(t0()), send("k1", "request-b"))
        .await
    {
        Err(StoreError::Rule(store::RuleRefusal::IdempotencyKeyReused)) => {}
        other => panic!("{other:?}"),
    }
    // A key stored before fingerprints existed replays as it always did.
    raw_execute(
        db,
        "UPDATE idempotency_keys SET fingerprint = NULL WHERE key = 'k1'",
    )
    .await
    .unwrap();
    assert!(matches!(
        store
            .post_staff_message(&audit_at(t0()), send("k1", "request-b"))
            .await
            .unwrap(),
        StaffMessageOutcome::Replayed { .. }
    ));
    let thread = store
        .list_messages(&audit_at(t0()), patient_id, None, 50)
        .await
        .unwrap();
    assert_eq!(thread.items.len(), 1);
}

pub async fn a_new_password_ends_every_other_session_of_the_user(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, _) = customer_and_practice(&store, PRACTICE).await;
    let user = store
        .create_user(&audit_at(t0()), staff(customer_id, "pw-user", vec![]))
        .await
        .unwrap();
    let other = store
        .create_user(&audit_at(t0()), staff(customer_id, "pw-other", vec![]))
        .await
        .unwrap();
    for hash in ["s-this", "s-laptop", "s-phone"] {
        store.create_session(hash, user.id, t0()).await.unwrap();
    }
    store
        .create_session("s-other", other.id, t0())
        .await
        .unwrap();
    let set_password = |keep: Option<&str>| {
        let patch = UserPatch {
            password_hash: Some("$argon2id$new".into()),
            keep_session: keep.map(str::to_string),
            ..Default::default()
        };
        let store = Arc::clone(&store);
        async move {
            store
                .update_user(&audit_at(t0()), user.id, patch, super::handover(None))
                .await
                .unwrap()
                .expect("no on-call duty");
        }
    };
    // A change without a new password ends nothing.
    store
        .update_user(
            &audit_at(t0()),
            user.id,
            UserPatch {
                title: Some("MD".into()),
                ..Default::default()
            },
            super::handover(None),
        )
        .await
        .unwrap()
        .expect("no on-call duty");
    assert!(store.use_session("s-laptop", t0()).await.is_ok());
    set_password(Some("s-this")).await;
    assert!(store.use_session("s-this", t0()).await.is_ok(), "kept");
    for ended in ["s-laptop", "s-phone"] {
        assert!(matches!(
            store.use_session(ended, t0()).await,
            Err(StoreError::NotFound)
        ));
    }
    assert!(store.use_session("s-other", t0()).await.is_ok());
    // An administrator's reset (no session kept) ends them all.
    set_password(None).await;
    assert!(matches!(
        store.use_session("s-this", t0()).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn resetting_the_super_admins_password_ends_its_sessions(db: &TestStore) {
    let store = db.store().await;
    let admin = store
        .upsert_super_admin(&audit_at(t0()), "root", "$argon2id$one")
        .await
        .unwrap();
    store
        .create_session("root-1", admin.id, t0())
        .await
        .unwrap();
    store
        .upsert_super_admin(&audit_at(t0()), "root", "$argon2id$two")
        .await
        .unwrap();
    assert!(matches!(
        store.use_session("root-1", t0()).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn checking_a_session_does_not_keep_it_alive(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, _) = customer_and_practice(&store, PRACTICE).await;
    let user = store
        .create_user(&audit_at(t0()), staff(customer_id, "streamer", vec![]))
        .await
        .unwrap();
    store.create_session("stream", user.id, t0()).await.unwrap();
    // 15-minute idle timeout: checked every few minutes, it still ends 15 minutes after its use.
    for minute in [1, 5, 10, 14] {
        let checked = store
            .check_session("stream", t0() + Duration::minutes(minute))
            .await
            .unwrap();
        assert_eq!(checked.user.id, user.id);
        assert_eq!(checked.expires_at, t0() + Duration::minutes(15));
    }
    assert!(matches!(
        store
            .check_session("stream", t0() + Duration::minutes(15))
            .await,
        Err(StoreError::NotFound)
    ));
    // A use moves the end; a logout ends it.
    store.create_session("used", user.id, t0()).await.unwrap();
    store
        .use_session("used", t0() + Duration::minutes(10))
        .await
        .unwrap();
    assert_eq!(
        store
            .check_session("used", t0() + Duration::minutes(20))
            .await
            .unwrap()
            .expires_at,
        t0() + Duration::minutes(25)
    );
    store.delete_session("used").await.unwrap();
    assert!(matches!(
        store.check_session("used", t0()).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn a_refused_patient_read_writes_no_audit_row(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, PRACTICE).await;
    let patient_id = patient_with(&store, practice_id, PHONE).await;
    let reads = || async {
        store
            .list_audit(AuditFilter {
                customer_id: Some(customer_id),
                user_id: None,
                patient_id: Some(patient_id),
                since: None,
                after_id: None,
                limit: 100,
            })
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.action == "patient.read")
            .count()
    };
    let refused = store
        .get_patient_if(
            &audit_at(t0()),
            patient_id,
            Box::new(|_, practice| practice.customer_id == Uuid::nil()),
        )
        .await;
    assert!(matches!(refused, Err(StoreError::NotFound)));
    assert_eq!(reads().await, 0);
    let allowed = store
        .get_patient_if(
            &audit_at(t0()),
            patient_id,
            Box::new(move |patient, practice| {
                patient.id == patient_id && practice.customer_id == customer_id
            }),
        )
        .await
        .unwrap();
    assert_eq!(allowed.id, patient_id);
    assert_eq!(reads().await, 1);
}

/// PostgreSQL only: a transaction that queued a text to the patient before the STOP committed,
/// and committed after it, does not get its text sent: the claim cancels it.
pub async fn postgres_a_text_queued_by_a_transaction_that_raced_the_stop_is_cancelled_not_sent(
    db: &TestStore,
) {
    let TestStore::Postgres(pg) = db else {
        unreachable!("PostgreSQL only")
    };
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, PRACTICE).await;
    let patient_id = patient_with(&store, practice_id, PHONE).await;
    set_status(db, patient_id, "enabled").await;
    let (client, connection) = tokio_postgres::connect(&pg.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let racer = Uuid::now_v7();
    client.batch_execute("BEGIN").await.unwrap();
    client
        .execute(
            "INSERT INTO outbox (id, patient_id, practice_id, to_number, from_number, body, priority,
                                 next_attempt_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'raced', 10, $6, $6, $6)",
            &[&racer, &patient_id, &practice_id, &PHONE, &PRACTICE, &t0()],
        )
        .await
        .unwrap();
    // The STOP commits while the racer is open (it does not wait for it) and cannot see its row.
    store
        .record_inbound(&audit_at(t0()), stop("SMrace"), opt_out_decision())
        .await
        .unwrap();
    client.batch_execute("COMMIT").await.unwrap();
    let row = store.get_outbound(racer).await.unwrap();
    assert_eq!(row.state, OutboxState::Queued, "the STOP could not see it");

    let claim = store
        .claim_outbound(claim_request(t0(), 10, 10))
        .await
        .unwrap();
    assert!(
        claim.sends.iter().all(|s| s.outbound.id != racer),
        "the raced text is not sent"
    );
    assert_eq!(claim.cancelled, 1);
    let row = store.get_outbound(racer).await.unwrap();
    assert_eq!(row.state, OutboxState::Cancelled);
    assert_eq!(row.cancel_reason.as_deref(), Some("opted_out"));
}

/// Another connection's transaction that has locked the patient's row and opted it out, left
/// open: the caller commits it with `COMMIT`.
async fn uncommitted_opt_out(
    pg: &store::testing::TestPostgres,
    patient_id: Uuid,
) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&pg.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client.batch_execute("BEGIN").await.unwrap();
    client
        .execute(
            "SELECT 1 FROM patients WHERE id = $1 FOR NO KEY UPDATE",
            &[&patient_id],
        )
        .await
        .unwrap();
    client
        .execute(
            "UPDATE patients SET texting_status = 'opted_out' WHERE id = $1",
            &[&patient_id],
        )
        .await
        .unwrap();
    client
}

/// PostgreSQL only: a staff send waits for a STOP holding the patient's row and then decides from
/// what the STOP left: not by text.
pub async fn postgres_a_staff_send_racing_a_stop_decides_after_it(db: &TestStore) {
    let TestStore::Postgres(pg) = db else {
        unreachable!("PostgreSQL only")
    };
    let store = db.store().await;
    let (practice_id, author) = practice_and_author(&store, "racer").await;
    let patient_id = patient_with(&store, practice_id, PHONE).await;
    set_status(db, patient_id, "enabled").await;
    // The STOP's transaction: the patient's row locked and opted out, not committed yet.
    let client = uncommitted_opt_out(pg, patient_id).await;
    let (tx, rx) = std::sync::mpsc::channel();
    let sender = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .post_staff_message(&audit_at(t0()), staff_message(patient_id, author, tx))
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !sender.is_finished(),
        "the send waits for the patient's row"
    );
    client.batch_execute("COMMIT").await.unwrap();
    let outcome = sender.await.unwrap();
    assert_eq!(rx.recv().unwrap(), TextingStatus::OptedOut);
    assert!(
        matches!(outcome, StaffMessageOutcome::Refused { .. }),
        "{outcome:?}"
    );
}

/// An inbound text whose decision only adds rows (the message and its feed rows) does not wait
/// for its patient's row lock; one whose decision changes state waits for it and is decided again
/// from the patient as the lock holder committed it.
pub async fn postgres_a_text_that_only_adds_rows_is_decided_without_the_patients_lock(
    db: &TestStore,
) {
    let TestStore::Postgres(pg) = db else {
        unreachable!("PostgreSQL only")
    };
    let store = db.store().await;
    let (practice_id, _) = practice_and_author(&store, "locker").await;
    let patient_id = patient_with(&store, practice_id, PHONE).await;
    set_status(db, patient_id, "enabled").await;
    // Another transaction holds the patient's row and opts it out, not committed yet.
    let client = uncommitted_opt_out(pg, patient_id).await;

    let seen = Arc::new(std::sync::Mutex::new(Vec::<TextingStatus>::new()));
    let decider = |changes_state: bool| -> store::InboundDecider {
        let seen = Arc::clone(&seen);
        Box::new(move |ctx| {
            let patient = ctx.patient.as_ref().expect("a known patient");
            seen.lock().unwrap().push(patient.texting.status);
            InboundDecision {
                keep_body: true,
                texting: changes_state.then(|| TextingRow {
                    status: TextingStatus::Pending,
                    attempts_left: 3,
                    expires_at: None,
                    updated_at: t0(),
                }),
                ..Default::default()
            }
        })
    };
    let mut ordinary = stop("SM-lockfree-1");
    ordinary.body = "How are you?".into();
    let recorded = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        store.record_inbound(&audit_at(t0()), ordinary, decider(false)),
    )
    .await
    .expect("an ordinary text does not wait for the patient's lock")
    .unwrap();
    assert!(matches!(recorded, InboundOutcome::Recorded { .. }));
    assert_eq!(*seen.lock().unwrap(), vec![TextingStatus::Enabled]);

    seen.lock().unwrap().clear();
    let changing = {
        let store = Arc::clone(&store);
        let decide = decider(true);
        tokio::spawn(async move {
            store
                .record_inbound(&audit_at(t0()), stop("SM-lockfree-2"), decide)
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !changing.is_finished(),
        "a text that changes state waits for the patient's row"
    );
    client.batch_execute("COMMIT").await.unwrap();
    changing.await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![TextingStatus::Enabled, TextingStatus::OptedOut],
        "decided once from committed state, then again under the lock from the committed change"
    );
    let status: String = client
        .query_one(
            "SELECT texting_status FROM patients WHERE id = $1",
            &[&patient_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "pending", "the second decision is the one written");
}
