//! The practice context kept in the process for inbound texts (`services::practice_context`): a
//! configuration change is seen by the very next text, whoever made it — this instance, another
//! instance on the same PostgreSQL, or SQL run beside the gateway.

use serde_json::json;
use uuid::Uuid;

use crate::accounts::PASSWORD;
use crate::both_backends;
use crate::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE_URL};
use crate::helpers::{Backend, PATIENT_NUMBER, PRACTICE_NUMBER, form, raw_sql, sql_uuid};
use crate::texting::{Clinic, clinic};

both_backends!(
    a_template_change_is_used_by_the_next_inbound_text,
    a_template_changed_outside_the_gateway_is_used_by_the_next_inbound_text,
);

const FIRST_HELP: &str = "Main Street Clinic: call us on weekdays. Reply STOP to opt out.";
const SECOND_HELP: &str = "Main Street Clinic: call us any day. Reply STOP to opt out.";

/// The practice id of the clinic's patient.
async fn practice_id(c: &Clinic) -> String {
    let (status, body) = c.staff_get(&c.patient_path("")).await;
    assert_eq!(status, 200, "{body}");
    body["practice_id"].as_str().unwrap().to_string()
}

async fn put_help(c: &Clinic, text: &str) {
    let root = c.app.login("root", PASSWORD).await;
    let pid = practice_id(c).await;
    let help = format!("/v1/practices/{pid}/templates/help");
    let (status, body) = c.app.put_as(&root, &help, json!({ "text": text })).await;
    assert_eq!(status, 200, "{body}");
}

/// The patient asks for help and gets the practice's help text, whatever it is now.
async fn help_reply(c: &Clinic) -> String {
    let already = c.sent_count();
    c.patient_texts("HELP").await;
    c.texts_sent(already, 1).await.remove(0)
}

async fn a_template_change_is_used_by_the_next_inbound_text(backend: Backend) {
    let c = clinic(backend).await;
    assert_eq!(c.staff_action("start").await.0, 200);
    c.texts_sent(0, 1).await;
    let default = help_reply(&c).await;
    assert!(default.contains("STOP"), "{default}");

    put_help(&c, FIRST_HELP).await;
    assert_eq!(help_reply(&c).await, FIRST_HELP);
    put_help(&c, SECOND_HELP).await;
    assert_eq!(help_reply(&c).await, SECOND_HELP);
    // Back to the default text when the practice's own is cleared.
    put_help(&c, "").await;
    assert_eq!(help_reply(&c).await, default);
}

async fn a_template_changed_outside_the_gateway_is_used_by_the_next_inbound_text(backend: Backend) {
    let c = clinic(backend).await;
    assert_eq!(c.staff_action("start").await.0, 200);
    c.texts_sent(0, 1).await;
    put_help(&c, FIRST_HELP).await;
    assert_eq!(help_reply(&c).await, FIRST_HELP);

    let pid = Uuid::parse_str(&practice_id(&c).await).unwrap();
    raw_sql(
        &c.app.db,
        &format!(
            "UPDATE practice_templates SET body = '{SECOND_HELP}' WHERE practice_id = {} AND name = 'help'",
            sql_uuid(&c.app.db, pid)
        ),
    )
    .await;
    assert_eq!(help_reply(&c).await, SECOND_HELP);
}

/// Two gateways on one PostgreSQL: a template saved through one is used by the other's very
/// next inbound text, though the other had the practice's context in its cache.
#[tokio::test]
async fn a_template_saved_on_one_instance_is_used_by_the_next_text_to_another() {
    let c = clinic(Backend::Postgres).await;
    let other = c
        .app
        .sibling_with(|settings| {
            c.fake.configure(settings);
            settings.sms_sender_mps = 100.try_into().unwrap();
        })
        .await;
    let other_address = other.address;
    let text_other = |body: &'static str| {
        let client = c.app.client.clone();
        async move {
            let sid = format!("SM{}", Uuid::new_v4().simple());
            let params = form(&[
                ("MessageSid", &sid),
                ("AccountSid", ACCOUNT_SID),
                ("From", PATIENT_NUMBER),
                ("To", PRACTICE_NUMBER),
                ("Body", body),
                ("NumSegments", "1"),
                ("NumMedia", "0"),
            ]);
            let path = "/webhooks/twilio/sms";
            let signature = webhooks::signature::compute(
                AUTH_TOKEN,
                &format!("{PUBLIC_BASE_URL}{path}"),
                &params,
            );
            let response = client
                .post(format!("http://{other_address}{path}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("X-Twilio-Signature", signature)
                .body(webhooks::form::encode(&params))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
    };

    assert_eq!(c.staff_action("start").await.0, 200);
    c.texts_sent(0, 1).await;
    put_help(&c, FIRST_HELP).await;
    text_other("HELP").await;
    assert_eq!(c.texts_sent(1, 1).await, [FIRST_HELP]);

    put_help(&c, SECOND_HELP).await;
    text_other("HELP").await;
    assert_eq!(c.texts_sent(2, 1).await, [SECOND_HELP]);
}
