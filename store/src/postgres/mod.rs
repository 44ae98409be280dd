//! The PostgreSQL backend: the production store, and the only one for several gateways.
//!
//! A deadpool pool of tokio-postgres connections. Each use case takes one pooled connection and,
//! when it writes, one transaction. Work run inside [`crate::urgent`] takes its connection from a
//! pool of its kind of urgency (readings; the texts that carry alerts and escalation), so it
//! never queues behind a burst of ordinary requests waiting for the main pool. Migrations run
//! under a transaction-scoped advisory lock so concurrent start-ups serialise. Driver errors
//! become [`StoreError`]s in [`map_err`].

mod inbound;
mod inbound_batch;
pub(crate) mod instances;
mod signals;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use crate::migrations::{MIGRATIONS, Migration};
use crate::sql::{Arg, BoxFuture, Db, Row, Tx};
use crate::{Backend, Store, StoreError, StoreResult};

/// Any fixed number works; it only has to be the same for every gateway binary.
const MIGRATION_LOCK_KEY: i64 = 0x6761_7465_7761_7901;

/// Connections of the main pool, which every request shares.
const POOL_SIZE: usize = 16;
/// Connections kept for readings ([`crate::Urgency::Readings`]): under a burst of inbound texts,
/// 500 readings a second need about this many.
const READINGS_POOL_SIZE: usize = 24;
/// Connections kept for alert texts and escalation ([`crate::Urgency::Alerts`]).
const ALERTS_POOL_SIZE: usize = 4;

pub struct PostgresStore {
    pool: Pool,
    /// Taken by readings ([`crate::Urgency::Readings`]).
    readings_pool: Pool,
    /// Taken by alert texts and escalation ([`crate::Urgency::Alerts`]).
    alerts_pool: Pool,
    config: tokio_postgres::Config,
    /// The work- and config-signal listener, started on first use.
    signals: std::sync::OnceLock<signals::Signals>,
    /// Sends the feed-only signals of inbound texts after their commits.
    feed_signaller: signals::FeedSignaller,
    /// Ordinary inbound texts waiting to be recorded together.
    inbound_batches: inbound_batch::InboundBatches,
    /// This handle's instance id (see [`crate::instances`]).
    instance_id: String,
    /// Whether the instance lock is held; the task holding it starts at announcement.
    instance_lock: std::sync::OnceLock<tokio::sync::watch::Receiver<bool>>,
}

impl PostgresStore {
    /// Builds the pool; connections are opened lazily, so this succeeds while the server is down
    /// and the store becomes usable when it comes back.
    pub fn connect(url: &str) -> StoreResult<PostgresStore> {
        let config = tokio_postgres::Config::from_str(url).map_err(|e| {
            StoreError::Unexpected(format!("DATABASE_URL is not a valid PostgreSQL URL: {e}"))
        })?;
        let pool = build_pool(&config, POOL_SIZE)?;
        let readings_pool = build_pool(&config, READINGS_POOL_SIZE)?;
        let alerts_pool = build_pool(&config, ALERTS_POOL_SIZE)?;
        Ok(PostgresStore {
            pool,
            readings_pool,
            alerts_pool,
            config,
            signals: std::sync::OnceLock::new(),
            feed_signaller: signals::FeedSignaller::new(),
            inbound_batches: inbound_batch::InboundBatches::new(),
            instance_id: crate::instances::new_instance_id(),
            instance_lock: std::sync::OnceLock::new(),
        })
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        let pool = match crate::urgency::current() {
            None => &self.pool,
            Some(crate::Urgency::Readings) => &self.readings_pool,
            Some(crate::Urgency::Alerts) => &self.alerts_pool,
        };
        pool.get()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

/// A pool of at most `size` connections, opened lazily, whose waits are bounded: a request must
/// get a 503 quickly rather than hang while the store is down.
fn build_pool(config: &tokio_postgres::Config, size: usize) -> StoreResult<Pool> {
    let manager = Manager::from_config(
        config.clone(),
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let timeouts = Timeouts {
        wait: Some(Duration::from_secs(5)),
        create: Some(Duration::from_secs(3)),
        recycle: Some(Duration::from_secs(3)),
    };
    Pool::builder(manager)
        .max_size(size)
        .timeouts(timeouts)
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Unexpected(format!("cannot build the connection pool: {e}")))
}

impl Db for PostgresStore {
    async fn autocommit<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a Tx<'a>) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        let client = self.client().await?;
        f(&Tx::Pg(PgConn::Client(&client))).await
    }

    async fn transaction<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a Tx<'a>) -> BoxFuture<'a, StoreResult<T>> + Send + 'static,
    {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let out = f(&Tx::Pg(PgConn::Tx(&tx))).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(out)
    }
}

/// A pooled connection as the shared use cases see it (see [`crate::sql`]): in a transaction, or
/// a plain connection for reads. Every statement is prepared once per connection and cached.
pub enum PgConn<'a> {
    Tx(&'a deadpool_postgres::Transaction<'a>),
    Client(&'a deadpool_postgres::Object),
}

impl PgConn<'_> {
    pub(crate) async fn execute(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64> {
        match self {
            PgConn::Tx(c) => pg_execute(*c, sql, args).await,
            PgConn::Client(c) => pg_execute(*c, sql, args).await,
        }
    }

    pub(crate) async fn query(&self, sql: &str, args: &[Arg<'_>]) -> StoreResult<Vec<Row>> {
        let rows = match self {
            PgConn::Tx(c) => pg_query(*c, sql, args).await?,
            PgConn::Client(c) => pg_query(*c, sql, args).await?,
        };
        Ok(rows.into_iter().map(Row::Pg).collect())
    }

    pub(crate) async fn notify_work(&self) -> StoreResult<()> {
        match self {
            PgConn::Tx(c) => signals::notify_work(*c).await,
            PgConn::Client(c) => signals::notify_work(*c).await,
        }
    }

    pub(crate) async fn notify_feed(&self) -> StoreResult<()> {
        match self {
            PgConn::Tx(c) => signals::notify_feed(*c).await,
            PgConn::Client(c) => signals::notify_feed(*c).await,
        }
    }
}

async fn pg_execute(c: &impl GenericClient, sql: &str, args: &[Arg<'_>]) -> StoreResult<u64> {
    let statement = c.prepare_cached(sql).await.map_err(map_err)?;
    c.execute(&statement, &pg_params(args))
        .await
        .map_err(map_err)
}

async fn pg_query(
    c: &impl GenericClient,
    sql: &str,
    args: &[Arg<'_>],
) -> StoreResult<Vec<tokio_postgres::Row>> {
    let statement = c.prepare_cached(sql).await.map_err(map_err)?;
    c.query(&statement, &pg_params(args)).await.map_err(map_err)
}

fn pg_params<'a>(args: &'a [Arg<'_>]) -> Vec<&'a (dyn tokio_postgres::types::ToSql + Sync)> {
    args.iter()
        .map(|a| -> &(dyn tokio_postgres::types::ToSql + Sync) {
            match a {
                Arg::Uuid(v) => v,
                Arg::Text(v) => v,
                Arg::I16(v) => v,
                Arg::I32(v) => v,
                Arg::I64(v) => v,
                Arg::F64(v) => v,
                Arg::Bool(v) => v,
                Arg::Time(v) => v,
                Arg::Date(v) => v,
                Arg::Json(v) => v,
                Arg::Uuids(v) => v,
                Arg::Texts(v) => v,
            }
        })
        .collect()
}

/// Translates a driver error into the store's vocabulary.
pub(crate) fn map_err(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION
            || *code == SqlState::FOREIGN_KEY_VIOLATION
            || *code == SqlState::CHECK_VIOLATION
            || *code == SqlState::EXCLUSION_VIOLATION
            || *code == SqlState::RESTRICT_VIOLATION
        {
            let constraint = db.constraint().unwrap_or(db.message()).to_string();
            return StoreError::Conflict { constraint };
        }
        // A deadlock or serialization failure leaves nothing behind: the caller may retry.
        if *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE
        {
            tracing::warn!(
                code = code.code(),
                "transaction aborted by the database; retry it"
            );
            return StoreError::Unavailable(db.message().to_string());
        }
        if *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW
            || *code == SqlState::TOO_MANY_CONNECTIONS
        {
            return StoreError::Unavailable(db.message().to_string());
        }
        return StoreError::Unexpected(format!("{}: {}", code.code(), db.message()));
    }
    if e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()) {
        return StoreError::Unavailable(e.to_string());
    }
    StoreError::Unexpected(e.to_string())
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // Taken first, before the bookkeeping table exists: concurrent CREATE TABLE IF NOT EXISTS
        // statements can otherwise collide on the catalog.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])
            .await
            .map_err(map_err)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version bigint PRIMARY KEY,
                 name text NOT NULL,
                 checksum text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(map_err)?;
        let applied = tx
            .query("SELECT version, checksum FROM schema_migrations", &[])
            .await
            .map_err(map_err)?;
        for m in MIGRATIONS {
            let checksum = Migration::checksum(m.postgres);
            match applied.iter().find(|r| r.get::<_, i64>(0) == m.version) {
                Some(row) if row.get::<_, String>(1) == checksum => continue,
                Some(_) => {
                    return Err(StoreError::Unexpected(format!(
                        "migration {} was changed after it was applied; restore it and add a new migration instead",
                        m.name
                    )));
                }
                None => {
                    tracing::info!(migration = m.name, "applying migration");
                    tx.batch_execute(m.postgres).await.map_err(map_err)?;
                    tx.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                        &[&m.version, &m.name, &checksum],
                    )
                    .await
                    .map_err(map_err)?;
                }
            }
        }
        tx.commit().await.map_err(map_err)
    }

    async fn ping(&self) -> StoreResult<()> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await.map_err(map_err)?;
        Ok(())
    }

    fn work_signals(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(
            self.signals
                .get_or_init(|| signals::listen(self.config.clone()))
                .work
                .clone(),
        )
    }

    fn feed_signals(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(
            self.signals
                .get_or_init(|| signals::listen(self.config.clone()))
                .feed
                .clone(),
        )
    }

    fn config_signals(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(
            self.signals
                .get_or_init(|| signals::listen(self.config.clone()))
                .config
                .clone(),
        )
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::sql::ToArg;

    async fn select_one(store: &PostgresStore) -> StoreResult<u64> {
        store
            .autocommit(|tx| {
                Box::pin(async move { tx.execute("SELECT $1::int", &[1i32.arg()]).await })
            })
            .await
    }

    /// Holds every connection of the pool `urgency` takes from until `held` turns true.
    async fn hold_all(
        store: &Arc<PostgresStore>,
        urgency: Option<crate::Urgency>,
        held: &tokio::sync::watch::Receiver<bool>,
    ) -> Vec<tokio::task::JoinHandle<StoreResult<()>>> {
        let (pool, size) = match urgency {
            None => (&store.pool, POOL_SIZE),
            Some(crate::Urgency::Readings) => (&store.readings_pool, READINGS_POOL_SIZE),
            Some(crate::Urgency::Alerts) => (&store.alerts_pool, ALERTS_POOL_SIZE),
        };
        let mut holders = Vec::new();
        for _ in 0..size {
            let (store, mut held) = (store.clone(), held.clone());
            let work = async move {
                store
                    .autocommit(move |tx| {
                        Box::pin(async move {
                            tx.execute("SELECT 1", &[]).await?;
                            let _ = held.wait_for(|released| *released).await;
                            Ok(())
                        })
                    })
                    .await
            };
            holders.push(tokio::spawn(async move {
                match urgency {
                    Some(urgency) => crate::urgent(urgency, work).await,
                    None => work.await,
                }
            }));
        }
        while pool.status().available > 0 || pool.status().size < size {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        holders
    }

    #[tokio::test]
    async fn urgent_work_is_served_while_every_ordinary_connection_is_taken() {
        let db = crate::testing::TestPostgres::empty().await;
        let store = Arc::new(PostgresStore::connect(&db.url).unwrap());
        let (release, held) = tokio::sync::watch::channel(false);
        let mut holders = hold_all(&store, None, &held).await;
        // Ordinary work waits for a connection of the main pool...
        let waited = tokio::time::timeout(Duration::from_millis(300), select_one(&store)).await;
        assert!(waited.is_err(), "no ordinary connection is free");
        // ...urgent work does not.
        let readings = crate::urgent(crate::Urgency::Readings, select_one(&store));
        let served = tokio::time::timeout(Duration::from_secs(5), readings).await;
        assert_eq!(served.expect("readings are served").unwrap(), 1);
        // With every reading connection taken too, alert texts are still served.
        holders.extend(hold_all(&store, Some(crate::Urgency::Readings), &held).await);
        let readings = crate::urgent(crate::Urgency::Readings, select_one(&store));
        let waited = tokio::time::timeout(Duration::from_millis(300), readings).await;
        assert!(waited.is_err(), "no reading connection is free");
        let alerts = crate::urgent(crate::Urgency::Alerts, select_one(&store));
        let served = tokio::time::timeout(Duration::from_secs(5), alerts).await;
        assert_eq!(served.expect("alert texts are served").unwrap(), 1);
        release.send(true).unwrap();
        for holder in holders {
            holder.await.unwrap().unwrap();
        }
        assert_eq!(select_one(&store).await.unwrap(), 1);
    }
}
