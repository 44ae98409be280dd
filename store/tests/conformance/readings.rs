//! Conformance scenarios of readings, reading settings and API tokens.

use std::sync::{Arc, Mutex};

use chrono::{Duration, NaiveDate};
use serde_json::json;
use store::testing::TestStore;
use store::{
    ApplyReadingDefaultsTo, AuditFilter, EffectiveReadingAlert, NewApiToken, NewPatient,
    NewReading, Page, ReadingAlertSource, ReadingContext, ReadingDecision, ReadingFrequency,
    ReadingSource, Store, StoreError, VitalFrequency,
};
use types::{AlertSettings, AlertState, ChangeRule, ChangeUnit, Ranges};
use uuid::Uuid;

use super::{audit_at, create_patient, customer_and_practice, decide, decision, staff, t0};

async fn patient(store: &Arc<dyn Store>, practice_id: Uuid, name: &str) -> Uuid {
    let new = NewPatient {
        dob: NaiveDate::from_ymd_opt(1960, 5, 6).unwrap(),
        ..super::patient(practice_id, name, "Doe", &[])
    };
    create_patient(store, new).await
}

fn bounds(critical_low: f64, critical_high: f64) -> AlertSettings {
    AlertSettings {
        ranges: Ranges {
            critical_low,
            normal_low: critical_low + 10.0,
            normal_high: critical_high - 10.0,
            critical_high,
        },
        change: None,
    }
}

fn reading(patient_id: Uuid, vital: &str, value: f64, minutes: i64) -> NewReading {
    NewReading {
        patient_id,
        vital: vital.into(),
        value,
        taken_at: t0() + Duration::minutes(minutes),
        source: ReadingSource::System,
        sent: None,
    }
}

/// The audit rows of a patient of the customer, newest first (at most 50).
async fn patient_audit(
    store: &Arc<dyn Store>,
    customer_id: Uuid,
    patient_id: Uuid,
) -> Vec<store::AuditRecord> {
    store
        .list_audit(AuditFilter {
            customer_id: Some(customer_id),
            patient_id: Some(patient_id),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap()
}

fn normal() -> store::DecideReading {
    decide("normal")
}

pub async fn a_reading_is_written_with_the_callers_decision_and_audited(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550201").await;
    let patient_id = patient(&store, practice_id, "Ann").await;
    let seen: Arc<Mutex<Option<ReadingContext>>> = Arc::default();
    let slot = seen.clone();
    let recorded = store
        .record_reading(
            &audit_at(t0() + Duration::hours(1)),
            reading(patient_id, "pulse", 181.5, 0),
            Box::new(move |context: &ReadingContext| {
                *slot.lock().unwrap() = Some(context.clone());
                Ok(ReadingDecision {
                    level: "critical",
                    reasons: json!([{"code": "critical_high", "message": "above"}]),
                    alert: None,
                    attach_to: None,
                    follow_ups: None,
                })
            }),
        )
        .await
        .unwrap();
    let context = seen.lock().unwrap().clone().unwrap();
    assert_eq!(context.practice_id, practice_id);
    assert_eq!(context.settings.source, ReadingAlertSource::None);
    assert!(context.settings.settings.is_none());
    assert!(context.nearby.is_empty());
    assert_eq!(context.open_alert, None);
    let stored = recorded.reading;
    assert_eq!(stored.practice_id, practice_id);
    assert_eq!(stored.level, "critical");
    assert_eq!(stored.value, 181.5);
    assert_eq!(stored.taken_at, t0());
    assert_eq!(stored.received_at, t0() + Duration::hours(1));
    assert_eq!(stored.reasons[0]["code"], "critical_high");
    assert_eq!(
        (stored.source_user_id, stored.source_api_token_id),
        (None, None)
    );
    let audit = patient_audit(&store, customer_id, patient_id).await;
    assert!(
        audit.iter().any(|a| a.action == "reading.create"
            && a.target_id.as_deref() == Some(&stored.id.to_string()))
    );
    let missing = store
        .record_reading(
            &audit_at(t0()),
            reading(Uuid::now_v7(), "pulse", 70.0, 0),
            normal(),
        )
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)));
}

pub async fn the_decision_sees_readings_of_the_vital_on_either_side_inside_the_change_window(
    db: &TestStore,
) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, "+15555550202").await;
    let patient_id = patient(&store, practice_id, "Ben").await;
    let mut settings = bounds(40.0, 150.0);
    settings.change = Some(ChangeRule {
        amount: 20.0,
        unit: ChangeUnit::Percent,
        within_hours: 24,
    });
    store
        .save_patient_reading_alert(&audit_at(t0()), patient_id, "pulse", settings)
        .await
        .unwrap();
    let audit = audit_at(t0());
    // Outside the window on both sides, inside it, exactly on its edges, another vital, and
    // one taken after it that arrived first (a device uploading newest first).
    for (vital, value, minutes) in [
        ("pulse", 60.0, -25 * 60),
        ("pulse", 70.0, -10 * 60),
        ("pulse", 65.0, -24 * 60),
        ("spo2", 97.0, -60),
        ("pulse", 99.0, 60),
        ("pulse", 98.0, 24 * 60),
        ("pulse", 50.0, 25 * 60),
    ] {
        store
            .record_reading(&audit, reading(patient_id, vital, value, minutes), normal())
            .await
            .unwrap();
    }
    let seen: Arc<Mutex<Option<ReadingContext>>> = Arc::default();
    let slot = seen.clone();
    store
        .record_reading(
            &audit,
            reading(patient_id, "pulse", 90.0, 0),
            Box::new(move |context: &ReadingContext| {
                *slot.lock().unwrap() = Some(context.clone());
                Ok(decision("critical"))
            }),
        )
        .await
        .unwrap();
    let context = seen.lock().unwrap().clone().unwrap();
    assert_eq!(context.settings.source, ReadingAlertSource::Patient);
    assert_eq!(context.settings.settings, Some(settings));
    let values: Vec<f64> = context.nearby.iter().map(|(_, v)| *v).collect();
    // Not the readings 25 hours away, nor the other vital; oldest taken first.
    assert_eq!(values, vec![65.0, 70.0, 99.0, 98.0]);
    let between = store
        .readings_between(patient_id, "pulse", t0() - Duration::hours(24), t0())
        .await
        .unwrap();
    assert_eq!(
        between.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
        vec![65.0, 70.0, 90.0]
    );
}

pub async fn readings_are_listed_newest_taken_first_by_vital_and_page_by_cursor(db: &TestStore) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, "+15555550203").await;
    let patient_id = patient(&store, practice_id, "Cat").await;
    let other = patient(&store, practice_id, "Dan").await;
    let audit = audit_at(t0());
    for (vital, value, minutes) in [
        ("pulse", 1.0, 0),
        ("pulse", 3.0, 20),
        ("spo2", 2.0, 10),
        ("pulse", 4.0, 30),
    ] {
        store
            .record_reading(&audit, reading(patient_id, vital, value, minutes), normal())
            .await
            .unwrap();
    }
    store
        .record_reading(&audit, reading(other, "pulse", 9.0, 5), normal())
        .await
        .unwrap();
    let first = store
        .list_readings(&audit, patient_id, None, Page::first(2))
        .await
        .unwrap();
    assert_eq!(
        first.items.iter().map(|r| r.value).collect::<Vec<_>>(),
        vec![4.0, 3.0]
    );
    let cursor = first.next_cursor.expect("a second page");
    let second = store
        .list_readings(
            &audit,
            patient_id,
            None,
            Page {
                after: Some(cursor),
                limit: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        second.items.iter().map(|r| r.value).collect::<Vec<_>>(),
        vec![2.0, 1.0]
    );
    assert!(second.next_cursor.is_none());
    let spo2 = store
        .list_readings(&audit, patient_id, Some("spo2".into()), Page::first(10))
        .await
        .unwrap();
    assert_eq!(spo2.items.len(), 1);
    let audit_rows = store
        .list_audit(AuditFilter {
            patient_id: Some(patient_id),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        audit_rows
            .iter()
            .any(|a| a.action == "patient.readings.read")
    );
    assert!(matches!(
        store
            .list_readings(&audit, Uuid::now_v7(), None, Page::first(10))
            .await,
        Err(StoreError::NotFound)
    ));
}

fn source(effective: &EffectiveReadingAlert) -> (ReadingAlertSource, Option<f64>) {
    (
        effective.source,
        effective.settings.map(|s| s.ranges.critical_high),
    )
}

pub async fn defaults_saved_for_new_patients_leave_existing_patients_effective_settings(
    db: &TestStore,
) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550204").await;
    let before_any = patient(&store, practice_id, "Eve").await;
    let audit = audit_at(t0());
    assert_eq!(
        store
            .practice_reading_alert(practice_id, "pulse")
            .await
            .unwrap(),
        None
    );
    store
        .save_practice_reading_alert(
            &audit,
            practice_id,
            "pulse",
            bounds(40.0, 150.0),
            ApplyReadingDefaultsTo::NewPatients,
        )
        .await
        .unwrap();
    // Eve had no settings and keeps having none.
    let eve = store
        .patient_reading_alert(before_any, "pulse")
        .await
        .unwrap();
    assert_eq!(
        (eve.source, eve.settings),
        (ReadingAlertSource::Patient, None)
    );
    let after_first = patient(&store, practice_id, "Fay").await;
    assert_eq!(
        source(
            &store
                .patient_reading_alert(after_first, "pulse")
                .await
                .unwrap()
        ),
        (ReadingAlertSource::Practice, Some(150.0))
    );
    let mut second = bounds(30.0, 160.0);
    second.change = Some(ChangeRule {
        amount: 15.0,
        unit: ChangeUnit::Units,
        within_hours: 12,
    });
    let saved = store
        .save_practice_reading_alert(
            &audit,
            practice_id,
            "pulse",
            second,
            ApplyReadingDefaultsTo::NewPatients,
        )
        .await
        .unwrap();
    assert_eq!(saved, second);
    // Fay followed the first default and keeps it as her own; a new patient gets the second.
    assert_eq!(
        source(
            &store
                .patient_reading_alert(after_first, "pulse")
                .await
                .unwrap()
        ),
        (ReadingAlertSource::Patient, Some(150.0))
    );
    let after_second = patient(&store, practice_id, "Gus").await;
    let gus = store
        .patient_reading_alert(after_second, "pulse")
        .await
        .unwrap();
    assert_eq!(gus.source, ReadingAlertSource::Practice);
    assert_eq!(gus.settings, Some(second));
    // Other vitals are untouched.
    assert_eq!(
        store
            .patient_reading_alert(after_first, "spo2")
            .await
            .unwrap()
            .source,
        ReadingAlertSource::None
    );
    let audit_rows = store
        .list_audit(AuditFilter {
            customer_id: Some(customer_id),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        audit_rows
            .iter()
            .any(|a| a.action == "practice.reading_alert_defaults.set_for_new_patients")
    );
}

pub async fn defaults_saved_for_all_patients_replace_every_patients_own_settings(db: &TestStore) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, "+15555550205").await;
    let (_, other_practice) = customer_and_practice(&store, "+15555550206").await;
    let own = patient(&store, practice_id, "Hal").await;
    let elsewhere = patient(&store, other_practice, "Ida").await;
    let audit = audit_at(t0());
    for patient_id in [own, elsewhere] {
        let effective = store
            .save_patient_reading_alert(&audit, patient_id, "spo2", bounds(80.0, 120.0))
            .await
            .unwrap();
        assert_eq!(
            source(&effective),
            (ReadingAlertSource::Patient, Some(120.0))
        );
    }
    store
        .save_practice_reading_alert(
            &audit,
            practice_id,
            "spo2",
            bounds(85.0, 121.0),
            ApplyReadingDefaultsTo::AllPatients,
        )
        .await
        .unwrap();
    assert_eq!(
        source(&store.patient_reading_alert(own, "spo2").await.unwrap()),
        (ReadingAlertSource::Practice, Some(121.0))
    );
    assert_eq!(
        source(
            &store
                .patient_reading_alert(elsewhere, "spo2")
                .await
                .unwrap()
        ),
        (ReadingAlertSource::Patient, Some(120.0))
    );
}

pub async fn reading_frequency_is_off_until_saved_and_a_save_replaces_it(db: &TestStore) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, "+15555550207").await;
    assert_eq!(
        store.reading_frequency(practice_id).await.unwrap(),
        ReadingFrequency::default()
    );
    let first = ReadingFrequency {
        warn_after_days: 3,
        out_of_range_count: 2,
        vitals: vec![
            VitalFrequency {
                vital: "pulse".into(),
                readings: 1,
                per_days: 1,
            },
            VitalFrequency {
                vital: "body_weight".into(),
                readings: 2,
                per_days: 7,
            },
        ],
        updated_at: None,
    };
    let saved = store
        .save_reading_frequency(
            &audit_at(t0()),
            practice_id,
            first,
            ApplyReadingDefaultsTo::NewPatients,
        )
        .await
        .unwrap();
    assert_eq!((saved.warn_after_days, saved.out_of_range_count), (3, 2));
    assert_eq!(
        saved
            .vitals
            .iter()
            .map(|v| v.vital.as_str())
            .collect::<Vec<_>>(),
        vec!["body_weight", "pulse"]
    );
    assert_eq!(saved.updated_at, Some(t0()));
    let replaced = store
        .save_reading_frequency(
            &audit_at(t0()),
            practice_id,
            ReadingFrequency {
                warn_after_days: 0,
                out_of_range_count: 5,
                vitals: vec![],
                updated_at: None,
            },
            ApplyReadingDefaultsTo::NewPatients,
        )
        .await
        .unwrap();
    assert_eq!(
        store.reading_frequency(practice_id).await.unwrap(),
        replaced
    );
    assert!(replaced.vitals.is_empty());
    assert!(matches!(
        store
            .save_reading_frequency(
                &audit_at(t0()),
                Uuid::now_v7(),
                ReadingFrequency::default(),
                ApplyReadingDefaultsTo::AllPatients
            )
            .await,
        Err(StoreError::NotFound)
    ));
}

pub async fn api_tokens_authenticate_by_hash_until_revoked(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, _) = customer_and_practice(&store, "+15555550210").await;
    let created = store
        .create_api_token(
            &audit_at(t0()),
            NewApiToken {
                customer_id,
                name: "Acme devices".into(),
                scopes: vec!["readings:write".into()],
                token_hash: "ab".repeat(32),
            },
        )
        .await
        .unwrap();
    assert_eq!(created.scopes, vec!["readings:write".to_string()]);
    assert_eq!(created.created_at, t0());
    assert!(created.revoked_at.is_none());
    assert_eq!(
        store.active_api_token(&"ab".repeat(32)).await.unwrap(),
        created
    );
    assert_eq!(store.get_api_token(created.id).await.unwrap(), created);
    assert!(matches!(
        store.active_api_token(&"cd".repeat(32)).await,
        Err(StoreError::NotFound)
    ));
    let revoked = store
        .revoke_api_token(&audit_at(t0() + Duration::hours(1)), created.id)
        .await
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(t0() + Duration::hours(1)));
    assert!(matches!(
        store.active_api_token(&"ab".repeat(32)).await,
        Err(StoreError::NotFound)
    ));
    // A second revoke keeps the first time.
    let again = store
        .revoke_api_token(&audit_at(t0() + Duration::hours(2)), created.id)
        .await
        .unwrap();
    assert_eq!(again.revoked_at, Some(t0() + Duration::hours(1)));
    assert!(matches!(
        store
            .revoke_api_token(&audit_at(t0()), Uuid::now_v7())
            .await,
        Err(StoreError::NotFound)
    ));
    let duplicate = store
        .create_api_token(
            &audit_at(t0()),
            NewApiToken {
                customer_id,
                name: "Same hash".into(),
                scopes: vec!["readings:write".into()],
                token_hash: "ab".repeat(32),
            },
        )
        .await;
    assert!(
        matches!(&duplicate, Err(e) if e.is_conflict_on("api_tokens_token_hash_key")),
        "{duplicate:?}"
    );
    let audit_rows = store
        .list_audit(AuditFilter {
            customer_id: Some(customer_id),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = audit_rows.iter().map(|a| a.action.as_str()).collect();
    assert!(actions.contains(&"api_token.create") && actions.contains(&"api_token.revoke"));
}

pub async fn reading_settings_of_a_missing_patient_or_practice_are_not_found(db: &TestStore) {
    let store = db.store().await;
    let audit = audit_at(t0());
    assert!(matches!(
        store.patient_reading_alert(Uuid::now_v7(), "pulse").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .save_patient_reading_alert(&audit, Uuid::now_v7(), "pulse", bounds(1.0, 100.0))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .save_practice_reading_alert(
                &audit,
                Uuid::now_v7(),
                "pulse",
                bounds(1.0, 100.0),
                ApplyReadingDefaultsTo::AllPatients
            )
            .await,
        Err(StoreError::NotFound)
    ));
}

fn critical_with_alert(alert: store::NewAlert) -> store::DecideReading {
    Box::new(move |_: &ReadingContext| {
        Ok(ReadingDecision {
            level: "critical",
            reasons: json!([]),
            alert: Some(alert),
            attach_to: None,
            follow_ups: None,
        })
    })
}

pub async fn an_alert_opens_with_its_reading_escalates_once_per_step_and_stops_when_acknowledged(
    db: &TestStore,
) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550401").await;
    let nurse = store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, "alert-nurse", vec![practice_id]),
        )
        .await
        .unwrap();
    let patient_id = patient(&store, practice_id, "Alerted").await;
    let note = store::NewNotification::in_feed(
        nurse.id,
        practice_id,
        Some(patient_id),
        "reading_critical",
        "A critical reading needs urgent review.",
    );
    let alert = store::NewAlert {
        level: "critical",
        code: "K7Q2MX".into(),
        next_step_at: t0() + Duration::minutes(10),
        notifications: vec![note.clone()],
        texts: vec![],
    };
    let recorded = store
        .record_reading(
            &audit_at(t0()),
            reading(patient_id, "pulse", 150.0, 0),
            critical_with_alert(alert),
        )
        .await
        .unwrap();
    let opened = recorded.alert.expect("the alert opened with the reading");
    assert_eq!(opened.reading_id, recorded.reading.id);
    assert_eq!(opened.state, AlertState::Open);
    assert_eq!(
        store
            .list_notifications(nurse.id, Page::first(10))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(opened.vital, "pulse");
    assert_eq!(opened.reading_ids, vec![recorded.reading.id]);
    assert_eq!(store.get_alert(opened.id).await.unwrap(), opened);
    assert!(
        store
            .due_alerts(t0() + Duration::minutes(9), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .due_alerts(t0() + Duration::minutes(10), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let step = |from, to| store::EscalationStep {
        from_step: from,
        to_step: to,
        next_step_at: t0() + Duration::minutes(20),
        notifications: vec![note.clone()],
        texts: vec![],
    };
    assert!(
        store
            .escalate(t0() + Duration::minutes(10), opened.id, step(0, 1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .escalate(t0() + Duration::minutes(10), opened.id, step(0, 1))
            .await
            .unwrap(),
        "a step is taken once"
    );
    assert_eq!(
        store
            .list_notifications(nurse.id, Page::first(10))
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    let acked = store
        .acknowledge_alert(&audit_at(t0() + Duration::minutes(12)), opened.id, nurse.id)
        .await
        .unwrap();
    assert_eq!(acked.state, AlertState::Acknowledged);
    assert_eq!(acked.acknowledged_by, Some(nurse.id));
    assert!(
        !store
            .escalate(t0() + Duration::minutes(20), opened.id, step(1, 2))
            .await
            .unwrap(),
        "never after acknowledgement"
    );
    assert!(
        store
            .due_alerts(t0() + Duration::days(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .list_alerts(
                vec![practice_id],
                Some(types::AlertState::Open),
                Page::first(10)
            )
            .await
            .unwrap()
            .items,
        vec![]
    );
    assert_eq!(
        store
            .list_alerts(
                vec![practice_id],
                Some(types::AlertState::Acknowledged),
                Page::first(10)
            )
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

pub async fn a_patient_read_for_a_write_comes_with_its_practice_and_is_not_audited(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550213").await;
    let patient_id = patient(&store, practice_id, "Wes").await;
    let audited = || async { patient_audit(&store, customer_id, patient_id).await.len() };
    let before = audited().await;
    let (patient, practice) = store.patient_for_write(patient_id).await.unwrap();
    assert_eq!(patient.id, patient_id);
    assert_eq!(
        (practice.id, practice.customer_id),
        (practice_id, customer_id)
    );
    assert_eq!(
        audited().await,
        before,
        "nothing of it is disclosed, so nothing audited"
    );
    assert!(matches!(
        store.patient_for_write(Uuid::now_v7()).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn an_unprepared_decider_leaves_nothing_written(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550209").await;
    let patient_id = patient(&store, practice_id, "Ned").await;
    let refused = store
        .record_reading(
            &audit_at(t0()),
            reading(patient_id, "pulse", 190.0, 0),
            Box::new(|_: &ReadingContext| Err(store::Unprepared)),
        )
        .await;
    match refused {
        Err(StoreError::Rule(store::RuleRefusal::ReadingUnprepared)) => {}
        other => panic!("expected the context-changed refusal, got {other:?}"),
    }
    let listed = store
        .list_readings(&audit_at(t0()), patient_id, None, Page::first(10))
        .await
        .unwrap();
    assert!(listed.items.is_empty(), "no reading without its decision");
    let audit = patient_audit(&store, customer_id, patient_id).await;
    assert!(audit.iter().all(|a| a.action != "reading.create"));
    // Recorded again with a decision that has what it needs, the reading is written once.
    let recorded = store
        .record_reading(
            &audit_at(t0()),
            reading(patient_id, "pulse", 190.0, 0),
            decide("critical"),
        )
        .await
        .unwrap();
    assert!(!recorded.repeat);
    assert_eq!(recorded.reading.level, "critical");
}

pub async fn open_alerts_are_counted_store_wide_with_the_opening_time_of_the_oldest(
    db: &TestStore,
) {
    let store = db.store().await;
    let stats = |open, oldest_opened_at| store::OpenAlertStats {
        open,
        oldest_opened_at,
    };
    assert_eq!(store.open_alert_stats().await.unwrap(), stats(0, None));
    let mut opened = Vec::new();
    for (i, sms) in ["+15555550411", "+15555550412"].into_iter().enumerate() {
        let (customer_id, practice_id) = customer_and_practice(&store, sms).await;
        let nurse = store
            .create_user(
                &audit_at(t0()),
                staff(customer_id, &format!("stats-nurse-{i}"), vec![practice_id]),
            )
            .await
            .unwrap();
        let patient_id = patient(&store, practice_id, "Counted").await;
        let minutes = 5 * i64::try_from(i).unwrap();
        let alert = store::NewAlert {
            level: "critical",
            code: format!("STATS{i}"),
            next_step_at: t0() + Duration::minutes(minutes + 10),
            notifications: vec![],
            texts: vec![],
        };
        let recorded = store
            .record_reading(
                &audit_at(t0() + Duration::minutes(minutes)),
                reading(patient_id, "pulse", 150.0, minutes),
                critical_with_alert(alert),
            )
            .await
            .unwrap();
        opened.push((recorded.alert.unwrap().id, nurse.id));
    }
    assert_eq!(
        store.open_alert_stats().await.unwrap(),
        stats(2, Some(t0())),
        "both practices' alerts count"
    );
    // Acknowledged alerts no longer count, the oldest first.
    for ((alert, nurse), left) in opened
        .into_iter()
        .zip([stats(1, Some(t0() + Duration::minutes(5))), stats(0, None)])
    {
        store
            .acknowledge_alert(&audit_at(t0() + Duration::minutes(8)), alert, nurse)
            .await
            .unwrap();
        assert_eq!(store.open_alert_stats().await.unwrap(), left);
    }
}

pub async fn a_readings_follow_ups_see_its_level_and_are_written_with_it_as_the_system(
    db: &TestStore,
) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550212").await;
    let patient_id = patient(&store, practice_id, "Quinn").await;
    let nurse = store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, "follow-up-nurse", vec![practice_id]),
        )
        .await
        .unwrap()
        .id;
    store
        .record_reading(
            &audit_at(t0()),
            reading(patient_id, "pulse", 120.0, 0),
            decide("caution"),
        )
        .await
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let noticed_patient = Arc::new(Mutex::new(None));
    let follow_ups = {
        let (seen, noticed_patient) = (Arc::clone(&seen), Arc::clone(&noticed_patient));
        move |levels: &[String]| store::ReadingFollowUps {
            notifications: {
                seen.lock().unwrap().extend(levels.iter().cloned());
                vec![store::NewNotification::in_feed(
                    nurse,
                    practice_id,
                    Some(patient_id),
                    "reading_caution",
                    "A patient reading is outside the normal range.",
                )]
            },
            staff_texts: vec![store::NewOutbound {
                practice_id: Some(practice_id),
                patient_id: None,
                from_number: "+15555550212".into(),
                to_number: "+15555550998".into(),
                body: "Main Street Clinic: a patient reading needs a look.".into(),
                priority: store::priority::NOTIFY,
                record_message: false,
                author_user_id: None,
            }],
            patient_notice: Some((
                "Main Street Clinic has a new message for you.".into(),
                Box::new(move |context: &store::StaffSendContext| {
                    *noticed_patient.lock().unwrap() = Some(context.patient.id);
                    store::PatientNoticeChoice::default()
                }),
            )),
        }
    };
    let poster = store::Audit {
        user_id: Some(nurse),
        ..audit_at(t0() + Duration::minutes(5))
    };
    let recorded = store
        .record_reading(
            &poster,
            reading(patient_id, "pulse", 125.0, 60),
            Box::new(move |_: &ReadingContext| {
                Ok(ReadingDecision {
                    follow_ups: Some(store::FollowUps {
                        levels: 3,
                        decide: Box::new(follow_ups),
                    }),
                    ..decision("critical")
                })
            }),
        )
        .await
        .unwrap();
    // Asked for three levels, of which two exist: this reading's first.
    assert_eq!(*seen.lock().unwrap(), ["critical", "caution"]);
    assert_eq!(*noticed_patient.lock().unwrap(), Some(patient_id));
    assert_eq!((recorded.staff_notified, recorded.staff_texted), (1, 1));
    assert!(
        recorded.patient_notice.is_empty(),
        "the notice chose no channel"
    );
    assert_eq!(super::feed_of(&store, nurse).await.len(), 1);
    let outbox = store.list_outbox(Page::first(10)).await.unwrap().items;
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].to_number, "+15555550998");
    // The text is queued by the system, not by whoever posted the reading.
    let enqueued: Vec<_> = store
        .list_audit(AuditFilter {
            customer_id: Some(customer_id),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "message.enqueue")
        .collect();
    assert_eq!(enqueued.len(), 1);
    assert_eq!(enqueued[0].user_id, None);
}
