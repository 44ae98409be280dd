//! Conformance scenarios of gateway instances: claims carry their instance, the claims of a gone
//! instance (its store handle dropped, as when its process dies) are released at once, and the
//! claims of a live instance, or of a claimer that names no instance, are never released early.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use store::testing::TestStore;
use store::{
    ClaimRequest, NewNotification, NewOutbound, NotificationEmail, ReleasedClaims, Store, priority,
};
use types::MessageStatus;

use super::{audit_at, customer_and_practice, staff, t0};

const PRACTICE_NUMBER: &str = "+15555550170";

fn claim_by(worker: &str, now: DateTime<Utc>) -> ClaimRequest {
    ClaimRequest {
        worker: worker.into(),
        now,
        lease: Duration::seconds(60),
        limit: 10,
        sender_interval: Duration::milliseconds(10),
        horizon: Duration::seconds(1),
    }
}

/// Two texts (one with its conversation message) and one email, all due at `t0`.
async fn queue_work(store: &Arc<dyn Store>) {
    let (customer_id, practice_id) = customer_and_practice(store, PRACTICE_NUMBER).await;
    for (to, record_message) in [("+15555550171", true), ("+15555550172", false)] {
        store
            .enqueue_sms(
                &audit_at(t0()),
                NewOutbound {
                    practice_id: Some(practice_id),
                    patient_id: None,
                    from_number: PRACTICE_NUMBER.into(),
                    to_number: to.into(),
                    body: "hello".into(),
                    priority: priority::ROUTINE,
                    record_message,
                    author_user_id: None,
                },
            )
            .await
            .unwrap();
    }
    let user = store
        .create_user(
            &audit_at(t0()),
            staff(customer_id, "instances", vec![practice_id]),
        )
        .await
        .unwrap();
    store
        .add_notifications(
            t0(),
            vec![NewNotification {
                in_feed: false,
                email: Some(NotificationEmail {
                    to_address: "nurse@example.org".into(),
                    subject: "news".into(),
                    body: "Sign in to see it.".into(),
                }),
                ..NewNotification::in_feed(user.id, practice_id, None, "two_way_texting", "news")
            }],
        )
        .await
        .unwrap();
}

/// Releases until something comes free: PostgreSQL drops a closed session's locks a moment
/// after the client has gone.
async fn release_once_gone(store: &Arc<dyn Store>, now: DateTime<Utc>) -> ReleasedClaims {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let released = store.release_gone_claims(now).await.unwrap();
        if released.total() > 0 || std::time::Instant::now() > deadline {
            return released;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

pub async fn the_claims_of_a_gone_instance_are_released_at_once_and_a_live_ones_never(
    db: &TestStore,
) {
    let first = db.store().await;
    let second = db.store().await;
    assert_ne!(first.instance_id(), second.instance_id());
    assert!(!first.instance_alive(), "not alive before it is announced");
    first.announce_instance().await.unwrap();
    second.announce_instance().await.unwrap();
    first.announce_instance().await.unwrap();
    assert!(first.instance_alive() && second.instance_alive());
    queue_work(&first).await;

    let texts = first
        .claim_outbound(claim_by(first.instance_id(), t0()))
        .await
        .unwrap()
        .sends;
    assert_eq!(texts.len(), 2);
    assert!(
        texts
            .iter()
            .all(|t| t.outbound.claimed_by.as_deref() == Some(first.instance_id()))
    );
    let emails = first
        .claim_emails(t0(), std::time::Duration::from_secs(120), 10)
        .await
        .unwrap();
    assert_eq!(emails.len(), 1);

    // While the first instance runs, neither the second nor the first itself releases anything.
    let later = t0() + Duration::seconds(5);
    assert_eq!(
        second.release_gone_claims(later).await.unwrap(),
        ReleasedClaims::default()
    );
    assert_eq!(
        first.release_gone_claims(later).await.unwrap(),
        ReleasedClaims::default()
    );
    assert!(
        second
            .claim_outbound(claim_by(second.instance_id(), later))
            .await
            .unwrap()
            .sends
            .is_empty()
    );

    // The first instance goes (its process died): its claims are free well before their lease.
    let gone = first.instance_id().to_owned();
    drop(first);
    let released = release_once_gone(&second, later).await;
    assert_eq!(
        released,
        ReleasedClaims {
            texts: 2,
            emails: 1,
            instances: vec![gone],
        }
    );
    let again = second
        .claim_outbound(claim_by(second.instance_id(), later))
        .await
        .unwrap()
        .sends;
    assert_eq!(again.len(), 2, "sent again well within the lease");
    for send in &again {
        assert_eq!(send.outbound.recovered, 1);
        assert_eq!(
            send.outbound.claimed_by.as_deref(),
            Some(second.instance_id())
        );
        assert!(
            second
                .record_send_accepted(
                    &send.outbound,
                    "test",
                    "SMagain",
                    MessageStatus::Queued,
                    later
                )
                .await
                .unwrap()
        );
    }
    // The conversation shows the text that may have arrived twice.
    let with_message = again
        .iter()
        .find_map(|s| s.outbound.message_id)
        .expect("one text has a conversation message");
    assert!(second.get_message(with_message).await.unwrap().recovered);
    assert_eq!(
        second
            .claim_emails(later, std::time::Duration::from_secs(120), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // Nothing is left to release, and released rows are not released twice.
    assert_eq!(
        second.release_gone_claims(later).await.unwrap(),
        ReleasedClaims::default()
    );
}

pub async fn a_claim_that_names_no_instance_waits_for_its_lease(db: &TestStore) {
    let store = db.store().await;
    store.announce_instance().await.unwrap();
    queue_work(&store).await;
    // As written by gateways before claims named instances.
    let claimed = store
        .claim_outbound(claim_by("4242-0123456789abcdef0123456789abcdef", t0()))
        .await
        .unwrap();
    assert_eq!(claimed.sends.len(), 2);
    let during = t0() + Duration::seconds(30);
    assert_eq!(
        store.release_gone_claims(during).await.unwrap(),
        ReleasedClaims::default()
    );
    assert!(
        store
            .claim_outbound(claim_by(store.instance_id(), during))
            .await
            .unwrap()
            .sends
            .is_empty()
    );
    let after = t0() + Duration::seconds(61);
    assert_eq!(
        store
            .claim_outbound(claim_by(store.instance_id(), after))
            .await
            .unwrap()
            .sends
            .len(),
        2
    );
}
