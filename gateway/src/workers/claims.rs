//! Releases the outbox claims of gateway instances that are gone, at start-up and every few
//! seconds, so that a text or email whose sender died mid-send (`kill -9`, a crash, a lost
//! host) goes out again as soon as the store can prove its claimer gone, instead of when its
//! lease runs out. A restarted process thereby takes over its predecessor's claims at boot.
//!
//! The store decides who is gone (see `store::Instances`); this worker never guesses from
//! timing, so it never releases a claim of an instance that still runs.

use std::time::Duration;

use store::StoreResult;

use crate::app::App;

/// How often to look for claims of gone instances.
pub const PERIOD: Duration = Duration::from_secs(5);

/// One pass: releases what it can and wakes the dispatchers when anything came free. Returns
/// how many claims were released.
pub async fn release_gone(state: &App) -> StoreResult<usize> {
    let released = state.store.release_gone_claims(state.clock.now()).await?;
    if released.total() > 0 {
        tracing::warn!(
            instances = released.instances.len(),
            texts = released.texts,
            emails = released.emails,
            "released the claims of gone instances; they are sent again"
        );
        metrics::counter!(crate::telemetry::catalogue::RELEASED_CLAIMS, "kind" => "text")
            .increment(released.texts);
        metrics::counter!(crate::telemetry::catalogue::RELEASED_CLAIMS, "kind" => "email")
            .increment(released.emails);
        state.wake_dispatcher();
        state.notify_feed();
    }
    Ok(usize::try_from(released.total()).unwrap_or(usize::MAX))
}
