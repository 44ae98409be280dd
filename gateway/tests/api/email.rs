//! The email channel end to end: notifications written with their emails, sent by the
//! dispatcher over SMTP to a local server that keeps what arrived, retried when the server
//! refuses for now and given up when it refuses for good; and the text channel for the
//! notices that had only the feed before (unread reminders, texting status).

use chrono::Duration;
use gateway::settings::Secret;
use serde_json::{Value, json};

use crate::accounts::PASSWORD;
use crate::alerts::ward_with;
use crate::both_backends;
use crate::conversations::{colleague, enable_texting};
use crate::fake_smtp::{FakeSmtp, ReceivedEmail};
use crate::helpers::{Backend, eventually};
use crate::oncall::NURSE_MOBILE;
use crate::texting::{Clinic, clinic_with};

both_backends!(
    a_patient_text_is_emailed_to_staff_who_want_email_and_never_its_words,
    a_critical_reading_is_emailed_to_the_on_call_user_without_the_value,
    the_unread_reminder_goes_out_by_email_and_by_text_once,
    a_texting_status_change_is_texted_to_staff_who_want_texts,
    an_email_the_server_refuses_for_now_is_sent_again_later_and_a_permanent_refusal_is_final,
);

const NURSE_EMAIL: &str = "nurse@example.org";

async fn mail_clinic(backend: Backend) -> (Clinic, FakeSmtp) {
    let smtp = FakeSmtp::start().await;
    let url = smtp.url();
    let c = clinic_with(backend, move |s| s.smtp_url = Some(Secret::new(url))).await;
    let root = root(&c).await;
    let (status, body) = c
        .app
        .patch_as(
            &root,
            &format!("/v1/users/{}", c.staff_id),
            json!({"email": NURSE_EMAIL, "mobile_phone": NURSE_MOBILE}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    (c, smtp)
}

async fn root(c: &Clinic) -> String {
    c.app.super_admin("root-mail", PASSWORD).await;
    c.app.login("root-mail", PASSWORD).await
}

async fn practice_of(c: &Clinic) -> String {
    let (_, me) = c.staff_get("/v1/me").await;
    me["practice_ids"][0].as_str().unwrap().to_string()
}

async fn set_settings(c: &Clinic, token: &str, user_id: &str, settings: Value) {
    let practice = practice_of(c).await;
    let (status, body) = c
        .app
        .put_as(
            token,
            &format!("/v1/users/{user_id}/notification-settings?practice_id={practice}"),
            json!({ "settings": settings }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn emails_to(smtp: &FakeSmtp, address: &str, n: usize) -> Vec<ReceivedEmail> {
    let got = eventually(10, &format!("{n} emails to {address}"), || async {
        let got: Vec<ReceivedEmail> = smtp
            .received()
            .into_iter()
            .filter(|e| e.to.iter().any(|t| t == address))
            .collect();
        (got.len() >= n).then_some(got)
    })
    .await;
    assert_eq!(got.len(), n, "more emails than expected to {address}");
    got
}

async fn email_rows(c: &Clinic) -> Vec<Value> {
    c.app
        .store
        .list_emails(store::Page::first(200))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect()
}

async fn a_patient_text_is_emailed_to_staff_who_want_email_and_never_its_words(backend: Backend) {
    let (c, smtp) = mail_clinic(backend).await;
    enable_texting(&c).await;
    set_settings(
        &c,
        &c.staff,
        &c.staff_id,
        json!([{"kind": "new_patient_message", "enabled": true, "push": false, "email": true, "text": false}]),
    )
    .await;
    c.join_care_team(&c.staff_id).await;
    c.patient_texts("My chest hurts since Tuesday").await;

    let email = emails_to(&smtp, NURSE_EMAIL, 1).await.remove(0);
    assert_eq!(
        email.header("Subject").as_deref(),
        Some("Main Street Clinic: New patient message")
    );
    assert!(email.from.contains("gateway@localhost"), "{}", email.from);
    let body = email.body();
    assert!(body.contains("A patient sent a new message."), "{body}");
    for secret in ["chest", "Tuesday", "Pat", "Jones", "1961"] {
        assert!(!email.data.contains(secret), "{secret} in {}", email.data);
    }
    // Push is off: nothing in the feed for the new message.
    assert!(
        c.notifications()
            .await
            .iter()
            .all(|n| n["kind"] != "new_patient_message")
    );
    let rows = email_rows(&c).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    eventually(10, "the email recorded as sent", || async {
        (email_rows(&c).await[0]["state"] == "sent").then_some(())
    })
    .await;
}

async fn a_critical_reading_is_emailed_to_the_on_call_user_without_the_value(backend: Backend) {
    let smtp = FakeSmtp::start().await;
    let url = smtp.url();
    let w = ward_with(backend, move |s| s.smtp_url = Some(Secret::new(url))).await;
    let (status, body) = w
        .root_patch(
            &format!("/v1/users/{}", w.on_call),
            json!({"email": "oncall@example.org"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let reading = w.reading(187.0).await;
    assert_eq!(reading["status"], "critical", "{reading}");

    let email = emails_to(&smtp, "oncall@example.org", 1).await.remove(0);
    assert_eq!(
        email.header("Subject").as_deref(),
        Some("Main Street Clinic: Critical reading")
    );
    assert!(
        email
            .body()
            .contains("A critical reading needs urgent review.")
    );
    for secret in ["187", "pulse", "Pat", "Jones"] {
        assert!(!email.data.contains(secret), "{secret} in {}", email.data);
    }
}

async fn the_unread_reminder_goes_out_by_email_and_by_text_once(backend: Backend) {
    let (c, smtp) = mail_clinic(backend).await;
    enable_texting(&c).await;
    c.join_care_team(&c.staff_id).await;
    set_settings(
        &c,
        &c.staff,
        &c.staff_id,
        json!([
            {"kind": "new_patient_message", "enabled": true, "push": false, "email": false, "text": false},
            {"kind": "unread_message_reminder", "enabled": true, "push": false, "email": true, "text": true}
        ]),
    )
    .await;
    // A colleague on the care team with the reminder off hears nothing.
    let (other_id, other) = colleague(&c, "nurse-mail").await;
    c.join_care_team(&other_id).await;
    set_settings(
        &c,
        &other,
        &other_id,
        json!([{"kind": "unread_message_reminder", "enabled": false, "push": false, "email": false, "text": false}]),
    )
    .await;
    let before = c.sent_count();
    c.patient_texts("Is my appointment still on?").await;
    let remind = || gateway::services::conversations::send_unread_reminders(&c.app.state);
    c.app
        .clock
        .advance(Duration::hours(24) + Duration::minutes(1));
    assert_eq!(remind().await.unwrap(), 1);
    assert_eq!(remind().await.unwrap(), 0, "once per message");

    let email = emails_to(&smtp, NURSE_EMAIL, 1).await.remove(0);
    assert_eq!(
        email.header("Subject").as_deref(),
        Some("Main Street Clinic: Unread message reminder")
    );
    assert!(!email.data.contains("appointment"));
    let texts = eventually(10, "the reminder text", || async {
        let got: Vec<_> = c.app_texts_to(NURSE_MOBILE, before);
        (!got.is_empty()).then_some(got)
    })
    .await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("Main Street Clinic"), "{}", texts[0]);
    assert!(texts[0].contains("unread"), "{}", texts[0]);
    assert!(!texts[0].contains("appointment"));
    assert_eq!(email_rows(&c).await.len(), 1, "no email for the colleague");
}

async fn a_texting_status_change_is_texted_to_staff_who_want_texts(backend: Backend) {
    let (c, smtp) = mail_clinic(backend).await;
    set_settings(
        &c,
        &c.staff,
        &c.staff_id,
        json!([{"kind": "two_way_texting", "enabled": true, "push": true, "email": true, "text": true}]),
    )
    .await;
    let before = c.sent_count();
    assert_eq!(c.staff_action("start").await.0, 200);
    c.patient_texts("07/04/1961").await;
    // pending (staff started) and enabled (the patient verified): one text and one email each.
    let texts = eventually(10, "two status texts to the nurse", || async {
        let got = c.app_texts_to(NURSE_MOBILE, before);
        (got.len() >= 2).then_some(got)
    })
    .await;
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts.iter().any(|t| t.contains("changed to pending")),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.contains("changed to enabled")),
        "{texts:?}"
    );
    assert!(texts.iter().all(|t| !t.contains("1961")));
    let emails = emails_to(&smtp, NURSE_EMAIL, 2).await;
    assert!(emails.iter().all(|e| !e.data.contains("1961")));
    assert_eq!(
        c.notifications()
            .await
            .iter()
            .filter(|n| n["kind"] == "two_way_texting")
            .count(),
        2
    );
}

async fn an_email_the_server_refuses_for_now_is_sent_again_later_and_a_permanent_refusal_is_final(
    backend: Backend,
) {
    let (c, smtp) = mail_clinic(backend).await;
    set_settings(
        &c,
        &c.staff,
        &c.staff_id,
        json!([{"kind": "two_way_texting", "enabled": true, "push": false, "email": true, "text": false}]),
    )
    .await;
    smtp.refuse_next("451 4.3.0 try again later");
    assert_eq!(c.staff_action("start").await.0, 200);
    eventually(10, "the refusal recorded", || async {
        let rows = email_rows(&c).await;
        (rows.len() == 1 && rows[0]["state"] == "queued" && rows[0]["attempts"] == 1).then_some(())
    })
    .await;
    let row = &email_rows(&c).await[0];
    assert_eq!(row["last_error"], "the SMTP server answered 451");
    assert!(smtp.received().is_empty());
    // Not before the backoff (30 s) has passed on the gateway's clock.
    c.app.clock.advance(Duration::seconds(31));
    let email = emails_to(&smtp, NURSE_EMAIL, 1).await.remove(0);
    assert!(email.body().contains("texting status changed to pending"));
    eventually(10, "sent on the second attempt", || async {
        let rows = email_rows(&c).await;
        (rows[0]["state"] == "sent" && rows[0]["attempts"] == 2).then_some(())
    })
    .await;

    // 5xx: given up at once, never sent.
    smtp.refuse_next("550 5.1.1 mailbox unavailable");
    assert_eq!(c.staff_action("opt-out").await.0, 200);
    eventually(10, "the permanent refusal recorded", || async {
        let rows = email_rows(&c).await;
        (rows.len() == 2 && rows[0]["state"] == "failed").then_some(())
    })
    .await;
    let rows = email_rows(&c).await;
    assert_eq!(rows[0]["attempts"], 1);
    assert_eq!(rows[0]["last_error"], "the SMTP server answered 550");
    c.app.clock.advance(Duration::hours(5));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(smtp.received().len(), 1);
}
