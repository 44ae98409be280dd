//! The carrier's webhooks: signature first, then parse, then record durably, then answer; a
//! repeated MessageSid changes nothing; statuses never go backwards; 21610 opts out.

use serde_json::Value;
use store::{OutboxState, StoreError};
use types::{Channel, Direction, MessageStatus, TextingStatus};

use crate::both_backends;
use crate::fake_twilio::{AUTH_TOKEN, FakeTwilio, PUBLIC_BASE_URL};
use crate::helpers::{
    Backend, PATIENT_NUMBER, PRACTICE_NUMBER, ProxyMode, TcpToggleProxy, TestApp, error_message,
    eventually, form, fresh_db, postgres_address, practice_with_patient, spawn_app_configured,
    spawn_app_with, texting_status, url_via,
};

const SMS: &str = "/webhooks/twilio/sms";
const STATUS: &str = "/webhooks/twilio/status";
const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

both_backends!(
    a_text_from_an_enabled_patient_is_recorded_and_answered_with_empty_twiml,
    a_text_from_a_patient_who_is_verifying_is_recorded_without_its_body,
    a_webhook_with_a_missing_or_wrong_signature_is_refused_and_nothing_is_written,
    a_signature_for_the_gateways_own_address_is_refused_when_public_base_url_differs,
    a_signature_computed_independently_of_this_code_is_accepted,
    a_repeated_message_sid_answers_200_and_changes_nothing,
    a_text_from_an_unknown_sender_is_recorded_and_not_answered,
    a_text_to_a_number_no_practice_has_is_recorded,
    a_signed_form_without_from_gets_a_422_naming_the_field,
    a_late_status_never_moves_a_message_backwards,
    undelivered_in_a_callback_fails_the_message_with_its_code,
    error_21610_in_a_status_callback_opts_the_patient_out,
    a_callback_for_an_unknown_message_answers_200_and_changes_nothing,
);

async fn app_with_twilio(backend: Backend) -> (TestApp, FakeTwilio) {
    let fake = FakeTwilio::start().await;
    let app = spawn_app_configured(backend, |s| fake.configure(s)).await;
    (app, fake)
}

fn inbound(sid: &str, from: &str, to: &str, body: &str) -> Vec<(String, String)> {
    form(&[
        ("ToCountry", "US"),
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("Body", body),
        ("To", to),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT),
        ("From", from),
        ("ApiVersion", "2010-04-01"),
    ])
}

fn sid(n: u32) -> String {
    format!("SM{n:032x}")
}

async fn post_inbound(app: &TestApp, params: &[(String, String)]) -> reqwest::Response {
    app.post_signed(PUBLIC_BASE_URL, AUTH_TOKEN, SMS, params)
        .await
}

async fn post_status(app: &TestApp, params: &[(String, String)]) -> reqwest::Response {
    app.post_signed(PUBLIC_BASE_URL, AUTH_TOKEN, STATUS, params)
        .await
}

async fn assert_empty_twiml(response: reqwest::Response) {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/xml");
    assert_eq!(response.text().await.unwrap(), EMPTY_TWIML);
}

async fn message(app: &TestApp, sid: &str) -> Result<store::Message, StoreError> {
    app.store.find_message_by_carrier_sid("twilio", sid).await
}

async fn a_text_from_an_enabled_patient_is_recorded_and_answered_with_empty_twiml(
    backend: Backend,
) {
    let (app, _fake) = app_with_twilio(backend).await;
    let (practice_id, patient_id) = practice_with_patient(&app, "enabled").await;
    let response = post_inbound(
        &app,
        &inbound(
            &sid(1),
            PATIENT_NUMBER,
            PRACTICE_NUMBER,
            "My reading was high",
        ),
    )
    .await;
    assert_empty_twiml(response).await;
    let stored = message(&app, &sid(1)).await.unwrap();
    assert_eq!(stored.patient_id, Some(patient_id));
    assert_eq!(stored.practice_id, Some(practice_id));
    assert_eq!(stored.direction, Direction::Inbound);
    assert_eq!(stored.channel, Channel::Sms);
    assert_eq!(stored.body.as_deref(), Some("My reading was high"));
    assert_eq!(stored.author_user_id, None);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let recorded = crate::monitoring::metric_value(
        &metrics,
        "gateway_inbound_messages_total{kind=\"recorded\"}",
    );
    assert!(recorded >= Some(1.0), "{metrics}");
}

async fn a_text_from_a_patient_who_is_verifying_is_recorded_without_its_body(backend: Backend) {
    let (app, _fake) = app_with_twilio(backend).await;
    practice_with_patient(&app, "pending").await;
    let response = post_inbound(
        &app,
        &inbound(&sid(2), PATIENT_NUMBER, PRACTICE_NUMBER, "07/04/1961"),
    )
    .await;
    assert_empty_twiml(response).await;
    let stored = message(&app, &sid(2)).await.unwrap();
    assert!(stored.redacted);
    assert_eq!(stored.body, None, "a date of birth is never stored");
}

async fn a_webhook_with_a_missing_or_wrong_signature_is_refused_and_nothing_is_written(
    backend: Backend,
) {
    let (app, _fake) = app_with_twilio(backend).await;
    practice_with_patient(&app, "enabled").await;
    let params = inbound(&sid(3), PATIENT_NUMBER, PRACTICE_NUMBER, "hello");
    let wrong_token =
        webhooks::signature::compute("not-the-token", &format!("{PUBLIC_BASE_URL}{SMS}"), &params);
    let mut tampered = params.clone();
    tampered[5].1 = "hello, changed".into();
    let good_for_original =
        webhooks::signature::compute(AUTH_TOKEN, &format!("{PUBLIC_BASE_URL}{SMS}"), &params);
    for (params, signature) in [
        (&params, None),
        (&params, Some("")),
        (&params, Some(wrong_token.as_str())),
        (&tampered, Some(good_for_original.as_str())),
    ] {
        let response = app.post_webhook(SMS, params, signature).await;
        assert_eq!(response.status(), 403, "{signature:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "forbidden");
    }
    let response = app.post_webhook(STATUS, &params, None).await;
    assert_eq!(response.status(), 403);
    assert!(matches!(
        message(&app, &sid(3)).await,
        Err(StoreError::NotFound)
    ));
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let refused = crate::monitoring::metric_value(
        &metrics,
        "gateway_webhook_signature_failures_total{route=\"/webhooks/twilio/sms\"}",
    );
    assert!(refused >= Some(4.0), "{metrics}");
}

async fn a_signature_for_the_gateways_own_address_is_refused_when_public_base_url_differs(
    backend: Backend,
) {
    let (app, _fake) = app_with_twilio(backend).await;
    practice_with_patient(&app, "enabled").await;
    let params = inbound(&sid(4), PATIENT_NUMBER, PRACTICE_NUMBER, "hello");
    // Signed for the address the request really reached, not for PUBLIC_BASE_URL.
    let local = format!("http://{}", app.address);
    let response = app.post_signed(&local, AUTH_TOKEN, SMS, &params).await;
    assert_eq!(response.status(), 403);
    // The query string is part of what is signed, exactly as received.
    let path = format!("{SMS}?practice=main");
    let signed_without_query =
        webhooks::signature::compute(AUTH_TOKEN, &format!("{PUBLIC_BASE_URL}{SMS}"), &params);
    let response = app
        .post_webhook(&path, &params, Some(&signed_without_query))
        .await;
    assert_eq!(response.status(), 403);
    let response = app
        .post_signed(PUBLIC_BASE_URL, AUTH_TOKEN, &path, &params)
        .await;
    assert_empty_twiml(response).await;
}

/// The signature below was computed with Python's `hmac` module, not with this code, over
/// `https://gateway.example.org/webhooks/twilio/sms?practice=main` and the sorted pairs, with
/// the token `fixture-auth-token-12345`: it guards against a bug that signs and checks alike.
async fn a_signature_computed_independently_of_this_code_is_accepted(backend: Backend) {
    let app = spawn_app_configured(backend, |s| {
        s.twilio = Some(gateway::settings::TwilioCredentials {
            account_sid: ACCOUNT.into(),
            auth_token: gateway::settings::Secret::new("fixture-auth-token-12345"),
        });
        s.public_base_url = PUBLIC_BASE_URL.parse().unwrap();
    })
    .await;
    let sid = "SM0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    let params = form(&[
        ("MessageSid", sid),
        ("SmsMessageSid", sid),
        ("AccountSid", ACCOUNT),
        ("From", "+15555550123"),
        ("To", "+15555550100"),
        ("Body", "Hello from the fixture & co"),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
        ("FromCity", "SPRINGFIELD"),
    ]);
    let response = app
        .post_webhook(
            &format!("{SMS}?practice=main"),
            &params,
            Some("5XK7nGiFbBuOY25fvxkGrpr+V18="),
        )
        .await;
    assert_empty_twiml(response).await;
    assert!(message(&app, sid).await.is_ok());
}

async fn a_repeated_message_sid_answers_200_and_changes_nothing(backend: Backend) {
    let (app, _fake) = app_with_twilio(backend).await;
    practice_with_patient(&app, "enabled").await;
    let params = inbound(&sid(5), PATIENT_NUMBER, PRACTICE_NUMBER, "first");
    assert_empty_twiml(post_inbound(&app, &params).await).await;
    let first = message(&app, &sid(5)).await.unwrap();
    app.clock.advance(chrono::Duration::minutes(1));
    assert_empty_twiml(post_inbound(&app, &params).await).await;
    let again = inbound(&sid(5), PATIENT_NUMBER, PRACTICE_NUMBER, "a different body");
    assert_empty_twiml(post_inbound(&app, &again).await).await;
    assert_eq!(message(&app, &sid(5)).await.unwrap(), first);
}

async fn a_text_from_an_unknown_sender_is_recorded_and_not_answered(backend: Backend) {
    let (app, fake) = app_with_twilio(backend).await;
    let (practice_id, _) = practice_with_patient(&app, "enabled").await;
    let response = post_inbound(
        &app,
        &inbound(&sid(6), "+15555550999", PRACTICE_NUMBER, "who is this?"),
    )
    .await;
    assert_empty_twiml(response).await;
    let stored = message(&app, &sid(6)).await.unwrap();
    assert_eq!(stored.practice_id, Some(practice_id));
    assert_eq!(stored.patient_id, None);
    let outbox = app.store.list_outbox(store::Page::first(10)).await.unwrap();
    assert!(
        outbox.items.is_empty(),
        "nothing is queued for an unknown sender"
    );
    assert!(fake.received().is_empty());
}

async fn a_text_to_a_number_no_practice_has_is_recorded(backend: Backend) {
    let (app, _fake) = app_with_twilio(backend).await;
    practice_with_patient(&app, "enabled").await;
    let response = post_inbound(
        &app,
        &inbound(&sid(7), PATIENT_NUMBER, "+15555550777", "hello"),
    )
    .await;
    assert_empty_twiml(response).await;
    let stored = message(&app, &sid(7)).await.unwrap();
    assert_eq!(stored.practice_id, None);
    assert_eq!(stored.patient_id, None);
    assert_eq!(stored.body, None);
}

async fn a_signed_form_without_from_gets_a_422_naming_the_field(backend: Backend) {
    let (app, _fake) = app_with_twilio(backend).await;
    let params: Vec<_> = inbound(&sid(8), PATIENT_NUMBER, PRACTICE_NUMBER, "hi")
        .into_iter()
        .filter(|(name, _)| name != "From")
        .collect();
    let response = post_inbound(&app, &params).await;
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert!(error_message(&body).starts_with("From"), "{body}");
}

/// Queues one text to the patient and waits until the dispatcher sent it; returns its sid.
pub async fn sent_text(
    app: &TestApp,
    practice_id: uuid::Uuid,
    patient_id: uuid::Uuid,
) -> (uuid::Uuid, String) {
    let audit = store::Audit::system(app.state.clock.now());
    let queued = gateway::services::enqueue_sms(
        &app.state,
        &audit,
        store::NewOutbound {
            practice_id: Some(practice_id),
            patient_id: Some(patient_id),
            from_number: PRACTICE_NUMBER.into(),
            to_number: PATIENT_NUMBER.into(),
            body: "Your appointment is tomorrow".into(),
            priority: store::priority::ROUTINE,
            record_message: true,
            author_user_id: None,
        },
    )
    .await
    .unwrap();
    let sid = eventually(10, "the text to be sent", || async {
        let row = app.store.get_outbound(queued.id).await.unwrap();
        (row.state == OutboxState::Sent).then(|| row.carrier_sid.unwrap())
    })
    .await;
    (queued.id, sid)
}

fn callback(sid: &str, status: &str, error_code: Option<&str>) -> Vec<(String, String)> {
    let mut params = form(&[
        ("SmsSid", sid),
        ("SmsStatus", status),
        ("MessageStatus", status),
        ("To", PATIENT_NUMBER),
        ("MessageSid", sid),
        ("AccountSid", ACCOUNT),
        ("From", PRACTICE_NUMBER),
        ("ApiVersion", "2010-04-01"),
    ]);
    if let Some(code) = error_code {
        params.push(("ErrorCode".into(), code.into()));
    }
    params
}

async fn a_late_status_never_moves_a_message_backwards(backend: Backend) {
    let (app, _fake) = app_with_twilio(backend).await;
    let (practice_id, patient_id) = practice_with_patient(&app, "enabled").await;
    let (outbox_id, sid) = sent_text(&app, practice_id, patient_id).await;
    for status in ["delivered", "sent", "sending"] {
        assert_empty_twiml(post_status(&app, &callback(&sid, status, None)).await).await;
    }
    let row = app.store.get_outbound(outbox_id).await.unwrap();
    assert_eq!(row.carrier_status.as_deref(), Some("delivered"));
    assert_eq!(row.state, OutboxState::Sent);
    let conversation = app.message_of(&row).await;
    assert_eq!(conversation.status, MessageStatus::Delivered);
}

async fn undelivered_in_a_callback_fails_the_message_with_its_code(backend: Backend) {
    let (app, _fake) = app_with_twilio(backend).await;
    let (practice_id, patient_id) = practice_with_patient(&app, "enabled").await;
    let (outbox_id, sid) = sent_text(&app, practice_id, patient_id).await;
    assert_empty_twiml(post_status(&app, &callback(&sid, "undelivered", Some("30003"))).await)
        .await;
    // A delivered that arrives after the outcome does not undo it.
    assert_empty_twiml(post_status(&app, &callback(&sid, "delivered", None)).await).await;
    let row = app.store.get_outbound(outbox_id).await.unwrap();
    assert_eq!(row.state, OutboxState::Failed, "undelivered is not sent");
    assert_eq!(row.error_code, Some(30003));
    let conversation = app.message_of(&row).await;
    assert_eq!(conversation.status, MessageStatus::Undelivered);
    assert_eq!(conversation.error_code, Some(30003));
    assert_eq!(
        texting_status(&app, patient_id).await,
        TextingStatus::Enabled
    );
}

async fn error_21610_in_a_status_callback_opts_the_patient_out(backend: Backend) {
    let (app, _fake) = app_with_twilio(backend).await;
    let (practice_id, patient_id) = practice_with_patient(&app, "enabled").await;
    let (outbox_id, sid) = sent_text(&app, practice_id, patient_id).await;
    assert_empty_twiml(post_status(&app, &callback(&sid, "failed", Some("21610"))).await).await;
    assert_eq!(
        texting_status(&app, patient_id).await,
        TextingStatus::OptedOut
    );
    let row = app.store.get_outbound(outbox_id).await.unwrap();
    assert_eq!(row.state, OutboxState::Failed);
    assert_eq!(row.error_code, Some(21610));
    let audit = app
        .store
        .list_audit(store::AuditFilter {
            patient_id: Some(patient_id),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|r| r.action == "patient.texting.carrier_opt_out")
    );
}

async fn a_callback_for_an_unknown_message_answers_200_and_changes_nothing(backend: Backend) {
    let (app, _fake) = app_with_twilio(backend).await;
    let (_, patient_id) = practice_with_patient(&app, "enabled").await;
    let response = post_status(&app, &callback(&sid(99), "failed", Some("21610"))).await;
    assert_empty_twiml(response).await;
    assert_eq!(
        texting_status(&app, patient_id).await,
        TextingStatus::Enabled
    );
}

// PostgreSQL only.

#[tokio::test]
async fn postgres_two_identical_webhooks_at_once_record_one_message_and_both_get_200() {
    let (app, _fake) = app_with_twilio(Backend::Postgres).await;
    practice_with_patient(&app, "enabled").await;
    let params = inbound(&sid(10), PATIENT_NUMBER, PRACTICE_NUMBER, "at once");
    let (a, b, c) = tokio::join!(
        post_inbound(&app, &params),
        post_inbound(&app, &params),
        post_inbound(&app, &params)
    );
    for response in [a, b, c] {
        assert_empty_twiml(response).await;
    }
    let stored = message(&app, &sid(10)).await.unwrap();
    assert_eq!(stored.body.as_deref(), Some("at once"));
}

#[tokio::test]
async fn postgres_a_bad_signature_is_refused_without_touching_the_store() {
    let fake = FakeTwilio::start().await;
    let db = fresh_db(Backend::Postgres).await;
    let proxy = TcpToggleProxy::start(postgres_address()).await;
    let via_proxy = url_via(&db.url(), proxy.address);
    let app = spawn_app_with(db, |s| fake.configure(s), via_proxy).await;
    proxy.set(ProxyMode::Closed);
    let params = inbound(&sid(11), PATIENT_NUMBER, PRACTICE_NUMBER, "hello");
    let response = app.post_webhook(SMS, &params, Some("bm9wZQ==")).await;
    assert_eq!(response.status(), 403, "refused before the store is asked");
    // A correctly signed one needs the store, which is down: 503, so the carrier retries.
    let response = post_inbound(&app, &params).await;
    assert_eq!(response.status(), 503);
}
