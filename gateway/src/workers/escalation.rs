//! Escalates unacknowledged critical alerts: every few seconds, each open alert whose next step
//! is due takes it (see `domain::escalation`). The state lives in the store, so escalation
//! resumes after a restart, and a step applies only once however many gateways run this.

use std::time::Duration;

use tokio::sync::watch;

use crate::app::App;
use crate::services::alerts;

/// How late a due step may be taken.
const PERIOD: Duration = Duration::from_secs(5);

pub async fn run(state: App, shutdown: watch::Receiver<bool>) {
    super::periodic(state, shutdown, "escalation", PERIOD, |state| async move {
        alerts::escalate_due(&state).await
    })
    .await;
}
