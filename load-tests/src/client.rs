//! The gateway as the load generator sees it: the admin API calls it needs (log in, create a
//! patient, start texting, read texting status, the audit log and the dev outbox; for readings:
//! alert ranges, a staff user on call, an integration token, posting readings, the alerts) and
//! signed inbound webhooks.
//!
//! The HTTP client never follows redirects and never uses a proxy, and a `localhost` target is
//! pinned to 127.0.0.1, so no request can leave the loopback interface. Tokens and bodies are
//! never printed; errors name the call and the status.

use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use webhooks::{CarrierMessageId, InboundSms, PhoneNumber, signature};

use crate::guard::Target;

/// The inbound SMS webhook path; the URL signed is the target's base URL plus this.
pub const SMS_PATH: &str = "/webhooks/twilio/sms";
/// A syntactically valid Twilio account sid for the synthetic webhooks.
const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";

/// A logged-in API session, or none for webhooks only.
#[derive(Clone)]
pub struct Gateway {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// A patient's texting status as the API shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct TextingView {
    pub status: String,
    pub attempts_left: i16,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PatientView {
    pub id: String,
}

/// One dev-outbox row, as far as the checks need it.
#[derive(Debug, Clone, Deserialize)]
pub struct OutboxRow {
    pub patient_id: Option<String>,
    pub body: String,
}

/// A recorded reading as `POST /v1/readings` answers it, as far as the checks need it.
#[derive(Debug, Clone, Deserialize)]
pub struct PostedReading {
    pub id: String,
    /// `normal`, `caution` or `critical`.
    pub status: String,
}

/// One alert as `GET /v1/alerts` lists it, as far as the checks need it.
#[derive(Debug, Clone, Deserialize)]
pub struct AlertRow {
    pub reading_id: String,
    /// What the alert text asks to reply (`ACK code`).
    pub code: String,
}

/// One signed webhook, ready to send (and to send again, for a deliberate repeat).
#[derive(Clone)]
pub struct SignedWebhook {
    pub sid: String,
    /// The form-encoded body.
    pub body: String,
    /// `X-Twilio-Signature`.
    pub signature: String,
}

/// The outcome of one request: the status, or `None` for a timeout or transport error, with a
/// short label for the report.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Option<u16>,
    pub label: String,
}

impl Gateway {
    /// A client for `target`, each request bounded by `timeout`.
    pub fn new(target: &Target, timeout: Duration, pool: usize) -> anyhow::Result<Gateway> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(pool);
        if let Some((name, addr)) = &target.pinned {
            builder = builder.resolve(name, *addr);
        }
        Ok(Gateway {
            http: builder.build().context("building the HTTP client")?,
            base: target.base.clone(),
            token: None,
        })
    }

    /// The base URL (webhooks are signed for it).
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authed(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Logs in and returns a client that sends the session token.
    pub async fn login(&self, username: &str, password: &str) -> anyhow::Result<Gateway> {
        let response = self
            .http
            .post(self.url("/v1/auth/login"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .context("POST /v1/auth/login")?;
        let status = response.status();
        if status != StatusCode::OK {
            bail!("logging in as {username:?} answered {status}");
        }
        let body: Value = response.json().await.context("login answer")?;
        let token = body["token"]
            .as_str()
            .context("login answer has no token")?
            .to_owned();
        Ok(Gateway {
            token: Some(token),
            ..self.clone()
        })
    }

    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
        expect: StatusCode,
    ) -> anyhow::Result<Value> {
        let response = self
            .authed(request)
            .send()
            .await
            .with_context(|| what.to_owned())?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status != expect {
            // API error bodies carry a code and a message, never patient data or tokens.
            let code = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
                .unwrap_or_default();
            bail!("{what} answered {status} {code}");
        }
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&body).with_context(|| format!("{what}: answer is not JSON"))
    }

    /// The logged-in user's first practice.
    pub async fn first_practice(&self) -> anyhow::Result<String> {
        let me = self
            .call(
                self.http.get(self.url("/v1/me")),
                "GET /v1/me",
                StatusCode::OK,
            )
            .await?;
        me["practice_ids"][0]
            .as_str()
            .map(str::to_owned)
            .context("the user has no practice; pass --practice-id")
    }

    pub async fn create_patient(
        &self,
        practice_id: &str,
        first: &str,
        last: &str,
        dob_iso: &str,
        mobile: &str,
    ) -> anyhow::Result<PatientView> {
        let value = self
            .call(
                self.http
                    .post(self.url(&format!("/v1/practices/{practice_id}/patients")))
                    .json(&json!({
                        "first_name": first, "last_name": last, "dob": dob_iso,
                        "mobile_phone": mobile, "programs": ["rpm"],
                    })),
                "POST /v1/practices/{id}/patients",
                StatusCode::CREATED,
            )
            .await?;
        Ok(serde_json::from_value(value)?)
    }

    pub async fn start_texting(&self, patient_id: &str) -> anyhow::Result<TextingView> {
        let value = self
            .call(
                self.http
                    .post(self.url(&format!("/v1/patients/{patient_id}/texting/start"))),
                "POST /v1/patients/{id}/texting/start",
                StatusCode::OK,
            )
            .await?;
        Ok(serde_json::from_value(value)?)
    }

    pub async fn texting(&self, patient_id: &str) -> anyhow::Result<TextingView> {
        let value = self
            .call(
                self.http
                    .get(self.url(&format!("/v1/patients/{patient_id}/texting"))),
                "GET /v1/patients/{id}/texting",
                StatusCode::OK,
            )
            .await?;
        Ok(serde_json::from_value(value)?)
    }

    /// The message ids (`target_id`) of the patient's `message.inbound` audit rows, every page.
    pub async fn inbound_audit_rows(&self, patient_id: &str) -> anyhow::Result<Vec<String>> {
        let items = self
            .every_page("/v1/audit", &[("patient_id", patient_id.to_owned())])
            .await?;
        Ok(items
            .iter()
            .filter(|item| item["action"] == "message.inbound")
            .map(|item| item["target_id"].as_str().unwrap_or_default().to_owned())
            .collect())
    }

    /// Every item of a cursor-paged list (`items`, `next_cursor`), 200 a page.
    async fn every_page(
        &self,
        path: &str,
        filter: &[(&str, String)],
    ) -> anyhow::Result<Vec<Value>> {
        let what = format!("GET {path}");
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let mut query: Vec<(&str, String)> = filter.to_vec();
            query.push(("limit", "200".to_owned()));
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let page = self
                .call(
                    self.http.get(self.url(path)).query(&query),
                    &what,
                    StatusCode::OK,
                )
                .await?;
            items.extend(page["items"].as_array().into_iter().flatten().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(items),
            }
        }
        bail!("{what}: more pages than any run can produce")
    }

    /// Every dev-outbox row (super admin; dev transport only).
    pub async fn outbox(&self) -> anyhow::Result<Vec<OutboxRow>> {
        let items = self.every_page("/v1/dev/outbox", &[]).await?;
        serde_json::from_value(Value::Array(items)).context("outbox page")
    }

    /// The logged-in user's customer.
    pub async fn customer_id(&self) -> anyhow::Result<String> {
        let me = self
            .call(
                self.http.get(self.url("/v1/me")),
                "GET /v1/me",
                StatusCode::OK,
            )
            .await?;
        me["customer_id"]
            .as_str()
            .map(str::to_owned)
            .context("the user belongs to no customer")
    }

    /// A client that sends `token` (an integration's API token) instead of a session.
    pub fn with_token(&self, token: String) -> Gateway {
        Gateway {
            token: Some(token),
            ..self.clone()
        }
    }

    /// Sets the practice's default alert ranges of `vital` for every patient (no change rule).
    pub async fn put_practice_ranges(
        &self,
        practice_id: &str,
        vital: &str,
        ranges: [f64; 4],
    ) -> anyhow::Result<()> {
        let [critical_low, normal_low, normal_high, critical_high] = ranges;
        self.call(
            self.http
                .put(self.url(&format!(
                    "/v1/practices/{practice_id}/reading-alerts/{vital}"
                )))
                .json(&json!({
                    "ranges": {
                        "critical_low": critical_low, "normal_low": normal_low,
                        "normal_high": normal_high, "critical_high": critical_high,
                    },
                    "change": null,
                    "apply_to": "all_patients",
                })),
            "PUT /v1/practices/{id}/reading-alerts/{vital}",
            StatusCode::OK,
        )
        .await?;
        Ok(())
    }

    /// Creates a staff user of the practice with a mobile phone; returns its id.
    pub async fn create_staff(
        &self,
        customer_id: &str,
        practice_id: &str,
        username: &str,
        password: &str,
        mobile: &str,
    ) -> anyhow::Result<String> {
        let value = self
            .call(
                self.http.post(self.url("/v1/users")).json(&json!({
                    "username": username, "password": password, "role": "staff",
                    "customer_id": customer_id, "practice_ids": [practice_id],
                    "first_name": "Load", "last_name": "OnCall", "title": "RN",
                    "mobile_phone": mobile,
                })),
                "POST /v1/users",
                StatusCode::CREATED,
            )
            .await?;
        value["id"]
            .as_str()
            .map(str::to_owned)
            .context("the created user has no id")
    }

    /// Replaces the practice's on-call schedule with `user_id` around the clock.
    pub async fn put_on_call_all_day(
        &self,
        practice_id: &str,
        user_id: &str,
    ) -> anyhow::Result<()> {
        self.call(
            self.http
                .put(self.url(&format!("/v1/practices/{practice_id}/on-call")))
                .json(&json!([{ "from": "00:00", "to": "00:00", "user_id": user_id }])),
            "PUT /v1/practices/{id}/on-call",
            StatusCode::OK,
        )
        .await?;
        Ok(())
    }

    /// Creates an integration API token with scope `readings:write`; returns the secret, which
    /// the caller must never print.
    pub async fn create_readings_token(
        &self,
        customer_id: &str,
        name: &str,
    ) -> anyhow::Result<String> {
        let value = self
            .call(
                self.http
                    .post(self.url(&format!("/v1/customers/{customer_id}/api-tokens")))
                    .json(&json!({ "name": name, "scopes": ["readings:write"] })),
                "POST /v1/customers/{id}/api-tokens",
                StatusCode::CREATED,
            )
            .await?;
        value["token"]
            .as_str()
            .map(str::to_owned)
            .context("the created API token has no token")
    }

    /// Posts one reading; never fails, the outcome says what happened, with the reading's id and
    /// classification when it was recorded (201).
    pub async fn post_reading(
        &self,
        patient_id: &str,
        vital: &str,
        value: f64,
        taken_at: &str,
    ) -> (Outcome, Option<PostedReading>) {
        let result = self
            .authed(self.http.post(self.url("/v1/readings")))
            .json(&json!({
                "patient_id": patient_id, "vital": vital, "value": value, "taken_at": taken_at,
            }))
            .send()
            .await;
        match result {
            Ok(response) => {
                let status = response.status().as_u16();
                let posted = if status == 201 {
                    response.json::<PostedReading>().await.ok()
                } else {
                    let _ = response.bytes().await;
                    None
                };
                (
                    Outcome {
                        status: Some(status),
                        label: status.to_string(),
                    },
                    posted,
                )
            }
            Err(e) => (
                Outcome {
                    status: None,
                    label: error_label(&e),
                },
                None,
            ),
        }
    }

    /// Every alert of the caller's practices (`GET /v1/alerts`, every page).
    pub async fn alerts(&self) -> anyhow::Result<Vec<AlertRow>> {
        let items = self.every_page("/v1/alerts", &[]).await?;
        serde_json::from_value(Value::Array(items)).context("alerts page")
    }

    /// Builds a signed inbound webhook from `from` to `to` with a fresh `MessageSid`.
    pub fn sign_inbound(
        &self,
        webhook_token: &str,
        from: &str,
        to: &str,
        text: &str,
    ) -> anyhow::Result<SignedWebhook> {
        sign_inbound_at(&self.base, webhook_token, from, to, text)
    }

    /// Posts a signed webhook; never fails, the outcome says what happened.
    pub async fn deliver(&self, webhook: &SignedWebhook) -> Outcome {
        let result = self
            .http
            .post(self.url(SMS_PATH))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(signature::HEADER, &webhook.signature)
            .body(webhook.body.clone())
            .send()
            .await;
        match result {
            Ok(response) => {
                let status = response.status().as_u16();
                // Read the (tiny) body so the connection goes back to the pool.
                let _ = response.bytes().await;
                Outcome {
                    status: Some(status),
                    label: status.to_string(),
                }
            }
            Err(e) => Outcome {
                status: None,
                label: error_label(&e),
            },
        }
    }
}

/// Builds an inbound webhook from `from` to `to` with a fresh `MessageSid`, signed for the server
/// whose public base URL is `base`.
pub fn sign_inbound_at(
    base: &str,
    webhook_token: &str,
    from: &str,
    to: &str,
    text: &str,
) -> anyhow::Result<SignedWebhook> {
    let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
    let sms = InboundSms {
        message_sid: CarrierMessageId::parse(&sid).context("generated sid")?,
        account_sid: ACCOUNT_SID.to_owned(),
        messaging_service_sid: None,
        from: PhoneNumber::parse_e164(from).context("sender number")?,
        to: PhoneNumber::parse_e164(to).context("practice number")?,
        body: text.to_owned(),
        num_media: 0,
        num_segments: 1,
        media: Vec::new(),
        opt_out_type: None,
    };
    let form = sms.to_form();
    let signature = signature::compute(webhook_token, &format!("{base}{SMS_PATH}"), &form);
    Ok(SignedWebhook {
        sid,
        body: webhooks::form::encode(&form),
        signature,
    })
}

/// A short name for a transport error, for the report.
fn error_label(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else {
        "transport".into()
    }
}
