//! What the fault tests arrange and check outside the gateway under test: a practice with verified
//! patients and a staff user written straight into the store, signed webhooks as Twilio sends
//! them, staff sends through the API, and counts read straight from the database.

use std::collections::HashMap;
use std::time::Duration;

use store::testing::TestStore;
use store::{Audit, NewUser, Role};
use uuid::Uuid;

use crate::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE_URL};
use crate::helpers::{
    acme_practice, items, new_patient, new_user, pg_client, raw_sql, send_json, sql_uuid,
    twilio_form,
};

pub const PRACTICE_NUMBER: &str = "+15555550100";
pub const STAFF: &str = "nurse";
pub const PASSWORD: &str = "n3w-password";
const SMS_PATH: &str = "/webhooks/twilio/sms";

/// A practice, its staff user and its verified (texting `enabled`) patients.
pub struct Clinic {
    pub customer_id: Uuid,
    pub practice_id: Uuid,
    pub staff_id: Uuid,
    /// `(patient id, mobile number)`.
    pub patients: Vec<(Uuid, String)>,
}

/// Writes a clinic with `patients` verified patients into the (migrated) database.
pub async fn clinic(db: &TestStore, patients: usize) -> Clinic {
    let store = db.store().await;
    let audit = Audit::system(chrono::Utc::now());
    let practice = acme_practice(store.as_ref(), &audit, PRACTICE_NUMBER).await;
    let hash = gateway::auth::password::Password::parse(PASSWORD)
        .unwrap()
        .hash();
    let nurse = NewUser {
        email: "nurse@example.org".into(),
        first_name: "Nora".into(),
        last_name: "Nurse".into(),
        title: "RN".into(),
        mobile_phone: Some("+15555559000".into()),
        auto_logout_minutes: 60,
        ..new_user(
            Some(practice.customer_id),
            STAFF,
            &hash,
            Role::Staff,
            vec![practice.id],
        )
    };
    let staff = store.create_user(&audit, nurse).await.unwrap();
    let mut created = Vec::new();
    for i in 0..patients {
        let number = format!("+1555555{:04}", 2000 + i);
        let new = new_patient(practice.id, &format!("Pat{i}"), "Jones", &number);
        let patient = store.create_patient(&audit, new).await.unwrap();
        created.push((patient.id, number));
    }
    raw_sql(
        db,
        &format!(
            "UPDATE patients SET texting_status = 'enabled' WHERE practice_id = {}",
            sql_uuid(db, practice.id)
        ),
    )
    .await;
    Clinic {
        customer_id: practice.customer_id,
        practice_id: practice.id,
        staff_id: staff.id,
        patients: created,
    }
}

/// How late a send may reach the carrier after its slot: its own request time, a new
/// connection on a loaded 2-core machine included. Pacing lost (each process pacing only
/// itself, or a burst when a carrier comes back) sends MPS+1 texts within half a second or
/// less, which this slack never hides.
pub const LATENESS: Duration = Duration::from_millis(300);

/// The shortest time that `rate + 1` consecutive arrivals span (`times` sorted).
pub fn tightest(times: &[std::time::Instant], rate: usize) -> Duration {
    times
        .windows(rate + 1)
        .map(|w| w[rate].duration_since(w[0]))
        .min()
        .unwrap_or(Duration::MAX)
}

/// A client whose requests give up after `timeout` (as Twilio's webhook requests do).
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder().timeout(timeout).build().unwrap()
}

/// A carrier message id for test message `n`.
pub fn sid(n: usize) -> String {
    format!("SM{n:032x}")
}

/// Posts an inbound text signed as Twilio signs it (for [`PUBLIC_BASE_URL`], with the auth
/// token). The HTTP status, or `None` when no answer came (refused, cut, timed out).
pub async fn post_inbound(
    client: &reqwest::Client,
    address: &str,
    sid: &str,
    from: &str,
    body: &str,
) -> Option<u16> {
    let params: Vec<(String, String)> = [
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("AccountSid", ACCOUNT_SID),
        ("From", from),
        ("To", PRACTICE_NUMBER),
        ("Body", body),
        ("NumSegments", "1"),
        ("NumMedia", "0"),
        ("ApiVersion", "2010-04-01"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let url = format!("http://{address}{SMS_PATH}");
    let signed = format!("{PUBLIC_BASE_URL}{SMS_PATH}");
    let response = twilio_form(client, &url, &signed, AUTH_TOKEN, &params)
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    let _ = response.bytes().await;
    Some(status)
}

/// One admin API call: status and JSON body (`Null` when there is none).
pub async fn api(
    address: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let request =
        client(Duration::from_secs(10)).request(method, format!("http://{address}{path}"));
    send_json(request, token, body).await
}

/// Logs in as `username` (the clinic's staff user, or a super admin made with [`PASSWORD`]).
pub async fn login_as(address: &str, username: &str) -> String {
    let credentials = serde_json::json!({"username": username, "password": PASSWORD});
    let (status, answer) = api(
        address,
        reqwest::Method::POST,
        "/v1/auth/login",
        None,
        Some(credentials),
    )
    .await;
    assert_eq!(status, 200, "login: {answer}");
    answer["token"].as_str().unwrap().to_string()
}

/// Logs in as the clinic's staff user.
pub async fn login(address: &str) -> String {
    login_as(address, STAFF).await
}

/// Sends a staff message to a patient through the API; panics unless it is accepted (201).
pub async fn staff_sends(address: &str, token: &str, patient_id: Uuid, body: &str) {
    let path = format!("/v1/patients/{patient_id}/messages");
    let body = serde_json::json!({ "body": body });
    let (status, answer) = api(
        address,
        reqwest::Method::POST,
        &path,
        Some(token),
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
}

/// A patient's conversation as the API shows it (newest first, up to 200 messages).
pub async fn conversation(address: &str, token: &str, patient_id: Uuid) -> Vec<serde_json::Value> {
    let path = format!("/v1/patients/{patient_id}/messages?limit=200");
    let (status, page) = api(address, reqwest::Method::GET, &path, Some(token), None).await;
    assert_eq!(status, 200, "messages: {page}");
    items(&page).clone()
}

/// Runs a query of two columns (text, count) against the database behind `db`.
pub async fn counts(db: &TestStore, sql: &str) -> HashMap<String, i64> {
    match db {
        TestStore::Postgres(pg) => pg_client(&pg.url)
            .await
            .query(sql, &[])
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect(),
        TestStore::Sqlite(lite) => {
            let conn = rusqlite::Connection::open(lite.dir.path().join("gateway.db")).unwrap();
            conn.busy_timeout(Duration::from_secs(10)).unwrap();
            let mut stmt = conn.prepare(sql).unwrap();
            stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        }
    }
}

/// How many times each inbound carrier id is stored.
pub async fn stored_inbound(db: &TestStore) -> HashMap<String, i64> {
    counts(
        db,
        "SELECT carrier_sid, count(*) FROM messages
         WHERE direction = 'inbound' AND carrier_sid IS NOT NULL GROUP BY carrier_sid",
    )
    .await
}

/// The answers each webhook got, in order (`None`: no answer).
pub type Answers = HashMap<String, Vec<Option<u16>>>;

/// Twilio's retries (`#rc=3&rp=all`): every webhook that never got a 200 is sent again, up to
/// three times, a moment apart (many at once, as Twilio retries each message on its own).
pub async fn retry_like_twilio(
    client: &reqwest::Client,
    address: &str,
    answers: &mut Answers,
    from_of: impl Fn(&str) -> String,
) {
    use futures::StreamExt;
    for _ in 0..3 {
        let pending: Vec<(String, String)> = answers
            .iter()
            .filter(|(_, got)| !got.contains(&Some(200)))
            .map(|(sid, _)| (sid.clone(), from_of(sid)))
            .collect();
        if pending.is_empty() {
            return;
        }
        let retried: Vec<(String, Option<u16>)> = futures::stream::iter(pending)
            .map(|(sid, from)| async move {
                let status = post_inbound(client, address, &sid, &from, "hello again").await;
                (sid, status)
            })
            .buffer_unordered(16)
            .collect()
            .await;
        for (sid, status) in retried {
            answers.get_mut(&sid).unwrap().push(status);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The checks every inbound fault test ends with: every webhook was answered 200 in the end
/// (Twilio's retries included), nothing answered 200 is lost or stored twice, nothing is stored
/// that was never sent, and no answer was a 500.
pub async fn assert_answered_once_each(db: &TestStore, answers: &Answers) {
    let never: Vec<_> = answers
        .iter()
        .filter(|(_, got)| !got.contains(&Some(200)))
        .collect();
    assert!(
        never.is_empty(),
        "never answered 200, even retried: {never:?}"
    );
    let stored = stored_inbound(db).await;
    let mut lost = Vec::new();
    for (sid, got) in answers {
        assert!(
            got.iter()
                .flatten()
                .all(|status| *status == 200 || *status == 503),
            "{sid} got {got:?}: only 200 and 503 are answers a store fault may give"
        );
        if got.contains(&Some(200)) && !stored.contains_key(sid) {
            lost.push(sid.clone());
        }
    }
    assert!(lost.is_empty(), "answered 200 but not stored: {lost:?}");
    let doubled: Vec<_> = stored.iter().filter(|(_, n)| **n != 1).collect();
    assert!(doubled.is_empty(), "stored more than once: {doubled:?}");
    let unknown: Vec<_> = stored
        .keys()
        .filter(|sid| !answers.contains_key(*sid))
        .collect();
    assert!(unknown.is_empty(), "stored but never sent: {unknown:?}");
}
