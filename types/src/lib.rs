//! The vocabulary every crate of the gateway shares, so that a phone number, a message body, a
//! texting status, a message's channel, direction and status, an outbox, alert or email state, a
//! vital or its alert settings mean the same in the carrier's wire format (`webhooks`), the store,
//! the templates, the API and the gateway's domain. Values here are valid once made (each has the
//! one parser that makes it), except alert settings, which carry their own `validate` because the
//! API answers each broken rule naming its field.

pub mod alert;
pub mod alert_settings;
pub mod body;
pub mod email;
pub mod message;
pub mod named;
pub mod outbox;
pub mod phone;
pub mod texting;
pub mod vitals;

pub use alert::AlertState;
pub use alert_settings::{AlertSettings, AlertSettingsError, ChangeRule, ChangeUnit, Ranges};
pub use body::{BodyError, MessageBody};
pub use email::EmailState;
pub use message::{Channel, Direction, MessageStatus};
pub use named::UnknownName;
pub use outbox::OutboxState;
pub use phone::{PhoneError, PhoneNumber};
pub use texting::TextingStatus;
pub use vitals::{UnknownVital, Vital};
