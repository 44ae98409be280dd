//! Monitoring that works: the real binary, on a fresh store of either backend, serves every
//! metric that the Prometheus rules and the Grafana dashboard in `ops/` use, from start-up and
//! with help text, and `gateway_alerts_open` counts an alert opened through the API. When
//! `promtool` is installed (`.ci/run` installs it) it lints `/metrics` and tests the rules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gateway::telemetry::catalogue::{self, Kind, Values};
use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::{serve_demo, terminate};
use crate::helpers::{
    Backend, ProxyMode, TcpToggleProxy, eventually, fresh_db, items, postgres_address,
    spawn_app_with, url_via,
};

crate::both_backends!(every_metric_the_rules_and_the_dashboard_use_is_served);

/// The value of one sample, `series` written as the exposition renders it
/// (`name{label="value"}`, or the bare name).
pub fn metric_value(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .split(' ')
            .next()?
            .parse()
            .ok()
    })
}

/// The HTTP API of a gateway started as a process.
struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    /// Sends a request (with a bearer token and a JSON body, if given) and checks its status.
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        expected: u16,
    ) -> Value {
        let request = self.client.request(method, format!("{}{path}", self.base));
        let (status, body) = crate::helpers::send_json(request, token, body).await;
        assert_eq!(status, expected, "{path}: {body}");
        body
    }
}

/// Asserts the value of each series (written as in [`metric_value`]).
fn assert_values(exposition: &str, expected: &[(&str, f64)]) {
    for &(series, value) in expected {
        assert_eq!(metric_value(exposition, series), Some(value), "{series}");
    }
}

/// Scrapes `/metrics` at `base` until `done` holds of the text (15 s at most) and returns it.
async fn scrape_until(base: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
    let client = reqwest::Client::new();
    let url = format!("{base}/metrics");
    let done = &done;
    eventually(15, what, || {
        let request = client.get(&url).send();
        async move {
            let text = request.await.unwrap().text().await.unwrap();
            done(&text).then_some(text)
        }
    })
    .await
}

/// The metric families of an exposition (`# TYPE` lines): name → kind.
fn families(exposition: &str) -> BTreeMap<String, String> {
    exposition
        .lines()
        .filter_map(|line| {
            let mut words = line.strip_prefix("# TYPE ")?.split(' ');
            Some((words.next()?.to_string(), words.next()?.to_string()))
        })
        .collect()
}

fn ops_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops")
}

fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no .{extension} files in {dir:?}");
    found
}

/// The PromQL expressions of a rules or rule-test file: every `expr:` value (plain or block
/// scalar), and the metric of every `series:` a rule test feeds in.
fn yaml_expressions(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut exprs = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let trimmed = trimmed.strip_prefix("- ").unwrap_or(trimmed);
        if let Some(rest) = trimmed.strip_prefix("expr:") {
            let rest = rest.trim();
            if rest.starts_with('|') || rest.starts_with('>') {
                let block: Vec<&str> = lines[i + 1..]
                    .iter()
                    .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
                    .copied()
                    .collect();
                exprs.push(block.join("\n"));
            } else {
                exprs.push(rest.trim_matches(|c| c == '\'' || c == '"').to_string());
            }
        } else if let Some(rest) = trimmed.strip_prefix("series:") {
            exprs.push(
                rest.trim()
                    .trim_matches(|c| c == '\'' || c == '"')
                    .to_string(),
            );
        }
    }
    exprs
}

/// Every `expr` string anywhere in a Grafana dashboard.
fn dashboard_expressions(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", Value::String(expr)) => out.push(expr.clone()),
                    _ => dashboard_expressions(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| dashboard_expressions(v, out)),
        _ => {}
    }
}

/// The metric names in a PromQL expression: identifiers outside strings, label matchers
/// (`{…}`), ranges (`[…]`) and Grafana variables (`$x`) that start with `gateway_` or `http_` or
/// are catalogued.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                while i < chars.len() && chars[i] != close {
                    if chars[i] == '"' {
                        i += 1;
                        while i < chars.len() && chars[i] != '"' {
                            i += if chars[i] == '\\' { 2 } else { 1 };
                        }
                    }
                    i += 1;
                }
                i += 1;
            }
            '$' => {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if word.starts_with("gateway_")
                    || word.starts_with("http_")
                    || catalogue::find(&word).is_some()
                {
                    names.insert(word);
                }
            }
            c if c.is_ascii_digit() => {
                // A number or a duration (5m, 1e3): not a name.
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// The metric family a name used in PromQL belongs to: a histogram's `_bucket`, `_sum` and
/// `_count` series belong to the histogram.
fn family_of(name: &str) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && catalogue::find(base).is_some_and(|m| m.kind == Kind::Histogram)
        {
            return base.to_string();
        }
    }
    name.to_string()
}

/// Every metric family the rules, their tests and the dashboards in `ops/` use, with the files
/// that use it.
fn families_used_in_ops() -> BTreeMap<String, BTreeSet<String>> {
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut add = |file: &Path, exprs: Vec<String>| {
        for expr in exprs {
            for name in metric_names(&expr) {
                used.entry(family_of(&name))
                    .or_default()
                    .insert(file.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
    };
    for file in files(&ops_dir().join("prometheus"), "yml") {
        add(
            &file,
            yaml_expressions(&std::fs::read_to_string(&file).unwrap()),
        );
    }
    for file in files(&ops_dir().join("grafana"), "json") {
        let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{file:?}: {e}"));
        let mut exprs = Vec::new();
        dashboard_expressions(&dashboard, &mut exprs);
        add(&file, exprs);
    }
    used
}

/// Whether the catalogue registers the metric before its first event (no open-ended label).
fn exported_from_start_up(name: &str) -> bool {
    catalogue::find(name).is_some_and(|m| m.labels.iter().all(|l| l.values != Values::Open))
}

/// Checks what holds for any scrape: every used family is served (those with open-ended labels
/// only once `after_traffic`), with the kind its name implies, and every family has help text.
fn assert_serves_ops_metrics(
    exposition: &str,
    used: &BTreeMap<String, BTreeSet<String>>,
    after_traffic: bool,
) {
    let served = families(exposition);
    for (name, files) in used {
        if !after_traffic && !exported_from_start_up(name) {
            continue;
        }
        let kind = served.get(name).unwrap_or_else(|| {
            panic!("{name} (used in {files:?}) is not on /metrics:\n{exposition}")
        });
        if let Some(metric) = catalogue::find(name) {
            let expected = match metric.kind {
                Kind::Counter => "counter",
                Kind::Gauge => "gauge",
                Kind::Histogram => "histogram",
            };
            assert_eq!(kind, expected, "{name}");
        }
    }
    for name in served.keys() {
        assert!(
            exposition.contains(&format!("# HELP {name} ")),
            "{name} has no # HELP line"
        );
    }
}

/// Runs `promtool` with `args` (and `stdin`), failing the test on a non-zero exit.
fn promtool(args: &[&str], stdin: Option<&str>) {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn promtool_installed() -> bool {
    Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn the_promql_scan_finds_names_and_skips_labels_strings_ranges_and_variables() {
    let names = metric_names(
        r#"sum by (le) (rate(http_request_duration_seconds_bucket{job="gateway", route!~".*/gateway_x"}[$__rate_interval]))
           / ignoring(route) group_left max(gateway_outbox_depth{instance=~"$instance"}) > 1e3 and up"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        [
            "gateway_outbox_depth",
            "http_request_duration_seconds_bucket"
        ]
    );
    assert_eq!(
        family_of("http_request_duration_seconds_bucket"),
        "http_request_duration_seconds"
    );
    assert_eq!(
        family_of("gateway_readings_total"),
        "gateway_readings_total"
    );
    let yaml = "      - alert: X\n        expr: |\n          max(gateway_a)\n            > 1\n        for: 1m\n      - series: 'gateway_b{job=\"x\"}'\n        expr: gateway_c > 0\n";
    assert_eq!(
        yaml_expressions(yaml),
        [
            "          max(gateway_a)\n            > 1",
            "gateway_b{job=\"x\"}",
            "gateway_c > 0"
        ]
    );
}

#[test]
fn the_rules_and_the_dashboard_use_the_alert_gauges() {
    // Guards the scan itself: were it to find nothing, the test below would prove nothing.
    let used = families_used_in_ops();
    for name in [
        catalogue::ALERTS_OPEN,
        catalogue::ALERTS_OLDEST_OPEN_AGE,
        catalogue::ESCALATION_UNREACHABLE,
        catalogue::STORE_UP,
        catalogue::HTTP_REQUEST_DURATION,
    ] {
        assert!(
            used.contains_key(name),
            "{name} not found in ops/: {used:?}"
        );
    }
}

async fn every_metric_the_rules_and_the_dashboard_use_is_served(backend: Backend) {
    let used = families_used_in_ops();
    let db = fresh_db(backend).await;
    let url = db.url();
    let envs = [("DATABASE_URL", url.as_str())];
    let (mut child, address) = serve_demo(&envs);
    let base = format!("http://{address}");

    // Before anything happened: every series with known labels is there, at 0.
    let first = scrape_until(&base, "a first scrape", |_| true).await;
    assert_serves_ops_metrics(&first, &used, false);
    let failed_sends = format!("{}{{status=\"failed\"}}", catalogue::OUTBOUND_MESSAGES);
    assert_values(
        &first,
        &[
            (catalogue::STORE_UP, 1.0),
            (catalogue::ALERTS_OPEN, 0.0),
            (catalogue::ALERTS_OLDEST_OPEN_AGE, 0.0),
            (catalogue::ESCALATION_UNREACHABLE, 0.0),
            (&failed_sends, 0.0),
        ],
    );

    // Open an alert the way an integration would: ranges, someone on call, a critical reading.
    let api = Api {
        base: base.clone(),
        client: reqwest::Client::new(),
    };
    let login = api
        .send(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"username": gateway::demo::ADMIN_USERNAME, "password": gateway::demo::DEMO_PASSWORD})),
            200,
        )
        .await;
    let admin = login["token"].as_str().unwrap().to_string();
    let admin = Some(admin.as_str());
    let me = api.send(Method::GET, "/v1/me", admin, None, 200).await;
    let customer = me["customer_id"].as_str().unwrap();
    let practice = me["practice_ids"][0].as_str().unwrap();
    let user = api
        .send(
            Method::POST,
            "/v1/users",
            admin,
            Some(json!({"username": "metrics-on-call", "password": "on-call-password-1", "role": "staff",
                        "customer_id": customer, "practice_ids": [practice],
                        "first_name": "Omar", "last_name": "Oncall", "title": "RN",
                        "mobile_phone": "+14155550177"})),
            201,
        )
        .await;
    api.send(
        Method::PUT,
        &format!("/v1/practices/{practice}/on-call"),
        admin,
        Some(json!([{"from": "00:00", "to": "00:00", "user_id": user["id"]}])),
        200,
    )
    .await;
    api.send(
        Method::PUT,
        &format!("/v1/practices/{practice}/reading-alerts/pulse"),
        admin,
        Some(json!({"ranges": {"critical_low": 40, "normal_low": 50, "normal_high": 100, "critical_high": 130},
                    "change": null, "apply_to": "all_patients"})),
        200,
    )
    .await;
    let token = api
        .send(
            Method::POST,
            &format!("/v1/customers/{customer}/api-tokens"),
            admin,
            Some(json!({"name": "monitoring test", "scopes": ["readings:write"]})),
            201,
        )
        .await;
    let found = api
        .send(Method::GET, "/v1/patients?q=pat", admin, None, 200)
        .await;
    let reading = api
        .send(
            Method::POST,
            "/v1/readings",
            token["token"].as_str(),
            Some(
                json!({"patient_id": found["items"][0]["id"], "vital": "pulse", "value": 180,
                        "taken_at": chrono::Utc::now().to_rfc3339()}),
            ),
            201,
        )
        .await;
    assert_eq!(reading["status"], "critical", "{reading}");
    let open = api
        .send(Method::GET, "/v1/alerts?state=open", admin, None, 200)
        .await;
    assert_eq!(items(&open).len(), 1, "{open}");

    // The monitoring worker publishes the open alert within its period.
    let after = scrape_until(&base, "gateway_alerts_open >= 1", |text| {
        metric_value(text, catalogue::ALERTS_OPEN) >= Some(1.0)
    })
    .await;
    assert_serves_ops_metrics(&after, &used, true);
    assert!(metric_value(&after, catalogue::ALERTS_OLDEST_OPEN_AGE).is_some());
    let critical = format!("{}{{status=\"critical\"}}", catalogue::READINGS);
    assert_values(&after, &[(catalogue::ALERTS_OPENED, 1.0), (&critical, 1.0)]);

    // Acknowledged, the alert leaves the gauges at the worker's next pass (nothing else sets them).
    let alert = open["items"][0]["id"].as_str().unwrap();
    api.send(
        Method::POST,
        &format!("/v1/alerts/{alert}/ack"),
        admin,
        None,
        200,
    )
    .await;
    let acked = scrape_until(&base, "gateway_alerts_open back to 0", |text| {
        metric_value(text, catalogue::ALERTS_OPEN) == Some(0.0)
    })
    .await;
    let acks_timed = format!("{}_count", catalogue::ALERT_TIME_TO_ACK);
    assert_values(
        &acked,
        &[
            (catalogue::ALERTS_OLDEST_OPEN_AGE, 0.0),
            (catalogue::ALERTS_ACKNOWLEDGED, 1.0),
            (&acks_timed, 1.0),
        ],
    );

    if promtool_installed() {
        promtool(&["check", "metrics"], Some(&after));
        let ops = ops_dir();
        promtool(
            &[
                "test",
                "rules",
                ops.join("prometheus/alerts_test.yml").to_str().unwrap(),
            ],
            None,
        );
        promtool(
            &[
                "check",
                "config",
                ops.join("prometheus/prometheus.yml").to_str().unwrap(),
            ],
            None,
        );
    } else {
        eprintln!("promtool is not installed: /metrics, the rules and the config were not linted");
    }
    assert!(terminate(&mut child).success());
}

#[tokio::test]
async fn store_up_falls_to_0_while_idle_when_postgres_goes_away_and_returns_by_itself() {
    let db = fresh_db(Backend::Postgres).await;
    let proxy = TcpToggleProxy::start(postgres_address()).await;
    let via = url_via(&db.url(), proxy.address);
    let app = spawn_app_with(db, |_| {}, via).await;
    // Only /metrics is called, which does not touch the store: the probe runs by itself.
    let base = app.url("");
    let first = scrape_until(&base, "a first scrape", |_| true).await;
    assert_eq!(
        metric_value(&first, catalogue::STORE_UP),
        Some(1.0),
        "set at start-up"
    );
    for (mode, up, what) in [
        (
            ProxyMode::Closed,
            0.0,
            "gateway_store_up 0 while the store is away",
        ),
        (
            ProxyMode::Open,
            1.0,
            "gateway_store_up 1 once the store is back",
        ),
    ] {
        proxy.set(mode);
        scrape_until(&base, what, |text| {
            metric_value(text, catalogue::STORE_UP) == Some(up)
        })
        .await;
    }
}
