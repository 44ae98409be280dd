//! Conversations: who works on a patient (care team, program staff, subscribers), each user's
//! read position, the message thread, staff sends (idempotent), and the patient portal.
//!
//! Care-team rules (seed 003): assigning a user to a program enrolment also puts them on the
//! care team; removing them from the care team removes them from every enrolment; removing them
//! from an enrolment leaves the care team as it is. This module never decides who may see a
//! conversation (the gateway does) and never logs a body.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::messaging::{MESSAGE_COLUMNS, insert_outbox, load_message, message_from_row};
use crate::rows::{insert_audit, load_patient, patients_where, visible_despite_programs};
use crate::sql::{Arg, Db, Row, ToArg, Tx};
use crate::*;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CareTeamMember {
    pub user_id: Uuid,
    /// Program enrolments of the patient this user is assigned to.
    pub programs: Vec<String>,
}

/// One line of a user's conversation list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversationItem {
    pub patient_id: Uuid,
    pub practice_id: Uuid,
    pub patient_name: String,
    pub last_message_at: Option<DateTime<Utc>>,
    /// A patient message newer than what this user has read.
    pub unread: bool,
}

/// An `Idempotency-Key` and the fingerprint of the request it came with (the caller's hash of
/// the route, the patient and the body). The same key with another fingerprint is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    pub fingerprint: String,
}

/// What a staff send's decision sees: the patient as it is with its row locked by the send's
/// transaction, so the channel cannot be chosen from a state an inbound STOP already changed.
#[derive(Debug, Clone)]
pub struct StaffSendContext {
    pub patient: Patient,
    /// Whether the patient holds a live portal token.
    pub has_portal: bool,
    /// The practice's switches as read in the send's transaction.
    pub texting_enabled: bool,
    pub portal_enabled: bool,
}

/// The channel a staff message goes out on, chosen inside the send's transaction.
pub enum StaffSendChoice {
    /// By text: its outbox row (with `record_message`).
    Sms(NewOutbound),
    /// By the portal.
    Portal,
    /// Not at all: nothing is written. The code and reason are the caller's to explain.
    Refused { code: String, reason: String },
}

/// Chooses the channel; run inside the transaction, it must not block or do I/O.
pub type StaffSendDecider = Box<dyn FnOnce(&StaffSendContext) -> StaffSendChoice + Send>;

/// A staff member's message to a patient.
pub struct NewStaffMessage {
    pub patient_id: Uuid,
    pub author_user_id: Uuid,
    pub body: String,
    pub choose: StaffSendDecider,
    pub idempotency: Option<IdempotencyKey>,
}

impl std::fmt::Debug for NewStaffMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewStaffMessage")
            .field("patient_id", &self.patient_id)
            .field("body_chars", &self.body.chars().count())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub enum StaffMessageOutcome {
    Created {
        message: Box<Message>,
        enqueued: Option<Uuid>,
    },
    /// The idempotency key was used before for the same request: the first message, nothing new.
    Replayed { message: Box<Message> },
    /// The decision refused the send (no channel the patient can be reached on); nothing written.
    Refused { code: String, reason: String },
}

/// Where a notice from the practice to a patient goes, chosen inside the notice's transaction
/// from the patient as it is with its row locked (so a STOP that committed first always wins).
#[derive(Debug, Default)]
pub struct PatientNoticeChoice {
    /// By text: its outbox row (with `record_message`, no author).
    pub sms: Option<NewOutbound>,
    /// Also as a portal message (no author).
    pub portal: bool,
}

/// Chooses a patient notice's channels; run inside the transaction, it must not block or do I/O.
pub type PatientNoticeDecider = Box<dyn FnOnce(&StaffSendContext) -> PatientNoticeChoice + Send>;

/// One user's unread-message reminder: the notification (feed and/or email, for
/// `notification.user_id`) and, when they want it by text, the text to their mobile.
#[derive(Debug, Clone)]
pub struct UnreadReminder {
    pub notification: NewNotification,
    pub text: Option<NewOutbound>,
}

#[async_trait]
pub trait Conversations: Send + Sync {
    async fn add_to_care_team(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<()>;
    /// Puts the user on the care team and on every program enrolment the patient has (as read in
    /// the same transaction); seed 003: "Staff assigned to Clients will automatically be assigned
    /// to any active Client Cases".
    async fn assign_to_patient(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<()>;
    /// Also removes the user from every program enrolment of the patient.
    async fn remove_from_care_team(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<()>;
    /// Also puts the user on the care team.
    async fn add_program_staff(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        program: &str,
        user_id: Uuid,
    ) -> StoreResult<()>;
    /// Leaves the care team as it is.
    async fn remove_program_staff(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        program: &str,
        user_id: Uuid,
    ) -> StoreResult<()>;
    async fn care_team(&self, patient_id: Uuid) -> StoreResult<Vec<CareTeamMember>>;
    async fn subscribe(&self, audit: &Audit, patient_id: Uuid, user_id: Uuid) -> StoreResult<()>;
    async fn unsubscribe(&self, audit: &Audit, patient_id: Uuid, user_id: Uuid) -> StoreResult<()>;
    async fn subscribers(&self, patient_id: Uuid) -> StoreResult<Vec<Uuid>>;
    /// Patients of the practice with this mobile number (candidates for an inbound text).
    async fn patients_with_number(&self, practice_id: Uuid, number: &str)
    -> StoreResult<Vec<Uuid>>;
    /// The user's care-team and subscribed patients, newest activity first, leaving out patients
    /// all of whose programs are in `restricted_programs`.
    async fn list_conversations(
        &self,
        user_id: Uuid,
        restricted_programs: Vec<String>,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<ConversationItem>>;
    /// Conversation lines (activity and this user's unread mark) for the given patients, newest
    /// activity first; for searching beyond the user's own list.
    async fn conversations_of(
        &self,
        user_id: Uuid,
        patient_ids: Vec<Uuid>,
    ) -> StoreResult<Vec<ConversationItem>>;
    /// The patient's messages newest first, before the message `before` (audited read).
    async fn list_messages(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        before: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Paged<Message>>;
    /// Records a staff message in one transaction, once per idempotency key: locks the patient,
    /// lets `new.choose` pick SMS (queueing the text), the portal or nothing, and writes the
    /// message. A key seen before answers `Replayed` when its fingerprint matches, and
    /// `Rule(RuleRefusal::IdempotencyKeyReused)` when it does not.
    async fn post_staff_message(
        &self,
        audit: &Audit,
        new: NewStaffMessage,
    ) -> StoreResult<StaffMessageOutcome>;
    /// Records a notice from the practice to a patient (no author) in one transaction: locks the
    /// patient, lets `decide` pick the channels from the patient as they are, queues the text
    /// and writes the conversation messages, with an audit row per message (`message.send`).
    /// Answers the messages written (none when `decide` chose none). `NotFound` when the
    /// patient does not exist.
    async fn post_patient_notice(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        body: &str,
        decide: PatientNoticeDecider,
    ) -> StoreResult<Vec<Message>>;
    /// Records a patient's portal message and the notifications (in-app rows and staff texts)
    /// it causes, in one transaction; `Rule(RuleRefusal::PortalDisabled)` when the
    /// practice has the portal turned off.
    async fn post_portal_message(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        body: &str,
        notifications: Vec<NewNotification>,
        texts: Vec<NewOutbound>,
    ) -> StoreResult<Message>;
    /// Marks everything up to the newest message read for this user only.
    async fn mark_read(
        &self,
        user_id: Uuid,
        patient_id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Stores a new portal token (hash) for the patient; earlier tokens stop working.
    /// `Rule(RuleRefusal::PortalDisabled)` when the practice has the portal turned off.
    async fn enroll_portal(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        token_hash: &str,
    ) -> StoreResult<()>;
    async fn portal_patient(&self, token_hash: &str) -> StoreResult<Patient>;
    /// Patient messages (kept, not redacted) created in `[from, until]`, oldest first: the
    /// candidates for an unread reminder.
    async fn patient_messages_between(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Message>>;
    /// For each reminder whose user has not read through `message` and was not reminded of it
    /// yet, records the reminder and adds its notification and text, in one transaction.
    /// Returns who was reminded.
    async fn remind_unread(
        &self,
        at: DateTime<Utc>,
        message: &Message,
        reminders: &[UnreadReminder],
    ) -> StoreResult<Vec<Uuid>>;
    /// Whether the patient holds a live portal token.
    async fn has_portal(&self, patient_id: Uuid) -> StoreResult<bool>;
}

/// The patient's care team with each member's program enrolments, in the order they joined.
/// PostgreSQL aggregates the programs so that a member is one row; SQLite reads them apart.
pub(crate) async fn load_care_team(
    tx: &Tx<'_>,
    patient_id: Uuid,
) -> StoreResult<Vec<CareTeamMember>> {
    let sql = tx.pick(
        "SELECT c.user_id, ARRAY(SELECT s.program FROM program_staff s
                                 WHERE s.patient_id = c.patient_id AND s.user_id = c.user_id ORDER BY s.program)
         FROM care_team c WHERE c.patient_id = $1 ORDER BY c.added_at, c.user_id",
        "SELECT c.user_id FROM care_team c WHERE c.patient_id = $1 ORDER BY c.added_at, c.user_id",
    );
    let rows = tx.query(sql, &[patient_id.arg()]).await?;
    let mut members = Vec::with_capacity(rows.len());
    for row in &rows {
        let user_id: Uuid = row.get(0)?;
        let programs = match row {
            Row::Pg(_) => row.get(1)?,
            Row::Lite(_) => {
                tx.column(
                    "SELECT program FROM program_staff WHERE patient_id = $1 AND user_id = $2
                     ORDER BY program",
                    &[patient_id.arg(), user_id.arg()],
                )
                .await?
            }
        };
        members.push(CareTeamMember { user_id, programs });
    }
    Ok(members)
}

/// Puts `user_id` on the patient's care team and every program enrolment the patient has.
pub(crate) async fn assign_care_team(
    tx: &Tx<'_>,
    patient_id: Uuid,
    user_id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO care_team (patient_id, user_id, added_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[patient_id.arg(), user_id.arg(), at.arg()],
    )
    .await?;
    tx.execute(
        "INSERT INTO program_staff (patient_id, program, user_id)
         SELECT patient_id, program, $2 FROM patient_programs WHERE patient_id = $1
         ON CONFLICT DO NOTHING",
        &[patient_id.arg(), user_id.arg()],
    )
    .await?;
    Ok(())
}

/// The audit row of a change to, or a read of, the patient's conversation; `NotFound` when
/// there is no such patient.
async fn audit_patient(
    tx: &Tx<'_>,
    audit: &Audit,
    patient_id: Uuid,
    action: &'static str,
    target: String,
) -> StoreResult<()> {
    let sql = "SELECT pr.customer_id FROM patients p JOIN practices pr ON pr.id = p.practice_id
               WHERE p.id = $1";
    let customer_id: Uuid = tx.query_one(sql, &[patient_id.arg()]).await?.get(0)?;
    let event = AuditEvent {
        customer_id: Some(customer_id),
        action,
        target_type: "patient",
        target_id: Some(target),
        patient_id: Some(patient_id),
    };
    insert_audit(tx, audit, &event).await
}

/// Locks the patient's row (PostgreSQL) the way inbound texts do, so that a conversation's
/// messages are written one at a time and a STOP being recorded is seen, or waited for;
/// `NotFound` when there is no such patient.
async fn lock_patient(tx: &Tx<'_>, patient_id: Uuid) -> StoreResult<()> {
    let sql = tx.pick(
        "SELECT 1 FROM patients WHERE id = $1 FOR NO KEY UPDATE",
        "SELECT 1 FROM patients WHERE id = $1",
    );
    tx.query_one(sql, &[patient_id.arg()]).await?;
    Ok(())
}

/// Whether the patient holds a live portal token.
async fn holds_portal(tx: &Tx<'_>, patient_id: Uuid) -> StoreResult<bool> {
    let sql =
        "SELECT EXISTS (SELECT 1 FROM portal_tokens WHERE patient_id = $1 AND revoked_at IS NULL)";
    tx.query_one(sql, &[patient_id.arg()]).await?.get(0)
}

/// What a staff send or a patient notice decides from: the patient (its row locked by the
/// caller), its portal and the practice's switches, all read in the caller's transaction.
async fn send_context(tx: &Tx<'_>, patient_id: Uuid) -> StoreResult<StaffSendContext> {
    let patient = load_patient(tx, patient_id).await?;
    let has_portal = holds_portal(tx, patient_id).await?;
    let (texting_enabled, portal_enabled) =
        crate::tenancy::practice_switches(tx, patient.practice_id).await?;
    Ok(StaffSendContext {
        patient,
        has_portal,
        texting_enabled,
        portal_enabled,
    })
}

/// Writes an outbound portal message (delivered at once: the patient reads it in the portal).
async fn insert_portal_message(
    tx: &Tx<'_>,
    patient: &Patient,
    body: &str,
    author_user_id: Option<Uuid>,
    at: DateTime<Utc>,
) -> StoreResult<Uuid> {
    let id = new_id();
    tx.execute(
        "INSERT INTO messages (id, practice_id, patient_id, channel, direction, body, author_user_id,
                               status, created_at, updated_at)
         VALUES ($1, $2, $3, 'portal', 'outbound', $4, $5, 'delivered', $6, $6)",
        &[
            id.arg(),
            patient.practice_id.arg(),
            patient.id.arg(),
            body.arg(),
            author_user_id.arg(),
            at.arg(),
        ],
    )
    .await?;
    Ok(id)
}

fn portal_disabled() -> StoreError {
    StoreError::Rule(RuleRefusal::PortalDisabled)
}

/// Runs `statements` (the patient id `$1`, the user id `$2`, and the time `$3` where the
/// statement names it) and an audit row in one transaction.
async fn membership_change<D: Db>(
    db: &D,
    audit: &Audit,
    patient_id: Uuid,
    user_id: Uuid,
    statements: &[&'static str],
    action: &'static str,
) -> StoreResult<()> {
    let audit = audit.clone();
    let statements = statements.to_vec();
    db.transaction(move |tx| {
        Box::pin(async move {
            let args = [patient_id.arg(), user_id.arg(), audit.at.arg()];
            for sql in statements {
                let named = if sql.contains("$3") { 3 } else { 2 };
                tx.execute(sql, &args[..named]).await?;
            }
            let target = format!("{patient_id}/{user_id}");
            audit_patient(tx, &audit, patient_id, action, target).await
        })
    })
    .await
}

/// The constraint a staff send's key answers when a concurrent request with the same key
/// committed first: the send rolls back and is answered as a retry.
const IDEMPOTENCY_KEY: &str = "idempotency_keys_pkey";

/// The message a stored idempotency key answers with, if the key is stored; a refusal when it
/// was stored with another request's fingerprint (keys from before fingerprints replay).
async fn replayed_message(
    tx: &Tx<'_>,
    user_id: Uuid,
    key: &IdempotencyKey,
) -> StoreResult<Option<Uuid>> {
    let sql =
        "SELECT message_id, fingerprint FROM idempotency_keys WHERE user_id = $1 AND key = $2";
    let Some(row) = tx.query_opt(sql, &[user_id.arg(), key.key.arg()]).await? else {
        return Ok(None);
    };
    match row.get::<Option<String>>(1)? {
        Some(stored) if stored != key.fingerprint => {
            Err(StoreError::Rule(RuleRefusal::IdempotencyKeyReused))
        }
        _ => Ok(Some(row.get(0)?)),
    }
}

/// The outcome of a staff send whose key is stored: the first message, nothing new.
async fn replay(
    tx: &Tx<'_>,
    user_id: Uuid,
    key: &IdempotencyKey,
) -> StoreResult<Option<StaffMessageOutcome>> {
    match replayed_message(tx, user_id, key).await? {
        Some(id) => Ok(Some(StaffMessageOutcome::Replayed {
            message: Box::new(load_message(tx, id).await?),
        })),
        None => Ok(None),
    }
}

async fn post_staff_message(
    tx: &Tx<'_>,
    audit: Audit,
    new: NewStaffMessage,
) -> StoreResult<StaffMessageOutcome> {
    if let Some(key) = &new.idempotency
        && let Some(replayed) = replay(tx, new.author_user_id, key).await?
    {
        return Ok(replayed);
    }
    // The channel is chosen from the patient as a STOP may just have left it.
    lock_patient(tx, new.patient_id).await?;
    let context = send_context(tx, new.patient_id).await?;
    let (message_id, enqueued) = match (new.choose)(&context) {
        // Nothing was written, so the transaction ends with nothing to commit.
        StaffSendChoice::Refused { code, reason } => {
            return Ok(StaffMessageOutcome::Refused { code, reason });
        }
        StaffSendChoice::Sms(outbound) => {
            let queued = insert_outbox(tx, &outbound, audit.at).await?;
            let message_id = queued.message_id.ok_or_else(|| {
                StoreError::Unexpected(
                    "a staff SMS must be recorded as a conversation message".into(),
                )
            })?;
            (message_id, Some(queued.id))
        }
        StaffSendChoice::Portal => {
            let author = Some(new.author_user_id);
            let id =
                insert_portal_message(tx, &context.patient, &new.body, author, audit.at).await?;
            (id, None)
        }
    };
    if let Some(key) = &new.idempotency {
        let inserted = tx
            .execute(
                "INSERT INTO idempotency_keys (user_id, key, patient_id, message_id, created_at, fingerprint)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                &[
                    new.author_user_id.arg(),
                    key.key.arg(),
                    new.patient_id.arg(),
                    message_id.arg(),
                    audit.at.arg(),
                    key.fingerprint.arg(),
                ],
            )
            .await?;
        if inserted == 0 {
            // A concurrent request with the same key won (PostgreSQL): keep nothing.
            return Err(StoreError::Conflict {
                constraint: IDEMPOTENCY_KEY.into(),
            });
        }
    }
    let target = message_id.to_string();
    audit_patient(tx, &audit, new.patient_id, "message.send", target).await?;
    Ok(StaffMessageOutcome::Created {
        message: Box::new(load_message(tx, message_id).await?),
        enqueued,
    })
}

pub(crate) async fn post_patient_notice(
    tx: &Tx<'_>,
    audit: Audit,
    patient_id: Uuid,
    body: String,
    decide: PatientNoticeDecider,
) -> StoreResult<Vec<Message>> {
    lock_patient(tx, patient_id).await?;
    let context = send_context(tx, patient_id).await?;
    let choice = decide(&context);
    let mut ids = Vec::new();
    if let Some(outbound) = &choice.sms {
        let queued = insert_outbox(tx, outbound, audit.at).await?;
        ids.extend(queued.message_id);
    }
    if choice.portal {
        ids.push(insert_portal_message(tx, &context.patient, &body, None, audit.at).await?);
    }
    let mut messages = Vec::with_capacity(ids.len());
    for id in ids {
        audit_patient(tx, &audit, patient_id, "message.send", id.to_string()).await?;
        messages.push(load_message(tx, id).await?);
    }
    Ok(messages)
}

async fn post_portal_message(
    tx: &Tx<'_>,
    audit: Audit,
    patient_id: Uuid,
    body: String,
    notifications: Vec<NewNotification>,
    texts: Vec<NewOutbound>,
) -> StoreResult<Message> {
    let sql = tx.pick(
        "SELECT practice_id FROM patients WHERE id = $1 FOR NO KEY UPDATE",
        "SELECT practice_id FROM patients WHERE id = $1",
    );
    let practice_id: Uuid = tx.query_one(sql, &[patient_id.arg()]).await?.get(0)?;
    if !crate::tenancy::practice_switches(tx, practice_id).await?.1 {
        return Err(portal_disabled());
    }
    let id = new_id();
    tx.execute(
        "INSERT INTO messages (id, practice_id, patient_id, channel, direction, body, status, created_at, updated_at)
         VALUES ($1, $2, $3, 'portal', 'inbound', $4, 'received', $5, $5)",
        &[id.arg(), practice_id.arg(), patient_id.arg(), body.arg(), audit.at.arg()],
    )
    .await?;
    crate::feed::insert_notifications(tx, audit.at, &notifications).await?;
    for text in &texts {
        insert_outbox(tx, text, audit.at).await?;
    }
    audit_patient(
        tx,
        &audit,
        patient_id,
        "message.portal_inbound",
        id.to_string(),
    )
    .await?;
    load_message(tx, id).await
}

async fn enroll_portal(
    tx: &Tx<'_>,
    audit: Audit,
    patient_id: Uuid,
    token_hash: String,
) -> StoreResult<()> {
    let patient = load_patient(tx, patient_id).await?;
    if !crate::tenancy::practice_switches(tx, patient.practice_id)
        .await?
        .1
    {
        return Err(portal_disabled());
    }
    tx.execute(
        "UPDATE portal_tokens SET revoked_at = $2 WHERE patient_id = $1 AND revoked_at IS NULL",
        &[patient_id.arg(), audit.at.arg()],
    )
    .await?;
    tx.execute(
        "INSERT INTO portal_tokens (token_hash, patient_id, created_at) VALUES ($1, $2, $3)",
        &[token_hash.arg(), patient_id.arg(), audit.at.arg()],
    )
    .await?;
    audit_patient(
        tx,
        &audit,
        patient_id,
        "portal.enroll",
        patient_id.to_string(),
    )
    .await
}

/// Records the reminders of users who have not read through `message` and were not reminded of
/// it yet, with their notifications and texts; who was reminded.
async fn remind_unread(
    tx: &Tx<'_>,
    at: DateTime<Utc>,
    message_id: Uuid,
    patient_id: Uuid,
    reminders: Vec<UnreadReminder>,
) -> StoreResult<Vec<Uuid>> {
    let users: Vec<Uuid> = reminders.iter().map(|r| r.notification.user_id).collect();
    let reminded: Vec<Uuid> = match tx {
        // One statement for every user.
        Tx::Pg(_) => {
            tx.column(
                "INSERT INTO unread_reminders (message_id, user_id, sent_at)
                 SELECT $1, u.id, $4 FROM unnest($3::uuid[]) AS u(id)
                 WHERE NOT EXISTS (SELECT 1 FROM conversation_reads r
                                   WHERE r.user_id = u.id AND r.patient_id = $2 AND r.read_through >= $1)
                 ON CONFLICT DO NOTHING
                 RETURNING user_id",
                &[message_id.arg(), patient_id.arg(), users.arg(), at.arg()],
            )
            .await?
        }
        // No arrays: one statement per user.
        Tx::Lite(_) => {
            let mut reminded = Vec::new();
            for user_id in users {
                let inserted = tx
                    .execute(
                        "INSERT INTO unread_reminders (message_id, user_id, sent_at)
                         SELECT $1, $3, $4
                         WHERE NOT EXISTS (SELECT 1 FROM conversation_reads r
                                           WHERE r.user_id = $3 AND r.patient_id = $2 AND r.read_through >= $1)
                         ON CONFLICT DO NOTHING",
                        &[message_id.arg(), patient_id.arg(), user_id.arg(), at.arg()],
                    )
                    .await?;
                if inserted == 1 {
                    reminded.push(user_id);
                }
            }
            reminded
        }
    };
    for reminder in reminders
        .iter()
        .filter(|r| reminded.contains(&r.notification.user_id))
    {
        crate::feed::insert_notifications(tx, at, std::slice::from_ref(&reminder.notification))
            .await?;
        if let Some(text) = &reminder.text {
            insert_outbox(tx, text, at).await?;
        }
    }
    Ok(reminded)
}

/// The columns of a [`ConversationItem`] (`id`, `practice_id`, `name`, `last_at`, `unread`) of
/// patient `p` for user `$1`, from the patient's conversation head `h` (kept by a trigger on
/// messages, migration 0034; `h` needs `patient_id`, `last_at` and `last_inbound_id`).
fn conversation_columns(tx: &Tx<'_>) -> String {
    format!(
        "p.id, p.practice_id, p.first_name || ' ' || p.last_name AS name, h.last_at,
         COALESCE({UNREAD_HEAD}, false) AS unread",
        UNREAD_HEAD = unread_head(tx, "$1")
    )
}

/// Whether the conversation head `h` has a message from the patient newer than user `user`'s
/// read mark: the one "unread" rule (NULL when the patient never wrote).
pub(crate) fn unread_head(tx: &Tx<'_>, user: &str) -> String {
    format!(
        "h.last_inbound_id > COALESCE((SELECT r.read_through FROM conversation_reads r
                                       WHERE r.user_id = {user} AND r.patient_id = h.patient_id),
                                      {})",
        tx.pick(
            "'00000000-0000-0000-0000-000000000000'::uuid",
            "zeroblob(16)"
        )
    )
}

fn conversation_from_row(row: &Row) -> StoreResult<ConversationItem> {
    Ok(ConversationItem {
        patient_id: row.get(0)?,
        practice_id: row.get(1)?,
        patient_name: row.get(2)?,
        last_message_at: row.get(3)?,
        unread: row.get(4)?,
    })
}

#[async_trait]
impl<D: Db> Conversations for D {
    async fn add_to_care_team(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<()> {
        let sql = "INSERT INTO care_team (patient_id, user_id, added_at) VALUES ($1, $2, $3)
                   ON CONFLICT DO NOTHING";
        membership_change(self, audit, patient_id, user_id, &[sql], "care_team.add").await
    }

    async fn assign_to_patient(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<()> {
        let audit = audit.clone();
        self.transaction(move |tx| {
            Box::pin(async move {
                // The patient's row is locked so its programs cannot change between the read and
                // the assignment.
                lock_patient(tx, patient_id).await?;
                assign_care_team(tx, patient_id, user_id, audit.at).await?;
                let target = format!("{patient_id}/{user_id}");
                audit_patient(tx, &audit, patient_id, "care_team.assign", target).await
            })
        })
        .await
    }

    async fn remove_from_care_team(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<()> {
        const STATEMENTS: &[&str] = &[
            "DELETE FROM program_staff WHERE patient_id = $1 AND user_id = $2",
            "DELETE FROM care_team WHERE patient_id = $1 AND user_id = $2",
        ];
        membership_change(
            self,
            audit,
            patient_id,
            user_id,
            STATEMENTS,
            "care_team.remove",
        )
        .await
    }

    async fn add_program_staff(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        program: &str,
        user_id: Uuid,
    ) -> StoreResult<()> {
        let audit = audit.clone();
        let program = program.to_string();
        self.transaction(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "INSERT INTO program_staff (patient_id, program, user_id) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[patient_id.arg(), program.arg(), user_id.arg()],
                )
                .await?;
                tx.execute(
                    "INSERT INTO care_team (patient_id, user_id, added_at) VALUES ($1, $2, $3)
                     ON CONFLICT DO NOTHING",
                    &[patient_id.arg(), user_id.arg(), audit.at.arg()],
                )
                .await?;
                let target = format!("{patient_id}/{program}/{user_id}");
                audit_patient(tx, &audit, patient_id, "program_staff.add", target).await
            })
        })
        .await
    }

    async fn remove_program_staff(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        program: &str,
        user_id: Uuid,
    ) -> StoreResult<()> {
        let audit = audit.clone();
        let program = program.to_string();
        self.transaction(move |tx| {
            Box::pin(async move {
                tx.execute(
                    "DELETE FROM program_staff WHERE patient_id = $1 AND program = $2 AND user_id = $3",
                    &[patient_id.arg(), program.arg(), user_id.arg()],
                )
                .await?;
                let target = format!("{patient_id}/{program}/{user_id}");
                audit_patient(tx, &audit, patient_id, "program_staff.remove", target).await
            })
        })
        .await
    }

    async fn care_team(&self, patient_id: Uuid) -> StoreResult<Vec<CareTeamMember>> {
        self.autocommit(move |tx| Box::pin(load_care_team(tx, patient_id)))
            .await
    }

    async fn subscribe(&self, audit: &Audit, patient_id: Uuid, user_id: Uuid) -> StoreResult<()> {
        let sql =
            "INSERT INTO patient_subscriptions (patient_id, user_id, added_at) VALUES ($1, $2, $3)
                   ON CONFLICT DO NOTHING";
        membership_change(self, audit, patient_id, user_id, &[sql], "subscription.add").await
    }

    async fn unsubscribe(&self, audit: &Audit, patient_id: Uuid, user_id: Uuid) -> StoreResult<()> {
        let sql = "DELETE FROM patient_subscriptions WHERE patient_id = $1 AND user_id = $2";
        membership_change(
            self,
            audit,
            patient_id,
            user_id,
            &[sql],
            "subscription.remove",
        )
        .await
    }

    async fn subscribers(&self, patient_id: Uuid) -> StoreResult<Vec<Uuid>> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                tx.column(
                    "SELECT user_id FROM patient_subscriptions WHERE patient_id = $1
                     ORDER BY added_at, user_id",
                    &[patient_id.arg()],
                )
                .await
            })
        })
        .await
    }

    async fn patients_with_number(
        &self,
        practice_id: Uuid,
        number: &str,
    ) -> StoreResult<Vec<Uuid>> {
        let number = number.to_string();
        self.autocommit(move |tx| {
            Box::pin(async move {
                tx.column(
                    "SELECT id FROM patients WHERE practice_id = $1 AND mobile_phone = $2",
                    &[practice_id.arg(), number.arg()],
                )
                .await
            })
        })
        .await
    }

    async fn list_conversations(
        &self,
        user_id: Uuid,
        restricted_programs: Vec<String>,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<ConversationItem>> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                // The conversation list's hot path, one statement: the page is cut from the
                // user's patients and their heads alone; names and unread marks are read for the
                // page's rows only.
                let mut args: Vec<Arg<'_>> = vec![user_id.arg()];
                let visible =
                    visible_despite_programs(tx, "mine.patient_id", &restricted_programs, &mut args);
                let (limit, offset) = (i64::from(limit), i64::from(offset));
                args.push(limit.arg());
                args.push(offset.arg());
                let sql = format!(
                    "WITH mine AS (
                         SELECT patient_id FROM care_team WHERE user_id = $1
                         UNION ALL
                         SELECT s.patient_id FROM patient_subscriptions s
                         WHERE s.user_id = $1
                           AND NOT EXISTS (SELECT 1 FROM care_team c
                                           WHERE c.user_id = $1 AND c.patient_id = s.patient_id)
                     ), page AS (
                         SELECT mine.patient_id, h.last_at, h.last_inbound_id
                         FROM mine LEFT JOIN conversation_heads h ON h.patient_id = mine.patient_id
                         WHERE true {visible}
                         ORDER BY h.last_at DESC NULLS LAST, mine.patient_id DESC LIMIT ${} OFFSET ${}
                     )
                     SELECT {} FROM page h JOIN patients p ON p.id = h.patient_id
                     ORDER BY h.last_at DESC NULLS LAST, p.id DESC",
                    args.len() - 1,
                    args.len(),
                    conversation_columns(tx),
                );
                let rows = tx.query(&sql, &args).await?;
                rows.iter().map(conversation_from_row).collect()
            })
        })
        .await
    }

    async fn conversations_of(
        &self,
        user_id: Uuid,
        patient_ids: Vec<Uuid>,
    ) -> StoreResult<Vec<ConversationItem>> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                let mut args: Vec<Arg<'_>> = vec![user_id.arg()];
                let patients = tx.in_list(&patient_ids, &mut args);
                let sql = format!(
                    "SELECT {} FROM patients p LEFT JOIN conversation_heads h ON h.patient_id = p.id
                     WHERE p.id {patients}
                     ORDER BY last_at DESC NULLS LAST, p.id DESC",
                    conversation_columns(tx)
                );
                let rows = tx.query(&sql, &args).await?;
                rows.iter().map(conversation_from_row).collect()
            })
        })
        .await
    }

    async fn list_messages(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        before: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Paged<Message>> {
        let audit = audit.clone();
        self.transaction(move |tx| {
            Box::pin(async move {
                let page = Page {
                    after: before,
                    limit,
                };
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages
                     WHERE patient_id = $1 AND (id < $2 OR $2 IS NULL) ORDER BY id DESC LIMIT $3"
                );
                let limit = page.fetch_limit();
                let args = [patient_id.arg(), before.arg(), limit.arg()];
                let messages = tx
                    .query(&sql, &args)
                    .await?
                    .iter()
                    .map(message_from_row)
                    .collect::<StoreResult<Vec<_>>>()?;
                let target = patient_id.to_string();
                audit_patient(tx, &audit, patient_id, "conversation.read", target).await?;
                Ok(Paged::from_rows(messages, page, |m| m.id))
            })
        })
        .await
    }

    async fn post_staff_message(
        &self,
        audit: &Audit,
        new: NewStaffMessage,
    ) -> StoreResult<StaffMessageOutcome> {
        let audit = audit.clone();
        let (user_id, key) = (new.author_user_id, new.idempotency.clone());
        let posted = self
            .transaction(move |tx| Box::pin(post_staff_message(tx, audit, new)))
            .await;
        match (posted, key) {
            // A concurrent request with the same key committed first: answer as to a retry.
            (Err(StoreError::Conflict { constraint }), Some(key))
                if constraint == IDEMPOTENCY_KEY =>
            {
                self.autocommit(move |tx| {
                    Box::pin(async move {
                        replay(tx, user_id, &key).await?.ok_or_else(|| {
                            StoreError::Unexpected("an idempotency key vanished".into())
                        })
                    })
                })
                .await
            }
            (posted, _) => posted,
        }
    }

    async fn post_patient_notice(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        body: &str,
        decide: PatientNoticeDecider,
    ) -> StoreResult<Vec<Message>> {
        let audit = audit.clone();
        let body = body.to_string();
        self.transaction(move |tx| {
            Box::pin(post_patient_notice(tx, audit, patient_id, body, decide))
        })
        .await
    }

    async fn post_portal_message(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        body: &str,
        notifications: Vec<NewNotification>,
        texts: Vec<NewOutbound>,
    ) -> StoreResult<Message> {
        let audit = audit.clone();
        let body = body.to_string();
        self.transaction(move |tx| {
            Box::pin(post_portal_message(
                tx,
                audit,
                patient_id,
                body,
                notifications,
                texts,
            ))
        })
        .await
    }

    async fn mark_read(
        &self,
        user_id: Uuid,
        patient_id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                let newest = tx.pick("GREATEST(conversation_reads.read_through, excluded.read_through)",
                                     "max(conversation_reads.read_through, excluded.read_through)");
                let sql = format!(
                    "INSERT INTO conversation_reads (user_id, patient_id, read_through, read_at)
                     SELECT $1, $2, h.last_message_id, $3 FROM conversation_heads h WHERE h.patient_id = $2
                     ON CONFLICT (user_id, patient_id) DO UPDATE
                         SET read_through = {newest}, read_at = excluded.read_at"
                );
                tx.execute(&sql, &[user_id.arg(), patient_id.arg(), at.arg()])
                    .await?;
                Ok(())
            })
        })
        .await
    }

    async fn enroll_portal(
        &self,
        audit: &Audit,
        patient_id: Uuid,
        token_hash: &str,
    ) -> StoreResult<()> {
        let audit = audit.clone();
        let token_hash = token_hash.to_string();
        self.transaction(move |tx| Box::pin(enroll_portal(tx, audit, patient_id, token_hash)))
            .await
    }

    async fn portal_patient(&self, token_hash: &str) -> StoreResult<Patient> {
        let token_hash = token_hash.to_string();
        self.autocommit(move |tx| {
            Box::pin(async move {
                let filter = "JOIN portal_tokens t ON t.patient_id = p.id
                              WHERE t.token_hash = $1 AND t.revoked_at IS NULL";
                patients_where(tx, filter, &[token_hash.arg()])
                    .await?
                    .pop()
                    .ok_or(StoreError::NotFound)
            })
        })
        .await
    }

    async fn has_portal(&self, patient_id: Uuid) -> StoreResult<bool> {
        self.autocommit(move |tx| Box::pin(holds_portal(tx, patient_id)))
            .await
    }

    async fn patient_messages_between(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<Message>> {
        self.autocommit(move |tx| {
            Box::pin(async move {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages
                     WHERE direction = 'inbound' AND patient_id IS NOT NULL AND body IS NOT NULL
                       AND created_at >= $1 AND created_at <= $2
                     ORDER BY created_at, id LIMIT $3"
                );
                let limit = i64::from(limit);
                let args = [from.arg(), until.arg(), limit.arg()];
                tx.query(&sql, &args)
                    .await?
                    .iter()
                    .map(message_from_row)
                    .collect()
            })
        })
        .await
    }

    async fn remind_unread(
        &self,
        at: DateTime<Utc>,
        message: &Message,
        reminders: &[UnreadReminder],
    ) -> StoreResult<Vec<Uuid>> {
        let patient_id = message.patient_id.ok_or(StoreError::NotFound)?;
        let message_id = message.id;
        let reminders = reminders.to_vec();
        self.transaction(move |tx| {
            Box::pin(remind_unread(tx, at, message_id, patient_id, reminders))
        })
        .await
    }
}
