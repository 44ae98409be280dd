//! What the dev transports "sent", for developers: the SMS outbox and the email outbox, each a
//! page at a time, for super admins only.
//!
//! The HTTP layer mounts the routes only while a dev transport is in use; this module must never
//! be reachable with real carrier credentials, since the outbox shows message bodies.

use store::{EmailOutboxRow, Outbound, Page, Paged};

use crate::app::{App, AppError, CurrentUser};

/// The SMS outbox, oldest first (super admins).
pub async fn outbox_for(
    state: &App,
    caller: &CurrentUser,
    page: Page,
) -> Result<Paged<Outbound>, AppError> {
    caller.require_super_admin()?;
    Ok(state.store.list_outbox(page).await?)
}

/// The email outbox, newest first (super admins).
pub async fn emails_for(
    state: &App,
    caller: &CurrentUser,
    page: Page,
) -> Result<Paged<EmailOutboxRow>, AppError> {
    caller.require_super_admin()?;
    Ok(state.store.list_emails(page).await?)
}
