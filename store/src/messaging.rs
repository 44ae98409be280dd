//! Messaging: the conversation's messages, the transactional outbox and the carrier's view of both.
//!
//! Owns three use cases, written once over [`crate::sql::Tx`] (inbound texts are
//! [`crate::Inbound`]'s):
//!
//! - queueing outbound texts as outbox rows, standalone ([`Messaging::enqueue_sms`]) or inside
//!   another aggregate's transaction (the crate-private [`insert_outbox`]);
//! - the dispatcher's side of the outbox: claiming due rows under a lease with per-number send
//!   slots (`claims`), and recording what the carrier answered;
//! - applying carrier status callbacks without ever moving a status backwards, and opting a number
//!   out when the carrier says it has (error 21610).
//!
//! It must never decide business rules: which statuses rank above which, what a body means and
//! what to reply are the caller's, passed in as values or closures. It must never log a body.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use types::{Channel, Direction, MessageStatus};
use uuid::Uuid;

use crate::rows::{insert_audit, patient_event};
use crate::sql::{Db, Row, ToArg, Tx};
use crate::*;

/// Outbox priorities: due rows go out highest first, so a critical alert never waits behind a
/// backlog of routine texts.
pub mod priority {
    /// A critical reading's alert to staff.
    pub const ALERT: i16 = 100;
    /// Replies of the opt-in flow (confirmation, retry prompt, opt-out confirmation, help).
    pub const REPLY: i16 = 50;
    /// Notifications to staff (new patient message, reminders).
    pub const NOTIFY: i16 = 30;
    /// Everything else (conversation messages typed by staff, bulk texts).
    pub const ROUTINE: i16 = 10;
    /// The one confirmation of a STOP: at the top with alerts, so it goes out within a send slot
    /// or two and never behind earlier texts (those to the number are cancelled anyway).
    pub const OPT_OUT_CONFIRMATION: i16 = 100;
}

/// Why an outbox row was cancelled (kept on the row and on its conversation message).
pub mod cancel_reason {
    /// The number opted out before the text went out.
    pub const OPTED_OUT: &str = "opted_out";
}

/// The carrier name stored with messages the Twilio webhooks delivered.
pub const CARRIER_TWILIO: &str = "twilio";

/// A text to queue. `from_number` is the practice's number (or a Messaging Service SID).
#[derive(Clone)]
pub struct NewOutbound {
    pub practice_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub from_number: String,
    pub to_number: String,
    pub body: String,
    pub priority: i16,
    /// Also write an outbound conversation message whose status follows the send.
    pub record_message: bool,
    /// The staff member who wrote it (for the conversation message), if any.
    pub author_user_id: Option<Uuid>,
}

impl fmt::Debug for NewOutbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewOutbound")
            .field("practice_id", &self.practice_id)
            .field("patient_id", &self.patient_id)
            .field("priority", &self.priority)
            .field("body_chars", &self.body.chars().count())
            .finish_non_exhaustive()
    }
}

/// One outbox row.
#[derive(Clone, PartialEq, Serialize)]
pub struct Outbound {
    pub id: Uuid,
    pub message_id: Option<Uuid>,
    pub practice_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub to_number: String,
    pub from_number: String,
    pub body: String,
    pub priority: i16,
    pub state: OutboxState,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub claimed_until: Option<DateTime<Utc>>,
    pub claimed_by: Option<String>,
    /// How many times a lost claim (a crash between claim and answer) made it go out again.
    pub recovered: i32,
    pub carrier: Option<String>,
    pub carrier_sid: Option<String>,
    pub carrier_status: Option<String>,
    pub error_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// Why the row was cancelled ([`cancel_reason`]); `None` unless `Cancelled`.
    pub cancel_reason: Option<String>,
    /// An answer to the patient's own text queued while their number is opted out (the STOP
    /// confirmation): the one kind of text that may still go to that number.
    pub opt_out_reply: bool,
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbound")
            .field("id", &self.id)
            .field("priority", &self.priority)
            .field("state", &self.state)
            .field("attempts", &self.attempts)
            .field("recovered", &self.recovered)
            .field("carrier_sid", &self.carrier_sid)
            .field("carrier_status", &self.carrier_status)
            .field("error_code", &self.error_code)
            .field("cancel_reason", &self.cancel_reason)
            .field("body_chars", &self.body.chars().count())
            .finish_non_exhaustive()
    }
}

/// One conversation message.
#[derive(Clone, PartialEq, Serialize)]
pub struct Message {
    pub id: Uuid,
    pub practice_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub channel: Channel,
    pub direction: Direction,
    /// `None` when redacted.
    pub body: Option<String>,
    /// The body was dropped because it may hold a date of birth.
    pub redacted: bool,
    pub author_user_id: Option<Uuid>,
    pub status: MessageStatus,
    pub carrier: Option<String>,
    pub carrier_sid: Option<String>,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    pub error_code: Option<i32>,
    pub num_segments: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set for staff attention, e.g. `possible_opt_out`.
    pub flag: Option<String>,
    /// Why the message has its status where the status alone does not say (`opted_out` for a
    /// `cancelled` text).
    pub status_reason: Option<String>,
    /// An outbound text that went out again after a claim on it was lost (its gateway stopped
    /// mid-send): the patient may have received it twice.
    pub recovered: bool,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("id", &self.id)
            .field("patient_id", &self.patient_id)
            .field("direction", &self.direction)
            .field("redacted", &self.redacted)
            .field("status", &self.status)
            .field("carrier_sid", &self.carrier_sid)
            .field("body_chars", &self.body.as_ref().map(|b| b.chars().count()))
            .finish_non_exhaustive()
    }
}

/// A status callback, as plain values.
#[derive(Debug, Clone)]
pub struct CarrierStatusUpdate {
    pub carrier_sid: String,
    /// The carrier's status name.
    pub status: String,
    /// Whether the status is a failure to deliver (`failed`, `undelivered`): the row fails.
    pub is_failure: bool,
    pub error_code: Option<i32>,
    /// The carrier says the recipient opted out (error 21610): opt the patient out for this
    /// practice's number.
    pub opted_out: bool,
}

/// Whether `incoming` may replace `current` (the caller's status ranking).
pub type StatusRule = fn(current: &str, incoming: &str) -> bool;

/// What [`Messaging::apply_carrier_status`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusOutcome {
    /// No outbox row has this carrier id; nothing changed.
    Unknown,
    /// Known, and the status was applied (or ignored as older than the stored one).
    Known {
        outbox_id: Uuid,
        applied: bool,
        /// Patients moved to `opted_out` by this callback.
        opted_out_patients: u64,
    },
}

/// Asks for due rows. Times come from the caller's clock.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// Who claims: the instance id (see [`crate::Instances`]), kept on the row so that the claim
    /// is released at once when that instance is gone.
    pub worker: String,
    pub now: DateTime<Utc>,
    /// How long a claim holds after its send slot; longer than any carrier call can take.
    pub lease: Duration,
    /// Most rows to claim at once.
    pub limit: u32,
    /// The gap between two sends of one number (1 s / SMS_SENDER_MPS).
    pub sender_interval: Duration,
    /// Slots are reserved at most this far ahead, so rows arriving later (an alert) can still go
    /// out before the rest of a backlog.
    pub horizon: Duration,
}

/// A claimed row and the slot it may go out at (never earlier).
#[derive(Debug, Clone)]
pub struct ClaimedSend {
    pub outbound: Outbound,
    pub send_at: DateTime<Utc>,
}

/// What a claim returned.
#[derive(Debug, Clone, Default)]
pub struct Claim {
    pub sends: Vec<ClaimedSend>,
    /// Rows failed because a claim on them ran out a second time.
    pub abandoned: u64,
    /// Due rows cancelled instead of claimed because their number opted out.
    pub cancelled: u64,
}

/// Why a send did not succeed.
#[derive(Debug, Clone)]
pub struct SendFailure {
    pub error_code: Option<i32>,
    /// Safe to store and show: the carrier's error message, never the body.
    pub message: String,
    /// Error 21610: opt the patient out for this practice's number in the same transaction.
    pub opted_out: bool,
}

/// Outbox depth for the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxStats {
    /// Rows queued or sending.
    pub depth: i64,
    /// When the oldest of those was created.
    pub oldest_created_at: Option<DateTime<Utc>>,
    /// `depth` per priority, highest priority first; priorities with no row are left out.
    pub depth_by_priority: Vec<(i16, i64)>,
}

impl OutboxStats {
    /// Adds up rows of `(priority, rows, oldest created_at)`, one per priority.
    pub fn from_priorities(rows: Vec<(i16, i64, Option<DateTime<Utc>>)>) -> OutboxStats {
        let mut stats = OutboxStats {
            depth: 0,
            oldest_created_at: None,
            depth_by_priority: Vec::with_capacity(rows.len()),
        };
        for (priority, depth, oldest) in rows {
            stats.depth += depth;
            stats.oldest_created_at = match (stats.oldest_created_at, oldest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            stats.depth_by_priority.push((priority, depth));
        }
        stats
            .depth_by_priority
            .sort_by_key(|&(priority, _)| std::cmp::Reverse(priority));
        stats
    }
}

#[async_trait]
pub trait Messaging: Send + Sync {
    /// Queues one text (and its conversation message when asked), with an audit row.
    async fn enqueue_sms(&self, audit: &Audit, new: NewOutbound) -> StoreResult<Outbound>;

    /// Applies a status callback to the outbox row with this carrier id and its conversation
    /// message: the status only if `replaces(stored, incoming)`; a failure fails the row with its
    /// error code; `opted_out` opts the recipient out for the sending practice (always, even when
    /// the status itself is stale). One transaction, with an audit row when a patient opts out.
    async fn apply_carrier_status(
        &self,
        audit: &Audit,
        update: CarrierStatusUpdate,
        replaces: StatusRule,
    ) -> StoreResult<StatusOutcome>;

    /// Keeps a status whose send is not recorded yet (the carrier called back first). Keeping
    /// the same status of the same id twice keeps it once.
    async fn park_status(&self, update: &CarrierStatusUpdate, at: DateTime<Utc>)
    -> StoreResult<()>;
    /// The statuses kept for this carrier id, in the order they arrived.
    async fn parked_statuses(&self, carrier_sid: &str) -> StoreResult<Vec<CarrierStatusUpdate>>;
    /// Removes one kept status (once it has been applied).
    async fn unpark_status(&self, carrier_sid: &str, status: &str) -> StoreResult<()>;
    /// Sent rows whose carrier status is not one of `outcomes`, sent between `sent_after` and
    /// `sent_before` and not checked since `checked_before`: `(outbox id, carrier id)`, oldest
    /// first. Each is marked checked at `now`, so one pass of any instance takes it.
    async fn take_unsettled_sends(
        &self,
        outcomes: &[String],
        sent_after: DateTime<Utc>,
        sent_before: DateTime<Utc>,
        checked_before: DateTime<Utc>,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<(Uuid, String)>>;

    /// Forgets kept statuses received before `before` (ids that never became ours).
    async fn forget_parked_statuses(&self, before: DateTime<Utc>) -> StoreResult<u64>;

    /// Moves every patient of the practice whose number is `practice_number` and whose mobile
    /// phone is `patient_number` to `opted_out` (attempts 0, no window), with an audit row each.
    /// Returns how many changed.
    async fn opt_out_number(
        &self,
        audit: &Audit,
        practice_number: &str,
        patient_number: &str,
    ) -> StoreResult<u64>;

    /// Claims due rows: queued rows whose `next_attempt_at` has come, and rows whose claim ran out
    /// (sent again once, `recovered` counted; a second run-out fails them instead). A due row
    /// whose number has opted out meanwhile (the store's opted-out rule) is cancelled instead, in the
    /// claim's transaction: a text queued by a transaction that raced the STOP is never sent. Highest
    /// priority first; each row gets its number's next free send slot, 1/MPS apart, reserved in
    /// the store so that several gateways share one rate. Numbers whose slots are taken beyond
    /// the horizon are skipped. On PostgreSQL rows locked by another claimer are skipped.
    async fn claim_outbound(&self, request: ClaimRequest) -> StoreResult<Claim>;

    /// The carrier accepted the claimed send, answering its first `status`. `false` if the claim
    /// was lost meanwhile.
    async fn record_send_accepted(
        &self,
        claimed: &Outbound,
        carrier: &str,
        sid: &str,
        status: MessageStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// A temporary failure: queue the row again for `next_attempt_at`.
    async fn record_send_retry(
        &self,
        claimed: &Outbound,
        failure: SendFailure,
        next_attempt_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// A permanent failure (or the last attempt): the row and its message fail with the carrier's
    /// code; `failure.opted_out` also opts the recipient out, in the same transaction.
    async fn record_send_failed(
        &self,
        audit: &Audit,
        claimed: &Outbound,
        failure: SendFailure,
    ) -> StoreResult<bool>;

    /// When the next row becomes due (a retry time or a claim that runs out), if any is waiting.
    async fn outbox_next_due(&self) -> StoreResult<Option<DateTime<Utc>>>;

    async fn outbox_stats(&self) -> StoreResult<OutboxStats>;

    async fn get_outbound(&self, id: Uuid) -> StoreResult<Outbound>;

    /// Outbox rows in creation order (the dev transport's view of what was "sent").
    async fn list_outbox(&self, page: Page) -> StoreResult<Paged<Outbound>>;

    async fn get_message(&self, id: Uuid) -> StoreResult<Message>;

    async fn find_message_by_carrier_sid(&self, carrier: &str, sid: &str) -> StoreResult<Message>;
}

/// The error recorded on a row cancelled because its number opted out.
pub(crate) const CANCELLED_NOTE: &str = "cancelled: the recipient opted out before it was sent";

pub(crate) const OUTBOX_COLUMNS: &str =
    "id, message_id, practice_id, patient_id, to_number, from_number, body,
    priority, state, attempts, next_attempt_at, claimed_until, claimed_by, recovered, carrier,
    carrier_sid, carrier_status, error_code, last_error, created_at, updated_at, sent_at,
    cancel_reason, opt_out_reply";

pub(crate) const MESSAGE_COLUMNS: &str =
    "id, practice_id, patient_id, channel, direction, body, redacted,
    author_user_id, status, carrier, carrier_sid, from_number, to_number, error_code, num_segments,
    created_at, updated_at, flag, status_reason, recovered";

pub(crate) fn outbound_from_row(row: &Row) -> StoreResult<Outbound> {
    Ok(Outbound {
        id: row.get(0)?,
        message_id: row.get(1)?,
        practice_id: row.get(2)?,
        patient_id: row.get(3)?,
        to_number: row.get(4)?,
        from_number: row.get(5)?,
        body: row.get(6)?,
        priority: row.get(7)?,
        state: row.get(8)?,
        attempts: row.get(9)?,
        next_attempt_at: row.get(10)?,
        claimed_until: row.get(11)?,
        claimed_by: row.get(12)?,
        recovered: row.get(13)?,
        carrier: row.get(14)?,
        carrier_sid: row.get(15)?,
        carrier_status: row.get(16)?,
        error_code: row.get(17)?,
        last_error: row.get(18)?,
        created_at: row.get(19)?,
        updated_at: row.get(20)?,
        sent_at: row.get(21)?,
        cancel_reason: row.get(22)?,
        opt_out_reply: row.get(23)?,
    })
}

pub(crate) fn message_from_row(row: &Row) -> StoreResult<Message> {
    Ok(Message {
        id: row.get(0)?,
        practice_id: row.get(1)?,
        patient_id: row.get(2)?,
        channel: row.get(3)?,
        direction: row.get(4)?,
        body: row.get(5)?,
        redacted: row.get(6)?,
        author_user_id: row.get(7)?,
        status: row.get(8)?,
        carrier: row.get(9)?,
        carrier_sid: row.get(10)?,
        from_number: row.get(11)?,
        to_number: row.get(12)?,
        error_code: row.get(13)?,
        num_segments: row.get(14)?,
        created_at: row.get(15)?,
        updated_at: row.get(16)?,
        flag: row.get(17)?,
        status_reason: row.get(18)?,
        recovered: row.get(19)?,
    })
}

pub(crate) async fn load_message(tx: &Tx<'_>, id: Uuid) -> StoreResult<Message> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1");
    message_from_row(&tx.query_one(&sql, &[id.arg()]).await?)
}

/// Queues one text inside the caller's transaction (and its conversation message when asked),
/// and tells the other instances' dispatchers once it commits.
pub(crate) async fn insert_outbox(
    tx: &Tx<'_>,
    new: &NewOutbound,
    now: DateTime<Utc>,
) -> StoreResult<Outbound> {
    tx.notify_work().await?;
    let message_id = if new.record_message {
        let id = new_id();
        tx.execute(
            "INSERT INTO messages (id, practice_id, patient_id, channel, direction, body, author_user_id,
                                   status, from_number, to_number, created_at, updated_at)
             VALUES ($1, $2, $3, 'sms', 'outbound', $4, $5, 'queued', $6, $7, $8, $8)",
            &[
                id.arg(),
                new.practice_id.arg(),
                new.patient_id.arg(),
                new.body.arg(),
                new.author_user_id.arg(),
                new.from_number.arg(),
                new.to_number.arg(),
                now.arg(),
            ],
        )
        .await?;
        Some(id)
    } else {
        None
    };
    let sql = format!(
        "INSERT INTO outbox (id, message_id, practice_id, patient_id, to_number, from_number, body,
                             priority, next_attempt_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9)
         RETURNING {OUTBOX_COLUMNS}"
    );
    let row = tx
        .query_one(
            &sql,
            &[
                new_id().arg(),
                message_id.arg(),
                new.practice_id.arg(),
                new.patient_id.arg(),
                new.to_number.arg(),
                new.from_number.arg(),
                new.body.arg(),
                new.priority.arg(),
                now.arg(),
            ],
        )
        .await?;
    outbound_from_row(&row)
}

/// Cancels every text still queued to `patient_number` from `practice_number` (reason
/// `opted_out`), inside the caller's transaction, except answers queued with an opt-out (the STOP
/// confirmation). Their conversation messages show `cancelled`. Returns how many.
pub(crate) async fn cancel_queued(
    tx: &Tx<'_>,
    practice_number: &str,
    patient_number: &str,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let ids: Vec<Uuid> = tx
        .column(
            "UPDATE outbox
             SET state = 'cancelled', cancel_reason = $3, last_error = $4, updated_at = $5
             WHERE to_number = $2 AND from_number = $1 AND state = 'queued' AND NOT opt_out_reply
             RETURNING id",
            &[
                practice_number.arg(),
                patient_number.arg(),
                cancel_reason::OPTED_OUT.arg(),
                CANCELLED_NOTE.arg(),
                now.arg(),
            ],
        )
        .await?;
    for id in &ids {
        sync_message(tx, *id, now).await?;
    }
    Ok(ids.len() as u64)
}

/// Makes the conversation message of an outbox row follow it: the carrier's status when known,
/// else `failed`, `cancelled` (with the reason) or `queued`, with the carrier's id and error code.
pub(crate) async fn sync_message(
    tx: &Tx<'_>,
    outbox_id: Uuid,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    tx.execute(
        "UPDATE messages
         SET status = COALESCE(o.carrier_status,
                               CASE WHEN o.state IN ('failed', 'cancelled') THEN o.state ELSE 'queued' END),
             status_reason = o.cancel_reason,
             error_code = o.error_code, carrier = o.carrier, carrier_sid = o.carrier_sid,
             recovered = o.recovered > 0, updated_at = $2
         FROM outbox o
         WHERE o.id = $1 AND messages.id = o.message_id",
        &[outbox_id.arg(), now.arg()],
    )
    .await?;
    Ok(())
}

/// Opts out every patient of the practice whose number is `practice_number` with mobile phone
/// `patient_number`, inside the caller's transaction, with an audit row each, and cancels what
/// is still queued to the number. Returns how many patients changed.
pub(crate) async fn opt_out(
    tx: &Tx<'_>,
    audit: &Audit,
    practice_number: &str,
    patient_number: &str,
) -> StoreResult<u64> {
    let rows = tx
        .query(
            "UPDATE patients
             SET texting_status = 'opted_out', texting_attempts_left = 0,
                 texting_expires_at = NULL, texting_updated_at = $3
             WHERE practice_id IN (SELECT id FROM practices WHERE sms_number = $1)
               AND mobile_phone = $2 AND texting_status <> 'opted_out'
             RETURNING id, (SELECT pr.customer_id FROM practices pr WHERE pr.id = patients.practice_id)",
            &[practice_number.arg(), patient_number.arg(), audit.at.arg()],
        )
        .await?;
    for row in &rows {
        let event = patient_event(row.get(1)?, "patient.texting.carrier_opt_out", row.get(0)?);
        insert_audit(tx, audit, &event).await?;
    }
    cancel_queued(tx, practice_number, patient_number, audit.at).await?;
    Ok(rows.len() as u64)
}

pub(crate) async fn enqueue_sms(
    tx: &Tx<'_>,
    audit: Audit,
    new: NewOutbound,
) -> StoreResult<Outbound> {
    let outbound = insert_outbox(tx, &new, audit.at).await?;
    let customer_id: Option<Uuid> = match new.practice_id {
        Some(practice_id) => {
            let sql = "SELECT customer_id FROM practices WHERE id = $1";
            let row = tx.query_opt(sql, &[practice_id.arg()]).await?;
            row.map(|r| r.get(0)).transpose()?
        }
        None => None,
    };
    let event = AuditEvent {
        customer_id,
        action: "message.enqueue",
        target_type: "outbox",
        target_id: Some(outbound.id.to_string()),
        patient_id: new.patient_id,
    };
    insert_audit(tx, &audit, &event).await?;
    Ok(outbound)
}

async fn apply_carrier_status(
    tx: &Tx<'_>,
    audit: Audit,
    update: CarrierStatusUpdate,
    replaces: StatusRule,
) -> StoreResult<StatusOutcome> {
    let sql = format!(
        "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE carrier_sid = $1
         ORDER BY created_at LIMIT 1{}",
        tx.pick(" FOR UPDATE", "")
    );
    let Some(row) = tx.query_opt(&sql, &[update.carrier_sid.arg()]).await? else {
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
                outbound.id.arg(),
                update.status.arg(),
                update.error_code.arg(),
                update.is_failure.arg(),
                failure_note.arg(),
                audit.at.arg(),
            ],
        )
        .await?;
        sync_message(tx, outbound.id, audit.at).await?;
    }
    let opted_out_patients = if update.opted_out {
        opt_out(tx, &audit, &outbound.from_number, &outbound.to_number).await?
    } else {
        0
    };
    Ok(StatusOutcome::Known {
        outbox_id: outbound.id,
        applied,
        opted_out_patients,
    })
}

/// Takes the sends whose status is due for a check (see [`Messaging::take_unsettled_sends`]);
/// PostgreSQL skips rows another instance is taking at the same moment.
async fn take_unsettled_sends(
    tx: &Tx<'_>,
    outcomes: Vec<String>,
    window: [DateTime<Utc>; 4],
    limit: u32,
) -> StoreResult<Vec<(Uuid, String)>> {
    let [sent_after, sent_before, checked_before, now] = window;
    let limit = i64::from(limit);
    let mut args = vec![
        sent_after.arg(),
        sent_before.arg(),
        checked_before.arg(),
        now.arg(),
        limit.arg(),
    ];
    let settled = tx.in_list(&outcomes, &mut args);
    let sql = format!(
        "UPDATE outbox AS o SET status_checked_at = $4
         FROM (SELECT id AS due_id FROM outbox
               WHERE state = 'sent' AND carrier_sid IS NOT NULL
                 AND sent_at > $1 AND sent_at < $2
                 AND (carrier_status IS NULL OR NOT (carrier_status {settled}))
                 AND (status_checked_at IS NULL OR status_checked_at < $3)
               ORDER BY sent_at LIMIT $5{}) AS due
         WHERE o.id = due.due_id
         RETURNING id, carrier_sid, sent_at",
        tx.pick("\n               FOR UPDATE SKIP LOCKED", "")
    );
    let mut due = tx
        .query(&sql, &args)
        .await?
        .iter()
        .map(|r| Ok((r.get(2)?, r.get(0)?, r.get(1)?)))
        .collect::<StoreResult<Vec<(DateTime<Utc>, Uuid, String)>>>()?;
    due.sort();
    Ok(due.into_iter().map(|(_, id, sid)| (id, sid)).collect())
}

/// Fails a claimed send, and opts its number out when the carrier says it has; `false` if the
/// claim was lost meanwhile.
async fn record_send_failed(
    tx: &Tx<'_>,
    audit: Audit,
    claimed: Outbound,
    failure: SendFailure,
) -> StoreResult<bool> {
    let changed = tx
        .execute(
            "UPDATE outbox
             SET state = 'failed', claimed_until = NULL, error_code = $3, last_error = $4,
                 updated_at = $5
             WHERE id = $1 AND state = 'sending' AND attempts = $2",
            &[
                claimed.id.arg(),
                claimed.attempts.arg(),
                failure.error_code.arg(),
                failure.message.arg(),
                audit.at.arg(),
            ],
        )
        .await?;
    if changed > 0 {
        sync_message(tx, claimed.id, audit.at).await?;
        if failure.opted_out {
            opt_out(tx, &audit, &claimed.from_number, &claimed.to_number).await?;
        }
    }
    Ok(changed > 0)
}

fn parked_from_row(row: &Row) -> StoreResult<CarrierStatusUpdate> {
    Ok(CarrierStatusUpdate {
        carrier_sid: row.get(0)?,
        status: row.get(1)?,
        is_failure: row.get(2)?,
        error_code: row.get(3)?,
        opted_out: row.get(4)?,
    })
}

#[async_trait]
impl<D: Db> Messaging for D {
    async fn enqueue_sms(&self, audit: &Audit, new: NewOutbound) -> StoreResult<Outbound> {
        let audit = audit.clone();
        self.transaction(move |tx| Box::pin(enqueue_sms(tx, audit, new)))
            .await
    }

    async fn apply_carrier_status(
        &self,
        audit: &Audit,
        update: CarrierStatusUpdate,
        replaces: StatusRule,
    ) -> StoreResult<StatusOutcome> {
        let audit = audit.clone();
        self.transaction(move |tx| Box::pin(apply_carrier_status(tx, audit, update, replaces)))
            .await
    }

    async fn park_status(
        &self,
        update: &CarrierStatusUpdate,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let update = update.clone();
        self.autocommit(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "INSERT INTO early_statuses (carrier_sid, status, is_failure, error_code, opted_out, received_at)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                    &[
                        update.carrier_sid.arg(),
                        update.status.arg(),
                        update.is_failure.arg(),
                        update.error_code.arg(),
                        update.opted_out.arg(),
                        at.arg(),
                    ],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn parked_statuses(&self, carrier_sid: &str) -> StoreResult<Vec<CarrierStatusUpdate>> {
        let carrier_sid = carrier_sid.to_string();
        self.autocommit(move |tx| {
            Box::pin(async move {
                let sql = "SELECT carrier_sid, status, is_failure, error_code, opted_out
                           FROM early_statuses WHERE carrier_sid = $1 ORDER BY received_at, status";
                let rows = tx.query(sql, &[carrier_sid.arg()]).await?;
                rows.iter().map(parked_from_row).collect()
            })
        })
        .await
    }

    async fn unpark_status(&self, carrier_sid: &str, status: &str) -> StoreResult<()> {
        let (carrier_sid, status) = (carrier_sid.to_string(), status.to_string());
        self.autocommit(move |tx| {
            Box::pin(async move {
                let sql = "DELETE FROM early_statuses WHERE carrier_sid = $1 AND status = $2";
                tx.execute(sql, &[carrier_sid.arg(), status.arg()]).await?;
                Ok(())
            })
        })
        .await
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
        let outcomes = outcomes.to_vec();
        let window = [sent_after, sent_before, checked_before, now];
        self.autocommit(move |tx| Box::pin(take_unsettled_sends(tx, outcomes, window, limit)))
            .await
    }

    async fn forget_parked_statuses(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                let sql = "DELETE FROM early_statuses WHERE received_at < $1";
                tx.execute(sql, &[before.arg()]).await
            })
        })
        .await
    }

    async fn opt_out_number(
        &self,
        audit: &Audit,
        practice_number: &str,
        patient_number: &str,
    ) -> StoreResult<u64> {
        let audit = audit.clone();
        let (practice_number, patient_number) =
            (practice_number.to_owned(), patient_number.to_owned());
        self.transaction(move |tx| {
            Box::pin(async move { opt_out(tx, &audit, &practice_number, &patient_number).await })
        })
        .await
    }

    async fn claim_outbound(&self, request: ClaimRequest) -> StoreResult<Claim> {
        self.transaction(move |tx| Box::pin(crate::claims::claim_outbound(tx, request)))
            .await
    }

    async fn record_send_accepted(
        &self,
        claimed: &Outbound,
        carrier: &str,
        sid: &str,
        status: MessageStatus,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (id, attempts) = (claimed.id, claimed.attempts);
        let (carrier, sid) = (carrier.to_owned(), sid.to_owned());
        self.transaction(move |tx| {
            Box::pin(async move {
                let changed = tx
                    .execute(
                        "UPDATE outbox
                         SET state = 'sent', claimed_until = NULL, carrier = $3, carrier_sid = $4,
                             carrier_status = $5, sent_at = $6, updated_at = $6
                         WHERE id = $1 AND state = 'sending' AND attempts = $2",
                        &[
                            id.arg(),
                            attempts.arg(),
                            carrier.arg(),
                            sid.arg(),
                            status.arg(),
                            now.arg(),
                        ],
                    )
                    .await?;
                if changed > 0 {
                    sync_message(tx, id, now).await?;
                }
                Ok(changed > 0)
            })
        })
        .await
    }

    async fn record_send_retry(
        &self,
        claimed: &Outbound,
        failure: SendFailure,
        next_attempt_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (id, attempts) = (claimed.id, claimed.attempts);
        self.autocommit(move |tx| {
            Box::pin(async move {
                let changed = tx
                    .execute(
                        "UPDATE outbox
                         SET state = 'queued', claimed_until = NULL, next_attempt_at = $3,
                             error_code = $4, last_error = $5, updated_at = $6
                         WHERE id = $1 AND state = 'sending' AND attempts = $2",
                        &[
                            id.arg(),
                            attempts.arg(),
                            next_attempt_at.arg(),
                            failure.error_code.arg(),
                            failure.message.arg(),
                            now.arg(),
                        ],
                    )
                    .await?;
                Ok(changed > 0)
            })
        })
        .await
    }

    async fn record_send_failed(
        &self,
        audit: &Audit,
        claimed: &Outbound,
        failure: SendFailure,
    ) -> StoreResult<bool> {
        let audit = audit.clone();
        let claimed = claimed.clone();
        self.transaction(move |tx| Box::pin(record_send_failed(tx, audit, claimed, failure)))
            .await
    }

    async fn outbox_next_due(&self) -> StoreResult<Option<DateTime<Utc>>> {
        self.autocommit(|tx| {
            Box::pin(async move {
                let row = tx
                    .query_one(
                        "SELECT min(t) FROM (
                             SELECT min(next_attempt_at) AS t FROM outbox WHERE state = 'queued'
                             UNION ALL
                             SELECT min(claimed_until) FROM outbox WHERE state = 'sending') AS due",
                        &[],
                    )
                    .await?;
                row.get(0)
            })
        })
        .await
    }

    async fn outbox_stats(&self) -> StoreResult<OutboxStats> {
        self.autocommit(|tx| {
            Box::pin(async move {
                let rows = tx
                    .query(
                        "SELECT priority, count(*), min(created_at) FROM outbox
                         WHERE state IN ('queued', 'sending') GROUP BY priority",
                        &[],
                    )
                    .await?;
                let rows = rows
                    .iter()
                    .map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok(OutboxStats::from_priorities(rows))
            })
        })
        .await
    }

    async fn get_outbound(&self, id: Uuid) -> StoreResult<Outbound> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1");
                outbound_from_row(&tx.query_one(&sql, &[id.arg()]).await?)
            })
        })
        .await
    }

    async fn list_outbox(&self, page: Page) -> StoreResult<Paged<Outbound>> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox
                     WHERE (id > $1 OR $1 IS NULL) ORDER BY id LIMIT $2"
                );
                let limit = page.fetch_limit();
                let args = [page.after.arg(), limit.arg()];
                let items = tx
                    .query(&sql, &args)
                    .await?
                    .iter()
                    .map(outbound_from_row)
                    .collect::<StoreResult<Vec<_>>>()?;
                Ok(Paged::from_rows(items, page, |o| o.id))
            })
        })
        .await
    }

    async fn get_message(&self, id: Uuid) -> StoreResult<Message> {
        self.autocommit(move |tx| Box::pin(load_message(tx, id)))
            .await
    }

    async fn find_message_by_carrier_sid(&self, carrier: &str, sid: &str) -> StoreResult<Message> {
        let (carrier, sid) = (carrier.to_owned(), sid.to_owned());
        self.autocommit(move |tx| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE carrier = $1 AND carrier_sid = $2"
                );
                message_from_row(&tx.query_one(&sql, &[carrier.arg(), sid.arg()]).await?)
            })
        })
        .await
    }
}
