use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::{Error, Result};

/// Minimum password policy: long enough to resist guessing, bounded so hashing cannot be abused.
pub fn validate_password(pw: &str) -> Result<()> {
    let n = pw.chars().count();
    if n < 8 {
        return Err(Error::WeakPassword("must be at least 8 characters"));
    }
    if pw.len() > 256 {
        return Err(Error::WeakPassword("must be at most 256 bytes"));
    }
    if pw.chars().any(char::is_control) {
        return Err(Error::WeakPassword("must not contain control characters"));
    }
    Ok(())
}

/// Argon2id PHC string of `pw` with a random salt. CPU-heavy (tens of ms): call off the async
/// runtime.
pub fn hash_password(pw: &str) -> Result<String> {
    // The salt comes from the OS generator inside `hash_password`.
    Argon2::default()
        .hash_password(pw.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::Hash(e.to_string()))
}

/// Whether `pw` matches the stored PHC string. A corrupt stored hash is an error, not a mismatch.
pub fn verify_password(pw: &str, phc: &str) -> Result<bool> {
    let parsed = PasswordHash::new(phc).map_err(|e| Error::Hash(e.to_string()))?;
    Ok(Argon2::default()
        .verify_password(pw.as_bytes(), &parsed)
        .is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h).unwrap());
        assert!(!verify_password("wrong horse", &h).unwrap());
        assert!(verify_password("x", "not a hash").is_err());
    }

    #[test]
    fn policy() {
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough").is_ok());
        assert!(validate_password(&"x".repeat(300)).is_err());
        assert!(validate_password("with\nnewline").is_err());
    }
}
