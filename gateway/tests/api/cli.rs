//! The real `gateway` binary: its commands, start-up errors, SIGTERM, and data surviving a restart.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{Backend, Fetch, fresh_db, twilio_form};

pub(crate) fn gateway(envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gateway"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

/// Starts `gateway serve` logging JSON, waits for it to listen and returns the child with its
/// address.
pub(crate) fn serve(envs: &[(&str, &str)]) -> (Child, String) {
    let (child, address, _lines) = serve_with(envs, &[("LOG_FORMAT", "json")]);
    (child, address)
}

/// Seeds the demo data (`gateway demo`), then starts `gateway serve` on the same settings.
pub(crate) fn serve_demo(envs: &[(&str, &str)]) -> (Child, String) {
    let demo = gateway(envs).arg("demo").output().unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    serve(envs)
}

pub(crate) fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "gateway did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn get(address: &str, path: &str) -> reqwest::Response {
    reqwest::get(format!("http://{address}{path}"))
        .await
        .unwrap()
}

/// Like [`serve`], but logging as `envs` say, and keeping every line the gateway writes to
/// stderr.
fn serve_capturing(
    envs: &[(&str, &str)],
) -> (Child, String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    serve_with(envs, &[])
}

/// Starts `gateway serve` on `envs` and then `more`, keeping every line it writes to stderr;
/// waits for it to listen.
fn serve_with(
    envs: &[(&str, &str)],
    more: &[(&str, &str)],
) -> (Child, String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let mut child = gateway(envs)
        .arg("serve")
        .env("GATEWAY_LISTEN", "127.0.0.1:0")
        .envs(more.iter().copied())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let kept = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("gateway listening") {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                let _ = tx.send(v["address"].as_str().unwrap().to_string());
            }
            kept.lock().unwrap().push(line);
        }
    });
    let address = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("gateway starts listening");
    (child, address, lines)
}

#[tokio::test]
async fn a_texted_date_of_birth_never_reaches_the_logs_or_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let envs = [
        ("GATEWAY_DATA_DIR", data),
        ("RUST_LOG", "debug"),
        ("LOG_FORMAT", "json"),
    ];
    let demo = gateway(&envs).arg("demo").output().unwrap();
    assert!(demo.status.success());
    let (mut child, address, lines) = serve_capturing(&envs);
    let token = crate::helpers::eventually(10, "the dev token printed at start-up", || {
        let lines = lines.clone();
        async move {
            lines.lock().unwrap().iter().find_map(|l| {
                l.split("dev webhook token (sign test webhooks with it): ")
                    .nth(1)
                    .map(str::to_string)
            })
        }
    })
    .await;
    let client = reqwest::Client::new();
    let base = format!("http://{address}");
    let login: serde_json::Value = client
        .post(format!("{base}/v1/auth/login"))
        .json(&serde_json::json!({"username": gateway::demo::STAFF_USERNAME, "password": gateway::demo::DEMO_PASSWORD}))
        .fetch_json()
        .await;
    let staff = login["token"].as_str().unwrap();
    let found: serde_json::Value = client
        .get(format!("{base}/v1/patients?q=pat"))
        .bearer_auth(staff)
        .fetch_json()
        .await;
    let patient = found["items"][0]["id"].as_str().unwrap().to_string();
    let start = client
        .post(format!("{base}/v1/patients/{patient}/texting/start"))
        .bearer_auth(staff)
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 200);
    // A wrong and then the right date of birth (demo patient Pat Example: 1958-04-12).
    for (i, dob) in ["03/15/1957", "04/12/1958"].iter().enumerate() {
        let params = vec![
            ("MessageSid".to_string(), format!("SM{:032x}", i + 1)),
            (
                "AccountSid".to_string(),
                "AC0123456789abcdef0123456789abcdef".to_string(),
            ),
            ("From".to_string(), "+15555550142".to_string()),
            ("To".to_string(), gateway::demo::PRACTICE_NUMBER.to_string()),
            ("Body".to_string(), dob.to_string()),
        ];
        let url = format!("{base}/webhooks/twilio/sms");
        let response = twilio_form(&client, &url, &url, &token, &params)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let texting: serde_json::Value = client
        .get(format!("{base}/v1/patients/{patient}/texting"))
        .bearer_auth(staff)
        .fetch_json()
        .await;
    assert_eq!(
        texting["status"], "enabled",
        "the webhooks really were processed"
    );
    let metrics = client.get(format!("{base}/metrics")).fetch_text().await;
    assert!(terminate(&mut child).success());
    let logs = lines.lock().unwrap().join("\n");
    assert!(
        logs.contains("DEBUG") || logs.contains("\"level\":\"DEBUG\""),
        "debug logging was on"
    );
    // The dates in every form they could take (a bare year would match unrelated numbers such
    // as latencies in the metrics).
    for secret in [
        "03/15/1957",
        "04/12/1958",
        "1958-04-12",
        "1957-03-15",
        "demo-password-1",
    ] {
        assert!(!logs.contains(secret), "{secret:?} appeared in the logs");
        assert!(
            !metrics.contains(secret),
            "{secret:?} appeared in the metrics"
        );
    }
}

#[tokio::test]
async fn a_bad_environment_value_stops_start_up_naming_the_variable() {
    let out = gateway(&[("SMS_SENDER_MPS", "lots")])
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SMS_SENDER_MPS"), "{stderr}");
}

#[tokio::test]
async fn create_admin_refuses_a_password_without_a_digit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = gateway(&[("GATEWAY_DATA_DIR", data)])
        .args([
            "create-admin",
            "--username",
            "root",
            "--password",
            "no-digits-here",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("digit"));
}

#[tokio::test]
async fn with_nothing_set_the_gateway_keeps_its_data_in_sqlite_under_the_data_dir_across_restarts()
{
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let envs = [("GATEWAY_DATA_DIR", data)];

    let migrate = gateway(&envs).arg("migrate").output().unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    assert!(dir.path().join("data/gateway.db").exists());

    let admin = gateway(&envs)
        .args([
            "create-admin",
            "--username",
            "root",
            "--password",
            "s3cret-password",
        ])
        .output()
        .unwrap();
    assert!(
        admin.status.success(),
        "{}",
        String::from_utf8_lossy(&admin.stderr)
    );
    assert!(!String::from_utf8_lossy(&admin.stdout).contains("s3cret-password"));

    let demo = gateway(&envs).arg("demo").output().unwrap();
    assert!(String::from_utf8_lossy(&demo.stdout).contains("Seeded customer"));

    let (mut child, address) = serve(&envs);
    assert_eq!(get(&address, "/healthz").await.status(), 200);
    assert_eq!(get(&address, "/readyz").await.status(), 200);
    assert!(terminate(&mut child).success(), "SIGTERM is a clean stop");

    let (mut child, address) = serve(&envs);
    assert_eq!(get(&address, "/readyz").await.status(), 200);
    assert!(terminate(&mut child).success());
    let again = gateway(&envs).arg("demo").output().unwrap();
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("already in this store"),
        "data survived the restart"
    );
}

#[tokio::test]
async fn with_database_url_the_same_binary_serves_on_postgres() {
    let db = fresh_db(Backend::Postgres).await;
    let url = db.url();
    let envs = [("DATABASE_URL", url.as_str())];
    let (mut child, address) = serve_demo(&envs);
    assert_eq!(get(&address, "/readyz").await.status(), 200);
    assert!(terminate(&mut child).success());
    let again = gateway(&envs).arg("demo").output().unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("already in this store"));
}
