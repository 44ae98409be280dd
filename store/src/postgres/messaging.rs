//! Messaging on postgres: inbound dedup by unique rule, the outbox claim with
//! `FOR UPDATE SKIP LOCKED` and per-number send slots locked in `outbox_senders`.
//!
//! The helpers [`insert_outbox`] and [`opt_out`] take any client, so other aggregates' use cases
//! can queue texts or opt a number out inside their own transaction.

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::rows::{PATIENT_COLUMNS, patient_from_row};
use super::rows::{PRACTICE_COLUMNS, practice_from_row};
use super::{PostgresStore, insert_audit, map_err};
use crate::messaging::{ABANDONED_NOTE, CANCELLED_NOTE, OPTED_OUT_RULE, RECOVERED_NOTE};
use crate::*;

const OUTBOX_COLUMNS: &str =
    "id, message_id, practice_id, patient_id, to_number, from_number, body,
    priority, state, attempts, next_attempt_at, claimed_until, claimed_by, recovered, carrier,
    carrier_sid, carrier_status, error_code, last_error, created_at, updated_at, sent_at,
    cancel_reason, opt_out_reply";

/// The configuration version ([`Messaging::config_version`]): the last change recorded by the
/// triggers of migration 0029.
const CONFIG_VERSION_SQL: &str = "SELECT COALESCE(max(id), 0) FROM config_changes";

pub(crate) const MESSAGE_COLUMNS: &str =
    "id, practice_id, patient_id, channel, direction, body, redacted,
    author_user_id, status, carrier, carrier_sid, from_number, to_number, error_code, num_segments,
    created_at, updated_at, flag, status_reason, recovered";

/// The rows a claim may take, as a condition on the outbox alias `o`; repeated on the locked row
/// so that a row another claimer took meanwhile is re-checked and skipped.
const DUE: &str = "((o.state = 'queued' AND o.next_attempt_at <= $1)
                     OR (o.state = 'sending' AND o.claimed_until <= $1))";

fn outbound_from_row(row: &Row) -> StoreResult<Outbound> {
    let state: String = row.get(8);
    Ok(Outbound {
        id: row.get(0),
        message_id: row.get(1),
        practice_id: row.get(2),
        patient_id: row.get(3),
        to_number: row.get(4),
        from_number: row.get(5),
        body: row.get(6),
        priority: row.get(7),
        state: OutboxState::parse(&state)
            .ok_or_else(|| StoreError::Unexpected(format!("unknown outbox state {state:?}")))?,
        attempts: row.get(9),
        next_attempt_at: row.get(10),
        claimed_until: row.get(11),
        claimed_by: row.get(12),
        recovered: row.get(13),
        carrier: row.get(14),
        carrier_sid: row.get(15),
        carrier_status: row.get(16),
        error_code: row.get(17),
        last_error: row.get(18),
        created_at: row.get(19),
        updated_at: row.get(20),
        sent_at: row.get(21),
        cancel_reason: row.get(22),
        opt_out_reply: row.get(23),
    })
}

pub(crate) fn message_from_row(row: &Row) -> Message {
    Message {
        id: row.get(0),
        practice_id: row.get(1),
        patient_id: row.get(2),
        channel: row.get(3),
        direction: row.get(4),
        body: row.get(5),
        redacted: row.get(6),
        author_user_id: row.get(7),
        status: row.get(8),
        carrier: row.get(9),
        carrier_sid: row.get(10),
        from_number: row.get(11),
        to_number: row.get(12),
        error_code: row.get(13),
        num_segments: row.get(14),
        created_at: row.get(15),
        updated_at: row.get(16),
        flag: row.get(17),
        status_reason: row.get(18),
        recovered: row.get(19),
    }
}

/// Queues one text inside the caller's transaction (and its conversation message when asked).
/// The caller notifies the dispatcher after committing.
pub(crate) async fn insert_outbox(
    tx: &impl GenericClient,
    new: &NewOutbound,
    now: DateTime<Utc>,
) -> StoreResult<Outbound> {
    super::signals::notify_work(tx).await?;
    let message_id = if new.record_message {
        let id = new_id();
        tx.execute(
            "INSERT INTO messages (id, practice_id, patient_id, channel, direction, body, author_user_id,
                                   status, from_number, to_number, created_at, updated_at)
             VALUES ($1, $2, $3, 'sms', 'outbound', $4, $5, 'queued', $6, $7, $8, $8)",
            &[
                &id,
                &new.practice_id,
                &new.patient_id,
                &new.body,
                &new.author_user_id,
                &new.from_number,
                &new.to_number,
                &now,
            ],
        )
        .await
        .map_err(map_err)?;
        Some(id)
    } else {
        None
    };
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO outbox (id, message_id, practice_id, patient_id, to_number, from_number, body,
                                     priority, next_attempt_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9)
                 RETURNING {OUTBOX_COLUMNS}"
            ),
            &[
                &new_id(),
                &message_id,
                &new.practice_id,
                &new.patient_id,
                &new.to_number,
                &new.from_number,
                &new.body,
                &new.priority,
                &now,
            ],
        )
        .await
        .map_err(map_err)?;
    outbound_from_row(&row)
}

/// Opts out every patient of the practice whose number is `practice_number` with mobile phone
/// `patient_number`, inside the caller's transaction, with an audit row each.
pub(crate) async fn opt_out(
    tx: &impl GenericClient,
    audit: &Audit,
    practice_number: &str,
    patient_number: &str,
) -> StoreResult<u64> {
    let rows = tx
        .query(
            "UPDATE patients p
             SET texting_status = 'opted_out', texting_attempts_left = 0,
                 texting_expires_at = NULL, texting_updated_at = $3
             FROM practices pr
             WHERE pr.id = p.practice_id AND pr.sms_number = $1 AND p.mobile_phone = $2
               AND p.texting_status <> 'opted_out'
             RETURNING p.id, pr.customer_id",
            &[&practice_number, &patient_number, &audit.at],
        )
        .await
        .map_err(map_err)?;
    for row in &rows {
        let patient_id: Uuid = row.get(0);
        let event = AuditEvent {
            customer_id: Some(row.get(1)),
            action: "patient.texting.carrier_opt_out",
            target_type: "patient",
            target_id: Some(patient_id.to_string()),
            patient_id: Some(patient_id),
        };
        insert_audit(tx, audit, &event).await?;
    }
    cancel_queued(tx, practice_number, patient_number, audit.at).await?;
    Ok(rows.len() as u64)
}

/// Cancels every text still queued to `patient_number` from `practice_number` (reason
/// `opted_out`), inside the caller's transaction, except answers queued with an opt-out (the STOP
/// confirmation). Their conversation messages show `cancelled`. Returns how many.
pub(crate) async fn cancel_queued(
    tx: &impl GenericClient,
    practice_number: &str,
    patient_number: &str,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let rows = tx
        .query(
            "UPDATE outbox
             SET state = 'cancelled', cancel_reason = $3, last_error = $4, updated_at = $5
             WHERE to_number = $2 AND from_number = $1 AND state = 'queued' AND NOT opt_out_reply
             RETURNING id",
            &[
                &practice_number,
                &patient_number,
                &cancel_reason::OPTED_OUT,
                &CANCELLED_NOTE,
                &now,
            ],
        )
        .await
        .map_err(map_err)?;
    for row in &rows {
        sync_message(tx, row.get(0), now).await?;
    }
    Ok(rows.len() as u64)
}

/// Cancels a due row (locked by the caller's claim) whose number opted out; 1 if it did.
async fn cancel_opted_out(
    tx: &impl GenericClient,
    id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let changed = tx
        .execute(
            &format!(
                "UPDATE outbox o
                 SET state = 'cancelled', cancel_reason = $3, claimed_until = NULL, last_error = $4,
                     updated_at = $1
                 WHERE id = $2 AND {DUE} AND {OPTED_OUT_RULE}"
            ),
            &[&now, &id, &cancel_reason::OPTED_OUT, &CANCELLED_NOTE],
        )
        .await
        .map_err(map_err)?;
    if changed > 0 {
        sync_message(tx, id, now).await?;
    }
    Ok(changed)
}

/// Makes the conversation message of an outbox row follow it: the carrier's status when known,
/// else `failed`, `cancelled` (with the reason) or `queued`, with the carrier's id and error code.
async fn sync_message(
    tx: &impl GenericClient,
    outbox_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    tx.execute(
        "UPDATE messages m
         SET status = COALESCE(o.carrier_status,
                               CASE WHEN o.state IN ('failed', 'cancelled') THEN o.state ELSE 'queued' END),
             status_reason = o.cancel_reason,
             error_code = o.error_code, carrier = o.carrier, carrier_sid = o.carrier_sid,
             recovered = o.recovered > 0, updated_at = $2
         FROM outbox o
         WHERE o.id = $1 AND m.id = o.message_id",
        &[&outbox_id, &now],
    )
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn load_message(tx: &impl GenericClient, id: Uuid) -> StoreResult<Message> {
    let row = tx
        .query_opt(
            &format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"),
            &[&id],
        )
        .await
        .map_err(map_err)?
        .ok_or(StoreError::NotFound)?;
    Ok(message_from_row(&row))
}

/// The inbound text's statements ([`Messaging::record_inbound_checked`]).
static INBOUND_PRACTICE_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {PRACTICE_COLUMNS} FROM practices WHERE sms_number = $1"));
/// A repeat of a carrier message id finds the message recorded first.
const INBOUND_EXISTING_SQL: &str =
    "SELECT id FROM messages WHERE carrier = $1 AND carrier_sid = $2";
/// Routes to the practice's patient on `From` (one in `pending` or `enabled` if there is one,
/// else the most recently created), with how many patients of the practice share the number (the
/// last column). Read without a lock: most texts only add rows (see
/// [`InboundDecision::changes_state`]), and texts of one patient need not wait for each other.
static INBOUND_PATIENT_SQL: LazyLock<String> = LazyLock::new(|| routing_sql(""));
/// The same, locking the routed patient, for a decision that changes state: texts of one number
/// that do are decided one at a time. NO KEY UPDATE, not UPDATE: the patient's message rows hold
/// key-share locks on it (foreign key), which FOR UPDATE would wait on across two such
/// transactions: a deadlock.
static INBOUND_PATIENT_LOCKED_SQL: LazyLock<String> =
    LazyLock::new(|| routing_sql("FOR NO KEY UPDATE OF p"));

fn routing_sql(lock: &str) -> String {
    format!(
        "SELECT {PATIENT_COLUMNS},
                (SELECT count(*) FROM patients s
                 WHERE s.practice_id = p.practice_id AND s.mobile_phone = p.mobile_phone)
         FROM patients p
         WHERE p.id = (SELECT q.id FROM patients q JOIN practices pr ON pr.id = q.practice_id
                       WHERE pr.sms_number = $1 AND q.mobile_phone = $2
                       ORDER BY q.texting_status IN ('pending', 'enabled') DESC,
                                q.created_at DESC, q.id DESC
                       LIMIT 1)
         {lock}"
    )
}
/// The message as decided, written once (no second version of the row to write). The carrier
/// id's unique rule makes a repeat that raced this one fail here.
static INBOUND_INSERT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO messages (id, practice_id, patient_id, channel, direction, body, redacted,
                               status, carrier, carrier_sid, from_number, to_number, num_segments,
                               created_at, updated_at, flag)
         VALUES ($1, $2, $3, 'sms', 'inbound', $4, $5, 'received', $6, $7, $8, $9, $10, $11, $11,
                 $12)
         RETURNING {MESSAGE_COLUMNS}"
    )
});
/// The decision's feed rows, all in one statement.
const INBOUND_NOTIFICATIONS_SQL: &str = "INSERT INTO notifications (id, user_id, practice_id,
        patient_id, kind, summary, created_at)
    SELECT n.*, $7 FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[])
        AS n (id, user_id, practice_id, patient_id, kind, summary)";

/// A transaction on a pooled connection whose BEGIN and COMMIT travel in a batch with other
/// statements (which tokio-postgres' `Transaction` cannot do). Dropped while open (a cancelled
/// request), the connection is closed rather than returned to the pool, which rolls it back.
struct PipelinedTransaction {
    client: Option<deadpool_postgres::Object>,
    open: bool,
}

impl PipelinedTransaction {
    fn client(&self) -> &deadpool_postgres::Object {
        self.client.as_ref().expect("the client is held until drop")
    }

    /// Rolls back; a connection that cannot is closed instead.
    async fn rollback(mut self) {
        if self.client().batch_execute("ROLLBACK").await.is_ok() {
            self.open = false;
        }
    }

    /// The COMMIT was answered.
    fn committed(mut self) {
        self.open = false;
    }
}

impl Drop for PipelinedTransaction {
    fn drop(&mut self) {
        if self.open
            && let Some(client) = self.client.take()
        {
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

/// The routed patient of `routed` (a row of the routing statement) and the practice's other
/// patients on the number (a family phone), asked for only when the routing row counted any;
/// locked after the routed one, in id order, when `lock`.
async fn patients_on_number(
    c: &deadpool_postgres::Object,
    inbound: &NewInbound,
    practice: Option<&Practice>,
    routed: Option<Row>,
    lock: bool,
) -> StoreResult<(Option<Patient>, Vec<Patient>)> {
    let on_number: i64 = routed.as_ref().map_or(0, |row| row.get(row.len() - 1));
    let patient = routed.map(|row| patient_from_row(&row)).transpose()?;
    let sharing = match (&patient, practice) {
        (Some(routed), Some(practice)) if on_number > 1 => {
            let lock = if lock { "FOR NO KEY UPDATE OF p" } else { "" };
            let rows = c
                .query(
                    &format!(
                        "SELECT {PATIENT_COLUMNS} FROM patients p
                         WHERE p.practice_id = $1 AND p.mobile_phone = $2 AND p.id <> $3
                         ORDER BY p.id {lock}"
                    ),
                    &[&practice.id, &inbound.from_number, &routed.id],
                )
                .await
                .map_err(map_err)?;
            rows.iter()
                .map(patient_from_row)
                .collect::<StoreResult<Vec<_>>>()?
        }
        _ => Vec::new(),
    };
    Ok((patient, sharing))
}

impl PostgresStore {
    /// The rest of an inbound text once claimed: decide, write, and commit.
    #[allow(clippy::too_many_arguments)]
    async fn decide_and_write(
        &self,
        tx: &PipelinedTransaction,
        audit: &Audit,
        inbound: &NewInbound,
        practice: Option<Row>,
        patient: Option<Row>,
        decide: InboundDecider,
    ) -> StoreResult<InboundOutcome> {
        let c = tx.client();
        let message_id = new_id();
        let practice = practice.map(|row| practice_from_row(&row)).transpose()?;
        let (patient, sharing) =
            patients_on_number(c, inbound, practice.as_ref(), patient, false).await?;
        let throttle = match &inbound.throttle_key {
            Some(key) => super::throttle::lock_throttle(c, key).await?,
            None => None,
        };
        let mut context = InboundContext {
            practice,
            patient,
            sharing,
            message_id,
            throttle,
        };
        let mut decision = decide(&context);
        if decision.changes_state() && context.patient.is_some() {
            // Decided again with the patients on the number locked and read afresh.
            let statement = c
                .prepare_cached(&INBOUND_PATIENT_LOCKED_SQL)
                .await
                .map_err(map_err)?;
            let routed = c
                .query_opt(&statement, &[&inbound.to_number, &inbound.from_number])
                .await
                .map_err(map_err)?;
            let (patient, sharing) =
                patients_on_number(c, inbound, context.practice.as_ref(), routed, true).await?;
            context.patient = patient;
            context.sharing = sharing;
            decision = decide(&context);
        }
        // What an ordinary text does not need, one statement after the other.
        if let (Some(key), Some(next)) = (&inbound.throttle_key, &decision.throttle) {
            super::throttle::store_throttle(c, key, next).await?;
        }
        // The patient the text belongs to (a family phone's text may belong to another patient
        // on the number than the one it was routed to), and every texting state that changes.
        let routed = crate::messaging::routed_patient(&context, &decision)?;
        let texting_changes = routed
            .zip(decision.texting.as_ref())
            .into_iter()
            .chain(decision.sharing_texting.iter().map(|(id, row)| (*id, row)));
        for (id, texting) in texting_changes {
            c.execute(
                "UPDATE patients SET texting_status = $2, texting_attempts_left = $3,
                     texting_expires_at = $4, texting_updated_at = $5
                 WHERE id = $1",
                &[
                    &id,
                    &texting.status,
                    &texting.attempts_left,
                    &texting.expires_at,
                    &texting.updated_at,
                ],
            )
            .await
            .map_err(map_err)?;
        }
        if decision.notifications.iter().any(|n| n.email.is_some()) {
            super::signals::notify_work(c).await?;
            for n in &decision.notifications {
                if let Some(email) = &n.email {
                    super::emails::insert_email(c, audit.at, n, email).await?;
                }
            }
        }
        let opted_out_at = context
            .practice
            .as_ref()
            .filter(|_| decision.opted_out)
            .map(|p| p.sms_number.as_str());
        if let Some(practice_number) = opted_out_at {
            cancel_queued(c, practice_number, &inbound.from_number, audit.at).await?;
        }
        let mut enqueued = Vec::with_capacity(decision.replies.len());
        for reply in &decision.replies {
            enqueued.push(insert_outbox(c, reply, audit.at).await?.id);
        }
        if opted_out_at.is_some() {
            // The answers to this text (the STOP confirmation) are the only texts that may still
            // go to the number.
            c.execute(
                "UPDATE outbox SET opt_out_reply = true WHERE id = ANY($1) AND to_number = $2",
                &[&enqueued, &inbound.from_number],
            )
            .await
            .map_err(map_err)?;
        }
        // Then the message, its feed rows, the audit row and COMMIT in one batch. Their statements
        // were prepared before the transaction began, so each is sent when first polled, before
        // the COMMIT behind it.
        let feed: Vec<&NewNotification> = decision
            .notifications
            .iter()
            .filter(|n| n.in_feed)
            .collect();
        let ids: Vec<Uuid> = feed.iter().map(|_| new_id()).collect();
        let users: Vec<Uuid> = feed.iter().map(|n| n.user_id).collect();
        let practices: Vec<Uuid> = feed.iter().map(|n| n.practice_id).collect();
        let patients: Vec<Option<Uuid>> = feed.iter().map(|n| n.patient_id).collect();
        let kinds: Vec<&str> = feed.iter().map(|n| n.kind.as_str()).collect();
        let summaries: Vec<&str> = feed.iter().map(|n| n.summary.as_str()).collect();
        let event = AuditEvent {
            customer_id: context.practice.as_ref().map(|p| p.customer_id),
            action: "message.inbound",
            target_type: "message",
            target_id: Some(message_id.to_string()),
            patient_id: routed,
        };
        let body = decision.keep_body.then_some(inbound.body.as_str());
        let redacted = !decision.keep_body;
        let practice_id = context.practice.as_ref().map(|p| p.id);
        let patient_id = routed;
        let (message, _, _, _) = tokio::try_join!(
            biased;
            async {
                let statement = c.prepare_cached(&INBOUND_INSERT_SQL).await.map_err(map_err)?;
                c.query_one(
                    &statement,
                    &[
                        &message_id,
                        &practice_id,
                        &patient_id,
                        &body,
                        &redacted,
                        &inbound.carrier,
                        &inbound.carrier_sid,
                        &inbound.from_number,
                        &inbound.to_number,
                        &inbound.num_segments,
                        &audit.at,
                        &decision.flag,
                    ],
                )
                .await
                .map_err(map_err)
            },
            async {
                if feed.is_empty() {
                    return Ok(0);
                }
                let statement = c
                    .prepare_cached(INBOUND_NOTIFICATIONS_SQL)
                    .await
                    .map_err(map_err)?;
                c.execute(
                    &statement,
                    &[&ids, &users, &practices, &patients, &kinds, &summaries, &audit.at],
                )
                .await
                .map_err(map_err)
            },
            insert_audit(c, audit, &event),
            async { c.batch_execute("COMMIT").await.map_err(map_err) },
        )?;
        let message = message_from_row(&message);
        Ok(InboundOutcome::Recorded {
            message: Box::new(message),
            enqueued,
        })
    }
}

#[async_trait]
impl Messaging for PostgresStore {
    async fn enqueue_sms(&self, audit: &Audit, new: NewOutbound) -> StoreResult<Outbound> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let outbound = insert_outbox(&tx, &new, audit.at).await?;
        let customer_id: Option<Uuid> = match new.practice_id {
            Some(practice_id) => tx
                .query_opt(
                    "SELECT customer_id FROM practices WHERE id = $1",
                    &[&practice_id],
                )
                .await
                .map_err(map_err)?
                .map(|r| r.get(0)),
            None => None,
        };
        let event = AuditEvent {
            customer_id,
            action: "message.enqueue",
            target_type: "outbox",
            target_id: Some(outbound.id.to_string()),
            patient_id: new.patient_id,
        };
        insert_audit(&tx, audit, &event).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(outbound)
    }

    async fn config_version(&self) -> StoreResult<i64> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(CONFIG_VERSION_SQL)
            .await
            .map_err(map_err)?;
        let row = client.query_one(&statement, &[]).await.map_err(map_err)?;
        Ok(row.get(0))
    }

    async fn record_inbound_checked(
        &self,
        audit: &Audit,
        inbound: NewInbound,
        config_version: Option<i64>,
        decide: InboundDecider,
    ) -> StoreResult<InboundOutcome> {
        let tx = PipelinedTransaction {
            client: Some(self.client().await?),
            open: true,
        };
        // Statements that do not depend on each other's answers are sent together:
        // tokio-postgres pipelines futures polled at once on one client, `biased` polls them (and
        // so sends them) in the order listed, and the server runs them in the order sent. Every
        // statement is prepared (once per connection) before the batch that runs it, so that
        // none waits for its preparation while a later one of the batch goes ahead. An ordinary
        // text takes two round trips: BEGIN, routing, the repeat check and the lock of its
        // patient; then the message as decided, what goes with it, and COMMIT.
        let c = tx.client();
        let (_, _, _, _, _, _, _) = tokio::try_join!(
            biased;
            c.prepare_cached(CONFIG_VERSION_SQL),
            c.prepare_cached(&INBOUND_PRACTICE_SQL),
            c.prepare_cached(INBOUND_EXISTING_SQL),
            c.prepare_cached(&INBOUND_PATIENT_SQL),
            c.prepare_cached(&INBOUND_INSERT_SQL),
            c.prepare_cached(INBOUND_NOTIFICATIONS_SQL),
            c.prepare_cached(super::AUDIT_INSERT_SQL),
        )
        .map_err(map_err)?;
        let routed = tokio::try_join!(
            biased;
            c.batch_execute("BEGIN"),
            async {
                let statement = c.prepare_cached(CONFIG_VERSION_SQL).await?;
                c.query_one(&statement, &[]).await
            },
            async {
                let statement = c.prepare_cached(&INBOUND_PRACTICE_SQL).await?;
                c.query_opt(&statement, &[&inbound.to_number]).await
            },
            async {
                let statement = c.prepare_cached(INBOUND_EXISTING_SQL).await?;
                c.query_opt(&statement, &[&inbound.carrier, &inbound.carrier_sid])
                    .await
            },
            async {
                let statement = c.prepare_cached(&INBOUND_PATIENT_SQL).await?;
                c.query_opt(&statement, &[&inbound.to_number, &inbound.from_number])
                    .await
            },
        );
        let (_, current_version, practice, existing, patient) = match routed {
            Ok(routed) => routed,
            Err(error) => {
                tx.rollback().await;
                return Err(map_err(error));
            }
        };
        let current_version: i64 = current_version.get(0);
        if config_version.is_some_and(|expected| expected != current_version) {
            tx.rollback().await;
            return Err(StoreError::Conflict {
                constraint: CONFIG_CHANGED.into(),
            });
        }
        if let Some(existing) = existing {
            tx.rollback().await;
            return Ok(InboundOutcome::Duplicate {
                message_id: existing.get(0),
            });
        }
        match self
            .decide_and_write(&tx, audit, &inbound, practice, patient, decide)
            .await
        {
            Ok(outcome) => {
                tx.committed();
                if let InboundOutcome::Recorded { .. } = &outcome {
                    self.feed_signaller.signal_soon(&self.pool);
                }
                Ok(outcome)
            }
            // A repeat delivered at the same moment was recorded first: this one changes nothing.
            Err(StoreError::Conflict { constraint })
                if constraint == "messages_carrier_carrier_sid_key" =>
            {
                tx.rollback().await;
                let client = self.client().await?;
                let statement = client
                    .prepare_cached(INBOUND_EXISTING_SQL)
                    .await
                    .map_err(map_err)?;
                let existing = client
                    .query_one(&statement, &[&inbound.carrier, &inbound.carrier_sid])
                    .await
                    .map_err(map_err)?;
                Ok(InboundOutcome::Duplicate {
                    message_id: existing.get(0),
                })
            }
            Err(error) => {
                tx.rollback().await;
                Err(error)
            }
        }
    }

    async fn apply_carrier_status(
        &self,
        audit: &Audit,
        update: CarrierStatusUpdate,
        replaces: StatusRule,
    ) -> StoreResult<StatusOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let Some(row) = tx
            .query_opt(
                &format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE carrier_sid = $1
                     ORDER BY created_at LIMIT 1 FOR UPDATE"
                ),
                &[&update.carrier_sid],
            )
            .await
            .map_err(map_err)?
        else {
            tx.rollback().await.map_err(map_err)?;
            return Ok(StatusOutcome::Unknown);
        };
        let outbound = outbound_from_row(&row)?;
        let current = outbound.carrier_status.as_deref().unwrap_or("queued");
        let applied = replaces(current, &update.status);
        if applied {
            let failure_note = format!("the carrier reported the message {}", update.status);
            tx.execute(
                "UPDATE outbox
                 SET carrier_status = $2, error_code = COALESCE($3, error_code),
                     state = CASE WHEN $4 AND state <> 'sending' THEN 'failed' ELSE state END,
                     last_error = CASE WHEN $4 THEN $5 ELSE last_error END,
                     updated_at = $6
                 WHERE id = $1",
                &[
                    &outbound.id,
                    &update.status,
                    &update.error_code,
                    &update.is_failure,
                    &failure_note,
                    &audit.at,
                ],
            )
            .await
            .map_err(map_err)?;
            sync_message(&tx, outbound.id, audit.at).await?;
        }
        let opted_out_patients = if update.opted_out {
            opt_out(&tx, audit, &outbound.from_number, &outbound.to_number).await?
        } else {
            0
        };
        tx.commit().await.map_err(map_err)?;
        Ok(StatusOutcome::Known {
            outbox_id: outbound.id,
            applied,
            opted_out_patients,
        })
    }

    async fn park_status(
        &self,
        update: &CarrierStatusUpdate,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO early_statuses (carrier_sid, status, is_failure, error_code, opted_out, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                &[
                    &update.carrier_sid,
                    &update.status,
                    &update.is_failure,
                    &update.error_code,
                    &update.opted_out,
                    &at,
                ],
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn parked_statuses(&self, carrier_sid: &str) -> StoreResult<Vec<CarrierStatusUpdate>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT carrier_sid, status, is_failure, error_code, opted_out FROM early_statuses
                 WHERE carrier_sid = $1 ORDER BY received_at, status",
                &[&carrier_sid],
            )
            .await
            .map_err(map_err)?;
        Ok(rows
            .iter()
            .map(|r| CarrierStatusUpdate {
                carrier_sid: r.get(0),
                status: r.get(1),
                is_failure: r.get(2),
                error_code: r.get(3),
                opted_out: r.get(4),
            })
            .collect())
    }

    async fn unpark_status(&self, carrier_sid: &str, status: &str) -> StoreResult<()> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM early_statuses WHERE carrier_sid = $1 AND status = $2",
                &[&carrier_sid, &status],
            )
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn take_unsettled_sends(
        &self,
        outcomes: &[String],
        sent_after: DateTime<Utc>,
        sent_before: DateTime<Utc>,
        checked_before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<(Uuid, String)>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "UPDATE outbox o SET status_checked_at = $5
                 FROM (SELECT id FROM outbox
                       WHERE state = 'sent' AND carrier_sid IS NOT NULL
                         AND sent_at > $2 AND sent_at < $3
                         AND (carrier_status IS NULL OR carrier_status <> ALL($1))
                         AND (status_checked_at IS NULL OR status_checked_at < $4)
                       ORDER BY sent_at LIMIT $6
                       FOR UPDATE SKIP LOCKED) due
                 WHERE o.id = due.id
                 RETURNING o.id, o.carrier_sid, o.sent_at",
                &[
                    &outcomes,
                    &sent_after,
                    &sent_before,
                    &checked_before,
                    &now,
                    &i64::from(limit),
                ],
            )
            .await
            .map_err(map_err)?;
        let mut due: Vec<(DateTime<Utc>, Uuid, String)> = rows
            .iter()
            .map(|r| (r.get(2), r.get(0), r.get(1)))
            .collect();
        due.sort();
        Ok(due.into_iter().map(|(_, id, sid)| (id, sid)).collect())
    }

    async fn forget_parked_statuses(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM early_statuses WHERE received_at < $1",
                &[&before],
            )
            .await
            .map_err(map_err)
    }

    async fn opt_out_number(
        &self,
        audit: &Audit,
        practice_number: &str,
        patient_number: &str,
    ) -> StoreResult<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let changed = opt_out(&tx, audit, practice_number, patient_number).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(changed)
    }

    async fn claim_outbound(&self, request: ClaimRequest) -> StoreResult<Claim> {
        let now = request.now;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;

        // A claim that ran out after it had already been recovered once: give up on the row.
        let abandoned = tx
            .query(
                "UPDATE outbox
                 SET state = 'failed', claimed_until = NULL, last_error = $2, updated_at = $1
                 WHERE state = 'sending' AND claimed_until <= $1 AND recovered >= 1
                 RETURNING id",
                &[&now, &ABANDONED_NOTE],
            )
            .await
            .map_err(map_err)?;
        for row in &abandoned {
            sync_message(&tx, row.get(0), now).await?;
        }

        let horizon_end = now + request.horizon;
        let per_sender = per_sender_cap(&request);
        let candidates = tx
            .query(
                &format!(
                    "WITH due AS (
                         SELECT o.id, row_number() OVER (
                                    PARTITION BY o.from_number
                                    ORDER BY o.priority DESC, o.next_attempt_at, o.id) AS rn
                         FROM outbox o
                         WHERE {DUE}
                           AND NOT EXISTS (SELECT 1 FROM outbox_senders s
                                           WHERE s.from_number = o.from_number AND s.next_slot_at >= $2)
                     )
                     SELECT o.id, o.from_number FROM outbox o JOIN due ON due.id = o.id
                     WHERE due.rn <= $3 AND {DUE}
                     ORDER BY o.priority DESC, o.next_attempt_at, o.id
                     LIMIT $4
                     FOR UPDATE OF o SKIP LOCKED"
                ),
                &[&now, &horizon_end, &per_sender, &i64::from(request.limit)],
            )
            .await
            .map_err(map_err)?;
        let candidates: Vec<(Uuid, String)> =
            candidates.iter().map(|r| (r.get(0), r.get(1))).collect();

        let mut sends = Vec::new();
        let mut cancelled = 0;
        // Sender rows are locked in sorted order so two claimers never deadlock on them.
        for (sender, ids) in group_by_sender(&candidates) {
            tx.execute(
                "INSERT INTO outbox_senders (from_number, next_slot_at) VALUES ($1, $2)
                 ON CONFLICT (from_number) DO NOTHING",
                &[&sender, &now],
            )
            .await
            .map_err(map_err)?;
            let next: DateTime<Utc> = tx
                .query_one(
                    "SELECT next_slot_at FROM outbox_senders WHERE from_number = $1 FOR UPDATE",
                    &[&sender],
                )
                .await
                .map_err(map_err)?
                .get(0);
            let mut slot = next.max(now);
            for id in ids {
                if slot >= horizon_end {
                    break;
                }
                let claimed_until = slot + request.lease;
                // Opt-out is read again here, with the row locked: a text queued by a
                // transaction that raced the STOP is cancelled below instead of sent.
                let row = tx
                    .query_opt(
                        &format!(
                            "UPDATE outbox o
                             SET state = 'sending', attempts = attempts + 1,
                                 claimed_until = $3, claimed_by = $4,
                                 recovered = recovered + CASE WHEN state = 'sending' THEN 1 ELSE 0 END,
                                 last_error = CASE WHEN state = 'sending' THEN $5 ELSE last_error END,
                                 updated_at = $1
                             WHERE id = $2 AND {DUE} AND NOT {OPTED_OUT_RULE}
                             RETURNING {OUTBOX_COLUMNS}"
                        ),
                        &[&now, &id, &claimed_until, &request.worker, &RECOVERED_NOTE],
                    )
                    .await
                    .map_err(map_err)?;
                match row {
                    Some(row) => {
                        sends.push(ClaimedSend {
                            outbound: outbound_from_row(&row)?,
                            send_at: slot,
                        });
                        slot += request.sender_interval;
                    }
                    None => cancelled += cancel_opted_out(&tx, id, now).await?,
                }
            }
            tx.execute(
                "UPDATE outbox_senders SET next_slot_at = $2 WHERE from_number = $1",
                &[&sender, &slot],
            )
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        sort_sends(&mut sends);
        Ok(Claim {
            sends,
            abandoned: abandoned.len() as u64,
            cancelled,
        })
    }

    async fn record_send_accepted(
        &self,
        claimed: &Outbound,
        carrier: &str,
        sid: &str,
        status: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let changed = tx
            .execute(
                "UPDATE outbox
                 SET state = 'sent', claimed_until = NULL, carrier = $3, carrier_sid = $4,
                     carrier_status = $5, sent_at = $6, updated_at = $6
                 WHERE id = $1 AND state = 'sending' AND attempts = $2",
                &[
                    &claimed.id,
                    &claimed.attempts,
                    &carrier,
                    &sid,
                    &status,
                    &now,
                ],
            )
            .await
            .map_err(map_err)?;
        if changed > 0 {
            sync_message(&tx, claimed.id, now).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(changed > 0)
    }

    async fn record_send_retry(
        &self,
        claimed: &Outbound,
        failure: SendFailure,
        next_attempt_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let client = self.client().await?;
        let changed = client
            .execute(
                "UPDATE outbox
                 SET state = 'queued', claimed_until = NULL, next_attempt_at = $3,
                     error_code = $4, last_error = $5, updated_at = $6
                 WHERE id = $1 AND state = 'sending' AND attempts = $2",
                &[
                    &claimed.id,
                    &claimed.attempts,
                    &next_attempt_at,
                    &failure.error_code,
                    &failure.message,
                    &now,
                ],
            )
            .await
            .map_err(map_err)?;
        Ok(changed > 0)
    }

    async fn record_send_failed(
        &self,
        audit: &Audit,
        claimed: &Outbound,
        failure: SendFailure,
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let changed = tx
            .execute(
                "UPDATE outbox
                 SET state = 'failed', claimed_until = NULL, error_code = $3, last_error = $4,
                     updated_at = $5
                 WHERE id = $1 AND state = 'sending' AND attempts = $2",
                &[
                    &claimed.id,
                    &claimed.attempts,
                    &failure.error_code,
                    &failure.message,
                    &audit.at,
                ],
            )
            .await
            .map_err(map_err)?;
        if changed > 0 {
            sync_message(&tx, claimed.id, audit.at).await?;
            if failure.opted_out {
                opt_out(&tx, audit, &claimed.from_number, &claimed.to_number).await?;
            }
        }
        tx.commit().await.map_err(map_err)?;
        Ok(changed > 0)
    }

    async fn outbox_next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT least(
                     (SELECT min(next_attempt_at) FROM outbox WHERE state = 'queued'),
                     (SELECT min(claimed_until) FROM outbox WHERE state = 'sending'))",
                &[],
            )
            .await
            .map_err(map_err)?;
        Ok(row.get(0))
    }

    async fn outbox_stats(&self) -> StoreResult<OutboxStats> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT priority, count(*), min(created_at) FROM outbox
                 WHERE state IN ('queued', 'sending') GROUP BY priority",
                &[],
            )
            .await
            .map_err(map_err)?;
        Ok(OutboxStats::from_priorities(
            rows.iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect(),
        ))
    }

    async fn get_outbound(&self, id: Uuid) -> StoreResult<Outbound> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        outbound_from_row(&row)
    }

    async fn list_outbox(&self, page: Page) -> StoreResult<Paged<Outbound>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox
                     WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2"
                ),
                &[&page.after, &page.fetch_limit()],
            )
            .await
            .map_err(map_err)?;
        let items = rows
            .iter()
            .map(outbound_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Paged::from_rows(items, page, |o| o.id))
    }

    async fn get_message(&self, id: Uuid) -> StoreResult<Message> {
        let client = self.client().await?;
        load_message(&client, id).await
    }

    async fn find_message_by_carrier_sid(&self, carrier: &str, sid: &str) -> StoreResult<Message> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE carrier = $1 AND carrier_sid = $2"
                ),
                &[&carrier, &sid],
            )
            .await
            .map_err(map_err)?
            .ok_or(StoreError::NotFound)?;
        Ok(message_from_row(&row))
    }
}
