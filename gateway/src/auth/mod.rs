//! Authentication primitives: password policy and hashing, bearer tokens.

pub mod password;
pub mod token;
