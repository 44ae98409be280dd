//! The `chaos` scenario: a kill/restart loop against a local release gateway that this process
//! starts itself, for runs longer than the CI fault tests.
//!
//! It starts a slow fake carrier on loopback (every send answered after `--carrier-delay-ms`,
//! so texts are in flight when the gateway dies), seeds the store with `gateway demo`, creates
//! and verifies synthetic patients, then for each round sends signed inbound webhooks and staff
//! texts at a steady rate and, at a random moment, kills the gateway with SIGKILL and starts it
//! again at once. With `--freeze` the old process is stopped with SIGSTOP instead and the new one
//! starts beside it on the second port, so the old one still holds its claims: the new one must
//! leave them to their lease (the figure before claims carried instances); the frozen process is
//! killed after the round.
//!
//! At the end it retries every webhook that never got a 200 (as Twilio does with
//! `#rc=3&rp=all`), waits for every accepted text to reach the carrier, and checks: every webhook
//! answered 200 recorded exactly once (the audit log, as the other scenarios check); every
//! accepted staff text received by the carrier, none more than twice, and every one received
//! twice marked `recovered` in the conversation. It reports, per restart, how long the texts
//! accepted before the kill took to drain after the new process was ready.
//!
//! Registered in `main` before the other scenarios' parser (`load-tests chaos --help`). Loopback
//! only, bounded in rounds, round length, rates and wall-clock time.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clap::Parser;
use serde::Serialize;
use serde_json::{Value, json};

use crate::carrier::{Account, authorize, error_body, message_sid, parse_message, resource};
use crate::client::{Gateway, SMS_PATH};
use crate::guard;
use crate::ledger::{Delivery, Ledger, NoLossReport, Observed};
use crate::scenario::for_each_patient;
use crate::synthetic::Synthetic;

/// The demo accounts `gateway demo` creates.
const ADMIN: &str = "demo-admin";
const DEMO_PASSWORD: &str = "demo-password-1";
const PRACTICE_NUMBER: &str = "+15555550100";
/// Body prefix of the staff texts this scenario sends (other texts, such as opt-in replies, go
/// to the same carrier).
const TEXT_PREFIX: &str = "chaos text ";

#[derive(Debug, Parser)]
#[command(
    name = "load-tests chaos",
    about = "Kill -9 and restart a local gateway in a loop under webhook and staff-text load; check nothing is lost"
)]
pub struct ChaosArgs {
    /// The release gateway binary (default: `gateway` beside this executable).
    #[arg(long)]
    gateway_bin: Option<PathBuf>,
    /// The store: a fresh PostgreSQL database's URL (created beforehand); default an embedded
    /// SQLite file in a temporary directory.
    #[arg(long)]
    database_url: Option<String>,
    /// The gateway's port on 127.0.0.1 (the carrier takes port+1; with `--freeze` each new
    /// process takes the next even offset: port+2, port+4, …).
    #[arg(long, default_value_t = 18090)]
    port: u16,
    /// Kill/restart rounds.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Seconds of load per round; the kill comes at a random moment within it.
    #[arg(long, default_value_t = 20)]
    round_secs: u64,
    /// Synthetic patients.
    #[arg(long, default_value_t = 10)]
    patients: u32,
    /// Inbound webhooks per second.
    #[arg(long, default_value_t = 40)]
    rate: u32,
    /// Staff texts per second.
    #[arg(long, default_value_t = 5)]
    texts_per_second: u32,
    /// The gateway's SMS_SENDER_MPS.
    #[arg(long, default_value_t = 20)]
    sms_mps: u32,
    /// How long the fake carrier takes to answer a send.
    #[arg(long, default_value_t = 500)]
    carrier_delay_ms: u64,
    /// SIGSTOP the old process instead of SIGKILL, and start the new one beside it.
    #[arg(long)]
    freeze: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Bounds of one run.
const MAX_ROUNDS: u32 = 100;
const MAX_ROUND_SECS: u64 = 600;
const MAX_PATIENTS: u32 = 200;
const MAX_RATE: u32 = 500;
const MAX_TEXTS_PER_SECOND: u32 = 50;
/// How long the final drain may take (longer than two leases, for `--freeze`).
const DRAIN_LIMIT: Duration = Duration::from_secs(220);

#[derive(Debug, Default, Serialize)]
pub struct ChaosReport {
    store: &'static str,
    mode: &'static str,
    rounds: u32,
    webhooks: usize,
    /// Webhooks without a 200 when first sent (cut off by a kill or a restart), retried.
    retried: usize,
    no_loss: NoLossReport,
    texts_accepted: usize,
    texts_lost: usize,
    /// Accepted texts the carrier received twice (all in flight at a kill).
    texts_doubled: usize,
    /// Received more than twice: never acceptable.
    texts_more_than_twice: usize,
    /// Marked `recovered` in the conversation.
    texts_recovered: usize,
    /// Received twice without the mark.
    doubled_unmarked: usize,
    /// Per restart: seconds from the new process being ready until the texts accepted before
    /// the kill had all reached the carrier.
    drain_after_restart_secs: Vec<f64>,
    /// Restarts whose log says they released a gone instance's claims.
    restarts_that_released: usize,
    passed: bool,
}

/// Entry point from `main`: `load-tests chaos ARGS`.
pub async fn run_from_args() -> ExitCode {
    let args = ChaosArgs::parse_from(std::env::args().skip(1));
    if let Err(refused) = check_bounds(&args) {
        eprintln!("load-tests: {refused}");
        return ExitCode::from(2);
    }
    let limit = Duration::from_secs(u64::from(args.rounds) * args.round_secs)
        + DRAIN_LIMIT
        + guard::SETUP_AND_CHECK_BUDGET;
    let result = crate::bounded(limit, run(&args)).await;
    crate::exit_code(result.map(|report| {
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
        } else {
            print_human(&report);
        }
        report.passed
    }))
}

fn check_bounds(args: &ChaosArgs) -> anyhow::Result<()> {
    if !(1..=MAX_ROUNDS).contains(&args.rounds) {
        bail!("--rounds must be 1 to {MAX_ROUNDS}");
    }
    if !(5..=MAX_ROUND_SECS).contains(&args.round_secs) {
        bail!("--round-secs must be 5 to {MAX_ROUND_SECS}");
    }
    if !(1..=MAX_PATIENTS).contains(&args.patients) {
        bail!("--patients must be 1 to {MAX_PATIENTS}");
    }
    if !(1..=MAX_RATE).contains(&args.rate) {
        bail!("--rate must be 1 to {MAX_RATE}");
    }
    if !(1..=MAX_TEXTS_PER_SECOND).contains(&args.texts_per_second) {
        bail!("--texts-per-second must be 1 to {MAX_TEXTS_PER_SECOND}");
    }
    let highest = u16::MAX - 2 * MAX_ROUNDS as u16;
    if args.port > highest || args.port < 1024 {
        bail!("--port must be 1024 to {highest}");
    }
    if let Some(url) = &args.database_url {
        let host = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        if !matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]") {
            bail!("--database-url must name a loopback PostgreSQL server");
        }
    }
    Ok(())
}

/// The slow fake carrier: Twilio's Messages endpoint (see [`crate::carrier`]), answering each
/// send after a delay and recording when each arrived.
#[derive(Clone)]
struct SlowCarrier {
    account: Arc<Account>,
    delay: Duration,
    received: Arc<Mutex<Vec<(Instant, String)>>>,
}

async fn slow_messages(
    State(carrier): State<SlowCarrier>,
    UrlPath(path_sid): UrlPath<String>,
    headers: HeaderMap,
    form: Bytes,
) -> Response {
    let at = Instant::now();
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match authorize(&carrier.account, &path_sid, authorization).and_then(|()| parse_message(&form))
    {
        Ok(message) => {
            // Received (and so sent to the phone) on arrival, whether or not the answer is read.
            carrier
                .received
                .lock()
                .expect("carrier lock")
                .push((at, message.body.clone()));
            tokio::time::sleep(carrier.delay).await;
            let answer = resource(&carrier.account, &message_sid(), &message);
            (StatusCode::CREATED, axum::Json(answer)).into_response()
        }
        Err(refusal) => (
            StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST),
            axum::Json(error_body(&refusal)),
        )
            .into_response(),
    }
}

async fn start_carrier(
    addr: SocketAddr,
    account: Account,
    delay: Duration,
) -> anyhow::Result<SlowCarrier> {
    let carrier = SlowCarrier {
        account: Arc::new(account),
        delay,
        received: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the fake carrier on {addr}"))?;
    let app = axum::Router::new()
        .route(
            "/2010-04-01/Accounts/{sid}/Messages.json",
            axum::routing::post(slow_messages),
        )
        .with_state(carrier.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(carrier)
}

/// One gateway process.
struct Process {
    child: Child,
    port: u16,
    /// Lines of its log that say it released a gone instance's claims.
    released: Arc<AtomicUsize>,
    ready_at: Instant,
}

/// How to start a gateway: the binary and its environment.
struct Launcher {
    bin: PathBuf,
    env: Vec<(String, String)>,
}

impl Launcher {
    /// Every process signs webhooks for the first port's URL, as gateways behind one load
    /// balancer share its public URL, so a webhook may go to any of them.
    fn command(&self, port: u16) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("GATEWAY_LISTEN", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        command
    }

    fn seed(&self, port: u16) -> anyhow::Result<()> {
        let status = self
            .command(port)
            .arg("demo")
            .stderr(Stdio::null())
            .status()
            .context("running `gateway demo`")?;
        anyhow::ensure!(status.success(), "`gateway demo` failed");
        Ok(())
    }

    async fn start(&self, port: u16) -> anyhow::Result<Process> {
        let mut child = self
            .command(port)
            .arg("serve")
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        let stderr = child.stderr.take().context("stderr is piped")?;
        let released = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&released);
        // The last lines, to say why a start failed (logs hold no bodies or tokens).
        let last = Arc::new(Mutex::new(std::collections::VecDeque::new()));
        let kept = Arc::clone(&last);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("released the claims of gone instances") {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                let mut kept = kept.lock().expect("log lock");
                kept.push_back(line);
                if kept.len() > 5 {
                    kept.pop_front();
                }
            }
        });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .no_proxy()
            .build()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            if let Some(status) = child.try_wait()? {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let last: Vec<String> = last.lock().expect("log lock").iter().cloned().collect();
                bail!(
                    "the gateway exited during start-up ({status}):\n{}",
                    last.join("\n")
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("the gateway did not become ready within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Process {
            child,
            port,
            released,
            ready_at: Instant::now(),
        })
    }
}

impl Process {
    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn freeze(&self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-STOP", &self.child.id().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "SIGSTOP failed");
        Ok(())
    }

    fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill9();
        }
    }
}

/// The staff side: logged in as the demo admin, who created the patients.
#[derive(Clone)]
struct Staff {
    http: reqwest::Client,
    token: String,
}

impl Staff {
    async fn login(http: reqwest::Client, base: &str) -> anyhow::Result<Staff> {
        let answer: Value = http
            .post(format!("{base}/v1/auth/login"))
            .json(&json!({"username": ADMIN, "password": DEMO_PASSWORD}))
            .send()
            .await?
            .json()
            .await?;
        let token = answer["token"]
            .as_str()
            .context("login answered no token")?
            .to_owned();
        Ok(Staff { http, token })
    }

    /// Sends a staff text; `true` when accepted (201).
    async fn send(&self, base: &str, patient: &str, body: &str) -> bool {
        self.http
            .post(format!("{base}/v1/patients/{patient}/messages"))
            .bearer_auth(&self.token)
            .json(&json!({ "body": body }))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::CREATED)
    }

    /// Bodies of the patient's outbound messages with their `recovered` mark.
    async fn marks(&self, base: &str, patient: &str) -> anyhow::Result<Vec<(String, bool)>> {
        let mut marks = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{base}/v1/patients/{patient}/messages?limit=200");
            if let Some(before) = &cursor {
                url.push_str(&format!("&before={before}"));
            }
            let page: Value = self
                .http
                .get(url)
                .bearer_auth(&self.token)
                .send()
                .await?
                .json()
                .await?;
            for item in page["items"].as_array().context("a message page")? {
                if item["direction"] == "outbound"
                    && let Some(body) = item["body"].as_str()
                {
                    marks.push((body.to_owned(), item["recovered"] == true));
                }
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(marks),
            }
        }
    }
}

/// A signed inbound text as Twilio sends it, kept to be sent again.
#[derive(Clone)]
struct Hook {
    sid: String,
    body: String,
    signature: String,
}

/// Where the load goes: the process that runs now (its port); webhooks are signed for the public
/// URL every process shares.
#[derive(Clone)]
struct Targets {
    http: reqwest::Client,
    public: String,
    port: Arc<std::sync::atomic::AtomicU16>,
    account_sid: String,
    auth_token: String,
}

impl Targets {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port.load(Ordering::SeqCst))
    }

    fn sign(&self, from: &str, text: &str) -> Hook {
        let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
        let params: Vec<(String, String)> = [
            ("MessageSid", sid.as_str()),
            ("AccountSid", self.account_sid.as_str()),
            ("From", from),
            ("To", PRACTICE_NUMBER),
            ("Body", text),
            ("NumMedia", "0"),
            ("NumSegments", "1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let url = format!("{}{SMS_PATH}", self.public);
        Hook {
            signature: webhooks::signature::compute(&self.auth_token, &url, &params),
            body: webhooks::form::encode(&params),
            sid,
        }
    }

    /// The status, or `None` without an answer (refused, cut, timed out).
    async fn deliver(&self, hook: &Hook) -> Option<u16> {
        let response = self
            .http
            .post(format!("{}{SMS_PATH}", self.base()))
            .header("content-type", "application/x-www-form-urlencoded")
            .header(webhooks::signature::HEADER, &hook.signature)
            .body(hook.body.clone())
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        let _ = response.bytes().await;
        Some(status)
    }
}

/// What the load recorded.
#[derive(Default)]
struct Sent {
    /// Every webhook with the patient it came from and whether it ever got a 200.
    webhooks: Vec<(usize, Hook, Option<u16>)>,
    /// Accepted staff texts: body, patient index, when accepted.
    texts: Vec<(String, usize, Instant)>,
}

async fn run(args: &ChaosArgs) -> anyhow::Result<ChaosReport> {
    let bin = match &args.gateway_bin {
        Some(bin) => bin.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("the executable's directory")?
            .join("gateway"),
    };
    anyhow::ensure!(
        bin.exists(),
        "no gateway binary at {} (build it with `cargo build --release -p gateway`)",
        bin.display()
    );
    let work = std::env::temp_dir().join(format!(
        "load-chaos-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&work)?;
    let result = run_in(args, &bin, &work).await;
    let _ = std::fs::remove_dir_all(&work);
    result
}

async fn run_in(args: &ChaosArgs, bin: &Path, work: &Path) -> anyhow::Result<ChaosReport> {
    let account = Account {
        sid: format!("AC{}", uuid::Uuid::new_v4().simple()),
        auth_token: uuid::Uuid::new_v4().simple().to_string(),
    };
    let carrier_addr: SocketAddr = format!("127.0.0.1:{}", args.port + 1).parse()?;
    let carrier = start_carrier(
        carrier_addr,
        account.clone(),
        Duration::from_millis(args.carrier_delay_ms),
    )
    .await?;
    let mut env = vec![
        (
            "GATEWAY_DATA_DIR".to_owned(),
            work.join("data").display().to_string(),
        ),
        ("TWILIO_ACCOUNT_SID".to_owned(), account.sid.clone()),
        ("TWILIO_AUTH_TOKEN".to_owned(), account.auth_token.clone()),
        (
            "TWILIO_API_BASE".to_owned(),
            format!("http://{carrier_addr}"),
        ),
        ("SMS_SENDER_MPS".to_owned(), args.sms_mps.to_string()),
        ("RUST_LOG".to_owned(), "warn".to_owned()),
        ("LOG_FORMAT".to_owned(), "json".to_owned()),
        (
            "PUBLIC_BASE_URL".to_owned(),
            format!("http://127.0.0.1:{}", args.port),
        ),
    ];
    if let Some(url) = &args.database_url {
        env.push(("DATABASE_URL".to_owned(), url.clone()));
    }
    let launcher = Launcher {
        bin: bin.to_path_buf(),
        env,
    };
    // With `--freeze` every stopped process keeps its port: each new one takes the next (the
    // carrier has port+1).
    let ports: Vec<u16> = (0..=args.rounds as u16)
        .map(|k| args.port + if k == 0 { 0 } else { 2 * k })
        .collect();
    launcher.seed(ports[0])?;
    let mut current = launcher.start(ports[0]).await?;

    // Patients, verified by texting their date of birth (as the `opt-in` scenario does).
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()?;
    let targets = Targets {
        http: http.clone(),
        public: format!("http://127.0.0.1:{}", ports[0]),
        port: Arc::new(std::sync::atomic::AtomicU16::new(ports[0])),
        account_sid: account.sid.clone(),
        auth_token: account.auth_token.clone(),
    };
    let admin = Gateway::new(
        &guard::loopback_target(&targets.base())?,
        Duration::from_secs(10),
        16,
    )?
    .login(ADMIN, DEMO_PASSWORD)
    .await?;
    let practice = admin.first_practice().await?;
    let run_tag = (std::process::id() % 900) + 1;
    let patients: Vec<Synthetic> = (0..args.patients as usize)
        .map(|i| Synthetic::new(run_tag, i))
        .collect();
    let verified = {
        let (admin, targets, patients, practice) = (
            admin.clone(),
            targets.clone(),
            Arc::new(patients.clone()),
            practice.clone(),
        );
        for_each_patient(patients.len(), 8, move |i| {
            let (admin, targets, patients, practice) = (
                admin.clone(),
                targets.clone(),
                Arc::clone(&patients),
                practice.clone(),
            );
            async move {
                let p = &patients[i];
                let id = admin
                    .create_patient(
                        &practice,
                        &p.first_name,
                        &p.last_name,
                        &p.dob_iso(),
                        &p.mobile,
                    )
                    .await?
                    .id;
                admin.start_texting(&id).await?;
                let hook = targets.sign(&p.mobile, &p.dob_text());
                anyhow::ensure!(targets.deliver(&hook).await == Some(200), "verifying");
                anyhow::ensure!(admin.texting(&id).await?.status == "enabled", "not enabled");
                Ok((id, hook.sid))
            }
        })
        .await?
    };
    // The verifying texts are recorded like any other (redacted): book them.
    let mut ledger = Ledger::new();
    for (i, (_, sid)) in verified.iter().enumerate() {
        ledger.record(i, sid, Delivery::Accepted);
    }
    let ids: Vec<String> = verified.into_iter().map(|(id, _)| id).collect();

    let staff = Staff::login(http.clone(), &targets.base()).await?;
    let sent = Arc::new(Mutex::new(Sent::default()));
    let mut kills: Vec<(Instant, Instant)> = Vec::new();
    let mut gone: Vec<Process> = Vec::new();
    let mut released = 0;
    let round_len = Duration::from_secs(args.round_secs);
    for round in 0..args.rounds {
        // The load runs through the whole round, the kill and the restart included.
        let load = tokio::spawn(load(
            targets.clone(),
            staff.clone(),
            patients.clone(),
            ids.clone(),
            Arc::clone(&sent),
            args.rate,
            args.texts_per_second,
            round_len,
            round,
        ));
        tokio::time::sleep(round_len.mul_f64(0.3 + 0.5 * rand_unit(round))).await;
        // The fault: SIGKILL and a restart on the same port, or SIGSTOP and a new process beside
        // it (the stopped one keeps its lock, so its claims wait for their lease).
        let killed_at = Instant::now();
        let port = if args.freeze {
            current.freeze()?;
            ports[round as usize + 1]
        } else {
            current.kill9();
            current.port
        };
        let next = launcher.start(port).await?;
        targets.port.store(port, Ordering::SeqCst);
        kills.push((killed_at, next.ready_at));
        gone.push(std::mem::replace(&mut current, next));
        load.await??;
        released += usize::from(current.released.load(Ordering::SeqCst) > 0);
    }

    // Requests still in flight finish (each is bounded by the client's 10 s timeout).
    tokio::time::sleep(Duration::from_secs(11)).await;
    // Twilio's retries, against the process that runs now.
    let mut retried = 0;
    let mut webhooks = std::mem::take(&mut sent.lock().expect("sent lock").webhooks);
    for attempt in 0..3 {
        let mut pending = 0;
        for (_, hook, status) in webhooks.iter_mut() {
            if *status == Some(200) {
                continue;
            }
            if attempt == 0 {
                retried += 1;
            }
            pending += 1;
            *status = targets.deliver(hook).await.or(*status);
        }
        if pending == 0 {
            break;
        }
    }

    // Every accepted text reaches the carrier (waiting out leases of frozen processes).
    let accepted: Vec<(String, usize, Instant)> = sent.lock().expect("sent lock").texts.clone();
    let deadline = Instant::now() + DRAIN_LIMIT;
    loop {
        let received = carrier.received.lock().expect("carrier lock").clone();
        let seen: std::collections::HashSet<&str> =
            received.iter().map(|(_, body)| body.as_str()).collect();
        if accepted
            .iter()
            .all(|(body, _, _)| seen.contains(body.as_str()))
            || Instant::now() > deadline
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if args.freeze {
        // Every text has reached the carrier once, but a stopped process's other claims run out
        // one by one: wait until the last has (a lease, 60 s) and its text went out again.
        tokio::time::sleep(Duration::from_secs(65)).await;
    }
    for mut process in gone.drain(..) {
        process.kill9();
    }
    // Let the last sends be recorded before reading the marks.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let received = carrier.received.lock().expect("carrier lock").clone();
    let mut arrivals: HashMap<&str, Vec<Instant>> = HashMap::new();
    for (at, body) in &received {
        if body.starts_with(TEXT_PREFIX) {
            arrivals.entry(body.as_str()).or_default().push(*at);
        }
    }
    let final_base = targets.base();
    let mut recovered_bodies = std::collections::HashSet::new();
    for id in &ids {
        for (body, marked) in staff.marks(&final_base, id).await? {
            if marked {
                recovered_bodies.insert(body);
            }
        }
    }
    let mut report = ChaosReport {
        store: if args.database_url.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        mode: if args.freeze { "sigstop" } else { "sigkill" },
        rounds: args.rounds,
        retried,
        texts_accepted: accepted.len(),
        restarts_that_released: released,
        ..ChaosReport::default()
    };
    for (body, _, _) in &accepted {
        match arrivals.get(body.as_str()).map_or(0, Vec::len) {
            0 => report.texts_lost += 1,
            1 => {}
            2 => {
                report.texts_doubled += 1;
                if !recovered_bodies.contains(body) {
                    report.doubled_unmarked += 1;
                }
            }
            _ => report.texts_more_than_twice += 1,
        }
    }
    report.texts_recovered = recovered_bodies
        .iter()
        .filter(|b| b.starts_with(TEXT_PREFIX))
        .count();
    for (killed_at, ready_at) in &kills {
        let last = accepted
            .iter()
            .filter(|(_, _, at)| at < killed_at)
            .filter_map(|(body, _, _)| arrivals.get(body.as_str()).and_then(|a| a.first()))
            .max();
        let drain = last.map_or(0.0, |last| {
            last.saturating_duration_since(*ready_at).as_secs_f64()
        });
        report
            .drain_after_restart_secs
            .push((drain * 10.0).round() / 10.0);
    }

    // Inbound: the audit log against what was answered.
    report.webhooks = webhooks.len();
    for (patient, hook, status) in &webhooks {
        ledger.record(*patient, &hook.sid, Delivery::from_status(*status));
    }
    let reader = Gateway::new(
        &guard::loopback_target(&final_base)?,
        Duration::from_secs(10),
        16,
    )?
    .login(ADMIN, DEMO_PASSWORD)
    .await?;
    let mut observed = Vec::new();
    for id in &ids {
        let rows = reader.inbound_audit_rows(id).await?;
        let distinct: std::collections::HashSet<&String> = rows.iter().collect();
        observed.push(Observed {
            rows: rows.len() as u64,
            distinct_messages: distinct.len() as u64,
        });
    }
    report.no_loss = ledger.check(&observed);
    report.passed = report.no_loss.passed
        && report.texts_lost == 0
        && report.texts_more_than_twice == 0
        && report.doubled_unmarked == 0;
    current.terminate();
    Ok(report)
}

/// A number in [0, 1) that differs per round (the kill's moment), without a random source.
fn rand_unit(round: u32) -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from((nanos ^ round.wrapping_mul(2_654_435_761)) % 1000) / 1000.0
}

/// Sends webhooks at `rate` and staff texts at `texts_per_second` for `length`, each to the
/// process that runs when it is sent; requests cut off by a kill are left to finish by themselves.
#[allow(clippy::too_many_arguments)]
async fn load(
    targets: Targets,
    staff: Staff,
    patients: Vec<Synthetic>,
    ids: Vec<String>,
    sent: Arc<Mutex<Sent>>,
    rate: u32,
    texts_per_second: u32,
    length: Duration,
    round: u32,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let hook_every = Duration::from_secs(1) / rate;
    let text_every = Duration::from_secs(1) / texts_per_second;
    let (mut next_hook, mut next_text) = (started, started);
    let (mut hooks, mut texts) = (0usize, 0usize);
    while started.elapsed() < length {
        let now = Instant::now();
        if now >= next_hook {
            let i = hooks % patients.len();
            let text = crate::synthetic::conversation_text(hooks as u64);
            let hook = targets.sign(&patients[i].mobile, &text);
            let (targets, sent) = (targets.clone(), Arc::clone(&sent));
            tokio::spawn(async move {
                let status = targets.deliver(&hook).await;
                sent.lock()
                    .expect("sent lock")
                    .webhooks
                    .push((i, hook, status));
            });
            next_hook += hook_every;
            hooks += 1;
        }
        if now >= next_text {
            let i = texts % ids.len();
            let body = format!("{TEXT_PREFIX}{round}.{texts}");
            let (staff, base, id, sent) = (
                staff.clone(),
                targets.base(),
                ids[i].clone(),
                Arc::clone(&sent),
            );
            tokio::spawn(async move {
                if staff.send(&base, &id, &body).await {
                    sent.lock()
                        .expect("sent lock")
                        .texts
                        .push((body, i, Instant::now()));
                }
            });
            next_text += text_every;
            texts += 1;
        }
        tokio::time::sleep(
            next_hook
                .min(next_text)
                .saturating_duration_since(Instant::now()),
        )
        .await;
    }
    Ok(())
}

fn print_human(r: &ChaosReport) {
    println!("chaos ({} store, {}): {} rounds", r.store, r.mode, r.rounds);
    println!(
        "  inbound: {} webhooks, {} retried after a kill; recorded once each: {} (missing {}, doubled {}, extra {})",
        r.webhooks,
        r.retried,
        r.no_loss.passed,
        r.no_loss.missing,
        r.no_loss.doubled,
        r.no_loss.extra
    );
    println!(
        "  staff texts: {} accepted, {} lost, {} sent twice ({} of them unmarked), {} more than twice, {} marked recovered",
        r.texts_accepted,
        r.texts_lost,
        r.texts_doubled,
        r.doubled_unmarked,
        r.texts_more_than_twice,
        r.texts_recovered
    );
    println!(
        "  drain after each restart (s): {:?}; restarts that released a gone instance's claims: {}",
        r.drain_after_restart_secs, r.restarts_that_released
    );
    println!("  passed: {}", r.passed);
}
