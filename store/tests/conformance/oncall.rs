//! Conformance scenarios of on-call schedules: weekly windows with weekdays, dated overrides,
//! the rule of who may be on call applied inside the saving transaction, and the hand-over of
//! on-call duty when its holder is locked or loses access to the practice.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use store::testing::TestStore;
use store::{
    AuditFilter, EVERY_DAY, LockOutcome, OnCallDuty, OnCallHandover, OnCallOverrideRow,
    OnCallRefusal, OnCallWindowRow, Practice, Role, Store, StoreError, User, UserPatch,
};
use uuid::Uuid;

use super::{
    audit_at, customer_and_practice, lock_handing_over, new_practice, raw_execute, staff, t0,
};

/// The gateway's rule, restated for the store's tests: an unlocked user of the practice's
/// customer who sees the practice (a customer admin, or staff of it) and has a mobile number.
/// The reasons are short tags the tests compare.
pub fn on_call_rule(user: Option<&User>, practice: &Practice) -> Result<(), String> {
    let Some(user) = user else {
        return Err("no such user".into());
    };
    if user.customer_id != Some(practice.customer_id) {
        Err("other customer".into())
    } else if user.locked_at.is_some() {
        Err("locked".into())
    } else if user.role != Role::CustomerAdmin && !user.practice_ids.contains(&practice.id) {
        Err("cannot see".into())
    } else if user.mobile_phone.is_none() {
        Err("no mobile".into())
    } else {
        Ok(())
    }
}

/// Anyone may be on call: builds schedules the current rule would refuse (as saved before it).
fn anyone(_: Option<&User>, _: &Practice) -> Result<(), String> {
    Ok(())
}

pub fn handover(reassign_to: Option<Uuid>) -> OnCallHandover {
    OnCallHandover {
        reassign_to,
        rule: on_call_rule,
    }
}

fn window(from: i32, to: i32, days: i16, user_id: Uuid) -> OnCallWindowRow {
    OnCallWindowRow {
        from_minute: from,
        to_minute: to,
        days,
        user_id,
    }
}

fn cover(user_id: Uuid, starts_at: DateTime<Utc>, hours: i64) -> OnCallOverrideRow {
    OnCallOverrideRow {
        user_id,
        starts_at,
        ends_at: starts_at + Duration::hours(hours),
    }
}

fn unfit(user_id: Uuid, practice_id: Uuid, reason: &str) -> OnCallRefusal {
    OnCallRefusal::Unfit {
        user_id,
        practice_id,
        reason: reason.into(),
    }
}

async fn user(store: &Arc<dyn Store>, customer_id: Uuid, name: &str, practices: &[Uuid]) -> User {
    store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, name, practices.to_vec()),
        )
        .await
        .unwrap()
}

async fn patch(store: &Arc<dyn Store>, id: Uuid, patch: UserPatch) -> User {
    store
        .update_user(&audit_at(t0()), id, patch, handover(None))
        .await
        .unwrap()
        .unwrap()
}

async fn windows_of(store: &Arc<dyn Store>, practice_id: Uuid) -> Vec<OnCallWindowRow> {
    store.on_call_windows(practice_id).await.unwrap()
}

async fn overrides_of(store: &Arc<dyn Store>, practice_id: Uuid) -> Vec<OnCallOverrideRow> {
    store
        .on_call_overrides(practice_id, t0() - Duration::days(400))
        .await
        .unwrap()
}

async fn audited(store: &Arc<dyn Store>, action: &str) -> usize {
    store
        .list_audit(AuditFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .iter()
        .filter(|r| r.action == action)
        .count()
}

pub async fn on_call_windows_keep_their_weekdays_and_only_users_who_can_act_may_be_on_call(
    db: &TestStore,
) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550301").await;
    let (other_customer, _) = customer_and_practice(&store, "+15555550302").await;
    let audit = audit_at(t0());
    let nurse = user(&store, customer_id, "oc-nurse", &[practice_id])
        .await
        .id;
    // A customer admin sees every practice of the customer without being one of its users.
    let admin = store
        .create_user(
            &audit,
            store::NewUser {
                role: Role::CustomerAdmin,
                ..staff(customer_id, "oc-admin", vec![])
            },
        )
        .await
        .unwrap()
        .id;
    assert!(windows_of(&store, practice_id).await.is_empty());
    let windows = vec![
        window(22 * 60, 6 * 60, 0b001_0000, nurse),
        window(8 * 60, 18 * 60, EVERY_DAY, admin),
        window(0, 0, 0b110_0000, nurse),
    ];
    let saved = store
        .replace_on_call_windows(&audit, practice_id, windows.clone(), on_call_rule)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved, windows);
    assert_eq!(windows_of(&store, practice_id).await, windows);
    assert_eq!(audited(&store, "practice.on_call.update").await, 1);

    // Each kind of user who could not act is refused, naming them and why; nothing changes.
    let stranger = user(&store, other_customer, "oc-stranger", &[]).await.id;
    let outsider = user(&store, customer_id, "oc-outsider", &[]).await.id;
    let silent = user(&store, customer_id, "oc-silent", &[practice_id])
        .await
        .id;
    patch(
        &store,
        silent,
        UserPatch {
            mobile_phone: Some(None),
            ..Default::default()
        },
    )
    .await;
    let locked = user(&store, customer_id, "oc-locked", &[practice_id])
        .await
        .id;
    store
        .lock_user(&audit, locked, None, on_call_rule)
        .await
        .unwrap();
    let nobody = Uuid::now_v7();
    for (who, reason) in [
        (stranger, "other customer"),
        (outsider, "cannot see"),
        (silent, "no mobile"),
        (locked, "locked"),
        (nobody, "no such user"),
    ] {
        let refused = store
            .replace_on_call_windows(
                &audit,
                practice_id,
                vec![window(0, 60, EVERY_DAY, nurse), window(60, 120, 1, who)],
                on_call_rule,
            )
            .await
            .unwrap();
        assert_eq!(refused, Err(unfit(who, practice_id, reason)), "{reason}");
        assert_eq!(windows_of(&store, practice_id).await, windows, "{reason}");
    }
    assert_eq!(audited(&store, "practice.on_call.update").await, 1);

    let emptied = store
        .replace_on_call_windows(&audit, practice_id, vec![], on_call_rule)
        .await
        .unwrap()
        .unwrap();
    assert!(emptied.is_empty());
    assert!(matches!(
        store
            .replace_on_call_windows(&audit, Uuid::now_v7(), vec![], on_call_rule)
            .await,
        Err(StoreError::NotFound)
    ));
    // The store keeps what the schema allows and nothing else: no empty weekday set.
    let refused = store
        .replace_on_call_windows(
            &audit,
            practice_id,
            vec![window(0, 60, 0, nurse)],
            on_call_rule,
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");
}

pub async fn on_call_overrides_are_replaced_whole_and_listed_until_they_end(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550303").await;
    let audit = audit_at(t0());
    let lee = user(&store, customer_id, "ov-lee", &[practice_id]).await.id;
    let kim = user(&store, customer_id, "ov-kim", &[practice_id]).await.id;
    let outsider = user(&store, customer_id, "ov-outsider", &[]).await.id;
    let running = cover(lee, t0() - Duration::hours(1), 3);
    let coming = cover(kim, t0() + Duration::days(20), 48);
    let overlapping = cover(lee, t0() + Duration::days(21), 2);
    let saved = store
        .replace_on_call_overrides(
            &audit,
            practice_id,
            vec![coming, running, overlapping],
            on_call_rule,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved, vec![coming, running, overlapping], "saved order");
    let listed = |after: DateTime<Utc>| {
        let store = Arc::clone(&store);
        async move { store.on_call_overrides(practice_id, after).await.unwrap() }
    };
    assert_eq!(listed(t0()).await, vec![coming, running, overlapping]);
    // An override is listed while it has not ended (`ends_at` exclusive).
    assert_eq!(
        listed(running.ends_at - Duration::microseconds(1)).await,
        vec![coming, running, overlapping]
    );
    assert_eq!(listed(running.ends_at).await, vec![coming, overlapping]);
    assert_eq!(
        listed(coming.ends_at).await,
        Vec::<OnCallOverrideRow>::new()
    );
    assert_eq!(
        audited(&store, "practice.on_call_overrides.update").await,
        1
    );

    // A user who could not act is refused; nothing changes.
    let refused = store
        .replace_on_call_overrides(
            &audit,
            practice_id,
            vec![cover(outsider, t0(), 1)],
            on_call_rule,
        )
        .await
        .unwrap();
    assert_eq!(refused, Err(unfit(outsider, practice_id, "cannot see")));
    assert_eq!(listed(t0()).await, vec![coming, running, overlapping]);

    // A save replaces all of them, and an ended override is not answered.
    let replaced = store
        .replace_on_call_overrides(
            &audit_at(running.ends_at),
            practice_id,
            vec![running, coming],
            on_call_rule,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replaced, vec![coming]);
    assert_eq!(
        overrides_of(&store, practice_id).await,
        vec![running, coming]
    );
    // The schema refuses an override that does not run forward.
    let backwards = OnCallOverrideRow {
        ends_at: running.starts_at,
        ..running
    };
    assert!(
        store
            .replace_on_call_overrides(&audit, practice_id, vec![backwards], on_call_rule)
            .await
            .is_err()
    );
    assert!(matches!(
        store
            .replace_on_call_overrides(&audit, Uuid::now_v7(), vec![], on_call_rule)
            .await,
        Err(StoreError::NotFound)
    ));
}

pub async fn locking_hands_windows_and_running_overrides_to_a_successor_who_can_act(
    db: &TestStore,
) {
    let store = db.store().await;
    let (customer_id, p1) = customer_and_practice(&store, "+15555550304").await;
    let p2 = new_practice(&store, customer_id, "+15555550305").await;
    let audit = audit_at(t0());
    let leaving = user(&store, customer_id, "lk-leaving", &[p1, p2]).await.id;
    let successor = user(&store, customer_id, "lk-successor", &[p1, p2])
        .await
        .id;
    let only_p1 = user(&store, customer_id, "lk-only-p1", &[p1]).await.id;
    // The successor already covers the same night at p1: the hand-over keeps one of them.
    let windows = vec![
        window(22 * 60, 6 * 60, EVERY_DAY, successor),
        window(8 * 60, 17 * 60, 0b001_1111, leaving),
        window(22 * 60, 6 * 60, EVERY_DAY, leaving),
    ];
    store
        .replace_on_call_windows(&audit, p1, windows, on_call_rule)
        .await
        .unwrap()
        .unwrap();
    let ended = cover(leaving, t0() - Duration::days(3), 2);
    let running = cover(leaving, t0() - Duration::hours(1), 5);
    store
        .replace_on_call_overrides(
            &audit_at(ended.starts_at),
            p2,
            vec![ended, running],
            on_call_rule,
        )
        .await
        .unwrap()
        .unwrap();

    let outstanding = store.outstanding(leaving, t0()).await.unwrap();
    assert_eq!(outstanding.on_call_at, vec![p1]);
    assert_eq!(outstanding.on_call_overrides_at, vec![p2]);
    assert!(
        store
            .outstanding(leaving, running.ends_at)
            .await
            .unwrap()
            .on_call_overrides_at
            .is_empty(),
        "an ended override is nothing to hand over"
    );
    match store
        .lock_user(&audit, leaving, None, on_call_rule)
        .await
        .unwrap()
    {
        LockOutcome::Outstanding(items) => assert_eq!(items, outstanding),
        other => panic!("no successor: {other:?}"),
    }
    // A successor who cannot act at p2 is refused, and nothing changes.
    match store
        .lock_user(&audit, leaving, Some(only_p1), on_call_rule)
        .await
        .unwrap()
    {
        LockOutcome::Refused(refusal) => {
            assert_eq!(refusal, unfit(only_p1, p2, "cannot see"))
        }
        other => panic!("unfit successor: {other:?}"),
    }
    assert!(store.get_user(leaving).await.unwrap().locked_at.is_none());
    assert_eq!(windows_of(&store, p1).await.len(), 3);
    assert_eq!(overrides_of(&store, p2).await, vec![ended, running]);

    lock_handing_over(&store, &audit, leaving, successor).await;
    assert_eq!(
        windows_of(&store, p1).await,
        vec![
            window(22 * 60, 6 * 60, EVERY_DAY, successor),
            window(8 * 60, 17 * 60, 0b001_1111, successor),
        ]
    );
    let moved = OnCallOverrideRow {
        user_id: successor,
        ..running
    };
    assert_eq!(overrides_of(&store, p2).await, vec![ended, moved]);
    assert_eq!(audited(&store, "practice.on_call.hand_over").await, 2);
    assert!(store.outstanding(leaving, t0()).await.unwrap().is_empty());
}

pub async fn a_user_change_that_takes_away_their_access_hands_their_on_call_duty_over(
    db: &TestStore,
) {
    let store = db.store().await;
    let (customer_id, p1) = customer_and_practice(&store, "+15555550306").await;
    let p2 = new_practice(&store, customer_id, "+15555550307").await;
    let audit = audit_at(t0());
    let nurse = user(&store, customer_id, "ch-nurse", &[p1, p2]).await;
    let colleague = user(&store, customer_id, "ch-colleague", &[p1]).await.id;
    store
        .replace_on_call_windows(
            &audit,
            p1,
            vec![window(0, 0, EVERY_DAY, nurse.id)],
            on_call_rule,
        )
        .await
        .unwrap()
        .unwrap();
    let running = cover(nurse.id, t0(), 24);
    store
        .replace_on_call_overrides(&audit, p2, vec![running], on_call_rule)
        .await
        .unwrap()
        .unwrap();
    let update = |patch: UserPatch, reassign_to: Option<Uuid>| {
        let store = Arc::clone(&store);
        async move {
            store
                .update_user(&audit_at(t0()), nurse.id, patch, handover(reassign_to))
                .await
                .unwrap()
        }
    };
    let leave_p1 = || UserPatch {
        practice_ids: Some(vec![p2]),
        ..Default::default()
    };

    // Leaving p1 without a successor: refused, naming the duty, and nothing changes.
    assert_eq!(
        update(leave_p1(), None).await,
        Err(OnCallRefusal::HandoverNeeded(vec![OnCallDuty {
            user_id: nurse.id,
            practice_id: p1
        }]))
    );
    assert_eq!(
        store.get_user(nurse.id).await.unwrap().practice_ids,
        nurse.practice_ids
    );
    // A successor who cannot act at p1 (no mobile number): refused too.
    patch(
        &store,
        colleague,
        UserPatch {
            mobile_phone: Some(None),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        update(leave_p1(), Some(colleague)).await,
        Err(unfit(colleague, p1, "no mobile"))
    );
    assert_eq!(windows_of(&store, p1).await[0].user_id, nurse.id);
    patch(
        &store,
        colleague,
        UserPatch {
            mobile_phone: Some(Some("+15555550199".into())),
            ..Default::default()
        },
    )
    .await;
    // With one who can: the window at p1 goes over in the same change; p2's override stays.
    let changed = update(leave_p1(), Some(colleague)).await.unwrap();
    assert_eq!(changed.practice_ids, vec![p2]);
    assert_eq!(windows_of(&store, p1).await[0].user_id, colleague);
    assert_eq!(overrides_of(&store, p2).await, vec![running]);
    assert_eq!(audited(&store, "practice.on_call.hand_over").await, 1);

    // A change that takes nothing away needs no successor.
    let renamed = update(
        UserPatch {
            title: Some("Charge nurse".into()),
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    assert_eq!(renamed.title, "Charge nurse");
    // Clearing the mobile number leaves the override at p2 with someone who cannot be texted.
    let no_mobile = || UserPatch {
        mobile_phone: Some(None),
        ..Default::default()
    };
    assert_eq!(
        update(no_mobile(), None).await,
        Err(OnCallRefusal::HandoverNeeded(vec![OnCallDuty {
            user_id: nurse.id,
            practice_id: p2
        }]))
    );
    assert!(
        store
            .get_user(nurse.id)
            .await
            .unwrap()
            .mobile_phone
            .is_some()
    );

    // A customer admin lowered to staff loses the practices they are not a user of.
    let admin = store
        .create_user(
            &audit,
            store::NewUser {
                role: Role::CustomerAdmin,
                ..staff(customer_id, "ch-admin", vec![])
            },
        )
        .await
        .unwrap()
        .id;
    store
        .replace_on_call_windows(
            &audit,
            p2,
            vec![window(60, 120, EVERY_DAY, admin)],
            on_call_rule,
        )
        .await
        .unwrap()
        .unwrap();
    let demoted = store
        .update_user(
            &audit,
            admin,
            UserPatch {
                role: Some(Role::Staff),
                ..Default::default()
            },
            handover(None),
        )
        .await
        .unwrap();
    assert_eq!(
        demoted,
        Err(OnCallRefusal::HandoverNeeded(vec![OnCallDuty {
            user_id: admin,
            practice_id: p2
        }]))
    );

    // A schedule saved before the rule (a user without a mobile number on call) does not block
    // unrelated edits, but taking their access away still needs a successor.
    let legacy = user(&store, customer_id, "ch-legacy", &[p1]).await.id;
    patch(&store, legacy, no_mobile()).await;
    store
        .replace_on_call_windows(&audit, p1, vec![window(0, 60, EVERY_DAY, legacy)], anyone)
        .await
        .unwrap()
        .unwrap();
    let edit = |patch: UserPatch| {
        let store = Arc::clone(&store);
        async move {
            store
                .update_user(&audit_at(t0()), legacy, patch, handover(None))
                .await
                .unwrap()
        }
    };
    assert!(
        edit(UserPatch {
            first_name: Some("Lou".into()),
            ..Default::default()
        })
        .await
        .is_ok()
    );
    assert!(matches!(
        edit(UserPatch {
            practice_ids: Some(vec![]),
            ..Default::default()
        })
        .await,
        Err(OnCallRefusal::HandoverNeeded(_))
    ));
}

pub async fn leaving_a_practice_hands_on_call_duty_there_to_the_successor(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, p1) = customer_and_practice(&store, "+15555550308").await;
    let p2 = new_practice(&store, customer_id, "+15555550309").await;
    let audit = audit_at(t0());
    let leaving = user(&store, customer_id, "lv-leaving", &[p1, p2]).await.id;
    let staying = user(&store, customer_id, "lv-staying", &[p1]).await.id;
    let newcomer = user(&store, customer_id, "lv-newcomer", &[]).await.id;
    store
        .replace_on_call_windows(
            &audit,
            p1,
            vec![
                window(0, 12 * 60, EVERY_DAY, leaving),
                window(12 * 60, 0, EVERY_DAY, staying),
            ],
            on_call_rule,
        )
        .await
        .unwrap()
        .unwrap();
    let running = cover(leaving, t0(), 6);
    store
        .replace_on_call_overrides(&audit, p1, vec![running], on_call_rule)
        .await
        .unwrap()
        .unwrap();
    store
        .replace_on_call_windows(
            &audit,
            p2,
            vec![window(0, 0, EVERY_DAY, leaving)],
            on_call_rule,
        )
        .await
        .unwrap()
        .unwrap();
    let set = |users: Vec<Uuid>, reassign_to: Option<Uuid>| {
        let store = Arc::clone(&store);
        async move {
            store
                .set_practice_users(&audit_at(t0()), p1, users, handover(reassign_to))
                .await
                .unwrap()
        }
    };

    assert_eq!(
        set(vec![staying], None).await,
        Err(OnCallRefusal::HandoverNeeded(vec![OnCallDuty {
            user_id: leaving,
            practice_id: p1
        }]))
    );
    let mut members = vec![leaving, staying];
    members.sort();
    assert_eq!(store.practice_users(p1).await.unwrap(), members);
    // The successor must be able to act here after the change: one who is not a user of p1
    // and is not made one is refused; made one in the same change, they may take it.
    assert_eq!(
        set(vec![staying], Some(newcomer)).await,
        Err(unfit(newcomer, p1, "cannot see"))
    );
    let mut after = vec![staying, newcomer];
    after.sort();
    assert_eq!(
        set(vec![staying, newcomer], Some(newcomer)).await,
        Ok(after)
    );
    assert_eq!(
        windows_of(&store, p1).await,
        vec![
            window(0, 12 * 60, EVERY_DAY, newcomer),
            window(12 * 60, 0, EVERY_DAY, staying),
        ]
    );
    assert_eq!(
        overrides_of(&store, p1).await,
        vec![OnCallOverrideRow {
            user_id: newcomer,
            ..running
        }]
    );
    // Duty at other practices is not touched.
    assert_eq!(windows_of(&store, p2).await[0].user_id, leaving);
    // Users leaving without on-call duty here need nobody.
    let idle = user(&store, customer_id, "lv-idle", &[p1]).await.id;
    let mut with_idle = vec![staying, newcomer, idle];
    with_idle.sort();
    assert_eq!(store.practice_users(p1).await.unwrap(), with_idle);
    let mut without_idle = vec![staying, newcomer];
    without_idle.sort();
    assert_eq!(set(vec![staying, newcomer], None).await, Ok(without_idle));
}

pub async fn a_concurrent_lock_and_schedule_save_never_leave_a_locked_user_on_call(db: &TestStore) {
    let store = db.store().await;
    let (customer_id, practice_id) = customer_and_practice(&store, "+15555550310").await;
    let successor = user(&store, customer_id, "cc-successor", &[practice_id])
        .await
        .id;
    for round in 0..8 {
        let leaving = user(
            &store,
            customer_id,
            &format!("cc-leaving-{round}"),
            &[practice_id],
        )
        .await
        .id;
        store
            .replace_on_call_windows(
                &audit_at(t0()),
                practice_id,
                vec![window(0, 0, EVERY_DAY, leaving)],
                on_call_rule,
            )
            .await
            .unwrap()
            .unwrap();
        let save = {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .replace_on_call_windows(
                        &audit_at(t0()),
                        practice_id,
                        vec![window(60, 120, EVERY_DAY, leaving)],
                        on_call_rule,
                    )
                    .await
                    .unwrap()
            })
        };
        let lock = {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .lock_user(&audit_at(t0()), leaving, Some(successor), on_call_rule)
                    .await
                    .unwrap()
            })
        };
        let (saved, locked) = (save.await.unwrap(), lock.await.unwrap());
        assert!(matches!(locked, LockOutcome::Locked(_)), "{locked:?}");
        let windows = windows_of(&store, practice_id).await;
        assert!(
            windows.iter().all(|w| w.user_id != leaving),
            "round {round}: a locked user is still on call: {windows:?} (save: {saved:?})"
        );
    }
}

pub async fn a_stored_practice_time_zone_that_does_not_parse_is_an_error_not_utc(db: &TestStore) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, "+15555550311").await;
    let practice = store.get_practice(practice_id).await.unwrap();
    assert_eq!(practice.timezone.tz(), chrono_tz::America::New_York);
    raw_execute(db, "UPDATE practices SET timezone = 'Mars/Olympus_Mons'")
        .await
        .unwrap();
    let read = store.get_practice(practice_id).await;
    assert!(
        matches!(&read, Err(StoreError::Unexpected(detail)) if detail.contains("Mars/Olympus_Mons")),
        "{read:?}"
    );
}
