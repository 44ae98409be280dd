//! Template and placeholder names: the closed lists of what the gateway can send and what it can
//! fill in.
//!
//! Owns [`TemplateName`] (which messages exist, their wire names, which placeholders each may use,
//! which must mention STOP) and [`Placeholder`] (the values the gateway supplies, with a sample
//! value for previews and a maximum length that bounds every rendered text).
//!
//! It must never grow a placeholder that carries patient or clinical detail: every value here
//! describes the practice or the messaging flow, because an SMS can be read by whoever holds the
//! phone. Wire names are stable: the API, the store and practices' saved overrides use them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use thiserror::Error;

/// One message the gateway sends on its own account.
///
/// The wire name (`as_str`, serde, `parse`) is the snake_case name, e.g. `opt_in_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TemplateName {
    /// To the patient when staff start texting (or resend): asks for the date of birth.
    OptInRequest,
    /// To the patient when the date of birth matched: texting is enabled.
    OptInConfirmed,
    /// To the patient when the date of birth did not match and attempts remain.
    OptInRetry,
    /// To the patient after the last failed attempt: call the practice instead.
    OptInFailed,
    /// To the patient, once, after a STOP keyword or phrase: nothing more will be sent.
    OptOutConfirmation,
    /// To the patient after START: identity is verified again (the number may have changed hands).
    OptInRestarted,
    /// To the patient after HELP: who is texting and how to opt out.
    Help,
    /// To on-call staff for a critical reading: says only that something needs urgent review.
    AlertCritical,
    /// To staff: a patient sent a new message; the body is never included.
    NewPatientMessage,
    /// To the patient, per their own notification settings, about their own caution or
    /// critical reading: that the care team was told, never the value or anything clinical.
    PatientReadingNotice,
}

impl TemplateName {
    /// Every template, in a fixed order (the order listings and checks use).
    pub const ALL: [TemplateName; 10] = [
        TemplateName::OptInRequest,
        TemplateName::OptInConfirmed,
        TemplateName::OptInRetry,
        TemplateName::OptInFailed,
        TemplateName::OptOutConfirmation,
        TemplateName::OptInRestarted,
        TemplateName::Help,
        TemplateName::AlertCritical,
        TemplateName::NewPatientMessage,
        TemplateName::PatientReadingNotice,
    ];

    /// The wire name, e.g. `"opt_in_request"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TemplateName::OptInRequest => "opt_in_request",
            TemplateName::OptInConfirmed => "opt_in_confirmed",
            TemplateName::OptInRetry => "opt_in_retry",
            TemplateName::OptInFailed => "opt_in_failed",
            TemplateName::OptOutConfirmation => "opt_out_confirmation",
            TemplateName::OptInRestarted => "opt_in_restarted",
            TemplateName::Help => "help",
            TemplateName::AlertCritical => "alert_critical",
            TemplateName::NewPatientMessage => "new_patient_message",
            TemplateName::PatientReadingNotice => "patient_reading_notice",
        }
    }

    /// Reads a wire name exactly as [`as_str`](Self::as_str) writes it (no case folding, no
    /// trimming), so a path segment or stored key either names a template or is refused.
    pub fn parse(s: &str) -> Result<Self, UnknownTemplate> {
        Self::ALL
            .into_iter()
            .find(|name| name.as_str() == s)
            .ok_or_else(|| UnknownTemplate { name: s.to_owned() })
    }

    /// The placeholders this template may use. Every template may name the practice and its
    /// phone number; only the retry prompt knows the attempts left and only the alert its code.
    pub const fn placeholders(self) -> &'static [Placeholder] {
        const PRACTICE: &[Placeholder] = &[Placeholder::PracticeName, Placeholder::PracticePhone];
        const RETRY: &[Placeholder] = &[
            Placeholder::PracticeName,
            Placeholder::PracticePhone,
            Placeholder::AttemptsLeft,
        ];
        const ALERT: &[Placeholder] = &[
            Placeholder::PracticeName,
            Placeholder::PracticePhone,
            Placeholder::AlertCode,
        ];
        match self {
            TemplateName::OptInRetry => RETRY,
            TemplateName::AlertCritical => ALERT,
            TemplateName::OptInRequest
            | TemplateName::OptInConfirmed
            | TemplateName::OptInFailed
            | TemplateName::OptOutConfirmation
            | TemplateName::OptInRestarted
            | TemplateName::Help
            | TemplateName::NewPatientMessage
            | TemplateName::PatientReadingNotice => PRACTICE,
        }
    }

    /// Whether this template may use `placeholder`.
    pub fn allows(self, placeholder: Placeholder) -> bool {
        self.placeholders().contains(&placeholder)
    }

    /// Whether the text must keep telling the patient to reply STOP (carrier and CTIA rules for
    /// the opt-in request and the help answer).
    pub const fn requires_stop(self) -> bool {
        matches!(self, TemplateName::OptInRequest | TemplateName::Help)
    }

    /// The placeholders the text must keep: an alert text without its code could not be
    /// acknowledged by a reply, and its escalation would never stop but by the API.
    pub const fn required_placeholders(self) -> &'static [Placeholder] {
        match self {
            TemplateName::AlertCritical => &[Placeholder::AlertCode],
            _ => &[],
        }
    }

    /// The text sent when the practice has not written its own.
    pub const fn default_text(self) -> &'static str {
        crate::defaults::default_text(self)
    }
}

impl fmt::Display for TemplateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A template name that is not one of [`TemplateName::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown template `{name}`; the templates are: {}", known_templates())]
pub struct UnknownTemplate {
    /// The name as given.
    pub name: String,
}

fn known_templates() -> String {
    TemplateName::ALL
        .iter()
        .map(|name| name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for TemplateName {
    type Err = UnknownTemplate;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

// Serde goes through `as_str`/`parse` rather than a derive so that the wire name has exactly one
// definition and a bad name is refused with the same message as everywhere else.
impl Serialize for TemplateName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TemplateName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name).map_err(serde::de::Error::custom)
    }
}

/// A value the gateway fills into a template, written `{name}` in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Placeholder {
    /// `{practice_name}`: the practice's name as patients know it.
    PracticeName,
    /// `{practice_phone}`: the number patients should call, formatted for reading.
    PracticePhone,
    /// `{attempts_left}`: date-of-birth attempts remaining (retry prompt only).
    AttemptsLeft,
    /// `{alert_code}`: the code staff reply with (`ACK code`) to acknowledge an alert.
    AlertCode,
}

impl Placeholder {
    /// Every placeholder.
    pub const ALL: [Placeholder; 4] = [
        Placeholder::PracticeName,
        Placeholder::PracticePhone,
        Placeholder::AttemptsLeft,
        Placeholder::AlertCode,
    ];

    /// The name between the braces, e.g. `"practice_name"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Placeholder::PracticeName => "practice_name",
            Placeholder::PracticePhone => "practice_phone",
            Placeholder::AttemptsLeft => "attempts_left",
            Placeholder::AlertCode => "alert_code",
        }
    }

    /// Reads a name written between braces (without the braces), exactly as `as_str` writes it.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The longest value accepted when rendering, in characters. Validation assumes every
    /// placeholder is filled to this length, so a validated text never renders past the SMS body
    /// limit.
    pub const fn max_chars(self) -> usize {
        match self {
            Placeholder::PracticeName => 80,
            Placeholder::PracticePhone => 24,
            Placeholder::AttemptsLeft => 2,
            Placeholder::AlertCode => 12,
        }
    }

    /// The value used to preview a template (and count its segments) before it is saved.
    pub const fn sample(self) -> &'static str {
        match self {
            Placeholder::PracticeName => "Riverside Family Medicine",
            Placeholder::PracticePhone => "(555) 010-0199",
            Placeholder::AttemptsLeft => "2",
            Placeholder::AlertCode => "K7Q2",
        }
    }
}

/// Shows the placeholder as it is written in a template: `{practice_name}`.
impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as ValueError, StrDeserializer};

    #[test]
    fn every_template_name_parses_back_from_its_wire_name() {
        for name in TemplateName::ALL {
            assert_eq!(TemplateName::parse(name.as_str()), Ok(name));
            assert_eq!(name.as_str().parse::<TemplateName>(), Ok(name));
            assert_eq!(name.to_string(), name.as_str());
        }
    }

    #[test]
    fn the_wire_names_are_the_ones_the_gateway_calls() {
        let names: Vec<&str> = TemplateName::ALL.iter().map(|n| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "opt_in_request",
                "opt_in_confirmed",
                "opt_in_retry",
                "opt_in_failed",
                "opt_out_confirmation",
                "opt_in_restarted",
                "help",
                "alert_critical",
                "new_patient_message",
                "patient_reading_notice",
            ]
        );
    }

    #[test]
    fn an_unknown_or_differently_written_name_is_refused_and_named() {
        for bad in [
            "",
            "opt-in-request",
            "OPT_IN_REQUEST",
            " help",
            "help ",
            "stop",
        ] {
            let err = TemplateName::parse(bad).unwrap_err();
            assert_eq!(
                err,
                UnknownTemplate {
                    name: bad.to_owned()
                }
            );
        }
        let message = TemplateName::parse("welcome").unwrap_err().to_string();
        assert!(message.contains("`welcome`"), "{message}");
        assert!(message.contains("opt_in_request"), "{message}");
        assert!(message.contains("new_patient_message"), "{message}");
    }

    #[test]
    fn serde_reads_the_snake_case_wire_name_and_refuses_others() {
        for name in TemplateName::ALL {
            let de: StrDeserializer<'_, ValueError> = name.as_str().into_deserializer();
            assert_eq!(TemplateName::deserialize(de), Ok(name));
        }
        let de: StrDeserializer<'_, ValueError> = "OptInRequest".into_deserializer();
        let err = TemplateName::deserialize(de).unwrap_err().to_string();
        assert!(err.contains("unknown template"), "{err}");
    }

    #[test]
    fn only_the_retry_prompt_knows_attempts_and_only_the_alert_knows_its_code() {
        for name in TemplateName::ALL {
            assert!(name.allows(Placeholder::PracticeName));
            assert!(name.allows(Placeholder::PracticePhone));
            assert_eq!(
                name.allows(Placeholder::AttemptsLeft),
                name == TemplateName::OptInRetry
            );
            assert_eq!(
                name.allows(Placeholder::AlertCode),
                name == TemplateName::AlertCritical
            );
        }
    }

    #[test]
    fn only_the_opt_in_request_and_help_must_mention_stop() {
        let required: Vec<_> = TemplateName::ALL
            .into_iter()
            .filter(|n| n.requires_stop())
            .collect();
        assert_eq!(required, [TemplateName::OptInRequest, TemplateName::Help]);
    }

    #[test]
    fn placeholders_parse_from_their_names_and_show_with_braces() {
        for p in Placeholder::ALL {
            assert_eq!(Placeholder::parse(p.as_str()), Some(p));
            assert_eq!(p.to_string(), format!("{{{}}}", p.as_str()));
            assert!(p.sample().chars().count() <= p.max_chars());
            assert!(!p.sample().trim().is_empty());
        }
        assert_eq!(Placeholder::parse("patient_name"), None);
        assert_eq!(Placeholder::parse("{practice_name}"), None);
    }
}
