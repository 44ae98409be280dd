//! Messaging: the conversation's messages, the transactional outbox and the carrier's view of both.
//!
//! Owns four use cases:
//!
//! - recording an inbound text exactly once per carrier message id, routed to its practice and
//!   patient, together with whatever the caller decides about it (keep the body or not, a new
//!   texting state, replies), in one transaction ([`Messaging::record_inbound`]);
//! - queueing outbound texts as outbox rows, standalone ([`Messaging::enqueue_sms`]) or inside
//!   another aggregate's transaction (the backends' crate-private `insert_outbox` helpers);
//! - the dispatcher's side of the outbox: claiming due rows under a lease with per-number send
//!   slots, and recording what the carrier answered;
//! - applying carrier status callbacks without ever moving a status backwards, and opting a number
//!   out when the carrier says it has (error 21610).
//!
//! It must never decide business rules: which statuses rank above which, what a body means and
//! what to reply are the caller's, passed in as values or closures. It must never log a body.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::sql::{Row, ToArg, Tx};
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

/// The conflict [`Messaging::record_inbound_checked`] answers when the configuration changed
/// after the caller read [`Messaging::config_version`]: nothing was written; load the
/// configuration again and retry.
pub const CONFIG_CHANGED: &str = "config_changed";

/// Where an outbox row is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting to be claimed (first try, or a retry at `next_attempt_at`).
    Queued,
    /// Claimed by a dispatcher until `claimed_until`.
    Sending,
    /// The carrier accepted it (later callbacks may still report it undelivered: then `Failed`).
    Sent,
    /// Given up: a permanent error, too many attempts, a second lost claim, or a failed delivery.
    Failed,
    /// Never sent, and never will be: see `cancel_reason` (the number opted out).
    Cancelled,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Queued => "queued",
            OutboxState::Sending => "sending",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
            OutboxState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxState> {
        match s {
            "queued" => Some(OutboxState::Queued),
            "sending" => Some(OutboxState::Sending),
            "sent" => Some(OutboxState::Sent),
            "failed" => Some(OutboxState::Failed),
            "cancelled" => Some(OutboxState::Cancelled),
            _ => None,
        }
    }
}

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
    /// `sms` or `portal`.
    pub channel: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// `None` when redacted.
    pub body: Option<String>,
    /// The body was dropped because it may hold a date of birth.
    pub redacted: bool,
    pub author_user_id: Option<Uuid>,
    pub status: String,
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

/// An inbound text as the carrier delivered it (already signature-checked and parsed).
#[derive(Clone)]
pub struct NewInbound {
    pub carrier: String,
    pub carrier_sid: String,
    /// The patient's number (E.164).
    pub from_number: String,
    /// The practice's number (E.164).
    pub to_number: String,
    /// Stored only if the decision keeps it.
    pub body: String,
    pub num_segments: i32,
    /// A throttle key (see [`LoginThrottle`]) whose row the transaction locks and hands to the
    /// decision (e.g. the START restarts of this number at this practice), so that a limit is
    /// checked and counted where the text is decided.
    pub throttle_key: Option<String>,
}

impl fmt::Debug for NewInbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewInbound")
            .field("carrier_sid", &self.carrier_sid)
            .field("body_chars", &self.body.chars().count())
            .finish_non_exhaustive()
    }
}

/// What the store found for an inbound text, handed to the decision inside the transaction. The
/// patient row is locked (PostgreSQL) until the transaction ends, so two texts of one patient are
/// decided one after the other.
#[derive(Debug, Clone)]
pub struct InboundContext {
    /// The practice whose `sms_number` is the text's `To`.
    pub practice: Option<Practice>,
    /// The practice's patient whose `mobile_phone` is the text's `From`: one in `pending` or
    /// `enabled` if there is one, else the most recently created.
    pub patient: Option<Patient>,
    /// The practice's other patients with the same number (a family phone), locked like
    /// `patient`: the decision may route the text to one of them and change their texting.
    pub sharing: Vec<Patient>,
    /// The id the message row has (for replies that refer to it).
    pub message_id: Uuid,
    /// The state of [`NewInbound::throttle_key`], read under its row lock; `None` when no key
    /// was given or nothing was counted yet.
    pub throttle: Option<ThrottleRow>,
}

/// What to write besides the message, decided from an [`InboundContext`].
#[derive(Debug, Clone, Default)]
pub struct InboundDecision {
    /// Keep the body; otherwise it is dropped and the message marked redacted.
    pub keep_body: bool,
    /// The patient the text belongs to, when not the context's `patient` (one of `sharing`).
    pub patient_id: Option<Uuid>,
    /// A new texting state for the patient the text belongs to (ignored when there is none).
    pub texting: Option<TextingRow>,
    /// New texting states of other patients with the number (each one of the context's).
    pub sharing_texting: Vec<(Uuid, TextingRow)>,
    /// Texts to queue in the same transaction.
    pub replies: Vec<NewOutbound>,
    /// In-app notifications to add in the same transaction (e.g. a texting status change).
    pub notifications: Vec<NewNotification>,
    /// A flag for staff attention on the recorded message (e.g. `possible_opt_out`).
    pub flag: Option<String>,
    /// The sender's number is opted out after this text: every text still queued to it from the
    /// practice's number is cancelled (reason `opted_out`) before the replies are queued, and the
    /// replies queued to it here (the STOP confirmation) are the only texts that may still go.
    pub opted_out: bool,
    /// The new state of the throttle key's row (when a key was given), written in the same
    /// transaction.
    pub throttle: Option<ThrottleRow>,
}

/// The patient an inbound text belongs to after the decision: the context's `patient`, or the
/// one of `sharing` the decision routed it to; every patient whose texting the decision changes
/// must be one of the context's. Anything else is a bug in the decision: `Unexpected`, and the
/// transaction writes nothing.
pub(crate) fn routed_patient(
    context: &InboundContext,
    decision: &InboundDecision,
) -> StoreResult<Option<Uuid>> {
    let known = |id: Uuid| {
        context.patient.as_ref().is_some_and(|p| p.id == id)
            || context.sharing.iter().any(|p| p.id == id)
    };
    if let Some(id) = decision.patient_id
        && !known(id)
    {
        return Err(StoreError::Unexpected(
            "an inbound decision routed the text to a patient without the number".into(),
        ));
    }
    if decision.sharing_texting.iter().any(|(id, _)| !known(*id)) {
        return Err(StoreError::Unexpected(
            "an inbound decision changed the texting of a patient without the number".into(),
        ));
    }
    Ok(decision
        .patient_id
        .or(context.patient.as_ref().map(|p| p.id)))
}

/// The decision, run inside the inbound transaction. It must not block or do I/O.
pub type InboundDecider = Box<dyn FnOnce(&InboundContext) -> InboundDecision + Send>;

/// What [`Messaging::record_inbound`] did.
#[derive(Debug, Clone)]
pub enum InboundOutcome {
    /// First delivery of this carrier message id: recorded with its decision.
    Recorded {
        message: Box<Message>,
        /// The outbox rows queued for the replies.
        enqueued: Vec<Uuid>,
    },
    /// The carrier message id was recorded before; nothing changed.
    Duplicate { message_id: Uuid },
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

    /// Records an inbound text once per `(carrier, carrier_sid)`, in one transaction:
    /// claim the id (a repeat returns `Duplicate` and changes nothing, also when two arrive at
    /// once), route `to_number` to a practice and `from_number` to its patient, lock the patient,
    /// run `decide`, then write the message (body kept or redacted), the patient's new texting
    /// state, the replies' outbox rows and an audit row.
    async fn record_inbound(
        &self,
        audit: &Audit,
        inbound: NewInbound,
        decide: InboundDecider,
    ) -> StoreResult<InboundOutcome> {
        self.record_inbound_checked(audit, inbound, None, decide)
            .await
    }

    /// [`Messaging::record_inbound`] for a decision made with configuration read at
    /// `config_version` (see [`Messaging::config_version`]): when the configuration changed since,
    /// nothing is written and the answer is `Conflict { constraint: CONFIG_CHANGED }`. Checked
    /// inside the transaction, so a change committed before the text is decided is never missed.
    async fn record_inbound_checked(
        &self,
        audit: &Audit,
        inbound: NewInbound,
        config_version: Option<i64>,
        decide: InboundDecider,
    ) -> StoreResult<InboundOutcome>;

    /// The version of the configuration an inbound text's decision reads (practices and their
    /// numbers, templates, users and their practices, notification settings and defaults, on-call
    /// windows and overrides, care teams, subscriptions, which patients have which number): it
    /// changes with every committed change to those, by any process (triggers of migration 0029).
    async fn config_version(&self) -> StoreResult<i64>;

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

    /// The carrier accepted the claimed send. `false` if the claim was lost meanwhile.
    async fn record_send_accepted(
        &self,
        claimed: &Outbound,
        carrier: &str,
        sid: &str,
        status: &str,
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

/// When a due outbox row may no longer go out because its number opted out. Written once here for
/// both backends' claims (as SQL on the outbox alias `o`): the row is not an answer queued with
/// the opt-out (`opt_out_reply`), and either its patient is `opted_out`, or some patient of the
/// sending practice with that mobile number is `opted_out` while none is `pending` or `enabled`
/// (the number opted out; a patient whose texting staff started again is not held back by a
/// relative's old STOP).
pub(crate) const OPTED_OUT_RULE: &str = "(NOT o.opt_out_reply AND (
        EXISTS (SELECT 1 FROM patients p WHERE p.id = o.patient_id AND p.texting_status = 'opted_out')
        OR (EXISTS (SELECT 1 FROM patients p JOIN practices pr ON pr.id = p.practice_id
                    WHERE pr.sms_number = o.from_number AND p.mobile_phone = o.to_number
                      AND p.texting_status = 'opted_out')
            AND NOT EXISTS (SELECT 1 FROM patients p JOIN practices pr ON pr.id = p.practice_id
                            WHERE pr.sms_number = o.from_number AND p.mobile_phone = o.to_number
                              AND p.texting_status IN ('pending', 'enabled')))))";

/// The error recorded on a row cancelled because its number opted out.
pub(crate) const CANCELLED_NOTE: &str = "cancelled: the recipient opted out before it was sent";

/// The lease-expired error recorded on a row that is sent again after a lost claim.
pub(crate) const RECOVERED_NOTE: &str =
    "a claim ran out without an answer; sent again (the carrier may have received it twice)";
/// The error recorded on a row whose claim ran out a second time.
pub(crate) const ABANDONED_NOTE: &str =
    "a claim ran out twice without an answer; given up so it is not sent a third time";

/// How many rows of one sender a claim may take: the slots that fit in the horizon.
pub(crate) fn per_sender_cap(request: &ClaimRequest) -> i64 {
    let interval = request
        .sender_interval
        .num_microseconds()
        .unwrap_or(i64::MAX)
        .max(1);
    let horizon = request.horizon.num_microseconds().unwrap_or(0).max(0);
    (horizon.saturating_add(interval - 1) / interval).max(1)
}

/// Claim candidates grouped by sending number, numbers in sorted order (the lock order), each
/// number's rows in the order they were selected (priority order).
pub(crate) fn group_by_sender(candidates: &[(Uuid, String)]) -> Vec<(String, Vec<Uuid>)> {
    let mut groups: std::collections::BTreeMap<&str, Vec<Uuid>> = Default::default();
    for (id, sender) in candidates {
        groups.entry(sender).or_default().push(*id);
    }
    groups
        .into_iter()
        .map(|(sender, ids)| (sender.to_owned(), ids))
        .collect()
}

/// Claimed sends in the order they may go out; highest priority first within one slot time.
pub(crate) fn sort_sends(sends: &mut [ClaimedSend]) {
    sends.sort_by(|a, b| {
        a.send_at
            .cmp(&b.send_at)
            .then(b.outbound.priority.cmp(&a.outbound.priority))
    });
}

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
    let state: String = row.get(8)?;
    Ok(Outbound {
        id: row.get(0)?,
        message_id: row.get(1)?,
        practice_id: row.get(2)?,
        patient_id: row.get(3)?,
        to_number: row.get(4)?,
        from_number: row.get(5)?,
        body: row.get(6)?,
        priority: row.get(7)?,
        state: OutboxState::parse(&state)
            .ok_or_else(|| StoreError::Unexpected(format!("unknown outbox state {state:?}")))?,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn request(interval_ms: i64, horizon_ms: i64) -> ClaimRequest {
        ClaimRequest {
            worker: "w".into(),
            now: Utc::now(),
            lease: Duration::seconds(60),
            limit: 10,
            sender_interval: Duration::milliseconds(interval_ms),
            horizon: Duration::milliseconds(horizon_ms),
        }
    }

    #[test]
    fn a_sender_gets_as_many_rows_as_slots_fit_in_the_horizon() {
        assert_eq!(per_sender_cap(&request(1000, 1000)), 1);
        assert_eq!(per_sender_cap(&request(200, 1000)), 5);
        assert_eq!(per_sender_cap(&request(300, 1000)), 4);
        assert_eq!(per_sender_cap(&request(1000, 0)), 1);
    }

    #[test]
    fn candidates_group_by_sender_in_lock_order_keeping_priority_order() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let groups = group_by_sender(&[(a, "+2".into()), (b, "+1".into()), (c, "+2".into())]);
        assert_eq!(
            groups,
            vec![("+1".to_owned(), vec![b]), ("+2".to_owned(), vec![a, c])]
        );
    }
}
