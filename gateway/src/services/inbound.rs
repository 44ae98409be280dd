//! Inbound texts: record what a patient sent, exactly once per carrier message id, routed by `To`
//! to the practice and by `From` to its patient, and decide in the same transaction what to keep
//! and what to answer.
//!
//! The decision is a closure run by the store inside the transaction, with the patient's row
//! locked ([`store::Inbound::record_inbound`]): the opt-in state machine
//! ([`texting::inbound_decider`]) decides whether the body may be kept (never while the patient
//! verifies: it may be their date of birth), the new texting state, the replies and the staff
//! notifications.
//!
//! Unknown senders and unknown practice numbers are recorded (without a body) and not answered.
//! Never log the body.

use store::{Audit, InboundOutcome, NewInbound};
use uuid::Uuid;
use webhooks::InboundSms;

use crate::app::App;
use crate::domain::acknowledge;
use crate::domain::keywords::{self, Classification, Keyword};
use crate::services::texting;
use crate::telemetry::catalogue;

/// How often an inbound text is decided again because the configuration changed meanwhile.
const MAX_CONFIG_RACES: usize = 2;

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

/// A STOP from a number makes the carrier refuse every later text to it from this practice
/// number, and START undoes that: remembered per number, so an alert step holding a staff member
/// who texted STOP is not taken for one that reached someone (`domain::reachability`).
async fn note_number_keyword(
    state: &App,
    practice: &store::Practice,
    from: &str,
    body: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), store::StoreError> {
    match keywords::classify(body) {
        Classification::Keyword(Keyword::OptOut) => {
            state
                .store
                .record_failing_number(&practice.sms_number, from, 0, now)
                .await
        }
        Classification::Keyword(Keyword::OptIn) => {
            state
                .store
                .clear_failing_number(&practice.sms_number, from)
                .await
        }
        _ => Ok(()),
    }
}

/// Records an inbound text (signature already checked) and wakes the dispatcher if replies were
/// queued.
pub async fn receive_sms(
    state: &App,
    sms: InboundSms,
    client_addr: Option<String>,
) -> Result<InboundReceipt, store::StoreError> {
    let now = state.clock.now();
    let audit = Audit {
        user_id: None,
        client_addr,
        at: now,
    };
    // The ACK grammar is checked before anything is read, so ordinary texts pay nothing for it.
    let ack_code = acknowledge::parse_ack(&sms.body);
    // What the practice number's configuration says (the practice, its templates, who is told
    // what) comes from the process's cache, so that the transaction has it at hand without I/O.
    let mut context = state.practice_contexts.get(state, sms.to.as_str()).await?;
    if let Some(practice) = &context.practice {
        // A staff member answering an alert text ("ACK code") acknowledges it and is answered;
        // the text is still recorded below (without a patient, so without its body), as any
        // inbound text is.
        if let Some(code) = ack_code {
            crate::services::alerts::acknowledge_by_text(
                state,
                practice.id,
                sms.from.as_str(),
                code,
            )
            .await?;
            metrics::counter!(catalogue::INBOUND_MESSAGES, "kind" => "alert_ack").increment(1);
        }
        note_number_keyword(state, practice, sms.from.as_str(), &sms.body, now).await?;
    }
    let inbound = NewInbound {
        carrier: store::CARRIER_TWILIO.into(),
        carrier_sid: sms.message_sid.as_str().to_owned(),
        from_number: sms.from.as_str().to_owned(),
        to_number: sms.to.as_str().to_owned(),
        // The START restart limit is checked and counted inside the transaction that decides.
        throttle_key: texting::may_ask_to_restart(&sms.body)
            .then(|| texting::restart_key(sms.from.as_str(), sms.to.as_str())),
        body: sms.body,
        num_segments: i32::try_from(sms.num_segments).unwrap_or(i32::MAX),
    };
    let mut races = 0;
    let outcome = loop {
        let message_recipients = context
            .message_recipients(state, sms.from.as_str(), now)
            .await?;
        let decider = texting::inbound_decider(
            inbound.body.clone(),
            now,
            context.templates.clone(),
            context.status_recipients.clone(),
            message_recipients,
        );
        // The last try decides with what it just loaded, as if no cache existed.
        let expected = (races < MAX_CONFIG_RACES).then_some(context.version);
        match state
            .store
            .record_inbound_checked(&audit, inbound.clone(), expected, decider)
            .await
        {
            Err(store::StoreError::Conflict { constraint })
                if constraint == store::CONFIG_CHANGED =>
            {
                races += 1;
                state.practice_contexts.clear();
                context = state.practice_contexts.get(state, sms.to.as_str()).await?;
            }
            other => break other?,
        }
    };
    let receipt = match outcome {
        InboundOutcome::Recorded { message, enqueued } => {
            let known_sender = message.patient_id.is_some();
            let kind = match (message.practice_id, known_sender) {
                (None, _) => "unknown_number",
                (Some(_), false) => "unknown_sender",
                (Some(_), true) => "recorded",
            };
            metrics::counter!(catalogue::INBOUND_MESSAGES, "kind" => kind).increment(1);
            if !enqueued.is_empty() {
                state.wake_dispatcher();
            }
            state.notify_feed();
            InboundReceipt::Recorded {
                message_id: message.id,
                known_sender,
                replies: enqueued.len(),
            }
        }
        InboundOutcome::Duplicate { message_id } => {
            metrics::counter!(catalogue::INBOUND_MESSAGES, "kind" => "duplicate").increment(1);
            InboundReceipt::Duplicate { message_id }
        }
    };
    Ok(receipt)
}
