//! The `inbound-closed` scenario: the gateway's inbound path at full speed, side by side with the
//! [`baseline`](crate::baseline) measured in the same run with the same client.
//!
//! Set-up as in `inbound`: N synthetic patients are created and verified, so their texts are
//! conversation messages. Then each server gets a warm-up (not reported) and rounds alternate
//! baseline, gateway, baseline, gateway…: before each round its requests are signed (each a
//! fresh `MessageSid`, for the round's server URL), then [`closed::drive`] keeps `concurrency`
//! connections busy for the round's duration.
//!
//! Committed rows: for the baseline, `SELECT count(*)` before and after the round; for the
//! gateway, the webhooks it answered 200, which the no-loss check afterwards confirms one by one
//! against its audit log (every 200 recorded exactly once, nothing else). The same check is run
//! against the baseline's table. With the gateway's pid, each round also reports the CPU seconds
//! the gateway used, and the run its resident memory at the end.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use crate::baseline::{self, Baseline};
use crate::client::sign_inbound_at;
use crate::closed::{self, Endpoint, Prepared, RoundRun};
use crate::guard::MAX_PRESIGNED;
use crate::ledger::{Delivery, Ledger, NoLossReport, Observed};
use crate::procfs::{self, CpuReading, Memory, RoundCpu};
use crate::scenario::{Run, Steps, no_loss, verified_patients};
use crate::stats::LatencySummary;
use crate::synthetic::{Synthetic, conversation_text};

/// The rate assumed for a server not yet measured, to size its first pool of signed requests.
pub const FIRST_RATE_GUESS: f64 = 25_000.0;

/// Parameters of the `inbound-closed` scenario.
pub struct ClosedPlan {
    pub patients: usize,
    pub rounds: u32,
    pub duration: Duration,
    pub warmup: Duration,
    pub baseline: baseline::Kind,
    pub gateway_pid: Option<u32>,
    pub timeout: Duration,
}

/// One round against one server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundReport {
    /// `baseline` or `gateway`.
    pub server: &'static str,
    /// 1.. for measured rounds, 0 for the warm-up.
    pub round: u32,
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    pub statuses: BTreeMap<String, u64>,
    /// Rows committed during the round.
    pub committed: u64,
    pub committed_per_sec: f64,
    pub elapsed_secs: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Requests signed for the round, and whether they ran out before its time was up.
    pub presigned: usize,
    pub presigned_exhausted: bool,
    /// CPU seconds used during the round: the gateway's (with `--gateway-pid`), PostgreSQL's,
    /// the load generator's, and how busy the machine was.
    pub cpu: RoundCpu,
}

/// A server's measured rounds, summarised.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerFigures {
    pub rounds: usize,
    /// Committed rows per second: mean, lowest and highest round.
    pub rate_mean: f64,
    pub rate_min: f64,
    pub rate_max: f64,
    /// (highest − lowest) / mean, in percent.
    pub rate_spread_pct: f64,
    /// The median of the rounds' p50s, and the worst round's p99.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Gateway CPU milliseconds per committed row (gateway rounds with `--gateway-pid`).
    pub cpu_ms_per_row: Option<f64>,
    /// PostgreSQL's CPU milliseconds per committed row.
    pub postgres_cpu_ms_per_row: Option<f64>,
    /// The load generator's CPU milliseconds per committed row (the baseline server included in
    /// the baseline's rounds).
    pub load_generator_cpu_ms_per_row: Option<f64>,
    /// How busy the machine's CPUs were, mean of the rounds, in percent.
    pub machine_busy_pct: Option<f64>,
}

/// Gateway against baseline.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Comparison {
    pub baseline: ServerFigures,
    pub gateway: ServerFigures,
    /// Mean gateway rate / mean baseline rate.
    pub ratio: f64,
    /// Lowest and highest ratio of a gateway round to the baseline round just before it.
    pub ratio_min: f64,
    pub ratio_max: f64,
}

/// The machine-readable result of an `inbound-closed` run.
#[derive(Debug, Clone, Serialize)]
pub struct ClosedSummary {
    pub scenario: &'static str,
    pub label: Option<String>,
    pub target: String,
    pub baseline_store: &'static str,
    pub baseline_target: String,
    pub patients: usize,
    pub concurrency: usize,
    pub rounds: u32,
    pub duration_secs: u64,
    pub warmup_secs: u64,
    /// Set-up steps (patient creation, texting start, date-of-birth texts).
    pub steps: BTreeMap<String, LatencySummary>,
    /// Every round in the order run, warm-ups included (round 0).
    pub round_reports: Vec<RoundReport>,
    pub comparison: Comparison,
    /// Every webhook answered 200 by the gateway recorded exactly once (its audit log).
    pub no_loss: NoLossReport,
    /// The same for the baseline (its table).
    pub baseline_no_loss: NoLossReport,
    /// The gateway's memory right after the last round, and at the very end.
    pub gateway_memory_after_load: Option<Memory>,
    pub gateway_memory_end: Option<Memory>,
    pub passed: bool,
}

/// How many requests to sign for a round of `duration` at an expected `rate` (the server's best
/// measured rate so far, or [`FIRST_RATE_GUESS`]): twice as many, and some, at most
/// [`MAX_PRESIGNED`].
pub fn pool_size(rate: Option<f64>, duration: Duration, concurrency: usize) -> usize {
    let rate = rate.unwrap_or(FIRST_RATE_GUESS).max(0.0);
    let wanted = rate * duration.as_secs_f64() * 2.0 + (concurrency * 4) as f64 + 1_000.0;
    (wanted.ceil() as usize).min(MAX_PRESIGNED)
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn figures(rounds: &[&RoundReport]) -> ServerFigures {
    if rounds.is_empty() {
        return ServerFigures::default();
    }
    let rates: Vec<f64> = rounds.iter().map(|r| r.committed_per_sec).collect();
    let mean = rates.iter().sum::<f64>() / rates.len() as f64;
    let (min, max) = rates
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
            (lo.min(*r), hi.max(*r))
        });
    let mut p50s: Vec<f64> = rounds.iter().map(|r| r.p50_ms).collect();
    let rows: u64 = rounds.iter().map(|r| r.committed).sum();
    let per_row = |secs: Option<f64>| secs.filter(|_| rows > 0).map(|s| s * 1000.0 / rows as f64);
    let busy: Option<f64> = rounds.iter().map(|r| r.cpu.machine_busy_pct).sum();
    ServerFigures {
        rounds: rounds.len(),
        rate_mean: mean,
        rate_min: min,
        rate_max: max,
        rate_spread_pct: if mean > 0.0 {
            (max - min) / mean * 100.0
        } else {
            0.0
        },
        p50_ms: median(&mut p50s),
        p99_ms: rounds.iter().map(|r| r.p99_ms).fold(0.0, f64::max),
        cpu_ms_per_row: per_row(rounds.iter().map(|r| r.cpu.gateway_secs).sum()),
        postgres_cpu_ms_per_row: per_row(Some(rounds.iter().map(|r| r.cpu.postgres_secs).sum())),
        load_generator_cpu_ms_per_row: per_row(
            rounds.iter().map(|r| r.cpu.load_generator_secs).sum(),
        ),
        machine_busy_pct: busy.map(|b| b / rounds.len() as f64),
    }
}

/// Summarises the measured rounds (warm-ups left out).
pub fn compare(reports: &[RoundReport]) -> Comparison {
    let measured = |server: &str| -> Vec<&RoundReport> {
        reports
            .iter()
            .filter(|r| r.server == server && r.round > 0)
            .collect()
    };
    let (base, gate) = (measured("baseline"), measured("gateway"));
    let mut comparison = Comparison {
        baseline: ServerFigures {
            // The gateway's CPU during a baseline round only shows that it was idle.
            cpu_ms_per_row: None,
            ..figures(&base)
        },
        gateway: figures(&gate),
        ..Comparison::default()
    };
    if comparison.baseline.rate_mean > 0.0 {
        comparison.ratio = comparison.gateway.rate_mean / comparison.baseline.rate_mean;
    }
    let pairs: Vec<f64> = gate
        .iter()
        .filter_map(|g| {
            base.iter()
                .find(|b| b.round == g.round)
                .filter(|b| b.committed_per_sec > 0.0)
                .map(|b| g.committed_per_sec / b.committed_per_sec)
        })
        .collect();
    if !pairs.is_empty() {
        comparison.ratio_min = pairs.iter().copied().fold(f64::INFINITY, f64::min);
        comparison.ratio_max = pairs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    }
    comparison
}

/// A server under test and the requests booked against it.
pub struct Server {
    pub name: &'static str,
    /// The base URL webhooks are signed for.
    pub base: String,
    pub endpoint: Endpoint,
    /// Every request sent to it, for its no-loss check.
    pub ledger: Ledger,
    /// Its best measured request rate so far, to size the next pool.
    pub last_rate: Option<f64>,
}

/// Signs `count` webhooks for `base`, from the patients in turn, numbering texts from `*next`.
pub async fn sign_pool(
    base: &str,
    token: &Arc<str>,
    people: &Arc<Vec<Synthetic>>,
    practice_number: &str,
    count: usize,
    next: &mut u64,
) -> anyhow::Result<Arc<Vec<Prepared>>> {
    let first = *next;
    *next += count as u64;
    let (base, token, people, number) = (
        base.to_owned(),
        Arc::clone(token),
        Arc::clone(people),
        practice_number.to_owned(),
    );
    // Thousands of HMACs: off the runtime's threads.
    let pool = tokio::task::spawn_blocking(move || {
        (first..first + count as u64)
            .map(|k| {
                let patient = (k % people.len() as u64) as usize;
                let hook = sign_inbound_at(
                    &base,
                    &token,
                    &people[patient].mobile,
                    &number,
                    &conversation_text(k),
                )?;
                Prepared::new(patient, hook)
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .await??;
    Ok(Arc::new(pool))
}

/// Books a round's deliveries in the server's ledger; returns how many were answered 200.
pub fn book(ledger: &mut Ledger, pool: &[Prepared], run: &RoundRun) -> u64 {
    let mut accepted = 0;
    for &(index, delivery) in &run.deliveries {
        let hook = &pool[index];
        ledger.record(hook.patient, &hook.sid, delivery);
        accepted += u64::from(delivery == Delivery::Accepted);
    }
    accepted
}

/// Builds a round's report from what the client saw and the rows committed.
pub fn report(
    server: &'static str,
    round: u32,
    run: &RoundRun,
    presigned: usize,
    committed: u64,
    cpu: RoundCpu,
) -> RoundReport {
    let s = run.recorder.summary(run.elapsed);
    let secs = run.elapsed.as_secs_f64();
    RoundReport {
        server,
        round,
        requests: s.count,
        ok: s.ok,
        errors: s.errors,
        statuses: s.statuses,
        committed,
        committed_per_sec: if secs > 0.0 {
            committed as f64 / secs
        } else {
            0.0
        },
        elapsed_secs: secs,
        p50_ms: s.p50_ms,
        p90_ms: s.p90_ms,
        p99_ms: s.p99_ms,
        max_ms: s.max_ms,
        presigned,
        presigned_exhausted: run.exhausted,
        cpu,
    }
}

/// The `inbound-closed` scenario.
pub async fn inbound_closed(ctx: Run, plan: ClosedPlan) -> anyhow::Result<ClosedSummary> {
    let ctx = Arc::new(ctx);
    let steps = Arc::new(Steps::default());
    let setup_ledger = Arc::new(Mutex::new(Ledger::new()));
    let people: Arc<Vec<Synthetic>> = Arc::new(
        (0..plan.patients)
            .map(|i| Synthetic::new(ctx.run_tag, i))
            .collect(),
    );
    let ids = verified_patients(&ctx, &steps, &setup_ledger, &people).await?;

    let mut base = Baseline::start(&plan.baseline, &ctx.webhook_token)
        .await
        .context("starting the baseline server")?;
    let result = rounds(&ctx, &plan, &people, &base, setup_ledger).await;
    let stopped = base.stop().await;
    // (`rounds` checked the baseline's table before it was dropped.)
    let (round_reports, gateway, baseline_no_loss, after_load) = result?;
    stopped.context("stopping the baseline server")?;

    let no_loss = no_loss(&ctx, &ids, &gateway.ledger)
        .await
        .context("no-loss check")?;
    let gateway_memory_end = plan.gateway_pid.and_then(procfs::memory);
    let comparison = compare(&round_reports);
    let passed = no_loss.passed && baseline_no_loss.passed;
    Ok(ClosedSummary {
        scenario: "inbound-closed",
        label: None,
        target: String::new(),
        baseline_store: match plan.baseline {
            baseline::Kind::Postgres { .. } => "postgres",
            baseline::Kind::Sqlite => "sqlite",
        },
        baseline_target: format!("http://{}", base.addr),
        patients: plan.patients,
        concurrency: ctx.concurrency,
        rounds: plan.rounds,
        duration_secs: plan.duration.as_secs(),
        warmup_secs: plan.warmup.as_secs(),
        steps: steps.summaries(),
        round_reports,
        comparison,
        no_loss,
        baseline_no_loss,
        gateway_memory_after_load: after_load,
        gateway_memory_end,
        passed,
    })
}

/// The rounds' reports, the gateway with its ledger, the baseline's no-loss check and the
/// gateway's memory after the last round.
type RoundsOutcome = (Vec<RoundReport>, Server, NoLossReport, Option<Memory>);

/// Warm-ups and the alternating rounds; the baseline's no-loss check while its table exists.
async fn rounds(
    ctx: &Arc<Run>,
    plan: &ClosedPlan,
    people: &Arc<Vec<Synthetic>>,
    base: &Baseline,
    setup_ledger: Arc<Mutex<Ledger>>,
) -> anyhow::Result<RoundsOutcome> {
    let target_addr =
        crate::guard::plain_http_addr(&crate::guard::loopback_target(ctx.hooks.base())?)?;
    let mut gateway = Server {
        name: "gateway",
        base: ctx.hooks.base().to_owned(),
        endpoint: Endpoint::new(target_addr),
        ledger: setup_ledger.lock().expect("ledger lock").clone(),
        last_rate: None,
    };
    let mut baseline = Server {
        name: "baseline",
        base: format!("http://{}", base.addr),
        endpoint: Endpoint::new(base.addr),
        ledger: Ledger::new(),
        last_rate: None,
    };
    let mut reports = Vec::new();
    let mut text_no = 0u64;
    let mut schedule: Vec<(u32, Duration)> = Vec::new();
    if !plan.warmup.is_zero() {
        schedule.push((0, plan.warmup));
    }
    schedule.extend((1..=plan.rounds).map(|r| (r, plan.duration)));
    for (round, duration) in schedule {
        for server in [&mut baseline, &mut gateway] {
            let size = pool_size(server.last_rate, duration, ctx.concurrency);
            let pool = sign_pool(
                &server.base,
                &ctx.webhook_token,
                people,
                &ctx.practice_number,
                size,
                &mut text_no,
            )
            .await?;
            let is_baseline = server.name == "baseline";
            let rows_before = if is_baseline {
                Some(base.committed().await?)
            } else {
                None
            };
            let cpu_before = CpuReading::now(plan.gateway_pid);
            let run = closed::drive(
                &server.endpoint,
                Arc::clone(&pool),
                ctx.concurrency,
                duration,
                plan.timeout,
            )
            .await;
            let cpu = CpuReading::now(plan.gateway_pid).since(&cpu_before);
            let accepted = book(&mut server.ledger, &pool, &run);
            let committed = match rows_before {
                Some(before) => base.committed().await?.saturating_sub(before),
                None => accepted,
            };
            let r = report(server.name, round, &run, pool.len(), committed, cpu);
            eprintln!(
                "  {:<8} round {round}: {:>8.0} rows/s, p50 {:.2} ms, p99 {:.2} ms, {} requests, {} errors{}",
                server.name,
                r.committed_per_sec,
                r.p50_ms,
                r.p99_ms,
                r.requests,
                r.errors,
                if r.presigned_exhausted {
                    " (signed requests ran out)"
                } else {
                    ""
                }
            );
            let rate = r.requests as f64 / r.elapsed_secs.max(0.001);
            server.last_rate = Some(server.last_rate.unwrap_or(0.0).max(rate));
            reports.push(r);
        }
    }
    let after_load = plan.gateway_pid.and_then(procfs::memory);

    // The baseline's no-loss check, while its table exists: rows per sender number.
    let by_sender = base.rows_by_sender().await?;
    let observed: Vec<Observed> = people
        .iter()
        .map(|p| {
            let (rows, distinct) = by_sender.get(&p.mobile).copied().unwrap_or((0, 0));
            Observed {
                rows,
                distinct_messages: distinct,
            }
        })
        .collect();
    let mut baseline_check = baseline.ledger.check(&observed);
    let known: HashSet<&str> = people.iter().map(|p| p.mobile.as_str()).collect();
    if by_sender
        .keys()
        .any(|number| !known.contains(number.as_str()))
    {
        // Rows from a number the run never used.
        baseline_check.passed = false;
    }
    Ok((reports, gateway, baseline_check, after_load))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(server: &'static str, round: u32, rate: f64, p50: f64, p99: f64) -> RoundReport {
        RoundReport {
            server,
            round,
            requests: (rate * 10.0) as u64,
            ok: (rate * 10.0) as u64,
            errors: 0,
            statuses: BTreeMap::new(),
            committed: (rate * 10.0) as u64,
            committed_per_sec: rate,
            elapsed_secs: 10.0,
            p50_ms: p50,
            p90_ms: p99,
            p99_ms: p99,
            max_ms: p99,
            presigned: 0,
            presigned_exhausted: false,
            cpu: RoundCpu {
                gateway_secs: Some(if server == "gateway" {
                    rate * 10.0 / 1000.0
                } else {
                    0.01
                }),
                postgres_secs: rate * 10.0 / 500.0,
                load_generator_secs: Some(rate * 10.0 / 4000.0),
                machine_busy_pct: Some(if server == "gateway" { 90.0 } else { 100.0 }),
            },
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn the_comparison_leaves_warm_ups_out_and_pairs_each_gateway_round_with_its_baseline() {
        let reports = [
            round("baseline", 0, 1.0, 9.0, 99.0),
            round("gateway", 0, 1.0, 9.0, 99.0),
            round("baseline", 1, 10_000.0, 3.0, 8.0),
            round("gateway", 1, 2_000.0, 20.0, 60.0),
            round("baseline", 2, 8_000.0, 4.0, 9.0),
            round("gateway", 2, 4_000.0, 10.0, 30.0),
        ];
        let c = compare(&reports);
        assert_eq!((c.baseline.rounds, c.gateway.rounds), (2, 2));
        assert!(close(c.baseline.rate_mean, 9_000.0));
        assert!(close(c.gateway.rate_mean, 3_000.0));
        assert!(close(c.ratio, 3_000.0 / 9_000.0));
        assert!(close(c.ratio_min, 0.2));
        assert!(close(c.ratio_max, 0.5));
        assert!(close(c.baseline.rate_min, 8_000.0));
        assert!(close(c.baseline.rate_max, 10_000.0));
        assert!(close(c.baseline.rate_spread_pct, 2_000.0 / 9_000.0 * 100.0));
        assert!(close(c.gateway.p50_ms, 15.0), "median of 20 and 10");
        assert!(close(c.gateway.p99_ms, 60.0), "the worst round");
        // 60 000 rows for 60 s of gateway CPU: 1 ms a row; the baseline has no CPU figure.
        assert!(close(c.gateway.cpu_ms_per_row.unwrap(), 1.0));
        assert_eq!(c.baseline.cpu_ms_per_row, None);
        // PostgreSQL's and the load generator's CPU per row count for both servers.
        assert!(close(c.gateway.postgres_cpu_ms_per_row.unwrap(), 2.0));
        assert!(close(
            c.baseline.load_generator_cpu_ms_per_row.unwrap(),
            0.25
        ));
        assert!(close(c.gateway.machine_busy_pct.unwrap(), 90.0));
        assert!(close(c.baseline.machine_busy_pct.unwrap(), 100.0));
    }

    #[test]
    fn an_empty_run_compares_to_zeroes() {
        let c = compare(&[]);
        assert_eq!(c, Comparison::default());
        let only_warmup = compare(&[round("baseline", 0, 5.0, 1.0, 1.0)]);
        assert_eq!(only_warmup.baseline.rounds, 0);
        assert!(close(only_warmup.ratio, 0.0));
    }

    #[test]
    fn pools_are_sized_from_the_last_rate_with_room_and_a_ceiling() {
        let ten = Duration::from_secs(10);
        assert_eq!(pool_size(Some(1_000.0), ten, 64), 20_000 + 256 + 1_000);
        assert_eq!(pool_size(Some(0.0), ten, 64), 1_256);
        assert_eq!(pool_size(None, Duration::from_secs(2), 64), 101_256);
        assert_eq!(pool_size(None, Duration::from_secs(60), 64), MAX_PRESIGNED);
    }

    #[test]
    fn median_takes_the_middle_or_the_mean_of_the_two_middles() {
        assert!(close(median(&mut [3.0, 1.0, 2.0]), 2.0));
        assert!(close(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5));
        assert!(close(median(&mut []), 0.0));
    }
}
