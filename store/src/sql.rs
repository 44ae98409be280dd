//! The one interface both backends offer to the use cases: run a statement, read rows, in a
//! transaction or not. Each use case is written once against [`Tx`] (in the aggregate's module,
//! e.g. `accounts.rs`); the backends only connect, begin, commit and translate driver errors.
//!
//! - SQL is written in PostgreSQL's placeholder style (`$1`); the SQLite connection renders it as
//!   `?1`. Where the dialects differ (`ON CONFLICT DO NOTHING` / `INSERT OR IGNORE`, interval
//!   arithmetic, arrays, `FOR UPDATE`) the use case names both texts with [`Tx::pick`], side by
//!   side, so a reader sees the whole use case in one place. PostgreSQL types a parameter where
//!   it first meets it, so an optional one is written `id > $2 OR $2 IS NULL`, not the other way.
//! - Values go in as [`Arg`]s (typed even when null, as PostgreSQL wants) and come out through
//!   [`Col`], which knows the SQLite encodings: times as microseconds since the epoch, dates as
//!   `YYYY-MM-DD` text, booleans as integers.
//! - PostgreSQL awaits the driver. SQLite runs on a blocking thread and never waits: its side of
//!   every method completes at once, so the same `async fn` is driven to its end by [`run_now`]
//!   inside the blocking closure, with no runtime and no thread hop per statement.
//!
//! Nothing here holds a business rule; those are decided in pure functions (here or in the
//! gateway's domain) that the use cases call between statements.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::postgres::PgConn;
use crate::sqlite::LiteConn;
use crate::{Backend, StoreError, StoreResult};

/// A boxed future that may cross threads: what a use case closure returns.
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs use cases in a transaction, or on a plain connection where each statement commits by
/// itself (`autocommit`: reads, and single statements). Both backends
/// implement it; the aggregate traits are implemented once for every `Db`. The closure is
/// `'static` because SQLite runs it on a blocking thread.
pub trait Db: Send + Sync + 'static {
    fn autocommit<T, F>(&self, f: F) -> impl Future<Output = StoreResult<T>> + Send
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a Tx<'a>) -> BoxFuture<'a, StoreResult<T>> + Send + 'static;

    /// Commits when `f` returns `Ok`, rolls back otherwise.
    fn transaction<T, F>(&self, f: F) -> impl Future<Output = StoreResult<T>> + Send
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a Tx<'a>) -> BoxFuture<'a, StoreResult<T>> + Send + 'static;
}

/// A connection, usually inside a transaction, of either backend.
pub enum Tx<'a> {
    Pg(PgConn<'a>),
    Lite(&'a LiteConn),
}

impl Tx<'_> {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Tx::Pg(_) => Backend::Postgres,
            Tx::Lite(_) => Backend::Sqlite,
        }
    }

    /// The statement text for this backend, where the dialects differ.
    pub(crate) fn pick<'s>(&self, postgres: &'s str, sqlite: &'s str) -> &'s str {
        match self {
            Tx::Pg(_) => postgres,
            Tx::Lite(_) => sqlite,
        }
    }

    /// Tells the other gateway instances, when this transaction commits, that it queued work for
    /// the dispatchers (PostgreSQL `NOTIFY`, see `postgres::signals`). Nothing on SQLite, where
    /// one process owns the store.
    pub(crate) async fn notify_work(&self) -> StoreResult<()> {
        match self {
            Tx::Pg(c) => c.notify_work().await,
            Tx::Lite(_) => Ok(()),
        }
    }

    /// As [`Tx::notify_work`], for the notification streams only (feed rows, nothing to send).
    pub(crate) async fn notify_feed(&self) -> StoreResult<()> {
        match self {
            Tx::Pg(c) => c.notify_feed().await,
            Tx::Lite(_) => Ok(()),
        }
    }

    /// Runs a statement; the number of rows it changed.
    pub(crate) async fn execute(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64> {
        match self {
            Tx::Pg(c) => c.execute(sql, args).await,
            Tx::Lite(c) => c.execute(sql, args),
        }
    }

    pub(crate) async fn query(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<Vec<Row>> {
        match self {
            Tx::Pg(c) => c.query(sql, args).await,
            Tx::Lite(c) => c.query(sql, args),
        }
    }

    /// The first row, if any.
    pub(crate) async fn query_opt(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<Option<Row>> {
        Ok(self.query(sql, args).await?.into_iter().next())
    }

    /// The first row; `NotFound` when there is none.
    pub(crate) async fn query_one(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<Row> {
        self.query_opt(sql, args).await?.ok_or(StoreError::NotFound)
    }

    /// The first column of every row.
    pub(crate) async fn column<T: Col>(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<Vec<T>> {
        self.query(sql, args)
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// A list condition on the next placeholders: `= ANY($n)` with one array argument on
    /// PostgreSQL, `IN ($n, $n+1, …)` with one argument per item on SQLite (no arrays there).
    /// The arguments are appended to `args`.
    pub(crate) fn in_list<'v, T: ToArg>(&self, items: &'v [T], args: &mut Vec<Arg<'v>>) -> String
    where
        [T]: ToArg,
    {
        match self {
            Tx::Pg(_) => {
                args.push(items.arg());
                format!("= ANY(${})", args.len())
            }
            Tx::Lite(_) => {
                let mut numbers = Vec::with_capacity(items.len());
                for item in items {
                    args.push(item.arg());
                    numbers.push(format!("${}", args.len()));
                }
                format!("IN ({})", numbers.join(", "))
            }
        }
    }

    /// Runs `sql` once per item, with the item as `$2` after `$1` (SQLite has no arrays).
    pub(crate) async fn execute_each<T: ToArg>(
        &self,
        sql: &str,
        first: Arg<'_>,
        items: &[T],
    ) -> StoreResult<()> {
        for item in items {
            self.execute(sql, &[first.clone(), item.arg()]).await?;
        }
        Ok(())
    }
}

/// Drives a future that never waits (SQLite's side of [`Tx`]) to its end on this thread.
pub(crate) fn run_now<T>(f: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => Err(StoreError::Unexpected(
            "a use case waited on something other than the embedded store".into(),
        )),
    }
}

/// A value bound to a placeholder. Nulls keep their type: PostgreSQL checks it.
#[derive(Debug, Clone)]
pub enum Arg<'a> {
    Uuid(Option<Uuid>),
    Text(Option<&'a str>),
    I16(Option<i16>),
    I32(Option<i32>),
    I64(Option<i64>),
    F64(Option<f64>),
    Bool(Option<bool>),
    Time(Option<DateTime<Utc>>),
    Date(Option<NaiveDate>),
    /// `jsonb` in PostgreSQL, JSON text in SQLite.
    Json(Option<&'a serde_json::Value>),
    /// PostgreSQL arrays; SQLite statements take the items one by one.
    Uuids(&'a [Uuid]),
    Texts(&'a [String]),
}

/// Turns a Rust value into an [`Arg`]: `id.arg()`, `name.arg()`, `Some(at).arg()`.
pub(crate) trait ToArg {
    fn arg(&self) -> Arg<'_>;
    /// The typed null, for `Option<Self>`.
    fn null() -> Arg<'static>;
}

macro_rules! to_arg {
    ($t:ty, $variant:ident) => {
        impl ToArg for $t {
            fn arg(&self) -> Arg<'_> {
                Arg::$variant(Some(*self))
            }
            fn null() -> Arg<'static> {
                Arg::$variant(None)
            }
        }
    };
}

to_arg!(Uuid, Uuid);
to_arg!(i16, I16);
to_arg!(i32, I32);
to_arg!(i64, I64);
to_arg!(f64, F64);
to_arg!(bool, Bool);
to_arg!(DateTime<Utc>, Time);
to_arg!(NaiveDate, Date);

impl ToArg for str {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(Some(self))
    }
    fn null() -> Arg<'static> {
        Arg::Text(None)
    }
}

impl ToArg for String {
    fn arg(&self) -> Arg<'_> {
        Arg::Text(Some(self))
    }
    fn null() -> Arg<'static> {
        Arg::Text(None)
    }
}

impl ToArg for serde_json::Value {
    fn arg(&self) -> Arg<'_> {
        Arg::Json(Some(self))
    }
    fn null() -> Arg<'static> {
        Arg::Json(None)
    }
}

impl ToArg for [Uuid] {
    fn arg(&self) -> Arg<'_> {
        Arg::Uuids(self)
    }
    fn null() -> Arg<'static> {
        Arg::Uuids(&[])
    }
}

impl ToArg for Vec<Uuid> {
    fn arg(&self) -> Arg<'_> {
        Arg::Uuids(self)
    }
    fn null() -> Arg<'static> {
        Arg::Uuids(&[])
    }
}

impl ToArg for [String] {
    fn arg(&self) -> Arg<'_> {
        Arg::Texts(self)
    }
    fn null() -> Arg<'static> {
        Arg::Texts(&[])
    }
}

impl ToArg for Vec<String> {
    fn arg(&self) -> Arg<'_> {
        Arg::Texts(self)
    }
    fn null() -> Arg<'static> {
        Arg::Texts(&[])
    }
}

impl<T: ToArg + ?Sized> ToArg for &T {
    fn arg(&self) -> Arg<'_> {
        (**self).arg()
    }
    fn null() -> Arg<'static> {
        T::null()
    }
}

impl<T: ToArg> ToArg for Option<T> {
    fn arg(&self) -> Arg<'_> {
        match self {
            Some(v) => v.arg(),
            None => T::null(),
        }
    }
    fn null() -> Arg<'static> {
        T::null()
    }
}

/// One row read by either backend.
pub enum Row {
    Pg(tokio_postgres::Row),
    /// SQLite rows borrow their statement, so they are copied out.
    Lite(Vec<rusqlite::types::Value>),
}

impl Row {
    pub(crate) fn get<T: Col>(&self, i: usize) -> StoreResult<T> {
        match self {
            Row::Pg(row) => T::from_pg(row, i),
            Row::Lite(values) => match values.get(i) {
                Some(v) => T::from_lite(v),
                None => Err(StoreError::Unexpected(format!("no column {i}"))),
            },
        }
    }
}

/// A column type both backends can read.
pub(crate) trait Col: Sized {
    fn from_pg(row: &tokio_postgres::Row, i: usize) -> StoreResult<Self>;
    fn from_pg_opt(row: &tokio_postgres::Row, i: usize) -> StoreResult<Option<Self>>;
    fn from_lite(v: &rusqlite::types::Value) -> StoreResult<Self>;
}

fn column_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unexpected(format!("unreadable column: {e}"))
}

/// Types both drivers read directly.
macro_rules! col {
    ($t:ty) => {
        impl Col for $t {
            fn from_pg(row: &tokio_postgres::Row, i: usize) -> StoreResult<Self> {
                row.try_get(i).map_err(column_error)
            }
            fn from_pg_opt(row: &tokio_postgres::Row, i: usize) -> StoreResult<Option<Self>> {
                row.try_get(i).map_err(column_error)
            }
            fn from_lite(v: &rusqlite::types::Value) -> StoreResult<Self> {
                rusqlite::types::FromSql::column_result(v.into()).map_err(column_error)
            }
        }
    };
}

col!(Uuid);
col!(String);
col!(i16);
col!(i32);
col!(i64);
col!(f64);
col!(bool);

/// Times are `timestamptz` in PostgreSQL and microseconds since the epoch in SQLite.
impl Col for DateTime<Utc> {
    fn from_pg(row: &tokio_postgres::Row, i: usize) -> StoreResult<Self> {
        row.try_get(i).map_err(column_error)
    }
    fn from_pg_opt(row: &tokio_postgres::Row, i: usize) -> StoreResult<Option<Self>> {
        row.try_get(i).map_err(column_error)
    }
    fn from_lite(v: &rusqlite::types::Value) -> StoreResult<Self> {
        crate::sqlite::from_micros(i64::from_lite(v)?)
    }
}

/// Dates are `date` in PostgreSQL and `YYYY-MM-DD` text in SQLite.
impl Col for NaiveDate {
    fn from_pg(row: &tokio_postgres::Row, i: usize) -> StoreResult<Self> {
        row.try_get(i).map_err(column_error)
    }
    fn from_pg_opt(row: &tokio_postgres::Row, i: usize) -> StoreResult<Option<Self>> {
        row.try_get(i).map_err(column_error)
    }
    fn from_lite(v: &rusqlite::types::Value) -> StoreResult<Self> {
        NaiveDate::parse_from_str(&String::from_lite(v)?, "%Y-%m-%d").map_err(column_error)
    }
}

/// JSON is `jsonb` in PostgreSQL and JSON text in SQLite.
impl Col for serde_json::Value {
    fn from_pg(row: &tokio_postgres::Row, i: usize) -> StoreResult<Self> {
        row.try_get(i).map_err(column_error)
    }
    fn from_pg_opt(row: &tokio_postgres::Row, i: usize) -> StoreResult<Option<Self>> {
        row.try_get(i).map_err(column_error)
    }
    fn from_lite(v: &rusqlite::types::Value) -> StoreResult<Self> {
        serde_json::from_str(&String::from_lite(v)?).map_err(column_error)
    }
}

/// Arrays come from PostgreSQL only.
impl<T> Col for Vec<T>
where
    T: Col + for<'b> tokio_postgres::types::FromSql<'b>,
{
    fn from_pg(row: &tokio_postgres::Row, i: usize) -> StoreResult<Self> {
        row.try_get(i).map_err(column_error)
    }
    fn from_pg_opt(row: &tokio_postgres::Row, i: usize) -> StoreResult<Option<Self>> {
        row.try_get(i).map_err(column_error)
    }
    fn from_lite(_: &rusqlite::types::Value) -> StoreResult<Self> {
        Err(column_error("SQLite has no array columns"))
    }
}

impl<T: Col> Col for Option<T> {
    fn from_pg(row: &tokio_postgres::Row, i: usize) -> StoreResult<Self> {
        T::from_pg_opt(row, i)
    }
    fn from_pg_opt(row: &tokio_postgres::Row, i: usize) -> StoreResult<Option<Self>> {
        T::from_pg_opt(row, i).map(Some)
    }
    fn from_lite(v: &rusqlite::types::Value) -> StoreResult<Self> {
        match v {
            rusqlite::types::Value::Null => Ok(None),
            v => T::from_lite(v).map(Some),
        }
    }
}

/// Writes `$1`, `$2` … as `?1`, `?2` … for SQLite.
pub(crate) fn sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_for_sqlite() {
        assert_eq!(
            sqlite_placeholders("UPDATE t SET a = $2 WHERE id = $1 AND b = $12"),
            "UPDATE t SET a = ?2 WHERE id = ?1 AND b = ?12"
        );
        assert_eq!(sqlite_placeholders("SELECT '$' || x"), "SELECT '$' || x");
    }

    #[test]
    fn a_future_that_waits_is_refused_not_hung() {
        let waits = std::future::pending::<StoreResult<()>>();
        assert!(matches!(run_now(waits), Err(StoreError::Unexpected(_))));
        assert_eq!(run_now(async { Ok(7) }).unwrap(), 7);
    }
}
