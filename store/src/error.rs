//! The store's error type: the outcomes a caller must tell apart.
//!
//! Backends translate their driver errors into these; nothing above the store ever sees a
//! `tokio_postgres` or `rusqlite` error. A `Conflict` names a constraint of the schema so the API
//! layer can turn it into a precise 409/422 without parsing driver messages; a refusal decided by
//! a use case rather than by the schema is a typed [`RuleRefusal`].

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
    /// A use case's own rule refused the change; nothing was written.
    #[error("refused: {0}")]
    Rule(RuleRefusal),
    /// The store cannot be reached or is too busy to answer in time; retrying later may work.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or a schema mismatch. Logged in full, answered as a 500.
    #[error("unexpected store error: {0}")]
    Unexpected(String),
}

/// The refusals a use case decides itself (no constraint of the schema carries them), each with
/// its own answer at the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RuleRefusal {
    /// A user named is not a user of the customer (default users, practice members, group
    /// defaults).
    #[error("every user must be a user of this customer")]
    UsersOfAnotherCustomer,
    /// A practice named for a group is not the customer's or is in another group.
    #[error("a practice is not this customer's or is in another group")]
    PracticeInAnotherGroup,
    /// Practice groups need [`crate::MIN_PRACTICES_FOR_GROUPS`] practices.
    #[error("too few practices for practice groups")]
    TooFewPracticesForGroups,
    /// An `Idempotency-Key` already used for a different request.
    #[error("the idempotency key was used for a different request")]
    IdempotencyKeyReused,
    /// The patient's texting state changed after the caller read it: decide again on the new one.
    #[error("the patient's texting state changed; decide again")]
    TextingChanged,
    /// The reading's decision, taken with the patient locked, needs something the caller did not
    /// prepare (who an alert reaches, who hears of a caution): prepare it and record again.
    #[error("the reading needs more than was prepared; prepare it and record again")]
    ReadingUnprepared,
    /// The practice has texting turned off.
    #[error("the practice has texting turned off")]
    TextingDisabled,
    /// The practice has the patient portal turned off.
    #[error("the practice has the patient portal turned off")]
    PortalDisabled,
    /// A supervisor named is not another user of the same customer.
    #[error("a supervisor must be another user of the same customer")]
    SupervisorOfAnotherCustomer,
    /// A practice group named is not a group of the practice's customer.
    #[error("the practice group is not the customer's")]
    GroupOfAnotherCustomer,
}

impl StoreError {
    pub fn is_conflict_on(&self, name: &str) -> bool {
        matches!(self, StoreError::Conflict { constraint } if constraint == name)
    }

    pub fn is_rule(&self, rule: RuleRefusal) -> bool {
        matches!(self, StoreError::Rule(refused) if *refused == rule)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
