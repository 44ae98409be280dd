//! Whether a staff member can be reached by text: what a carrier's answer says about a number.
//!
//! An alert step has reached someone only if it holds a person with a textable number that is
//! not known to fail (DESIGN.md "Readings and escalation"): the in-app feed and email alone do
//! not wake anyone at night. A number is known to fail from a practice number after a permanent
//! carrier error that is about the recipient (invalid, not a mobile, replied STOP: Twilio 21211,
//! 21214, 21217, 21408, 21610, 21612, 21614 on sending; 30005 unknown handset and 30006 landline
//! after sending) or after a STOP reply; it works again after START, a delivered text, or its
//! user saving their number again. Temporary failures (30003 unreachable handset, a 5xx) say
//! nothing about the number. Pure.

use store::NumberEvidence;
use webhooks::status::is_permanent_send_error;

/// Unknown handset: the number does not exist on the destination network.
const ERROR_UNKNOWN_HANDSET: u32 = 30005;
/// Landline or unreachable carrier: the number cannot receive texts.
const ERROR_LANDLINE: u32 = 30006;

/// Whether error `code` means texts to the recipient's number cannot arrive from this sender.
pub fn number_fails(code: u32) -> bool {
    is_permanent_send_error(code) || code == ERROR_UNKNOWN_HANDSET || code == ERROR_LANDLINE
}

/// What a text's outcome says about its recipient's number: `failed` (it failed for good, with
/// the carrier's `code` if any) or `delivered`.
pub fn evidence(failed: bool, delivered: bool, code: Option<u32>) -> NumberEvidence {
    match code {
        Some(code) if failed && number_fails(code) => NumberEvidence::Fails {
            code: i32::try_from(code).unwrap_or(i32::MAX),
        },
        _ if delivered => NumberEvidence::Works,
        _ => NumberEvidence::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_recipient_errors_mark_the_number_and_temporary_ones_do_not() {
        for code in [
            21211, 21214, 21217, 21408, 21610, 21612, 21614, 30005, 30006,
        ] {
            assert_eq!(
                evidence(true, false, Some(code)),
                NumberEvidence::Fails { code: code as i32 },
                "{code}"
            );
        }
        for code in [30003, 30007, 30008, 20429, 0] {
            assert_eq!(
                evidence(true, false, Some(code)),
                NumberEvidence::Unknown,
                "{code}"
            );
        }
        assert_eq!(evidence(true, false, None), NumberEvidence::Unknown);
    }

    #[test]
    fn a_delivered_text_shows_the_number_works() {
        assert_eq!(evidence(false, true, None), NumberEvidence::Works);
        assert_eq!(evidence(false, false, None), NumberEvidence::Unknown);
    }
}
