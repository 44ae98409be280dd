//! Conformance scenarios of notification channels in the store: feed rows and emails written
//! together with their notification, the email outbox claim (leases, retries, failures) and
//! unread reminders with their texts.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;
use store::testing::TestStore;
use store::{
    NewNotification, NewOutbound, NotificationEmail, Page, Store, UnreadReminder, priority,
};
use types::EmailState;
use uuid::Uuid;

use super::{audit_at, create_staff, customer_and_practice, feed_of, t0, team_fixture};

const LEASE: StdDuration = StdDuration::from_secs(120);

fn emailed(user_id: Uuid, practice_id: Uuid, in_feed: bool, subject: &str) -> NewNotification {
    NewNotification {
        in_feed,
        email: Some(NotificationEmail {
            to_address: "nurse@example.org".into(),
            subject: subject.into(),
            body: "Sign in to see it.".into(),
        }),
        ..NewNotification::in_feed(user_id, practice_id, None, "two_way_texting", subject)
    }
}

async fn user(store: &Arc<dyn Store>, sms: &str) -> (Uuid, Uuid) {
    let (customer_id, practice_id) = customer_and_practice(store, sms).await;
    let user = create_staff(store, customer_id, &format!("mail{sms}"), vec![practice_id]).await;
    (practice_id, user.id)
}

pub async fn a_notification_goes_to_the_feed_the_email_outbox_or_both_as_asked(db: &TestStore) {
    let store = db.store().await;
    let (practice_id, user_id) = user(&store, "+15555550061").await;
    store
        .add_notifications(
            t0(),
            vec![
                emailed(user_id, practice_id, true, "both"),
                emailed(user_id, practice_id, false, "email only"),
                NewNotification::in_feed(
                    user_id,
                    practice_id,
                    None,
                    "two_way_texting",
                    "feed only",
                ),
            ],
        )
        .await
        .unwrap();
    let feed: Vec<String> = feed_of(&store, user_id)
        .await
        .into_iter()
        .map(|n| n.summary)
        .collect();
    assert_eq!(feed, ["feed only", "both"]);
    let emails = store.list_emails(Page::first(10)).await.unwrap().items;
    let subjects: Vec<&str> = emails.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(subjects, ["email only", "both"]);
    for email in &emails {
        assert_eq!(email.state, EmailState::Queued);
        assert_eq!(email.to_address, "nurse@example.org");
        assert_eq!(email.user_id, user_id);
        assert_eq!(email.kind, "two_way_texting");
        assert_eq!(email.created_at, t0());
    }
    assert_eq!(store.email_next_due().await.unwrap(), Some(t0()));
}

pub async fn a_failed_change_leaves_no_email_behind(db: &TestStore) {
    let store = db.store().await;
    let (practice_id, user_id) = user(&store, "+15555550062").await;
    let bad_kind = NewNotification {
        kind: "gossip".into(),
        ..emailed(user_id, practice_id, true, "bad")
    };
    assert!(
        store
            .add_notifications(
                t0(),
                vec![emailed(user_id, practice_id, false, "good"), bad_kind]
            )
            .await
            .is_err()
    );
    assert!(
        store
            .list_emails(Page::first(10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(store.email_next_due().await.unwrap(), None);
}

pub async fn an_email_is_claimed_once_until_its_lease_runs_out(db: &TestStore) {
    let store = db.store().await;
    let (practice_id, user_id) = user(&store, "+15555550063").await;
    store
        .add_notifications(t0(), vec![emailed(user_id, practice_id, false, "once")])
        .await
        .unwrap();
    assert!(
        store
            .claim_emails(t0() - Duration::seconds(1), LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "not due before it was queued"
    );
    let first = store.claim_emails(t0(), LEASE, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].attempts, 1);
    assert_eq!(first[0].subject, "once");
    assert_eq!(first[0].body, "Sign in to see it.");
    assert!(
        store
            .claim_emails(t0() + Duration::seconds(119), LEASE, 10)
            .await
            .unwrap()
            .is_empty(),
        "held while the lease lasts"
    );
    assert_eq!(
        store.email_next_due().await.unwrap(),
        Some(first[0].claimed_until)
    );
    // The claimer died: the lease runs out and the email is due again.
    let again = store
        .claim_emails(t0() + Duration::seconds(120), LEASE, 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, first[0].id);
    assert_eq!(again[0].attempts, 2);
    // The first claimer's late answer no longer counts.
    store
        .record_email_sent(
            first[0].id,
            first[0].claimed_until,
            t0() + Duration::seconds(121),
        )
        .await
        .unwrap();
    assert_eq!(
        store.list_emails(Page::first(1)).await.unwrap().items[0].state,
        EmailState::Sending
    );
    store
        .record_email_sent(
            again[0].id,
            again[0].claimed_until,
            t0() + Duration::seconds(122),
        )
        .await
        .unwrap();
    let row = &store.list_emails(Page::first(1)).await.unwrap().items[0];
    assert_eq!(row.state, EmailState::Sent);
    assert_eq!(row.sent_at, Some(t0() + Duration::seconds(122)));
    assert!(
        store
            .claim_emails(t0() + Duration::hours(1), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.email_next_due().await.unwrap(), None);
}

pub async fn email_failures_retry_at_the_given_time_or_end_failed(db: &TestStore) {
    let store = db.store().await;
    let (practice_id, user_id) = user(&store, "+15555550064").await;
    store
        .add_notifications(t0(), vec![emailed(user_id, practice_id, false, "flaky")])
        .await
        .unwrap();
    let claim = store.claim_emails(t0(), LEASE, 10).await.unwrap().remove(0);
    let retry_at = t0() + Duration::minutes(5);
    store
        .record_email_failure(
            claim.id,
            claim.claimed_until,
            "the SMTP server answered 451",
            Some(retry_at),
        )
        .await
        .unwrap();
    let row = &store.list_emails(Page::first(1)).await.unwrap().items[0];
    assert_eq!(row.state, EmailState::Queued);
    assert_eq!(
        row.last_error.as_deref(),
        Some("the SMTP server answered 451")
    );
    assert_eq!(store.email_next_due().await.unwrap(), Some(retry_at));
    assert!(
        store
            .claim_emails(retry_at - Duration::seconds(1), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let claim = store
        .claim_emails(retry_at, LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(claim.attempts, 2);
    store
        .record_email_failure(
            claim.id,
            claim.claimed_until,
            "the SMTP server answered 550",
            None,
        )
        .await
        .unwrap();
    let row = &store.list_emails(Page::first(1)).await.unwrap().items[0];
    assert_eq!(row.state, EmailState::Failed);
    assert_eq!(row.attempts, 2);
    assert_eq!(store.email_next_due().await.unwrap(), None);
    assert!(
        store
            .claim_emails(t0() + Duration::days(1), LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn concurrent_claimers_never_share_an_email(db: &TestStore) {
    let store = db.store().await;
    let (practice_id, user_id) = user(&store, "+15555550065").await;
    let many: Vec<NewNotification> = (0..40)
        .map(|i| emailed(user_id, practice_id, false, &format!("e{i}")))
        .collect();
    store.add_notifications(t0(), many).await.unwrap();
    let claimers = (0..4).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store.claim_emails(t0(), LEASE, 3).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|e| e.id));
            }
        })
    });
    let mut seen = HashSet::new();
    let mut total = 0;
    for claimer in claimers {
        for id in claimer.await.unwrap() {
            total += 1;
            assert!(seen.insert(id), "an email was claimed twice");
        }
    }
    assert_eq!(total, 40);
}

pub async fn an_unread_reminder_records_each_user_once_with_their_notification_and_text(
    db: &TestStore,
) {
    let store = db.store().await;
    let (practice_id, patient, a, b) = team_fixture(&store, "+15555550066").await;
    let message = store
        .post_portal_message(&audit_at(t0()), patient, "Question", vec![], vec![])
        .await
        .unwrap();
    let text = NewOutbound {
        practice_id: Some(practice_id),
        patient_id: None,
        from_number: "+15555550066".into(),
        to_number: "+15555550999".into(),
        body: "Main Street Clinic: a patient message has been waiting unread for a day.".into(),
        priority: priority::NOTIFY,
        record_message: false,
        author_user_id: None,
    };
    let reminders = vec![
        UnreadReminder {
            notification: NewNotification {
                patient_id: Some(patient),
                ..emailed(a, practice_id, true, "reminder")
            },
            text: Some(text),
        },
        UnreadReminder {
            notification: NewNotification::in_feed(
                b,
                practice_id,
                Some(patient),
                "unread_message_reminder",
                "reminder",
            ),
            text: None,
        },
    ];
    // b has read the conversation: only a is reminded.
    store
        .mark_read(b, patient, t0() + Duration::minutes(1))
        .await
        .unwrap();
    let at = t0() + Duration::hours(24);
    let reminded = store.remind_unread(at, &message, &reminders).await.unwrap();
    assert_eq!(reminded, [a]);
    assert_eq!(feed_of(&store, a).await.len(), 1);
    assert!(feed_of(&store, b).await.is_empty());
    assert_eq!(
        store
            .list_emails(Page::first(10))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let texts: Vec<String> = store
        .list_outbox(Page::first(10))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|o| o.to_number)
        .collect();
    assert_eq!(texts, ["+15555550999"]);
    // Once per message and user: a second pass adds nothing on any channel.
    assert!(
        store
            .remind_unread(at + Duration::hours(1), &message, &reminders)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(feed_of(&store, a).await.len(), 1);
    assert_eq!(
        store
            .list_emails(Page::first(10))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(
        store
            .list_outbox(Page::first(10))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

pub async fn throttle_changes_to_one_key_are_serialised_and_old_state_is_forgotten(db: &TestStore) {
    use store::ThrottleRow;
    let store = db.store().await;
    // Eight concurrent changes each add one second: none may be lost.
    let changes = (0..8).map(|_| {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .update_throttle(
                    "user:alice",
                    Box::new(|row| ThrottleRow {
                        tat: row.map(|r| r.tat).unwrap_or(t0()) + Duration::seconds(1),
                        blocked_until: None,
                    }),
                )
                .await
                .unwrap()
        })
    });
    for change in changes {
        change.await.unwrap();
    }
    store
        .update_throttle(
            "addr:10.0.0.1",
            Box::new(|_| ThrottleRow {
                tat: t0(),
                blocked_until: Some(t0() + Duration::hours(2)),
            }),
        )
        .await
        .unwrap();
    let keys = [
        "addr:10.0.0.1".to_string(),
        "user:nobody".into(),
        "user:alice".into(),
    ];
    let rows = store.throttle_rows(&keys).await.unwrap();
    assert_eq!(
        rows,
        [
            (
                "addr:10.0.0.1".to_string(),
                ThrottleRow {
                    tat: t0(),
                    blocked_until: Some(t0() + Duration::hours(2))
                }
            ),
            (
                "user:alice".to_string(),
                ThrottleRow {
                    tat: t0() + Duration::seconds(8),
                    blocked_until: None
                }
            ),
        ]
    );
    // An hour on, alice's state counts nothing any more; the address is still blocked.
    assert_eq!(
        store
            .forget_throttles(t0() + Duration::hours(1))
            .await
            .unwrap(),
        1
    );
    let rows = store.throttle_rows(&keys).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "addr:10.0.0.1");
}
