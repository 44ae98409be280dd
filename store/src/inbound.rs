//! Inbound texts: recording a text exactly once per carrier message id, routed to its practice
//! and patient, together with whatever the caller decides about it (keep the body or not, new
//! texting states, replies, notifications), in one transaction ([`Inbound::record_inbound`]).
//!
//! The one use case each backend writes itself: on PostgreSQL it is the hot path of the gateway,
//! ordinary texts are recorded in groups that share a transaction and a text alone runs as
//! pipelined prepared statements, which the shared transaction interface cannot express. What both backends write alike (the statements,
//! the decision's effects besides the message) is here, over [`crate::sql::Tx`].

use std::fmt;
use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::messaging::{MESSAGE_COLUMNS, cancel_queued, insert_outbox};
use crate::rows::PRACTICE_COLUMNS;
use crate::sql::{Arg, ToArg, Tx};
use crate::*;

/// The conflict [`Inbound::record_inbound_checked`] answers when the configuration changed
/// after the caller read [`Inbound::config_version`]: nothing was written; load the
/// configuration again and retry.
pub const CONFIG_CHANGED: &str = "config_changed";

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

/// What the store found for an inbound text, handed to the decision inside the transaction. A
/// decision that changes state ([`InboundDecision::changes_state`]) is always taken with the
/// patient rows locked until the transaction ends (on PostgreSQL: first decided from committed
/// rows, then again with them locked and read afresh), so two such texts of one number are
/// decided one after the other; one that only adds rows is decided without waiting.
#[derive(Debug, Clone)]
pub struct InboundContext {
    /// The practice whose `sms_number` is the text's `To`.
    pub practice: Option<Practice>,
    /// The practice's patient whose `mobile_phone` is the text's `From`: one in `pending` or
    /// `enabled` if there is one, else the most recently created.
    pub patient: Option<Patient>,
    /// The practice's other patients with the same number (a family phone), locked with
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

impl InboundDecision {
    /// Whether the decision writes more than the text itself and its feed rows: a texting state,
    /// a throttle count, an opt-out or a queued text. Only such a decision needs the patients on
    /// the number locked (and is then taken again with them locked); one that adds rows only is
    /// as right decided from committed state as it would be after a concurrent change of it.
    pub fn changes_state(&self) -> bool {
        self.texting.is_some()
            || !self.sharing_texting.is_empty()
            || self.opted_out
            || self.throttle.is_some()
            || !self.replies.is_empty()
    }
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
pub type InboundDecider = Box<dyn Fn(&InboundContext) -> InboundDecision + Send + Sync>;

/// What [`Inbound::record_inbound`] did.
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

#[async_trait]
pub trait Inbound: Send + Sync {
    /// Records an inbound text once per `(carrier, carrier_sid)`, in one transaction:
    /// claim the id (a repeat returns `Duplicate` and changes nothing, also when two arrive at
    /// once), route `to_number` to a practice and `from_number` to its patient, run `decide`
    /// (with the patient locked when the decision changes state; see [`InboundContext`]), then
    /// write the message (body kept or redacted), the patient's new texting
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

    /// [`Inbound::record_inbound`] for a decision made with configuration read at
    /// `config_version` (see [`Inbound::config_version`]): when the configuration changed since,
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
}

/// The configuration version ([`Inbound::config_version`]): the last change recorded by the
/// triggers of migration 0029.
pub(crate) const CONFIG_VERSION_SQL: &str = "SELECT COALESCE(max(id), 0) FROM config_changes";

/// The practice a text was sent to.
pub(crate) static INBOUND_PRACTICE_SQL: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {PRACTICE_COLUMNS} FROM practices WHERE sms_number = $1"));

/// A repeat of a carrier message id finds the message recorded first.
pub(crate) const INBOUND_EXISTING_SQL: &str =
    "SELECT id FROM messages WHERE carrier = $1 AND carrier_sid = $2";

/// The message as decided, written once (no second version of the row to write). The carrier
/// id's unique rule makes a repeat that raced this one fail here. Its arguments are
/// [`inbound_message_args`].
pub(crate) static INBOUND_INSERT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO messages (id, practice_id, patient_id, channel, direction, body, redacted,
                               status, carrier, carrier_sid, from_number, to_number, num_segments,
                               created_at, updated_at, flag)
         VALUES ($1, $2, $3, 'sms', 'inbound', $4, $5, 'received', $6, $7, $8, $9, $10, $11, $11,
                 $12)
         RETURNING {MESSAGE_COLUMNS}"
    )
});

/// The message's row for [`INBOUND_INSERT_SQL`]: the body only when the decision keeps it.
pub(crate) fn inbound_message_args<'a>(
    context: &InboundContext,
    routed: Option<Uuid>,
    inbound: &'a NewInbound,
    decision: &'a InboundDecision,
    at: DateTime<Utc>,
) -> [Arg<'a>; 12] {
    [
        Arg::Uuid(Some(context.message_id)),
        Arg::Uuid(context.practice.as_ref().map(|p| p.id)),
        Arg::Uuid(routed),
        Arg::Text(decision.keep_body.then_some(inbound.body.as_str())),
        Arg::Bool(Some(!decision.keep_body)),
        inbound.carrier.arg(),
        inbound.carrier_sid.arg(),
        inbound.from_number.arg(),
        inbound.to_number.arg(),
        inbound.num_segments.arg(),
        Arg::Time(Some(at)),
        decision.flag.arg(),
    ]
}

/// The audit event of a recorded text.
pub(crate) fn inbound_event(context: &InboundContext, routed: Option<Uuid>) -> AuditEvent<'static> {
    AuditEvent {
        customer_id: context.practice.as_ref().map(|p| p.customer_id),
        action: "message.inbound",
        target_type: "message",
        target_id: Some(context.message_id.to_string()),
        patient_id: routed,
    }
}

/// Writes what a decision changes besides the message, its notifications and its audit row,
/// inside the inbound transaction: the throttle key's new state, the texting states, the
/// cancelled texts of a number that opted out, and the replies. Answers the patient the text
/// belongs to and the replies' outbox rows.
pub(crate) async fn write_decision(
    tx: &Tx<'_>,
    at: DateTime<Utc>,
    inbound: &NewInbound,
    context: &InboundContext,
    decision: &InboundDecision,
) -> StoreResult<(Option<Uuid>, Vec<Uuid>)> {
    if let (Some(key), Some(next)) = (&inbound.throttle_key, &decision.throttle) {
        crate::throttle::store_throttle(tx, key, next).await?;
    }
    // The patient the text belongs to (a family phone's text may belong to another patient on
    // the number than the one it was routed to), and every texting state that changes.
    let routed = routed_patient(context, decision)?;
    let texting_changes = routed
        .zip(decision.texting.as_ref())
        .into_iter()
        .chain(decision.sharing_texting.iter().map(|(id, row)| (*id, row)));
    for (id, texting) in texting_changes {
        crate::texting::write_texting(tx, id, texting).await?;
    }
    let opted_out_at = context
        .practice
        .as_ref()
        .filter(|_| decision.opted_out)
        .map(|p| p.sms_number.as_str());
    if let Some(practice_number) = opted_out_at {
        cancel_queued(tx, practice_number, &inbound.from_number, at).await?;
    }
    let mut enqueued = Vec::with_capacity(decision.replies.len());
    for reply in &decision.replies {
        enqueued.push(insert_outbox(tx, reply, at).await?.id);
    }
    if opted_out_at.is_some() {
        // The answers to this text (the STOP confirmation) are the only texts that may still go
        // to the number.
        let mut args = Vec::new();
        let ids = tx.in_list(&enqueued, &mut args);
        args.push(inbound.from_number.arg());
        let sql = format!(
            "UPDATE outbox SET opt_out_reply = true WHERE id {ids} AND to_number = ${}",
            args.len()
        );
        tx.execute(&sql, &args).await?;
    }
    Ok((routed, enqueued))
}
