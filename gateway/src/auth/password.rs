//! Passwords: the policy (8 to 256 characters, at least one digit) and Argon2id hashing.
//!
//! A [`Password`] can only be built through [`Password::parse`], so a password that breaks the
//! policy cannot reach the store. Hashes are PHC strings with their own salt and parameters.
//! Never log a password or a hash.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MIN_LENGTH: usize = 8;

#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    /// Checks the policy; the error says what is missing.
    pub fn parse(candidate: &str) -> Result<Password, &'static str> {
        if candidate.chars().count() < MIN_LENGTH {
            return Err("password must be at least 8 characters long");
        }
        if !candidate.chars().any(|c| c.is_ascii_digit()) {
            return Err("password must contain at least one digit (0-9)");
        }
        if crate::domain::bounds::password(candidate).is_err() {
            return Err("password must be at most 256 characters long");
        }
        Ok(Password(candidate.to_string()))
    }

    /// An Argon2id hash with a fresh random salt.
    pub fn hash(&self) -> String {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(self.0.as_bytes(), &salt)
            .expect("Argon2id with default parameters cannot fail on a password")
            .to_string()
    }
}

/// OWASP's recommended Argon2id parameters (19 MiB, 2 passes, 1 lane).
fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// True when `candidate` matches `hash`. A malformed hash never matches.
pub fn verify(hash: &str, candidate: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => hasher()
            .verify_password(candidate.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, for timing-equal work when the username does not exist.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| Password("not-a-real-password-0".into()).hash())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_requires_eight_characters_and_a_digit() {
        assert!(Password::parse("short1").is_err());
        assert!(Password::parse("longenough").is_err());
        assert!(Password::parse("longenough1").is_ok());
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"a1".repeat(128)).is_ok());
        assert!(Password::parse(&"a1".repeat(129)).is_err());
    }

    #[test]
    fn a_hash_is_argon2id_and_verifies_only_the_same_password() {
        let hash = Password::parse("correct horse 1").unwrap().hash();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify(&hash, "correct horse 1"));
        assert!(!verify(&hash, "correct horse 2"));
        assert!(!verify("not a hash", "correct horse 1"));
    }

    #[test]
    fn the_same_password_hashes_differently_each_time() {
        let p = Password::parse("samesame1").unwrap();
        assert_ne!(p.hash(), p.hash());
    }
}
