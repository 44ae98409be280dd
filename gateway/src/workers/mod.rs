//! Background workers: timed work that runs beside the HTTP server (text and email dispatch, opt-in
//! expiry, reminders, escalation, monitoring gauges). Each worker gets the shared state and a
//! shutdown receiver, finishes its current unit of work when shutdown is signalled, and never holds
//! state that must survive a restart only in memory.

pub mod claims;
pub mod email;
pub mod escalation;
pub mod monitoring;
pub mod outbox;
pub mod overdue;
pub mod texting_expiry;
pub mod unread_reminders;

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::App;

/// Runs `pass` now and then every `period` until shutdown. A pass returns how many things it
/// did; failures are logged and retried at the next pass (the store holds all state, so a
/// failed pass loses nothing).
pub async fn periodic<F, Fut, E>(
    state: App,
    mut shutdown: watch::Receiver<bool>,
    name: &'static str,
    period: Duration,
    pass: F,
) where
    F: Fn(App) -> Fut,
    Fut: Future<Output = Result<usize, E>>,
    E: std::fmt::Display,
{
    loop {
        match pass(state.clone()).await {
            Ok(0) => {}
            Ok(done) => tracing::info!(worker = name, done, "worker pass"),
            Err(error) => tracing::warn!(worker = name, %error, "worker pass failed; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// Starts every worker; the handles finish after `shutdown` turns true.
pub fn spawn_all(state: &App, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(periodic(
            state.clone(),
            shutdown.clone(),
            "release_gone_claims",
            claims::PERIOD,
            |state| async move { claims::release_gone(&state).await },
        )),
        // The texts that carry alerts, and the escalation that sends them, are urgent work.
        tokio::spawn(store::urgent(
            store::Urgency::Alerts,
            outbox::run(state.clone(), shutdown.clone()),
        )),
        tokio::spawn(email::run(state.clone(), shutdown.clone())),
        tokio::spawn(texting_expiry::run(state.clone(), shutdown.clone())),
        tokio::spawn(unread_reminders::run(state.clone(), shutdown.clone())),
        tokio::spawn(store::urgent(
            store::Urgency::Alerts,
            escalation::run(state.clone(), shutdown.clone()),
        )),
        tokio::spawn(overdue::run(state.clone(), shutdown.clone())),
        tokio::spawn(monitoring::run(state.clone(), shutdown.clone())),
        tokio::spawn(periodic(
            state.clone(),
            shutdown.clone(),
            "settle_unsettled_sends",
            Duration::from_secs(600),
            |state| async move { crate::services::delivery::settle_unsettled(&state).await },
        )),
        tokio::spawn(periodic(
            state.clone(),
            shutdown,
            "cleanup",
            Duration::from_secs(3600),
            |state| async move {
                let now = state.clock.now();
                let throttles = crate::auth::limiter::forget_old(state.store.as_ref(), now).await?;
                let early = state
                    .store
                    .forget_parked_statuses(now - chrono::Duration::days(1))
                    .await?;
                let config_history = state.store.forget_old_config_changes().await?;
                Ok::<usize, store::StoreError>(
                    throttles + usize::try_from(early + config_history).unwrap_or(0),
                )
            },
        )),
    ]
}
