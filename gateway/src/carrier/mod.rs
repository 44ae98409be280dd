//! Sending texts: the [`Carrier`] trait, the Twilio REST client ([`twilio`]), the dev transport
//! ([`dev`]) and per-number pacing ([`pacing`]).
//!
//! A carrier answers one send with [`Accepted`] or a [`SendError`] that says whether trying again
//! can help. It must never decide what happens to the outbox row (the dispatcher does), never
//! retry by itself (a retry would bypass the outbox's pacing and backoff), and never put a body,
//! a token or the Authorization header into an error or a log.

pub mod dev;
pub mod pacing;
pub mod twilio;

use std::time::Duration;

use async_trait::async_trait;
use types::MessageStatus;

/// Where Twilio posts inbound texts (the number's "A message comes in" webhook).
pub const INBOUND_WEBHOOK_PATH: &str = "/webhooks/twilio/sms";
/// Where Twilio posts delivery statuses: every send names it as its `StatusCallback`.
pub const STATUS_CALLBACK_PATH: &str = "/webhooks/twilio/status";

/// One text to send.
#[derive(Clone)]
pub struct OutboundSms {
    /// The recipient (E.164).
    pub to: String,
    /// The practice's number (E.164), or a Messaging Service SID (`MG…`).
    pub from: String,
    pub body: String,
    /// Where the carrier posts delivery status (our `/webhooks/twilio/status`).
    pub status_callback: Option<String>,
}

impl std::fmt::Debug for OutboundSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundSms")
            .field("body_chars", &self.body.chars().count())
            .finish_non_exhaustive()
    }
}

/// The carrier took the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The carrier's id of the message (`SM…`); status callbacks name it.
    pub sid: String,
    /// The carrier's first status (`queued`, or `accepted` with a Messaging Service).
    pub status: String,
}

impl Accepted {
    /// The first status, as the conversation message keeps it. A status the carrier never
    /// documented counts as `queued`: the carrier did take the text, and its status callbacks
    /// carry on from there.
    pub fn first_status(&self) -> MessageStatus {
        webhooks::MessageStatus::parse(&self.status).map_or(MessageStatus::Queued, Into::into)
    }
}

/// Why a send did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Trying again will not help (invalid number, opted out, not a mobile number, a refused
    /// request): the message fails at once with the carrier's code.
    #[error("refused by the carrier (code {code:?}): {message}")]
    Permanent { code: Option<u32>, message: String },
    /// Throttled (429), a server error (5xx), a timeout or a broken connection: retry later,
    /// not before `retry_after` when the carrier said so.
    #[error("temporary carrier failure (code {code:?}): {message}")]
    Retryable {
        code: Option<u32>,
        message: String,
        retry_after: Option<Duration>,
    },
}

impl SendError {
    pub fn code(&self) -> Option<u32> {
        match self {
            SendError::Permanent { code, .. } | SendError::Retryable { code, .. } => *code,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            SendError::Permanent { message, .. } | SendError::Retryable { message, .. } => message,
        }
    }
}

#[async_trait]
pub trait Carrier: Send + Sync + 'static {
    /// The name stored with each sent message (`twilio`, `dev`).
    fn name(&self) -> &'static str;

    async fn send(&self, sms: &OutboundSms) -> Result<Accepted, SendError>;

    /// The carrier's current status of a message it accepted (to settle messages whose status
    /// callbacks were lost). `Ok(None)` when the carrier cannot tell (the dev transport).
    async fn fetch_status(&self, _sid: &str) -> Result<Option<FetchedStatus>, String> {
        Ok(None)
    }
}

/// A message's status as the carrier reports it when asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedStatus {
    pub status: String,
    pub error_code: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(status: &str) -> Accepted {
        Accepted {
            sid: "SM0123456789abcdef0123456789abcdef".into(),
            status: status.into(),
        }
    }

    #[test]
    fn the_first_status_is_the_carriers_or_queued_when_it_is_unknown() {
        assert_eq!(accepted("queued").first_status(), MessageStatus::Queued);
        assert_eq!(accepted("accepted").first_status(), MessageStatus::Accepted);
        assert_eq!(accepted("Sent").first_status(), MessageStatus::Sent);
        assert_eq!(accepted("teleported").first_status(), MessageStatus::Queued);
    }
}
