//! Alerts opened by critical readings and their escalation state. The reading and its alert,
//! with the first notifications and texts, commit together (see [`Readings::record_reading`]);
//! each escalation step commits its notifications and texts with the new step, and only if the
//! alert is still open at the step the caller decided from, so two gateways never take one step
//! twice and an acknowledged alert is never escalated.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::sql::{ToArg, Tx};
use crate::*;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub id: Uuid,
    pub practice_id: Uuid,
    pub patient_id: Uuid,
    /// The reading that opened it.
    pub reading_id: Uuid,
    /// The vital it is about (API name): later critical readings of it attach while it is open.
    pub vital: String,
    pub level: String,
    /// `open` or `acknowledged`.
    pub state: String,
    pub code: String,
    pub opened_at: DateTime<Utc>,
    pub step: i32,
    pub next_step_at: DateTime<Utc>,
    pub acknowledged_by: Option<Uuid>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Every critical reading it stands for, the opening one first.
    pub reading_ids: Vec<Uuid>,
    /// The patient's programs, so who may see the alert can be decided without another read.
    pub patient_programs: Vec<String>,
}

/// An alert text to one staff member; the store remembers who it went to at which step.
#[derive(Debug, Clone)]
pub struct AlertText {
    pub user_id: Uuid,
    pub text: NewOutbound,
}

/// The open alerts of the whole store, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenAlertStats {
    /// Alerts not yet acknowledged.
    pub open: i64,
    /// When the oldest of those opened.
    pub oldest_opened_at: Option<DateTime<Utc>>,
}

/// An alert to open with a reading, and what goes out at once.
#[derive(Debug, Clone)]
pub struct NewAlert {
    pub level: &'static str,
    pub code: String,
    pub next_step_at: DateTime<Utc>,
    pub notifications: Vec<NewNotification>,
    pub texts: Vec<AlertText>,
}

/// One escalation step, decided from the alert at `from_step`.
#[derive(Debug, Clone)]
pub struct EscalationStep {
    pub from_step: i32,
    pub to_step: i32,
    pub next_step_at: DateTime<Utc>,
    pub notifications: Vec<NewNotification>,
    pub texts: Vec<AlertText>,
}

/// An "ACK code" text from `from_number` to the practice.
#[derive(Debug, Clone)]
pub struct TextAck {
    pub practice_id: Uuid,
    pub code: String,
    pub from_number: String,
}

/// What the decision about an "ACK code" text sees, read inside its transaction with the alert
/// row locked.
#[derive(Debug, Clone)]
pub struct TextAckContext {
    pub practice: Practice,
    /// The practice's newest alert with this code, open or not.
    pub alert: Option<Alert>,
    /// Whether that alert was texted to the number the reply came from.
    pub sent_to_number: bool,
    /// Users whose mobile number is the one the reply came from (locked ones too).
    pub senders: Vec<User>,
    /// The care team of the alert's patient with their program enrolments (empty without an
    /// alert): who has case access by enrolment.
    pub care_team: Vec<CareTeamMember>,
    /// Who acknowledged it, when it already was.
    pub acknowledged_by: Option<User>,
    /// The number's "code not recognised" throttle state.
    pub miss_throttle: Option<ThrottleRow>,
}

/// What to do about an "ACK code" text; written in the same transaction.
#[derive(Debug, Clone, Default)]
pub struct TextAckDecision {
    /// Acknowledge the alert as this user.
    pub acknowledge_by: Option<Uuid>,
    /// The answer to the sender.
    pub reply: Option<NewOutbound>,
    /// The number's new "code not recognised" throttle state.
    pub miss_throttle: Option<ThrottleRow>,
}

pub type DecideTextAck = Box<dyn FnOnce(&TextAckContext) -> TextAckDecision + Send>;

/// What an "ACK code" text did.
#[derive(Debug, Clone)]
pub struct TextAckOutcome {
    /// The alert as it is after the decision, when the code named one.
    pub alert: Option<Alert>,
    /// Whether this text acknowledged it.
    pub acknowledged_now: bool,
    /// Whether an answer was queued.
    pub replied: bool,
}

/// What the carrier's answer about a text says of its recipient's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberEvidence {
    /// The number cannot be texted from this sender (a permanent error).
    Fails { code: i32 },
    /// A text to it was delivered.
    Works,
    /// Nothing either way (a temporary failure, a status on the way).
    Unknown,
}

#[async_trait]
pub trait Alerts: Send + Sync {
    async fn get_alert(&self, id: Uuid) -> StoreResult<Alert>;
    /// Alerts of these practices, newest first, optionally only in `state`.
    async fn list_alerts(
        &self,
        practice_ids: Vec<Uuid>,
        state: Option<String>,
        page: Page,
    ) -> StoreResult<Paged<Alert>>;
    /// Acknowledges an open alert (an acknowledged one is left as it is) and writes the audit row.
    async fn acknowledge_alert(&self, audit: &Audit, id: Uuid, user_id: Uuid)
    -> StoreResult<Alert>;
    /// An "ACK code" text, in one transaction: locks the practice's newest alert with the code,
    /// reads the [`TextAckContext`], asks `decide`, and writes the acknowledgement (with its audit
    /// row), the answer's outbox row and the throttle state it returns.
    async fn acknowledge_by_text(
        &self,
        audit: &Audit,
        ack: TextAck,
        decide: DecideTextAck,
    ) -> StoreResult<TextAckOutcome>;
    /// Open alerts whose next step is due, oldest first.
    async fn due_alerts(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Alert>>;
    /// Applies the step if the alert is still open at `step.from_step`; `false` otherwise (someone
    /// acknowledged it, or another gateway took the step).
    async fn escalate(
        &self,
        at: DateTime<Utc>,
        id: Uuid,
        step: EscalationStep,
    ) -> StoreResult<bool>;
    /// Unlocked customer admins of the customer (the last fallback).
    async fn customer_admin_ids(&self, customer_id: Uuid) -> StoreResult<Vec<Uuid>>;
    /// Learns from the outcome of the text `outbox_id` (called after it failed for good or was
    /// delivered), in one transaction: a staff number that `Fails` is recorded as failing from
    /// that sender and one that `Works` is cleared; and when the row failed and was an alert text
    /// of the alert's current step, and no other text of that step can still arrive, the alert's
    /// next step becomes due at `at`. `true` when it made a step due.
    async fn note_text_outcome(
        &self,
        outbox_id: Uuid,
        evidence: NumberEvidence,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Of `numbers`, those known to fail from `from_number`.
    async fn failing_numbers(
        &self,
        from_number: &str,
        numbers: &[String],
    ) -> StoreResult<Vec<String>>;
    /// Records that `to_number` cannot be texted from `from_number` (`code` 0: it replied STOP).
    async fn record_failing_number(
        &self,
        from_number: &str,
        to_number: &str,
        code: i32,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Forgets that `to_number` failed from `from_number` (it replied START).
    async fn clear_failing_number(&self, from_number: &str, to_number: &str) -> StoreResult<()>;
    /// How many alerts are open in the whole store and when the oldest opened.
    async fn open_alert_stats(&self) -> StoreResult<OpenAlertStats>;
}

/// Forgets every failure of `number` (its user saved it again).
pub(crate) async fn forget_failing_number(tx: &Tx<'_>, number: &str) -> StoreResult<()> {
    let sql = "DELETE FROM failing_numbers WHERE to_number = $1";
    tx.execute(sql, &[number.arg()]).await?;
    Ok(())
}

/// Opens an alert inside the reading's transaction, with its first notifications and texts.
/// Each backend keeps its own version until the alerts aggregate is written once.
pub(crate) async fn open_alert(
    tx: &Tx<'_>,
    at: DateTime<Utc>,
    practice_id: Uuid,
    reading: &StoredReading,
    new: &NewAlert,
) -> StoreResult<Alert> {
    use crate::postgres::PgConn;
    match tx {
        Tx::Pg(PgConn::Tx(c)) => {
            crate::postgres::alerts::open_alert(*c, at, practice_id, reading, new).await
        }
        Tx::Pg(PgConn::Client(c)) => {
            crate::postgres::alerts::open_alert(*c, at, practice_id, reading, new).await
        }
        Tx::Lite(c) => {
            c.with(|c| crate::sqlite::alerts::open_alert(c, at, practice_id, reading, new))
        }
    }
}

/// Adds a critical reading to an alert.
pub(crate) async fn attach_reading(
    tx: &Tx<'_>,
    alert_id: Uuid,
    reading_id: Uuid,
) -> StoreResult<()> {
    let sql = "INSERT INTO alert_readings (alert_id, reading_id) VALUES ($1, $2)";
    tx.execute(sql, &[alert_id.arg(), reading_id.arg()]).await?;
    Ok(())
}

/// The patient's open alert of the vital, if any (the caller holds the patient's row lock).
pub(crate) async fn open_alert_of_vital(
    tx: &Tx<'_>,
    patient_id: Uuid,
    vital: &str,
) -> StoreResult<Option<Uuid>> {
    let row = tx
        .query_opt(
            "SELECT id FROM alerts WHERE patient_id = $1 AND vital = $2 AND state = 'open'
             ORDER BY opened_at LIMIT 1",
            &[patient_id.arg(), vital.arg()],
        )
        .await?;
    row.map(|r| r.get(0)).transpose()
}
