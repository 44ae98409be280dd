//! The default text of every template: what is sent while a practice has not written its own.
//!
//! Owns the wording only. The texts must stay short, professional and plain GSM-7 (straight
//! quotes, no emoji) so that a default never switches a message to the costlier UCS-2 encoding,
//! and they must never carry clinical detail: staff texts say only that something needs looking
//! at, and patient texts never echo what the patient sent.

use crate::name::TemplateName;

/// The opt-in request, word for word as the design and the product's manual give it.
pub const OPT_IN_REQUEST: &str = "A member of your care team at {practice_name} is trying to get \
in contact with you. Please send your date of birth (MM/DD/YYYY) to confirm your identity. If you \
choose to opt out of these messages at any time, please respond 'STOP'. Message and data rates may \
apply.";

/// Sent when the date of birth matched.
pub const OPT_IN_CONFIRMED: &str = "Thank you, your identity is confirmed. You can now text with \
your care team at {practice_name}. Reply HELP for help or STOP to opt out.";

/// Sent when the date of birth did not match and attempts remain.
pub const OPT_IN_RETRY: &str = "Sorry, we could not confirm your identity. Please send your date \
of birth as MM/DD/YYYY. Attempts left: {attempts_left}. Reply STOP to opt out.";

/// Sent after the last failed attempt.
pub const OPT_IN_FAILED: &str = "We could not confirm your identity, so text messaging with \
{practice_name} is not set up. Please call the practice at {practice_phone}.";

/// The one confirmation after an opt-out.
pub const OPT_OUT_CONFIRMATION: &str = "You are unsubscribed from {practice_name} text messages \
and will receive no further texts. Reply START to subscribe again.";

/// Sent after START: identity is verified again.
pub const OPT_IN_RESTARTED: &str = "Welcome back. To restart text messaging with \
{practice_name}, please send your date of birth (MM/DD/YYYY) to confirm your identity. Reply STOP \
to opt out. Message and data rates may apply.";

/// The answer to HELP.
pub const HELP: &str = "{practice_name} care team texts. For help call {practice_phone}. In an \
emergency call 911. Reply STOP to opt out. Msg & data rates may apply.";

/// To on-call staff for a critical reading. No patient, vital or value: only that it is urgent.
pub const ALERT_CRITICAL: &str = "{practice_name}: a patient reading needs urgent review. Reply ACK {alert_code} to acknowledge.";

/// To staff for a new patient message. Never the body.
pub const NEW_PATIENT_MESSAGE: &str =
    "{practice_name}: you have a new patient message. Please sign in to read it.";

/// To the patient about their own caution or critical reading. No value, vital or advice.
pub const PATIENT_READING_NOTICE: &str = "We received a reading that needs attention. Your care \
team at {practice_name} has been told.";

/// The default text of `name`.
pub const fn default_text(name: TemplateName) -> &'static str {
    match name {
        TemplateName::OptInRequest => OPT_IN_REQUEST,
        TemplateName::OptInConfirmed => OPT_IN_CONFIRMED,
        TemplateName::OptInRetry => OPT_IN_RETRY,
        TemplateName::OptInFailed => OPT_IN_FAILED,
        TemplateName::OptOutConfirmation => OPT_OUT_CONFIRMATION,
        TemplateName::OptInRestarted => OPT_IN_RESTARTED,
        TemplateName::Help => HELP,
        TemplateName::AlertCritical => ALERT_CRITICAL,
        TemplateName::NewPatientMessage => NEW_PATIENT_MESSAGE,
        TemplateName::PatientReadingNotice => PATIENT_READING_NOTICE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::Placeholder;
    use crate::segments::Encoding;
    use crate::validate::validate;

    #[test]
    fn the_opt_in_request_default_is_word_for_word_the_designed_text() {
        assert_eq!(
            TemplateName::OptInRequest.default_text(),
            "A member of your care team at {practice_name} is trying to get in contact with you. \
             Please send your date of birth (MM/DD/YYYY) to confirm your identity. If you choose \
             to opt out of these messages at any time, please respond 'STOP'. Message and data \
             rates may apply."
        );
    }

    #[test]
    fn every_default_passes_validation_in_plain_gsm_7() {
        for name in TemplateName::ALL {
            let validated = validate(name, name.default_text())
                .unwrap_or_else(|e| panic!("default of {name} is invalid: {e}"));
            assert_eq!(validated.segments.encoding, Encoding::Gsm7, "{name}");
        }
    }

    #[test]
    fn defaults_other_than_the_opt_in_requests_fit_one_segment_with_sample_values() {
        for name in TemplateName::ALL {
            if matches!(
                name,
                TemplateName::OptInRequest | TemplateName::OptInRestarted
            ) {
                continue;
            }
            let validated = validate(name, name.default_text()).unwrap();
            assert_eq!(
                validated.segments.segments, 1,
                "{name}: {}",
                validated.preview
            );
        }
    }

    #[test]
    fn the_retry_prompt_says_how_many_attempts_are_left() {
        assert!(OPT_IN_RETRY.contains("{attempts_left}"));
    }

    #[test]
    fn the_failure_message_tells_the_patient_to_call_the_practice_number() {
        assert!(OPT_IN_FAILED.contains("call the practice at {practice_phone}"));
    }

    #[test]
    fn help_names_the_practice_and_how_to_opt_out() {
        assert!(HELP.contains("{practice_name}"));
        assert!(HELP.contains("Reply STOP to opt out"));
    }

    #[test]
    fn the_critical_alert_carries_the_acknowledgement_code_and_nothing_about_the_patient() {
        assert_eq!(
            ALERT_CRITICAL,
            "{practice_name}: a patient reading needs urgent review. Reply ACK {alert_code} to acknowledge."
        );
    }

    #[test]
    fn staff_notifications_use_no_value_beyond_the_practice_and_the_alert_code() {
        for text in [ALERT_CRITICAL, NEW_PATIENT_MESSAGE] {
            let used: Vec<&str> = Placeholder::ALL
                .into_iter()
                .filter(|p| text.contains(&p.to_string()))
                .map(Placeholder::as_str)
                .collect();
            assert!(
                used.iter()
                    .all(|p| *p == "practice_name" || *p == "alert_code"),
                "{text}"
            );
        }
    }
}
