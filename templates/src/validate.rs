//! Validation: what a template text must satisfy before a practice may save it, and what the
//! gateway checks again before every rendering.
//!
//! Owns the rules on top of the syntax: not empty, only the template's placeholders, at most
//! [`MAX_RENDERED_CHARS`] once every placeholder is filled to its maximum length, and STOP still
//! mentioned where carriers require it. It never fills in real values (only samples, for the
//! preview) and never decides where a text is stored.

use std::convert::Infallible;

use serde::Serialize;

use crate::error::TemplateError;
use crate::name::TemplateName;
use crate::segments::{SegmentCount, segments};
use crate::syntax::{self, Parsed, Part};

pub use crate::limits::MAX_RENDERED_CHARS;

/// A text that passed [`validate`], with what it will look like and cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Validated {
    /// The template the text was checked for.
    pub name: TemplateName,
    /// The text rendered with each placeholder's sample value.
    pub preview: String,
    /// Segments of the preview (a real rendering can differ with longer values).
    pub segments: SegmentCount,
    /// The rendered length in characters with every placeholder at its maximum length; never
    /// more than [`MAX_RENDERED_CHARS`].
    pub max_chars: usize,
}

/// Checks `text` as the text of template `name`.
///
/// Refuses, in this order: an empty (or blank) text, unbalanced braces, placeholders the template
/// does not offer (all of them named), an opt-in request or help answer without the word STOP
/// (any case, as a whole word, outside placeholders), a text without a placeholder its template
/// must keep (`{alert_code}` in `alert_critical`), and a text longer than
/// [`MAX_RENDERED_CHARS`] when every placeholder is filled to its maximum length.
pub fn validate(name: TemplateName, text: &str) -> Result<Validated, TemplateError> {
    let parsed = check(name, text)?;
    let preview = parsed
        .fill(|p| Ok(p.sample()))
        .unwrap_or_else(|never: Infallible| match never {});
    Ok(Validated {
        name,
        segments: segments(&preview),
        preview,
        max_chars: parsed.worst_case_chars(),
    })
}

/// The checks of [`validate`], returning the parsed text for rendering.
pub(crate) fn check(name: TemplateName, text: &str) -> Result<Parsed, TemplateError> {
    if text.trim().is_empty() {
        return Err(TemplateError::Empty { template: name });
    }
    let parsed = syntax::parse(name, text)?;
    if name.requires_stop() && !parsed.literals().any(|run| contains_word(run, "stop")) {
        return Err(TemplateError::MissingStop { template: name });
    }
    if let Some(&placeholder) = name
        .required_placeholders()
        .iter()
        .find(|&&p| !parsed.parts().contains(&Part::Placeholder(p)))
    {
        return Err(TemplateError::MissingPlaceholder {
            template: name,
            placeholder,
        });
    }
    let chars = parsed.worst_case_chars();
    if chars > MAX_RENDERED_CHARS {
        return Err(TemplateError::TooLong {
            template: name,
            chars,
        });
    }
    Ok(parsed)
}

/// Whether `text` contains `word` (given in lower case) in any case, not as part of a longer word:
/// "Reply 'STOP'" does, "STOPALL" and "nonstop" do not.
fn contains_word(text: &str, word: &str) -> bool {
    let is_word_char = |c: char| c.is_alphanumeric() || c == '_';
    let lower = text.to_lowercase();
    lower.match_indices(word).any(|(start, found)| {
        let before = lower[..start].chars().next_back();
        let after = lower[start + found.len()..].chars().next();
        !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_alert_text_must_keep_its_code() {
        assert_eq!(
            validate(
                TemplateName::AlertCritical,
                "{practice_name}: urgent reading, sign in to see it."
            ),
            Err(TemplateError::MissingPlaceholder {
                template: TemplateName::AlertCritical,
                placeholder: crate::Placeholder::AlertCode,
            })
        );
        assert!(
            validate(
                TemplateName::AlertCritical,
                "{practice_name}: urgent. Text ACK {alert_code}."
            )
            .is_ok()
        );
        // The default keeps it, and no other template requires a placeholder.
        assert!(
            validate(
                TemplateName::AlertCritical,
                TemplateName::AlertCritical.default_text()
            )
            .is_ok()
        );
        for name in TemplateName::ALL {
            if name != TemplateName::AlertCritical {
                assert!(name.required_placeholders().is_empty(), "{name}");
            }
        }
    }

    use super::*;
    use crate::segments::Encoding;

    #[test]
    fn a_valid_text_reports_its_preview_segments_and_worst_case_length() {
        let text =
            "{practice_name}: a patient reading needs urgent review. Reply ACK {alert_code}.";
        let v = validate(TemplateName::AlertCritical, text).unwrap();
        assert_eq!(
            v.preview,
            "Riverside Family Medicine: a patient reading needs urgent review. Reply ACK K7Q2."
        );
        assert_eq!(v.segments, segments(&v.preview));
        assert_eq!(v.segments.encoding, Encoding::Gsm7);
        assert_eq!(v.segments.segments, 1);
        assert_eq!(v.max_chars, text.chars().count() - 15 - 12 + 80 + 12);
    }

    #[test]
    fn the_preview_of_a_text_with_an_emoji_is_counted_as_ucs_2() {
        let v = validate(
            TemplateName::OptInConfirmed,
            "Welcome to {practice_name} 🙂",
        )
        .unwrap();
        assert_eq!(v.segments.encoding, Encoding::Ucs2);
    }

    #[test]
    fn an_empty_or_blank_text_is_refused() {
        for text in ["", "   ", "\n\t"] {
            assert_eq!(
                validate(TemplateName::NewPatientMessage, text),
                Err(TemplateError::Empty {
                    template: TemplateName::NewPatientMessage
                })
            );
        }
    }

    #[test]
    fn an_unknown_placeholder_is_refused_and_named() {
        let err = validate(
            TemplateName::OptInRequest,
            "Hi {patient_name}, send your DOB. Reply STOP to opt out.",
        )
        .unwrap_err();
        assert_eq!(
            err,
            TemplateError::UnknownPlaceholders {
                template: TemplateName::OptInRequest,
                placeholders: vec!["patient_name".into()],
            }
        );
        assert!(err.to_string().contains("{patient_name}"));
    }

    #[test]
    fn a_placeholder_of_another_template_is_refused() {
        let err = validate(
            TemplateName::NewPatientMessage,
            "New message, {attempts_left} {alert_code}",
        )
        .unwrap_err();
        assert_eq!(
            err,
            TemplateError::UnknownPlaceholders {
                template: TemplateName::NewPatientMessage,
                placeholders: vec!["attempts_left".into(), "alert_code".into()],
            }
        );
    }

    #[test]
    fn unbalanced_braces_are_refused() {
        for text in ["Hi {practice_name", "Hi practice_name}", "{{practice_name}"] {
            let err = validate(TemplateName::NewPatientMessage, text).unwrap_err();
            assert!(
                matches!(err, TemplateError::UnbalancedBrace { .. }),
                "{text}: {err:?}"
            );
        }
    }

    #[test]
    fn doubled_braces_are_allowed_and_previewed_as_single_braces() {
        let v = validate(
            TemplateName::Help,
            "{{info}} at {practice_name}. Reply STOP.",
        )
        .unwrap();
        assert_eq!(
            v.preview,
            "{info} at Riverside Family Medicine. Reply STOP."
        );
    }

    #[test]
    fn exactly_1600_characters_are_accepted_and_1601_refused() {
        let name = TemplateName::NewPatientMessage;
        assert!(validate(name, &"a".repeat(1600)).is_ok());
        assert_eq!(
            validate(name, &"a".repeat(1601)),
            Err(TemplateError::TooLong {
                template: name,
                chars: 1601
            })
        );
    }

    #[test]
    fn the_length_limit_counts_placeholders_at_their_maximum_length() {
        let name = TemplateName::NewPatientMessage;
        let fits = format!("{}{{practice_name}}", "a".repeat(1600 - 80));
        assert_eq!(validate(name, &fits).unwrap().max_chars, 1600);
        let over = format!("a{fits}");
        assert_eq!(
            validate(name, &over),
            Err(TemplateError::TooLong {
                template: name,
                chars: 1601
            })
        );
    }

    #[test]
    fn the_length_limit_counts_characters_not_bytes() {
        let name = TemplateName::NewPatientMessage;
        assert!(validate(name, &"é".repeat(1600)).is_ok());
    }

    #[test]
    fn an_opt_in_request_or_help_without_stop_is_refused() {
        for name in [TemplateName::OptInRequest, TemplateName::Help] {
            assert_eq!(
                validate(name, "Please send your date of birth to {practice_name}."),
                Err(TemplateError::MissingStop { template: name })
            );
        }
    }

    #[test]
    fn stop_is_found_in_any_case_next_to_punctuation() {
        for text in [
            "respond 'STOP'.",
            "Reply stop to opt out",
            "Stop",
            "(STOP)",
            "STOP!",
        ] {
            assert!(validate(TemplateName::Help, text).is_ok(), "{text}");
        }
    }

    #[test]
    fn stop_inside_a_longer_word_does_not_count() {
        for text in ["Reply STOPALL", "nonstop care", "STOP2", "stop_it", "stops"] {
            assert_eq!(
                validate(TemplateName::Help, text),
                Err(TemplateError::MissingStop {
                    template: TemplateName::Help
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn stop_in_a_value_does_not_count_because_only_the_fixed_text_is_read() {
        // A practice named "Stop Clinic" must not make a text without opt-out instructions valid.
        assert!(matches!(
            validate(TemplateName::Help, "{practice_name} help line"),
            Err(TemplateError::MissingStop { .. })
        ));
    }

    #[test]
    fn other_templates_need_not_mention_stop() {
        for name in TemplateName::ALL.into_iter().filter(|n| !n.requires_stop()) {
            // Each keeps what it must keep (the alert text its code), and no STOP.
            let text = match name {
                TemplateName::AlertCritical => "Please call {practice_phone}. ACK {alert_code}",
                _ => "Please call {practice_phone}.",
            };
            assert!(validate(name, text).is_ok(), "{name}");
        }
    }

    #[test]
    fn a_brace_error_is_reported_before_a_missing_stop() {
        assert!(matches!(
            validate(TemplateName::Help, "Hi {practice_name"),
            Err(TemplateError::UnbalancedBrace { .. })
        ));
    }
}
