//! The two scenarios and the checks after them.
//!
//! - `inbound`: N synthetic patients are created through the admin API, texting is started for
//!   each (`pending`) and each texts its date of birth (`enabled`); then signed inbound webhooks
//!   arrive at a steady rate for a fixed time, a deliberate repeat of an earlier `MessageSid`
//!   every so often. Latency is measured from each request's slot in the schedule.
//! - `opt-in`: N patients go through verification at once (start, a wrong date of birth, the
//!   right one); each must end `enabled` with 2 attempts used and exactly the opt-in request, one
//!   retry prompt and one confirmation queued.
//!
//! After either run the no-loss check reads each patient's `message.inbound` audit rows (as the
//! customer admin) and compares them with the [`Ledger`]; with super-admin credentials the replies
//! queued in the dev outbox are checked too (required for `opt-in`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::client::{Gateway, SignedWebhook};
use crate::ledger::{Delivery, Ledger, NoLossReport, Observed};
use crate::replies::{self, RepliesReport, ReplyKind};
use crate::stats::{LatencySummary, Recorder};
use crate::synthetic::{Synthetic, conversation_text};

/// What every scenario needs to reach the gateway.
#[derive(Clone)]
pub struct Run {
    /// Webhooks only (no session).
    pub hooks: Gateway,
    /// Logged in as the customer admin.
    pub admin: Gateway,
    /// Logged in as a super admin, for the dev outbox.
    pub superuser: Option<Gateway>,
    pub webhook_token: Arc<str>,
    pub practice_id: String,
    pub practice_number: String,
    pub run_tag: u32,
    pub concurrency: usize,
}

/// The machine-readable result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub scenario: &'static str,
    pub label: Option<String>,
    pub target: String,
    pub patients: usize,
    pub rate: Option<u32>,
    pub duration_secs: Option<u64>,
    pub duplicate_every: Option<u32>,
    pub concurrency: usize,
    /// Latency per step, e.g. `webhook` for the steady phase.
    pub steps: BTreeMap<String, LatencySummary>,
    pub no_loss: NoLossReport,
    pub replies: Option<RepliesReport>,
    /// Patients whose flow went wrong (opt-in), up to 20.
    pub flow_failures: Vec<String>,
    pub passed: bool,
}

/// Latency and outcome recorders by step name, shared by concurrent tasks.
#[derive(Default)]
pub(crate) struct Steps {
    recorders: Mutex<BTreeMap<&'static str, Recorder>>,
    started: Mutex<HashMap<&'static str, Instant>>,
    finished: Mutex<HashMap<&'static str, Instant>>,
}

impl Steps {
    fn record(&self, step: &'static str, began: Instant, label: &str, ok: bool) {
        let now = Instant::now();
        self.recorders
            .lock()
            .expect("recorder lock")
            .entry(step)
            .or_default()
            .record(now - began, label, ok);
        self.started
            .lock()
            .expect("step lock")
            .entry(step)
            .and_modify(|t| *t = (*t).min(began))
            .or_insert(began);
        self.finished
            .lock()
            .expect("step lock")
            .entry(step)
            .and_modify(|t| *t = (*t).max(now))
            .or_insert(now);
    }

    pub(crate) fn summaries(&self) -> BTreeMap<String, LatencySummary> {
        let started = self.started.lock().expect("step lock");
        let finished = self.finished.lock().expect("step lock");
        self.recorders
            .lock()
            .expect("recorder lock")
            .iter()
            .map(|(step, rec)| {
                let elapsed = match (started.get(step), finished.get(step)) {
                    (Some(a), Some(b)) => *b - *a,
                    _ => Duration::ZERO,
                };
                ((*step).to_owned(), rec.summary(elapsed))
            })
            .collect()
    }
}

/// Runs `work` for every patient index with at most `concurrency` at once, keeping the results in
/// index order.
pub(crate) async fn for_each_patient<T, F, Fut>(
    count: usize,
    concurrency: usize,
    work: F,
) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut set = JoinSet::new();
    for index in 0..count {
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let job = work(index);
        set.spawn(async move {
            let result = job.await;
            drop(permit);
            (index, result)
        });
    }
    let mut out: Vec<Option<T>> = (0..count).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        let (index, result) = joined.context("a task panicked")?;
        out[index] = Some(result.with_context(|| format!("patient {index}"))?);
    }
    Ok(out
        .into_iter()
        .map(|r| r.expect("every task ran"))
        .collect())
}

/// Sends one signed text from `patient` and books it in the ledger and the step's recorder.
async fn text(
    ctx: &Run,
    steps: &Steps,
    ledger: &Mutex<Ledger>,
    step: &'static str,
    patient: &Synthetic,
    body: &str,
) -> anyhow::Result<Option<u16>> {
    let hook = ctx.hooks.sign_inbound(
        &ctx.webhook_token,
        &patient.mobile,
        &ctx.practice_number,
        body,
    )?;
    let began = Instant::now();
    let outcome = ctx.hooks.deliver(&hook).await;
    let ok = outcome.status == Some(200);
    steps.record(step, began, &outcome.label, ok);
    ledger.lock().expect("ledger lock").record(
        patient.index,
        &hook.sid,
        Delivery::from_status(outcome.status),
    );
    Ok(outcome.status)
}

/// Creates a patient and starts texting (`pending`, 3 attempts).
async fn create_and_start(ctx: &Run, steps: &Steps, patient: &Synthetic) -> anyhow::Result<String> {
    let began = Instant::now();
    let created = ctx
        .admin
        .create_patient(
            &ctx.practice_id,
            &patient.first_name,
            &patient.last_name,
            &patient.dob_iso(),
            &patient.mobile,
        )
        .await;
    steps.record("create_patient", began, label(&created), created.is_ok());
    let id = created?.id;
    let began = Instant::now();
    let started = ctx.admin.start_texting(&id).await;
    steps.record("texting_start", began, label(&started), started.is_ok());
    let started = started?;
    if started.status != "pending" || started.attempts_left != 3 {
        bail!(
            "after start: {} with {} attempts, not pending with 3",
            started.status,
            started.attempts_left
        );
    }
    Ok(id)
}

fn label<T>(result: &anyhow::Result<T>) -> &'static str {
    if result.is_ok() { "ok" } else { "error" }
}

/// Reads every patient's recorded inbound messages and checks them against the ledger.
pub(crate) async fn no_loss(
    ctx: &Run,
    ids: &[String],
    ledger: &Ledger,
) -> anyhow::Result<NoLossReport> {
    let admin = ctx.admin.clone();
    let ids = Arc::new(ids.to_vec());
    let observed = for_each_patient(ids.len(), ctx.concurrency.min(16), |i| {
        let admin = admin.clone();
        let ids = Arc::clone(&ids);
        async move {
            let rows = admin.inbound_audit_rows(&ids[i]).await?;
            let distinct: std::collections::HashSet<&String> = rows.iter().collect();
            Ok(Observed {
                rows: rows.len() as u64,
                distinct_messages: distinct.len() as u64,
            })
        }
    })
    .await?;
    Ok(ledger.check(&observed))
}

/// The replies queued for each of `ids`, from the dev outbox.
async fn queued_replies(
    superuser: &Gateway,
    ids: &[String],
) -> anyhow::Result<Vec<Vec<ReplyKind>>> {
    let position: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut per_patient = vec![Vec::new(); ids.len()];
    for row in superuser.outbox().await? {
        if let Some(&i) = row.patient_id.as_deref().and_then(|p| position.get(p)) {
            per_patient[i].push(replies::classify(&row.body));
        }
    }
    Ok(per_patient)
}

/// Creates each of `people` as a patient, starts texting and texts the right date of birth, so
/// that each ends `enabled` and its texts are conversation messages; the patients' ids, in order.
/// The date-of-birth texts are booked in `ledger` (patient `i` of `people` is ledger index `i`).
pub(crate) async fn verified_patients(
    ctx: &Arc<Run>,
    steps: &Arc<Steps>,
    ledger: &Arc<Mutex<Ledger>>,
    people: &Arc<Vec<Synthetic>>,
) -> anyhow::Result<Vec<String>> {
    for_each_patient(people.len(), ctx.concurrency.min(32), |i| {
        let (ctx, steps, ledger, people) = (
            Arc::clone(ctx),
            Arc::clone(steps),
            Arc::clone(ledger),
            Arc::clone(people),
        );
        async move {
            let patient = &people[i];
            let id = create_and_start(&ctx, &steps, patient).await?;
            let status = text(
                &ctx,
                &steps,
                &ledger,
                "verify_dob",
                patient,
                &patient.dob_text(),
            )
            .await?;
            if status != Some(200) {
                bail!("the date-of-birth webhook answered {status:?}");
            }
            let texting = ctx.admin.texting(&id).await?;
            if texting.status != "enabled" {
                bail!("after the right date of birth: {}", texting.status);
            }
            Ok(id)
        }
    })
    .await
    .context("set-up")
}

/// Parameters of the `inbound` scenario.
pub struct InboundPlan {
    pub patients: usize,
    pub rate: u32,
    pub duration: Duration,
    /// Every n-th webhook repeats an earlier one (0: never).
    pub duplicate_every: u32,
}

/// The `inbound` scenario.
pub async fn inbound(ctx: Run, plan: InboundPlan) -> anyhow::Result<Summary> {
    let ctx = Arc::new(ctx);
    let steps = Arc::new(Steps::default());
    let ledger = Arc::new(Mutex::new(Ledger::new()));
    let people: Arc<Vec<Synthetic>> = Arc::new(
        (0..plan.patients)
            .map(|i| Synthetic::new(ctx.run_tag, i))
            .collect(),
    );

    // Set-up: every patient verified, so that its texts are conversation messages.
    let ids = verified_patients(&ctx, &steps, &ledger, &people).await?;

    // The steady phase: request k is due at start + k / rate, whatever happened before it.
    let total = u64::from(plan.rate) * plan.duration.as_secs();
    let period = Duration::from_secs_f64(1.0 / f64::from(plan.rate));
    let permits = Arc::new(Semaphore::new(ctx.concurrency));
    let recorder = Arc::new(Mutex::new(Recorder::new()));
    let mut recent: VecDeque<(usize, SignedWebhook)> = VecDeque::with_capacity(16);
    let start = tokio::time::Instant::now();
    for k in 0..total {
        let due = start + period.mul_f64(k as f64);
        tokio::time::sleep_until(due).await;
        let repeat = plan.duplicate_every > 0
            && k % u64::from(plan.duplicate_every) == u64::from(plan.duplicate_every) - 1
            && recent.len() >= 4;
        let (patient, hook) = if repeat {
            // A repeat of a webhook sent a few slots ago (possibly still in flight).
            recent[recent.len() - 4].clone()
        } else {
            let patient = (k % plan.patients as u64) as usize;
            let hook = ctx.hooks.sign_inbound(
                &ctx.webhook_token,
                &people[patient].mobile,
                &ctx.practice_number,
                &conversation_text(k),
            )?;
            if recent.len() == 16 {
                recent.pop_front();
            }
            recent.push_back((patient, hook.clone()));
            (patient, hook)
        };
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let (ctx, ledger, recorder) =
            (Arc::clone(&ctx), Arc::clone(&ledger), Arc::clone(&recorder));
        tokio::spawn(async move {
            let outcome = ctx.hooks.deliver(&hook).await;
            let latency = due.elapsed();
            recorder.lock().expect("recorder lock").record(
                latency,
                &outcome.label,
                outcome.status == Some(200),
            );
            ledger.lock().expect("ledger lock").record(
                patient,
                &hook.sid,
                Delivery::from_status(outcome.status),
            );
            drop(permit);
        });
    }
    // Wait for the requests still in flight (each is bounded by the client timeout).
    let _all = permits.acquire_many(ctx.concurrency as u32).await?;
    let elapsed = start.elapsed();

    let mut summaries = steps.summaries();
    summaries.insert(
        "webhook".into(),
        recorder.lock().expect("recorder lock").summary(elapsed),
    );
    let ledger = ledger.lock().expect("ledger lock").clone();
    let no_loss = no_loss(&ctx, &ids, &ledger)
        .await
        .context("no-loss check")?;
    let replies = match &ctx.superuser {
        Some(superuser) => Some(replies::check(
            &[ReplyKind::OptInRequest, ReplyKind::OptInConfirmed],
            &queued_replies(superuser, &ids).await?,
        )),
        None => None,
    };
    let passed = no_loss.passed && replies.as_ref().is_none_or(|r| r.passed);
    Ok(Summary {
        scenario: "inbound",
        label: None,
        target: String::new(),
        patients: plan.patients,
        rate: Some(plan.rate),
        duration_secs: Some(plan.duration.as_secs()),
        duplicate_every: Some(plan.duplicate_every),
        concurrency: ctx.concurrency,
        steps: summaries,
        no_loss,
        replies,
        flow_failures: Vec::new(),
        passed,
    })
}

/// The `opt-in` scenario.
pub async fn opt_in(ctx: Run, patients: usize) -> anyhow::Result<Summary> {
    let Some(superuser) = ctx.superuser.clone() else {
        bail!(
            "the opt-in scenario checks the replies in the dev outbox: pass --super-user and LOAD_SUPER_PASSWORD"
        );
    };
    let ctx = Arc::new(ctx);
    let steps = Arc::new(Steps::default());
    let ledger = Arc::new(Mutex::new(Ledger::new()));
    let results = for_each_patient(patients, ctx.concurrency, |i| {
        let (ctx, steps, ledger) = (Arc::clone(&ctx), Arc::clone(&steps), Arc::clone(&ledger));
        async move {
            let patient = Synthetic::new(ctx.run_tag, i);
            let id = create_and_start(&ctx, &steps, &patient).await?;
            // A failure past this point is the flow's, not the run's: report it and go on.
            let flow = async {
                let status = text(
                    &ctx,
                    &steps,
                    &ledger,
                    "wrong_dob",
                    &patient,
                    &patient.wrong_dob_text(),
                )
                .await?;
                if status != Some(200) {
                    bail!("wrong date of birth answered {status:?}");
                }
                let after = ctx.admin.texting(&id).await?;
                if (after.status.as_str(), after.attempts_left) != ("pending", 2) {
                    bail!(
                        "after a wrong date of birth: {} with {} attempts, not pending with 2",
                        after.status,
                        after.attempts_left
                    );
                }
                let status = text(
                    &ctx,
                    &steps,
                    &ledger,
                    "right_dob",
                    &patient,
                    &patient.dob_text(),
                )
                .await?;
                if status != Some(200) {
                    bail!("right date of birth answered {status:?}");
                }
                let after = ctx.admin.texting(&id).await?;
                if after.status != "enabled" {
                    bail!("after the right date of birth: {}", after.status);
                }
                Ok(())
            };
            let failure = flow.await.err().map(|e| format!("patient {i}: {e:#}"));
            Ok((id, failure))
        }
    })
    .await
    .context("set-up")?;
    let ids: Vec<String> = results.iter().map(|(id, _)| id.clone()).collect();
    let flow_failures: Vec<String> = results
        .into_iter()
        .filter_map(|(_, failure)| failure)
        .collect();

    let ledger = ledger.lock().expect("ledger lock").clone();
    let no_loss = no_loss(&ctx, &ids, &ledger)
        .await
        .context("no-loss check")?;
    let replies = replies::check(
        &[
            ReplyKind::OptInRequest,
            ReplyKind::OptInRetry,
            ReplyKind::OptInConfirmed,
        ],
        &queued_replies(&superuser, &ids).await?,
    );
    let passed = no_loss.passed && replies.passed && flow_failures.is_empty();
    Ok(Summary {
        scenario: "opt-in",
        label: None,
        target: String::new(),
        patients,
        rate: None,
        duration_secs: None,
        duplicate_every: None,
        concurrency: ctx.concurrency,
        steps: steps.summaries(),
        no_loss,
        replies: Some(replies),
        flow_failures: flow_failures.into_iter().take(20).collect(),
        passed,
    })
}
