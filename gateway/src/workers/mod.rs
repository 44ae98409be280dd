//! Background workers: timed work that runs beside the HTTP server (outbox dispatch, opt-in
//! expiry, reminders, escalation). Each worker gets the shared state and a shutdown receiver,
//! finishes its current unit of work when shutdown is signalled, and never holds state that must
//! survive a restart only in memory.

pub mod escalation;
pub mod outbox;
pub mod overdue;
pub mod texting_expiry;
pub mod unread_reminders;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::http::AppState;

/// Starts every worker; the handles finish after `shutdown` turns true.
pub fn spawn_all(state: &AppState, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(outbox::run(state.clone(), shutdown.clone())),
        tokio::spawn(texting_expiry::run(state.clone(), shutdown.clone())),
        tokio::spawn(unread_reminders::run(state.clone(), shutdown.clone())),
        tokio::spawn(escalation::run(state.clone(), shutdown.clone())),
        tokio::spawn(overdue::run(state.clone(), shutdown)),
    ]
}
