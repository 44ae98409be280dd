//! Warns about overdue readings: every ten minutes (and at start-up, so a gap that opened while
//! the gateway was down is noticed at once), each vital of each patient that has been behind its
//! frequency for the practice's `warn_after_days` is warned about once per episode; the store
//! records the episode, so several gateways never warn twice.

use std::time::Duration;

use tokio::sync::watch;

use crate::app::App;
use crate::services::reading_frequency;

const PERIOD: Duration = Duration::from_secs(600);

pub async fn run(state: App, shutdown: watch::Receiver<bool>) {
    super::periodic(
        state,
        shutdown,
        "overdue_readings",
        PERIOD,
        |state| async move { reading_frequency::warn_overdue(&state).await },
    )
    .await;
}
