//! [`CarrierMessageId`]: Twilio's message SID, `SM` or `MM` then 32 hexadecimal digits.
//!
//! The SID is how a status callback finds its message and how a repeated inbound webhook is
//! recognised (the store keeps `(carrier, MessageSid)` unique), so it is checked at the edge and
//! kept exactly as Twilio wrote it: no case folding, because the store compares it byte for byte.

use std::fmt;
use std::str::FromStr;

/// Length of a message SID: a two-letter prefix and 32 hex digits.
const SID_LEN: usize = 34;

/// A Twilio message SID such as `SM0123456789abcdef0123456789abcdef`.
///
/// `SM` is an SMS, `MM` an MMS. Other Twilio SIDs (`MG` messaging services, `AC` accounts, `CA`
/// calls) are refused. The field is private so that only [`CarrierMessageId::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CarrierMessageId(String);

/// Why a message SID was refused. Never includes the value itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SidError {
    /// Not `SM` or `MM` at the start.
    #[error("a message SID starts with SM or MM")]
    WrongPrefix,
    /// Not 34 characters long.
    #[error("a message SID has 34 characters; this one has {0}")]
    WrongLength(usize),
    /// Something other than 0-9, a-f or A-F after the prefix.
    #[error("a message SID has 32 hexadecimal digits after its prefix")]
    NotHex,
}

impl CarrierMessageId {
    /// Accepts exactly `^(SM|MM)[0-9a-fA-F]{32}$`.
    pub fn parse(input: &str) -> Result<CarrierMessageId, SidError> {
        if !(input.starts_with("SM") || input.starts_with("MM")) {
            return Err(SidError::WrongPrefix);
        }
        let length = input.chars().count();
        if length != SID_LEN {
            return Err(SidError::WrongLength(length));
        }
        // The prefix is ASCII, so byte 2 starts a character.
        if !input[2..].bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(SidError::NotHex);
        }
        Ok(CarrierMessageId(input.to_owned()))
    }

    /// The SID as Twilio wrote it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CarrierMessageId {
    type Err = SidError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CarrierMessageId::parse(s)
    }
}

impl fmt::Display for CarrierMessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for CarrierMessageId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<CarrierMessageId> for String {
    fn from(id: CarrierMessageId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sms_and_mms_sids_are_accepted_and_kept_as_written() {
        for sid in [
            "SM0123456789abcdef0123456789abcdef",
            "MM0123456789ABCDEF0123456789abcdef",
        ] {
            let id = CarrierMessageId::parse(sid).unwrap();
            assert_eq!(id.as_str(), sid);
            assert_eq!(id.to_string(), sid);
            assert_eq!(sid.parse::<CarrierMessageId>(), Ok(id));
        }
    }

    #[test]
    fn other_twilio_sids_are_refused() {
        for sid in [
            "MG0123456789abcdef0123456789abcdef",
            "AC0123456789abcdef0123456789abcdef",
            "sm0123456789abcdef0123456789abcdef",
            "",
        ] {
            assert_eq!(
                CarrierMessageId::parse(sid),
                Err(SidError::WrongPrefix),
                "{sid:?}"
            );
        }
    }

    #[test]
    fn a_sid_of_the_wrong_length_is_refused() {
        assert_eq!(
            CarrierMessageId::parse("SM0123456789abcdef0123456789abcde"),
            Err(SidError::WrongLength(33))
        );
        assert_eq!(
            CarrierMessageId::parse("SM0123456789abcdef0123456789abcdef0"),
            Err(SidError::WrongLength(35))
        );
    }

    #[test]
    fn a_sid_with_a_non_hex_character_is_refused() {
        assert_eq!(
            CarrierMessageId::parse("SM0123456789abcdef0123456789abcdeg"),
            Err(SidError::NotHex)
        );
        // 33 ASCII characters and one two-byte character: 34 characters, 35 bytes.
        assert_eq!(
            CarrierMessageId::parse("SM0123456789abcdef0123456789abcdeé"),
            Err(SidError::NotHex)
        );
    }

    proptest! {
        #[test]
        fn every_valid_sid_round_trips(sid in "(SM|MM)[0-9a-fA-F]{32}") {
            let id = CarrierMessageId::parse(&sid).unwrap();
            prop_assert_eq!(id.as_str(), sid.as_str());
            let shown = id.to_string();
            prop_assert_eq!(CarrierMessageId::parse(&shown), Ok(id));
        }

        #[test]
        fn changing_any_character_to_a_non_hex_one_is_refused(
            sid in "(SM|MM)[0-9a-fA-F]{32}",
            at in 2usize..34,
            c in "[g-zG-Z_ :+é]",
        ) {
            let mut broken = sid.clone();
            broken.replace_range(at..at + 1, &c);
            prop_assert!(CarrierMessageId::parse(&broken).is_err());
        }

        #[test]
        fn acceptance_matches_the_documented_pattern(s in "\\PC{0,40}|[SMG]{2}[0-9a-fA-Z]{30,34}") {
            let expected = s.len() == SID_LEN
                && (s.starts_with("SM") || s.starts_with("MM"))
                && s[2..].bytes().all(|b| b.is_ascii_hexdigit());
            prop_assert_eq!(CarrierMessageId::parse(&s).is_ok(), expected);
        }
    }
}
