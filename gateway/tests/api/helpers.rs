//! Test harness: `spawn_app` starts the real application on port 0 against a fresh database,
//! and `TcpToggleProxy` stands between the gateway and PostgreSQL so tests can cut the store off.

// Shared by every test module; not each module uses every helper.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use gateway::clock::ManualClock;
use gateway::settings::Settings;
use gateway::startup::Application;
use store::Store;
use store::testing::TestStore;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Postgres,
    Sqlite,
}

pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub db: TestStore,
    /// The application's own store handle, for arranging data and checking outcomes.
    pub store: Arc<dyn Store>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// Another gateway instance on the same database and clock, as behind a load balancer.
    /// It stops when the returned handle is dropped.
    pub async fn sibling(&self) -> Sibling {
        let settings = Settings::for_tests(self.db.url());
        let app = Application::build_with_clock(settings, self.clock.clone())
            .await
            .expect("sibling builds");
        let address = app.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Sibling {
            address,
            _shutdown: tx,
        }
    }

    /// A request with `Authorization: Bearer token`.
    pub fn authed(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    /// Sends a JSON request as `token` (or anonymously) and returns status and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Creates a super admin directly in the store.
    pub async fn super_admin(&self, username: &str, password: &str) -> uuid::Uuid {
        let hash = gateway::auth::password::Password::parse(password)
            .unwrap()
            .hash();
        let audit = store::Audit::system(chrono::Utc::now());
        self.store
            .upsert_super_admin(&audit, username, &hash)
            .await
            .unwrap()
            .id
    }

    /// Logs in and returns the bearer token.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/v1/auth/login",
                None,
                Some(serde_json::json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(status, 200, "login as {username}: {body}");
        body["token"].as_str().unwrap().to_string()
    }

    /// Signals shutdown and waits for the server to finish in-flight requests and stop.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.server
            .take()
            .expect("running")
            .await
            .expect("server task")
    }

    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub async fn wait_stopped(mut self) -> anyhow::Result<()> {
        self.server
            .take()
            .expect("running")
            .await
            .expect("server task")
    }
}

/// A second instance started by [`TestApp::sibling`].
pub struct Sibling {
    pub address: SocketAddr,
    _shutdown: oneshot::Sender<()>,
}

impl Sibling {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }
}

pub async fn fresh_db(backend: Backend) -> TestStore {
    match backend {
        Backend::Postgres => TestStore::postgres().await,
        Backend::Sqlite => TestStore::sqlite(),
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    let db = fresh_db(backend).await;
    let url = db.url();
    spawn_app_with(db, |_| {}, url).await
}

/// Starts the application on `store_url` (which may differ from `db.url()`, e.g. via a proxy).
pub async fn spawn_app_with(
    db: TestStore,
    configure: impl FnOnce(&mut Settings),
    store_url: String,
) -> TestApp {
    let mut settings = Settings::for_tests(store_url);
    configure(&mut settings);
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 0).unwrap(),
    ));
    let app = Application::build_with_clock(settings, clock.clone())
        .await
        .expect("application builds");
    let address = app.local_addr();
    let store = app.state().store.clone();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        address,
        client: reqwest::Client::new(),
        clock,
        db,
        store,
        shutdown: Some(tx),
        server: Some(server),
    }
}

/// Generates one test per backend from an `async fn(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
    };
}

/// How the proxy treats traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forward both ways.
    Open,
    /// Accept and hold bytes without forwarding (a store that hangs).
    Paused,
    /// Drop every connection, existing and new (a store that is down).
    Closed,
}

/// A TCP proxy in front of a real server, switchable at run time.
pub struct TcpToggleProxy {
    pub address: SocketAddr,
    mode: watch::Sender<ProxyMode>,
}

impl TcpToggleProxy {
    pub async fn start(upstream: SocketAddr) -> TcpToggleProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (mode, mode_rx) = watch::channel(ProxyMode::Open);
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let mode_rx = mode_rx.clone();
                tokio::spawn(async move { proxy_connection(client, upstream, mode_rx).await });
            }
        });
        TcpToggleProxy { address, mode }
    }

    pub fn set(&self, mode: ProxyMode) {
        self.mode.send_replace(mode);
    }
}

async fn proxy_connection(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut mode: watch::Receiver<ProxyMode>,
) {
    if *mode.borrow() == ProxyMode::Closed {
        let _ = client.shutdown().await;
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.split();
    let (mut server_read, mut server_write) = server.split();
    let mut to_server = [0u8; 8192];
    let mut to_client = [0u8; 8192];
    loop {
        // Wait while paused; give up the connection when closed.
        loop {
            match *mode.borrow_and_update() {
                ProxyMode::Open => break,
                ProxyMode::Closed => return,
                ProxyMode::Paused => {}
            }
            if mode.changed().await.is_err() {
                return;
            }
        }
        use tokio::io::AsyncReadExt;
        tokio::select! {
            read = client_read.read(&mut to_server) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => { if server_write.write_all(&to_server[..n]).await.is_err() { return } }
            },
            read = server_read.read(&mut to_client) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => { if client_write.write_all(&to_client[..n]).await.is_err() { return } }
            },
            _ = mode.changed() => {}
        }
    }
}

/// Where tests reach PostgreSQL directly.
pub fn postgres_address() -> SocketAddr {
    "127.0.0.1:5432".parse().unwrap()
}

/// The test database's URL with its host and port replaced by `address`.
pub fn url_via(url: &str, address: SocketAddr) -> String {
    url.replace("127.0.0.1:5432", &address.to_string())
}
