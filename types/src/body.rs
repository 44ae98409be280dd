//! [`MessageBody`]: the text of a message as the gateway stores it: never a NUL character
//! (PostgreSQL cannot store one; no phone can type one), at most [`MAX_CHARS`] characters.
//!
//! Two constructors for two sources: a patient's text from the carrier is kept whatever it holds
//! (a NUL becomes U+FFFD, so a patient's message is never lost), while a body typed by staff or
//! an integration is checked and refused with a reason.

use std::fmt;

/// The longest body the carrier accepts (Twilio's `Body` limit), in characters.
pub const MAX_CHARS: usize = 1600;

/// A message body without NUL characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody(String);

/// Why a typed body was refused. The message never quotes the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_CHARS} characters")]
    TooLong,
    #[error("must not contain NUL characters")]
    Nul,
}

impl MessageBody {
    /// A body that arrived from the carrier, kept as it came except that each NUL becomes
    /// U+FFFD.
    pub fn from_carrier(raw: &str) -> MessageBody {
        MessageBody(raw.replace('\0', "\u{FFFD}"))
    }

    /// A body typed by staff or sent by an integration: trimmed, not empty, at most
    /// [`MAX_CHARS`] characters, no NUL (line breaks are fine).
    pub fn parse(raw: &str) -> Result<MessageBody, BodyError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(BodyError::Empty);
        }
        if trimmed.contains('\0') {
            return Err(BodyError::Nul);
        }
        if trimmed.chars().count() > MAX_CHARS {
            return Err(BodyError::TooLong);
        }
        Ok(MessageBody(trimmed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for MessageBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_carrier_body_keeps_everything_but_nul() {
        assert_eq!(
            MessageBody::from_carrier("ok\0fine ").as_str(),
            "ok\u{FFFD}fine "
        );
        assert_eq!(MessageBody::from_carrier("").as_str(), "");
    }

    #[test]
    fn a_typed_body_is_trimmed_bounded_and_never_holds_nul() {
        assert_eq!(
            MessageBody::parse("  hi\nthere ").unwrap().as_str(),
            "hi\nthere"
        );
        assert_eq!(MessageBody::parse(" \n "), Err(BodyError::Empty));
        assert_eq!(MessageBody::parse("a\0b"), Err(BodyError::Nul));
        assert!(MessageBody::parse(&"x".repeat(MAX_CHARS)).is_ok());
        assert_eq!(
            MessageBody::parse(&"é".repeat(MAX_CHARS + 1)),
            Err(BodyError::TooLong)
        );
    }
}
