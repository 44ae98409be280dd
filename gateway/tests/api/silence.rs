//! STOP means silence (issue 12), end to end on both stores: texts still queued to the number
//! are cancelled and shown so in the conversation, the confirmation goes at the top of the
//! queue, and staff sends after the STOP are decided from the opted-out patient.

use chrono::Duration;
use serde_json::{Value, json};

use crate::both_backends;
use crate::conversations::enable_texting;
use crate::fake_twilio::Answer;
use crate::helpers::{Backend, PATIENT_NUMBER, PRACTICE_NUMBER, eventually, items};
use crate::texting::{Clinic, clinic, clinic_with};

both_backends!(
    after_stop_only_the_confirmation_goes_and_the_cancelled_texts_show_why,
    the_stop_confirmation_goes_ahead_of_a_backlog_on_the_practice_number,
);

/// The restart limit is checked and counted where the START is decided: with one restart left,
/// two STARTs at once restart verification once, and the other is told to call the practice.
#[tokio::test]
async fn postgres_two_starts_at_once_with_one_restart_left_restart_once() {
    let c = clinic(Backend::Postgres).await;
    let mut sent = c.verification_started().await;
    for _ in 0..2 {
        sent = c.verification_restarted(sent).await;
    }
    c.patient_texts("STOP").await;
    c.texts_sent(sent, 1).await;
    sent += 1;
    tokio::join!(c.patient_texts("START"), c.patient_texts("START"));
    let texts = c.texts_sent(sent, 3).await;
    let restarted = texts
        .iter()
        .filter(|t| t.starts_with("Welcome back"))
        .count();
    let call_us = texts
        .iter()
        .filter(|t| t.starts_with("We could not confirm"))
        .count();
    assert_eq!((restarted, call_us), (1, 1), "{texts:?}");
    assert_eq!(c.texting().await["status"], "pending");
}

async fn send(c: &Clinic, body: Value) -> (u16, Value) {
    c.staff_post(&c.patient_path("/messages"), body).await
}

async fn thread(c: &Clinic) -> Vec<Value> {
    let (status, body) = c.staff_get(&c.patient_path("/messages?limit=200")).await;
    assert_eq!(status, 200, "{body}");
    items(&body).clone()
}

/// Outbox rows to the patient in the given state.
async fn rows_to_patient(c: &Clinic, state: store::OutboxState) -> Vec<store::Outbound> {
    c.app
        .outbox(200)
        .await
        .into_iter()
        .filter(|o| o.to_number == PATIENT_NUMBER && o.state == state)
        .collect()
}

async fn after_stop_only_the_confirmation_goes_and_the_cancelled_texts_show_why(backend: Backend) {
    let c = clinic(backend).await;
    enable_texting(&c).await;
    // The carrier is failing for the patient's number: two staff messages wait for a retry.
    c.fake.answer_for(PATIENT_NUMBER, Answer::ServerError);
    for body in ["Your labs are back", "Please call us"] {
        let (status, answer) = send(&c, json!({"body": body})).await;
        assert_eq!(status, 201, "{answer}");
    }
    eventually(10, "both texts back in the queue after a 500", || async {
        let waiting = rows_to_patient(&c, store::OutboxState::Queued).await;
        (waiting.len() == 2 && waiting.iter().all(|o| o.attempts == 1)).then_some(())
    })
    .await;
    c.fake.answer_for(PATIENT_NUMBER, Answer::Created);
    let before = c.sent_count();

    c.patient_texts("STOP").await;
    // The confirmation goes at once, without waiting for anyone's retry time.
    let sent = c.texts_sent(before, 1).await;
    assert!(sent[0].starts_with("You are unsubscribed"), "{sent:?}");
    let confirmation = c
        .app
        .outbox(200)
        .await
        .into_iter()
        .find(|o| o.to_number == PATIENT_NUMBER && o.body == sent[0])
        .unwrap();
    assert_eq!(confirmation.priority, store::priority::OPT_OUT_CONFIRMATION);
    assert_eq!(
        rows_to_patient(&c, store::OutboxState::Cancelled)
            .await
            .len(),
        2
    );

    // Long after their retry time, nothing more goes to the number.
    c.app.clock.advance(Duration::hours(1));
    c.app.wake_dispatcher();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(c.sent_count(), before + 1, "only the confirmation went out");

    // The conversation shows both as cancelled because the patient opted out.
    let staff = c.app.login("nurse", crate::accounts::PASSWORD).await;
    let c = Clinic { staff, ..c };
    let cancelled: Vec<Value> = thread(&c)
        .await
        .into_iter()
        .filter(|m| m["body"] == "Your labs are back" || m["body"] == "Please call us")
        .collect();
    assert_eq!(cancelled.len(), 2);
    for message in &cancelled {
        assert_eq!(message["status"], "cancelled", "{message}");
        assert_eq!(message["status_reason"], "opted_out", "{message}");
    }
    // A staff send now is decided from the opted-out patient: not by text.
    let (status, body) = send(&c, json!({"body": "Are you there?"})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "no_enabled_channel");
    let (status, _) = send(&c, json!({"body": "Are you there?", "channel": "sms"})).await;
    assert_eq!(status, 409);
    assert_eq!(c.sent_count(), before + 1);
}

/// With one text per second on the practice number (and the clock held), the number's queue
/// moves one slot per second; a STOP's confirmation takes the next slot ahead of the backlog.
async fn the_stop_confirmation_goes_ahead_of_a_backlog_on_the_practice_number(backend: Backend) {
    let c = clinic_with(backend, |s| s.sms_sender_mps = 1.try_into().unwrap()).await;
    let tick = || {
        c.app.clock.advance(Duration::seconds(1));
        c.app.wake_dispatcher();
    };
    assert_eq!(c.staff_action("start").await.0, 200);
    c.texts_sent(0, 1).await;
    c.patient_texts("07/04/1961").await;
    tick();
    c.texts_sent(1, 1).await;
    assert_eq!(c.texting().await["status"], "enabled");
    // A backlog of routine texts to other numbers from the practice's number.
    let audit = store::Audit::system(gateway::clock::Clock::now(c.app.clock.as_ref()));
    for i in 0..5 {
        c.app
            .store
            .enqueue_sms(
                &audit,
                store::NewOutbound {
                    practice_id: None,
                    patient_id: None,
                    from_number: PRACTICE_NUMBER.into(),
                    to_number: format!("+1555555030{i}"),
                    body: format!("bulk {i}"),
                    priority: store::priority::ROUTINE,
                    record_message: false,
                    author_user_id: None,
                },
            )
            .await
            .unwrap();
    }
    tick();
    eventually(10, "the first of the backlog", || async {
        (c.fake.received().len() == 3).then_some(())
    })
    .await;
    c.patient_texts("STOP").await;
    tick();
    let next = eventually(10, "the next text", || async {
        c.fake.received().get(3).cloned()
    })
    .await;
    assert_eq!(
        next.to, PATIENT_NUMBER,
        "the confirmation before the backlog"
    );
    assert!(next.body.starts_with("You are unsubscribed"), "{next:?}");
    tick();
    let after = eventually(10, "the backlog goes on", || async {
        c.fake.received().get(4).cloned()
    })
    .await;
    assert!(after.body.starts_with("bulk"), "{after:?}");
}
