//! The embedded SQLite backend: the zero-set-up default for a single gateway.
//!
//! One connection behind a mutex, used from blocking threads: SQLite serialises writers anyway,
//! and a single connection makes every use case trivially atomic. Write transactions are
//! `BEGIN IMMEDIATE` so a transaction never upgrades its lock half-way. WAL mode with
//! `synchronous=FULL` makes a committed write durable before the caller is answered; write
//! transactions that queue up meanwhile share one commit (see [`batch`]).
//! Not for several gateways at once: those need PostgreSQL.

mod batch;
mod inbound;
pub(crate) mod instances;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use tokio::sync::OwnedMutexGuard;

use crate::migrations::{MIGRATIONS, Migration};
use crate::sql::{Arg, BoxFuture, Db, Row, Tx, run_now, sqlite_placeholders};
use crate::{Backend, Store, StoreError, StoreResult};

/// How long SQLite waits for a lock another connection holds (`busy_timeout`).
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a call waits for its turn on the connection.
const CONNECTION_WAIT: std::time::Duration = BUSY_TIMEOUT;

pub struct SqliteStore {
    conn: Arc<tokio::sync::Mutex<Connection>>,
    path: PathBuf,
    /// This handle's instance id (see [`crate::instances`]).
    instance_id: String,
    /// This instance's lock file, taken at announcement.
    instance_lock: Arc<Mutex<Option<instances::InstanceLock>>>,
    /// Write transactions waiting to be committed together (see [`batch`]).
    writes: Arc<batch::WriteQueue>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its parent directory.
    pub async fn open(path: &Path) -> StoreResult<SqliteStore> {
        let path = path.to_path_buf();
        let opened = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> StoreResult<Connection> {
            if let Some(dir) = opened.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            let conn = Connection::open(&opened).map_err(map_err)?;
            conn.busy_timeout(BUSY_TIMEOUT).map_err(map_err)?;
            // Every shared use case's statements are cached, not only the hot ones.
            conn.set_prepared_statement_cache_capacity(256);
            conn.execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA foreign_keys = ON;",
            )
            .map_err(map_err)?;
            Ok(conn)
        })
        .await
        .map_err(|e| StoreError::Unexpected(e.to_string()))??;
        Ok(SqliteStore {
            conn: Arc::new(tokio::sync::Mutex::new(conn)),
            path,
            instance_id: crate::instances::new_instance_id(),
            instance_lock: Arc::new(Mutex::new(None)),
            writes: Arc::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection on a blocking thread. Callers wait for the connection in
    /// turn, at most [`CONNECTION_WAIT`]: while another process holds the database's write lock,
    /// each call may take the whole busy timeout, and a queue of them must end in `Unavailable`
    /// (a 503 the carrier retries) rather than in a request that outlasts its client.
    async fn call<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        // A panic in `f` cannot leave a half-done transaction behind: rusqlite rolls back on drop.
        self.with_conn(move |mut guard| f(&mut guard)).await
    }

    /// [`SqliteStore::call`] handing over the connection's guard itself.
    async fn with_conn<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(OwnedMutexGuard<Connection>) -> StoreResult<T> + Send + 'static,
    {
        let guard = tokio::time::timeout(CONNECTION_WAIT, Arc::clone(&self.conn).lock_owned())
            .await
            .map_err(|_| StoreError::Unavailable("the embedded store is busy".into()))?;
        tokio::task::spawn_blocking(move || f(guard))
            .await
            .map_err(|e| StoreError::Unexpected(format!("store task failed: {e}")))?
    }

    /// Queues `f` as a write transaction and waits for its answer, running the queue itself when
    /// the connection comes free first. At most [`CONNECTION_WAIT`]: a write still queued by
    /// then is taken back and answered `Unavailable`; one already started is waited for.
    async fn write_batched<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&LiteConn) -> StoreResult<T> + Send + 'static,
    {
        let (id, mut answer) = self.writes.push(f);
        let waited = tokio::time::timeout(CONNECTION_WAIT, self.take_turn(&mut answer)).await;
        match waited {
            Ok(done) => done,
            Err(_) if self.writes.withdraw(id) => {
                Err(StoreError::Unavailable("the embedded store is busy".into()))
            }
            Err(_) => answered(answer.await),
        }
    }

    /// Waits until the write behind `answer` is answered: by whoever holds the connection, or by
    /// this caller, which runs the next batch each time the connection is its own.
    async fn take_turn<T>(
        &self,
        answer: &mut tokio::sync::oneshot::Receiver<StoreResult<T>>,
    ) -> StoreResult<T> {
        loop {
            tokio::select! {
                biased;
                done = &mut *answer => return answered(done),
                guard = Arc::clone(&self.conn).lock_owned() => {
                    let writes = Arc::clone(&self.writes);
                    let ran = tokio::task::spawn_blocking(move || {
                        writes.run_next_batch(&LiteConn::plain(guard))
                    })
                    .await;
                    // A panic rolled that batch back and its callers hear so; this caller's own
                    // write may still be queued, so it keeps its turn rather than answering now
                    // (its write would otherwise run later, after an error was answered).
                    if let Err(e) = ran {
                        tracing::error!(error = %e, "a write batch of the embedded store panicked");
                    }
                }
            }
        }
    }
}

/// A queued write's answer; none when the thread running it panicked (its batch rolled back).
fn answered<T>(
    received: Result<StoreResult<T>, tokio::sync::oneshot::error::RecvError>,
) -> StoreResult<T> {
    received.unwrap_or_else(|_| {
        Err(StoreError::Unexpected(
            "the write batch stopped before answering".into(),
        ))
    })
}

impl Db for SqliteStore {
    async fn autocommit<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a Tx<'a>) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        self.with_conn(move |guard| run_now(f(&Tx::Lite(&LiteConn::plain(guard)))))
            .await
    }

    async fn transaction<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a Tx<'a>) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        self.write_batched(move |conn| run_now(f(&Tx::Lite(conn))))
            .await
    }
}

/// The connection as the shared use cases see it (see [`crate::sql`]), on the blocking thread
/// that owns it. The mutex only makes it `Sync` for the shared futures' sake: one thread uses it.
pub struct LiteConn {
    conn: Mutex<OwnedMutexGuard<Connection>>,
    /// A `BEGIN IMMEDIATE` not yet committed or rolled back: dropping rolls it back, so an error
    /// or a panic leaves nothing half-done behind.
    open: AtomicBool,
}

impl LiteConn {
    fn plain(guard: OwnedMutexGuard<Connection>) -> LiteConn {
        LiteConn {
            conn: Mutex::new(guard),
            open: AtomicBool::new(false),
        }
    }

    /// Opens a write transaction on the connection (`finish` ends it).
    fn begin(&self) -> StoreResult<()> {
        self.execute_batch("BEGIN IMMEDIATE")?;
        self.open.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn execute_batch(&self, sql: &str) -> StoreResult<()> {
        self.lock().execute_batch(sql).map_err(map_err)
    }

    /// Commits (or rolls back) the transaction `begin` opened; after a failed commit it is still
    /// open, for a `finish(false)`.
    fn finish(&self, commit: bool) -> StoreResult<()> {
        if self.open.swap(false, Ordering::Relaxed) {
            let end = if commit { "COMMIT" } else { "ROLLBACK" };
            if let Err(e) = self.lock().execute_batch(end) {
                self.open.store(commit, Ordering::Relaxed);
                return Err(map_err(e));
            }
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OwnedMutexGuard<Connection>> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn execute(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64> {
        let conn = self.lock();
        let mut statement = conn
            .prepare_cached(&sqlite_placeholders(sql))
            .map_err(map_err)?;
        let changed = statement
            .execute(rusqlite::params_from_iter(lite_values(args)?))
            .map_err(map_err)?;
        Ok(changed as u64)
    }

    pub(crate) fn query(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<Vec<Row>> {
        let conn = self.lock();
        let mut statement = conn
            .prepare_cached(&sqlite_placeholders(sql))
            .map_err(map_err)?;
        let width = statement.column_count();
        let mut rows = statement
            .query(rusqlite::params_from_iter(lite_values(args)?))
            .map_err(map_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(map_err)? {
            let values = (0..width)
                .map(|i| row.get::<_, Value>(i))
                .collect::<rusqlite::Result<Vec<Value>>>()
                .map_err(map_err)?;
            out.push(Row::Lite(values));
        }
        Ok(out)
    }
}

impl Drop for LiteConn {
    fn drop(&mut self) {
        if *self.open.get_mut() {
            // Best effort: the error, if any, was already reported by the statement that failed.
            let _ = self.lock().execute_batch("ROLLBACK");
        }
    }
}

/// Times are stored as microseconds since the Unix epoch (UTC).
pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

pub(crate) fn from_micros(us: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Unexpected(format!("time out of range: {us}")))
}

/// The SQLite encoding of each value: times in microseconds, dates as text, UUIDs as 16-byte
/// blobs (rusqlite's own encoding of `Uuid`).
fn lite_values(args: &[Arg<'_>]) -> StoreResult<Vec<Value>> {
    args.iter()
        .map(|a| {
            Ok(match a {
                Arg::Uuid(v) => v.map_or(Value::Null, |u| Value::Blob(u.as_bytes().to_vec())),
                Arg::Text(v) => v.map_or(Value::Null, |s| Value::Text(s.to_string())),
                Arg::I16(v) => v.map_or(Value::Null, |n| Value::Integer(n.into())),
                Arg::I32(v) => v.map_or(Value::Null, |n| Value::Integer(n.into())),
                Arg::I64(v) => v.map_or(Value::Null, Value::Integer),
                Arg::F64(v) => v.map_or(Value::Null, Value::Real),
                Arg::Bool(v) => v.map_or(Value::Null, |b| Value::Integer(b.into())),
                Arg::Time(v) => v.map_or(Value::Null, |t| Value::Integer(micros(t))),
                Arg::Date(v) => v.map_or(Value::Null, |d| {
                    Value::Text(d.format("%Y-%m-%d").to_string())
                }),
                Arg::Json(v) => {
                    match v {
                        Some(json) => Value::Text(serde_json::to_string(json).map_err(|e| {
                            StoreError::Unexpected(format!("cannot encode JSON: {e}"))
                        })?),
                        None => Value::Null,
                    }
                }
                Arg::Uuids(_) | Arg::Texts(_) => {
                    return Err(StoreError::Unexpected(
                        "SQLite statements take no arrays".into(),
                    ));
                }
            })
        })
        .collect()
}

/// Translates a driver error into the store's vocabulary. SQLite names a failed unique rule by
/// its columns ("UNIQUE constraint failed: t.a, t.b"); it is turned into `t_a_b_key`, the name
/// the PostgreSQL schema gives the same rule.
pub(crate) fn map_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        rusqlite::Error::SqliteFailure(code, message) => match code.code {
            ErrorCode::ConstraintViolation => {
                let message = message.clone().unwrap_or_default();
                StoreError::Conflict {
                    constraint: constraint_name(&message),
                }
            }
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                StoreError::Unavailable("the embedded store is busy".into())
            }
            ErrorCode::CannotOpen
            | ErrorCode::DiskFull
            | ErrorCode::ReadOnly
            | ErrorCode::SystemIoFailure => StoreError::Unavailable(e.to_string()),
            _ => StoreError::Unexpected(e.to_string()),
        },
        _ => StoreError::Unexpected(e.to_string()),
    }
}

fn constraint_name(message: &str) -> String {
    // Expression indexes are reported by name: "UNIQUE constraint failed: index 'users_username_key'".
    if let Some(index) = message.strip_prefix("UNIQUE constraint failed: index '") {
        return index.trim_end_matches('\'').to_string();
    }
    let Some(columns) = message.strip_prefix("UNIQUE constraint failed: ") else {
        return message.to_string();
    };
    let mut parts = columns.split(", ").filter_map(|c| c.split_once('.'));
    let Some((table, first)) = parts.next() else {
        return message.to_string();
    };
    let mut name = format!("{table}_{first}");
    for (_, column) in parts {
        name.push('_');
        name.push_str(column);
    }
    name.push_str("_key");
    name
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> StoreResult<()> {
        // Migrations run with foreign keys off, as SQLite's documented procedure for rebuilding
        // a table (the only way to change a CHECK) requires, and are checked before they commit:
        // a migration that leaves a dangling reference is refused as a whole.
        self.call(|conn| {
            conn.execute_batch("PRAGMA foreign_keys = OFF")
                .map_err(map_err)?;
            let applied = apply_migrations(conn);
            conn.execute_batch("PRAGMA foreign_keys = ON")
                .map_err(map_err)?;
            applied
        })
        .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.call(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(map_err))
            .await
    }
}

/// Applies the migrations not yet applied in one `BEGIN IMMEDIATE` transaction.
fn apply_migrations(conn: &mut Connection) -> StoreResult<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(map_err)?;
    {
        let tx = &tx;
        {
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                     version INTEGER PRIMARY KEY,
                     name TEXT NOT NULL,
                     checksum TEXT NOT NULL,
                     applied_at INTEGER NOT NULL
                 )",
            )
            .map_err(map_err)?;
            for m in MIGRATIONS {
                let checksum = Migration::checksum(m.sqlite);
                let applied: Option<String> = tx
                    .query_row(
                        "SELECT checksum FROM schema_migrations WHERE version = ?1",
                        [m.version],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(map_err)?;
                match applied {
                    Some(found) if found == checksum => {}
                    Some(_) => {
                        return Err(StoreError::Unexpected(format!(
                            "migration {} was changed after it was applied; restore it and add a new migration instead",
                            m.name
                        )));
                    }
                    None => {
                        tracing::info!(migration = m.name, "applying migration");
                        tx.execute_batch(m.sqlite).map_err(map_err)?;
                        tx.execute(
                            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)",
                            params![m.version, m.name, checksum, micros(Utc::now())],
                        )
                        .map_err(map_err)?;
                    }
                }
            }
        }
        let dangling: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()
            .map_err(map_err)?;
        if let Some(table) = dangling {
            return Err(StoreError::Unexpected(format!(
                "a migration left rows of {table} referring to rows that do not exist"
            )));
        }
    }
    tx.commit().map_err(map_err)
}

#[cfg(test)]
mod tests {
    use super::constraint_name;

    #[test]
    fn a_unique_failure_is_named_like_the_postgres_constraint() {
        assert_eq!(
            constraint_name("UNIQUE constraint failed: practices.sms_number"),
            "practices_sms_number_key"
        );
        assert_eq!(
            constraint_name(
                "UNIQUE constraint failed: patients.practice_id, patients.mobile_phone"
            ),
            "patients_practice_id_mobile_phone_key"
        );
        assert_eq!(
            constraint_name("UNIQUE constraint failed: index 'users_username_key'"),
            "users_username_key"
        );
        assert_eq!(
            constraint_name("CHECK constraint failed: role"),
            "CHECK constraint failed: role"
        );
    }
}
