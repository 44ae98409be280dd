//! Escalates unacknowledged critical alerts: every few seconds, each open alert whose next step
//! is due takes it (see `domain::escalation`). The state lives in the store, so escalation
//! resumes after a restart, and a step applies only once however many gateways run this.

use std::time::Duration;

use tokio::sync::watch;

use crate::http::AppState;
use crate::services::alerts;

/// How late a due step may be taken.
const PERIOD: Duration = Duration::from_secs(5);

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        match alerts::escalate_due(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(steps = n, "escalated critical alerts"),
            Err(error) => tracing::warn!(%error, "alert escalation failed; will retry"),
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
