//! Fails pending verifications whose 14-day window has closed. It runs at start-up (so windows
//! that closed while the gateway was down are failed at once) and then every minute. It sends
//! nothing to the patients; staff with "Two-Way Texting" notifications hear of it. Safe on
//! several instances: each change applies only to the state it was decided from.

use std::time::Duration;

use tokio::sync::watch;

use crate::app::App;
use crate::services::texting;

/// How often to look for closed windows; a window closes at most this late.
const PERIOD: Duration = Duration::from_secs(60);

pub async fn run(state: App, shutdown: watch::Receiver<bool>) {
    super::periodic(
        state,
        shutdown,
        "texting_expiry",
        PERIOD,
        |state| async move { texting::expire_due(&state).await },
    )
    .await;
}
