//! Message templates of the SMS gateway, and nothing else.
//!
//! This crate owns the words the gateway sends on its own account (opt-in prompts, confirmations,
//! help, staff alerts), not the messages staff and patients write to each other:
//!
//! - [`name`]: [`TemplateName`], the closed list of templates, and [`Placeholder`], the closed list
//!   of values the gateway can fill in, with which template may use which;
//! - [`defaults`]: the text each template has until a practice writes its own;
//! - [`syntax`]: the `{placeholder}` / `{{` / `}}` rules that split a text into parts;
//! - [`validate()`]: what a practice's own text must satisfy before it is stored ([`Validated`]);
//! - [`render()`]: filling a template with [`Vars`] to get the body to send;
//! - [`segments()`]: how many SMS segments a body costs ([`SegmentCount`], [`Encoding`]);
//! - [`set`]: [`TemplateSet`], one practice's overrides over the defaults;
//! - [`error`]: [`TemplateError`], whose messages are written to be shown in a 422 answer.
//!
//! What it must never do:
//!
//! - no I/O of any kind (network, store, files, clock, environment) and no logging: every function
//!   is pure, so the gateway decides when things happen and tests need no set-up;
//! - never offer a placeholder that carries patient or clinical detail (names, dates of birth,
//!   readings): SMS is not a private channel, and staff alerts say only that something needs
//!   attention;
//! - never substitute an empty string for a value it was not given: a missing value is an error.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod defaults;
pub mod error;
pub mod limits;
pub mod name;
pub mod render;
pub mod segments;
pub mod set;
pub mod syntax;
pub mod validate;

pub use error::TemplateError;
pub use name::{Placeholder, TemplateName, UnknownTemplate};
pub use render::{Vars, render};
pub use segments::{Encoding, SegmentCount, segments};
pub use set::TemplateSet;
pub use validate::{MAX_RENDERED_CHARS, Validated, validate};
