//! Twilio's wire format, and nothing else.
//!
//! This crate owns what crosses the boundary between the gateway and the carrier:
//!
//! - [`phone`]: [`PhoneNumber`], an E.164 number, strict for wire values and forgiving for what
//!   staff type;
//! - [`sid`]: [`CarrierMessageId`], Twilio's message SID (`SM…`/`MM…`);
//! - [`signature`]: computing and checking `X-Twilio-Signature`;
//! - [`form`]: decoding and encoding `application/x-www-form-urlencoded` bodies without losing
//!   repeated names, and [`ParseError`], shared by the two form parsers;
//! - [`inbound`]: the inbound SMS/MMS webhook ([`InboundSms`]);
//! - [`status`]: status callbacks ([`StatusCallback`]), the [`MessageStatus`] ordering that keeps a
//!   message's status from going backwards, and the carrier error codes the gateway acts on;
//! - [`twiml`]: the TwiML answer the gateway gives to an inbound webhook.
//!
//! What it must never do:
//!
//! - no I/O of any kind (network, files, clock, environment): every function is pure, so the
//!   gateway decides when and where things happen and tests need no set-up;
//! - no store access and no knowledge of patients, practices or conversations;
//! - never log, and never put a message body, an auth token or a signature into an error or a
//!   `Debug` output: errors name the field that was wrong and why, not its content. Bodies can hold
//!   a date of birth sent while verifying identity.
//!
//! The order of work for a webhook is: [`form::decode`] the raw body, [`signature::validate`] it
//! against the public URL, and only then parse it with [`InboundSms::from_form`] or
//! [`StatusCallback::from_form`]. Parsing before the signature is checked would act on forged
//! input.

pub mod form;
pub mod inbound;
pub mod sid;
pub mod signature;
pub mod status;
pub mod twiml;

pub use form::ParseError;
pub use inbound::{InboundSms, Media};
pub use sid::{CarrierMessageId, SidError};
pub use signature::SignatureError;
pub use status::{MessageStatus, StatusCallback, UnknownStatus};
pub use types::{PhoneError, PhoneNumber};
