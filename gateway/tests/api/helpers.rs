//! Test harness: `spawn_app` starts the real application on port 0 against a fresh database,
//! and `TcpToggleProxy` stands between the gateway and PostgreSQL so tests can cut the store off.

// Shared by every test module; not each module uses every helper.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use gateway::clock::{Clock, ManualClock, SystemClock};
use gateway::http::AppState;
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

/// `name METHOD` pairs become `TestApp` methods `name(token, path)` that send no body.
macro_rules! bodiless_verbs {
    ($($name:ident $method:ident),*) => {$(
        pub async fn $name(&self, token: &str, path: &str) -> (u16, serde_json::Value) {
            self.call(reqwest::Method::$method, path, Some(token), None).await
        }
    )*};
}

/// `name METHOD` pairs become `TestApp` methods `name(token, path, body)` that send JSON.
macro_rules! json_verbs {
    ($($name:ident $method:ident),*) => {$(
        pub async fn $name(
            &self,
            token: &str,
            path: &str,
            body: serde_json::Value,
        ) -> (u16, serde_json::Value) {
            self.call(reqwest::Method::$method, path, Some(token), Some(body)).await
        }
    )*};
}

pub struct TestApp {
    pub address: SocketAddr,
    /// Where `/metrics` is served when the settings name a `metrics_listen` address.
    pub metrics_address: Option<SocketAddr>,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub db: TestStore,
    /// The application's own store handle, for arranging data and checking outcomes.
    pub store: Arc<dyn Store>,
    /// The running application's state (its store, carrier, clock and dispatcher wake-up).
    pub state: AppState,
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
        self.sibling_with(|_| {}).await
    }

    /// [`TestApp::sibling`] with its settings changed by `configure`.
    pub async fn sibling_with(&self, configure: impl FnOnce(&mut Settings)) -> Sibling {
        let mut settings = Settings::for_tests(self.db.url());
        configure(&mut settings);
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
        send_json(self.client.request(method, self.url(path)), token, body).await
    }

    // The verbs as a caller with a bearer token, each answering status and JSON body:
    // `get_as`, `delete_as` and `post_empty_as` send no body; `post_as`, `put_as` and
    // `patch_as` send `body` as JSON.
    bodiless_verbs!(get_as GET, delete_as DELETE, post_empty_as POST);
    json_verbs!(post_as POST, put_as PUT, patch_as PATCH);

    /// The conversation message that outbox row `row` records; fails when it records none.
    pub async fn message_of(&self, row: &store::Outbound) -> store::Message {
        let id = row
            .message_id
            .expect("the text is recorded in the conversation");
        self.store.get_message(id).await.unwrap()
    }

    /// The first `limit` rows of the outbox, in the store's order.
    pub async fn outbox(&self, limit: u32) -> Vec<store::Outbound> {
        let page = self.store.list_outbox(store::Page::first(limit)).await;
        page.unwrap().items
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
    spawn_app_configured(backend, |_| {}).await
}

/// Starts the application on a fresh database of `backend` with settings changed by `configure`.
pub async fn spawn_app_configured(
    backend: Backend,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let db = fresh_db(backend).await;
    let url = db.url();
    spawn_app_with(db, configure, url).await
}

/// Starts the application on `store_url` (which may differ from `db.url()`, e.g. via a proxy).
pub async fn spawn_app_with(
    db: TestStore,
    configure: impl FnOnce(&mut Settings),
    store_url: String,
) -> TestApp {
    start(db, configure, store_url, false).await
}

/// Like `spawn_app_with`, but the application runs on the wall clock (for pacing, which is
/// measured in real time); `TestApp::clock` is then unused.
pub async fn spawn_app_on_wall_clock(
    db: TestStore,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let url = db.url();
    start(db, configure, url, true).await
}

async fn start(
    db: TestStore,
    configure: impl FnOnce(&mut Settings),
    store_url: String,
    wall_clock: bool,
) -> TestApp {
    let mut settings = Settings::for_tests(store_url);
    configure(&mut settings);
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 15, 0, 0).unwrap(),
    ));
    let app_clock: Arc<dyn Clock> = if wall_clock {
        Arc::new(SystemClock)
    } else {
        clock.clone()
    };
    let app = Application::build_with_clock(settings, app_clock)
        .await
        .expect("application builds");
    let address = app.local_addr();
    let metrics_address = app.metrics_addr();
    let store = app.state().store.clone();
    let state = app.state().clone();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    TestApp {
        address,
        metrics_address,
        client: reqwest::Client::new(),
        clock,
        db,
        store,
        state,
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

/// Runs SQL outside the store API (to set up states no API reaches yet).
pub async fn raw_sql(db: &TestStore, sql: &str) {
    match db {
        TestStore::Postgres(pg) => pg_client(&pg.url).await.batch_execute(sql).await.unwrap(),
        TestStore::Sqlite(lite) => {
            let conn = rusqlite::Connection::open(lite.dir.path().join("gateway.db")).unwrap();
            conn.execute_batch(sql).unwrap();
        }
    }
}

/// A connection of its own to the PostgreSQL database at `url`.
pub async fn pg_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// A uuid as a SQL literal of the backend.
pub fn sql_uuid(db: &TestStore, id: uuid::Uuid) -> String {
    match db {
        TestStore::Postgres(_) => format!("'{id}'"),
        TestStore::Sqlite(_) => format!("X'{}'", id.simple()),
    }
}

/// Polls `check` every 20 ms until it returns `Some`, or panics after `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The practice number and a patient's number used by the messaging tests.
pub const PRACTICE_NUMBER: &str = "+15555550100";
pub const PATIENT_NUMBER: &str = "+15555550123";

/// A customer, a practice with `PRACTICE_NUMBER`, and one patient with `PATIENT_NUMBER` whose
/// texting status is `texting`. Returns (practice id, patient id).
pub async fn practice_with_patient(app: &TestApp, texting: &str) -> (uuid::Uuid, uuid::Uuid) {
    let audit = store::Audit::system(app.state.clock.now());
    let store = app.state.store.as_ref();
    let practice = acme_practice(store, &audit, PRACTICE_NUMBER).await;
    let pat = new_patient(practice.id, "Pat", "Jones", PATIENT_NUMBER);
    let patient = store.create_patient(&audit, pat).await.unwrap();
    let status = format!("texting_status = '{texting}'");
    update_patient(&app.db, &status, patient.id).await;
    (practice.id, patient.id)
}

/// Customer "Acme Health" and its practice "Main Street Clinic" (New York time) on
/// `sms_number`, written straight into the store.
pub async fn acme_practice(
    store: &dyn Store,
    audit: &store::Audit,
    sms_number: &str,
) -> store::Practice {
    let acme = store::NewCustomer {
        name: "Acme Health".into(),
    };
    let customer = store.create_customer(audit, acme).await.unwrap();
    let practice = store::NewPractice {
        customer_id: customer.id,
        name: "Main Street Clinic".into(),
        timezone: chrono_tz::America::New_York.into(),
        sms_number: sms_number.into(),
        practice_group_id: None,
    };
    store.create_practice(audit, practice).await.unwrap()
}

/// A patient of `practice_id` born 1961-07-04, in no program and with no care team.
pub fn new_patient(
    practice_id: uuid::Uuid,
    first_name: &str,
    last_name: &str,
    mobile: &str,
) -> store::NewPatient {
    store::NewPatient {
        practice_id,
        first_name: first_name.into(),
        last_name: last_name.into(),
        dob: chrono::NaiveDate::from_ymd_opt(1961, 7, 4).unwrap(),
        mobile_phone: Some(mobile.into()),
        programs: vec![],
        care_team: Vec::new(),
    }
}

/// A user of `customer_id` (none for a super admin) at `practice_ids`: e-mail
/// `{username}@example.org`, first name `username`, last name "Tester", no title or mobile,
/// logged out after 30 idle minutes, with no program restriction and no supervisor.
pub fn new_user(
    customer_id: Option<uuid::Uuid>,
    username: &str,
    password_hash: &str,
    role: store::Role,
    practice_ids: Vec<uuid::Uuid>,
) -> store::NewUser {
    store::NewUser {
        customer_id,
        username: username.into(),
        password_hash: password_hash.into(),
        role,
        email: format!("{username}@example.org"),
        first_name: username.into(),
        last_name: "Tester".into(),
        title: String::new(),
        mobile_phone: None,
        auto_logout_minutes: 30,
        practice_ids,
        restricted_programs: Vec::new(),
        supervisor_id: None,
    }
}

/// Runs `UPDATE patients SET {set} WHERE id = {patient}` outside the store API.
pub async fn update_patient(db: &TestStore, set: &str, patient: uuid::Uuid) {
    let sql = format!(
        "UPDATE patients SET {set} WHERE id = {}",
        sql_uuid(db, patient)
    );
    raw_sql(db, &sql).await;
}

/// Reads a patient's texting status (through the store, which audits the read).
pub async fn texting_status(app: &TestApp, patient_id: uuid::Uuid) -> types::TextingStatus {
    let audit = store::Audit::system(app.state.clock.now());
    app.state
        .store
        .get_patient(&audit, patient_id)
        .await
        .unwrap()
        .texting
        .status
}

impl TestApp {
    /// Posts a form to a webhook route with the given `X-Twilio-Signature` (none when `None`).
    pub async fn post_webhook(
        &self,
        path: &str,
        params: &[(String, String)],
        signature: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(webhooks::form::encode(params));
        if let Some(signature) = signature {
            request = request.header("X-Twilio-Signature", signature);
        }
        request.send().await.expect("request sent")
    }

    /// Posts a form signed as the carrier would for `public_base` + `path`, with `token`.
    pub async fn post_signed(
        &self,
        public_base: &str,
        token: &str,
        path: &str,
        params: &[(String, String)],
    ) -> reqwest::Response {
        let signature =
            webhooks::signature::compute(token, &format!("{public_base}{path}"), params);
        self.post_webhook(path, params, Some(&signature)).await
    }

    /// Wakes the outbox dispatcher (after moving the manual clock, or queueing through the store).
    pub fn wake_dispatcher(&self) {
        self.state.wake_dispatcher();
    }
}

/// Form pairs from string pairs.
pub fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// Sending a request built on a plain client (to a gateway started as a process, say) and
/// reading its whole answer.
pub trait Fetch {
    /// Sends the request and reads the answer as JSON, whatever its status.
    fn fetch_json(self) -> impl std::future::Future<Output = serde_json::Value>;
    /// Sends the request and reads the answer as text, whatever its status.
    fn fetch_text(self) -> impl std::future::Future<Output = String>;
}

impl Fetch for reqwest::RequestBuilder {
    async fn fetch_json(self) -> serde_json::Value {
        let response = self.send().await.expect("request sent");
        response.json().await.expect("a JSON answer")
    }

    async fn fetch_text(self) -> String {
        let response = self.send().await.expect("request sent");
        response.text().await.expect("a text answer")
    }
}

/// Sends `request` as `token` (or anonymously) with `body` as JSON (or none); returns the
/// status and the JSON answer (`Null` when the answer is not JSON).
pub async fn send_json(
    mut request: reqwest::RequestBuilder,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
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

/// A form POST to `url` signed as Twilio signs it: with `auth_token`, over `signed_url` (the
/// public address the carrier was given) and the pairs.
pub fn twilio_form(
    client: &reqwest::Client,
    url: &str,
    signed_url: &str,
    auth_token: &str,
    params: &[(String, String)],
) -> reqwest::RequestBuilder {
    let signature = webhooks::signature::compute(auth_token, signed_url, params);
    client
        .post(url)
        .header("X-Twilio-Signature", signature)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(webhooks::form::encode(params))
}

/// The message of an API error answer (`{"error": {"code", "message"}}`); fails the test when
/// the answer has none.
pub fn error_message(body: &serde_json::Value) -> &str {
    body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {body}"))
}

/// The answer's `Content-Type` (fails the test when it has none or it is not text).
pub fn content_type(response: &reqwest::Response) -> &str {
    let header = &response.headers()["content-type"];
    header.to_str().expect("a text Content-Type")
}

/// The `items` of a page the API answered (fails the test when there are none).
pub fn items(page: &serde_json::Value) -> &Vec<serde_json::Value> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {page}"))
}
