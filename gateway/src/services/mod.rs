//! Services: load state from the store, ask the domain what to do, write the outcome in one
//! transaction (outbound texts included, as outbox rows), then wake the dispatcher.
//!
//! A service must never call the carrier directly (texts go through the outbox) and never log a
//! message body.

pub mod access;
pub mod alerts;
pub mod api_tokens;
pub mod audit;
pub mod care_team;
pub mod conversations;
pub mod customers;
pub mod delivery;
pub mod dev_transport;
pub mod disclaimers;
pub mod feed;
pub mod inbound;
pub mod monitoring;
pub mod notification_settings;
pub mod notify;
pub mod oncall;
pub mod patient_notices;
pub mod patients;
pub mod portal;
pub mod practice_context;
pub mod practice_groups;
pub mod practices;
pub mod reading_frequency;
pub mod reading_plan;
pub mod readings;
pub mod schedule_changes;
pub mod sessions;
pub mod templates;
pub mod texting;
pub mod users;

use store::{Audit, NewOutbound, Outbound, StoreResult};

use crate::app::App;

/// Queues one text on its own (not as part of another change) and wakes the dispatcher.
pub async fn enqueue_sms(state: &App, audit: &Audit, new: NewOutbound) -> StoreResult<Outbound> {
    let queued = state.store.enqueue_sms(audit, new).await?;
    state.wake_dispatcher();
    Ok(queued)
}
