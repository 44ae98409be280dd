//! The vocabulary every crate of the gateway shares, so that a phone number, a message body or
//! a texting status means the same in the carrier's wire format (`webhooks`), the store, the
//! templates and the gateway itself. Values here are valid once made: each has the one parser
//! that makes it.

pub mod body;
pub mod phone;
pub mod texting;

pub use body::{BodyError, MessageBody};
pub use phone::{PhoneError, PhoneNumber};
pub use texting::TextingStatus;
