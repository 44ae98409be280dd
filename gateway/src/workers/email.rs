//! The email dispatcher: claims due rows of the email outbox, sends each through the
//! [`Mailer`](crate::mail::Mailer) and records what the server answered.
//!
//! When it runs: on start, whenever notifications were committed on this instance (the
//! `feed_changed` signal), when the earliest retry or lease comes due, and every few seconds
//! while idle so that rows queued by another gateway are picked up too.
//!
//! Outcomes: accepted → `sent`; a permanent error (5xx, not an address) → `failed` at once; a
//! temporary one (4xx, connection refused or dropped, timeout) → queued again after a capped
//! exponential backoff, until [`MAX_ATTEMPTS`]. A claim that runs out (the process died
//! mid-send), or whose instance is gone (the `claims` worker), makes the row due again. Never
//! claims while the store cannot prove this instance alive. Never logs an address or a body.

use std::time::Duration;

use store::StoreResult;
use tokio::sync::watch;

use crate::app::App;
use crate::mail::{MailError, OutgoingEmail};

/// Claims before an email that keeps failing temporarily is given up (about a day of retries).
pub const MAX_ATTEMPTS: i32 = 12;
/// First retry delay; doubled per attempt.
pub const BACKOFF_BASE: Duration = Duration::from_secs(30);
/// Longest retry delay.
pub const BACKOFF_CAP: Duration = Duration::from_secs(4 * 3600);
/// How long a claim holds: well beyond one SMTP conversation's timeout.
pub const LEASE: Duration = Duration::from_secs(120);
/// Rows per claim.
pub const BATCH: u32 = 20;
/// Longest idle sleep.
pub const IDLE_POLL: Duration = Duration::from_secs(5);

/// The delay before attempt `attempts + 1`.
pub fn backoff(attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(16);
    BACKOFF_BASE.saturating_mul(1 << exponent).min(BACKOFF_CAP)
}

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchReport {
    pub claimed: usize,
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

/// Claims one batch and sends it. Returns what happened to each row.
pub async fn dispatch_batch(state: &App) -> StoreResult<BatchReport> {
    if !state.store.instance_alive() {
        return Err(store::StoreError::Unavailable(
            "this instance cannot prove it is alive; not claiming".into(),
        ));
    }
    let now = state.clock.now();
    let claimed = state.store.claim_emails(now, LEASE, BATCH).await?;
    let mut report = BatchReport {
        claimed: claimed.len(),
        ..BatchReport::default()
    };
    for email in claimed {
        let outcome = state
            .mailer
            .send(OutgoingEmail {
                to: &email.to_address,
                subject: &email.subject,
                body: &email.body,
            })
            .await;
        let at = state.clock.now();
        let (label, result) = match &outcome {
            Ok(()) => {
                report.sent += 1;
                let recorded = state
                    .store
                    .record_email_sent(email.id, email.claimed_until, at)
                    .await;
                ("sent", recorded)
            }
            Err(MailError::Temporary(error)) if email.attempts < MAX_ATTEMPTS => {
                report.retried += 1;
                let retry_at = at
                    + chrono::Duration::from_std(backoff(email.attempts))
                        .unwrap_or(chrono::Duration::minutes(5));
                tracing::warn!(email_id = %email.id, attempts = email.attempts, %error, "email not sent; will retry");
                let recorded = state
                    .store
                    .record_email_failure(email.id, email.claimed_until, error, Some(retry_at))
                    .await;
                ("retried", recorded)
            }
            Err(MailError::Temporary(error) | MailError::Permanent(error)) => {
                report.failed += 1;
                tracing::error!(email_id = %email.id, attempts = email.attempts, %error, "email given up");
                let recorded = state
                    .store
                    .record_email_failure(email.id, email.claimed_until, error, None)
                    .await;
                ("failed", recorded)
            }
        };
        metrics::counter!(crate::telemetry::catalogue::EMAILS, "result" => label, "transport" => state.mailer.name())
            .increment(1);
        if let Err(error) = result {
            // The lease decides: the row comes due again when it runs out.
            tracing::warn!(email_id = %email.id, %error, "could not record an email's outcome");
        }
    }
    Ok(report)
}

/// How long to sleep when idle: until the next row is due, at most [`IDLE_POLL`].
async fn idle_wait(state: &App) -> Duration {
    match state.store.email_next_due().await {
        Ok(Some(due)) => (due - state.clock.now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .clamp(Duration::from_millis(50), IDLE_POLL),
        _ => IDLE_POLL,
    }
}

/// The dispatcher loop; ends when `shutdown` turns true, after finishing the batch in hand.
pub async fn run(state: App, mut shutdown: watch::Receiver<bool>) {
    let mut committed = state.feed_changed.subscribe();
    loop {
        if *shutdown.borrow() {
            break;
        }
        match dispatch_batch(&state).await {
            Ok(report) if report.claimed > 0 => continue,
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "email claim failed; retrying shortly"),
        }
        let wait = idle_wait(&state).await;
        tokio::select! {
            _ = committed.changed() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_thirty_seconds_and_stops_at_four_hours() {
        let secs = |attempts| backoff(attempts).as_secs();
        assert_eq!(
            (1..=11).map(secs).collect::<Vec<_>>(),
            [30, 60, 120, 240, 480, 960, 1920, 3840, 7680, 14400, 14400]
        );
        assert_eq!(secs(1000), 14400);
        assert_eq!(secs(0), 30);
    }
}
