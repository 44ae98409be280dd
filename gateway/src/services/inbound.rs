//! Inbound texts: record what a patient sent, exactly once per carrier message id, routed by `To`
//! to the practice and by `From` to its patient, and decide in the same transaction what to keep
//! and what to answer.
//!
//! The decision is a closure run by the store inside the transaction, with the patient's row
//! locked ([`store::Messaging::record_inbound`]). Today's decision ([`keep_body_if_enabled`])
//! keeps the body only for a patient whose texting is `enabled` and answers nothing: a text from a
//! patient who is verifying may be their date of birth, which must never be stored. The opt-in
//! state machine replaces it (see [`decide`]) without changing the transaction.
//!
//! Unknown senders and unknown practice numbers are recorded (without a body) and not answered.
//! Never log the body.

use chrono::{DateTime, Utc};
use store::{Audit, InboundContext, InboundDecider, InboundDecision, InboundOutcome, NewInbound};
use uuid::Uuid;
use webhooks::InboundSms;

use crate::http::AppState;

/// What happened to an inbound text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundReceipt {
    Recorded {
        message_id: Uuid,
        /// Whether the sender is a patient of the practice the text was sent to.
        known_sender: bool,
        replies: usize,
    },
    /// The carrier delivered this message before; nothing changed.
    Duplicate { message_id: Uuid },
}

/// Records an inbound text (signature already checked) and wakes the dispatcher if replies were
/// queued.
pub async fn receive_sms(
    state: &AppState,
    sms: InboundSms,
    client_addr: Option<String>,
) -> Result<InboundReceipt, store::StoreError> {
    let now = state.clock.now();
    let audit = Audit {
        user_id: None,
        client_addr,
        at: now,
    };
    let decider = decide(sms.body.clone(), now);
    let inbound = NewInbound {
        carrier: store::CARRIER_TWILIO.into(),
        carrier_sid: sms.message_sid.as_str().to_owned(),
        from_number: sms.from.as_str().to_owned(),
        to_number: sms.to.as_str().to_owned(),
        body: sms.body,
        num_segments: i32::try_from(sms.num_segments).unwrap_or(i32::MAX),
    };
    let receipt = match state.store.record_inbound(&audit, inbound, decider).await? {
        InboundOutcome::Recorded { message, enqueued } => {
            let known_sender = message.patient_id.is_some();
            let kind = match (message.practice_id, known_sender) {
                (None, _) => "unknown_number",
                (Some(_), false) => "unknown_sender",
                (Some(_), true) => "recorded",
            };
            metrics::counter!("gateway_inbound_messages_total", "kind" => kind).increment(1);
            if !enqueued.is_empty() {
                state.wake_dispatcher();
            }
            InboundReceipt::Recorded {
                message_id: message.id,
                known_sender,
                replies: enqueued.len(),
            }
        }
        InboundOutcome::Duplicate { message_id } => {
            metrics::counter!("gateway_inbound_messages_total", "kind" => "duplicate").increment(1);
            InboundReceipt::Duplicate { message_id }
        }
    };
    Ok(receipt)
}

/// The decision for one inbound text; the hook for the opt-in state machine.
///
/// To wire the state machine in, build the closure here from `body` and `now`: map
/// `ctx.patient` (its `texting` row and `dob`) to the domain's `TextingState`, call
/// `domain::texting::decide(state, Event::Inbound { body: &body }, dob, now)`, and return
/// `keep_body: handling.may_store_body()`, `texting: Some(new_state)` when it changed, and one
/// `NewOutbound` (priority `REPLY`, from `ctx.practice.sms_number` to the patient's number) per
/// reply. The store writes all of it in the transaction that records the message; a repeated
/// MessageSid never reaches the closure.
pub fn decide(body: String, now: DateTime<Utc>) -> InboundDecider {
    let _ = (body, now);
    Box::new(keep_body_if_enabled)
}

/// Keeps the body only for a patient whose texting is `enabled`; answers nothing.
pub fn keep_body_if_enabled(ctx: &InboundContext) -> InboundDecision {
    InboundDecision {
        keep_body: ctx
            .patient
            .as_ref()
            .is_some_and(|p| p.texting.status == "enabled"),
        texting: None,
        replies: Vec::new(),
    }
}
