//! Time as a dependency. Services and workers ask a [`Clock`] for "now" and pass it to the pure
//! domain, so tests can move time (24-hour reminders, 14-day expiry, idle timeouts) without
//! sleeping.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// A wait that a [`Clock`] hands out.
pub type Pause = Pin<Box<dyn Future<Output = ()> + Send>>;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// Waits `duration` of this clock's time: a real sleep on the wall clock. Used where a rule
    /// holds a request back (a throttled login), so tests can see the hold without waiting.
    fn pause(&self, duration: std::time::Duration) -> Pause {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().expect("clock lock");
        *now += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.now.lock().expect("clock lock") = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().expect("clock lock")
    }

    /// Moves the clock on by `duration` at once: the wait has passed in this clock's time.
    fn pause(&self, duration: std::time::Duration) -> Pause {
        self.advance(Duration::from_std(duration).unwrap_or(Duration::MAX));
        Box::pin(std::future::ready(()))
    }
}
