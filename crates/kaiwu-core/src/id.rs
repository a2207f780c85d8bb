//! Identifier syntax from the interface contract. Checked by hand (no regex engine) because these
//! run on every request.

/// An identifier that does not have the required syntax.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{value}`: {rule}")]
pub struct IdError {
    /// Which kind of identifier.
    pub what: &'static str,
    /// The offending value (truncated to 140 characters).
    pub value: String,
    /// The rule it breaks.
    pub rule: &'static str,
}

fn err(what: &'static str, value: &str, rule: &'static str) -> IdError {
    IdError {
        what,
        value: value.chars().take(140).collect(),
        rule,
    }
}

/// `[a-z][a-z0-9_]{0,62}`: device type ids double as SQL table names.
pub fn validate_type_id(s: &str) -> Result<(), IdError> {
    const RULE: &str = "must match [a-z][a-z0-9_]{0,62}";
    check(
        s,
        "device type id",
        RULE,
        63,
        |c| c.is_ascii_lowercase(),
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_',
    )
}

/// `[a-z][a-z0-9_-]{0,62}`.
pub fn validate_tenant_id(s: &str) -> Result<(), IdError> {
    const RULE: &str = "must match [a-z][a-z0-9_-]{0,62}";
    check(
        s,
        "tenant id",
        RULE,
        63,
        |c| c.is_ascii_lowercase(),
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-',
    )
}

/// `[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}`, unique within a tenant.
pub fn validate_device_id(s: &str) -> Result<(), IdError> {
    const RULE: &str = "must match [A-Za-z0-9][A-Za-z0-9_.:-]{0,127}";
    check(
        s,
        "device id",
        RULE,
        128,
        |c| c.is_ascii_alphanumeric(),
        |c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':' | b'-'),
    )
}

/// Assets use the device id syntax.
pub fn validate_asset_id(s: &str) -> Result<(), IdError> {
    const RULE: &str = "must match [A-Za-z0-9][A-Za-z0-9_.:-]{0,127}";
    check(
        s,
        "asset id",
        RULE,
        128,
        |c| c.is_ascii_alphanumeric(),
        |c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b':' | b'-'),
    )
}

/// `[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}`, unique platform-wide (login names carry no tenant).
pub fn validate_username(s: &str) -> Result<(), IdError> {
    const RULE: &str = "must match [A-Za-z0-9][A-Za-z0-9_.@-]{0,63}";
    check(
        s,
        "username",
        RULE,
        64,
        |c| c.is_ascii_alphanumeric(),
        |c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'@' | b'-'),
    )
}

fn check(
    s: &str,
    what: &'static str,
    rule: &'static str,
    max: usize,
    first: impl Fn(u8) -> bool,
    rest: impl Fn(u8) -> bool,
) -> Result<(), IdError> {
    let b = s.as_bytes();
    match b.split_first() {
        Some((f, tail)) if b.len() <= max && first(*f) && tail.iter().all(|c| rest(*c)) => Ok(()),
        _ => Err(err(what, s, rule)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_ids() {
        assert!(validate_type_id("cnc_mill").is_ok());
        assert!(validate_type_id(&"a".repeat(63)).is_ok());
        assert!(validate_type_id(&"a".repeat(64)).is_err());
        for bad in ["", "Cnc", "1abc", "_a", "a-b", "a b", "ä"] {
            assert!(validate_type_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn device_ids() {
        for ok in ["m1", "Press-01", "line1.cell2:plc", "0"] {
            assert!(validate_device_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", ".a", "a/b", "a b", "设备"] {
            assert!(validate_device_id(bad).is_err(), "{bad}");
        }
        assert!(validate_device_id(&"a".repeat(128)).is_ok());
        assert!(validate_device_id(&"a".repeat(129)).is_err());
    }

    #[test]
    fn tenants_and_users() {
        assert!(validate_tenant_id("acme-east").is_ok());
        assert!(validate_tenant_id("Acme").is_err());
        assert!(validate_username("ops.lead@acme").is_ok());
        assert!(validate_username("a b").is_err());
        let e = validate_username("").unwrap_err();
        assert_eq!(e.what, "username");
    }
}
