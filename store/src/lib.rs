//! Persistence for the gateway: the store API, its PostgreSQL and SQLite backends and their
//! migrations.
//!
//! Services call the [`Store`] trait without knowing the backend. Each method is one business
//! operation and one transaction: a change and its audit row commit together or not at all, and
//! nothing is acknowledged before it is committed. The backend is chosen from the URL scheme by
//! [`connect`]. This crate owns all SQL; it must never hold business rules (those are the
//! gateway's domain) nor log row contents (they hold patient data).
//!
//! Each use case is written once, over the connection interface of `sql` that both backends
//! implement (see the README's Architecture section); `postgres` and `sqlite` hold only what
//! differs: connecting, running a statement, translating errors, proving an instance alive, and
//! recording an inbound text ([`Inbound`], PostgreSQL's hot path).

mod accounts;
mod alerts;
mod api_tokens;
mod audit;
mod claims;
mod config_changes;
mod conversations;
mod disclaimers;
mod emails;
mod error;
mod feed;
mod inbound;
mod instances;
mod messaging;
pub mod migrations;
mod model;
mod named_columns;
mod notification_settings;
mod oncall;
mod patients;
mod postgres;
mod readings;
mod rows;
mod sql;
mod sqlite;
mod tenancy;
#[cfg(feature = "testing")]
pub mod testing;
mod texting;
mod throttle;
mod urgency;

use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

pub use accounts::Accounts;
pub use alerts::{
    Alert, AlertText, Alerts, DecideTextAck, EscalationStep, NewAlert, NumberEvidence,
    OpenAlertStats, TextAck, TextAckContext, TextAckDecision, TextAckOutcome,
};
pub use api_tokens::{ApiToken, ApiTokens, NewApiToken};
pub use audit::AuditLog;
pub use config_changes::ConfigChanges;
pub use conversations::{
    CareTeamMember, ConversationItem, Conversations, IdempotencyKey, NewStaffMessage,
    PatientNoticeChoice, PatientNoticeDecider, StaffMessageOutcome, StaffSendChoice,
    StaffSendContext, StaffSendDecider, UnreadReminder,
};
pub use disclaimers::{Disclaimers, PracticeDisclaimers};
pub use emails::{ClaimedEmail, EmailOutboxRow, Emails};
pub use error::{RuleRefusal, StoreError, StoreResult};
pub use feed::{Feed, NewNotification, Notification, NotificationEmail};
pub use inbound::{
    CONFIG_CHANGED, Inbound, InboundContext, InboundDecider, InboundDecision, InboundOutcome,
    NewInbound,
};
pub use instances::{Instances, ReleasedClaims};
pub use messaging::*;
pub use model::*;
pub use notification_settings::{
    ApplyDefaultsTo, NotificationSettingRow, NotificationSettings, PatientNotificationSettingRow,
    StoredUserSetting, UserNotificationLayers,
};
pub use oncall::{
    EVERY_DAY, OnCall, OnCallDuty, OnCallHandover, OnCallOverrideRow, OnCallRefusal, OnCallRule,
    OnCallWindowRow,
};
pub use patients::{PatientReadCheck, Patients, Templates};
pub use postgres::PostgresStore;
pub use readings::{
    ApplyReadingDefaultsTo, DecideFollowUps, DecideReading, EffectiveReadingAlert, FollowUps,
    NewReading, OverdueCandidate, PatientVitalFrequency, ReadingAlertSource, ReadingContext,
    ReadingDecision, ReadingFollowUps, ReadingFrequency, ReadingSettings, ReadingSource, Readings,
    RecordedReading, StoredReading, Unprepared, VitalFrequency,
};
pub use sqlite::SqliteStore;
pub use tenancy::Tenancy;
pub use texting::{Texting, TextingChange, TextingChanged};
pub use throttle::{DecideThrottle, LoginThrottle, ThrottleRow};
/// The outbox row's state, once this crate's own type: still nameable as `store::OutboxState`.
pub use types::OutboxState;
pub use urgency::{Urgency, urgent};

/// The store API: one trait per aggregate, each method one use case and one transaction. Every
/// method that changes data or reads patient data takes an [`Audit`] and writes the audit row in
/// the same transaction.
#[async_trait]
pub trait Store:
    Accounts
    + Tenancy
    + Patients
    + Templates
    + AuditLog
    + NotificationSettings
    + Disclaimers
    + Feed
    + Messaging
    + Inbound
    + Texting
    + Conversations
    + Readings
    + ReadingSettings
    + OnCall
    + ApiTokens
    + Alerts
    + Emails
    + LoginThrottle
    + Instances
    + ConfigChanges
    + Send
    + Sync
    + 'static
{
    fn backend(&self) -> Backend;

    /// Applies the embedded migrations not yet applied. Safe to call concurrently.
    async fn migrate(&self) -> StoreResult<()>;

    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> StoreResult<()>;

    /// Changes whenever any instance on this store committed work for the dispatchers or the
    /// notification streams (PostgreSQL LISTEN/NOTIFY). `None` where one process owns the store
    /// (SQLite): its own wake-ups are all there is.
    fn work_signals(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// Changes whenever any instance committed notifications and nothing to send (PostgreSQL);
    /// wakes the notification streams only. `None` as for [`Store::work_signals`].
    fn feed_signals(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// Changes soon after any process committed a change to the configuration counted by
    /// [`Inbound::config_version`] (PostgreSQL: `NOTIFY gateway_config` from triggers). A hint
    /// for dropping caches early; the version read inside the inbound transaction is what makes
    /// a change count. `None` where one process owns the store (SQLite).
    fn config_signals(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

/// Opens the store named by `url` (`postgres://…`, `postgresql://…` or `sqlite://PATH`).
/// Does not migrate; call [`Store::migrate`].
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url)?))
    } else if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(Arc::new(
            SqliteStore::open(std::path::Path::new(path)).await?,
        ))
    } else {
        Err(StoreError::Unexpected(
            "DATABASE_URL must start with postgres://, postgresql:// or sqlite://".into(),
        ))
    }
}

/// A new time-ordered identifier (UUIDv7): ids sort by creation, which cursors rely on.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}
