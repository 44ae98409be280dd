//! Delivery status callbacks: apply the carrier's status to the outbox row and its conversation
//! message, never moving a status backwards, and opt the patient out when the carrier reports
//! error 21610.
//!
//! `failed` and `undelivered` fail the row (an undelivered text is not a sent one). The status
//! ranking is the wire format's ([`webhooks::status::should_replace`]); the store only applies it.
//!
//! The carrier may call back before its answer to the send has been recorded. A status for an id
//! that is not ours yet is therefore kept ("parked") and tried once more; whichever of the two
//! sides (this callback, or the dispatcher recording the send) comes second applies it. Both
//! write before they look, so one of them always sees the other; applying a status twice changes
//! nothing, the ranking being monotonic. Ids that never become ours are forgotten after a day.

use chrono::{DateTime, Utc};
use store::{Audit, CarrierStatusUpdate, StatusOutcome, Store, StoreResult};
use webhooks::{MessageStatus, StatusCallback};

use crate::app::App;

pub async fn apply_status(
    state: &App,
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
    let mut outcome = state
        .store
        .apply_carrier_status(&audit, update.clone(), later_status)
        .await?;
    let mut parked = false;
    if outcome == StatusOutcome::Unknown {
        state.store.park_status(&update, audit.at).await?;
        outcome = state
            .store
            .apply_carrier_status(&audit, update.clone(), later_status)
            .await?;
        if outcome == StatusOutcome::Unknown {
            parked = true;
        } else {
            state
                .store
                .unpark_status(&update.carrier_sid, &update.status)
                .await?;
        }
    }
    let result = match &outcome {
        StatusOutcome::Unknown if parked => "parked",
        StatusOutcome::Unknown => "unknown",
        StatusOutcome::Known { applied: true, .. } => "applied",
        StatusOutcome::Known { applied: false, .. } => "stale",
    };
    metrics::counter!(crate::telemetry::catalogue::STATUS_CALLBACKS, "result" => result)
        .increment(1);
    if let StatusOutcome::Known {
        applied: true,
        outbox_id,
        ..
    } = &outcome
    {
        learn_from_outcome(
            state.store.as_ref(),
            *outbox_id,
            callback.status,
            callback.error_code,
            audit.at,
        )
        .await?;
    }
    if let StatusOutcome::Known {
        applied,
        opted_out_patients,
        ..
    } = &outcome
    {
        if *applied && callback.status.is_final() {
            metrics::counter!(crate::telemetry::catalogue::OUTBOUND_DELIVERY, "status" => callback.status.as_str())
                .increment(1);
        }
        if *opted_out_patients > 0 {
            metrics::counter!(crate::telemetry::catalogue::CARRIER_OPT_OUTS, "source" => "status_callback")
                .increment(1);
        }
    }
    Ok(outcome)
}

/// What a final status says about the recipient's number and the alert the text belonged to
/// (`Alerts::note_text_outcome`): a staff number that fails for good is skipped from then on, a
/// delivered text clears it, and an alert text that did not arrive makes the alert's next step
/// due at once.
pub async fn learn_from_outcome(
    store: &dyn Store,
    outbox_id: uuid::Uuid,
    status: MessageStatus,
    error_code: Option<u32>,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    if !status.is_final() {
        return Ok(());
    }
    let evidence = crate::domain::reachability::evidence(
        status.is_failure(),
        status == MessageStatus::Delivered,
        error_code,
    );
    store.note_text_outcome(outbox_id, evidence, at).await?;
    Ok(())
}

/// Applies the statuses that arrived for `carrier_sid` before its send was recorded. Called by the
/// dispatcher right after recording the send. Returns how many were applied.
pub async fn apply_parked(
    store: &dyn Store,
    carrier_sid: &str,
    at: DateTime<Utc>,
) -> StoreResult<usize> {
    let mut applied = 0;
    for update in store.parked_statuses(carrier_sid).await? {
        let status = update.status.clone();
        let code = update.error_code.and_then(|c| u32::try_from(c).ok());
        let outcome = store
            .apply_carrier_status(&Audit::system(at), update, later_status)
            .await?;
        if let (
            StatusOutcome::Known {
                applied: true,
                outbox_id,
                ..
            },
            Ok(parsed),
        ) = (&outcome, MessageStatus::parse(&status))
        {
            learn_from_outcome(store, *outbox_id, parsed, code, at).await?;
        }
        if outcome != StatusOutcome::Unknown {
            store.unpark_status(carrier_sid, &status).await?;
            metrics::counter!(crate::telemetry::catalogue::STATUS_CALLBACKS, "result" => "applied_late")
                .increment(1);
            applied += 1;
        }
    }
    Ok(applied)
}

/// How long after a send its outcome is awaited before the carrier is asked, and how often.
pub const SETTLE_AFTER: chrono::Duration = chrono::Duration::hours(1);
/// Sends older than this are not asked about any more.
const SETTLE_LOOKBACK: chrono::Duration = chrono::Duration::days(7);

/// Asks the carrier for the status of sent messages whose outcome never arrived (a lost status
/// callback) and applies what it says, as a callback would have been. Each message is asked about
/// at most once an hour, by one instance. Returns how many statuses were applied.
pub async fn settle_unsettled(state: &App) -> StoreResult<usize> {
    let now = state.clock.now();
    let outcomes: Vec<String> = MessageStatus::ALL
        .iter()
        .filter(|s| s.is_final())
        .map(|s| s.as_str().to_owned())
        .collect();
    let due = state
        .store
        .take_unsettled_sends(
            &outcomes,
            now - SETTLE_LOOKBACK,
            now - SETTLE_AFTER,
            now - SETTLE_AFTER,
            now,
            100,
        )
        .await?;
    let mut applied = 0;
    for (_, sid) in due {
        let fetched = match state.carrier.fetch_status(&sid).await {
            Ok(Some(fetched)) => fetched,
            Ok(None) => continue,
            Err(error) => {
                tracing::warn!(%error, "could not ask the carrier for a message's status");
                continue;
            }
        };
        let Ok(status) = MessageStatus::parse(&fetched.status) else {
            continue;
        };
        let update = CarrierStatusUpdate {
            carrier_sid: sid,
            status: status.as_str().to_owned(),
            is_failure: status.is_failure(),
            error_code: fetched.error_code.and_then(|c| i32::try_from(c).ok()),
            opted_out: fetched.error_code == Some(webhooks::status::ERROR_OPTED_OUT),
        };
        let outcome = state
            .store
            .apply_carrier_status(&Audit::system(now), update, later_status)
            .await?;
        if let StatusOutcome::Known {
            applied: true,
            outbox_id,
            ..
        } = outcome
        {
            learn_from_outcome(
                state.store.as_ref(),
                outbox_id,
                status,
                fetched.error_code,
                now,
            )
            .await?;
            metrics::counter!(crate::telemetry::catalogue::STATUS_CALLBACKS, "result" => "settled_by_fetch")
                .increment(1);
            applied += 1;
        }
    }
    Ok(applied)
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
