//! One practice's templates: its own texts where it wrote them, the defaults elsewhere.
//!
//! Owns [`TemplateSet`], the in-memory view the gateway builds from the overrides it stored for a
//! practice. It validates every override it takes in and never holds an invalid one, so
//! [`TemplateSet::text_for`] always returns a sendable text. It never reads or writes the store.

use std::collections::HashMap;

use crate::error::TemplateError;
use crate::name::TemplateName;
use crate::render::{Vars, render};
use crate::validate::{Validated, validate};

/// A practice's overrides over the default texts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateSet {
    // Only validated texts; a template without an entry uses its default.
    overrides: HashMap<TemplateName, String>,
}

impl TemplateSet {
    /// Every template at its default text.
    pub fn defaults() -> Self {
        Self::default()
    }

    /// Takes a practice's overrides, refusing the set if any of them fails [`validate`] (the
    /// first failure in [`TemplateName::ALL`] order is reported). For saving and for tests.
    pub fn new(
        overrides: impl IntoIterator<Item = (TemplateName, String)>,
    ) -> Result<Self, TemplateError> {
        let overrides: HashMap<_, _> = overrides.into_iter().collect();
        for name in TemplateName::ALL {
            if let Some(text) = overrides.get(&name) {
                validate(name, text)?;
            }
        }
        Ok(Self { overrides })
    }

    /// Takes overrides read back from the store, keeping the valid ones and leaving any that no
    /// longer validate (after a rule change, say) at their default, reported with their error in
    /// [`TemplateName::ALL`] order. Sending goes through this so that a broken override can never
    /// stop an opt-out confirmation or an alert from going out.
    pub fn from_stored(
        overrides: impl IntoIterator<Item = (TemplateName, String)>,
    ) -> (Self, Vec<(TemplateName, TemplateError)>) {
        let mut overrides: HashMap<_, _> = overrides.into_iter().collect();
        let mut rejected = Vec::new();
        for name in TemplateName::ALL {
            if let Some(Err(err)) = overrides.get(&name).map(|text| validate(name, text)) {
                overrides.remove(&name);
                rejected.push((name, err));
            }
        }
        (Self { overrides }, rejected)
    }

    /// The text to send for `name`: the practice's own, or the default.
    pub fn text_for(&self, name: TemplateName) -> &str {
        self.overrides
            .get(&name)
            .map_or(name.default_text(), String::as_str)
    }

    /// Whether the practice wrote its own text for `name`.
    pub fn is_overridden(&self, name: TemplateName) -> bool {
        self.overrides.contains_key(&name)
    }

    /// The practice's own texts.
    pub fn overrides(&self) -> &HashMap<TemplateName, String> {
        &self.overrides
    }

    /// Replaces the text of `name` after validating it; on error the set is unchanged.
    pub fn set(
        &mut self,
        name: TemplateName,
        text: impl Into<String>,
    ) -> Result<Validated, TemplateError> {
        let text = text.into();
        let validated = validate(name, &text)?;
        self.overrides.insert(name, text);
        Ok(validated)
    }

    /// Goes back to the default text of `name`, returning the override it had.
    pub fn reset(&mut self, name: TemplateName) -> Option<String> {
        self.overrides.remove(&name)
    }

    /// Renders the text for `name` (see [`render`]).
    pub fn render(&self, name: TemplateName, vars: &Vars) -> Result<String, TemplateError> {
        render(name, self.text_for(name), vars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::Placeholder;

    const HELP_TEXT: &str = "{practice_name} help: call {practice_phone}. Reply STOP to opt out.";

    #[test]
    fn without_overrides_every_template_uses_its_default() {
        let set = TemplateSet::defaults();
        for name in TemplateName::ALL {
            assert_eq!(set.text_for(name), name.default_text());
            assert!(!set.is_overridden(name));
        }
    }

    #[test]
    fn an_override_replaces_only_its_own_template() {
        let set =
            TemplateSet::new(HashMap::from([(TemplateName::Help, HELP_TEXT.to_owned())])).unwrap();
        assert_eq!(set.text_for(TemplateName::Help), HELP_TEXT);
        assert!(set.is_overridden(TemplateName::Help));
        assert_eq!(
            set.text_for(TemplateName::OptInRequest),
            TemplateName::OptInRequest.default_text()
        );
    }

    #[test]
    fn a_set_with_an_invalid_override_is_refused_naming_the_template() {
        let err = TemplateSet::new([
            (TemplateName::Help, "No opt-out here".to_owned()),
            (TemplateName::OptInRetry, "Left: {attempts}".to_owned()),
        ])
        .unwrap_err();
        // ALL order: the retry prompt comes before help.
        assert_eq!(
            err,
            TemplateError::UnknownPlaceholders {
                template: TemplateName::OptInRetry,
                placeholders: vec!["attempts".into()],
            }
        );
    }

    #[test]
    fn stored_overrides_that_no_longer_validate_fall_back_to_the_default_and_are_reported() {
        let (set, rejected) = TemplateSet::from_stored([
            (TemplateName::Help, "No opt-out here".to_owned()),
            (TemplateName::OptInConfirmed, "Confirmed.".to_owned()),
        ]);
        assert_eq!(
            set.text_for(TemplateName::Help),
            TemplateName::Help.default_text()
        );
        assert_eq!(set.text_for(TemplateName::OptInConfirmed), "Confirmed.");
        assert_eq!(
            rejected,
            [(
                TemplateName::Help,
                TemplateError::MissingStop {
                    template: TemplateName::Help
                }
            )]
        );
    }

    #[test]
    fn setting_an_invalid_text_leaves_the_set_unchanged() {
        let mut set = TemplateSet::defaults();
        assert!(set.set(TemplateName::Help, "").is_err());
        assert!(!set.is_overridden(TemplateName::Help));
        let validated = set.set(TemplateName::Help, HELP_TEXT).unwrap();
        assert_eq!(validated.name, TemplateName::Help);
        assert_eq!(set.text_for(TemplateName::Help), HELP_TEXT);
    }

    #[test]
    fn resetting_goes_back_to_the_default() {
        let mut set = TemplateSet::defaults();
        set.set(TemplateName::Help, HELP_TEXT).unwrap();
        assert_eq!(set.reset(TemplateName::Help).as_deref(), Some(HELP_TEXT));
        assert_eq!(
            set.text_for(TemplateName::Help),
            TemplateName::Help.default_text()
        );
        assert_eq!(set.reset(TemplateName::Help), None);
    }

    #[test]
    fn rendering_through_the_set_uses_the_override() {
        let mut set = TemplateSet::defaults();
        set.set(TemplateName::Help, HELP_TEXT).unwrap();
        let vars = Vars::new()
            .with(Placeholder::PracticeName, "Lakeside")
            .with(Placeholder::PracticePhone, "555-0123");
        assert_eq!(
            set.render(TemplateName::Help, &vars).unwrap(),
            "Lakeside help: call 555-0123. Reply STOP to opt out."
        );
    }
}
