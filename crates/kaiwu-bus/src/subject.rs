//! NATS subject syntax: tokens separated by `.`, no empty tokens, no whitespace; patterns may use
//! `*` for one token and `>` as the last token for one or more remaining tokens.

use crate::{Error, Result};

const MAX_LEN: usize = 1024;

fn tokens(s: &str) -> Result<std::str::Split<'_, char>> {
    let bad = |reason| Error::InvalidSubject {
        subject: s.chars().take(140).collect(),
        reason,
    };
    if s.is_empty() || s.len() > MAX_LEN {
        return Err(bad("must be 1 to 1024 bytes"));
    }
    if s.bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(bad("must not contain whitespace or control characters"));
    }
    if s.split('.').any(str::is_empty) {
        return Err(bad("tokens must not be empty"));
    }
    Ok(s.split('.'))
}

/// A subject to publish on: no wildcards.
pub fn validate_subject(s: &str) -> Result<()> {
    if tokens(s)?.any(|t| t == "*" || t == ">") {
        return Err(Error::InvalidSubject {
            subject: s.chars().take(140).collect(),
            reason: "wildcards are only allowed in subscriptions",
        });
    }
    Ok(())
}

/// A pattern to subscribe with: `>` only as the last token.
pub fn validate_pattern(p: &str) -> Result<()> {
    let toks: Vec<&str> = tokens(p)?.collect();
    let last = toks.len() - 1;
    if toks.iter().enumerate().any(|(i, t)| *t == ">" && i != last) {
        return Err(Error::InvalidSubject {
            subject: p.chars().take(140).collect(),
            reason: "`>` must be the last token",
        });
    }
    Ok(())
}

/// Whether `subject` matches `pattern` (both assumed valid).
pub fn matches(pattern: &str, subject: &str) -> bool {
    let mut s = subject.split('.');
    for p in pattern.split('.') {
        match (p, s.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (p, Some(t)) if p == t => {}
            _ => return false,
        }
    }
    s.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_matching() {
        assert!(matches("a.b.c", "a.b.c"));
        assert!(!matches("a.b.c", "a.b"));
        assert!(!matches("a.b", "a.b.c"));
        assert!(matches("a.*.c", "a.x.c"));
        assert!(!matches("a.*.c", "a.x.y.c"));
        assert!(matches("a.>", "a.b"));
        assert!(matches("a.>", "a.b.c.d"));
        assert!(!matches("a.>", "a"));
        assert!(matches("kaiwu.*.registry.>", "kaiwu.t1.registry.device"));
    }

    #[test]
    fn syntax() {
        assert!(validate_subject("kaiwu.t.registry.device").is_ok());
        for bad in ["", "a..b", ".a", "a.", "a b", "a.*", "a.>"] {
            assert!(validate_subject(bad).is_err(), "{bad}");
        }
        assert!(validate_pattern("a.*.>").is_ok());
        assert!(validate_pattern("a.>.b").is_err());
        assert!(validate_pattern(&"a".repeat(1025)).is_err());
    }
}
