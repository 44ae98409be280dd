//! The store's error type: the four outcomes a caller must tell apart.
//!
//! Backends translate their driver errors into these; nothing above the store ever sees a
//! `tokio_postgres` or `rusqlite` error. A `Conflict` names the constraint so the API layer can
//! turn it into a precise 409/422 without parsing driver messages.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The row asked for does not exist (or is not visible to the query).
    #[error("not found")]
    NotFound,
    /// A uniqueness or integrity rule refused the write. `constraint` is the stable name
    /// (`{table}_{columns}_key` for unique rules, the same on both backends).
    #[error("conflicts with existing data ({constraint})")]
    Conflict { constraint: String },
    /// The store cannot be reached or is too busy to answer in time; retrying later may work.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or a schema mismatch. Logged in full, answered as a 500.
    #[error("unexpected store error: {0}")]
    Unexpected(String),
}

impl StoreError {
    pub fn is_conflict_on(&self, name: &str) -> bool {
        matches!(self, StoreError::Conflict { constraint } if constraint == name)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
