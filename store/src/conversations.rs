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
/// Each backend keeps its own version until the conversations aggregate is written once.
pub(crate) async fn load_care_team(
    tx: &crate::sql::Tx<'_>,
    patient_id: Uuid,
) -> StoreResult<Vec<CareTeamMember>> {
    use crate::postgres::{PgConn, conversations as pg};
    use crate::sql::Tx;
    match tx {
        Tx::Pg(PgConn::Tx(c)) => pg::load_care_team(*c, patient_id).await,
        Tx::Pg(PgConn::Client(c)) => pg::load_care_team(*c, patient_id).await,
        Tx::Lite(c) => c.with(|c| crate::sqlite::conversations::load_care_team(c, patient_id)),
    }
}

/// Puts `user_id` on the patient's care team and every program enrolment the patient has.
/// Each backend keeps its own version until the conversations aggregate is written once.
pub(crate) async fn assign_care_team(
    tx: &crate::sql::Tx<'_>,
    patient_id: Uuid,
    user_id: Uuid,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    use crate::postgres::{PgConn, conversations as pg};
    use crate::sql::Tx;
    match tx {
        Tx::Pg(PgConn::Tx(c)) => pg::assign_care_team(*c, patient_id, user_id, at).await,
        Tx::Pg(PgConn::Client(c)) => pg::assign_care_team(*c, patient_id, user_id, at).await,
        Tx::Lite(c) => {
            c.with(|c| crate::sqlite::conversations::assign_care_team(c, patient_id, user_id, at))
        }
    }
}
