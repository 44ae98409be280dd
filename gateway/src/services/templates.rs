//! The wording of a practice's texts: its stored overrides over the default templates, read by
//! whoever sees the practice and changed by its customer's admins.

use templates::{TemplateName, TemplateSet};
use uuid::Uuid;

use store::StoreResult;

use crate::app::{App, AppError, CurrentUser};
use crate::services::access::{administered_practice, visible_practice};

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

/// The practice's templates, for a caller who may see the practice.
pub async fn list_for(
    state: &App,
    caller: &CurrentUser,
    practice_id: Uuid,
) -> Result<TemplateSet, AppError> {
    visible_practice(state, caller, practice_id).await?;
    Ok(practice_templates(state, practice_id).await?)
}

/// Saves the practice's own text for a template (customer admins), or goes back to the default
/// when `text` is blank; a text that does not validate is refused naming `text`. Answers the
/// practice's templates as saved.
pub async fn save_for(
    state: &App,
    caller: &CurrentUser,
    practice_id: Uuid,
    name: TemplateName,
    text: &str,
) -> Result<TemplateSet, AppError> {
    administered_practice(state, caller, practice_id).await?;
    if text.trim().is_empty() {
        state
            .store
            .reset_template(&caller.audit(), practice_id, name.as_str())
            .await?;
    } else {
        templates::validate(name, text).map_err(|e| AppError::invalid("text", e.to_string()))?;
        state
            .store
            .set_template(&caller.audit(), practice_id, name.as_str(), text)
            .await?;
    }
    Ok(practice_templates(state, practice_id).await?)
}
