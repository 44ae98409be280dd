//! Urgent work: what a patient's safety waits on runs inside [`urgent`], and the PostgreSQL store
//! then serves its statements from connections kept for its kind of urgency, so a burst of
//! ordinary requests (thousands of patients answering a reminder) queued for the main pool does
//! not hold it up, and readings queued among themselves do not hold up the texts of the alerts
//! they opened. SQLite has one connection for everything and ignores the mark. Bulk work that can
//! wait a few milliseconds (PostgreSQL's groups of inbound texts) gives way to readings in flight
//! ([`give_way_to_readings`]), so that under a burst of texts the cores go to readings first.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Which connections urgent work takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    /// Readings, any of which may be critical: they come in streams and queue among themselves.
    Readings,
    /// The texts that carry alerts and the escalation that sends them: few, and each one waited
    /// for by someone.
    Alerts,
}

tokio::task_local! {
    static URGENCY: Urgency;
}

/// Readings being recorded in this process (work marked [`Urgency::Readings`] is one request
/// each; alert work is marked for the life of its workers and is not counted).
static READINGS_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// Woken when the last reading in flight is done.
static NO_READINGS: Notify = Notify::const_new();

/// Counts a reading in flight while alive.
struct InFlight;

impl InFlight {
    fn enter() -> InFlight {
        READINGS_IN_FLIGHT.fetch_add(1, Ordering::SeqCst);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if READINGS_IN_FLIGHT.fetch_sub(1, Ordering::SeqCst) == 1 {
            NO_READINGS.notify_waiters();
        }
    }
}

/// Runs `work` as urgent: every store call it makes on this task takes a connection kept for
/// `urgency`. Tasks it spawns are not urgent unless they are wrapped too.
pub async fn urgent<F: Future>(urgency: Urgency, work: F) -> F::Output {
    let _counted = (urgency == Urgency::Readings).then(InFlight::enter);
    URGENCY.scope(urgency, work).await
}

/// Waits while readings are being recorded, `at_most` long: bulk work that can wait a few
/// milliseconds (a group of inbound texts) leaves the machine's cores to a reading that may be
/// critical. Returns at once when no reading is in flight.
pub(crate) async fn give_way_to_readings(at_most: Duration) {
    let deadline = tokio::time::Instant::now() + at_most;
    loop {
        let quiet = NO_READINGS.notified();
        tokio::pin!(quiet);
        // Registered before the count is read, so a wake-up in between is not missed.
        quiet.as_mut().enable();
        if READINGS_IN_FLIGHT.load(Ordering::SeqCst) == 0 {
            return;
        }
        if tokio::time::timeout_at(deadline, quiet).await.is_err() {
            return;
        }
    }
}

/// How urgent the current task's work is; `None` outside [`urgent`].
pub(crate) fn current() -> Option<Urgency> {
    URGENCY.try_with(|urgency| *urgency).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_work_inside_the_scope_is_urgent() {
        assert_eq!(current(), None);
        assert_eq!(
            urgent(Urgency::Alerts, async { current() }).await,
            Some(Urgency::Alerts)
        );
        // The innermost scope decides.
        let inner = urgent(Urgency::Readings, async {
            urgent(Urgency::Alerts, async { current() }).await
        })
        .await;
        assert_eq!(inner, Some(Urgency::Alerts));
        // A spawned task does not inherit the mark.
        let spawned = urgent(Urgency::Readings, async {
            tokio::spawn(async { current() }).await.unwrap()
        })
        .await;
        assert_eq!(spawned, None);
        assert_eq!(current(), None);
    }

    /// Bulk work gives way to readings in flight, for as long as they run but no longer than it
    /// may wait. (Real time with wide margins: only lower bounds and "well before the cap".)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bulk_work_gives_way_to_readings_in_flight_for_a_bounded_time() {
        use std::time::Instant;
        let long = Duration::from_secs(60);
        let bound = Duration::from_secs(10);
        // Nothing in flight (alert work is not counted): no wait.
        let alerts = urgent(Urgency::Alerts, async {
            tokio::time::timeout(bound, give_way_to_readings(long)).await
        });
        assert!(alerts.await.is_ok(), "alert work is not waited for");

        // A reading that runs 150 ms: waited for until it is done, not until the cap.
        let reading = tokio::spawn(urgent(Urgency::Readings, async {
            tokio::time::sleep(Duration::from_millis(150)).await;
        }));
        while READINGS_IN_FLIGHT.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let started = Instant::now();
        let waited = tokio::time::timeout(bound, give_way_to_readings(long)).await;
        assert!(waited.is_ok(), "woken when the reading is done");
        assert!(reading.is_finished() || READINGS_IN_FLIGHT.load(Ordering::SeqCst) == 0);
        assert!(started.elapsed() >= Duration::from_millis(100));
        reading.await.unwrap();

        // A reading that does not end: waited for `at_most`, then given up on.
        let (done, held) = tokio::sync::oneshot::channel::<()>();
        let stuck = tokio::spawn(urgent(Urgency::Readings, async move {
            let _ = held.await;
        }));
        while READINGS_IN_FLIGHT.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let started = Instant::now();
        let cap = Duration::from_millis(200);
        let waited = tokio::time::timeout(bound, give_way_to_readings(cap)).await;
        assert!(waited.is_ok(), "given up on after its cap");
        assert!(started.elapsed() >= cap);
        assert_eq!(
            READINGS_IN_FLIGHT.load(Ordering::SeqCst),
            1,
            "still in flight"
        );
        done.send(()).unwrap();
        stuck.await.unwrap();
        assert_eq!(READINGS_IN_FLIGHT.load(Ordering::SeqCst), 0);
    }
}
