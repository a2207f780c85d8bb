use kaiwu_core::ErrorKind;

/// Connector failures seen by callers of the supervisor (API, node).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration does not hold; each entry names its field.
    #[error("invalid connector configuration: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<crate::ConfigError>),
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] kaiwu_registry::Error),
    /// No running connector of that id.
    #[error("connector `{0}` is not running")]
    NotRunning(String),
    /// The operation does not apply to this kind of connector.
    #[error("{0}")]
    Unsupported(String),
    /// A write to a device was refused before it was sent (bad value, read-only point).
    #[error("{0}")]
    Refused(String),
    /// The device could not be reached or refused the request.
    #[error("{0}")]
    Device(String),
}

/// Result with the connector error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The shared error class.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Invalid(_) | Error::Refused(_) => ErrorKind::Invalid,
            Error::Registry(e) => e.kind(),
            Error::NotRunning(_) | Error::Unsupported(_) => ErrorKind::Conflict,
            Error::Device(_) => ErrorKind::Internal,
        }
    }
}
