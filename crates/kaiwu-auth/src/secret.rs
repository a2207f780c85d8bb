/// API keys start with this, so a bearer value can be told apart from a JWT without parsing.
pub const API_KEY_PREFIX: &str = "kwk_";

const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A random alphanumeric secret of `len` characters (5.95 bits each: 32 characters give 190 bits).
/// Rejection sampling keeps every character uniform.
pub fn random_token(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        // getrandom only fails when the OS has no entropy source at all; nothing can run then.
        if getrandom::fill(&mut buf).is_err() {
            panic!("operating system random number generator unavailable");
        }
        for b in buf {
            // 248 = 4 * 62: bytes at or above it would bias the first characters.
            if b < 248 && out.len() < len {
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_alphanumeric() {
        let a = random_token(32);
        let b = random_token(32);
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
    }
}
