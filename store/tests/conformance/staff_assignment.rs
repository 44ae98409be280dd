//! Conformance scenarios of seed 003 (staff assignment) and seed 000 practice settings: a
//! supervisor is another user of the same customer; the care-team assignment covers every
//! program the patient has; a new patient and a new program start with the staff given; ended
//! programs end their enrolments; practice switches are decided inside the transactions that
//! use them; practices join groups on create and by patch, receiving the group's default users.

use std::sync::Arc;

use store::testing::TestStore;
use store::{
    CareTeamMember, NewPatient, NewPractice, NewPracticeGroup, NewStaffMessage, PatientPatch,
    PracticePatch, StaffMessageOutcome, StaffSendChoice, Store, StoreError, TextingChange,
    UserPatch,
};
use uuid::Uuid;

use super::{audit_at, create_patient, customer_and_practice, practice_row, staff, t0};

async fn patient(
    store: &Arc<dyn Store>,
    practice_id: Uuid,
    programs: &[&str],
    team: &[Uuid],
) -> Uuid {
    let new = NewPatient {
        dob: chrono::NaiveDate::from_ymd_opt(1961, 7, 4).unwrap(),
        mobile_phone: Some("+15555550180".into()),
        care_team: team.to_vec(),
        ..super::patient(practice_id, "Pat", "Jones", programs)
    };
    create_patient(store, new).await
}

fn member(user_id: Uuid, programs: &[&str]) -> CareTeamMember {
    CareTeamMember {
        user_id,
        programs: programs.iter().map(|p| p.to_string()).collect(),
    }
}

pub async fn a_supervisor_is_another_user_of_the_same_customer(db: &TestStore) {
    let store = db.store().await;
    let (customer, practice) = customer_and_practice(&store, "+15555550181").await;
    let (other_customer, _) = customer_and_practice(&store, "+15555550182").await;
    let audit = audit_at(t0());
    let lead = store
        .create_user(&audit, staff(customer, "lead", vec![practice]))
        .await
        .unwrap();
    let stranger = store
        .create_user(&audit, staff(other_customer, "stranger", vec![]))
        .await
        .unwrap();
    let nurse = store
        .create_user(
            &audit,
            store::NewUser {
                supervisor_id: Some(lead.id),
                ..staff(customer, "nurse", vec![practice])
            },
        )
        .await
        .unwrap();
    assert_eq!(nurse.supervisor_id, Some(lead.id));
    assert_eq!(
        store.get_user(nurse.id).await.unwrap().supervisor_id,
        Some(lead.id)
    );
    for bad in [stranger.id, nurse.id, Uuid::now_v7()] {
        let refused = store
            .update_user(
                &audit,
                nurse.id,
                UserPatch {
                    supervisor_id: Some(Some(bad)),
                    ..Default::default()
                },
                super::handover(None),
            )
            .await;
        assert!(
            matches!(&refused, Err(e) if e.is_rule(store::RuleRefusal::SupervisorOfAnotherCustomer)),
            "{refused:?}"
        );
    }
    let refused = store
        .create_user(
            &audit,
            store::NewUser {
                supervisor_id: Some(stranger.id),
                ..staff(customer, "nurse2", vec![practice])
            },
        )
        .await;
    assert!(
        matches!(&refused, Err(e) if e.is_rule(store::RuleRefusal::SupervisorOfAnotherCustomer))
    );
    let cleared = store
        .update_user(
            &audit,
            nurse.id,
            UserPatch {
                supervisor_id: Some(None),
                ..Default::default()
            },
            super::handover(None),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cleared.supervisor_id, None);
}

pub async fn care_team_assignment_covers_every_program_and_new_programs_only_their_creators(
    db: &TestStore,
) {
    let store = db.store().await;
    let (customer, practice) = customer_and_practice(&store, "+15555550183").await;
    let audit = audit_at(t0());
    let mut users = Vec::new();
    for name in ["creator", "assigned", "team-only"] {
        users.push(
            store
                .create_user(&audit, staff(customer, name, vec![practice]))
                .await
                .unwrap()
                .id,
        );
    }
    let (creator, assigned, team_only) = (users[0], users[1], users[2]);
    let p = patient(&store, practice, &["rpm", "ccm"], &[creator]).await;
    assert_eq!(
        store.care_team(p).await.unwrap(),
        [member(creator, &["ccm", "rpm"])]
    );
    store.assign_to_patient(&audit, p, assigned).await.unwrap();
    store.add_to_care_team(&audit, p, team_only).await.unwrap();
    // Twice changes nothing.
    store.assign_to_patient(&audit, p, assigned).await.unwrap();
    assert_eq!(
        store.care_team(p).await.unwrap(),
        [
            member(creator, &["ccm", "rpm"]),
            member(assigned, &["ccm", "rpm"]),
            member(team_only, &[]),
        ]
    );
    // A new program gets only the staff given with the change; an ended one ends its
    // enrolments.
    store
        .update_patient(
            &audit,
            p,
            PatientPatch {
                programs: Some(vec!["ccm".into(), "bhi".into()]),
                new_program_staff: vec![team_only],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.care_team(p).await.unwrap(),
        [
            member(creator, &["ccm"]),
            member(assigned, &["ccm"]),
            member(team_only, &["bhi"]),
        ]
    );
    let missing = store
        .assign_to_patient(&audit, Uuid::now_v7(), assigned)
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

pub async fn practice_switches_are_decided_in_the_transactions_that_use_them(db: &TestStore) {
    let store = db.store().await;
    let (customer, practice) = customer_and_practice(&store, "+15555550184").await;
    let audit = audit_at(t0());
    let nurse = store
        .create_user(&audit, staff(customer, "nurse", vec![practice]))
        .await
        .unwrap();
    let p = patient(&store, practice, &[], &[]).await;
    let read = store.get_practice(practice).await.unwrap();
    assert!(read.texting_enabled && read.portal_enabled, "on by default");
    let off = store
        .update_practice(
            &audit,
            practice,
            PracticePatch {
                texting_enabled: Some(false),
                portal_enabled: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!off.texting_enabled && !off.portal_enabled);
    let current = store.get_patient(&audit, p).await.unwrap();
    let start = |needs_texting| TextingChange {
        expected: current.texting.clone(),
        new_state: None,
        replies: vec![],
        notifications: vec![],
        action: "texting.resend",
        opted_out: false,
        needs_texting,
    };
    let refused = store.change_texting(&audit, p, start(true)).await;
    assert!(
        matches!(&refused, Err(e) if e.is_rule(store::RuleRefusal::TextingDisabled)),
        "{refused:?}"
    );
    store.change_texting(&audit, p, start(false)).await.unwrap();
    for refused in [
        store.enroll_portal(&audit, p, "hash-1").await,
        store
            .post_portal_message(&audit, p, "hello", vec![], vec![])
            .await
            .map(|_| ()),
    ] {
        assert!(
            matches!(&refused, Err(e) if e.is_rule(store::RuleRefusal::PortalDisabled)),
            "{refused:?}"
        );
    }
    // A staff send's decision sees the switches as stored.
    let outcome = store
        .post_staff_message(
            &audit,
            NewStaffMessage {
                patient_id: p,
                author_user_id: nurse.id,
                body: "hi".into(),
                choose: Box::new(|context| {
                    assert!(!context.texting_enabled && !context.portal_enabled);
                    StaffSendChoice::Refused {
                        code: "texting_disabled".into(),
                        reason: "off".into(),
                    }
                }),
                idempotency: None,
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        outcome,
        StaffMessageOutcome::Refused { ref code, .. } if code == "texting_disabled"
    ));
    store
        .update_practice(
            &audit,
            practice,
            PracticePatch {
                portal_enabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    store.enroll_portal(&audit, p, "hash-2").await.unwrap();
    store
        .post_portal_message(&audit, p, "hello", vec![], vec![])
        .await
        .unwrap();
}

pub async fn practices_join_groups_on_create_and_by_patch_with_the_groups_default_users(
    db: &TestStore,
) {
    let store = db.store().await;
    let (customer, first) = customer_and_practice(&store, "+15555550150").await;
    let audit = audit_at(t0());
    for n in 1..10 {
        let sms = format!("+1555555015{n}");
        let new = practice_row(customer, format!("Branch {n}"), "America/New_York", sms);
        store.create_practice(&audit, new).await.unwrap();
    }
    let customer_default = store
        .create_user(&audit, staff(customer, "customer-default", vec![]))
        .await
        .unwrap()
        .id;
    let group_default = store
        .create_user(&audit, staff(customer, "group-default", vec![]))
        .await
        .unwrap()
        .id;
    store
        .set_customer_default_users(&audit, customer, vec![customer_default])
        .await
        .unwrap();
    let group = store
        .create_practice_group(
            &audit,
            NewPracticeGroup {
                customer_id: customer,
                name: "North".into(),
                default_user_ids: vec![group_default],
                practice_ids: vec![],
            },
        )
        .await
        .unwrap();
    let created = store
        .create_practice(
            &audit,
            NewPractice {
                customer_id: customer,
                name: "North Branch".into(),
                timezone: "America/New_York".parse().unwrap(),
                sms_number: "+15555550160".into(),
                practice_group_id: Some(group.id),
            },
        )
        .await
        .unwrap();
    assert_eq!(created.practice_group_id, Some(group.id));
    assert_eq!(
        store.practice_users(created.id).await.unwrap(),
        [group_default]
    );
    let moved = store
        .update_practice(
            &audit,
            first,
            PracticePatch {
                practice_group_id: Some(Some(group.id)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.practice_group_id, Some(group.id));
    assert!(
        store
            .practice_users(first)
            .await
            .unwrap()
            .contains(&group_default)
    );
    let group = store.get_practice_group(group.id).await.unwrap();
    assert!(group.practice_ids.contains(&first) && group.practice_ids.contains(&created.id));
    let out = store
        .update_practice(
            &audit,
            first,
            PracticePatch {
                practice_group_id: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(out.practice_group_id, None);
    // Another customer's group (or none) is refused on both, and nothing changes.
    let (other, _) = customer_and_practice(&store, "+15555550161").await;
    let refused = store
        .update_practice(
            &audit,
            first,
            PracticePatch {
                practice_group_id: Some(Some(Uuid::now_v7())),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(&refused, Err(e) if e.is_rule(store::RuleRefusal::GroupOfAnotherCustomer)));
    let refused = store
        .create_practice(
            &audit,
            NewPractice {
                customer_id: other,
                name: "Elsewhere".into(),
                timezone: "America/New_York".parse().unwrap(),
                sms_number: "+15555550162".into(),
                practice_group_id: Some(group.id),
            },
        )
        .await;
    assert!(matches!(&refused, Err(e) if e.is_rule(store::RuleRefusal::GroupOfAnotherCustomer)));
    assert!(
        store
            .find_practice_by_number("+15555550162")
            .await
            .unwrap()
            .is_none()
    );
}
