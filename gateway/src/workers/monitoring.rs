//! Publishes the store-wide gauges every few seconds (see `services::monitoring`), so that
//! `gateway_store_up` turns 0 while the gateway is idle too and an alert left open shows its
//! growing age without any request. Every instance runs it; the values are the store's.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::app::App;
use crate::services::monitoring;

/// How often the store is probed and the gauges read; well below Prometheus' scrape interval.
pub const PERIOD: Duration = Duration::from_secs(5);

pub async fn run(state: App, shutdown: watch::Receiver<bool>) {
    // Logged when reachability changes, not on every pass.
    let was_up = Arc::new(AtomicBool::new(true));
    super::periodic(state, shutdown, "monitoring", PERIOD, move |state| {
        let was_up = Arc::clone(&was_up);
        async move {
            let up = monitoring::publish(&state).await;
            match (was_up.swap(up, Ordering::SeqCst), up) {
                (true, false) => tracing::error!("the store does not answer (gateway_store_up 0)"),
                (false, true) => tracing::info!("the store answers again"),
                _ => {}
            }
            Ok::<usize, std::convert::Infallible>(0)
        }
    })
    .await;
}
