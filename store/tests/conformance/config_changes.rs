//! Conformance scenarios of the configuration version that inbound texts are decided against
//! (`Inbound::config_version`, `record_inbound_checked`).

use store::testing::TestStore;
use store::{CONFIG_CHANGED, InboundOutcome, StoreError};

use super::{audit_at, customer_and_practice, raw_execute, t0};
use crate::messaging::{keep_body, new_inbound};

const PRACTICE_NUMBER: &str = "+15555550100";

/// The version moves with a change made through the store and with one made by another
/// connection (triggers), and not with the texts themselves.
pub async fn the_config_version_moves_with_every_configuration_change_whoever_makes_it(
    db: &TestStore,
) {
    let store = db.store().await;
    let empty = store.config_version().await.unwrap();
    let (_, practice_id) = customer_and_practice(&store, PRACTICE_NUMBER).await;
    let with_practice = store.config_version().await.unwrap();
    assert!(with_practice > empty, "creating a practice is a change");

    store
        .set_template(&audit_at(t0()), practice_id, "help", "Call us.")
        .await
        .unwrap();
    let with_template = store.config_version().await.unwrap();
    assert!(with_template > with_practice, "a template is configuration");

    store
        .record_inbound(&audit_at(t0()), new_inbound("SMc1"), keep_body())
        .await
        .unwrap();
    assert_eq!(
        store.config_version().await.unwrap(),
        with_template,
        "an inbound text is not configuration"
    );

    raw_execute(
        db,
        "UPDATE practices SET name = 'Renamed' WHERE sms_number = '+15555550100'",
    )
    .await
    .unwrap();
    assert!(
        store.config_version().await.unwrap() > with_template,
        "a change by another connection counts too"
    );
}

/// A decision made with configuration older than the store's is refused and writes nothing; one
/// made with the current version is recorded.
pub async fn an_inbound_text_decided_with_an_older_configuration_writes_nothing(db: &TestStore) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, PRACTICE_NUMBER).await;
    let read = store.config_version().await.unwrap();
    store
        .set_template(&audit_at(t0()), practice_id, "help", "Call us.")
        .await
        .unwrap();

    let stale = store
        .record_inbound_checked(
            &audit_at(t0()),
            new_inbound("SMc2"),
            Some(read),
            keep_body(),
        )
        .await;
    match stale {
        Err(StoreError::Conflict { constraint }) => assert_eq!(constraint, CONFIG_CHANGED),
        other => panic!("expected the config_changed conflict, got {other:?}"),
    }
    assert!(
        store
            .find_message_by_carrier_sid(store::CARRIER_TWILIO, "SMc2")
            .await
            .is_err(),
        "nothing was recorded"
    );

    let current = store.config_version().await.unwrap();
    let recorded = store
        .record_inbound_checked(
            &audit_at(t0()),
            new_inbound("SMc2"),
            Some(current),
            keep_body(),
        )
        .await
        .unwrap();
    assert!(matches!(recorded, InboundOutcome::Recorded { .. }));
}

/// The hourly cleanup keeps only the newest change row: the version stays where it was (a cache
/// loaded before the cleanup is still current) and the next change still moves it on.
pub async fn forgetting_old_configuration_changes_keeps_the_version(db: &TestStore) {
    let store = db.store().await;
    let (_, practice_id) = customer_and_practice(&store, PRACTICE_NUMBER).await;
    for body in ["Call us.", "Call us now.", "Call us today."] {
        store
            .set_template(&audit_at(t0()), practice_id, "help", body)
            .await
            .unwrap();
    }
    let before = store.config_version().await.unwrap();

    let forgotten = store.forget_old_config_changes().await.unwrap();
    assert!(
        forgotten >= 3,
        "the older change rows go ({forgotten} went)"
    );
    assert_eq!(store.config_version().await.unwrap(), before);
    assert_eq!(
        store.forget_old_config_changes().await.unwrap(),
        0,
        "the newest row always stays"
    );

    let read = store.config_version().await.unwrap();
    store
        .set_template(&audit_at(t0()), practice_id, "help", "Call us tomorrow.")
        .await
        .unwrap();
    assert!(store.config_version().await.unwrap() > read);
}
