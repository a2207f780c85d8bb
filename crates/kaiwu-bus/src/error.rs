/// Bus failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A subject or pattern that is not dot-separated non-empty tokens.
    #[error("invalid subject `{subject}`: {reason}")]
    InvalidSubject {
        /// The offending subject.
        subject: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// The bus has been shut down.
    #[error("bus is closed")]
    Closed,
}

/// Result with the bus error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The shared error class.
    pub fn kind(&self) -> kaiwu_core::ErrorKind {
        match self {
            Error::InvalidSubject { .. } => kaiwu_core::ErrorKind::Invalid,
            Error::Closed => kaiwu_core::ErrorKind::Internal,
        }
    }
}
