//! Group commit for the embedded store's write transactions.
//!
//! With `synchronous=FULL` every `COMMIT` waits for an `fsync` of the WAL, and every transaction
//! is a hop to a blocking thread; under a burst (a carrier replaying a backlog, 64 webhooks in
//! flight) that, not the statements, sets the rate. So writers queue their transaction here and
//! whoever holds the connection next runs the oldest queued ones (up to 32) inside a single
//! `BEGIN IMMEDIATE … COMMIT`, each in a savepoint of its own, then gives the connection up:
//!
//! - a transaction that fails is rolled back to its savepoint and answered with its own error;
//!   the others in the batch are not affected (as if it had run alone and rolled back);
//! - nobody is answered before the `COMMIT` is durable, and when the batch cannot commit (or a
//!   savepoint statement fails) every transaction of it is answered with that failure and none
//!   of them is written;
//! - each transaction sees the writes of those before it in the batch, exactly as if they had run
//!   one after the other, which is what the single connection did anyway.
//!
//! A caller that gives up waiting takes its transaction back out of the queue if it has not been
//! started, so a transaction never commits after its caller was told it could not be done.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::oneshot;

use super::LiteConn;
use crate::{StoreError, StoreResult};

/// At most this many transactions share one commit, so the first of a long queue is not kept
/// waiting behind the whole queue's statements.
const MAX_BATCH: usize = 32;

/// A queued write transaction and the caller waiting for it.
trait QueuedWrite: Send {
    /// Runs the transaction's statements; the answer is sent once the batch's outcome is known.
    fn run(self: Box<Self>, conn: &LiteConn) -> Ran;
    /// Answers the caller with `why` without running anything.
    fn refuse(self: Box<Self>, why: &StoreError);
}

/// What a transaction that ran reports: whether its statements succeeded (its savepoint is
/// kept), and the answer to send when the batch commits or fails.
struct Ran {
    ok: bool,
    answer: Answer,
}

/// Sends a transaction's answer, given how its batch ended.
type Answer = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;

struct Write<T, F> {
    f: F,
    caller: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> QueuedWrite for Write<T, F>
where
    T: Send + 'static,
    F: FnOnce(&LiteConn) -> StoreResult<T> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &LiteConn) -> Ran {
        let Write { f, caller } = *self;
        let out = f(conn);
        Ran {
            ok: out.is_ok(),
            answer: Box::new(move |batch| {
                let answer = match (out, batch) {
                    (Err(own), _) => Err(own),
                    (Ok(value), Ok(())) => Ok(value),
                    (Ok(_), Err(failure)) => Err(same_failure(failure)),
                };
                // The caller may have stopped listening (its request was cancelled).
                let _ = caller.send(answer);
            }),
        }
    }

    fn refuse(self: Box<Self>, why: &StoreError) {
        let _ = self.caller.send(Err(same_failure(why)));
    }
}

/// The transactions waiting for the connection, in arrival order.
#[derive(Default)]
pub(super) struct WriteQueue {
    jobs: Mutex<VecDeque<(u64, Box<dyn QueuedWrite>)>>,
    next_id: AtomicU64,
    /// Batches begun so far (each one `BEGIN … COMMIT`), for tests to see the grouping.
    batches: AtomicU64,
}

impl WriteQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, Box<dyn QueuedWrite>)>> {
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `f` to run inside a write transaction. The receiver answers with its result once
    /// the batch it ran in has committed, or with its error.
    pub(super) fn push<T, F>(&self, f: F) -> (u64, oneshot::Receiver<StoreResult<T>>)
    where
        T: Send + 'static,
        F: FnOnce(&LiteConn) -> StoreResult<T> + Send + 'static,
    {
        let (caller, receiver) = oneshot::channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().push_back((id, Box::new(Write { f, caller })));
        (id, receiver)
    }

    /// Takes transaction `id` back if it has not been started; `false` when it has.
    pub(super) fn withdraw(&self, id: u64) -> bool {
        let mut jobs = self.lock();
        match jobs.iter().position(|(queued, _)| *queued == id) {
            Some(index) => jobs.remove(index).is_some(),
            None => false,
        }
    }

    fn take_batch(&self) -> Vec<Box<dyn QueuedWrite>> {
        let mut jobs = self.lock();
        let n = jobs.len().min(MAX_BATCH);
        jobs.drain(..n).map(|(_, job)| job).collect()
    }

    /// Runs the oldest queued transactions (up to [`MAX_BATCH`]) as one batch. Called on the
    /// blocking thread that holds the connection, which it gives up after one batch: under a
    /// steady stream of writes the queue never empties, and reads must get their turn.
    pub(super) fn run_next_batch(&self, conn: &LiteConn) {
        let batch = self.take_batch();
        if !batch.is_empty() {
            self.batches.fetch_add(1, Ordering::Relaxed);
            run_batch(conn, batch);
        }
    }

    /// How many write transactions were queued and how many batches ran them, so far.
    #[cfg(test)]
    fn counts(&self) -> (u64, u64) {
        (
            self.next_id.load(Ordering::Relaxed),
            self.batches.load(Ordering::Relaxed),
        )
    }
}

/// One `BEGIN IMMEDIATE … COMMIT` around `batch`, each transaction in its own savepoint.
fn run_batch(conn: &LiteConn, batch: Vec<Box<dyn QueuedWrite>>) {
    if let Err(why) = conn.begin() {
        batch.into_iter().for_each(|job| job.refuse(&why));
        return;
    }
    let mut answers = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    let mut failure = None;
    for job in jobs.by_ref() {
        if let Err(why) = conn.execute_batch("SAVEPOINT job") {
            job.refuse(&why);
            failure = Some(why);
            break;
        }
        let ran = job.run(conn);
        let end = if ran.ok {
            conn.execute_batch("RELEASE job")
        } else {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")
        };
        answers.push(ran.answer);
        if let Err(why) = end {
            failure = Some(why);
            break;
        }
    }
    let outcome = match failure {
        // What ran cannot be told apart from what a broken savepoint left behind: none of it
        // is kept.
        Some(why) => conn.finish(false).and(Err(why)),
        // A COMMIT that fails leaves the transaction open: roll it back for the next batch.
        None => conn.finish(true).inspect_err(|_| {
            let _ = conn.finish(false);
        }),
    };
    if let Err(why) = &outcome {
        jobs.for_each(|job| job.refuse(why));
    }
    for answer in answers {
        answer(outcome.as_ref().map(|_| ()));
    }
}

/// A copy of the batch's failure for each of its callers (the error type is not `Clone`); an
/// unavailable store stays unavailable (a 503 the client retries).
fn same_failure(failure: &StoreError) -> StoreError {
    match failure {
        StoreError::Unavailable(why) => StoreError::Unavailable(why.clone()),
        other => StoreError::Unexpected(format!("the write batch failed: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::sql::{Db, ToArg};
    use crate::sqlite::SqliteStore;
    use crate::{StoreError, StoreResult};

    async fn store_with_table() -> (tempfile::TempDir, Arc<SqliteStore>) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("batch.db"))
            .await
            .unwrap();
        store
            .autocommit(|tx| {
                Box::pin(async move {
                    tx.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, v TEXT UNIQUE)", &[])
                        .await
                })
            })
            .await
            .unwrap();
        (dir, Arc::new(store))
    }

    /// Inserts `(n, v)` and then fails when `fail` (after writing), as a use case that finds a
    /// rule broken half-way would.
    async fn insert(store: &SqliteStore, n: i64, v: String, fail: bool) -> StoreResult<()> {
        store
            .transaction(move |tx| {
                Box::pin(async move {
                    tx.execute("INSERT INTO t (n, v) VALUES ($1, $2)", &[n.arg(), v.arg()])
                        .await?;
                    if fail {
                        return Err(StoreError::Unexpected(format!("refused {n}")));
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn stored(store: &SqliteStore) -> Vec<i64> {
        store
            .autocommit(|tx| Box::pin(tx.column("SELECT n FROM t ORDER BY n", &[])))
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writes_share_commits_and_each_gets_its_own_answer() {
        let (_dir, store) = store_with_table().await;
        let start = Arc::new(tokio::sync::Barrier::new(96));
        let tasks: Vec<_> = (0..96_i64)
            .map(|n| {
                let (store, start) = (Arc::clone(&store), Arc::clone(&start));
                tokio::spawn(async move {
                    start.wait().await;
                    // Every 8th fails after writing; every 12th repeats a value (a unique rule).
                    let v = if n % 12 == 11 {
                        "same".to_string()
                    } else {
                        n.to_string()
                    };
                    insert(&store, n, v, n % 8 == 7).await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        let mut expected = Vec::new();
        let mut same_taken = false;
        for (n, answer) in (0_i64..).zip(&answers) {
            match answer {
                Ok(()) => expected.push(n),
                Err(StoreError::Unexpected(why)) => {
                    assert_eq!(n % 8, 7, "{n}: {why}");
                    assert_eq!(
                        why,
                        &format!("refused {n}"),
                        "its own error, not the batch's"
                    );
                }
                Err(StoreError::Conflict { constraint }) => {
                    assert_eq!(n % 12, 11, "{n}");
                    assert_eq!(constraint, "t_v_key");
                }
                Err(other) => panic!("{n}: {other:?}"),
            }
            if n % 12 == 11 && answer.is_ok() {
                assert!(!same_taken, "only one row may hold the repeated value");
                same_taken = true;
            }
        }
        assert_eq!(
            stored(&store).await,
            expected,
            "exactly what was answered Ok is stored"
        );
        let (transactions, batches) = store.writes.counts();
        assert_eq!(transactions, 96);
        assert!(
            batches < transactions,
            "96 writes at once share commits ({batches} batches)"
        );
    }

    #[tokio::test]
    async fn a_failing_write_leaves_the_batch_and_the_connection_usable() {
        let (_dir, store) = store_with_table().await;
        insert(&store, 1, "a".into(), true).await.unwrap_err();
        insert(&store, 2, "b".into(), false).await.unwrap();
        assert_eq!(stored(&store).await, vec![2]);
    }

    /// Writes a row of `t` and a row of `c` whose deferred foreign key holds only when `parent`
    /// is a row of `t`: the statement succeeds and the `COMMIT` fails when it is not.
    async fn insert_child(store: &SqliteStore, n: i64, parent: i64) -> StoreResult<()> {
        store
            .transaction(move |tx| {
                Box::pin(async move {
                    tx.execute(
                        "INSERT INTO t (n, v) VALUES ($1, $2)",
                        &[n.arg(), n.to_string().arg()],
                    )
                    .await?;
                    tx.execute(
                        "INSERT INTO c (n, parent) VALUES ($1, $2)",
                        &[n.arg(), parent.arg()],
                    )
                    .await?;
                    Ok(())
                })
            })
            .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_commit_that_fails_keeps_nothing_of_its_batch_and_answers_no_one_ok() {
        let (_dir, store) = store_with_table().await;
        store
            .autocommit(|tx| {
                Box::pin(async move {
                    tx.execute(
                        "CREATE TABLE c (n INTEGER PRIMARY KEY,
                             parent INTEGER REFERENCES t (n) DEFERRABLE INITIALLY DEFERRED)",
                        &[],
                    )
                    .await
                })
            })
            .await
            .unwrap();
        // Alone in its batch: the COMMIT fails, nothing is kept, the connection is usable.
        insert_child(&store, 1, 1000).await.unwrap_err();
        assert_eq!(stored(&store).await, Vec::<i64>::new());
        insert_child(&store, 2, 2).await.unwrap();
        assert_eq!(stored(&store).await, vec![2]);
        // Among others: whichever batch it joins cannot commit; whatever was answered Ok is
        // stored and nothing else is.
        let start = Arc::new(tokio::sync::Barrier::new(32));
        let tasks: Vec<_> = (10..42_i64)
            .map(|n| {
                let (store, start) = (Arc::clone(&store), Arc::clone(&start));
                tokio::spawn(async move {
                    start.wait().await;
                    let parent = if n == 20 { 1000 } else { n };
                    insert_child(&store, n, parent).await
                })
            })
            .collect();
        let mut expected = vec![2];
        for (n, task) in (10_i64..).zip(tasks) {
            match task.await.unwrap() {
                Ok(()) => {
                    assert_ne!(n, 20, "the broken key is never answered Ok");
                    expected.push(n);
                }
                Err(StoreError::Unexpected(_)) => {}
                Err(other) => panic!("{n}: {other:?}"),
            }
        }
        assert_eq!(
            stored(&store).await,
            expected,
            "exactly what was answered Ok is stored"
        );
        insert_child(&store, 50, 50).await.unwrap();
    }

    #[tokio::test]
    async fn a_write_still_queued_is_taken_back_and_never_runs() {
        let (_dir, store) = store_with_table().await;
        let (id, answer) = store.writes.push(|conn| {
            conn.execute(
                "INSERT INTO t (n, v) VALUES ($1, $2)",
                &[1_i64.arg(), "x".arg()],
            )
            .map(|_| ())
        });
        assert!(store.writes.withdraw(id), "nobody had started it");
        assert!(!store.writes.withdraw(id), "it is gone");
        assert!(
            answer.await.is_err(),
            "its caller is never answered by a batch"
        );
        insert(&store, 2, "y".into(), false).await.unwrap();
        assert_eq!(
            stored(&store).await,
            vec![2],
            "the withdrawn write never ran"
        );
    }
}
