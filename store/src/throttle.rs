//! Failed-login throttling state, one row per key. The rule (how failures count) is the
//! gateway's; the store keeps the state and serialises changes to one key, so failures on several
//! instances at once are each counted.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::*;

/// One key's state (see the gateway's `domain::throttle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRow {
    pub tat: DateTime<Utc>,
    pub blocked_until: Option<DateTime<Utc>>,
}

/// Turns a key's state (none yet: `None`) into its new state.
pub type DecideThrottle = Box<dyn FnOnce(Option<ThrottleRow>) -> ThrottleRow + Send>;

#[async_trait]
pub trait LoginThrottle: Send + Sync {
    /// The state of each of `keys` that has one, in the order asked.
    async fn throttle_rows(&self, keys: &[String]) -> StoreResult<Vec<(String, ThrottleRow)>>;
    /// Replaces the key's state with what `decide` makes of it, holding the key's row lock.
    async fn update_throttle(&self, key: &str, decide: DecideThrottle) -> StoreResult<ThrottleRow>;
    /// Forgets keys that neither block nor count anything after `before`. Returns how many.
    async fn forget_throttles(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}
