//! Alerts opened by critical readings and their escalation state. The reading and its alert,
//! with the first notifications and texts, commit together (see [`Readings::record_reading`]);
//! each escalation step commits its notifications and texts with the new step, and only if the
//! alert is still open at the step the caller decided from, so two gateways never take one step
//! twice and an acknowledged alert is never escalated.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use types::AlertState;
use uuid::Uuid;

use crate::rows::{PRACTICE_COLUMNS, insert_audit, practice_from_row, user_if_any, users_where};
use crate::sql::{Db, Row, ToArg, Tx};
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
    pub state: AlertState,
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
        state: Option<AlertState>,
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

/// The alert's own columns (`a` is the alert).
const ALERT_COLUMNS: &str = "a.id, a.practice_id, a.patient_id, a.reading_id, a.vital, a.level,
    a.state, a.code, a.opened_at, a.step, a.next_step_at, a.acknowledged_by, a.acknowledged_at";

/// PostgreSQL reads the alert's readings and its patient's programs in the same row.
const ALERT_ARRAYS: &str = "ARRAY(SELECT ar.reading_id FROM alert_readings ar WHERE ar.alert_id = a.id ORDER BY ar.reading_id),
    ARRAY(SELECT pp.program FROM patient_programs pp WHERE pp.patient_id = a.patient_id ORDER BY pp.program)";

/// The alerts `filter` (a `WHERE … ORDER BY …` over `alerts a`) selects, with their readings and
/// their patients' programs (SQLite, without arrays, reads those with one statement each).
async fn alerts_where(
    tx: &Tx<'_>,
    filter: &str,
    args: &[crate::sql::Arg<'_>],
) -> StoreResult<Vec<Alert>> {
    let with_arrays = format!("{ALERT_COLUMNS}, {ALERT_ARRAYS}");
    let columns = tx.pick(&with_arrays, ALERT_COLUMNS);
    let rows = tx
        .query(&format!("SELECT {columns} FROM alerts a {filter}"), args)
        .await?;
    let mut alerts = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut alert = alert_from_row(row)?;
        if tx.backend() == Backend::Postgres {
            alert.reading_ids = row.get(13)?;
            alert.patient_programs = row.get(14)?;
        } else {
            alert.reading_ids = tx
                .column(
                    "SELECT reading_id FROM alert_readings WHERE alert_id = $1 ORDER BY reading_id",
                    &[alert.id.arg()],
                )
                .await?;
            alert.patient_programs = tx
                .column(
                    "SELECT program FROM patient_programs WHERE patient_id = $1 ORDER BY program",
                    &[alert.patient_id.arg()],
                )
                .await?;
        }
        alerts.push(alert);
    }
    Ok(alerts)
}

fn alert_from_row(row: &Row) -> StoreResult<Alert> {
    Ok(Alert {
        id: row.get(0)?,
        practice_id: row.get(1)?,
        patient_id: row.get(2)?,
        reading_id: row.get(3)?,
        vital: row.get(4)?,
        level: row.get(5)?,
        state: row.get(6)?,
        code: row.get(7)?,
        opened_at: row.get(8)?,
        step: row.get(9)?,
        next_step_at: row.get(10)?,
        acknowledged_by: row.get(11)?,
        acknowledged_at: row.get(12)?,
        reading_ids: Vec::new(),
        patient_programs: Vec::new(),
    })
}

async fn load_alert(tx: &Tx<'_>, id: Uuid) -> StoreResult<Alert> {
    alerts_where(tx, "WHERE a.id = $1", &[id.arg()])
        .await?
        .into_iter()
        .next()
        .ok_or(StoreError::NotFound)
}

/// Queues an alert's texts and remembers whom each went to at `step`.
async fn insert_alert_texts(
    tx: &Tx<'_>,
    at: DateTime<Utc>,
    alert_id: Uuid,
    step: i32,
    texts: &[AlertText],
) -> StoreResult<()> {
    for text in texts {
        let queued = crate::messaging::insert_outbox(tx, &text.text, at).await?;
        tx.execute(
            "INSERT INTO alert_texts (outbox_id, alert_id, step, user_id, to_number)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                queued.id.arg(),
                alert_id.arg(),
                step.arg(),
                text.user_id.arg(),
                text.text.to_number.arg(),
            ],
        )
        .await?;
    }
    Ok(())
}

/// Opens an alert inside the reading's transaction, with its first notifications and texts.
pub(crate) async fn open_alert(
    tx: &Tx<'_>,
    at: DateTime<Utc>,
    practice_id: Uuid,
    reading: &StoredReading,
    new: &NewAlert,
) -> StoreResult<Alert> {
    let id = new_id();
    tx.execute(
        "INSERT INTO alerts (id, practice_id, patient_id, reading_id, vital, level, state, code,
                             opened_at, next_step_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $9)",
        &[
            id.arg(),
            practice_id.arg(),
            reading.patient_id.arg(),
            reading.id.arg(),
            reading.vital.arg(),
            new.level.arg(),
            new.code.arg(),
            at.arg(),
            new.next_step_at.arg(),
        ],
    )
    .await?;
    attach_reading(tx, id, reading.id).await?;
    crate::feed::insert_notifications(tx, at, &new.notifications).await?;
    insert_alert_texts(tx, at, id, 0, &new.texts).await?;
    load_alert(tx, id).await
}

/// Acknowledges the alert if it is open, with its audit row. `true` when it was open.
async fn acknowledge(
    tx: &Tx<'_>,
    audit: &Audit,
    alert: &Alert,
    user_id: Uuid,
) -> StoreResult<bool> {
    let updated = tx
        .execute(
            "UPDATE alerts SET state = 'acknowledged', acknowledged_by = $2, acknowledged_at = $3
             WHERE id = $1 AND state = 'open'",
            &[alert.id.arg(), user_id.arg(), audit.at.arg()],
        )
        .await?;
    if updated == 1 {
        let sql = "SELECT customer_id FROM practices WHERE id = $1";
        let customer_id: Uuid = tx
            .query_one(sql, &[alert.practice_id.arg()])
            .await?
            .get(0)?;
        let event = AuditEvent {
            customer_id: Some(customer_id),
            action: "alert.acknowledge",
            target_type: "alert",
            target_id: Some(alert.id.to_string()),
            patient_id: Some(alert.patient_id),
        };
        insert_audit(tx, audit, &event).await?;
    }
    Ok(updated == 1)
}

/// The throttle key of "code not recognised" answers to a number.
fn ack_miss_key(number: &str) -> String {
    format!("ack-miss:{number}")
}

async fn upsert_failing(
    tx: &Tx<'_>,
    from: &str,
    to: &str,
    code: i32,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO failing_numbers (from_number, to_number, code, failed_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (from_number, to_number) DO UPDATE SET code = $3, failed_at = $4",
        &[from.arg(), to.arg(), code.arg(), at.arg()],
    )
    .await?;
    Ok(())
}

async fn delete_failing(tx: &Tx<'_>, from: &str, to: &str) -> StoreResult<()> {
    tx.execute(
        "DELETE FROM failing_numbers WHERE from_number = $1 AND to_number = $2",
        &[from.arg(), to.arg()],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl<D: Db> Alerts for D {
    async fn get_alert(&self, id: Uuid) -> StoreResult<Alert> {
        self.autocommit(move |tx| Box::pin(load_alert(tx, id)))
            .await
    }

    async fn list_alerts(
        &self,
        practice_ids: Vec<Uuid>,
        state: Option<AlertState>,
        page: Page,
    ) -> StoreResult<Paged<Alert>> {
        if practice_ids.is_empty() {
            return Ok(Paged {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        self.autocommit(move |tx| {
            Box::pin(async move {
                let limit = page.fetch_limit();
                let mut args = Vec::new();
                let practices = tx.in_list(&practice_ids, &mut args);
                let n = args.len();
                let state = state.map(AlertState::as_str);
                args.extend([state.arg(), page.after.arg(), limit.arg()]);
                let filter = format!(
                    "WHERE a.practice_id {practices} AND (a.state = ${s} OR ${s} IS NULL)
                       AND (a.id < ${a} OR ${a} IS NULL)
                     ORDER BY a.id DESC LIMIT ${l}",
                    s = n + 1,
                    a = n + 2,
                    l = n + 3,
                );
                let alerts = alerts_where(tx, &filter, &args).await?;
                Ok(Paged::from_rows(alerts, page, |a| a.id))
            })
        })
        .await
    }

    async fn acknowledge_alert(
        &self,
        audit: &Audit,
        id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Alert> {
        let audit = audit.clone();
        self.transaction(move |tx| {
            Box::pin(async move {
                let alert = load_alert(tx, id).await?;
                acknowledge(tx, &audit, &alert, user_id).await?;
                load_alert(tx, id).await
            })
        })
        .await
    }

    async fn acknowledge_by_text(
        &self,
        audit: &Audit,
        ack: TextAck,
        decide: DecideTextAck,
    ) -> StoreResult<TextAckOutcome> {
        let audit = audit.clone();
        self.transaction(move |tx| Box::pin(acknowledge_by_text(tx, audit, ack, decide)))
            .await
    }

    async fn due_alerts(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<Alert>> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                let limit = i64::from(limit);
                alerts_where(
                    tx,
                    "WHERE a.state = 'open' AND a.next_step_at <= $1
                     ORDER BY a.next_step_at, a.id LIMIT $2",
                    &[now.arg(), limit.arg()],
                )
                .await
            })
        })
        .await
    }

    async fn escalate(
        &self,
        at: DateTime<Utc>,
        id: Uuid,
        step: EscalationStep,
    ) -> StoreResult<bool> {
        self.transaction(move |tx| {
            Box::pin(async move {
                // The step number is the version: only one gateway moves it on.
                let updated = tx
                    .execute(
                        "UPDATE alerts SET step = $3, next_step_at = $4
                         WHERE id = $1 AND state = 'open' AND step = $2",
                        &[
                            id.arg(),
                            step.from_step.arg(),
                            step.to_step.arg(),
                            step.next_step_at.arg(),
                        ],
                    )
                    .await?;
                if updated == 0 {
                    return Ok(false);
                }
                crate::feed::insert_notifications(tx, at, &step.notifications).await?;
                insert_alert_texts(tx, at, id, step.to_step, &step.texts).await?;
                Ok(true)
            })
        })
        .await
    }

    async fn customer_admin_ids(&self, customer_id: Uuid) -> StoreResult<Vec<Uuid>> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                tx.column(
                    "SELECT id FROM users
                     WHERE customer_id = $1 AND role = 'customer_admin' AND locked_at IS NULL
                     ORDER BY id",
                    &[customer_id.arg()],
                )
                .await
            })
        })
        .await
    }

    async fn note_text_outcome(
        &self,
        outbox_id: Uuid,
        evidence: NumberEvidence,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.transaction(move |tx| {
            Box::pin(async move {
                let Some(row) = tx
                    .query_opt(
                        "SELECT from_number, to_number, patient_id IS NULL, state FROM outbox WHERE id = $1",
                        &[outbox_id.arg()],
                    )
                    .await?
                else {
                    return Ok(false);
                };
                let (from, to, to_staff, state): (String, String, bool, OutboxState) =
                    (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
                match evidence {
                    NumberEvidence::Fails { code } if to_staff => {
                        upsert_failing(tx, &from, &to, code, at).await?;
                    }
                    NumberEvidence::Works => delete_failing(tx, &from, &to).await?,
                    _ => {}
                }
                if state != OutboxState::Failed {
                    return Ok(false);
                }
                // Due at once when this was a text of the alert's current step and no other text
                // of that step is still on its way or arrived.
                let made_due = tx
                    .execute(
                        "UPDATE alerts SET next_step_at = $2
                         WHERE state = 'open' AND next_step_at > $2
                           AND EXISTS (SELECT 1 FROM alert_texts t
                                       WHERE t.outbox_id = $1 AND t.alert_id = alerts.id
                                         AND t.step = alerts.step)
                           AND NOT EXISTS (
                               SELECT 1 FROM alert_texts o JOIN outbox x ON x.id = o.outbox_id
                               WHERE o.alert_id = alerts.id AND o.step = alerts.step
                                 AND o.outbox_id <> $1 AND x.state IN ('queued', 'sending', 'sent'))",
                        &[outbox_id.arg(), at.arg()],
                    )
                    .await?;
                Ok(made_due > 0)
            })
        })
        .await
    }

    async fn failing_numbers(
        &self,
        from_number: &str,
        numbers: &[String],
    ) -> StoreResult<Vec<String>> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let (from_number, numbers) = (from_number.to_string(), numbers.to_vec());
        self.autocommit(move |tx| {
            Box::pin(async move {
                let mut args = vec![from_number.arg()];
                let to = tx.in_list(&numbers, &mut args);
                let sql = format!(
                    "SELECT to_number FROM failing_numbers WHERE from_number = $1 AND to_number {to}
                     ORDER BY to_number"
                );
                tx.column(&sql, &args).await
            })
        })
        .await
    }

    async fn record_failing_number(
        &self,
        from_number: &str,
        to_number: &str,
        code: i32,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (from, to) = (from_number.to_string(), to_number.to_string());
        self.autocommit(move |tx| {
            Box::pin(async move { upsert_failing(tx, &from, &to, code, at).await })
        })
        .await
    }

    async fn clear_failing_number(&self, from_number: &str, to_number: &str) -> StoreResult<()> {
        let (from, to) = (from_number.to_string(), to_number.to_string());
        self.autocommit(move |tx| Box::pin(async move { delete_failing(tx, &from, &to).await }))
            .await
    }

    async fn open_alert_stats(&self) -> StoreResult<OpenAlertStats> {
        self.autocommit(|tx| {
            Box::pin(async move {
                let row = tx
                    .query_one(
                        "SELECT count(*), min(opened_at) FROM alerts WHERE state = 'open'",
                        &[],
                    )
                    .await?;
                Ok(OpenAlertStats {
                    open: row.get(0)?,
                    oldest_opened_at: row.get(1)?,
                })
            })
        })
        .await
    }
}

async fn acknowledge_by_text(
    tx: &Tx<'_>,
    audit: Audit,
    ack: TextAck,
    decide: DecideTextAck,
) -> StoreResult<TextAckOutcome> {
    let sql = format!("SELECT {PRACTICE_COLUMNS} FROM practices WHERE id = $1");
    let practice = practice_from_row(&tx.query_one(&sql, &[ack.practice_id.arg()]).await?)?;
    // The newest alert with the code, locked so an acknowledgement and an escalation step (or
    // two replies) are decided one after the other.
    let sql = format!(
        "SELECT id FROM alerts WHERE practice_id = $1 AND code = $2
         ORDER BY opened_at DESC LIMIT 1{}",
        tx.pick(" FOR UPDATE", "")
    );
    let alert_id: Option<Uuid> = tx
        .query_opt(&sql, &[ack.practice_id.arg(), ack.code.arg()])
        .await?
        .map(|r| r.get(0))
        .transpose()?;
    let alert = match alert_id {
        Some(id) => Some(load_alert(tx, id).await?),
        None => None,
    };
    let sent_to_number = match &alert {
        Some(alert) => tx
            .query_opt(
                "SELECT 1 FROM alert_texts WHERE alert_id = $1 AND to_number = $2 LIMIT 1",
                &[alert.id.arg(), ack.from_number.arg()],
            )
            .await?
            .is_some(),
        None => false,
    };
    let senders = users_where(
        tx,
        "WHERE u.mobile_phone = $1 ORDER BY u.id",
        &[ack.from_number.arg()],
    )
    .await?;
    let acknowledged_by = match alert.as_ref().and_then(|a| a.acknowledged_by) {
        Some(user_id) => user_if_any(tx, user_id).await?,
        None => None,
    };
    let throttle_key = ack_miss_key(&ack.from_number);
    let miss_throttle = crate::throttle::lock_throttle(tx, &throttle_key).await?;
    let care_team = match &alert {
        Some(alert) => crate::conversations::load_care_team(tx, alert.patient_id).await?,
        None => Vec::new(),
    };
    let context = TextAckContext {
        practice,
        alert,
        sent_to_number,
        senders,
        care_team,
        acknowledged_by,
        miss_throttle,
    };
    let decision = decide(&context);
    let mut acknowledged_now = false;
    if let (Some(user_id), Some(alert)) = (decision.acknowledge_by, &context.alert) {
        let audit = Audit {
            user_id: Some(user_id),
            ..audit.clone()
        };
        acknowledged_now = acknowledge(tx, &audit, alert, user_id).await?;
    }
    if let Some(reply) = &decision.reply {
        crate::messaging::insert_outbox(tx, reply, audit.at).await?;
    }
    if let Some(next) = &decision.miss_throttle {
        crate::throttle::store_throttle(tx, &throttle_key, next).await?;
    }
    let alert = match &context.alert {
        Some(alert) => Some(load_alert(tx, alert.id).await?),
        None => None,
    };
    Ok(TextAckOutcome {
        alert,
        acknowledged_now,
        replied: decision.reply.is_some(),
    })
}
