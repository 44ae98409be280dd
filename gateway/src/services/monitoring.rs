//! Store-wide figures for monitoring: whether the store answers (`gateway_store_up`), the outbox
//! depth per priority and the age of its oldest row, and the open alerts with the age of the
//! oldest. They describe the shared store, so every instance publishes the same values and the
//! rules take `max` across instances. Published at start-up and then by the monitoring worker
//! every few seconds, so they are current while nothing else happens (an alert left open, an
//! idle gateway whose store went away).

use std::time::Duration;

use chrono::{DateTime, Utc};
use store::StoreResult;

use crate::app::App;
use crate::telemetry::catalogue::{self, priority_label};

/// How long the store may take to answer a probe (and the gauge queries) before it counts as
/// unreachable.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Pings the store within [`PROBE_TIMEOUT`] and records the answer in `gateway_store_up`.
pub async fn probe_store(state: &App) -> bool {
    let up = matches!(
        tokio::time::timeout(PROBE_TIMEOUT, state.store.ping()).await,
        Ok(Ok(()))
    );
    metrics::gauge!(catalogue::STORE_UP).set(if up { 1.0 } else { 0.0 });
    up
}

/// One monitoring pass: the probe, then (if the store answered) the outbox and alert gauges.
/// Returns whether the store answered; a gauge query that fails leaves its gauges as they were.
pub async fn publish(state: &App) -> bool {
    if !probe_store(state).await {
        return false;
    }
    match tokio::time::timeout(PROBE_TIMEOUT, publish_store_gauges(state)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "could not read the store-wide gauges"),
        Err(_) => tracing::warn!("reading the store-wide gauges timed out"),
    }
    true
}

async fn publish_store_gauges(state: &App) -> StoreResult<()> {
    let outbox = state.store.outbox_stats().await?;
    let alerts = state.store.open_alert_stats().await?;
    let now = state.clock.now();
    for &label in catalogue::OUTBOX_PRIORITIES {
        let depth: i64 = outbox
            .depth_by_priority
            .iter()
            .filter(|(priority, _)| priority_label(*priority) == label)
            .map(|(_, depth)| depth)
            .sum();
        metrics::gauge!(catalogue::OUTBOX_DEPTH, "priority" => label).set(depth as f64);
    }
    metrics::gauge!(catalogue::OUTBOX_OLDEST_AGE).set(age_seconds(now, outbox.oldest_created_at));
    metrics::gauge!(catalogue::ALERTS_OPEN).set(alerts.open as f64);
    metrics::gauge!(catalogue::ALERTS_OLDEST_OPEN_AGE)
        .set(age_seconds(now, alerts.oldest_opened_at));
    Ok(())
}

/// Seconds from `since` to `now`, 0 when there is nothing (or it lies in the future).
fn age_seconds(now: DateTime<Utc>, since: Option<DateTime<Utc>>) -> f64 {
    since
        .map(|since| (now - since).num_milliseconds().max(0) as f64 / 1e3)
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn an_age_is_zero_without_a_row_and_never_negative() {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        assert_eq!(age_seconds(now, None), 0.0);
        assert_eq!(
            age_seconds(now, Some(now - chrono::Duration::milliseconds(90_500))),
            90.5
        );
        assert_eq!(
            age_seconds(now, Some(now + chrono::Duration::seconds(3))),
            0.0
        );
    }
}
