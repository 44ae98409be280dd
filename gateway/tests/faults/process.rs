//! The real `gateway` binary as a child process: started with a clean environment on port 0,
//! its stderr read line by line (so a chatty gateway never blocks on a full pipe), killed with
//! SIGKILL (`kill -9`) when a test says so, and always when the handle is dropped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, PUBLIC_BASE_URL};

/// How a gateway process is configured: the store, and optionally the fake carrier.
#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    pub data_dir: String,
    /// The fake carrier's base URL; `None` runs the dev transport.
    pub carrier: Option<String>,
    pub sms_sender_mps: u32,
    pub twilio_timeout_secs: Option<u64>,
}

impl Config {
    pub fn new(database_url: String, data_dir: &tempfile::TempDir) -> Config {
        Config {
            database_url,
            data_dir: data_dir.path().display().to_string(),
            carrier: None,
            sms_sender_mps: 50,
            twilio_timeout_secs: None,
        }
    }

    /// Sends through `fake`, with its credentials; webhooks are signed for [`PUBLIC_BASE_URL`]
    /// with its auth token, which stays the same across restarts (as Twilio's does).
    pub fn with_carrier(mut self, fake: &FakeTwilio) -> Config {
        self.carrier = Some(fake.base_url());
        self
    }

    fn envs(&self) -> Vec<(&'static str, String)> {
        let mut envs = vec![
            ("GATEWAY_LISTEN", "127.0.0.1:0".to_string()),
            ("GATEWAY_DATA_DIR", self.data_dir.clone()),
            ("DATABASE_URL", self.database_url.clone()),
            ("SMS_SENDER_MPS", self.sms_sender_mps.to_string()),
            ("LOG_FORMAT", "json".to_string()),
            ("RUST_LOG", "info".to_string()),
            ("PUBLIC_BASE_URL", PUBLIC_BASE_URL.to_string()),
        ];
        if let Some(base) = &self.carrier {
            envs.push(("TWILIO_API_BASE", base.clone()));
            envs.push(("TWILIO_ACCOUNT_SID", ACCOUNT_SID.to_string()));
            envs.push(("TWILIO_AUTH_TOKEN", AUTH_TOKEN.to_string()));
        }
        if let Some(secs) = self.twilio_timeout_secs {
            envs.push(("TWILIO_TIMEOUT_SECS", secs.to_string()));
        }
        envs
    }
}

/// One running `gateway serve`.
pub struct Gateway {
    child: Child,
    pub address: String,
    lines: Arc<Mutex<Vec<String>>>,
    /// When it started listening.
    pub started: Instant,
}

impl Gateway {
    /// Starts the binary and waits (at most 30 s) until it listens.
    pub fn start(config: &Config) -> Gateway {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gateway"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in config.envs() {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the gateway binary starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&lines);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("gateway listening")
                    && let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && let Some(address) = v["address"].as_str()
                {
                    let _ = tx.send(address.to_string());
                }
                kept.lock().unwrap().push(line);
            }
        });
        let address = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(address) => address,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the gateway did not start listening:\n{}",
                    lines.lock().unwrap().join("\n")
                );
            }
        };
        Gateway {
            child,
            address,
            lines,
            started: Instant::now(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// SIGKILL: no shutdown, no flushing, connections cut mid-request.
    pub fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL delivered");
        self.child.wait().expect("the killed gateway is reaped");
    }

    /// Whether any stderr line so far contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .any(|line| line.contains(needle))
    }

    /// Every stderr line so far (for failure messages).
    pub fn log(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
