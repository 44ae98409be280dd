//! Just enough of the W3C WebDriver protocol to drive headless Chromium through Debian's
//! `chromedriver`: a session, navigation, finding, clicking and typing, scripts (sync and async),
//! device emulation and screenshots. Over reqwest, which the tests already build, instead of a
//! WebDriver crate whose dependencies (an ICU segmenter, a second `http`) would be compiled only
//! for this.
//!
//! The driver runs in its own process group; dropping the [`Browser`] ends that group (driver
//! and browser) by its id, so a failing test leaves no browser behind.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The key W3C WebDriver names element references with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: reqwest::Client,
    base: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile, offline-friendly flags
    /// and a 1280×900 window.
    pub async fn start() -> Browser {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(binary).exists(),
                "{binary} is missing: install Debian's chromium and chromium-driver \
                 (apt-get install -y chromium chromium-driver; .ci/run does this)"
            );
        }
        let port = free_port();
        let mut command = Command::new(CHROMEDRIVER);
        command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        let driver = command.spawn().expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(45))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(answer) = http.get(format!("{base}/status")).send().await
                && answer.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut browser = Browser {
            http,
            base,
            driver,
            _profile: profile,
        };
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1280,900".into(),
            format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let created = browser
            .command(
                reqwest::Method::POST,
                "/session",
                json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
                    "timeouts": {"script": 30000, "pageLoad": 30000, "implicit": 0},
                }}}),
            )
            .await;
        let session = created["sessionId"]
            .as_str()
            .expect("a WebDriver session")
            .to_string();
        browser.base = format!("{}/session/{session}", browser.base);
        browser
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if method != reqwest::Method::GET {
            request = request.json(&body);
        }
        let answer = request.send().await.expect("chromedriver answers");
        let status = answer.status();
        let value: Value = answer.json().await.expect("a JSON answer");
        assert!(
            status.is_success(),
            "WebDriver {method} {path} failed: {status} {}",
            value["value"]["message"]
        );
        value["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    pub async fn title(&self) -> String {
        self.text_at("/title").await
    }

    pub async fn url(&self) -> String {
        self.text_at("/url").await
    }

    /// The string the session answers at `path` (empty when it answers none).
    async fn text_at(&self, path: &str) -> String {
        let value = self.command(reqwest::Method::GET, path, Value::Null).await;
        value.as_str().unwrap_or_default().to_string()
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .command(
                reqwest::Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        found[ELEMENT].as_str().expect("an element").to_string()
    }

    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            json!({}),
        )
        .await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.run_script("/execute/sync", script, args).await
    }

    /// Runs `script`, which calls its last argument with the result.
    pub async fn execute_async(&self, script: &str, args: Value) -> Value {
        self.run_script("/execute/async", script, args).await
    }

    /// Posts `script` and `args` to the session's execute endpoint `path`.
    async fn run_script(&self, path: &str, script: &str, args: Value) -> Value {
        let body = json!({"script": script, "args": args});
        self.command(reqwest::Method::POST, path, body).await
    }

    /// Polls the JavaScript expression `condition` until it is truthy, for at most `secs`.
    pub async fn wait_until(&self, secs: u64, what: &str, condition: &str) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let script = format!("return !!({condition});");
        loop {
            if self.execute(&script, json!([])).await == Value::Bool(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {secs} s waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Lays the page out as a phone of `width` CSS pixels would (Chromium's device emulation).
    pub async fn emulate_width(&self, width: u32) {
        self.command(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
                "width": width, "height": 800, "deviceScaleFactor": 1, "mobile": true
            }}),
        )
        .await;
    }

    pub async fn screenshot_png(&self) -> Vec<u8> {
        let encoded = self
            .command(reqwest::Method::GET, "/screenshot", Value::Null)
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .expect("a base64 PNG")
    }

    /// Ends the session (the browser quits); the driver goes when the value is dropped.
    pub async fn quit(self) {
        let _ = self
            .http
            .delete(&self.base)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver leads its own process group: end it and the browser it started.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}
