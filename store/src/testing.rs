//! Test support: a fresh, migrated store per test on either backend.
//!
//! PostgreSQL: the first caller (in any test process) migrates a template database named after
//! the migrations' fingerprint; every test then gets `CREATE DATABASE … TEMPLATE` of it, which is
//! much faster than migrating, and the database is dropped when the guard goes. SQLite: a file in
//! a temporary directory. If PostgreSQL cannot be reached this panics with how to start it: the
//! suite must never skip silently.

use std::sync::Arc;

use tokio_postgres::NoTls;
use uuid::Uuid;

use crate::migrations::postgres_fingerprint;
use crate::{PostgresStore, SqliteStore, Store};

/// The server tests use; override with `TEST_POSTGRES_URL` (a URL to the maintenance database).
pub fn admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn url_for(db: &str) -> String {
    let admin = admin_url();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{db}")
}

/// Any fixed key; serialises template creation across concurrent test processes.
const TEMPLATE_LOCK_KEY: i64 = 0x6761_7465_7761_7902;

async fn admin_client() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&admin_url(), NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {} ({e}). Start it with \
             `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
             or point TEST_POSTGRES_URL at a server (trust auth, user postgres).",
                admin_url()
            )
        });
    tokio::spawn(conn);
    client
}

/// Makes sure the migrated template database exists and returns its name.
async fn ensure_template() -> String {
    let name = format!("gateway_tmpl_{}", postgres_fingerprint());
    let admin = admin_client().await;
    // Session lock: held across CREATE DATABASE, which cannot run inside a transaction.
    admin
        .execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK_KEY])
        .await
        .expect("template lock");
    let exists = admin
        .query_opt(
            "SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate",
            &[&name],
        )
        .await
        .expect("look up template")
        .is_some();
    if !exists {
        // A leftover from a run that died half-way is not marked as a template: start over.
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
            .expect("drop stale");
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create template");
        {
            let store = PostgresStore::connect(&url_for(&name)).expect("template pool");
            store.migrate().await.expect("migrate template");
        }
        // Mark it a template only when complete; the pool above is dropped so no one is connected.
        admin
            .execute(
                "UPDATE pg_database SET datistemplate = true WHERE datname = $1",
                &[&name],
            )
            .await
            .expect("mark template");
        // Templates of older migration sets are of no further use.
        let stale = admin
            .query(
                "SELECT datname FROM pg_database WHERE datname LIKE 'gateway_tmpl_%' AND datname <> $1",
                &[&name],
            )
            .await
            .expect("list stale templates");
        for row in stale {
            let old: String = row.get(0);
            let _ = admin
                .batch_execute(&format!("ALTER DATABASE \"{old}\" IS_TEMPLATE false"))
                .await;
            let _ = admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{old}\" WITH (FORCE)"))
                .await;
        }
    }
    admin
        .execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK_KEY])
        .await
        .expect("template unlock");
    name
}

/// A fresh PostgreSQL database for one test; dropped with the guard.
pub struct TestPostgres {
    pub name: String,
    pub url: String,
}

impl TestPostgres {
    /// A migrated database copied from the template.
    pub async fn migrated() -> TestPostgres {
        let template = ensure_template().await;
        Self::create(Some(&template)).await
    }

    /// An empty database with no schema at all (for migration tests).
    pub async fn empty() -> TestPostgres {
        Self::create(None).await
    }

    async fn create(template: Option<&str>) -> TestPostgres {
        let name = format!("gateway_test_{}", Uuid::new_v4().simple());
        let admin = admin_client().await;
        let sql = match template {
            Some(t) => format!("CREATE DATABASE \"{name}\" TEMPLATE \"{t}\""),
            None => format!("CREATE DATABASE \"{name}\""),
        };
        admin
            .batch_execute(&sql)
            .await
            .expect("create test database");
        TestPostgres {
            url: url_for(&name),
            name,
        }
    }

    pub fn store(&self) -> Arc<dyn Store> {
        Arc::new(PostgresStore::connect(&self.url).expect("test pool"))
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        // Drop runs outside any runtime guarantee, so use a private one on a plain thread.
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok((client, conn)) = tokio_postgres::connect(&admin_url(), NoTls).await {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// A fresh SQLite store in a temporary directory, removed with the guard.
pub struct TestSqlite {
    pub dir: tempfile::TempDir,
}

impl TestSqlite {
    pub fn new() -> TestSqlite {
        TestSqlite {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("gateway.db").display())
    }

    pub async fn store(&self) -> Arc<dyn Store> {
        let store = SqliteStore::open(&self.dir.path().join("gateway.db"))
            .await
            .expect("open sqlite");
        store.migrate().await.expect("migrate sqlite");
        Arc::new(store)
    }
}

impl Default for TestSqlite {
    fn default() -> Self {
        Self::new()
    }
}

/// Either backend, for suites that run every test on both.
pub enum TestStore {
    Postgres(TestPostgres),
    Sqlite(TestSqlite),
}

impl TestStore {
    pub async fn postgres() -> TestStore {
        TestStore::Postgres(TestPostgres::migrated().await)
    }

    pub fn sqlite() -> TestStore {
        TestStore::Sqlite(TestSqlite::new())
    }

    pub fn url(&self) -> String {
        match self {
            TestStore::Postgres(pg) => pg.url.clone(),
            TestStore::Sqlite(lite) => lite.url(),
        }
    }

    /// A migrated store on this database.
    pub async fn store(&self) -> Arc<dyn Store> {
        match self {
            TestStore::Postgres(pg) => pg.store(),
            TestStore::Sqlite(lite) => lite.store().await,
        }
    }
}
