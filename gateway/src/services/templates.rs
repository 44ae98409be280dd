//! The wording of a practice's texts: its stored overrides over the default templates.

use templates::{TemplateName, TemplateSet};
use uuid::Uuid;

use store::StoreResult;

use crate::app::App;

/// The practice's templates as a set. A stored override that no longer validates falls back to
/// its default (logged), so a broken override can never stop a STOP confirmation; a store that
/// cannot be read is an error like any other, never a silent switch to the default wording.
pub async fn practice_templates(state: &App, practice_id: Uuid) -> StoreResult<TemplateSet> {
    let stored = state.store.template_overrides(practice_id).await?;
    let overrides = stored
        .into_iter()
        .filter_map(|o| TemplateName::parse(&o.name).ok().map(|n| (n, o.body)));
    let (set, broken) = TemplateSet::from_stored(overrides);
    for (name, _) in broken {
        tracing::warn!(template = name.as_str(), %practice_id, "stored template override is invalid; using the default");
    }
    Ok(set)
}
