/// Authentication failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bearer token that is malformed, badly signed or expired. Deliberately vague to callers.
    #[error("invalid or expired token: {0}")]
    InvalidToken(&'static str),
    /// A password that does not meet the policy.
    #[error("password rejected: {0}")]
    WeakPassword(&'static str),
    /// Hashing failed (parameters or a corrupt stored hash).
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// A certificate signing request that cannot be signed.
    #[error("certificate signing request: {0}")]
    Csr(String),
    /// The device certificate authority's files could not be read or written.
    #[error("device CA {path}: {reason}")]
    Ca {
        /// File or directory.
        path: String,
        /// Cause.
        reason: String,
    },
    /// Reading or writing the signing key failed.
    #[error("signing key {path}: {source}")]
    Key {
        /// Key file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// Result with the auth error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The shared error class.
    pub fn kind(&self) -> kaiwu_core::ErrorKind {
        use kaiwu_core::ErrorKind;
        match self {
            Error::InvalidToken(_) => ErrorKind::Unauthorized,
            Error::WeakPassword(_) | Error::Csr(_) => ErrorKind::Invalid,
            Error::Hash(_) | Error::Key { .. } | Error::Ca { .. } => ErrorKind::Internal,
        }
    }
}
