//! The carrier's webhooks (Twilio dialect): inbound texts and delivery status callbacks.
//!
//! Order of work, always: check `X-Twilio-Signature` against `PUBLIC_BASE_URL` + the path and
//! query exactly as received (403 before anything is read from the store), then parse (422
//! naming the field), then record durably, and only after the commit answer 200 with empty TwiML.
//! Replies never go in the TwiML: they are outbox rows.
//!
//! On a signature failure the URL variants tried are logged at warn (query content masked), so an
//! operator can see which public URL the gateway assumed; the token, the signature and the body
//! never are.

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use webhooks::{InboundSms, SignatureError, StatusCallback, signature, twiml};

use super::AppState;
use super::auth::ClientAddr;
use super::error::{ApiError, ErrorBody};

pub use crate::carrier::INBOUND_WEBHOOK_PATH as SMS_PATH;
pub use crate::carrier::STATUS_CALLBACK_PATH as STATUS_PATH;

/// Checks the signature of a webhook and returns its form pairs.
fn verified_form(
    state: &AppState,
    uri: &OriginalUri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, ApiError> {
    let params = webhooks::form::decode(body);
    let path_and_query = uri
        .0
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or_else(|| uri.0.path());
    let url = format!(
        "{}{}",
        state
            .settings
            .public_base_url
            .as_str()
            .trim_end_matches('/'),
        path_and_query
    );
    let header = headers
        .get(signature::HEADER)
        .and_then(|value| value.to_str().ok());
    match signature::validate(state.webhook_token.expose(), &url, &params, header) {
        Ok(()) => Ok(params),
        Err(error) => {
            let route = uri.0.path().to_owned();
            match &error {
                SignatureError::Missing => {
                    tracing::warn!(%route, "webhook refused: no X-Twilio-Signature header");
                }
                SignatureError::Mismatch { tried } => {
                    let tried: Vec<String> = tried.iter().map(|url| without_query(url)).collect();
                    tracing::warn!(
                        %route,
                        tried = ?tried,
                        "webhook refused: X-Twilio-Signature matches none of the URLs tried; \
                         PUBLIC_BASE_URL must be the URL the carrier calls"
                    );
                }
            }
            metrics::counter!(crate::telemetry::catalogue::WEBHOOK_SIGNATURE_FAILURES, "route" => route)
                .increment(1);
            Err(ApiError::Forbidden(
                "X-Twilio-Signature is missing or does not match this request".into(),
            ))
        }
    }
}

/// The URL with its query's content replaced by its length: the scheme, host, port and path are
/// what usually differ behind a proxy, and logs never carry query strings.
fn without_query(url: &str) -> String {
    match url.split_once('?') {
        Some((base, query)) => format!("{base}?<query of {} bytes>", query.len()),
        None => url.to_owned(),
    }
}

fn empty_twiml() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, twiml::CONTENT_TYPE)],
        twiml::EMPTY_RESPONSE,
    )
        .into_response()
}

fn client_addr(addr: ClientAddr) -> Option<String> {
    addr.0.map(|ip| ip.to_string())
}

/// A patient's text to a practice number. Recorded once per `MessageSid`; answered with empty
/// TwiML after the commit (replies go out through the outbox).
#[utoipa::path(
    post,
    path = "/webhooks/twilio/sms",
    tag = "carrier webhooks",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
                 description = "Twilio's inbound message form, signed with X-Twilio-Signature"),
    responses(
        (status = 200, description = "recorded (or recorded before)", content_type = "text/xml", body = String),
        (status = 403, description = "missing or wrong X-Twilio-Signature", body = ErrorBody),
        (status = 422, description = "a field Twilio always sends is missing or invalid", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn inbound_sms(
    State(state): State<AppState>,
    addr: ClientAddr,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = verified_form(&state, &uri, &headers, &body)?;
    let sms =
        InboundSms::from_form(&params).map_err(|e| ApiError::invalid(e.field(), e.to_string()))?;
    crate::services::inbound::receive_sms(&state, sms, client_addr(addr)).await?;
    Ok(empty_twiml())
}

/// A delivery status callback for a text the gateway sent.
#[utoipa::path(
    post,
    path = "/webhooks/twilio/status",
    tag = "carrier webhooks",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
                 description = "Twilio's status callback form, signed with X-Twilio-Signature"),
    responses(
        (status = 200, description = "applied, ignored as older, or unknown message", content_type = "text/xml", body = String),
        (status = 403, description = "missing or wrong X-Twilio-Signature", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
pub async fn status_callback(
    State(state): State<AppState>,
    addr: ClientAddr,
    uri: OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = verified_form(&state, &uri, &headers, &body)?;
    let callback = StatusCallback::from_form(&params)
        .map_err(|e| ApiError::invalid(e.field(), e.to_string()))?;
    crate::services::delivery::apply_status(&state, callback, client_addr(addr)).await?;
    Ok(empty_twiml())
}

#[cfg(test)]
mod tests {
    use super::without_query;

    #[test]
    fn a_logged_url_keeps_its_base_and_path_but_not_its_query() {
        assert_eq!(
            without_query("https://gw.example.org:443/webhooks/twilio/sms?name=Pat"),
            "https://gw.example.org:443/webhooks/twilio/sms?<query of 8 bytes>"
        );
        assert_eq!(
            without_query("https://gw.example.org/sms"),
            "https://gw.example.org/sms"
        );
    }
}
