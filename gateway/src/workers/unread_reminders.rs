//! Sends "Unread Message Reminder" notifications: every few minutes, each patient message unread
//! for 24 hours reminds the users who want it, once per message and user (the store records
//! each reminder, so several instances never remind twice).

use std::time::Duration;

use tokio::sync::watch;

use crate::app::App;
use crate::services::conversations;

/// A reminder goes out at most this long after the 24 hours are up.
const PERIOD: Duration = Duration::from_secs(300);

pub async fn run(state: App, shutdown: watch::Receiver<bool>) {
    super::periodic(
        state,
        shutdown,
        "unread_reminders",
        PERIOD,
        |state| async move { conversations::send_unread_reminders(&state).await },
    )
    .await;
}
