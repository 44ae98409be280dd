//! Upkeep of the configuration-change log (`config_changes`, migration 0029). Triggers add a row
//! for every change to what the gateway's practice-context cache holds; only the highest id is
//! ever read (the version an inbound text is decided against), so the rows below it are history
//! that nothing needs and that would otherwise grow with every configuration edit.

use async_trait::async_trait;

use crate::StoreResult;
use crate::sql::Db;

#[async_trait]
pub trait ConfigChanges: Send + Sync {
    /// Deletes every change row but the newest, so the version (`max(id)`) stays where it is.
    /// Returns how many rows went.
    async fn forget_old_config_changes(&self) -> StoreResult<u64>;
}

#[async_trait]
impl<D: Db> ConfigChanges for D {
    async fn forget_old_config_changes(&self) -> StoreResult<u64> {
        self.autocommit(|tx| {
            Box::pin(async move {
                // A row inserted by a change still in flight has a higher id than any this
                // statement sees, so it is never the one deleted; ids are never reused (a
                // sequence on PostgreSQL, AUTOINCREMENT on SQLite), so the version cannot go back.
                tx.execute(
                    "DELETE FROM config_changes WHERE id < (SELECT max(id) FROM config_changes)",
                    &[],
                )
                .await
            })
        })
        .await
    }
}
