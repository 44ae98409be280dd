//! The `readings` scenario: how long a critical reading takes to reach the on-call phone while
//! a steady background of normal readings arrives.
//!
//! Set-up, through the admin API as the customer admin: N synthetic patients in the practice
//! (and one more for each critical reading, see [`schedule`]),
//! practice-wide pulse ranges (critical below 40 or above 130, normal 50–100, for all patients),
//! a staff user with a mobile phone on call around the clock, and an integration API token with
//! scope `readings:write` that posts every reading (as a device vendor would).
//!
//! Then normal pulse readings arrive at `rate` per second for `duration` seconds (each due at its
//! slot, like the `inbound` scenario), and every `critical_every` seconds, half-way between two
//! whole periods, one critical reading. The gateway sends the alert text through its real Twilio
//! client to the [`FakeCarrier`] that this process runs; the latency of a critical reading is the
//! instant the carrier received its alert text minus the instant the reading request was sent.
//!
//! The check after the run: every critical reading was recorded `critical` and opened an alert
//! (`GET /v1/alerts` gives its code), and exactly one text carrying that code reached the on-call
//! phone; no other text reached that phone; every normal reading was recorded `normal`.
//!
//! With a burst (`--burst-concurrency`), M more patients are created and verified by text before
//! the steady phase (their opt-in texts are waited for at the fake carrier, so that they are not
//! in the alerts' way), and during the whole steady phase they text the gateway in a closed loop
//! on that many connections ([`closed::drive`]); the burst's own no-loss check must pass too.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::carrier::{Account, FakeCarrier, Received};
use crate::client::AlertRow;
use crate::closed::{self, Endpoint};
use crate::inbound_closed::{RoundReport, book, pool_size, report, sign_pool};
use crate::ledger::{Ledger, NoLossReport};
use crate::procfs::RoundCpu;
use crate::scenario::{Run, Steps, for_each_patient, no_loss, verified_patients};
use crate::stats::{LatencySummary, Recorder};
use crate::synthetic::Synthetic;

/// The vital every reading of the scenario is of.
pub const VITAL: &str = "pulse";
/// Practice-wide pulse ranges: critical low, normal low, normal high, critical high.
pub const RANGES: [f64; 4] = [40.0, 50.0, 100.0, 130.0];
/// The value of every critical reading (above `critical_high`).
pub const CRITICAL_VALUE: f64 = 180.0;
/// How long to wait after the steady phase for alert texts still on their way.
pub const DRAIN: Duration = Duration::from_secs(30);
/// How long to wait for the burst patients' opt-in texts before the steady phase (at the
/// default `SMS_SENDER_MPS=1` they leave one a second).
pub const BURST_SETUP_WAIT: Duration = Duration::from_secs(150);
/// How long to keep listening once every alert text has arrived, to catch a second copy.
pub const GRACE: Duration = Duration::from_secs(2);

/// The value of normal reading `k`: 60 to 90, inside the normal band.
pub fn normal_value(k: u64) -> f64 {
    60.0 + (k % 31) as f64
}

/// The rate assumed for a burst against the gateway, to size its pool of signed webhooks.
pub const BURST_RATE_GUESS: f64 = 4_000.0;

/// Parameters of the `readings` scenario.
pub struct ReadingsPlan {
    pub patients: usize,
    pub rate: u32,
    pub duration: Duration,
    pub critical_every: Duration,
    pub carrier_listen: std::net::SocketAddr,
    pub account: Account,
    pub burst: Option<BurstPlan>,
}

/// A closed-loop burst of inbound texts during the steady phase.
pub struct BurstPlan {
    /// Verified patients who text.
    pub patients: usize,
    /// Connections kept busy.
    pub concurrency: usize,
    pub timeout: Duration,
}

/// What the burst did.
#[derive(Debug, Clone, Serialize)]
pub struct BurstReport {
    pub patients: usize,
    pub concurrency: usize,
    /// Seconds spent waiting for the burst patients' opt-in texts before the steady phase.
    pub setup_texts_wait_secs: f64,
    pub round: RoundReport,
    /// Every burst webhook answered 200 recorded exactly once.
    pub no_loss: NoLossReport,
}

/// The run tag of the burst's patients: their numbers are in another 555 exchange than the
/// readings patients' and the on-call phone's.
fn burst_tag(run_tag: u32) -> u32 {
    (run_tag + 500) % 1000
}

/// One reading of the schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    /// When it is due, from the start of the steady phase.
    pub offset: Duration,
    pub critical: bool,
    /// The patient's index.
    pub patient: usize,
    /// The number of the reading within its kind (normal `k`, critical `j`).
    pub seq: u64,
}

/// The whole steady phase, in order: normal reading `k` due at `k / rate` for patient
/// `k mod patients`, and critical reading `j` due at `(j + ½) · every` (while that is before the
/// end) for patient `patients + j`: each critical reading has a patient of its own, because a
/// critical reading of a patient whose alert of the vital is still open joins that alert
/// instead of opening (and texting) one, and nobody acknowledges alerts during the run.
pub fn schedule(rate: u32, duration: Duration, every: Duration, patients: usize) -> Vec<Slot> {
    let patients = patients.max(1) as u64;
    let normals = u64::from(rate) * duration.as_secs();
    let period = 1.0 / f64::from(rate.max(1));
    let mut slots: Vec<Slot> = (0..normals)
        .map(|k| Slot {
            offset: Duration::from_secs_f64(period * k as f64),
            critical: false,
            patient: (k % patients) as usize,
            seq: k,
        })
        .collect();
    if !every.is_zero() {
        let mut j = 0u64;
        loop {
            let offset = every.mul_f64(j as f64 + 0.5);
            if offset >= duration {
                break;
            }
            slots.push(Slot {
                offset,
                critical: true,
                patient: (patients + j) as usize,
                seq: j,
            });
            j += 1;
        }
    }
    slots.sort_by(|a, b| a.offset.cmp(&b.offset).then(a.critical.cmp(&b.critical)));
    slots
}

/// A critical reading as it was sent and answered.
#[derive(Debug, Clone)]
pub struct CriticalSent {
    pub seq: u64,
    /// The instant the request was sent.
    pub sent_at: Instant,
    /// The reading's id when it was recorded (201).
    pub reading_id: Option<String>,
    /// Its classification in the answer.
    pub status: Option<String>,
}

/// What the alert check found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlertCheck {
    pub passed: bool,
    /// Critical readings sent.
    pub criticals: usize,
    /// Recorded (201) and classified critical.
    pub recorded_critical: usize,
    /// With an alert in `GET /v1/alerts`.
    pub alerts: usize,
    /// With exactly one alert text to the on-call phone.
    pub texted_once: usize,
    /// With no alert text at all.
    pub missing: usize,
    /// With more than one.
    pub duplicated: usize,
    /// Texts to the on-call phone that carry no alert code of this run.
    pub unexpected: usize,
    /// Texts to any other number (reported, not a failure by themselves).
    pub other_numbers: usize,
    /// Up to 20 of what went wrong.
    pub failures: Vec<String>,
}

/// Whether `body` carries `code` as a whole word (alert texts end "Reply ACK {code}").
pub fn carries_code(body: &str, code: &str) -> bool {
    !code.is_empty()
        && body
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| word == code)
}

/// Matches the critical readings with their alerts and the texts the carrier received; returns
/// the check and, per critical reading in `sent` order, the latency to its first alert text.
pub fn match_alerts(
    sent: &[CriticalSent],
    alerts: &[AlertRow],
    received: &[Received],
    on_call: &str,
) -> (AlertCheck, Vec<Option<Duration>>) {
    let mut check = AlertCheck {
        criticals: sent.len(),
        ..AlertCheck::default()
    };
    let code_of: BTreeMap<&str, &str> = alerts
        .iter()
        .map(|a| (a.reading_id.as_str(), a.code.as_str()))
        .collect();
    let to_on_call: Vec<&Received> = received.iter().filter(|r| r.to == on_call).collect();
    check.other_numbers = received.len() - to_on_call.len();
    fn fail(check: &mut AlertCheck, why: String) {
        if check.failures.len() < 20 {
            check.failures.push(why);
        }
    }
    let mut latencies = Vec::with_capacity(sent.len());
    let mut codes: Vec<&str> = Vec::new();
    for critical in sent {
        let j = critical.seq;
        let Some(reading_id) = &critical.reading_id else {
            fail(
                &mut check,
                format!("critical {j}: the reading was not recorded"),
            );
            latencies.push(None);
            continue;
        };
        if critical.status.as_deref() == Some("critical") {
            check.recorded_critical += 1;
        } else {
            fail(
                &mut check,
                format!("critical {j}: classified {:?}", critical.status),
            );
        }
        let Some(code) = code_of.get(reading_id.as_str()) else {
            fail(&mut check, format!("critical {j}: no alert was opened"));
            latencies.push(None);
            continue;
        };
        check.alerts += 1;
        codes.push(code);
        let texts: Vec<&&Received> = to_on_call
            .iter()
            .filter(|r| carries_code(&r.body, code))
            .collect();
        match texts.len() {
            0 => {
                check.missing += 1;
                fail(&mut check, format!("critical {j}: no alert text arrived"));
            }
            1 => check.texted_once += 1,
            n => {
                check.duplicated += 1;
                fail(&mut check, format!("critical {j}: {n} alert texts arrived"));
            }
        }
        latencies.push(
            texts
                .iter()
                .map(|r| r.at.saturating_duration_since(critical.sent_at))
                .min(),
        );
    }
    check.unexpected = to_on_call
        .iter()
        .filter(|r| !codes.iter().any(|code| carries_code(&r.body, code)))
        .count();
    if check.unexpected > 0 {
        let n = check.unexpected;
        fail(
            &mut check,
            format!("{n} texts to the on-call phone carry no alert code of this run"),
        );
    }
    check.passed = check.criticals > 0
        && check.texted_once == check.criticals
        && check.recorded_critical == check.criticals
        && check.unexpected == 0;
    (check, latencies)
}

/// The machine-readable result of a `readings` run.
#[derive(Debug, Clone, Serialize)]
pub struct ReadingsSummary {
    pub scenario: &'static str,
    pub label: Option<String>,
    pub target: String,
    pub patients: usize,
    pub rate: u32,
    pub duration_secs: u64,
    pub critical_every_secs: u64,
    pub concurrency: usize,
    /// Where the fake carrier listened.
    pub fake_carrier: String,
    /// `reading_normal` (the background, timed from each reading's slot), `reading_critical`
    /// (the critical readings' own requests) and `critical_to_carrier` (from sending a critical
    /// reading to the carrier receiving its alert text); set-up steps too.
    pub steps: BTreeMap<String, LatencySummary>,
    /// Normal readings not answered `normal` (201 but classified otherwise).
    pub misclassified_normal: u64,
    /// How late the generator sent a critical reading after its slot, at most.
    pub critical_send_lag_max_ms: f64,
    /// Requests the fake carrier received.
    pub carrier_requests: usize,
    pub alerts: AlertCheck,
    /// The inbound burst that ran during the steady phase, if any.
    pub burst: Option<BurstReport>,
    pub passed: bool,
}

fn taken_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The `readings` scenario.
pub async fn readings(ctx: Run, plan: ReadingsPlan) -> anyhow::Result<ReadingsSummary> {
    let carrier = FakeCarrier::start(plan.carrier_listen, plan.account.clone()).await?;
    let mut steps: BTreeMap<String, LatencySummary> = BTreeMap::new();

    // Set-up.
    let began = Instant::now();
    let customer_id = ctx.admin.customer_id().await?;
    let ctx = Arc::new(ctx);
    let slots = schedule(plan.rate, plan.duration, plan.critical_every, plan.patients);
    let criticals = slots.iter().filter(|s| s.critical).count();
    let ids = for_each_patient(plan.patients + criticals, ctx.concurrency.min(32), |i| {
        let ctx = Arc::clone(&ctx);
        async move {
            let p = Synthetic::new(ctx.run_tag, i);
            let created = ctx
                .admin
                .create_patient(
                    &ctx.practice_id,
                    &p.first_name,
                    &p.last_name,
                    &p.dob_iso(),
                    &p.mobile,
                )
                .await?;
            Ok(created.id)
        }
    })
    .await
    .context("creating the patients")?;
    ctx.admin
        .put_practice_ranges(&ctx.practice_id, VITAL, RANGES)
        .await?;
    // Index 9990 is past every patient's (at most 1000), so the number is nobody else's.
    let on_call_phone = Synthetic::new(ctx.run_tag, 9990).mobile;
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let staff_id = ctx
        .admin
        .create_staff(
            &customer_id,
            &ctx.practice_id,
            &format!("load-oncall-{}", &suffix[..12]),
            &format!("load-{suffix}-1"),
            &on_call_phone,
        )
        .await?;
    ctx.admin
        .put_on_call_all_day(&ctx.practice_id, &staff_id)
        .await?;
    let secret = ctx
        .admin
        .create_readings_token(&customer_id, &format!("load-readings-{}", &suffix[..12]))
        .await?;
    let device = ctx.hooks.with_token(secret);
    let mut setup = Recorder::new();
    setup.record(began.elapsed(), "ok", true);
    steps.insert("setup".into(), setup.summary(began.elapsed()));

    // The burst's patients, verified and their opt-in texts delivered before the clock starts.
    let burst = match &plan.burst {
        Some(b) => Some(prepare_burst(&ctx, b, plan.duration, &carrier, &mut steps).await?),
        None => None,
    };

    // The steady phase.
    let ids = Arc::new(ids);
    let permits = Arc::new(Semaphore::new(ctx.concurrency));
    let normal = Arc::new(Mutex::new(Recorder::new()));
    let critical_post = Arc::new(Mutex::new(Recorder::new()));
    let misclassified = Arc::new(Mutex::new(0u64));
    let sent = Arc::new(Mutex::new(Vec::<CriticalSent>::new()));
    let lag = Arc::new(Mutex::new(Duration::ZERO));
    let burst_run = burst.as_ref().map(|b| {
        let (endpoint, pool) = (b.endpoint.clone(), Arc::clone(&b.pool));
        let (concurrency, duration, timeout) = (b.concurrency, plan.duration, b.timeout);
        tokio::spawn(
            async move { closed::drive(&endpoint, pool, concurrency, duration, timeout).await },
        )
    });
    let start = tokio::time::Instant::now();
    for slot in slots {
        let due = start + slot.offset;
        tokio::time::sleep_until(due).await;
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let (device, ids) = (device.clone(), Arc::clone(&ids));
        let (normal, critical_post, misclassified, sent, lag) = (
            Arc::clone(&normal),
            Arc::clone(&critical_post),
            Arc::clone(&misclassified),
            Arc::clone(&sent),
            Arc::clone(&lag),
        );
        tokio::spawn(async move {
            let patient = &ids[slot.patient];
            let value = if slot.critical {
                CRITICAL_VALUE
            } else {
                normal_value(slot.seq)
            };
            let taken_at = taken_now();
            let sent_at = Instant::now();
            let (outcome, posted) = device.post_reading(patient, VITAL, value, &taken_at).await;
            let ok = outcome.status == Some(201);
            if slot.critical {
                let late = tokio::time::Instant::from_std(sent_at).saturating_duration_since(due);
                let mut lag = lag.lock().expect("lag lock");
                *lag = (*lag).max(late);
                critical_post.lock().expect("recorder lock").record(
                    sent_at.elapsed(),
                    &outcome.label,
                    ok,
                );
                sent.lock().expect("sent lock").push(CriticalSent {
                    seq: slot.seq,
                    sent_at,
                    reading_id: posted.as_ref().map(|p| p.id.clone()),
                    status: posted.map(|p| p.status),
                });
            } else {
                normal
                    .lock()
                    .expect("recorder lock")
                    .record(due.elapsed(), &outcome.label, ok);
                if posted.is_some_and(|p| p.status != "normal") {
                    *misclassified.lock().expect("count lock") += 1;
                }
            }
            drop(permit);
        });
    }
    let _all = permits.acquire_many(ctx.concurrency as u32).await?;
    let elapsed = start.elapsed();
    let burst = match (burst, burst_run) {
        (Some(mut b), Some(run)) => {
            let run = run.await.context("the burst panicked")?;
            let accepted = book(&mut b.ledger, &b.pool, &run);
            let round = report(
                "gateway",
                1,
                &run,
                b.pool.len(),
                accepted,
                RoundCpu::default(),
            );
            let no_loss = no_loss(&ctx, &b.ids, &b.ledger)
                .await
                .context("the burst's no-loss check")?;
            Some(BurstReport {
                patients: b.ids.len(),
                concurrency: b.concurrency,
                setup_texts_wait_secs: b.waited.as_secs_f64(),
                round,
                no_loss,
            })
        }
        _ => None,
    };

    // Every alert text still on its way, then a little longer for a second copy.
    let mut sent = sent.lock().expect("sent lock").clone();
    sent.sort_by_key(|c| c.seq);
    let alerts = ctx.admin.alerts().await.context("listing the alerts")?;
    let deadline = Instant::now() + DRAIN;
    loop {
        let (check, _) = match_alerts(&sent, &alerts, &carrier.received(), &on_call_phone);
        if check.missing == 0 || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(GRACE).await;
    let received = carrier.received();
    let (check, latencies) = match_alerts(&sent, &alerts, &received, &on_call_phone);
    let mut to_carrier = Recorder::new();
    for latency in latencies.into_iter().flatten() {
        to_carrier.record(latency, "texted", true);
    }

    steps.insert(
        "reading_normal".into(),
        normal.lock().expect("recorder lock").summary(elapsed),
    );
    steps.insert(
        "reading_critical".into(),
        critical_post
            .lock()
            .expect("recorder lock")
            .summary(elapsed),
    );
    steps.insert("critical_to_carrier".into(), to_carrier.summary(elapsed));
    let misclassified_normal = *misclassified.lock().expect("count lock");
    let errors: u64 = ["reading_normal", "reading_critical"]
        .iter()
        .map(|s| steps[*s].errors)
        .sum();
    let passed = check.passed
        && errors == 0
        && misclassified_normal == 0
        && burst.as_ref().is_none_or(|b| b.no_loss.passed);
    let critical_send_lag_max_ms = lag.lock().expect("lag lock").as_secs_f64() * 1000.0;
    Ok(ReadingsSummary {
        scenario: "readings",
        label: None,
        target: String::new(),
        patients: plan.patients,
        rate: plan.rate,
        duration_secs: plan.duration.as_secs(),
        critical_every_secs: plan.critical_every.as_secs(),
        concurrency: ctx.concurrency,
        fake_carrier: carrier.addr.to_string(),
        steps,
        misclassified_normal,
        critical_send_lag_max_ms,
        carrier_requests: received.len(),
        alerts: check,
        burst,
        passed,
    })
}

/// A burst ready to go: its patients, their signed webhooks and the ledger of what they sent.
struct Burst {
    ids: Vec<String>,
    ledger: Ledger,
    pool: Arc<Vec<closed::Prepared>>,
    endpoint: Endpoint,
    concurrency: usize,
    timeout: Duration,
    waited: Duration,
}

/// Creates and verifies the burst's patients, waits until the fake carrier has their opt-in
/// request and confirmation texts, and signs the burst's webhooks.
async fn prepare_burst(
    ctx: &Arc<Run>,
    plan: &BurstPlan,
    duration: Duration,
    carrier: &FakeCarrier,
    steps: &mut BTreeMap<String, LatencySummary>,
) -> anyhow::Result<Burst> {
    let people: Arc<Vec<Synthetic>> = Arc::new(
        (0..plan.patients)
            .map(|i| Synthetic::new(burst_tag(ctx.run_tag), i))
            .collect(),
    );
    let numbers: std::collections::HashSet<&str> =
        people.iter().map(|p| p.mobile.as_str()).collect();
    let setup_steps = Arc::new(Steps::default());
    let ledger = Arc::new(Mutex::new(Ledger::new()));
    let ids = verified_patients(ctx, &setup_steps, &ledger, &people)
        .await
        .context("verifying the burst's patients")?;
    for (step, summary) in setup_steps.summaries() {
        steps.insert(format!("burst_{step}"), summary);
    }
    let began = Instant::now();
    let expected = 2 * plan.patients;
    while began.elapsed() < BURST_SETUP_WAIT {
        let arrived = carrier
            .received()
            .iter()
            .filter(|r| numbers.contains(r.to.as_str()))
            .count();
        if arrived >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let waited = began.elapsed();
    let target = crate::guard::loopback_target(ctx.hooks.base())?;
    let endpoint = Endpoint::new(crate::guard::plain_http_addr(&target)?);
    let mut next = 0;
    let pool = sign_pool(
        ctx.hooks.base(),
        &ctx.webhook_token,
        &people,
        &ctx.practice_number,
        pool_size(Some(BURST_RATE_GUESS), duration, plan.concurrency),
        &mut next,
    )
    .await?;
    let ledger = ledger.lock().expect("ledger lock").clone();
    Ok(Burst {
        ids,
        ledger,
        pool,
        endpoint,
        concurrency: plan.concurrency,
        timeout: plan.timeout,
        waited,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_spaces_normals_by_rate_and_puts_criticals_half_way() {
        let slots = schedule(100, Duration::from_secs(30), Duration::from_secs(2), 20);
        let normals: Vec<&Slot> = slots.iter().filter(|s| !s.critical).collect();
        let criticals: Vec<&Slot> = slots.iter().filter(|s| s.critical).collect();
        assert_eq!(normals.len(), 3000);
        assert_eq!(criticals.len(), 15);
        assert_eq!(criticals[0].offset, Duration::from_secs(1));
        assert_eq!(criticals[14].offset, Duration::from_secs(29));
        assert_eq!(normals[150].offset, Duration::from_millis(1500));
        assert_eq!(normals[21].patient, 1);
        assert_eq!(
            criticals[3].patient, 23,
            "a patient of its own after the 20"
        );
        assert!(slots.windows(2).all(|w| w[0].offset <= w[1].offset));
        // Every second, and a run shorter than half a period has none.
        let every_second = schedule(10, Duration::from_secs(5), Duration::from_secs(1), 3);
        assert_eq!(every_second.iter().filter(|s| s.critical).count(), 5);
        assert_eq!(
            schedule(10, Duration::from_secs(1), Duration::from_secs(3), 3)
                .iter()
                .filter(|s| s.critical)
                .count(),
            0
        );
    }

    #[test]
    fn values_are_normal_or_critical_by_the_ranges() {
        let [critical_low, normal_low, normal_high, critical_high] = RANGES;
        for k in 0..100 {
            let v = normal_value(k);
            assert!((normal_low..=normal_high).contains(&v), "{v}");
        }
        assert!(CRITICAL_VALUE > critical_high);
        assert!(critical_low < normal_low);
    }

    #[test]
    fn codes_match_whole_words_only() {
        let body = "Demo Family Clinic: a patient reading needs urgent review. Reply ACK K7Q2MX";
        assert!(carries_code(body, "K7Q2MX"));
        assert!(carries_code("Reply ACK K7Q2MX.", "K7Q2MX"));
        assert!(!carries_code(body, "K7Q2M"));
        assert!(!carries_code("Reply ACK K7Q2MXA", "K7Q2MX"));
        assert!(!carries_code(body, ""));
    }

    fn critical(seq: u64, at: Instant, reading: Option<&str>) -> CriticalSent {
        CriticalSent {
            seq,
            sent_at: at,
            reading_id: reading.map(str::to_owned),
            status: reading.map(|_| "critical".to_owned()),
        }
    }

    fn alert(reading: &str, code: &str) -> AlertRow {
        AlertRow {
            reading_id: reading.into(),
            code: code.into(),
        }
    }

    fn text(at: Instant, to: &str, code: &str) -> Received {
        Received {
            at,
            to: to.into(),
            body: format!("Clinic: a patient reading needs urgent review. Reply ACK {code}"),
        }
    }

    const PHONE: &str = "+15551239990";

    #[test]
    fn each_critical_is_matched_to_its_own_text_with_its_latency() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let sent = [
            critical(0, t0, Some("r0")),
            critical(1, t0 + ms(2000), Some("r1")),
        ];
        let alerts = [alert("r1", "BBBBBB"), alert("r0", "AAAAAA")];
        // Arrival order differs from sending order; a text to another number is only counted.
        let received = [
            text(t0 + ms(2030), PHONE, "BBBBBB"),
            text(t0 + ms(45), PHONE, "AAAAAA"),
            text(t0 + ms(50), "+15550000000", "AAAAAA"),
        ];
        let (check, latencies) = match_alerts(&sent, &alerts, &received, PHONE);
        assert!(check.passed, "{check:?}");
        assert_eq!(
            (check.criticals, check.alerts, check.texted_once),
            (2, 2, 2)
        );
        assert_eq!(check.other_numbers, 1);
        assert_eq!(latencies, vec![Some(ms(45)), Some(ms(30))]);
    }

    #[test]
    fn missing_doubled_unrecorded_and_stray_texts_fail_the_check() {
        let t0 = Instant::now();
        let sent = [
            critical(0, t0, Some("r0")),
            critical(1, t0, Some("r1")),
            critical(2, t0, None),
            critical(3, t0, Some("r3")),
        ];
        let alerts = [alert("r0", "AAAAAA"), alert("r1", "BBBBBB")];
        let received = [
            text(t0, PHONE, "BBBBBB"),
            text(t0, PHONE, "BBBBBB"),
            text(t0, PHONE, "ZZZZZZ"),
        ];
        let (check, latencies) = match_alerts(&sent, &alerts, &received, PHONE);
        assert!(!check.passed);
        assert_eq!(check.missing, 1, "r0 has no text");
        assert_eq!(check.duplicated, 1, "r1 has two");
        assert_eq!(check.alerts, 2, "r3 opened none");
        assert_eq!(check.unexpected, 1);
        assert_eq!(check.texted_once, 0);
        assert_eq!(latencies.len(), 4);
        assert_eq!(latencies[0], None);
        assert!(latencies[1].is_some());
        assert_eq!(check.failures.len(), 5, "{:?}", check.failures);
    }

    #[test]
    fn a_reading_not_classified_critical_fails_and_no_criticals_never_passes() {
        let t0 = Instant::now();
        let mut c = critical(0, t0, Some("r0"));
        c.status = Some("caution".into());
        let (check, _) = match_alerts(
            &[c],
            &[alert("r0", "AAAAAA")],
            &[text(t0, PHONE, "AAAAAA")],
            PHONE,
        );
        assert!(!check.passed);
        assert_eq!(check.texted_once, 1);
        let (empty, _) = match_alerts(&[], &[], &[], PHONE);
        assert!(!empty.passed);
    }
}
