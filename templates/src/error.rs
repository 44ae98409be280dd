//! The template error: every way a template name, a template text or a rendering can be refused.
//!
//! Owns the wording of those refusals. Messages are written for the person editing a practice's
//! template (they end up in a 422 answer): they name the template, the placeholder or the position
//! at fault and say how to fix it. They must never quote a value that was filled in, nor the text
//! around an error, so that nothing rendered for a patient can leak into an error or a log.

use thiserror::Error;

use crate::limits::MAX_RENDERED_CHARS;
pub use crate::name::UnknownTemplate;
use crate::name::{Placeholder, TemplateName};

/// Why a template name, text or rendering was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TemplateError {
    /// The name is not one of [`TemplateName::ALL`].
    #[error(transparent)]
    UnknownTemplate(#[from] UnknownTemplate),

    /// The text is empty or only white space.
    #[error("template `{template}` is empty: write the text of the message")]
    Empty {
        /// The template being checked.
        template: TemplateName,
    },

    /// A `{` is never closed (or a second `{` opens before it closes), or a `}` has no `{`.
    #[error(
        "template `{template}` has an unbalanced `{brace}` at character {position}: {}",
        brace_hint(*.brace)
    )]
    UnbalancedBrace {
        /// The template being checked.
        template: TemplateName,
        /// `{` or `}`.
        brace: char,
        /// 1-based position of the brace, counted in characters.
        position: usize,
    },

    /// The text uses placeholders this template does not offer.
    #[error(
        "template `{template}` cannot use {}; it may use {}",
        braced(.placeholders),
        allowed(*.template)
    )]
    UnknownPlaceholders {
        /// The template being checked.
        template: TemplateName,
        /// Each offending name as written between the braces, once, in order of appearance.
        placeholders: Vec<String>,
    },

    /// With every placeholder filled to its maximum length the text would exceed the SMS body limit.
    #[error(
        "template `{template}` can reach {chars} characters once its placeholders are filled \
         (each counted at its maximum length); the limit is {max}: shorten it by {}",
        .chars.saturating_sub(MAX_RENDERED_CHARS),
        max = MAX_RENDERED_CHARS
    )]
    TooLong {
        /// The template being checked.
        template: TemplateName,
        /// Its worst-case rendered length in characters.
        chars: usize,
    },

    /// The opt-in request or the help answer no longer tells the patient how to opt out.
    #[error(
        "template `{template}` must tell the patient how to opt out: keep the word STOP in it \
         (for example \"Reply STOP to opt out.\")"
    )]
    MissingStop {
        /// The template being checked.
        template: TemplateName,
    },

    /// A placeholder the template must keep is missing (see
    /// [`TemplateName::required_placeholders`]).
    #[error(
        "template `{template}` must keep {placeholder}: without it the text cannot do its job \
         (an alert text without its code cannot be acknowledged by a reply)"
    )]
    MissingPlaceholder {
        /// The template being checked.
        template: TemplateName,
        /// The placeholder it must keep.
        placeholder: Placeholder,
    },

    /// Rendering needed a value that was not given (or was blank).
    #[error("no value was given for {placeholder}, which template `{template}` uses")]
    MissingVariable {
        /// The template being rendered.
        template: TemplateName,
        /// The placeholder without a value.
        placeholder: Placeholder,
    },

    /// A value is longer than its placeholder allows (see [`Placeholder::max_chars`]).
    #[error("the value for {placeholder} is {chars} characters long; at most {max} are allowed", max = .placeholder.max_chars())]
    VariableTooLong {
        /// The placeholder whose value is too long.
        placeholder: Placeholder,
        /// The value's length in characters.
        chars: usize,
    },
}

impl TemplateError {
    /// A stable snake_case code for the API's error body.
    pub const fn code(&self) -> &'static str {
        match self {
            TemplateError::UnknownTemplate(_) => "unknown_template",
            TemplateError::Empty { .. } => "template_empty",
            TemplateError::UnbalancedBrace { .. } => "template_unbalanced_brace",
            TemplateError::UnknownPlaceholders { .. } => "template_unknown_placeholder",
            TemplateError::TooLong { .. } => "template_too_long",
            TemplateError::MissingStop { .. } => "template_missing_stop",
            TemplateError::MissingPlaceholder { .. } => "template_missing_placeholder",
            TemplateError::MissingVariable { .. } => "template_missing_variable",
            TemplateError::VariableTooLong { .. } => "template_variable_too_long",
        }
    }
}

fn brace_hint(brace: char) -> &'static str {
    if brace == '{' {
        "close the placeholder with `}`, or write `{{` for a literal brace"
    } else {
        "it closes nothing; write `}}` for a literal brace"
    }
}

fn braced(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("{{{name}}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn allowed(template: TemplateName) -> String {
    template
        .placeholders()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_a_distinct_code() {
        let errors = [
            TemplateError::UnknownTemplate(UnknownTemplate { name: "x".into() }),
            TemplateError::Empty {
                template: TemplateName::Help,
            },
            TemplateError::UnbalancedBrace {
                template: TemplateName::Help,
                brace: '{',
                position: 1,
            },
            TemplateError::UnknownPlaceholders {
                template: TemplateName::Help,
                placeholders: vec!["x".into()],
            },
            TemplateError::TooLong {
                template: TemplateName::Help,
                chars: 1601,
            },
            TemplateError::MissingStop {
                template: TemplateName::Help,
            },
            TemplateError::MissingPlaceholder {
                template: TemplateName::AlertCritical,
                placeholder: Placeholder::AlertCode,
            },
            TemplateError::MissingVariable {
                template: TemplateName::Help,
                placeholder: Placeholder::PracticeName,
            },
            TemplateError::VariableTooLong {
                placeholder: Placeholder::PracticeName,
                chars: 81,
            },
        ];
        let mut codes: Vec<_> = errors.iter().map(TemplateError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
    }

    #[test]
    fn an_unknown_placeholder_message_names_it_and_lists_the_allowed_ones() {
        let message = TemplateError::UnknownPlaceholders {
            template: TemplateName::OptInRequest,
            placeholders: vec!["patient_name".into(), "alert_code".into()],
        }
        .to_string();
        assert_eq!(
            message,
            "template `opt_in_request` cannot use {patient_name}, {alert_code}; \
             it may use {practice_name}, {practice_phone}"
        );
    }

    #[test]
    fn an_unbalanced_brace_message_gives_the_position_and_the_escape() {
        let open = TemplateError::UnbalancedBrace {
            template: TemplateName::Help,
            brace: '{',
            position: 7,
        }
        .to_string();
        assert_eq!(
            open,
            "template `help` has an unbalanced `{` at character 7: close the placeholder with \
             `}`, or write `{{` for a literal brace"
        );
        let close = TemplateError::UnbalancedBrace {
            template: TemplateName::Help,
            brace: '}',
            position: 3,
        }
        .to_string();
        assert!(close.contains("`}}`"), "{close}");
    }

    #[test]
    fn a_too_long_message_says_by_how_much_to_shorten() {
        let message = TemplateError::TooLong {
            template: TemplateName::Help,
            chars: 1650,
        }
        .to_string();
        assert!(message.contains("1650 characters"), "{message}");
        assert!(message.contains("limit is 1600"), "{message}");
        assert!(message.ends_with("shorten it by 50"), "{message}");
    }

    #[test]
    fn a_too_long_value_message_gives_the_limit() {
        let message = TemplateError::VariableTooLong {
            placeholder: Placeholder::PracticeName,
            chars: 90,
        }
        .to_string();
        assert_eq!(
            message,
            "the value for {practice_name} is 90 characters long; at most 80 are allowed"
        );
    }
}
