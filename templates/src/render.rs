//! Rendering: a template text plus the values of its placeholders gives the body to send.
//!
//! Owns [`Vars`] and [`render`]. A rendering refuses whatever [`validate`](crate::validate())
//! refuses, so a stored text that no longer passes is never sent; and it refuses a missing or
//! blank value rather than sending a message with a hole in it. Values are inserted as written,
//! never read as template syntax, and never appear in an error.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::TemplateError;
use crate::name::{Placeholder, TemplateName};
use crate::validate::check;

/// The values to fill in, one per placeholder.
///
/// `Debug` lists which placeholders are set, never their values: an alert code is what staff
/// reply with to acknowledge an alert, so it must not end up in logs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Vars {
    // A BTreeMap so that `Debug` and equality do not depend on insertion order.
    values: BTreeMap<Placeholder, String>,
}

impl Vars {
    /// No values.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every placeholder set to its sample value (for previews and tests).
    pub fn samples() -> Self {
        Placeholder::ALL
            .into_iter()
            .map(|p| (p, p.sample()))
            .collect()
    }

    /// Sets `placeholder` to `value` (replacing an earlier value) and returns the map, for chaining.
    pub fn with(mut self, placeholder: Placeholder, value: impl Into<String>) -> Self {
        self.insert(placeholder, value);
        self
    }

    /// Sets `placeholder` to `value`, replacing an earlier value.
    pub fn insert(&mut self, placeholder: Placeholder, value: impl Into<String>) {
        self.values.insert(placeholder, value.into());
    }

    /// The value set for `placeholder`, if any.
    pub fn get(&self, placeholder: Placeholder) -> Option<&str> {
        self.values.get(&placeholder).map(String::as_str)
    }

    /// The value to fill into `template` for `placeholder`, refused when it is missing, blank or
    /// longer than the placeholder allows.
    fn value_for(
        &self,
        template: TemplateName,
        placeholder: Placeholder,
    ) -> Result<&str, TemplateError> {
        let value = self
            .get(placeholder)
            .filter(|value| !value.trim().is_empty())
            .ok_or(TemplateError::MissingVariable {
                template,
                placeholder,
            })?;
        let chars = value.chars().count();
        if chars > placeholder.max_chars() {
            return Err(TemplateError::VariableTooLong { placeholder, chars });
        }
        Ok(value)
    }
}

impl fmt::Debug for Vars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.values.keys().map(|p| p.as_str()))
            .finish()
    }
}

impl<V: Into<String>> FromIterator<(Placeholder, V)> for Vars {
    fn from_iter<I: IntoIterator<Item = (Placeholder, V)>>(iter: I) -> Self {
        Self {
            values: iter.into_iter().map(|(p, v)| (p, v.into())).collect(),
        }
    }
}

/// Renders `text` as template `name` with `vars`.
///
/// Fails with the error [`validate`](crate::validate()) would give for `text`, or when a
/// placeholder the text uses has no value, a blank one, or one longer than
/// [`Placeholder::max_chars`]. Values the text does not use are ignored. The result is never
/// longer than [`MAX_RENDERED_CHARS`](crate::MAX_RENDERED_CHARS) characters.
pub fn render(name: TemplateName, text: &str, vars: &Vars) -> Result<String, TemplateError> {
    check(name, text)?.fill(|placeholder| vars.value_for(name, placeholder))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn practice() -> Vars {
        Vars::new()
            .with(Placeholder::PracticeName, "Lakeside Cardiology")
            .with(Placeholder::PracticePhone, "(555) 010-0123")
    }

    #[test]
    fn the_default_opt_in_request_renders_with_the_practice_name() {
        let body = render(
            TemplateName::OptInRequest,
            TemplateName::OptInRequest.default_text(),
            &practice(),
        )
        .unwrap();
        assert_eq!(
            body,
            "A member of your care team at Lakeside Cardiology is trying to get in contact with \
             you. Please send your date of birth (MM/DD/YYYY) to confirm your identity. If you \
             choose to opt out of these messages at any time, please respond 'STOP'. Message and \
             data rates may apply."
        );
    }

    #[test]
    fn the_retry_prompt_renders_the_attempts_left() {
        let vars = practice().with(Placeholder::AttemptsLeft, 2.to_string());
        let body = render(
            TemplateName::OptInRetry,
            TemplateName::OptInRetry.default_text(),
            &vars,
        )
        .unwrap();
        assert!(body.contains("Attempts left: 2."), "{body}");
    }

    #[test]
    fn the_critical_alert_renders_with_its_code() {
        let vars = practice().with(Placeholder::AlertCode, "7KQ2");
        let body = render(
            TemplateName::AlertCritical,
            TemplateName::AlertCritical.default_text(),
            &vars,
        )
        .unwrap();
        assert_eq!(
            body,
            "Lakeside Cardiology: a patient reading needs urgent review. Reply ACK 7KQ2 to acknowledge."
        );
    }

    #[test]
    fn a_missing_value_is_an_error_not_an_empty_substitution() {
        let err = render(
            TemplateName::OptInFailed,
            TemplateName::OptInFailed.default_text(),
            &Vars::new().with(Placeholder::PracticeName, "Lakeside Cardiology"),
        )
        .unwrap_err();
        assert_eq!(
            err,
            TemplateError::MissingVariable {
                template: TemplateName::OptInFailed,
                placeholder: Placeholder::PracticePhone,
            }
        );
        assert_eq!(
            err.to_string(),
            "no value was given for {practice_phone}, which template `opt_in_failed` uses"
        );
    }

    #[test]
    fn a_blank_value_counts_as_missing() {
        let vars = Vars::new().with(Placeholder::PracticeName, "  ");
        assert!(matches!(
            render(
                TemplateName::NewPatientMessage,
                "{practice_name}: new",
                &vars
            ),
            Err(TemplateError::MissingVariable { .. })
        ));
    }

    #[test]
    fn a_value_longer_than_its_placeholder_allows_is_refused() {
        let vars = Vars::new().with(Placeholder::PracticeName, "x".repeat(81));
        assert_eq!(
            render(
                TemplateName::NewPatientMessage,
                "{practice_name}: new",
                &vars
            ),
            Err(TemplateError::VariableTooLong {
                placeholder: Placeholder::PracticeName,
                chars: 81
            })
        );
        let vars = Vars::new().with(Placeholder::PracticeName, "é".repeat(80));
        assert!(
            render(
                TemplateName::NewPatientMessage,
                "{practice_name}: new",
                &vars
            )
            .is_ok()
        );
    }

    #[test]
    fn values_the_text_does_not_use_are_ignored() {
        let body = render(
            TemplateName::NewPatientMessage,
            "New message",
            &Vars::samples(),
        )
        .unwrap();
        assert_eq!(body, "New message");
    }

    #[test]
    fn a_value_is_inserted_as_written_and_never_read_as_a_placeholder() {
        let vars = Vars::new().with(Placeholder::PracticeName, "{alert_code} }{");
        let body = render(TemplateName::NewPatientMessage, "{practice_name}!", &vars).unwrap();
        assert_eq!(body, "{alert_code} }{!");
    }

    #[test]
    fn doubled_braces_render_as_single_braces() {
        let body = render(
            TemplateName::NewPatientMessage,
            "{{x}} {practice_name} }}{{",
            &practice(),
        )
        .unwrap();
        assert_eq!(body, "{x} Lakeside Cardiology }{");
    }

    #[test]
    fn a_text_that_fails_validation_is_not_rendered() {
        assert!(matches!(
            render(TemplateName::Help, "Call {practice_phone}", &practice()),
            Err(TemplateError::MissingStop { .. })
        ));
        assert!(matches!(
            render(TemplateName::Help, "Hi {patient_name}. STOP", &practice()),
            Err(TemplateError::UnknownPlaceholders { .. })
        ));
    }

    #[test]
    fn debug_output_names_the_placeholders_set_but_not_their_values() {
        let vars = practice().with(Placeholder::AlertCode, "7KQ2");
        let shown = format!("{vars:?}");
        assert_eq!(
            shown,
            r#"{"practice_name", "practice_phone", "alert_code"}"#
        );
    }

    #[test]
    fn later_values_replace_earlier_ones() {
        let mut vars = Vars::new().with(Placeholder::AlertCode, "A1");
        vars.insert(Placeholder::AlertCode, "B2");
        assert_eq!(vars.get(Placeholder::AlertCode), Some("B2"));
        assert_eq!(vars.get(Placeholder::PracticeName), None);
    }
}
