//! Conformance scenarios of alert reach: repeated and attached readings, who an alert texted,
//! texts that fail for good, numbers known to fail, and "ACK code" replies decided in their
//! transaction.

use std::sync::{Arc, Mutex};

use chrono::{Duration, NaiveDate};
use serde_json::json;
use store::testing::TestStore;
use store::{
    AlertText, NewAlert, NewOutbound, NewPatient, NewReading, NumberEvidence, Page, ReadingContext,
    ReadingDecision, ReadingSource, SendFailure, Store, TextAck, TextAckContext, TextAckDecision,
    priority,
};
use types::AlertState;
use uuid::Uuid;

use super::{audit_at, create_patient, customer_and_practice, decide, staff, t0};

const PRACTICE: &str = "+15555550601";
const NURSE_MOBILE: &str = "+15555550611";
const DOCTOR_MOBILE: &str = "+15555550612";

async fn patient(store: &Arc<dyn Store>, practice_id: Uuid, programs: Vec<String>) -> Uuid {
    let new = NewPatient {
        dob: NaiveDate::from_ymd_opt(1950, 2, 3).unwrap(),
        programs,
        ..super::patient(practice_id, "Ada", "Doe", &[])
    };
    create_patient(store, new).await
}

fn reading(patient_id: Uuid, value: f64, minutes: i64) -> NewReading {
    NewReading {
        patient_id,
        vital: "pulse".into(),
        value,
        taken_at: t0() + Duration::minutes(minutes),
        source: ReadingSource::System,
        sent: None,
    }
}

fn alert_text(practice_id: Uuid, user_id: Uuid, to: &str) -> AlertText {
    AlertText {
        user_id,
        text: NewOutbound {
            practice_id: Some(practice_id),
            patient_id: None,
            from_number: PRACTICE.into(),
            to_number: to.into(),
            body: "Main Street Clinic: a patient reading needs urgent review. Reply ACK K7Q2MX"
                .into(),
            priority: priority::ALERT,
            record_message: false,
            author_user_id: None,
        },
    }
}

/// Critical with a new alert texting `texts`, or joining the vital's open alert if there is one.
fn critical(texts: Vec<AlertText>, code: &str) -> store::DecideReading {
    let code = code.to_string();
    Box::new(move |context: &ReadingContext| {
        Ok(ReadingDecision {
            level: "critical",
            reasons: json!([]),
            alert: context.open_alert.is_none().then(|| NewAlert {
                level: "critical",
                code,
                next_step_at: t0() + Duration::minutes(10),
                notifications: vec![],
                texts,
            }),
            attach_to: context.open_alert,
            follow_ups: None,
        })
    })
}

struct Ward {
    store: Arc<dyn Store>,
    practice_id: Uuid,
    patient_id: Uuid,
    nurse: store::User,
    doctor: store::User,
}

async fn ward(db: &TestStore) -> Ward {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, PRACTICE).await;
    let mut nurse = staff(customer_id, "reach-nurse", vec![practice_id]);
    nurse.mobile_phone = Some(NURSE_MOBILE.into());
    nurse.first_name = "Nora".into();
    let mut doctor = staff(customer_id, "reach-doctor", vec![practice_id]);
    doctor.mobile_phone = Some(DOCTOR_MOBILE.into());
    let nurse = store.create_user(&audit_at(t0()), nurse).await.unwrap();
    let doctor = store.create_user(&audit_at(t0()), doctor).await.unwrap();
    let patient_id = patient(&store, practice_id, vec!["cardio".into()]).await;
    Ward {
        store,
        practice_id,
        patient_id,
        nurse,
        doctor,
    }
}

impl Ward {
    /// Which of `numbers` the store holds as failing for texts from `practice_number`.
    async fn failing(&self, practice_number: &str, numbers: &[String]) -> Vec<String> {
        let found = self.store.failing_numbers(practice_number, numbers).await;
        found.unwrap()
    }

    /// Opens an alert texting the nurse and the doctor; returns it.
    async fn open(&self) -> store::Alert {
        let texts = vec![
            alert_text(self.practice_id, self.nurse.id, NURSE_MOBILE),
            alert_text(self.practice_id, self.doctor.id, DOCTOR_MOBILE),
        ];
        self.store
            .record_reading(
                &audit_at(t0()),
                reading(self.patient_id, 150.0, 0),
                critical(texts, "K7Q2MX"),
            )
            .await
            .unwrap()
            .alert
            .expect("an alert opens")
    }

    /// Claims every due text.
    async fn claim(&self) -> Vec<store::Outbound> {
        self.store
            .claim_outbound(store::ClaimRequest {
                worker: "test".into(),
                now: t0() + Duration::seconds(1),
                lease: Duration::seconds(60),
                limit: 10,
                sender_interval: Duration::milliseconds(1),
                horizon: Duration::seconds(5),
            })
            .await
            .unwrap()
            .sends
            .into_iter()
            .map(|send| send.outbound)
            .collect()
    }

    /// Fails a claimed text for good with `code`.
    async fn fail(&self, claimed: &store::Outbound, code: i32) -> Uuid {
        assert!(
            self.store
                .record_send_failed(
                    &audit_at(t0() + Duration::seconds(2)),
                    claimed,
                    SendFailure {
                        error_code: Some(code),
                        message: "invalid".into(),
                        opted_out: false,
                    },
                )
                .await
                .unwrap()
        );
        claimed.id
    }

    async fn ack_text(&self, from: &str, code: &str) -> (TextAckContext, store::TextAckOutcome) {
        let seen: Arc<Mutex<Option<TextAckContext>>> = Arc::default();
        let slot = seen.clone();
        let from_number = from.to_string();
        let practice_id = self.practice_id;
        let outcome = self
            .store
            .acknowledge_by_text(
                &audit_at(t0() + Duration::minutes(3)),
                TextAck {
                    practice_id: self.practice_id,
                    code: code.into(),
                    from_number: from.into(),
                },
                Box::new(move |context: &TextAckContext| {
                    *slot.lock().unwrap() = Some(context.clone());
                    // Acknowledge as the first sender when the alert was texted to the number.
                    let by = context
                        .sent_to_number
                        .then(|| context.senders.first().map(|u| u.id))
                        .flatten();
                    TextAckDecision {
                        acknowledge_by: by,
                        reply: Some(NewOutbound {
                            practice_id: Some(practice_id),
                            patient_id: None,
                            from_number: PRACTICE.into(),
                            to_number: from_number,
                            body: "answer".into(),
                            priority: priority::ALERT,
                            record_message: false,
                            author_user_id: None,
                        }),
                        miss_throttle: Some(store::ThrottleRow {
                            tat: t0() + Duration::hours(1),
                            blocked_until: None,
                        }),
                    }
                }),
            )
            .await
            .unwrap();
        let context = seen.lock().unwrap().clone().unwrap();
        (context, outcome)
    }
}

pub async fn a_repeated_reading_is_answered_as_stored_and_writes_nothing(db: &TestStore) {
    let w = ward(db).await;
    let first = w
        .store
        .record_reading(
            &audit_at(t0()),
            reading(w.patient_id, 72.0, 0),
            decide("normal"),
        )
        .await
        .unwrap();
    assert!(!first.repeat);
    let again = w
        .store
        .record_reading(
            &audit_at(t0() + Duration::minutes(5)),
            reading(w.patient_id, 72.0, 0),
            Box::new(|_: &ReadingContext| panic!("a repeat is not decided again")),
        )
        .await
        .unwrap();
    assert!(again.repeat);
    assert!(again.context.is_none());
    assert_eq!(
        again.reading, first.reading,
        "the first answer, received time included"
    );
    let listed = w
        .store
        .list_readings(&audit_at(t0()), w.patient_id, None, Page::first(10))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    // Another value at the same time is another reading.
    let other = w
        .store
        .record_reading(
            &audit_at(t0()),
            NewReading {
                sent: Some((4.0, "mmol/L".into())),
                ..reading(w.patient_id, 72.06, 0)
            },
            decide("unclassified"),
        )
        .await
        .unwrap();
    assert!(!other.repeat);
    assert_eq!(other.reading.level, "unclassified");
    assert_eq!(other.reading.sent_value, Some(4.0));
    assert_eq!(other.reading.sent_unit.as_deref(), Some("mmol/L"));
}

pub async fn a_critical_reading_joins_the_open_alert_of_its_vital(db: &TestStore) {
    let w = ward(db).await;
    let opened = w.open().await;
    assert_eq!(opened.patient_programs, vec!["cardio".to_string()]);
    let joined = w
        .store
        .record_reading(
            &audit_at(t0() + Duration::minutes(1)),
            reading(w.patient_id, 160.0, 1),
            critical(vec![], "ZZZZZZ"),
        )
        .await
        .unwrap();
    assert_eq!(joined.context.unwrap().open_alert, Some(opened.id));
    assert_eq!(joined.attached_to, Some(opened.id));
    assert!(joined.alert.is_none());
    let alert = w.store.get_alert(opened.id).await.unwrap();
    let mut expected = vec![opened.reading_id, joined.reading.id];
    expected.sort();
    assert_eq!(alert.reading_ids, expected);
    let all = w
        .store
        .list_alerts(vec![w.practice_id], None, Page::first(10))
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1, "no second alert");
}

pub async fn an_alert_text_that_fails_for_good_makes_the_next_step_due_once_no_text_of_the_step_can_arrive(
    db: &TestStore,
) {
    let w = ward(db).await;
    let alert = w.open().await;
    let claimed = w.claim().await;
    assert_eq!(claimed.len(), 2);
    let at = t0() + Duration::minutes(1);
    // The first failure: the other text of the step may still arrive.
    let first = w.fail(&claimed[0], 21211).await;
    assert!(
        !w.store
            .note_text_outcome(first, NumberEvidence::Fails { code: 21211 }, at)
            .await
            .unwrap()
    );
    assert_eq!(
        w.store.get_alert(alert.id).await.unwrap().next_step_at,
        t0() + Duration::minutes(10)
    );
    // The second: nobody of the step has it; the next step is due now.
    let failed = [first, w.fail(&claimed[1], 21211).await];
    assert!(
        w.store
            .note_text_outcome(failed[1], NumberEvidence::Fails { code: 21211 }, at)
            .await
            .unwrap()
    );
    assert_eq!(w.store.get_alert(alert.id).await.unwrap().next_step_at, at);
    assert_eq!(w.store.due_alerts(at, 10).await.unwrap().len(), 1);
    // Both staff numbers are known to fail from the practice number now, not from another.
    let numbers = vec![NURSE_MOBILE.to_string(), DOCTOR_MOBILE.to_string()];
    assert_eq!(w.failing(PRACTICE, &numbers).await, numbers);
    assert_eq!(
        w.failing("+15555550999", &numbers).await,
        Vec::<String>::new()
    );
    // A delivered text clears a number; a START does as well.
    w.store
        .note_text_outcome(failed[0], NumberEvidence::Works, at)
        .await
        .unwrap();
    w.store
        .clear_failing_number(PRACTICE, DOCTOR_MOBILE)
        .await
        .unwrap();
    assert_eq!(w.failing(PRACTICE, &numbers).await, Vec::<String>::new());
    // A STOP reply records one, and its user saving the number again forgets it.
    w.store
        .record_failing_number(PRACTICE, NURSE_MOBILE, 0, at)
        .await
        .unwrap();
    assert_eq!(
        w.failing(PRACTICE, &numbers).await,
        vec![NURSE_MOBILE.to_string()]
    );
    w.store
        .update_user(
            &audit_at(at),
            w.nurse.id,
            store::UserPatch {
                mobile_phone: Some(Some(NURSE_MOBILE.into())),
                ..Default::default()
            },
            super::handover(None),
        )
        .await
        .unwrap()
        .expect("no on-call duty to hand over");
    assert_eq!(w.failing(PRACTICE, &numbers).await, Vec::<String>::new());
}

pub async fn an_acknowledged_alert_is_not_made_due_and_patient_numbers_are_not_recorded(
    db: &TestStore,
) {
    let w = ward(db).await;
    let alert = w.open().await;
    w.store
        .acknowledge_alert(&audit_at(t0()), alert.id, w.nurse.id)
        .await
        .unwrap();
    let mut failed = Vec::new();
    for claimed in w.claim().await {
        failed.push(w.fail(&claimed, 30005).await);
    }
    for id in &failed {
        assert!(
            !w.store
                .note_text_outcome(
                    *id,
                    NumberEvidence::Fails { code: 30005 },
                    t0() + Duration::minutes(1)
                )
                .await
                .unwrap()
        );
    }
    // A patient's text that fails does not make the patient's number a failing staff number.
    let patient_text = w
        .store
        .enqueue_sms(
            &audit_at(t0()),
            NewOutbound {
                practice_id: Some(w.practice_id),
                patient_id: Some(w.patient_id),
                from_number: PRACTICE.into(),
                to_number: "+15555550699".into(),
                body: "hello".into(),
                priority: priority::ROUTINE,
                record_message: false,
                author_user_id: None,
            },
        )
        .await
        .unwrap();
    w.store
        .note_text_outcome(patient_text.id, NumberEvidence::Fails { code: 21211 }, t0())
        .await
        .unwrap();
    assert_eq!(
        w.failing(PRACTICE, &["+15555550699".to_string()]).await,
        Vec::<String>::new()
    );
}

pub async fn an_ack_text_is_decided_with_the_alert_the_numbers_it_texted_and_the_senders(
    db: &TestStore,
) {
    let w = ward(db).await;
    let alert = w.open().await;
    // From a number the alert texted: the context says so and names its users.
    let (context, outcome) = w.ack_text(NURSE_MOBILE, "K7Q2MX").await;
    assert_eq!(context.practice.id, w.practice_id);
    assert_eq!(context.alert.as_ref().map(|a| a.id), Some(alert.id));
    assert!(context.sent_to_number);
    assert_eq!(
        context.senders.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![w.nurse.id]
    );
    assert!(context.acknowledged_by.is_none());
    assert!(context.miss_throttle.is_none());
    assert!(outcome.acknowledged_now && outcome.replied);
    let acked = outcome.alert.unwrap();
    assert_eq!(acked.state, AlertState::Acknowledged);
    assert_eq!(acked.acknowledged_by, Some(w.nurse.id));
    // Again: the acknowledger is in the context, nothing changes, and the throttle state the
    // decision wrote is read back.
    let (context, outcome) = w.ack_text(NURSE_MOBILE, "K7Q2MX").await;
    assert_eq!(
        context.acknowledged_by.map(|u| u.first_name),
        Some("Nora".into())
    );
    assert!(context.miss_throttle.is_some());
    assert!(!outcome.acknowledged_now);
    // A number it did not text, and an unknown code.
    let (context, _) = w.ack_text("+15555550698", "K7Q2MX").await;
    assert!(!context.sent_to_number);
    assert!(context.senders.is_empty());
    let (context, outcome) = w.ack_text(DOCTOR_MOBILE, "AAAAAA").await;
    assert!(context.alert.is_none());
    assert!(outcome.alert.is_none());
    // Every decision's answer was queued.
    let outbox = w.store.list_outbox(Page::first(50)).await.unwrap();
    assert_eq!(
        outbox.items.iter().filter(|o| o.body == "answer").count(),
        4
    );
}
