//! Authentication primitives: password policy and hashing, bearer tokens, login throttling.

pub mod limiter;
pub mod password;
pub mod token;
