//! A fake carrier for the `readings` scenario: Twilio's Messages endpoint on a loopback address,
//! so that the gateway's real Twilio client sends its alert texts here and the load generator
//! sees the instant each one arrives.
//!
//! It speaks the wire format the gateway's client uses: `POST
//! /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded `To`, `From` (or
//! `MessagingServiceSid`), `Body` and `StatusCallback`, with Basic auth of the account SID and
//! auth token. A good request is answered 201 with a message resource (`sid` `SM` + 32 hex
//! digits, `status` `queued`); wrong credentials 401 (code 20003), another account's path 404
//! (20404), a missing `To` 400 (21604), a missing `Body` 400 (21602) — each with Twilio's error
//! body. Nothing is sent anywhere, no status callback is made, and bodies are never printed.
//!
//! The parsing and the answers are pure functions, unit-tested without a socket.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use serde_json::{Value, json};

/// One request the fake carrier took, with the instant it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub to: String,
    pub body: String,
}

/// The account the fake carrier accepts.
#[derive(Clone)]
pub struct Account {
    pub sid: String,
    pub auth_token: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("sid", &self.sid)
            .finish_non_exhaustive()
    }
}

/// Why a request was refused, as Twilio would say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: u32,
    pub message: &'static str,
}

/// A message the fake carrier accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub to: String,
    pub from: String,
    pub body: String,
}

/// Checks the path's account and the Basic credentials.
pub fn authorize(
    account: &Account,
    path_sid: &str,
    authorization: Option<&str>,
) -> Result<(), Refusal> {
    let unauthorized = Refusal {
        status: 401,
        code: 20003,
        message: "Authenticate",
    };
    let encoded = authorization
        .and_then(|h| h.strip_prefix("Basic "))
        .ok_or(unauthorized.clone())?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| unauthorized.clone())?;
    let decoded = String::from_utf8(decoded).map_err(|_| unauthorized.clone())?;
    let (user, password) = decoded.split_once(':').ok_or(unauthorized.clone())?;
    if user != account.sid || password != account.auth_token {
        return Err(unauthorized);
    }
    if path_sid != account.sid {
        return Err(Refusal {
            status: 404,
            code: 20404,
            message: "The requested resource was not found",
        });
    }
    Ok(())
}

/// Reads the form of a send request.
pub fn parse_message(form: &[u8]) -> Result<Message, Refusal> {
    let mut to = None;
    let mut from = None;
    let mut body = None;
    for (key, value) in url::form_urlencoded::parse(form) {
        match key.as_ref() {
            "To" => to = Some(value.into_owned()),
            "From" | "MessagingServiceSid" => from = Some(value.into_owned()),
            "Body" => body = Some(value.into_owned()),
            _ => {}
        }
    }
    let to = to.filter(|t| !t.is_empty()).ok_or(Refusal {
        status: 400,
        code: 21604,
        message: "A 'To' phone number is required.",
    })?;
    let from = from.filter(|f| !f.is_empty()).ok_or(Refusal {
        status: 400,
        code: 21603,
        message: "A 'From' phone number is required.",
    })?;
    let body = body.filter(|b| !b.is_empty()).ok_or(Refusal {
        status: 400,
        code: 21602,
        message: "Message body is required.",
    })?;
    Ok(Message { to, from, body })
}

/// A fresh message SID: `SM` and 32 hexadecimal digits.
pub fn message_sid() -> String {
    format!("SM{}", uuid::Uuid::new_v4().simple())
}

/// The 201 answer: Twilio's message resource.
pub fn resource(account: &Account, sid: &str, message: &Message) -> Value {
    json!({
        "sid": sid,
        "account_sid": account.sid,
        "to": message.to,
        "from": message.from,
        "body": message.body,
        "status": "queued",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "num_segments": "1",
        "num_media": "0",
        "price": null,
        "error_code": null,
        "error_message": null,
        "uri": format!("/2010-04-01/Accounts/{}/Messages/{sid}.json", account.sid),
    })
}

/// Twilio's error body.
pub fn error_body(refusal: &Refusal) -> Value {
    json!({
        "code": refusal.code,
        "message": refusal.message,
        "more_info": format!("https://www.twilio.com/docs/errors/{}", refusal.code),
        "status": refusal.status,
    })
}

#[derive(Clone)]
struct Shared {
    account: Arc<Account>,
    received: Arc<Mutex<Vec<Received>>>,
}

async fn messages(
    State(shared): State<Shared>,
    Path(path_sid): Path<String>,
    headers: HeaderMap,
    form: Bytes,
) -> Response {
    let at = Instant::now();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let accepted =
        authorize(&shared.account, &path_sid, authorization).and_then(|()| parse_message(&form));
    match accepted {
        Ok(message) => {
            let sid = message_sid();
            let answer = resource(&shared.account, &sid, &message);
            shared
                .received
                .lock()
                .expect("carrier lock")
                .push(Received {
                    at,
                    to: message.to,
                    body: message.body,
                });
            (StatusCode::CREATED, axum::Json(answer)).into_response()
        }
        Err(refusal) => (
            StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST),
            axum::Json(error_body(&refusal)),
        )
            .into_response(),
    }
}

/// A running fake carrier; it stops when dropped.
pub struct FakeCarrier {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeCarrier {
    /// Serves on `addr` (which the caller has checked is loopback).
    pub async fn start(addr: SocketAddr, account: Account) -> anyhow::Result<FakeCarrier> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the fake carrier on {addr}"))?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(messages))
            .with_state(Shared {
                account: Arc::new(account),
                received: Arc::clone(&received),
            });
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("load-tests: the fake carrier stopped: {e}");
            }
        });
        Ok(FakeCarrier {
            addr,
            received,
            task,
        })
    }

    /// Everything received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("carrier lock").clone()
    }
}

impl Drop for FakeCarrier {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        Account {
            sid: "AC0123456789abcdef0123456789abcdef".into(),
            auth_token: "fake-token".into(),
        }
    }

    fn basic(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    #[test]
    fn only_the_account_credentials_on_its_own_path_pass() {
        let a = account();
        let good = basic(&a.sid, &a.auth_token);
        assert_eq!(authorize(&a, &a.sid, Some(&good)), Ok(()));
        for bad in [
            None,
            Some("Bearer x".to_owned()),
            Some("Basic !!!".to_owned()),
            Some(basic(&a.sid, "wrong")),
            Some(basic("AC00000000000000000000000000000000", &a.auth_token)),
        ] {
            assert_eq!(
                authorize(&a, &a.sid, bad.as_deref()).unwrap_err().code,
                20003,
                "{bad:?}"
            );
        }
        let other = authorize(&a, "AC00000000000000000000000000000000", Some(&good));
        assert_eq!(other.unwrap_err().status, 404);
    }

    #[test]
    fn the_form_gives_to_from_and_body() {
        let m = parse_message(
            b"To=%2B15555559990&From=%2B15555550100&Body=Clinic%3A+Reply+ACK+K7Q2MX.&StatusCallback=x",
        )
        .unwrap();
        assert_eq!(m.to, "+15555559990");
        assert_eq!(m.from, "+15555550100");
        assert_eq!(m.body, "Clinic: Reply ACK K7Q2MX.");
        let service = parse_message(b"To=%2B1555&MessagingServiceSid=MG1&Body=x").unwrap();
        assert_eq!(service.from, "MG1");
        assert_eq!(parse_message(b"From=%2B1&Body=x").unwrap_err().code, 21604);
        assert_eq!(parse_message(b"To=%2B1&Body=x").unwrap_err().code, 21603);
        assert_eq!(parse_message(b"To=%2B1&From=%2B2").unwrap_err().code, 21602);
    }

    #[test]
    fn answers_look_like_twilio_s() {
        let sid = message_sid();
        assert_eq!(sid.len(), 34);
        assert!(sid.starts_with("SM") && sid[2..].chars().all(|c| c.is_ascii_hexdigit()));
        let m = Message {
            to: "+1".into(),
            from: "+2".into(),
            body: "b".into(),
        };
        let r = resource(&account(), &sid, &m);
        assert_eq!(r["sid"], sid.as_str());
        assert_eq!(r["status"], "queued");
        let e = error_body(&parse_message(b"").unwrap_err());
        assert_eq!(
            (e["code"].as_u64(), e["status"].as_u64()),
            (Some(21604), Some(400))
        );
    }

    #[tokio::test]
    async fn it_records_what_a_twilio_client_sends_and_refuses_bad_credentials() {
        let a = account();
        let fake = FakeCarrier::start("127.0.0.1:0".parse().unwrap(), a.clone())
            .await
            .unwrap();
        let url = format!(
            "http://{}/2010-04-01/Accounts/{}/Messages.json",
            fake.addr, a.sid
        );
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let form = [
            ("To", "+15555559990"),
            ("From", "+15555550100"),
            ("Body", "hi"),
        ];
        let answer = http
            .post(&url)
            .basic_auth(&a.sid, Some(&a.auth_token))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 201);
        let resource: Value = answer.json().await.unwrap();
        assert!(resource["sid"].as_str().unwrap().starts_with("SM"));
        let refused = http
            .post(&url)
            .basic_auth(&a.sid, Some("nope"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status().as_u16(), 401);
        let received = fake.received();
        assert_eq!(received.len(), 1);
        assert_eq!(
            (received[0].to.as_str(), received[0].body.as_str()),
            ("+15555559990", "hi")
        );
    }
}
