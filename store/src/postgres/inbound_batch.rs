//! Ordinary inbound texts on PostgreSQL, many to a transaction: group commit.
//!
//! Under a burst most of PostgreSQL's time went to the fixed cost of each statement and each
//! transaction (a text was nine statements and a commit), not to the rows. So texts waiting at
//! the same moment are recorded together: one transaction, read with one statement per kind for
//! all of them (configuration version, practices, repeats, routing) and written with one per
//! table (messages, feed rows, audit rows), in two round trips whatever the batch's size.
//!
//! Each text is still decided on its own by its own decider, inside the transaction that writes
//! it. Only texts whose decision adds rows go into a batch: one whose decision changes state
//! (a texting state, an opt-out, a reply, a throttle count) needs its patients locked, and one
//! from a number several patients share needs them all read; such texts, and every text of a
//! batch whose writing failed (which wrote nothing), are handed back to be recorded one at a
//! time as before ([`BatchAnswer::Alone`]).
//!
//! Batches are run by their callers (no background task): a caller queues its text and, while
//! it is not answered, takes a runner's place when one is free and runs the oldest queued texts.
//! At most [`RUNNERS`] batches run at once, each on one pooled connection, so while they run the
//! next texts gather in the queue. A batch runs in a task of its own, so a caller that goes away
//! does not cut short the others' batch; a text whose caller went away before its batch began
//! is left out. Before it runs, a batch gives way to readings being recorded, for up to
//! [`GIVE_WAY`]: any of them may be critical, and an inbound text can wait that long (the texts
//! that arrive meanwhile join the batch, which makes it cheaper per text).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, LazyLock, Mutex};

use deadpool_postgres::Pool;
use tokio::sync::{Semaphore, oneshot};
use uuid::Uuid;

use super::inbound::{PipelinedTransaction, routing_sql};
use super::{PgConn, map_err};
use crate::inbound::{CONFIG_VERSION_SQL, inbound_event, routed_patient};
use crate::messaging::{MESSAGE_COLUMNS, message_from_row};
use crate::rows::{PRACTICE_COLUMNS, patient_from_row, practice_from_row};
use crate::sql::{Row, Tx};
use crate::*;

/// Batches running at once (each holds one connection of the main pool while it runs).
const RUNNERS: usize = 2;
/// Texts in one batch at most: enough that a burst at 64 connections needs a handful of
/// transactions, few enough that a batch's two round trips stay short.
const MAX_BATCH: usize = 64;
/// How long a batch waits, at most, for readings in flight to be done before it runs.
const GIVE_WAY: std::time::Duration = std::time::Duration::from_millis(25);

/// An inbound text as [`Inbound::record_inbound_checked`] was given it.
pub(super) struct InboundRequest {
    pub audit: Audit,
    pub inbound: NewInbound,
    pub config_version: Option<i64>,
    pub decide: InboundDecider,
}

/// What became of a text handed to the batches.
pub(super) enum BatchAnswer {
    /// Recorded (or found a repeat, or refused) inside a batch's transaction.
    Done(StoreResult<InboundOutcome>),
    /// Not recorded: record it on its own. `changes_state` when the batch decided it and the
    /// decision changes state: it is to be decided again with its patients locked.
    Alone {
        request: Box<InboundRequest>,
        changes_state: bool,
    },
}

struct Job {
    request: InboundRequest,
    answer: oneshot::Sender<BatchAnswer>,
}

impl Job {
    fn answer(self, answer: BatchAnswer) {
        // A caller that went away no longer needs it.
        let _ = self.answer.send(answer);
    }

    fn alone(self) {
        self.hand_back(false);
    }

    fn hand_back(self, changes_state: bool) {
        let Job { request, answer } = self;
        let _ = answer.send(BatchAnswer::Alone {
            request: Box::new(request),
            changes_state,
        });
    }
}

/// The queue of texts waiting for a batch, and the runners' places.
pub(super) struct InboundBatches {
    queue: Mutex<VecDeque<Job>>,
    runners: Arc<Semaphore>,
}

impl InboundBatches {
    pub(super) fn new() -> InboundBatches {
        InboundBatches {
            queue: Mutex::new(VecDeque::new()),
            runners: Arc::new(Semaphore::new(RUNNERS)),
        }
    }

    /// Queues `request` and waits for its batch, running batches while it is not answered.
    pub(super) async fn submit(&self, pool: &Pool, request: InboundRequest) -> BatchAnswer {
        let (answer, mut answered) = oneshot::channel();
        self.lock().push_back(Job { request, answer });
        loop {
            let permit = tokio::select! {
                biased;
                answer = &mut answered => return answer.unwrap_or_else(|_| stopped()),
                permit = Arc::clone(&self.runners).acquire_owned() => {
                    permit.expect("the runners' semaphore is never closed")
                }
            };
            crate::urgency::give_way_to_readings(GIVE_WAY).await;
            let jobs = self.take_batch();
            if jobs.is_empty() {
                // This text is in a batch that is running already.
                drop(permit);
                return answered.await.unwrap_or_else(|_| stopped());
            }
            let pool = pool.clone();
            let batch = tokio::spawn(async move {
                run_batch(&pool, jobs).await;
                drop(permit);
            });
            // A panic (in a decider) drops the batch's answers; its callers hear `stopped`.
            let _ = batch.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Job>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The oldest queued texts whose callers still wait, [`MAX_BATCH`] at most.
    fn take_batch(&self) -> Vec<Job> {
        let mut queue = self.lock();
        let mut jobs = Vec::new();
        while jobs.len() < MAX_BATCH
            && let Some(job) = queue.pop_front()
        {
            if !job.answer.is_closed() {
                jobs.push(job);
            }
        }
        jobs
    }
}

fn stopped() -> BatchAnswer {
    BatchAnswer::Done(Err(StoreError::Unexpected(
        "the inbound batch stopped before answering".into(),
    )))
}

/// The practices of the batch's numbers.
static BATCH_PRACTICES_SQL: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {PRACTICE_COLUMNS} FROM practices WHERE sms_number = ANY($1::text[])")
});

/// Messages already recorded under one of the batch's carrier ids (repeats): one probe of the
/// carrier id's unique index per text. (A plain join may be planned as a hash join over all
/// messages when the plan is made while the table is small, and the plan is kept.)
const BATCH_EXISTING_SQL: &str = "SELECT i.carrier, i.carrier_sid, m.id
    FROM unnest($1::text[], $2::text[]) AS i (carrier, carrier_sid)
    CROSS JOIN LATERAL (SELECT id FROM messages
                        WHERE carrier = i.carrier AND carrier_sid = i.carrier_sid
                        LIMIT 1) m";

/// Each text's routed patient (as the single text's routing statement finds it, unlocked), with
/// the count of the practice's patients on the number, then the text's place in the batch (from
/// 1). A text routed to nobody has no row.
static BATCH_ROUTING_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT r.*, i.n
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS i (to_number, from_number, n)
         CROSS JOIN LATERAL ({}) r",
        routing_sql("i.to_number", "i.from_number", "")
    )
});

/// The batch's writes in one statement: its messages as decided, in the order given (by
/// patient, so that concurrent batches take their conversation heads' row locks in one order and
/// never deadlock), then the feed rows and audit rows of the messages written. A message whose
/// carrier id a concurrent transaction recorded meanwhile is skipped with its feed and audit rows
/// (after waiting for that transaction) rather than failing the batch. The message row is the
/// one the single text's `INBOUND_INSERT_SQL` writes.
static BATCH_WRITE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH m AS (
             INSERT INTO messages (id, practice_id, patient_id, channel, direction, body,
                                   redacted, status, carrier, carrier_sid, from_number,
                                   to_number, num_segments, created_at, updated_at, flag)
             SELECT i.id, i.practice_id, i.patient_id, 'sms', 'inbound', i.body, i.redacted,
                    'received', i.carrier, i.carrier_sid, i.from_number, i.to_number,
                    i.num_segments, i.created_at, i.created_at, i.flag
             FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::bool[],
                         $6::text[], $7::text[], $8::text[], $9::text[], $10::int4[],
                         $11::timestamptz[], $12::text[])
                  WITH ORDINALITY AS i (id, practice_id, patient_id, body, redacted, carrier,
                                        carrier_sid, from_number, to_number, num_segments,
                                        created_at, flag, n)
             ORDER BY i.n
             ON CONFLICT (carrier, carrier_sid) DO NOTHING
             RETURNING {MESSAGE_COLUMNS}
         ), feed AS (
             INSERT INTO notifications (id, user_id, practice_id, patient_id, kind, summary,
                                        created_at)
             SELECT f.id, f.user_id, f.practice_id, f.patient_id, f.kind, f.summary,
                    f.created_at
             FROM unnest($13::uuid[], $14::uuid[], $15::uuid[], $16::uuid[], $17::uuid[],
                         $18::text[], $19::text[], $20::timestamptz[])
                  AS f (message_id, id, user_id, practice_id, patient_id, kind, summary,
                        created_at)
             JOIN m ON m.id = f.message_id
         ), audit AS (
             INSERT INTO audit_log (at, user_id, customer_id, action, target_type, target_id,
                                    patient_id, client_addr)
             SELECT a.at, a.user_id, a.customer_id, a.action, a.target_type, a.target_id,
                    a.patient_id, a.client_addr
             FROM unnest($21::uuid[], $22::timestamptz[], $23::uuid[], $24::uuid[],
                         $25::text[], $26::text[], $27::text[], $28::uuid[], $29::text[])
                  AS a (message_id, at, user_id, customer_id, action, target_type, target_id,
                        patient_id, client_addr)
             JOIN m ON m.id = a.message_id
         )
         SELECT * FROM m"
    )
});

/// What a batch found for one text.
#[derive(Default)]
struct Found {
    patient: Option<Patient>,
    /// Patients of the practice on the text's number.
    on_number: i64,
}

/// A text of the batch to be written, as decided.
struct Write {
    job: Job,
    context: InboundContext,
    decision: InboundDecision,
    routed: Option<Uuid>,
}

async fn run_batch(pool: &Pool, jobs: Vec<Job>) {
    // A carrier id twice in one batch: the later ones wait for their own transaction, which
    // finds the first one recorded.
    let mut seen = HashSet::new();
    let mut unique = Vec::with_capacity(jobs.len());
    for job in jobs {
        let inbound = &job.request.inbound;
        if seen.insert((inbound.carrier.clone(), inbound.carrier_sid.clone())) {
            unique.push(job);
        } else {
            job.alone();
        }
    }
    let client = match pool.get().await {
        Ok(client) => client,
        Err(_) => {
            // Recorded one at a time, each hears why the store is unavailable.
            unique.into_iter().for_each(Job::alone);
            return;
        }
    };
    let tx = PipelinedTransaction::begin(client);
    let writes = match read_and_decide(&tx, unique).await {
        Ok(writes) => writes,
        Err(jobs) => {
            tx.rollback().await;
            jobs.into_iter().for_each(Job::alone);
            return;
        }
    };
    if writes.is_empty() {
        tx.rollback().await;
        return;
    }
    match write(&tx, &writes).await {
        Ok(messages) => {
            tx.committed();
            let mut messages: HashMap<Uuid, Message> =
                messages.into_iter().map(|m| (m.id, m)).collect();
            for w in writes {
                match messages.remove(&w.context.message_id) {
                    Some(message) => {
                        w.job.answer(BatchAnswer::Done(Ok(InboundOutcome::Recorded {
                            message: Box::new(message),
                            enqueued: Vec::new(),
                        })))
                    }
                    // Recorded meanwhile by another transaction: on its own, it finds that one.
                    None => w.job.alone(),
                }
            }
        }
        Err(error) => {
            // Nothing was written: each text is recorded on its own, and a failure that is one
            // text's (a row the database refuses) is answered to that text's caller alone.
            tracing::warn!(
                %error,
                texts = writes.len(),
                "an inbound batch was rolled back; its texts are recorded one at a time"
            );
            tx.rollback().await;
            writes.into_iter().for_each(|w| w.job.alone());
        }
    }
}

/// BEGIN and the reads of every text in one round trip, then each text's decision. Texts
/// answered here (a repeat, a changed configuration, a refused decision) or handed back to be
/// recorded alone are answered at once; the rest are to be written. On a failed read, every
/// text comes back (nothing was answered).
async fn read_and_decide(
    tx: &PipelinedTransaction,
    jobs: Vec<Job>,
) -> Result<Vec<Write>, Vec<Job>> {
    let c = tx.client();
    let texts: Vec<&NewInbound> = jobs.iter().map(|j| &j.request.inbound).collect();
    let to: Vec<&str> = texts.iter().map(|t| t.to_number.as_str()).collect();
    let from: Vec<&str> = texts.iter().map(|t| t.from_number.as_str()).collect();
    let carriers: Vec<&str> = texts.iter().map(|t| t.carrier.as_str()).collect();
    let sids: Vec<&str> = texts.iter().map(|t| t.carrier_sid.as_str()).collect();
    let mut numbers = to.clone();
    numbers.sort_unstable();
    numbers.dedup();
    let prepared = tokio::try_join!(
        biased;
        c.prepare_cached(CONFIG_VERSION_SQL),
        c.prepare_cached(&BATCH_PRACTICES_SQL),
        c.prepare_cached(BATCH_EXISTING_SQL),
        c.prepare_cached(&BATCH_ROUTING_SQL),
        c.prepare_cached(&BATCH_WRITE_SQL),
    );
    if prepared.is_err() {
        return Err(jobs);
    }
    let read = tokio::try_join!(
        biased;
        c.batch_execute("BEGIN"),
        async {
            let statement = c.prepare_cached(CONFIG_VERSION_SQL).await?;
            c.query_one(&statement, &[]).await
        },
        async {
            let statement = c.prepare_cached(&BATCH_PRACTICES_SQL).await?;
            c.query(&statement, &[&numbers]).await
        },
        async {
            let statement = c.prepare_cached(BATCH_EXISTING_SQL).await?;
            c.query(&statement, &[&carriers, &sids]).await
        },
        async {
            let statement = c.prepare_cached(&BATCH_ROUTING_SQL).await?;
            c.query(&statement, &[&to, &from]).await
        },
    );
    let Ok((_, version, practices, existing, routed)) = read else {
        return Err(jobs);
    };
    let decoded = decode_reads(&practices, &existing, routed, jobs.len());
    let Ok((practices, existing, mut found)) = decoded else {
        return Err(jobs);
    };
    let version: i64 = version.get(0);
    let mut writes = Vec::with_capacity(jobs.len());
    for (job, found) in jobs.into_iter().zip(found.iter_mut()) {
        let request = &job.request;
        let inbound = &request.inbound;
        if request.config_version.is_some_and(|v| v != version) {
            job.answer(BatchAnswer::Done(Err(StoreError::Conflict {
                constraint: crate::inbound::CONFIG_CHANGED.into(),
            })));
            continue;
        }
        let key = (inbound.carrier.as_str(), inbound.carrier_sid.as_str());
        if let Some(&message_id) = existing.get(&key) {
            job.answer(BatchAnswer::Done(Ok(InboundOutcome::Duplicate {
                message_id,
            })));
            continue;
        }
        if found.on_number > 1 {
            job.alone();
            continue;
        }
        let context = InboundContext {
            practice: practices.get(inbound.to_number.as_str()).cloned(),
            patient: found.patient.take(),
            sharing: Vec::new(),
            message_id: new_id(),
            throttle: None,
        };
        let decision = (request.decide)(&context);
        if decision.changes_state() {
            job.hand_back(true);
            continue;
        }
        match routed_patient(&context, &decision) {
            Ok(routed) => writes.push(Write {
                job,
                context,
                decision,
                routed,
            }),
            Err(error) => job.answer(BatchAnswer::Done(Err(error))),
        }
    }
    // One order for every batch's row locks (see BATCH_WRITE_SQL).
    writes.sort_by_key(|w| w.routed);
    Ok(writes)
}

type Reads<'a> = (
    HashMap<String, Practice>,
    HashMap<(&'a str, &'a str), Uuid>,
    Vec<Found>,
);

fn decode_reads<'a>(
    practices: &[tokio_postgres::Row],
    existing: &'a [tokio_postgres::Row],
    routed: Vec<tokio_postgres::Row>,
    texts: usize,
) -> StoreResult<Reads<'a>> {
    let practices = practices
        .iter()
        .map(|row| {
            let practice = practice_from_row(&Row::Pg(row.clone()))?;
            Ok((practice.sms_number.clone(), practice))
        })
        .collect::<StoreResult<HashMap<_, _>>>()?;
    let existing = existing
        .iter()
        .map(|row| ((row.get(0), row.get(1)), row.get(2)))
        .collect();
    let mut found: Vec<Found> = (0..texts).map(|_| Found::default()).collect();
    for row in routed {
        let n: i64 = row.get(row.len() - 1);
        let on_number: i64 = row.get(row.len() - 2);
        let patient = patient_from_row(&Row::Pg(row))?;
        let slot = usize::try_from(n - 1)
            .ok()
            .and_then(|i| found.get_mut(i))
            .ok_or_else(|| StoreError::Unexpected("a routing row out of the batch".into()))?;
        *slot = Found {
            patient: Some(patient),
            on_number,
        };
    }
    Ok((practices, existing, found))
}

/// The batch's messages with their feed and audit rows, and COMMIT, in one round trip; when
/// some are emailed, the emails of the messages written go in between. Answers the messages
/// written.
async fn write(tx: &PipelinedTransaction, writes: &[Write]) -> StoreResult<Vec<Message>> {
    let c = tx.client();
    let messages = MessageColumns::of(writes);
    let feed = FeedColumns::of(writes);
    let audits = AuditColumns::of(writes);
    let (m, f, a) = (&messages, &feed, &audits);
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 29] = [
        &m.id,
        &m.practice_id,
        &m.patient_id,
        &m.body,
        &m.redacted,
        &m.carrier,
        &m.carrier_sid,
        &m.from_number,
        &m.to_number,
        &m.num_segments,
        &m.created_at,
        &m.flag,
        &f.message_id,
        &f.id,
        &f.user_id,
        &f.practice_id,
        &f.patient_id,
        &f.kind,
        &f.summary,
        &f.created_at,
        &a.message_id,
        &a.at,
        &a.user_id,
        &a.customer_id,
        &a.action,
        &a.target_type,
        &a.target_id,
        &a.patient_id,
        &a.client_addr,
    ];
    let emailed = writes
        .iter()
        .any(|w| w.decision.notifications.iter().any(|n| n.email.is_some()));
    let rows = if emailed {
        let statement = c.prepare_cached(&BATCH_WRITE_SQL).await.map_err(map_err)?;
        let rows = c.query(&statement, &params).await.map_err(map_err)?;
        write_emails(c, writes, &rows).await?;
        c.batch_execute("COMMIT").await.map_err(map_err)?;
        rows
    } else {
        let (rows, _) = tokio::try_join!(
            biased;
            async {
                let statement = c.prepare_cached(&BATCH_WRITE_SQL).await?;
                c.query(&statement, &params).await
            },
            c.batch_execute("COMMIT"),
        )
        .map_err(map_err)?;
        rows
    };
    rows.into_iter()
        .map(|row| message_from_row(&Row::Pg(row)))
        .collect()
}

/// The emails of the batch's messages that were written (`rows`), and the dispatchers' signal.
async fn write_emails(
    c: &deadpool_postgres::Object,
    writes: &[Write],
    rows: &[tokio_postgres::Row],
) -> StoreResult<()> {
    let written: HashSet<Uuid> = rows.iter().map(|row| row.get(0)).collect();
    let mut emails = Vec::new();
    for w in writes {
        if !written.contains(&w.context.message_id) {
            continue;
        }
        for n in &w.decision.notifications {
            if let Some(email) = &n.email {
                emails.push((w.job.request.audit.at, n, email));
            }
        }
    }
    if emails.is_empty() {
        return Ok(());
    }
    let t = Tx::Pg(PgConn::Client(c));
    t.notify_work().await?;
    for (at, n, email) in emails {
        crate::emails::insert_email(&t, at, n, email).await?;
    }
    Ok(())
}

/// The batch's messages, column by column (the first arrays of [`BATCH_WRITE_SQL`]).
struct MessageColumns<'a> {
    id: Vec<Uuid>,
    practice_id: Vec<Option<Uuid>>,
    patient_id: Vec<Option<Uuid>>,
    body: Vec<Option<&'a str>>,
    redacted: Vec<bool>,
    carrier: Vec<&'a str>,
    carrier_sid: Vec<&'a str>,
    from_number: Vec<&'a str>,
    to_number: Vec<&'a str>,
    num_segments: Vec<i32>,
    created_at: Vec<chrono::DateTime<chrono::Utc>>,
    flag: Vec<Option<&'a str>>,
}

impl<'a> MessageColumns<'a> {
    fn of(writes: &'a [Write]) -> MessageColumns<'a> {
        let texts = || writes.iter().map(|w| &w.job.request.inbound);
        MessageColumns {
            id: writes.iter().map(|w| w.context.message_id).collect(),
            practice_id: writes
                .iter()
                .map(|w| w.context.practice.as_ref().map(|p| p.id))
                .collect(),
            patient_id: writes.iter().map(|w| w.routed).collect(),
            body: writes
                .iter()
                .map(|w| {
                    let inbound = &w.job.request.inbound;
                    w.decision.keep_body.then_some(inbound.body.as_str())
                })
                .collect(),
            redacted: writes.iter().map(|w| !w.decision.keep_body).collect(),
            carrier: texts().map(|t| t.carrier.as_str()).collect(),
            carrier_sid: texts().map(|t| t.carrier_sid.as_str()).collect(),
            from_number: texts().map(|t| t.from_number.as_str()).collect(),
            to_number: texts().map(|t| t.to_number.as_str()).collect(),
            num_segments: texts().map(|t| t.num_segments).collect(),
            created_at: writes.iter().map(|w| w.job.request.audit.at).collect(),
            flag: writes.iter().map(|w| w.decision.flag.as_deref()).collect(),
        }
    }
}

/// The batch's feed rows, column by column, each with its message's id.
struct FeedColumns<'a> {
    message_id: Vec<Uuid>,
    id: Vec<Uuid>,
    user_id: Vec<Uuid>,
    practice_id: Vec<Uuid>,
    patient_id: Vec<Option<Uuid>>,
    kind: Vec<&'a str>,
    summary: Vec<&'a str>,
    created_at: Vec<chrono::DateTime<chrono::Utc>>,
}

impl<'a> FeedColumns<'a> {
    fn of(writes: &'a [Write]) -> FeedColumns<'a> {
        let rows: Vec<(&Write, &NewNotification)> = writes
            .iter()
            .flat_map(|w| {
                let feed = w.decision.notifications.iter().filter(|n| n.in_feed);
                feed.map(move |n| (w, n))
            })
            .collect();
        FeedColumns {
            message_id: rows.iter().map(|(w, _)| w.context.message_id).collect(),
            id: rows.iter().map(|_| new_id()).collect(),
            user_id: rows.iter().map(|(_, n)| n.user_id).collect(),
            practice_id: rows.iter().map(|(_, n)| n.practice_id).collect(),
            patient_id: rows.iter().map(|(_, n)| n.patient_id).collect(),
            kind: rows.iter().map(|(_, n)| n.kind.as_str()).collect(),
            summary: rows.iter().map(|(_, n)| n.summary.as_str()).collect(),
            created_at: rows.iter().map(|(w, _)| w.job.request.audit.at).collect(),
        }
    }
}

/// The batch's audit rows, column by column, each with its message's id.
struct AuditColumns<'a> {
    message_id: Vec<Uuid>,
    at: Vec<chrono::DateTime<chrono::Utc>>,
    user_id: Vec<Option<Uuid>>,
    customer_id: Vec<Option<Uuid>>,
    action: Vec<&'static str>,
    target_type: Vec<&'static str>,
    target_id: Vec<Option<String>>,
    patient_id: Vec<Option<Uuid>>,
    client_addr: Vec<Option<&'a str>>,
}

impl<'a> AuditColumns<'a> {
    fn of(writes: &'a [Write]) -> AuditColumns<'a> {
        let events: Vec<AuditEvent<'static>> = writes
            .iter()
            .map(|w| inbound_event(&w.context, w.routed))
            .collect();
        let audits = || writes.iter().map(|w| &w.job.request.audit);
        AuditColumns {
            message_id: writes.iter().map(|w| w.context.message_id).collect(),
            at: audits().map(|a| a.at).collect(),
            user_id: audits().map(|a| a.user_id).collect(),
            customer_id: events.iter().map(|e| e.customer_id).collect(),
            action: events.iter().map(|e| e.action).collect(),
            target_type: events.iter().map(|e| e.target_type).collect(),
            target_id: events.iter().map(|e| e.target_id.clone()).collect(),
            patient_id: events.iter().map(|e| e.patient_id).collect(),
            client_addr: audits().map(|a| a.client_addr.as_deref()).collect(),
        }
    }
}
