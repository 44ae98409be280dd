//! Sends "Unread Message Reminder" notifications: every few minutes, each patient message unread
//! for 24 hours reminds the users who want it, once per message and user (the store records
//! each reminder, so several instances never remind twice).

use std::time::Duration;

use tokio::sync::watch;

use crate::http::AppState;
use crate::services::conversations;

/// A reminder goes out at most this long after the 24 hours are up.
const PERIOD: Duration = Duration::from_secs(300);

pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        match conversations::send_unread_reminders(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(reminders = n, "sent unread-message reminders"),
            Err(error) => tracing::warn!(%error, "unread reminders failed; will retry"),
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
