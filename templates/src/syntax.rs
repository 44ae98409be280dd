//! Template syntax: splits a text into literal runs and placeholders.
//!
//! Owns the brace rules, the same as Rust's `format!`: `{name}` is a placeholder, `{{` and `}}`
//! are literal braces, and any other brace is unbalanced. It decides nothing about values,
//! lengths, encodings or wording (see `validate` and `render`), and it never re-reads a filled-in
//! value as syntax: a practice name containing `{` is sent as written.

use crate::error::TemplateError;
use crate::name::{Placeholder, TemplateName};

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text sent as is, with `{{` and `}}` already turned into single braces. Never empty, and
    /// never two in a row.
    Literal(String),
    /// A placeholder the template allows.
    Placeholder(Placeholder),
}

/// A template text that is well formed and uses only placeholders its template allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    parts: Vec<Part>,
}

impl Parsed {
    /// The parts in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The literal runs, in order.
    pub fn literals(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Literal(text) => Some(text.as_str()),
            Part::Placeholder(_) => None,
        })
    }

    /// The rendered length in characters if every placeholder takes its maximum length.
    pub fn worst_case_chars(&self) -> usize {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Literal(text) => text.chars().count(),
                Part::Placeholder(p) => p.max_chars(),
            })
            .sum()
    }

    /// Joins the parts, asking `value` for each placeholder; the first error stops it.
    pub fn fill<'v, E>(
        &self,
        mut value: impl FnMut(Placeholder) -> Result<&'v str, E>,
    ) -> Result<String, E> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Placeholder(p) => out.push_str(value(*p)?),
            }
        }
        Ok(out)
    }
}

/// Parses `text` as the text of `template`.
///
/// A brace error is reported at the first unbalanced brace. Otherwise every placeholder name the
/// template does not allow is collected (once each, in order) and reported together, so whoever
/// edits the text learns of all of them at once.
pub fn parse(template: TemplateName, text: &str) -> Result<Parsed, TemplateError> {
    let unbalanced = |brace, index: usize| TemplateError::UnbalancedBrace {
        template,
        brace,
        position: index + 1,
    };
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut unknown: Vec<String> = Vec::new();
    let mut chars = text.chars().enumerate().peekable();

    while let Some((index, c)) = chars.next() {
        match c {
            '{' if chars.next_if(|&(_, next)| next == '{').is_some() => literal.push('{'),
            '}' if chars.next_if(|&(_, next)| next == '}').is_some() => literal.push('}'),
            '}' => return Err(unbalanced('}', index)),
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some((_, '}')) => break,
                        // A second `{` before the close: the first one is the unbalanced brace.
                        Some((_, '{')) | None => return Err(unbalanced('{', index)),
                        Some((_, c)) => name.push(c),
                    }
                }
                match Placeholder::parse(&name).filter(|p| template.allows(*p)) {
                    Some(placeholder) => {
                        if !literal.is_empty() {
                            parts.push(Part::Literal(std::mem::take(&mut literal)));
                        }
                        parts.push(Part::Placeholder(placeholder));
                    }
                    None if !unknown.contains(&name) => unknown.push(name),
                    None => {}
                }
            }
            c => literal.push(c),
        }
    }
    if !unknown.is_empty() {
        return Err(TemplateError::UnknownPlaceholders {
            template,
            placeholders: unknown,
        });
    }
    if !literal.is_empty() {
        parts.push(Part::Literal(literal));
    }
    Ok(Parsed { parts })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: TemplateName = TemplateName::OptInRetry;

    fn lit(s: &str) -> Part {
        Part::Literal(s.to_owned())
    }

    #[test]
    fn a_text_splits_into_literal_runs_and_placeholders() {
        let parsed = parse(T, "Hi {practice_name}, {attempts_left} left.").unwrap();
        assert_eq!(
            parsed.parts(),
            [
                lit("Hi "),
                Part::Placeholder(Placeholder::PracticeName),
                lit(", "),
                Part::Placeholder(Placeholder::AttemptsLeft),
                lit(" left."),
            ]
        );
    }

    #[test]
    fn doubled_braces_are_literal_braces_and_stay_in_one_run() {
        let parsed = parse(T, "a {{b}} c").unwrap();
        assert_eq!(parsed.parts(), [lit("a {b} c")]);
        let parsed = parse(T, "{{{practice_name}}}").unwrap();
        assert_eq!(
            parsed.parts(),
            [
                lit("{"),
                Part::Placeholder(Placeholder::PracticeName),
                lit("}")
            ]
        );
    }

    #[test]
    fn an_unclosed_brace_is_reported_at_its_position() {
        assert_eq!(
            parse(T, "Hello {practice_name").unwrap_err(),
            TemplateError::UnbalancedBrace {
                template: T,
                brace: '{',
                position: 7
            }
        );
    }

    #[test]
    fn a_brace_opened_inside_a_placeholder_is_unbalanced() {
        assert_eq!(
            parse(T, "{practice{name}").unwrap_err(),
            TemplateError::UnbalancedBrace {
                template: T,
                brace: '{',
                position: 1
            }
        );
    }

    #[test]
    fn a_lone_closing_brace_is_reported_at_its_position() {
        assert_eq!(
            parse(T, "ok} then").unwrap_err(),
            TemplateError::UnbalancedBrace {
                template: T,
                brace: '}',
                position: 3
            }
        );
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        let err = parse(T, "é€}").unwrap_err();
        assert!(matches!(
            err,
            TemplateError::UnbalancedBrace { position: 3, .. }
        ));
    }

    #[test]
    fn every_unknown_placeholder_is_named_once_in_order() {
        assert_eq!(
            parse(T, "{patient_name} {dob} {patient_name} {alert_code} {}").unwrap_err(),
            TemplateError::UnknownPlaceholders {
                template: T,
                placeholders: vec![
                    "patient_name".into(),
                    "dob".into(),
                    "alert_code".into(),
                    String::new()
                ],
            }
        );
    }

    #[test]
    fn placeholder_names_are_exact_without_spaces_or_case_folding() {
        let err = parse(T, "{ practice_name } {Practice_Name}").unwrap_err();
        assert_eq!(
            err,
            TemplateError::UnknownPlaceholders {
                template: T,
                placeholders: vec![" practice_name ".into(), "Practice_Name".into()],
            }
        );
    }

    #[test]
    fn the_worst_case_counts_each_placeholder_at_its_maximum_length() {
        let parsed = parse(T, "ab{practice_name}{attempts_left}{practice_name}").unwrap();
        assert_eq!(parsed.worst_case_chars(), 2 + 80 + 2 + 80);
    }
}
