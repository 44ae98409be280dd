//! Warns about overdue readings: every ten minutes (and at start-up, so a gap that opened while
//! the gateway was down is noticed at once), each patient silent for the practice's
//! `warn_after_days` is warned about once per episode; the store records the episode, so several
//! gateways never warn twice.

use std::time::Duration;

use tokio::sync::watch;

use crate::http::AppState;
use crate::services::alerts;

const PERIOD: Duration = Duration::from_secs(600);

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        match alerts::warn_overdue(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(patients = n, "warned about overdue readings"),
            Err(error) => tracing::warn!(%error, "overdue-readings check failed; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(PERIOD) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}
