//! The in-app notification feed of a user: pages of it, what is newer than the last one seen
//! (for the event streams of the API and the staff console), and whether a stream's session
//! still lets its user in.

use store::{Notification, Page, Paged};
use uuid::Uuid;

use crate::app::{App, AppError, CurrentUser};

/// A page of the caller's notifications, newest first.
pub async fn page_for(
    state: &App,
    caller: &CurrentUser,
    page: Page,
) -> Result<Paged<Notification>, AppError> {
    Ok(state.store.list_notifications(caller.id(), page).await?)
}

/// The id of the caller's newest notification: a new stream sends only what comes after it.
pub async fn latest_id(state: &App, caller: &CurrentUser) -> Result<Option<Uuid>, AppError> {
    Ok(state
        .store
        .list_notifications(caller.id(), Page::first(1))
        .await?
        .items
        .first()
        .map(|n| n.id))
}

/// The caller's notifications newer than `after`, oldest first.
pub async fn newer_than(
    state: &App,
    user_id: Uuid,
    after: Option<Uuid>,
) -> Result<Vec<Notification>, AppError> {
    let mut found = Vec::new();
    let mut page = Page::first(50);
    loop {
        let batch = state.store.list_notifications(user_id, page).await?;
        for n in batch.items {
            if after.is_some_and(|a| n.id <= a) {
                found.reverse();
                return Ok(found);
            }
            found.push(n);
        }
        match batch.next_cursor {
            Some(cursor) => {
                page = Page {
                    after: Some(cursor),
                    limit: 50,
                }
            }
            None => {
                found.reverse();
                return Ok(found);
            }
        }
    }
}

/// Whether the stream's session still lets its user in (not logged out, not ended by a password
/// change, user not locked, not idle). Looking does not count as using the session, so an open
/// stream alone never keeps it alive. A store error ends the stream too: the client reconnects.
pub async fn session_lives(state: &App, token_hash: &str) -> bool {
    state
        .store
        .check_session(token_hash, state.clock.now())
        .await
        .is_ok()
}
