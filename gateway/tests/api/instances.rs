//! Claims and instances: the texts a gone gateway instance had claimed are sent again well within
//! their lease and show as `recovered` in the conversation; those of an instance that still runs
//! are left alone. (The same against the real binary and `kill -9`: the `faults` tests.)

use chrono::Duration;
use gateway::clock::Clock;
use store::{Audit, NewOutbound, OutboxState, priority};
use uuid::Uuid;

use crate::both_backends;
use crate::helpers::{Backend, PATIENT_NUMBER, PRACTICE_NUMBER, eventually, items, update_patient};
use crate::texting::clinic;

both_backends!(the_texts_a_gone_instance_claimed_go_out_again_at_once_and_show_as_recovered);

async fn the_texts_a_gone_instance_claimed_go_out_again_at_once_and_show_as_recovered(
    backend: Backend,
) {
    let clinic = clinic(backend).await;
    let app = &clinic.app;
    let patient_id: Uuid = clinic.patient.parse().unwrap();
    update_patient(&app.db, "texting_status = 'enabled'", patient_id).await;
    let practice_id = app
        .store
        .get_patient(&Audit::system(app.clock.now()), patient_id)
        .await
        .unwrap()
        .practice_id;
    // Due an hour from now, so this gateway's dispatcher leaves it to the other instance.
    let later = app.clock.now() + Duration::hours(1);
    let queued = app
        .store
        .enqueue_sms(
            &Audit::system(later),
            NewOutbound {
                practice_id: Some(practice_id),
                patient_id: Some(patient_id),
                from_number: PRACTICE_NUMBER.into(),
                to_number: PATIENT_NUMBER.into(),
                body: "Your results are in".into(),
                priority: priority::ROUTINE,
                record_message: true,
                author_user_id: None,
            },
        )
        .await
        .unwrap();
    let other = app.db.store().await;
    other.announce_instance().await.unwrap();
    let claimed = other
        .claim_outbound(store::ClaimRequest {
            worker: other.instance_id().to_owned(),
            now: later,
            lease: Duration::seconds(60),
            limit: 10,
            sender_interval: Duration::milliseconds(10),
            horizon: Duration::seconds(1),
        })
        .await
        .unwrap();
    assert_eq!(claimed.sends.len(), 1);

    // A second later, well within the lease: the other instance runs, so its claim holds.
    app.clock.set(later + Duration::seconds(1));
    assert_eq!(
        gateway::workers::claims::release_gone(&app.state)
            .await
            .unwrap(),
        0
    );
    app.wake_dispatcher();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        app.store.get_outbound(queued.id).await.unwrap().state,
        OutboxState::Sending
    );
    assert!(clinic.fake.received().is_empty());

    // It dies: its claim is released at once and the text goes out again, marked.
    drop(other);
    eventually(10, "the gone instance's claim to be released", || async {
        let released = gateway::workers::claims::release_gone(&app.state)
            .await
            .unwrap();
        (released > 0).then_some(())
    })
    .await;
    let sent = eventually(10, "the text to be sent again", || async {
        let row = app.store.get_outbound(queued.id).await.unwrap();
        (row.state == OutboxState::Sent).then_some(row)
    })
    .await;
    assert_eq!(sent.recovered, 1);
    assert_eq!(clinic.fake.received().len(), 1);

    // The clock moved on an hour: the session idled out.
    let staff = app.login("nurse", crate::accounts::PASSWORD).await;
    let (status, page) = app
        .get_as(&staff, &format!("/v1/patients/{patient_id}/messages"))
        .await;
    assert_eq!(status, 200, "{page}");
    let message = items(&page)
        .iter()
        .find(|m| m["body"] == "Your results are in")
        .expect("the text is in the conversation");
    assert_eq!(message["recovered"], true);
    assert_eq!(message["direction"], "outbound");
}
