//! The baseline of the closed-loop benchmark: the least a server must do for an inbound text,
//! measured with the same client in the same run as the gateway.
//!
//! A bare axum server that, for `POST /webhooks/twilio/sms`, decodes the form, checks
//! `X-Twilio-Signature` (HMAC-SHA1, with the `webhooks` crate the gateway uses: 403 when it does
//! not match), parses Twilio's inbound form (422 when a field is missing or invalid), INSERTs one
//! row and answers the empty TwiML after the commit (503 when the store fails). Nothing else: no
//! routing, no patient, no audit, no notification.
//!
//! The row goes to a table of its own, with the `MessageSid` as its primary key and
//! `ON CONFLICT DO NOTHING` (the gateway's messages are unique per carrier id too):
//! - PostgreSQL: a database created for the run on the given (loopback) server and dropped at
//!   the end, through deadpool-postgres with the gateway's pool size (16) and a prepared
//!   statement, committed with the server's `synchronous_commit` like the gateway's;
//! - SQLite: a file in a temporary directory removed at the end, one connection behind a mutex
//!   used from blocking threads, WAL with `synchronous=FULL`, as the gateway's embedded store.
//!
//! The server runs on a runtime of its own (two worker threads, like the gateway's on this
//! machine) so that it does not share the load generator's scheduler.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use webhooks::{InboundSms, signature, twiml};

use crate::client::SMS_PATH;

/// The gateway's PostgreSQL pool size, used for the baseline's too.
pub const POOL_SIZE: usize = 16;

const PG_TABLE: &str = "CREATE TABLE inbound (
    message_sid text PRIMARY KEY,
    account_sid text NOT NULL,
    from_number text NOT NULL,
    to_number text NOT NULL,
    body text NOT NULL,
    num_segments integer NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now())";
const PG_INSERT: &str =
    "INSERT INTO inbound (message_sid, account_sid, from_number, to_number, body, num_segments)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (message_sid) DO NOTHING";
const SQLITE_TABLE: &str = "CREATE TABLE inbound (
    message_sid TEXT PRIMARY KEY,
    account_sid TEXT NOT NULL,
    from_number TEXT NOT NULL,
    to_number TEXT NOT NULL,
    body TEXT NOT NULL,
    num_segments INTEGER NOT NULL,
    received_at INTEGER NOT NULL)";
const SQLITE_INSERT: &str = "INSERT INTO inbound (message_sid, account_sid, from_number, to_number, body, num_segments, received_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (message_sid) DO NOTHING";

/// Which store the baseline writes to.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A fresh database on this (loopback) PostgreSQL server, given by an admin URL.
    Postgres { admin_url: String },
    /// A fresh SQLite file in a temporary directory.
    Sqlite,
}

/// The baseline's table, in either store.
#[derive(Clone)]
enum Db {
    Postgres(Pool),
    Sqlite(Arc<Mutex<rusqlite::Connection>>),
}

impl Db {
    async fn insert(&self, sms: &InboundSms) -> anyhow::Result<()> {
        match self {
            Db::Postgres(pool) => {
                let client = pool.get().await?;
                let statement = client.prepare_cached(PG_INSERT).await?;
                client
                    .execute(
                        &statement,
                        &[
                            &sms.message_sid.as_str(),
                            &sms.account_sid,
                            &sms.from.as_str(),
                            &sms.to.as_str(),
                            &sms.body,
                            &i32::try_from(sms.num_segments).unwrap_or(i32::MAX),
                        ],
                    )
                    .await?;
                Ok(())
            }
            Db::Sqlite(conn) => {
                let conn = Arc::clone(conn);
                let row = (
                    sms.message_sid.as_str().to_owned(),
                    sms.account_sid.clone(),
                    sms.from.as_str().to_owned(),
                    sms.to.as_str().to_owned(),
                    sms.body.clone(),
                    i64::from(sms.num_segments),
                    chrono::Utc::now().timestamp_micros(),
                );
                tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                    let conn = conn.lock().expect("baseline connection lock");
                    conn.prepare_cached(SQLITE_INSERT)?
                        .execute(rusqlite::params![
                            row.0, row.1, row.2, row.3, row.4, row.5, row.6
                        ])?;
                    Ok(())
                })
                .await??;
                Ok(())
            }
        }
    }

    /// Committed rows per sender number: `(rows, distinct MessageSids)`.
    async fn rows_by_sender(&self) -> anyhow::Result<HashMap<String, (u64, u64)>> {
        const QUERY: &str = "SELECT from_number, count(*), count(DISTINCT message_sid) FROM inbound GROUP BY from_number";
        match self {
            Db::Postgres(pool) => {
                let client = pool.get().await?;
                let rows = client.query(QUERY, &[]).await?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        let (n, d): (i64, i64) = (r.get(1), r.get(2));
                        (r.get::<_, String>(0), (n as u64, d as u64))
                    })
                    .collect())
            }
            Db::Sqlite(conn) => {
                let conn = Arc::clone(conn);
                tokio::task::spawn_blocking(move || {
                    let conn = conn.lock().expect("baseline connection lock");
                    let mut statement = conn.prepare(QUERY)?;
                    let rows = statement.query_map([], |r| {
                        let (n, d): (i64, i64) = (r.get(1)?, r.get(2)?);
                        Ok((r.get::<_, String>(0)?, (n as u64, d as u64)))
                    })?;
                    Ok(rows.collect::<Result<HashMap<_, _>, _>>()?)
                })
                .await?
            }
        }
    }

    async fn count(&self) -> anyhow::Result<u64> {
        const QUERY: &str = "SELECT count(*) FROM inbound";
        match self {
            Db::Postgres(pool) => {
                let n: i64 = pool.get().await?.query_one(QUERY, &[]).await?.get(0);
                Ok(n as u64)
            }
            Db::Sqlite(conn) => {
                let conn = Arc::clone(conn);
                tokio::task::spawn_blocking(move || {
                    let conn = conn.lock().expect("baseline connection lock");
                    let n: i64 = conn.query_row(QUERY, [], |r| r.get(0))?;
                    Ok(n as u64)
                })
                .await?
            }
        }
    }
}

/// What the handler needs.
#[derive(Clone)]
struct App {
    token: Arc<str>,
    /// The URL the client signs: `http://{addr}/webhooks/twilio/sms`.
    url: Arc<str>,
    db: Db,
}

async fn inbound(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let params = webhooks::form::decode(&body);
    let header = headers
        .get(signature::HEADER)
        .and_then(|value| value.to_str().ok());
    if signature::validate(&app.token, &app.url, &params, header).is_err() {
        return StatusCode::FORBIDDEN.into_response();
    }
    let Ok(sms) = InboundSms::from_form(&params) else {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    };
    match app.db.insert(&sms).await {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, twiml::CONTENT_TYPE)],
            twiml::EMPTY_RESPONSE,
        )
            .into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// Where the baseline's data lives, for the clean-up.
enum Place {
    Postgres { admin_url: String, database: String },
    Sqlite { dir: PathBuf },
}

/// A running baseline server. [`Baseline::stop`] stops it and removes its database; dropping it
/// without `stop` does the same on a thread of its own.
pub struct Baseline {
    pub addr: SocketAddr,
    db: Db,
    place: Option<Place>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Baseline {
    /// Creates the store and starts the server on 127.0.0.1 (a free port), checking signatures
    /// with `token`.
    pub async fn start(kind: &Kind, token: &str) -> anyhow::Result<Baseline> {
        let (db, place) = create_store(kind).await?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("baseline listener")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let app = App {
            token: Arc::from(token),
            url: Arc::from(format!("http://{addr}{SMS_PATH}")),
            db: db.clone(),
        };
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready) = tokio::sync::oneshot::channel::<anyhow::Result<()>>();
        let thread = std::thread::Builder::new()
            .name("baseline".into())
            .spawn(move || serve(listener, app, stopped, ready_tx))
            .context("baseline thread")?;
        let mut baseline = Baseline {
            addr,
            db,
            place: Some(place),
            shutdown: Some(shutdown),
            thread: Some(thread),
        };
        match ready.await {
            Ok(Ok(())) => Ok(baseline),
            Ok(Err(e)) => {
                baseline.stop().await.ok();
                Err(e)
            }
            Err(_) => {
                baseline.stop().await.ok();
                bail!("the baseline server did not start")
            }
        }
    }

    /// Rows committed so far.
    pub async fn committed(&self) -> anyhow::Result<u64> {
        self.db.count().await
    }

    /// Committed rows per sender number: `(rows, distinct MessageSids)`.
    pub async fn rows_by_sender(&self) -> anyhow::Result<HashMap<String, (u64, u64)>> {
        self.db.rows_by_sender().await
    }

    /// Stops the server and removes its database or file.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.stop_server();
        match self.place.take() {
            Some(place) => remove(place).await,
            None => Ok(()),
        }
    }

    fn stop_server(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Db::Postgres(pool) = &self.db {
            pool.close();
        }
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        self.stop_server();
        if let Some(place) = self.place.take() {
            // Drop may run inside a runtime: clean up on a plain thread with a runtime of its own.
            let cleaned = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map(|rt| rt.block_on(remove(place)))
            })
            .join();
            if !matches!(cleaned, Ok(Ok(Ok(())))) {
                eprintln!("load-tests: could not remove the baseline's database");
            }
        }
    }
}

fn serve(
    listener: std::net::TcpListener,
    app: App,
    stopped: tokio::sync::oneshot::Receiver<()>,
    ready: tokio::sync::oneshot::Sender<anyhow::Result<()>>,
) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("baseline-worker")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = ready.send(Err(e.into()));
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                let _ = ready.send(Err(e.into()));
                return;
            }
        };
        let router = Router::new().route(SMS_PATH, post(inbound)).with_state(app);
        let _ = ready.send(Ok(()));
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
}

async fn admin_client(admin_url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(admin_url, NoTls)
        .await
        .context("connecting to PostgreSQL for the baseline")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

fn database_url(admin_url: &str, database: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(admin_url)?;
    url.set_path(&format!("/{database}"));
    Ok(url.to_string())
}

async fn create_store(kind: &Kind) -> anyhow::Result<(Db, Place)> {
    let unique = format!(
        "{}_{}",
        std::process::id(),
        uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .get(..12)
            .unwrap_or("0")
    );
    match kind {
        Kind::Postgres { admin_url } => {
            let database = format!("load_baseline_{unique}");
            admin_client(admin_url)
                .await?
                .batch_execute(&format!("CREATE DATABASE \"{database}\""))
                .await
                .context("creating the baseline database")?;
            let place = Place::Postgres {
                admin_url: admin_url.clone(),
                database: database.clone(),
            };
            let made = async {
                let url = database_url(admin_url, &database)?;
                let config: tokio_postgres::Config = url.parse()?;
                let manager = Manager::from_config(
                    config,
                    NoTls,
                    ManagerConfig {
                        recycling_method: RecyclingMethod::Fast,
                    },
                );
                let pool = Pool::builder(manager).max_size(POOL_SIZE).build()?;
                pool.get().await?.batch_execute(PG_TABLE).await?;
                anyhow::Ok(pool)
            }
            .await;
            match made {
                Ok(pool) => Ok((Db::Postgres(pool), place)),
                Err(e) => {
                    remove(place).await.ok();
                    Err(e.context("creating the baseline table"))
                }
            }
        }
        Kind::Sqlite => {
            let dir = std::env::temp_dir().join(format!("load-baseline-{unique}"));
            std::fs::create_dir_all(&dir).context("the baseline's directory")?;
            let file = dir.join("baseline.db");
            let opened = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let conn = rusqlite::Connection::open(&file)?;
                conn.busy_timeout(std::time::Duration::from_secs(5))?;
                conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")?;
                conn.execute_batch(SQLITE_TABLE)?;
                Ok(conn)
            })
            .await?;
            match opened {
                Ok(conn) => Ok((
                    Db::Sqlite(Arc::new(Mutex::new(conn))),
                    Place::Sqlite { dir },
                )),
                Err(e) => {
                    std::fs::remove_dir_all(&dir).ok();
                    Err(e.context("creating the baseline's SQLite file"))
                }
            }
        }
    }
}

async fn remove(place: Place) -> anyhow::Result<()> {
    match place {
        Place::Postgres {
            admin_url,
            database,
        } => {
            admin_client(&admin_url)
                .await?
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
                ))
                .await
                .context("dropping the baseline database")?;
            Ok(())
        }
        Place::Sqlite { dir } => {
            std::fs::remove_dir_all(&dir).context("removing the baseline's directory")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::client::sign_inbound_at;
    use crate::closed::{Endpoint, Prepared, send};

    const TOKEN: &str = "baseline-test-token";

    fn admin_url() -> String {
        std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
    }

    async fn accepts_a_signed_webhook_and_refuses_a_bad_one(kind: Kind) {
        let mut baseline = Baseline::start(&kind, TOKEN).await.unwrap();
        let endpoint = Endpoint::new(baseline.addr);
        let base = format!("http://{}", baseline.addr);
        let good = sign_inbound_at(&base, TOKEN, "+15551230001", "+15555550100", "hello").unwrap();
        let forged =
            sign_inbound_at(&base, "not-the-token", "+15551230002", "+15555550100", "hi").unwrap();
        let timeout = Duration::from_secs(10);
        let mut connection = None;
        let good = Prepared::new(0, good).unwrap();
        assert_eq!(
            send(&endpoint, &mut connection, &good, timeout).await,
            Some(200)
        );
        // The same MessageSid again: answered, not stored twice.
        assert_eq!(
            send(&endpoint, &mut connection, &good, timeout).await,
            Some(200)
        );
        let forged = Prepared::new(1, forged).unwrap();
        assert_eq!(
            send(&endpoint, &mut connection, &forged, timeout).await,
            Some(403)
        );
        let mut unsigned = good.clone();
        unsigned.body = Bytes::from_static(b"MessageSid=SMx");
        assert_eq!(
            send(&endpoint, &mut connection, &unsigned, timeout).await,
            Some(403)
        );

        assert_eq!(baseline.committed().await.unwrap(), 1);
        let by_sender = baseline.rows_by_sender().await.unwrap();
        assert_eq!(by_sender.get("+15551230001"), Some(&(1, 1)));
        assert_eq!(by_sender.len(), 1);
        baseline.stop().await.unwrap();
    }

    #[tokio::test]
    async fn the_sqlite_baseline_commits_signed_webhooks_once_and_refuses_forged_ones() {
        accepts_a_signed_webhook_and_refuses_a_bad_one(Kind::Sqlite).await;
    }

    #[tokio::test]
    async fn the_postgres_baseline_commits_signed_webhooks_once_and_refuses_forged_ones() {
        accepts_a_signed_webhook_and_refuses_a_bad_one(Kind::Postgres {
            admin_url: admin_url(),
        })
        .await;
    }

    #[tokio::test]
    async fn stopping_the_baseline_removes_its_database() {
        let admin = admin_url();
        let mut baseline = Baseline::start(
            &Kind::Postgres {
                admin_url: admin.clone(),
            },
            TOKEN,
        )
        .await
        .unwrap();
        let Some(Place::Postgres { database, .. }) = &baseline.place else {
            panic!("a postgres baseline has a database");
        };
        let database = database.clone();
        let exists = |client: tokio_postgres::Client, name: String| async move {
            client
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
                .await
                .unwrap()
                .is_some()
        };
        assert!(exists(admin_client(&admin).await.unwrap(), database.clone()).await);
        baseline.stop().await.unwrap();
        assert!(!exists(admin_client(&admin).await.unwrap(), database).await);
    }
}
