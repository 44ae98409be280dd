//! Urgent work: what a patient's safety waits on runs inside [`urgent`], and the PostgreSQL store
//! then serves its statements from connections kept for its kind of urgency, so a burst of
//! ordinary requests (thousands of patients answering a reminder) queued for the main pool does
//! not hold it up, and readings queued among themselves do not hold up the texts of the alerts
//! they opened. SQLite has one connection for everything and ignores the mark.

use std::future::Future;

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

/// Runs `work` as urgent: every store call it makes on this task takes a connection kept for
/// `urgency`. Tasks it spawns are not urgent unless they are wrapped too.
pub async fn urgent<F: Future>(urgency: Urgency, work: F) -> F::Output {
    URGENCY.scope(urgency, work).await
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
}
