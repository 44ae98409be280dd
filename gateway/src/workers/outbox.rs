//! The outbox dispatcher: claims due outbox rows, waits for each row's send slot, paces each
//! sending number, sends through the [`Carrier`] and records what the carrier answered.
//!
//! When it runs: on start, whenever a service committed new rows (the `outbox_wake` notify in
//! [`App`]), when the earliest retry or lease comes due, and every few seconds while idle so
//! that rows queued by another gateway on the same PostgreSQL are picked up too.
//!
//! Outcomes: accepted → `sent` with the carrier's id; a permanent error → `failed` at once with
//! the carrier's code (21610 also opts the patient out, in the same transaction); a temporary
//! error (429, 5xx, timeout) → queued again after a capped exponential backoff with jitter,
//! honouring `Retry-After`, until [`MAX_ATTEMPTS`]. A row whose claim ran out (the process died
//! mid-send) is sent once more and marked `recovered`; a second run-out fails it. Claims carry
//! the store's instance id, so those of a process that is gone are released at once (the
//! `claims` worker) rather than when their lease runs out.
//!
//! It must never send a row it has not claimed, never start a send while the store cannot prove
//! this instance alive (others may be releasing its claims), never hold a database transaction
//! across a carrier call (the claim is a lease), and never log a body.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;
use rand::Rng;
use store::{Audit, ClaimRequest, ClaimedSend, SendFailure, Store, StoreResult};
use tokio::sync::watch;

use crate::app::App;
use crate::carrier::pacing::SenderPacer;
use crate::carrier::{Carrier, OutboundSms, SendError};
use crate::clock::Clock;

/// Attempts (claims) before a row that keeps failing temporarily is given up.
pub const MAX_ATTEMPTS: i32 = 8;
/// First retry delay; doubled per attempt.
pub const BACKOFF_BASE: Duration = Duration::from_secs(2);
/// Longest retry delay.
pub const BACKOFF_CAP: Duration = Duration::from_secs(600);
/// How long a claim holds after its send slot: well beyond a carrier call's timeout.
pub const LEASE: Duration = Duration::from_secs(60);
/// How far ahead send slots are reserved; a newly queued alert waits at most about this long.
pub const HORIZON: Duration = Duration::from_secs(1);
/// Rows per claim.
pub const BATCH: u32 = 50;
/// Sends in flight at once (different numbers go in parallel; one number follows its slots).
pub const CONCURRENCY: usize = 16;
/// Longest idle sleep: how soon rows queued by another gateway are seen without a wake-up.
pub const IDLE_POLL: Duration = Duration::from_secs(5);

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchReport {
    pub claimed: usize,
    pub accepted: usize,
    pub retried: usize,
    pub failed: usize,
    /// Rows failed because their claim ran out a second time.
    pub abandoned: u64,
    /// Due rows cancelled instead of sent because their number opted out.
    pub cancelled: u64,
}

enum Outcome {
    Accepted,
    Retried,
    Failed,
    /// The claim was lost meanwhile or the store refused the record; the lease decides.
    Unrecorded,
}

pub struct Dispatcher {
    store: Arc<dyn Store>,
    carrier: Arc<dyn Carrier>,
    clock: Arc<dyn Clock>,
    pacer: SenderPacer,
    worker: String,
    sender_interval: chrono::Duration,
    status_callback: String,
}

impl Dispatcher {
    pub fn new(state: &App) -> Dispatcher {
        let mps = state.settings.sms_sender_mps;
        let base = state
            .settings
            .public_base_url
            .as_str()
            .trim_end_matches('/');
        Dispatcher {
            store: Arc::clone(&state.store),
            carrier: Arc::clone(&state.carrier),
            clock: Arc::clone(&state.clock),
            pacer: SenderPacer::new(mps),
            worker: state.store.instance_id().to_owned(),
            sender_interval: chrono::Duration::microseconds(1_000_000 / i64::from(mps.get())),
            status_callback: format!("{base}{}", crate::carrier::STATUS_CALLBACK_PATH),
        }
    }

    /// Claims one batch of due rows, sends them (each at its slot) and records every answer.
    /// Public so tests can drain the outbox deterministically.
    pub async fn dispatch_batch(&self) -> StoreResult<BatchReport> {
        if !self.store.instance_alive() {
            return Err(store::StoreError::Unavailable(
                "this instance cannot prove it is alive; not claiming".into(),
            ));
        }
        let claim = self
            .store
            .claim_outbound(ClaimRequest {
                worker: self.worker.clone(),
                now: self.clock.now(),
                lease: chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::MAX),
                limit: BATCH,
                sender_interval: self.sender_interval,
                horizon: chrono::Duration::from_std(HORIZON).unwrap_or(chrono::Duration::MAX),
            })
            .await?;
        if claim.abandoned > 0 {
            tracing::warn!(
                rows = claim.abandoned,
                "outbox rows failed: their claim ran out twice"
            );
            metrics::counter!(crate::telemetry::catalogue::OUTBOUND_MESSAGES, "status" => "failed")
                .increment(claim.abandoned);
        }
        if claim.cancelled > 0 {
            tracing::info!(
                rows = claim.cancelled,
                "outbox rows cancelled: their number opted out"
            );
            metrics::counter!(crate::telemetry::catalogue::OUTBOUND_MESSAGES, "status" => "cancelled")
                .increment(claim.cancelled);
        }
        let mut report = BatchReport {
            claimed: claim.sends.len(),
            abandoned: claim.abandoned,
            cancelled: claim.cancelled,
            ..Default::default()
        };
        let outcomes: Vec<Outcome> = futures::stream::iter(claim.sends)
            .map(|claimed| self.send_one(claimed))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for outcome in outcomes {
            match outcome {
                Outcome::Accepted => report.accepted += 1,
                Outcome::Retried => report.retried += 1,
                Outcome::Failed => report.failed += 1,
                Outcome::Unrecorded => {}
            }
        }
        Ok(report)
    }

    async fn send_one(&self, claimed: ClaimedSend) -> Outcome {
        let row = claimed.outbound;
        // The slot is in the store's time; never wait longer than a horizon on a skewed clock.
        let wait = (claimed.send_at - self.clock.now())
            .to_std()
            .unwrap_or_default()
            .min(HORIZON * 2);
        tokio::time::sleep(wait).await;
        self.pacer.until_ready(&row.from_number).await;
        if !self.store.instance_alive() {
            // Another instance may be releasing this claim and sending the row itself.
            tracing::warn!(outbox_id = %row.id, "instance lost its proof of life; send left to the lease");
            return Outcome::Unrecorded;
        }
        let sms = OutboundSms {
            to: row.to_number.clone(),
            from: row.from_number.clone(),
            body: row.body.clone(),
            status_callback: Some(self.status_callback.clone()),
        };
        let carrier = self.carrier.name();
        let started = Instant::now();
        let answer = self.carrier.send(&sms).await;
        let outcome_label = match &answer {
            Ok(_) => "accepted",
            Err(SendError::Permanent { .. }) => "permanent",
            Err(SendError::Retryable { .. }) => "retryable",
        };
        metrics::histogram!(crate::telemetry::catalogue::CARRIER_REQUEST_DURATION, "carrier" => carrier, "outcome" => outcome_label)
            .record(started.elapsed().as_secs_f64());
        let now = self.clock.now();
        let recorded = match answer {
            Ok(accepted) => {
                let recorded = self
                    .store
                    .record_send_accepted(
                        &row,
                        carrier,
                        &accepted.sid,
                        accepted.first_status(),
                        now,
                    )
                    .await;
                if matches!(recorded, Ok(true)) {
                    // Statuses the carrier reported before this answer was recorded.
                    if let Err(error) = crate::services::delivery::apply_parked(
                        self.store.as_ref(),
                        &accepted.sid,
                        now,
                    )
                    .await
                    {
                        tracing::warn!(%error, "could not apply early delivery statuses; they are kept");
                    }
                }
                recorded.map(|ok| ok.then_some(Outcome::Accepted))
            }
            Err(SendError::Permanent { code, message }) => {
                self.fail(&row, code, message, now).await
            }
            Err(SendError::Retryable {
                code,
                message,
                retry_after,
            }) if row.attempts < MAX_ATTEMPTS => {
                let delay = backoff(row.attempts, retry_after, rand::rng().random());
                let next = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
                let failure = SendFailure {
                    error_code: code.and_then(|c| i32::try_from(c).ok()),
                    message,
                    opted_out: false,
                };
                self.store
                    .record_send_retry(&row, failure, next, now)
                    .await
                    .map(|ok| ok.then_some(Outcome::Retried))
            }
            Err(SendError::Retryable { code, message, .. }) => {
                let message = format!("gave up after {} attempts: {message}", row.attempts);
                self.fail(&row, code, message, now).await
            }
        };
        let outcome = match recorded {
            Ok(Some(outcome)) => outcome,
            Ok(None) => {
                tracing::warn!(outbox_id = %row.id, "outbox claim was lost before the answer was recorded");
                Outcome::Unrecorded
            }
            Err(e) => {
                tracing::error!(outbox_id = %row.id, error = %e, "cannot record a carrier answer; the lease will decide");
                Outcome::Unrecorded
            }
        };
        let status = match outcome {
            Outcome::Accepted => "sent",
            Outcome::Retried => "retried",
            Outcome::Failed => "failed",
            Outcome::Unrecorded => "unrecorded",
        };
        metrics::counter!(crate::telemetry::catalogue::OUTBOUND_MESSAGES, "status" => status)
            .increment(1);
        outcome
    }

    async fn fail(
        &self,
        row: &store::Outbound,
        code: Option<u32>,
        message: String,
        now: chrono::DateTime<Utc>,
    ) -> StoreResult<Option<Outcome>> {
        let opted_out = code == Some(webhooks::status::ERROR_OPTED_OUT);
        let failure = SendFailure {
            error_code: code.and_then(|c| i32::try_from(c).ok()),
            message,
            opted_out,
        };
        let done = self
            .store
            .record_send_failed(&Audit::system(now), row, failure)
            .await?;
        if done {
            tracing::info!(outbox_id = %row.id, code = ?code, "outbound text failed");
            let evidence = crate::domain::reachability::evidence(true, false, code);
            if let Err(error) = self.store.note_text_outcome(row.id, evidence, now).await {
                tracing::warn!(outbox_id = %row.id, %error, "could not note a failed text's outcome");
            }
            if opted_out {
                metrics::counter!(crate::telemetry::catalogue::CARRIER_OPT_OUTS, "source" => "send_answer")
                    .increment(1);
            }
        }
        Ok(done.then_some(Outcome::Failed))
    }

    /// How long to sleep when a batch found nothing: until the next row is due, briefly when
    /// rows are due but their number's slots are taken, and at most [`IDLE_POLL`].
    async fn idle_wait(&self) -> Duration {
        match self.store.outbox_next_due().await {
            Ok(Some(due)) => match (due - self.clock.now()).to_std() {
                Ok(until) if !until.is_zero() => until.min(IDLE_POLL),
                _ => self
                    .sender_interval
                    .to_std()
                    .unwrap_or_default()
                    .clamp(Duration::from_millis(50), HORIZON),
            },
            Ok(None) => IDLE_POLL,
            Err(_) => Duration::from_secs(1),
        }
    }
}

/// The retry delay after `attempts` failed attempts: 2 s · 2^(attempts−1), at most 10 minutes,
/// with "equal jitter" (half fixed, half random from `jitter` in [0, 1)) so that rows failed by
/// one outage do not all come back at once; never earlier than the carrier's `Retry-After`.
pub fn backoff(attempts: i32, retry_after: Option<Duration>, jitter: f64) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(16);
    let full = BACKOFF_BASE.saturating_mul(1 << exponent).min(BACKOFF_CAP);
    let half = full / 2;
    let delay = half + half.mul_f64(jitter.clamp(0.0, 1.0));
    delay.max(retry_after.unwrap_or_default())
}

/// The dispatcher loop; ends when `shutdown` turns true, after finishing the batch in hand.
pub async fn run(state: App, mut shutdown: watch::Receiver<bool>) {
    let dispatcher = Dispatcher::new(&state);
    loop {
        if *shutdown.borrow() {
            break;
        }
        let busy = match dispatcher.dispatch_batch().await {
            Ok(report) => report.claimed > 0 || report.abandoned > 0,
            Err(e) => {
                tracing::warn!(error = %e, "outbox claim failed; retrying shortly");
                false
            }
        };
        if busy {
            continue;
        }
        let wait = dispatcher.idle_wait().await;
        tokio::select! {
            _ = state.outbox_wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_two_seconds_and_stops_at_ten_minutes() {
        let secs = |attempts| backoff(attempts, None, 1.0).as_secs();
        assert_eq!(
            (1..=10).map(secs).collect::<Vec<_>>(),
            [2, 4, 8, 16, 32, 64, 128, 256, 512, 600]
        );
        assert_eq!(secs(100), 600);
    }

    #[test]
    fn jitter_keeps_at_least_half_of_the_delay() {
        assert_eq!(backoff(3, None, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(3, None, 0.5), Duration::from_secs(6));
        assert!(backoff(3, None, 0.999) < Duration::from_secs(8));
    }

    #[test]
    fn retry_after_is_honoured_when_longer() {
        assert_eq!(
            backoff(1, Some(Duration::from_secs(30)), 0.0),
            Duration::from_secs(30)
        );
        assert_eq!(
            backoff(5, Some(Duration::from_secs(1)), 0.0),
            Duration::from_secs(16)
        );
    }
}
