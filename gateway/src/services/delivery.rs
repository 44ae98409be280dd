//! Delivery status callbacks: apply the carrier's status to the outbox row and its conversation
//! message, never moving a status backwards, and opt the patient out when the carrier reports
//! error 21610.
//!
//! `failed` and `undelivered` fail the row (an undelivered text is not a sent one). The status
//! ranking is the wire format's ([`webhooks::status::should_replace`]); the store only applies it.
//! An unknown message id changes nothing.

use store::{Audit, CarrierStatusUpdate, StatusOutcome};
use webhooks::{MessageStatus, StatusCallback};

use crate::http::AppState;

pub async fn apply_status(
    state: &AppState,
    callback: StatusCallback,
    client_addr: Option<String>,
) -> Result<StatusOutcome, store::StoreError> {
    let audit = Audit {
        user_id: None,
        client_addr,
        at: state.clock.now(),
    };
    let update = CarrierStatusUpdate {
        carrier_sid: callback.message_sid.as_str().to_owned(),
        status: callback.status.as_str().to_owned(),
        is_failure: callback.status.is_failure(),
        error_code: callback.error_code.and_then(|c| i32::try_from(c).ok()),
        opted_out: callback.recipient_opted_out(),
    };
    let outcome = state
        .store
        .apply_carrier_status(&audit, update, later_status)
        .await?;
    let result = match &outcome {
        StatusOutcome::Unknown => "unknown",
        StatusOutcome::Known { applied: true, .. } => "applied",
        StatusOutcome::Known { applied: false, .. } => "stale",
    };
    metrics::counter!("gateway_status_callbacks_total", "result" => result).increment(1);
    if let StatusOutcome::Known {
        applied,
        opted_out_patients,
        ..
    } = &outcome
    {
        if *applied && callback.status.is_final() {
            metrics::counter!("gateway_outbound_delivery_total", "status" => callback.status.as_str())
                .increment(1);
        }
        if *opted_out_patients > 0 {
            metrics::counter!("gateway_carrier_opt_outs_total", "source" => "status_callback")
                .increment(1);
        }
    }
    Ok(outcome)
}

/// Whether a stored status may be replaced by an incoming one. An unreadable stored status
/// (which only a bug could write) is replaced by any known one.
fn later_status(current: &str, incoming: &str) -> bool {
    match (
        MessageStatus::parse(current),
        MessageStatus::parse(incoming),
    ) {
        (Ok(current), Ok(incoming)) => webhooks::status::should_replace(current, incoming),
        (Err(_), Ok(_)) => true,
        (_, Err(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::later_status;

    #[test]
    fn a_late_sent_does_not_replace_delivered() {
        assert!(!later_status("delivered", "sent"));
        assert!(later_status("queued", "delivered"));
        assert!(later_status("accepted", "undelivered"));
        assert!(!later_status("undelivered", "delivered"));
    }
}
