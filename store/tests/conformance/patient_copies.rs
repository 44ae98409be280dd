//! Conformance scenarios of what each patient carries as their own copy of the practice's
//! defaults: the reading frequency per vital (and the overdue warnings it drives, per vital)
//! and the notification settings about their own readings.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use store::testing::TestStore;
use store::{
    ApplyReadingDefaultsTo, NewOutbound, NewPatient, NewReading, PatientNoticeChoice,
    PatientNoticeDecider, PatientNotificationSettingRow, PatientVitalFrequency, ReadingFrequency,
    ReadingSource, Store, StoreError, VitalFrequency,
};
use types::{Channel, Direction, TextingStatus};
use uuid::Uuid;

use super::{audit_at, create_patient, customer_and_practice, decide, t0};

async fn new_patient(store: &Arc<dyn Store>, practice_id: Uuid, at: DateTime<Utc>) -> Uuid {
    store
        .create_patient(
            &audit_at(at),
            NewPatient {
                practice_id,
                first_name: "Ada".into(),
                last_name: "Doe".into(),
                dob: chrono::NaiveDate::from_ymd_opt(1960, 5, 6).unwrap(),
                mobile_phone: None,
                programs: vec![],
                care_team: vec![],
            },
        )
        .await
        .unwrap()
        .id
}

fn vital(name: &str, readings: i32, per_days: i32) -> VitalFrequency {
    VitalFrequency {
        vital: name.into(),
        readings,
        per_days,
    }
}

fn rules(warn_after_days: i32, vitals: Vec<VitalFrequency>) -> ReadingFrequency {
    ReadingFrequency {
        warn_after_days,
        out_of_range_count: 0,
        vitals,
        updated_at: None,
    }
}

fn own(rows: &[PatientVitalFrequency]) -> Vec<(String, i32, i32, DateTime<Utc>)> {
    rows.iter()
        .map(|r| (r.vital.clone(), r.readings, r.per_days, r.set_at))
        .collect()
}

async fn read(store: &Arc<dyn Store>, patient_id: Uuid, name: &str, at: DateTime<Utc>) {
    store
        .record_reading(
            &audit_at(at),
            NewReading {
                patient_id,
                vital: name.into(),
                value: 70.0,
                taken_at: at,
                source: ReadingSource::System,
                sent: None,
            },
            decide("normal"),
        )
        .await
        .unwrap();
}

pub async fn a_new_patient_copies_the_practices_frequency_and_all_patients_saves_replace_the_copies(
    db: &TestStore,
) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, "+15555550301").await;
    let before = new_patient(&store, practice_id, t0()).await;
    assert!(
        store
            .patient_reading_frequency(before)
            .await
            .unwrap()
            .is_empty()
    );
    let t1 = t0() + Duration::days(1);
    store
        .save_reading_frequency(
            &audit_at(t1),
            practice_id,
            rules(2, vec![vital("pulse", 1, 1), vital("body_weight", 2, 7)]),
            ApplyReadingDefaultsTo::NewPatients,
        )
        .await
        .unwrap();
    // Saved for new patients: the patient created before keeps their (empty) copy.
    assert!(
        store
            .patient_reading_frequency(before)
            .await
            .unwrap()
            .is_empty()
    );
    let t2 = t0() + Duration::days(2);
    let after = new_patient(&store, practice_id, t2).await;
    assert_eq!(
        own(&store.patient_reading_frequency(after).await.unwrap()),
        vec![("body_weight".into(), 2, 7, t2), ("pulse".into(), 1, 1, t2),]
    );
    // The patient's own change: an unchanged vital keeps its set_at, a changed one is reset.
    let t3 = t0() + Duration::days(3);
    let saved = store
        .save_patient_reading_frequency(
            &audit_at(t3),
            after,
            vec![vital("pulse", 1, 1), vital("spo2", 3, 7)],
        )
        .await
        .unwrap();
    assert_eq!(
        own(&saved),
        vec![("pulse".into(), 1, 1, t2), ("spo2".into(), 3, 7, t3)]
    );
    // For all patients: every patient gets the practice's vitals; unchanged rows keep set_at.
    let t4 = t0() + Duration::days(4);
    store
        .save_reading_frequency(
            &audit_at(t4),
            practice_id,
            rules(2, vec![vital("pulse", 1, 1), vital("peak_flow", 1, 2)]),
            ApplyReadingDefaultsTo::AllPatients,
        )
        .await
        .unwrap();
    assert_eq!(
        own(&store.patient_reading_frequency(after).await.unwrap()),
        vec![("peak_flow".into(), 1, 2, t4), ("pulse".into(), 1, 1, t2)]
    );
    assert_eq!(
        own(&store.patient_reading_frequency(before).await.unwrap()),
        vec![("peak_flow".into(), 1, 2, t4), ("pulse".into(), 1, 1, t4)]
    );
    assert!(matches!(
        store.patient_reading_frequency(Uuid::now_v7()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .save_patient_reading_frequency(&audit_at(t4), Uuid::now_v7(), vec![])
            .await,
        Err(StoreError::NotFound)
    ));
}

pub async fn overdue_candidates_are_per_vital_and_a_warning_is_recorded_once_per_episode(
    db: &TestStore,
) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, "+15555550302").await;
    store
        .save_reading_frequency(
            &audit_at(t0()),
            practice_id,
            rules(
                2,
                vec![
                    vital("blood_pressure_systolic", 2, 7),
                    vital("body_weight", 1, 1),
                ],
            ),
            ApplyReadingDefaultsTo::NewPatients,
        )
        .await
        .unwrap();
    let patient_id = new_patient(&store, practice_id, t0()).await;
    let day = |n: i64| t0() + Duration::days(n);
    read(&store, patient_id, "blood_pressure_systolic", day(1)).await;
    read(&store, patient_id, "blood_pressure_systolic", day(2)).await;
    read(&store, patient_id, "blood_pressure_systolic", day(3)).await;
    // Too early for either vital: counting started at enrolment (day 0), and nothing can be
    // due before per_days + warn_after_days from then.
    assert!(store.overdue_candidates(day(2)).await.unwrap().is_empty());
    // Day 20: body weight (never read) and blood pressure are both candidates, each with its
    // own readings; a body-weight reading does not hide blood pressure.
    read(&store, patient_id, "body_weight", day(20)).await;
    let mut found = store.overdue_candidates(day(20)).await.unwrap();
    found.sort_by(|a, b| a.vital.cmp(&b.vital));
    assert_eq!(found.len(), 1, "body weight was just read: {found:?}");
    let bp = &found[0];
    assert_eq!(bp.vital, "blood_pressure_systolic");
    assert_eq!((bp.readings, bp.per_days, bp.warn_after_days), (2, 7, 2));
    assert_eq!(bp.enrolled_at, t0());
    assert_eq!(bp.set_at, t0());
    assert_eq!(bp.newest_at, Some(day(3)));
    assert_eq!(bp.nth_newest_at, Some(day(2)));
    assert_eq!(bp.warned_for, None);
    // The warning of an episode is recorded once; its key comes back with the candidate.
    assert!(
        store
            .record_overdue_warning(
                day(20),
                patient_id,
                "blood_pressure_systolic",
                day(3),
                vec![]
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_overdue_warning(
                day(20),
                patient_id,
                "blood_pressure_systolic",
                day(3),
                vec![]
            )
            .await
            .unwrap()
    );
    // Another vital's episode is its own.
    assert!(
        store
            .record_overdue_warning(day(23), patient_id, "body_weight", day(20), vec![])
            .await
            .unwrap()
    );
    let found = store.overdue_candidates(day(23)).await.unwrap();
    let warned: Vec<(String, Option<DateTime<Utc>>)> = found
        .iter()
        .map(|c| (c.vital.clone(), c.warned_for))
        .collect();
    assert!(warned.contains(&("blood_pressure_systolic".into(), Some(day(3)))));
    assert!(warned.contains(&("body_weight".into(), Some(day(20)))));
    // With the warning off at the practice, nothing is a candidate.
    store
        .save_reading_frequency(
            &audit_at(day(23)),
            practice_id,
            rules(0, vec![vital("body_weight", 1, 1)]),
            ApplyReadingDefaultsTo::NewPatients,
        )
        .await
        .unwrap();
    assert!(store.overdue_candidates(day(30)).await.unwrap().is_empty());
}

/// A candidate carries its patient's programs (who hears of the warning depends on them), each
/// patient's own, whatever the number of candidates.
pub async fn overdue_candidates_carry_their_patients_programs(db: &TestStore) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, "+15555550304").await;
    store
        .save_reading_frequency(
            &audit_at(t0()),
            practice_id,
            rules(1, vec![vital("body_weight", 1, 1), vital("pulse", 1, 1)]),
            ApplyReadingDefaultsTo::NewPatients,
        )
        .await
        .unwrap();
    let mut expected = Vec::new();
    for programs in [vec![], vec!["rpm"], vec!["ccm", "rpm"]] {
        let patient = store
            .create_patient(
                &audit_at(t0()),
                NewPatient {
                    practice_id,
                    first_name: "Ada".into(),
                    last_name: "Doe".into(),
                    dob: chrono::NaiveDate::from_ymd_opt(1960, 5, 6).unwrap(),
                    mobile_phone: None,
                    programs: programs.iter().map(|p| p.to_string()).collect(),
                    care_team: vec![],
                },
            )
            .await
            .unwrap();
        expected.push((patient.id, programs));
    }
    let found = store
        .overdue_candidates(t0() + Duration::days(10))
        .await
        .unwrap();
    assert_eq!(
        found.len(),
        6,
        "two vitals for each of three patients: {found:?}"
    );
    for candidate in &found {
        let (_, programs) = expected
            .iter()
            .find(|(id, _)| *id == candidate.patient_id)
            .expect("a candidate of one of the patients");
        assert_eq!(&candidate.programs, programs, "{candidate:?}");
    }
}

fn setting(kind: &str, enabled: bool, email: bool, text: bool) -> PatientNotificationSettingRow {
    PatientNotificationSettingRow {
        kind: kind.into(),
        enabled,
        email,
        text,
    }
}

pub async fn a_new_patient_copies_the_patient_notification_defaults_and_all_patients_saves_replace_them(
    db: &TestStore,
) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550303").await;
    let before = new_patient(&store, practice_id, t0()).await;
    store
        .save_patient_notification_defaults(
            &audit_at(t0()),
            practice_id,
            vec![setting("reading_critical", true, false, true)],
            ApplyReadingDefaultsTo::NewPatients,
        )
        .await
        .unwrap();
    assert!(
        store
            .patient_notification_settings(before)
            .await
            .unwrap()
            .is_empty(),
        "saved for new patients: an existing patient keeps theirs"
    );
    let after = new_patient(&store, practice_id, t0()).await;
    assert_eq!(
        store.patient_notification_settings(after).await.unwrap(),
        vec![setting("reading_critical", true, false, true)]
    );
    // The patient's own change is theirs alone.
    let own = store
        .save_patient_notification_settings(
            &audit_at(t0()),
            after,
            vec![
                setting("reading_critical", false, false, false),
                setting("reading_caution", true, false, true),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        own,
        vec![
            setting("reading_caution", true, false, true),
            setting("reading_critical", false, false, false),
        ]
    );
    let err = store
        .save_patient_notification_settings(
            &audit_at(t0()),
            after,
            vec![setting("reading_caution", false, false, true)],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    // For all patients: the listed kinds become every patient's own; other kinds stay.
    store
        .save_patient_notification_defaults(
            &audit_at(t0()),
            practice_id,
            vec![setting("reading_critical", true, false, false)],
            ApplyReadingDefaultsTo::AllPatients,
        )
        .await
        .unwrap();
    assert_eq!(
        store.patient_notification_settings(before).await.unwrap(),
        vec![setting("reading_critical", true, false, false)]
    );
    assert_eq!(
        store.patient_notification_settings(after).await.unwrap(),
        vec![
            setting("reading_caution", true, false, true),
            setting("reading_critical", true, false, false),
        ]
    );
    let actions = super::actions_of(&store, customer_id).await;
    assert!(actions.contains(&"patient.notification_settings.update".to_string()));
    assert!(
        actions
            .contains(&"practice.patient_notification_defaults.set_for_all_patients".to_string())
    );
    assert!(matches!(
        store.patient_notification_settings(Uuid::now_v7()).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn a_patient_notice_is_decided_from_the_patient_as_they_are_in_the_transaction(
    db: &TestStore,
) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, "+15555550304").await;
    let new = NewPatient {
        dob: chrono::NaiveDate::from_ymd_opt(1960, 5, 6).unwrap(),
        mobile_phone: Some("+15555550399".into()),
        ..super::patient(practice_id, "Ada", "Doe", &[])
    };
    let patient_id = create_patient(&store, new).await;
    let notice =
        |seen: Arc<std::sync::Mutex<Option<(TextingStatus, bool)>>>| -> PatientNoticeDecider {
            Box::new(move |context| {
                *seen.lock().unwrap() = Some((context.patient.texting.status, context.has_portal));
                let enabled = context.patient.texting.status == TextingStatus::Enabled;
                PatientNoticeChoice {
                    sms: enabled.then(|| NewOutbound {
                        practice_id: Some(practice_id),
                        patient_id: Some(context.patient.id),
                        from_number: "+15555550304".into(),
                        to_number: context.patient.mobile_phone.clone().unwrap(),
                        body: "We received a reading that needs attention.".into(),
                        priority: 30,
                        record_message: true,
                        author_user_id: None,
                    }),
                    portal: context.has_portal,
                }
            })
        };
    let seen = Arc::new(std::sync::Mutex::new(None));
    // Not texting, no portal: nothing is written.
    let written = store
        .post_patient_notice(&audit_at(t0()), patient_id, "x", notice(seen.clone()))
        .await
        .unwrap();
    assert!(written.is_empty());
    assert_eq!(
        *seen.lock().unwrap(),
        Some((TextingStatus::NotEnabled, false))
    );
    // Texting enabled and enrolled in the portal: a text (queued) and a portal message, both
    // without an author.
    super::messaging::set_texting(db, patient_id, "enabled").await;
    store
        .enroll_portal(&audit_at(t0()), patient_id, "hash-of-a-token")
        .await
        .unwrap();
    let written = store
        .post_patient_notice(
            &audit_at(t0()),
            patient_id,
            "We received a reading that needs attention.",
            notice(seen.clone()),
        )
        .await
        .unwrap();
    let channels: Vec<(Channel, Direction, Option<Uuid>)> = written
        .iter()
        .map(|m| (m.channel, m.direction, m.author_user_id))
        .collect();
    assert_eq!(
        channels,
        vec![
            (Channel::Sms, Direction::Outbound, None),
            (Channel::Portal, Direction::Outbound, None)
        ]
    );
    assert_eq!(store.outbox_stats().await.unwrap().depth, 1);
    assert!(matches!(
        store
            .post_patient_notice(&audit_at(t0()), Uuid::now_v7(), "x", notice(seen))
            .await,
        Err(StoreError::NotFound)
    ));
}
