//! Urgent work: what a patient's safety waits on (a reading that may open an alert, the texts
//! that carry alerts) runs inside [`urgent`], and the PostgreSQL store then serves its
//! statements from connections kept for it, so a burst of ordinary requests (thousands of
//! patients answering a reminder) queued for the main pool does not hold it up. SQLite has one
//! connection for everything and ignores the mark.

use std::future::Future;

tokio::task_local! {
    static URGENT: ();
}

/// Runs `work` as urgent: every store call it makes on this task takes an urgent connection.
/// Tasks it spawns are not urgent unless they are wrapped too.
pub async fn urgent<F: Future>(work: F) -> F::Output {
    URGENT.scope((), work).await
}

/// Whether the current task runs inside [`urgent`].
pub(crate) fn is_urgent() -> bool {
    URGENT.try_with(|_| ()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_work_inside_the_scope_is_urgent() {
        assert!(!is_urgent());
        assert!(urgent(async { is_urgent() }).await);
        // A spawned task does not inherit the mark.
        let spawned = urgent(async { tokio::spawn(async { is_urgent() }).await.unwrap() }).await;
        assert!(!spawned);
        assert!(!is_urgent());
    }
}
