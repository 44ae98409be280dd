//! The Twilio REST client: `POST {TWILIO_API_BASE}/2010-04-01/Accounts/{AccountSid}/Messages.json`
//! with Basic auth and the form fields `To`, `From` (or `MessagingServiceSid` for an `MG…`
//! sender), `Body` and `StatusCallback`.
//!
//! Answers are sorted into what the dispatcher needs: 201 with a message resource is
//! [`Accepted`]; HTTP 429, error 20429, any 5xx, 401/403 (credentials being fixed), a timeout or a
//! broken connection are [`SendError::Retryable`] (with `Retry-After` when sent); anything else,
//! notably 400 with 21211, 21610 or 21614, is [`SendError::Permanent`] with Twilio's code.
//! It must never log or return the body, the auth token or the Authorization header; Twilio's
//! error messages are safe to keep (they name the field, not the text).

use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use serde::Deserialize;
use url::Url;

use super::{Accepted, Carrier, FetchedStatus, OutboundSms, SendError};
use crate::settings::TwilioCredentials;

/// How long one send may take before it counts as a timeout (and is retried).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

pub struct TwilioCarrier {
    http: reqwest::Client,
    messages_url: Url,
    credentials: TwilioCredentials,
}

/// The part of Twilio's message resource the gateway keeps.
#[derive(Deserialize)]
struct MessageResource {
    sid: String,
    status: Option<String>,
}

/// The part of a fetched message resource the reconciliation needs.
#[derive(Deserialize)]
struct FetchedResource {
    status: String,
    error_code: Option<u32>,
}

/// Twilio's error body: `{"code", "message", "more_info", "status"}`.
#[derive(Deserialize)]
struct ErrorResource {
    code: Option<u32>,
    message: Option<String>,
}

impl TwilioCarrier {
    pub fn new(api_base: &Url, credentials: TwilioCredentials) -> anyhow::Result<TwilioCarrier> {
        Self::with_timeout(api_base, credentials, SEND_TIMEOUT)
    }

    /// As [`TwilioCarrier::new`] with another send timeout (tests use a short one).
    pub fn with_timeout(
        api_base: &Url,
        credentials: TwilioCredentials,
        timeout: Duration,
    ) -> anyhow::Result<TwilioCarrier> {
        let path = format!(
            "2010-04-01/Accounts/{}/Messages.json",
            credentials.account_sid
        );
        let base = if api_base.as_str().ends_with('/') {
            api_base.clone()
        } else {
            Url::parse(&format!("{api_base}/"))?
        };
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()?;
        Ok(TwilioCarrier {
            http,
            messages_url: base.join(&path)?,
            credentials,
        })
    }

    fn form<'a>(&self, sms: &'a OutboundSms) -> Vec<(&'static str, &'a str)> {
        let sender = if sms.from.starts_with("MG") {
            "MessagingServiceSid"
        } else {
            "From"
        };
        let mut form = vec![("To", sms.to.as_str()), (sender, sms.from.as_str())];
        form.push(("Body", sms.body.as_str()));
        if let Some(callback) = &sms.status_callback {
            form.push(("StatusCallback", callback.as_str()));
        }
        form
    }
}

#[async_trait]
impl Carrier for TwilioCarrier {
    fn name(&self) -> &'static str {
        "twilio"
    }

    async fn send(&self, sms: &OutboundSms) -> Result<Accepted, SendError> {
        let answer = self
            .http
            .post(self.messages_url.clone())
            .basic_auth(
                &self.credentials.account_sid,
                Some(self.credentials.auth_token.expose()),
            )
            .form(&self.form(sms))
            .send()
            .await;
        let response = match answer {
            Ok(response) => response,
            Err(e) => {
                let message = if e.is_timeout() {
                    "no answer before the send timeout".to_owned()
                } else {
                    // Without the URL: it carries the account SID, which is harmless, but the
                    // error chain is what an operator needs.
                    format!("request failed: {}", e.without_url())
                };
                return Err(SendError::Retryable {
                    code: None,
                    message,
                    retry_after: None,
                });
            }
        };
        let status = response.status();
        let retry_after = retry_after(&response);
        let body = response.bytes().await.unwrap_or_default();
        if status.is_success() {
            return match serde_json::from_slice::<MessageResource>(&body) {
                Ok(resource) => Ok(Accepted {
                    sid: resource.sid,
                    status: resource.status.unwrap_or_else(|| "queued".into()),
                }),
                // The message was probably taken; a retry could send it twice.
                Err(_) => Err(SendError::Permanent {
                    code: None,
                    message: format!(
                        "HTTP {} without a message resource; not retried to avoid a duplicate",
                        status.as_u16()
                    ),
                }),
            };
        }
        Err(classify(status, retry_after, &body))
    }

    async fn fetch_status(&self, sid: &str) -> Result<Option<FetchedStatus>, String> {
        if !(sid.len() == 34 && (sid.starts_with("SM") || sid.starts_with("MM"))) {
            return Err("not a Twilio message id".into());
        }
        // …/Messages.json → …/Messages/{sid}.json
        let url = self
            .messages_url
            .as_str()
            .trim_end_matches(".json")
            .to_owned()
            + &format!("/{sid}.json");
        let response = self
            .http
            .get(url)
            .basic_auth(
                &self.credentials.account_sid,
                Some(self.credentials.auth_token.expose()),
            )
            .send()
            .await
            .map_err(|e| format!("request failed: {}", e.without_url()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("HTTP {}", status.as_u16()));
        }
        let resource: FetchedResource = response
            .json()
            .await
            .map_err(|e| format!("unreadable message resource: {}", e.without_url()))?;
        Ok(Some(FetchedStatus {
            status: resource.status,
            error_code: resource.error_code,
        }))
    }
}

/// Sorts an error answer into permanent or retryable.
fn classify(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> SendError {
    let parsed = serde_json::from_slice::<ErrorResource>(body).ok();
    let code = parsed.as_ref().and_then(|e| e.code);
    let message = parsed
        .and_then(|e| e.message)
        .map(|m| m.chars().take(300).collect::<String>())
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    let code_permanent = code.is_some_and(webhooks::status::is_permanent_send_error);
    let retryable = !code_permanent
        && (webhooks::status::is_retryable_http(status.as_u16(), code)
            || status == StatusCode::UNAUTHORIZED
            || status == StatusCode::FORBIDDEN
            || status == StatusCode::REQUEST_TIMEOUT);
    if retryable {
        SendError::Retryable {
            code,
            message,
            retry_after,
        }
    } else {
        SendError::Permanent { code, message }
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let seconds: u64 = response
        .headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds.min(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: u32) -> Vec<u8> {
        format!(r#"{{"code": {code}, "message": "m", "more_info": "x", "status": 400}}"#)
            .into_bytes()
    }

    #[test]
    fn documented_permanent_codes_fail_at_once() {
        for code in [21211, 21610, 21614] {
            let e = classify(StatusCode::BAD_REQUEST, None, &error(code));
            assert!(
                matches!(e, SendError::Permanent { code: Some(c), .. } if c == code),
                "{e:?}"
            );
        }
    }

    #[test]
    fn a_429_is_never_permanent_and_keeps_its_retry_after() {
        let e = classify(
            StatusCode::TOO_MANY_REQUESTS,
            Some(Duration::from_secs(7)),
            &error(20429),
        );
        assert_eq!(
            e,
            SendError::Retryable {
                code: Some(20429),
                message: "m".into(),
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, None, b"not json"),
            SendError::Retryable { code: None, .. }
        ));
    }

    #[test]
    fn server_errors_and_credential_errors_are_retried_and_other_client_errors_are_not() {
        for status in [500, 502, 503, 401, 403] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(
                matches!(classify(status, None, b""), SendError::Retryable { .. }),
                "{status}"
            );
        }
        assert!(matches!(
            classify(StatusCode::BAD_REQUEST, None, &error(21602)),
            SendError::Permanent { .. }
        ));
    }

    #[test]
    fn a_messaging_service_sender_is_sent_as_messaging_service_sid() {
        let carrier = TwilioCarrier::new(
            &Url::parse("http://127.0.0.1:1").unwrap(),
            TwilioCredentials {
                account_sid: "AC0123456789abcdef0123456789abcdef".into(),
                auth_token: crate::settings::Secret::new("t"),
            },
        )
        .unwrap();
        assert_eq!(
            carrier.messages_url.as_str(),
            "http://127.0.0.1:1/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json"
        );
        let sms = OutboundSms {
            to: "+15555550123".into(),
            from: "MG0123456789abcdef0123456789abcdef".into(),
            body: "hi".into(),
            status_callback: None,
        };
        let form = carrier.form(&sms);
        assert_eq!(form[1].0, "MessagingServiceSid");
    }
}
