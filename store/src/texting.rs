//! Texting opt-in changes that staff and workers start (start, resend, opt-out, expiry). The
//! decision is made outside from a state read earlier; the store applies it only if the patient's
//! texting state is still exactly that state, so two concurrent changes never both apply against
//! the same state (the loser gets `Rule(RuleRefusal::TextingChanged)` and decides again). Replies and notifications are written in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::rows::{
    PRACTICE_COLUMNS, insert_audit, load_patient, patients_where, practice_from_row,
};
use crate::sql::{Db, ToArg, Tx};
use crate::*;

#[derive(Debug, Clone)]
pub struct TextingChange {
    /// The state the decision was made from.
    pub expected: TextingRow,
    /// The new state; `None` keeps it (e.g. a resend).
    pub new_state: Option<TextingRow>,
    pub replies: Vec<NewOutbound>,
    pub notifications: Vec<NewNotification>,
    /// The audit action, e.g. `texting.start`.
    pub action: &'static str,
    /// The patient's number opts out with this change: texts still queued to it from the
    /// practice's number are cancelled (reason `opted_out`) in the same transaction.
    pub opted_out: bool,
    /// The change texts the patient on the practice's behalf (start, resend): refused with
    /// `Rule(RuleRefusal::TextingDisabled)` when the practice has texting turned off, as
    /// read in the change's transaction.
    pub needs_texting: bool,
}

#[derive(Debug, Clone)]
pub struct TextingChanged {
    pub patient: Patient,
    /// Outbox rows queued for the replies.
    pub enqueued: Vec<Uuid>,
}

#[async_trait]
pub trait Texting: Send + Sync {
    /// The practice whose texting number this is.
    async fn find_practice_by_number(&self, number: &str) -> StoreResult<Option<Practice>>;
    /// Applies a decided change if the state is still `change.expected`.
    async fn change_texting(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        change: TextingChange,
    ) -> StoreResult<TextingChanged>;
    /// Patients whose verification window has closed while still pending (including windows
    /// that closed while the gateway was down), oldest first.
    async fn expired_verifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Patient>>;
}

#[async_trait]
impl<D: Db> Texting for D {
    async fn find_practice_by_number(&self, number: &str) -> StoreResult<Option<Practice>> {
        let number = number.to_string();
        self.autocommit(move |tx| {
            Box::pin(async move {
                let sql = format!("SELECT {PRACTICE_COLUMNS} FROM practices WHERE sms_number = $1");
                let row = tx.query_opt(&sql, &[number.arg()]).await?;
                row.map(|r| practice_from_row(&r)).transpose()
            })
        })
        .await
    }

    async fn change_texting(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        change: TextingChange,
    ) -> StoreResult<TextingChanged> {
        let audit = audit.clone();
        self.transaction(move |tx| Box::pin(change_texting(tx, audit, patient_id, change)))
            .await
    }

    async fn expired_verifications(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Patient>> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                let limit = i64::from(limit);
                patients_where(
                    tx,
                    "WHERE p.texting_status = 'pending'
                       AND (p.texting_expires_at IS NULL OR p.texting_expires_at <= $1)
                     ORDER BY p.texting_expires_at NULLS FIRST, p.id LIMIT $2",
                    &[now.arg(), limit.arg()],
                )
                .await
            })
        })
        .await
    }
}

async fn change_texting(
    tx: &Tx<'_>,
    audit: Audit,
    patient_id: Uuid,
    change: TextingChange,
) -> StoreResult<TextingChanged> {
    // The row lock orders this change after any concurrent inbound text of the patient.
    let sql = tx.pick(
        "SELECT id FROM patients WHERE id = $1 FOR NO KEY UPDATE",
        "SELECT id FROM patients WHERE id = $1",
    );
    tx.query_one(sql, &[patient_id.arg()]).await?;
    let current = load_patient(tx, patient_id).await?;
    if current.texting != change.expected {
        return Err(StoreError::Rule(RuleRefusal::TextingChanged));
    }
    if change.needs_texting
        && !crate::tenancy::practice_switches(tx, current.practice_id)
            .await?
            .0
    {
        return Err(StoreError::Rule(RuleRefusal::TextingDisabled));
    }
    if let Some(state) = &change.new_state {
        write_texting(tx, patient_id, state).await?;
    }
    let sql = "SELECT customer_id, sms_number FROM practices WHERE id = $1";
    let practice = tx.query_one(sql, &[current.practice_id.arg()]).await?;
    let (customer_id, practice_number): (Uuid, String) = (practice.get(0)?, practice.get(1)?);
    if let (true, Some(mobile)) = (change.opted_out, &current.mobile_phone) {
        crate::messaging::cancel_queued(tx, &practice_number, mobile, audit.at).await?;
    }
    let mut enqueued = Vec::with_capacity(change.replies.len());
    for reply in &change.replies {
        enqueued.push(
            crate::messaging::insert_outbox(tx, reply, audit.at)
                .await?
                .id,
        );
    }
    crate::feed::insert_notifications(tx, audit.at, &change.notifications).await?;
    let event = AuditEvent {
        customer_id: Some(customer_id),
        action: change.action,
        target_type: "patient",
        target_id: Some(patient_id.to_string()),
        patient_id: Some(patient_id),
    };
    insert_audit(tx, &audit, &event).await?;
    let patient = load_patient(tx, patient_id).await?;
    Ok(TextingChanged { patient, enqueued })
}

/// Writes the patient's texting state inside the caller's transaction (its row locked there).
pub(crate) async fn write_texting(
    tx: &Tx<'_>,
    patient_id: Uuid,
    state: &TextingRow,
) -> StoreResult<()> {
    tx.execute(
        "UPDATE patients SET texting_status = $2, texting_attempts_left = $3, texting_expires_at = $4,
             texting_updated_at = $5 WHERE id = $1",
        &[
            patient_id.arg(),
            state.status.arg(),
            state.attempts_left.arg(),
            state.expires_at.arg(),
            state.updated_at.arg(),
        ],
    )
    .await?;
    Ok(())
}
