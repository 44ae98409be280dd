//! `load-tests`: a bounded load generator for a gateway on a loopback address.
//!
//! Scenarios (`inbound`, `opt-in`) drive the gateway through its signed carrier webhooks and its
//! admin API, record per-request latency in HDR histograms, and finish with a no-loss check: every
//! inbound webhook answered 200 must be recorded exactly once (repeats of a `MessageSid` not
//! twice). `readings` posts readings as an integration and times each critical reading's alert
//! text to a fake carrier this process runs on loopback ([`carrier`]). The exit status is 0 when every check passed, 1 when one failed, 2 when the run could
//! not be carried out (refused target or bounds, set-up failure, time limit).
//!
//! It refuses any target that is not loopback, and every run is bounded in patients, rate,
//! duration, concurrency and wall-clock time ([`guard`]). Tokens and passwords come from the
//! command line, a file or the environment and are never printed.

mod baseline;
mod carrier;
mod chaos;
mod client;
mod closed;
mod guard;
mod inbound_closed;
mod ledger;
mod procfs;
mod readings;
mod replies;
mod scenario;
mod stats;
mod synthetic;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::client::Gateway;
use crate::inbound_closed::{ClosedPlan, ClosedSummary};
use crate::readings::{ReadingsPlan, ReadingsSummary};
use crate::scenario::{InboundPlan, Run, Summary};

#[derive(Debug, Parser)]
#[command(
    name = "load-tests",
    about = "Bounded load scenarios against a gateway on a loopback address, with a no-loss check"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Verified patients text at a steady rate (with deliberate repeats of a MessageSid).
    Inbound {
        #[command(flatten)]
        common: Common,
        /// Synthetic patients to create and verify first.
        #[arg(long, default_value_t = 20)]
        patients: u32,
        /// Webhooks per second in the steady phase.
        #[arg(long, default_value_t = 50)]
        rate: u32,
        /// Seconds of the steady phase.
        #[arg(long, default_value_t = 20)]
        duration: u64,
        /// Every n-th webhook repeats one sent 4 slots earlier (0: no repeats).
        #[arg(long, default_value_t = 25)]
        duplicate_every: u32,
    },
    /// Verified patients text as fast as the gateway answers, on a fixed number of connections,
    /// alternated with a built-in baseline server (signature check + one INSERT) measured with
    /// the same client: committed rows per second, their ratio, latency, the no-loss check.
    InboundClosed {
        #[command(flatten)]
        common: Common,
        /// Synthetic patients to create and verify first; the texts go to them in turn.
        #[arg(long, default_value_t = 200)]
        patients: u32,
        /// Measured rounds of each server (baseline, gateway, baseline, gateway, …).
        #[arg(long, default_value_t = 2)]
        rounds: u32,
        /// Seconds of each round.
        #[arg(long, default_value_t = 20)]
        duration: u64,
        /// Seconds of warm-up of each server before the first round (not reported).
        #[arg(long, default_value_t = 3)]
        warmup: u64,
        /// The baseline's store: a fresh PostgreSQL database or a fresh SQLite file.
        #[arg(long, value_enum, default_value_t = BaselineStore::Postgres)]
        baseline: BaselineStore,
        /// The (loopback) PostgreSQL server the baseline creates and drops its database on.
        #[arg(
            long,
            env = "TEST_POSTGRES_URL",
            default_value = "postgres://postgres@127.0.0.1:5432/postgres"
        )]
        baseline_postgres_url: String,
        /// The gateway's process id, to report its CPU time per round and its memory (VmRSS).
        #[arg(long)]
        gateway_pid: Option<u32>,
    },
    /// N patients verify at once: start, a wrong date of birth, the right one.
    OptIn {
        #[command(flatten)]
        common: Common,
        /// Synthetic patients.
        #[arg(long, default_value_t = 50)]
        patients: u32,
    },
    /// Normal readings at a steady rate and, every few seconds, a critical one: time from sending
    /// it to the (fake) carrier receiving the on-call user's alert text.
    Readings {
        #[command(flatten)]
        common: Common,
        /// Synthetic patients the readings are spread over.
        #[arg(long, default_value_t = 20)]
        patients: u32,
        /// Normal readings per second in the steady phase.
        #[arg(long, default_value_t = 100)]
        rate: u32,
        /// Seconds of the steady phase.
        #[arg(long, default_value_t = 30)]
        duration: u64,
        /// Seconds between two critical readings (on top of the normal ones).
        #[arg(long, default_value_t = 2)]
        critical_every: u64,
        /// Where the fake Twilio Messages API listens (loopback only); the gateway's
        /// TWILIO_API_BASE must point at it.
        #[arg(long, default_value = "127.0.0.1:18081")]
        carrier_listen: String,
        /// The account SID the fake carrier accepts: the gateway's TWILIO_ACCOUNT_SID.
        #[arg(long, env = "LOAD_CARRIER_ACCOUNT_SID")]
        carrier_account_sid: String,
        /// The auth token the fake carrier accepts: the gateway's TWILIO_AUTH_TOKEN.
        #[arg(long, env = "LOAD_CARRIER_AUTH_TOKEN", hide_env_values = true)]
        carrier_auth_token: String,
        /// Connections of a closed-loop burst of inbound texts from verified patients during the
        /// whole steady phase (0: no burst; needs the webhook token).
        #[arg(long, default_value_t = 0)]
        burst_concurrency: u32,
        /// Verified patients who text in the burst.
        #[arg(long, default_value_t = 50)]
        burst_patients: u32,
    },
}

/// Where the baseline of `inbound-closed` stores its rows.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum BaselineStore {
    Postgres,
    Sqlite,
}

/// What a run reports.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
enum Report {
    Messaging(Summary),
    Readings(ReadingsSummary),
    Closed(ClosedSummary),
}

impl Report {
    fn passed(&self) -> bool {
        match self {
            Report::Messaging(s) => s.passed,
            Report::Readings(s) => s.passed,
            Report::Closed(s) => s.passed,
        }
    }
}

#[derive(Debug, Args)]
struct Common {
    /// The gateway's base URL, which must be its PUBLIC_BASE_URL (webhooks are signed with it).
    /// Only loopback hosts are accepted.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// The webhook signing token (the dev token `gateway serve` prints without Twilio
    /// credentials).
    #[arg(long, env = "LOAD_WEBHOOK_TOKEN", hide_env_values = true)]
    webhook_token: Option<String>,
    /// A file holding the webhook signing token.
    #[arg(long, conflicts_with = "webhook_token")]
    webhook_token_file: Option<std::path::PathBuf>,
    /// The customer admin that creates the patients and reads the audit log.
    #[arg(long, default_value = "demo-admin")]
    admin_user: String,
    /// Its password (default: the published password of `gateway demo`'s accounts).
    #[arg(
        long,
        env = "LOAD_ADMIN_PASSWORD",
        hide_env_values = true,
        default_value = "demo-password-1",
        hide_default_value = true
    )]
    admin_password: String,
    /// A super admin, to read the replies in the dev outbox (required by `opt-in`).
    #[arg(long, env = "LOAD_SUPER_USER")]
    super_user: Option<String>,
    /// Its password.
    #[arg(long, env = "LOAD_SUPER_PASSWORD", hide_env_values = true)]
    super_password: Option<String>,
    /// The practice's SMS number (the demo practice's by default).
    #[arg(long, default_value = "+15555550100")]
    practice_number: String,
    /// The practice to create patients in (default: the admin's first practice).
    #[arg(long)]
    practice_id: Option<String>,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 64)]
    concurrency: u32,
    /// Seconds before one request counts as timed out.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// A label for the report, such as the store's name.
    #[arg(long)]
    label: Option<String>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
}

impl Common {
    fn webhook_token(&self) -> anyhow::Result<String> {
        let token = match (&self.webhook_token, &self.webhook_token_file) {
            (Some(token), _) => token.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .with_context(|| format!("reading --webhook-token-file {}", path.display()))?,
            (None, None) => anyhow::bail!(
                "no webhook token: pass --webhook-token-file, --webhook-token or LOAD_WEBHOOK_TOKEN"
            ),
        };
        let token = token.trim().to_owned();
        anyhow::ensure!(!token.is_empty(), "the webhook token is empty");
        Ok(token)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // `chaos` runs gateways itself and has its own options (see `chaos.rs`).
    if std::env::args().nth(1).as_deref() == Some("chaos") {
        return chaos::run_from_args().await;
    }
    let cli = Cli::parse();
    let (common, patients, rate, duration) = match &cli.scenario {
        Scenario::Inbound {
            common,
            patients,
            rate,
            duration,
            ..
        } => (common, *patients, *rate, *duration),
        Scenario::OptIn { common, patients } => (common, *patients, 1, 1),
        Scenario::InboundClosed {
            common,
            patients,
            duration,
            ..
        } => (common, *patients, 1, *duration),
        Scenario::Readings {
            common,
            patients,
            rate,
            duration,
            ..
        } => (common, *patients, *rate, *duration),
    };
    let extra = match &cli.scenario {
        Scenario::Readings {
            critical_every,
            carrier_listen,
            duration,
            burst_concurrency,
            burst_patients,
            common,
            ..
        } => guard::check_critical_every(*critical_every, *duration)
            .and_then(|()| guard::loopback_listen(carrier_listen).map(|_| ()))
            .and_then(|()| {
                if *burst_concurrency == 0 {
                    return Ok(());
                }
                guard::check_bounds(*burst_patients, 1, *duration, *burst_concurrency)?;
                guard::plain_http_addr(&guard::loopback_target(&common.target)?).map(|_| ())
            }),
        Scenario::InboundClosed {
            rounds,
            duration,
            warmup,
            baseline,
            baseline_postgres_url,
            common,
            ..
        } => guard::check_closed(*rounds, *duration, *warmup)
            .and_then(|()| {
                guard::loopback_target(&common.target)
                    .and_then(|t| guard::plain_http_addr(&t))
                    .map(|_| ())
            })
            .and_then(|()| match baseline {
                BaselineStore::Postgres => {
                    guard::loopback_postgres(baseline_postgres_url).map(|_| ())
                }
                BaselineStore::Sqlite => Ok(()),
            }),
        _ => Ok(()),
    };
    let target = match guard::loopback_target(&common.target)
        .and_then(|t| guard::check_bounds(patients, rate, duration, common.concurrency).map(|()| t))
        .and_then(|t| extra.map(|()| t))
    {
        Ok(target) => target,
        Err(refused) => {
            eprintln!("load-tests: {refused}");
            return ExitCode::from(2);
        }
    };
    let loaded = match &cli.scenario {
        Scenario::InboundClosed { rounds, warmup, .. } => {
            guard::closed_loop_secs(*rounds, duration, *warmup)
        }
        _ => duration,
    };
    let limit = Duration::from_secs(loaded) + guard::SETUP_AND_CHECK_BUDGET;
    let result = bounded(limit, run(&cli, common, &target)).await;
    exit_code(result.map(|summary| {
        if common.json {
            match serde_json::to_string_pretty(&summary) {
                Ok(json) => println!("{json}"),
                Err(e) => eprintln!("load-tests: {e}"),
            }
        } else {
            match &summary {
                Report::Messaging(s) => print_human(s),
                Report::Readings(s) => print_readings(s),
                Report::Closed(s) => print_closed(s),
            }
        }
        summary.passed()
    }))
}

/// Runs `run` for at most `limit`; a run still going then is stopped and counts as failed.
pub async fn bounded<T>(
    limit: Duration,
    run: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(limit, run).await {
        Ok(result) => result,
        Err(_) => Err(anyhow::anyhow!(
            "the run took longer than its bound of {} s and was stopped",
            limit.as_secs()
        )),
    }
}

/// The process's exit code for a finished run: 0 when its checks passed, 1 when one failed
/// (`CHECK FAILED` on stderr), 2 when the run itself failed (its error on stderr).
pub fn exit_code(passed: anyhow::Result<bool>) -> ExitCode {
    match passed {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("load-tests: CHECK FAILED");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("load-tests: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: &Cli, common: &Common, target: &guard::Target) -> anyhow::Result<Report> {
    // The readings scenario sends no webhook unless it has a burst.
    let webhook_token = match &cli.scenario {
        Scenario::Readings {
            burst_concurrency: 0,
            ..
        } => common.webhook_token().unwrap_or_default(),
        _ => common.webhook_token()?,
    };
    let concurrency = common.concurrency as usize;
    let hooks = Gateway::new(
        target,
        Duration::from_secs(common.timeout.clamp(1, 60)),
        concurrency,
    )?;
    let admin = hooks
        .login(&common.admin_user, &common.admin_password)
        .await?;
    let superuser = match (&common.super_user, &common.super_password) {
        (Some(user), Some(password)) => Some(hooks.login(user, password).await?),
        (Some(_), None) => anyhow::bail!("--super-user needs LOAD_SUPER_PASSWORD"),
        _ => None,
    };
    let practice_id = match &common.practice_id {
        Some(id) => id.clone(),
        None => admin.first_practice().await?,
    };
    let ctx = Run {
        hooks,
        admin,
        superuser,
        webhook_token: Arc::from(webhook_token),
        practice_id,
        practice_number: common.practice_number.clone(),
        run_tag: run_tag(),
        concurrency,
    };
    let mut report = match &cli.scenario {
        Scenario::Inbound {
            patients,
            rate,
            duration,
            duplicate_every,
            ..
        } => Report::Messaging(
            scenario::inbound(
                ctx,
                InboundPlan {
                    patients: *patients as usize,
                    rate: *rate,
                    duration: Duration::from_secs(*duration),
                    duplicate_every: *duplicate_every,
                },
            )
            .await?,
        ),
        Scenario::OptIn { patients, .. } => {
            Report::Messaging(scenario::opt_in(ctx, *patients as usize).await?)
        }
        Scenario::InboundClosed {
            patients,
            rounds,
            duration,
            warmup,
            baseline,
            baseline_postgres_url,
            gateway_pid,
            ..
        } => Report::Closed(
            inbound_closed::inbound_closed(
                ctx,
                ClosedPlan {
                    patients: *patients as usize,
                    rounds: *rounds,
                    duration: Duration::from_secs(*duration),
                    warmup: Duration::from_secs(*warmup),
                    baseline: match baseline {
                        BaselineStore::Postgres => baseline::Kind::Postgres {
                            admin_url: guard::loopback_postgres(baseline_postgres_url)?,
                        },
                        BaselineStore::Sqlite => baseline::Kind::Sqlite,
                    },
                    gateway_pid: *gateway_pid,
                    timeout: Duration::from_secs(common.timeout.clamp(1, 60)),
                },
            )
            .await?,
        ),
        Scenario::Readings {
            patients,
            rate,
            duration,
            critical_every,
            carrier_listen,
            carrier_account_sid,
            carrier_auth_token,
            burst_concurrency,
            burst_patients,
            ..
        } => Report::Readings(
            readings::readings(
                ctx,
                ReadingsPlan {
                    patients: *patients as usize,
                    rate: *rate,
                    duration: Duration::from_secs(*duration),
                    critical_every: Duration::from_secs(*critical_every),
                    carrier_listen: guard::loopback_listen(carrier_listen)?,
                    account: carrier::Account {
                        sid: carrier_account_sid.clone(),
                        auth_token: carrier_auth_token.clone(),
                    },
                    burst: (*burst_concurrency > 0).then(|| readings::BurstPlan {
                        patients: *burst_patients as usize,
                        concurrency: *burst_concurrency as usize,
                        timeout: Duration::from_secs(common.timeout.clamp(1, 60)),
                    }),
                },
            )
            .await?,
        ),
    };
    let (label, base) = (common.label.clone(), target.base.clone());
    match &mut report {
        Report::Messaging(s) => (s.label, s.target) = (label, base),
        Report::Readings(s) => (s.label, s.target) = (label, base),
        Report::Closed(s) => (s.label, s.target) = (label, base),
    }
    Ok(report)
}

/// A per-run number (0–999) that keeps the synthetic patients' mobile numbers of one run apart
/// from another's on the same gateway.
fn run_tag() -> u32 {
    (uuid::Uuid::new_v4().as_u128() % 1000) as u32
}

/// The first line of a human-readable report of a summary `$s` (a [`Summary`] or a
/// [`ReadingsSummary`]): what ran where, on how many patients.
macro_rules! print_scenario {
    ($s:expr) => {{
        let s = $s;
        let label = s
            .label
            .as_deref()
            .map(|l| format!(" [{l}]"))
            .unwrap_or_default();
        println!(
            "scenario {}{label} against {}: {} patients, concurrency {}",
            s.scenario, s.target, s.patients, s.concurrency
        );
    }};
}

/// The no-loss check's verdict and counts (the unique carrier ids and repeats among them when
/// `sids`), then each failure on a line of its own.
fn print_no_loss(title: &str, n: &ledger::NoLossReport, sids: bool) {
    let sids = if sids {
        format!(", {} unique sids ({} repeats)", n.unique_sids, n.repeats)
    } else {
        String::new()
    };
    println!(
        "{title}: {} — {} deliveries{sids}, {} accepted, {} unknown, {} refused; {} recorded; \
         missing {}, extra {}, doubled {}",
        if n.passed { "PASSED" } else { "FAILED" },
        n.deliveries,
        n.accepted,
        n.unknown,
        n.refused,
        n.recorded,
        n.missing,
        n.extra,
        n.doubled
    );
    for failure in &n.failures {
        println!("  {failure:?}");
    }
}

fn print_human(s: &Summary) {
    print_scenario!(s);
    if let (Some(rate), Some(secs)) = (s.rate, s.duration_secs) {
        println!(
            "steady phase: {rate}/s for {secs} s, every {}th a repeat",
            s.duplicate_every.unwrap_or(0)
        );
    }
    for (step, summary) in &s.steps {
        println!("  {step:<15} {}", summary.line());
        if summary.errors > 0 {
            println!("  {:<15} outcomes {:?}", "", summary.statuses);
        }
    }
    print_no_loss("no-loss check", &s.no_loss, true);
    match &s.replies {
        Some(r) => {
            println!(
                "replies check: {} — {} queued, {} expected, {} patients differ",
                if r.passed { "PASSED" } else { "FAILED" },
                r.queued,
                r.expected,
                r.mismatched
            );
            for failure in &r.failures {
                println!("  {failure:?}");
            }
        }
        None => println!("replies check: skipped (no super admin given)"),
    }
    for failure in &s.flow_failures {
        println!("  flow: {failure}");
    }
}

fn print_closed(s: &ClosedSummary) {
    println!(
        "scenario {}{} against {} and the {} baseline on {}: {} verified patients, {} connections, \
         {} rounds of {} s each (warm-up {} s)",
        s.scenario,
        s.label
            .as_deref()
            .map(|l| format!(" [{l}]"))
            .unwrap_or_default(),
        s.target,
        s.baseline_store,
        s.baseline_target,
        s.patients,
        s.concurrency,
        s.rounds,
        s.duration_secs,
        s.warmup_secs
    );
    for (step, summary) in &s.steps {
        println!("  {step:<15} {}", summary.line());
    }
    println!(
        "  {:<8} {:>5} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8}",
        "server",
        "round",
        "requests",
        "committed",
        "rows/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "errors",
        "cpu s"
    );
    for r in &s.round_reports {
        println!(
            "  {:<8} {:>5} {:>9} {:>10} {:>9.0} {:>9.2} {:>9.2} {:>9.2} {:>8} {:>8}{}",
            r.server,
            if r.round == 0 {
                "warm".to_owned()
            } else {
                r.round.to_string()
            },
            r.requests,
            r.committed,
            r.committed_per_sec,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.errors,
            r.cpu
                .gateway_secs
                .map(|c| format!("{c:.2}"))
                .unwrap_or_else(|| "-".into()),
            if r.presigned_exhausted {
                "  (signed requests ran out)"
            } else {
                ""
            }
        );
    }
    let c = &s.comparison;
    for (name, f) in [("baseline", &c.baseline), ("gateway", &c.gateway)] {
        println!(
            "{name:<8}: {:.0} rows/s (rounds {:.0}–{:.0}, spread {:.1}%), p50 {:.2} ms, p99 {:.2} ms{}",
            f.rate_mean,
            f.rate_min,
            f.rate_max,
            f.rate_spread_pct,
            f.p50_ms,
            f.p99_ms,
            f.cpu_ms_per_row
                .map(|ms| format!(", gateway CPU {:.3} ms per row", ms))
                .unwrap_or_default()
        );
        println!(
            "{:<8}  CPU per row: PostgreSQL {}, load generator {}; machine {} busy",
            "",
            f.postgres_cpu_ms_per_row
                .map_or("-".into(), |ms| format!("{ms:.3} ms")),
            f.load_generator_cpu_ms_per_row
                .map_or("-".into(), |ms| format!("{ms:.3} ms")),
            f.machine_busy_pct
                .map_or("-".into(), |pct| format!("{pct:.0}%")),
        );
    }
    println!(
        "ratio gateway/baseline: {:.3} (per round pair {:.3}–{:.3})",
        c.ratio, c.ratio_min, c.ratio_max
    );
    for (what, memory) in [
        ("after the last round", &s.gateway_memory_after_load),
        ("at the end", &s.gateway_memory_end),
    ] {
        if let Some(m) = memory {
            println!(
                "gateway memory {what}: VmRSS {:.1} MiB (peak {:.1} MiB)",
                m.rss_mib, m.peak_rss_mib
            );
        }
    }
    for (name, n) in [("gateway", &s.no_loss), ("baseline", &s.baseline_no_loss)] {
        print_no_loss(&format!("no-loss check ({name})"), n, false);
    }
}

fn print_readings(s: &ReadingsSummary) {
    print_scenario!(s);
    println!(
        "steady phase: {}/s normal readings for {} s, a critical one every {} s; fake carrier on {}",
        s.rate, s.duration_secs, s.critical_every_secs, s.fake_carrier
    );
    for (step, summary) in &s.steps {
        println!("  {step:<20} {}", summary.line());
        if summary.errors > 0 {
            println!("  {:<20} outcomes {:?}", "", summary.statuses);
        }
    }
    println!(
        "  critical readings sent at most {:.2} ms after their slot; the carrier received {} \
         requests",
        s.critical_send_lag_max_ms, s.carrier_requests
    );
    let a = &s.alerts;
    println!(
        "alert check: {} — {} critical readings, {} recorded critical, {} alerts, {} texted once \
         to the on-call phone; missing {}, doubled {}, stray {}; {} texts to other numbers; \
         normal readings not classified normal: {}",
        if a.passed { "PASSED" } else { "FAILED" },
        a.criticals,
        a.recorded_critical,
        a.alerts,
        a.texted_once,
        a.missing,
        a.duplicated,
        a.unexpected,
        a.other_numbers,
        s.misclassified_normal
    );
    for failure in &a.failures {
        println!("  {failure}");
    }
    if let Some(b) = &s.burst {
        let r = &b.round;
        println!(
            "inbound burst during the steady phase: {} verified patients on {} connections \
             (their opt-in texts waited for {:.1} s before): {} requests, {} committed, {:.0}/s, \
             p50 {:.2} ms, p99 {:.2} ms, {} errors{}",
            b.patients,
            b.concurrency,
            b.setup_texts_wait_secs,
            r.requests,
            r.committed,
            r.committed_per_sec,
            r.p50_ms,
            r.p99_ms,
            r.errors,
            if r.presigned_exhausted {
                " (signed requests ran out)"
            } else {
                ""
            }
        );
        let n = &b.no_loss;
        println!(
            "no-loss check (burst): {} — {} accepted, {} unknown, {} recorded; missing {}, extra {}, doubled {}",
            if n.passed { "PASSED" } else { "FAILED" },
            n.accepted,
            n.unknown,
            n.recorded,
            n.missing,
            n.extra,
            n.doubled
        );
    }
}
