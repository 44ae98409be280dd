//! The dev transport: used when no Twilio credentials are set. It sends nothing; it answers like
//! the carrier would (a fresh `SM…` id, status `sent`), so the outbox row and the conversation
//! show the message as sent, and `GET /v1/dev/outbox` lists it.
//!
//! It must never be used when credentials are configured.

use async_trait::async_trait;

use super::{Accepted, Carrier, OutboundSms, SendError};

#[derive(Debug, Default)]
pub struct DevCarrier;

#[async_trait]
impl Carrier for DevCarrier {
    fn name(&self) -> &'static str {
        "dev"
    }

    async fn send(&self, _sms: &OutboundSms) -> Result<Accepted, SendError> {
        Ok(Accepted {
            sid: format!("SM{}", uuid::Uuid::new_v4().simple()),
            status: "sent".into(),
        })
    }
}
