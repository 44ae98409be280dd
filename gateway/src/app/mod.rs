//! The application context: what every use case can reach, whoever calls it.
//!
//! [`App`] holds the store, the clock, the settings, the carrier, the mailer and the wake-ups of
//! the background work. The HTTP layer wraps it (`http::AppState` adds the metrics handle), the
//! workers and the staff console use it as it is, and the services take `&App`: nothing below the
//! HTTP layer knows about routes, status codes or extractors.

pub mod caller;
pub mod error;
pub mod validate;

use std::sync::Arc;

use store::Store;
use tokio::sync::Notify;

use crate::carrier::Carrier;
use crate::clock::Clock;
use crate::settings::{Secret, Settings};

pub use caller::CurrentUser;
pub use error::AppError;

/// What every use case can reach. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
    /// Checks `X-Twilio-Signature`: the Twilio auth token, or a random dev token when no
    /// credentials are configured (printed at start-up).
    pub webhook_token: Secret,
    /// Sends texts: the Twilio client, or the dev transport when no credentials are set.
    pub carrier: Arc<dyn Carrier>,
    /// Sends notification emails: SMTP, or the dev transport when `SMTP_URL` is not set.
    pub mailer: Arc<dyn crate::mail::Mailer>,
    /// Wakes the outbox dispatcher; services notify it after committing new outbox rows.
    pub outbox_wake: Arc<Notify>,
    /// Bumped after notifications were committed on this instance; wakes the event streams.
    pub feed_changed: Arc<tokio::sync::watch::Sender<u64>>,
    /// What inbound texts need to know about each practice number, kept fresh by the store's
    /// configuration version (`services::practice_context`).
    pub practice_contexts: Arc<crate::services::practice_context::PracticeContexts>,
}

impl App {
    /// Tells the dispatcher that rows were queued. Call after the commit. A wake-up sent while
    /// the dispatcher is busy is kept for its next wait, so none is lost.
    pub fn wake_dispatcher(&self) {
        self.outbox_wake.notify_one();
    }

    /// Tells open notification streams to look for new notifications. Call after the commit.
    pub fn notify_feed(&self) {
        self.feed_changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}
