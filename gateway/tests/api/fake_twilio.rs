//! A local stand-in for Twilio's Messages API (2010-04-01): it answers
//! `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` as Twilio does — 201 with a message
//! resource (numbers as strings, RFC 2822 dates), 400 with Twilio's error JSON, 401 without the
//! right Basic auth, 429 with `Retry-After`, 500, or a slow answer — and records every request with
//! the instant it arrived, so tests can measure pacing from the carrier's side.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use gateway::settings::{Secret, Settings, TwilioCredentials};
use serde_json::json;

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "test-auth-token-0001";
/// The URL Twilio would call the gateway at, in these tests.
pub const PUBLIC_BASE_URL: &str = "https://gateway.example.org";

/// How the fake answers one request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// 201 with a message resource, status `queued`.
    Created,
    /// 400 with Twilio's error JSON.
    Error { code: u32, message: &'static str },
    /// 429 with error 20429 and, when given, `Retry-After` in seconds.
    TooManyRequests { retry_after: Option<u64> },
    /// 500 with error 20500.
    ServerError,
    /// Waits, then answers 201.
    Slow(Duration),
    /// Never answers in time (an outage in which requests time out): waits two minutes, then
    /// answers 503; the message is not created.
    #[allow(dead_code)] // used by the `faults` tests, which share this file
    Hang,
    /// Calls the message's status callback first (signed, as Twilio does, over the
    /// `StatusCallback` URL, but sent to `deliver_to`, the gateway's real address) with
    /// `status`, and answers 201 only after the gateway has answered it: the race in which
    /// Twilio reports a status before the send's answer has been processed.
    CreatedAfterCallback {
        status: &'static str,
        deliver_to: String,
    },
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub to: String,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub body: String,
    pub status_callback: Option<String>,
    /// The sid the fake answered with, if it answered 201.
    pub sid: Option<String>,
}

#[derive(Default)]
struct Inner {
    received: Mutex<Vec<Received>>,
    /// Answers to give in order, before the per-recipient ones.
    script: Mutex<VecDeque<Answer>>,
    /// A fixed answer for one recipient (like Twilio's magic test numbers).
    by_to: Mutex<HashMap<String, Answer>>,
    /// The answer when neither the script nor the recipient decides; `Created` when unset.
    default: Mutex<Option<Answer>>,
    /// What fetching a message answers, by sid: `(status, error_code)`.
    statuses: Mutex<HashMap<String, (String, Option<u32>)>>,
    /// Sids fetched, in order.
    fetched: Mutex<Vec<String>>,
}

#[derive(Clone)]
pub struct FakeTwilio {
    pub address: SocketAddr,
    inner: Arc<Inner>,
}

impl FakeTwilio {
    pub async fn start() -> FakeTwilio {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route(
                "/2010-04-01/Accounts/{account}/Messages.json",
                post(create_message),
            )
            .route(
                "/2010-04-01/Accounts/{account}/Messages/{file}",
                axum::routing::get(fetch_message),
            )
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeTwilio { address, inner }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Points the gateway at this fake with test credentials and the public URL.
    pub fn configure(&self, settings: &mut Settings) {
        settings.twilio = Some(TwilioCredentials {
            account_sid: ACCOUNT_SID.into(),
            auth_token: Secret::new(AUTH_TOKEN),
        });
        settings.twilio_api_base = self.base_url().parse().unwrap();
        settings.public_base_url = PUBLIC_BASE_URL.parse().unwrap();
    }

    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.inner.script.lock().unwrap().extend(answers);
    }

    /// What every request gets from now on, unless the script or its recipient decides.
    #[allow(dead_code)] // used by the `faults` tests, which share this file
    pub fn answer_all(&self, answer: Answer) {
        *self.inner.default.lock().unwrap() = Some(answer);
    }

    pub fn answer_for(&self, to: &str, answer: Answer) {
        self.inner.by_to.lock().unwrap().insert(to.into(), answer);
    }

    /// What fetching message `sid` will answer from now on.
    pub fn set_status(&self, sid: &str, status: &str, error_code: Option<u32>) {
        self.inner
            .statuses
            .lock()
            .unwrap()
            .insert(sid.into(), (status.into(), error_code));
    }

    /// The sids the gateway asked about, in order.
    pub fn fetched(&self) -> Vec<String> {
        self.inner.fetched.lock().unwrap().clone()
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }
}

/// `GET …/Messages/{sid}.json`: the message resource with the status set for it.
async fn fetch_message(
    State(inner): State<Arc<Inner>>,
    Path((account, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers, &account) {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let Some(sid) = file.strip_suffix(".json") else {
        return twilio_error(StatusCode::NOT_FOUND, 20404, "Not Found");
    };
    inner.fetched.lock().unwrap().push(sid.to_owned());
    let Some((status, error_code)) = inner.statuses.lock().unwrap().get(sid).cloned() else {
        return twilio_error(StatusCode::NOT_FOUND, 20404, "Not Found");
    };
    axum::Json(json!({
        "account_sid": ACCOUNT_SID,
        "sid": sid,
        "status": status,
        "error_code": error_code,
        "error_message": null,
    }))
    .into_response()
}

/// Whether a request names the test account and carries its credentials (HTTP Basic).
fn authorized(headers: &HeaderMap, account: &str) -> bool {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"))
    );
    let credentials = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == expected.as_bytes());
    credentials && account == ACCOUNT_SID
}

fn form_value(form: &[(String, String)], name: &str) -> Option<String> {
    form.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
}

fn twilio_error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        })),
    )
        .into_response()
}

async fn create_message(
    State(inner): State<Arc<Inner>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    if !authorized(&headers, &account) {
        return twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let Some(to) = form_value(&form, "To") else {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21604,
            "A 'To' phone number is required.",
        );
    };
    let from = form_value(&form, "From");
    let messaging_service_sid = form_value(&form, "MessagingServiceSid");
    if from.is_some() == messaging_service_sid.is_some() {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            21603,
            "A 'From' phone number is required.",
        );
    }
    let Some(text) = form_value(&form, "Body") else {
        return twilio_error(StatusCode::BAD_REQUEST, 21602, "Message body is required.");
    };
    let answer = inner
        .script
        .lock()
        .unwrap()
        .pop_front()
        .or_else(|| inner.by_to.lock().unwrap().get(&to).cloned())
        .or_else(|| inner.default.lock().unwrap().clone())
        .unwrap_or(Answer::Created);
    let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    let created = matches!(
        answer,
        Answer::Created | Answer::Slow(_) | Answer::CreatedAfterCallback { .. }
    );
    // Recorded on arrival: a client that gives up on a slow answer was still heard.
    inner.received.lock().unwrap().push(Received {
        at,
        to: to.clone(),
        from: from.clone(),
        messaging_service_sid: messaging_service_sid.clone(),
        body: text.clone(),
        status_callback: form_value(&form, "StatusCallback"),
        sid: created.then(|| sid.clone()),
    });
    match answer {
        Answer::Created | Answer::Slow(_) | Answer::CreatedAfterCallback { .. } => {
            if let Answer::Slow(delay) = answer {
                tokio::time::sleep(delay).await;
            }
            if let Answer::CreatedAfterCallback { status, deliver_to } = &answer {
                let signed_url = form_value(&form, "StatusCallback").expect("a status callback");
                let params: Vec<(String, String)> = [
                    ("MessageSid", sid.as_str()),
                    ("SmsSid", sid.as_str()),
                    ("AccountSid", ACCOUNT_SID),
                    ("From", from.as_deref().unwrap_or_default()),
                    ("To", to.as_str()),
                    ("MessageStatus", status),
                    ("SmsStatus", status),
                    ("ApiVersion", "2010-04-01"),
                ]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
                let signature = webhooks::signature::compute(AUTH_TOKEN, &signed_url, &params);
                let answered = reqwest::Client::new()
                    .post(deliver_to)
                    .header("X-Twilio-Signature", signature)
                    .form(&params)
                    .send()
                    .await
                    .expect("the gateway answers the early callback");
                assert_eq!(answered.status(), 200, "early status callback refused");
            }
            let now = chrono::Utc::now().to_rfc2822();
            (
                StatusCode::CREATED,
                axum::Json(json!({
                    "account_sid": ACCOUNT_SID,
                    "api_version": "2010-04-01",
                    "body": text,
                    "date_created": now,
                    "date_sent": null,
                    "date_updated": now,
                    "direction": "outbound-api",
                    "error_code": null,
                    "error_message": null,
                    "from": from,
                    "messaging_service_sid": messaging_service_sid,
                    "num_media": "0",
                    "num_segments": "1",
                    "price": null,
                    "price_unit": "USD",
                    "sid": sid,
                    "status": "queued",
                    "subresource_uris": {
                        "media": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media.json")
                    },
                    "to": to,
                    "uri": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json"),
                })),
            )
                .into_response()
        }
        Answer::Error { code, message } => twilio_error(StatusCode::BAD_REQUEST, code, message),
        Answer::TooManyRequests { retry_after } => {
            let mut response =
                twilio_error(StatusCode::TOO_MANY_REQUESTS, 20429, "Too Many Requests");
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, seconds.into());
            }
            response
        }
        Answer::ServerError => twilio_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            20500,
            "Internal Server Error",
        ),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            twilio_error(
                StatusCode::SERVICE_UNAVAILABLE,
                20503,
                "Service Unavailable",
            )
        }
    }
}
