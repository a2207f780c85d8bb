use kaiwu_core::ErrorKind;

/// Registry failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such object in the caller's tenant.
    #[error("{what} `{id}` not found")]
    NotFound {
        /// Kind of object.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The change conflicts with existing state.
    #[error("{0}")]
    Conflict(String),
    /// The input breaks a registry rule.
    #[error("{0}")]
    Invalid(String),
    /// The thing model is invalid.
    #[error(transparent)]
    Model(#[from] kaiwu_model::Error),
    /// An identifier with bad syntax.
    #[error(transparent)]
    Id(#[from] kaiwu_core::IdError),
    /// The database failed.
    #[error("registry database: {0}")]
    Db(#[from] rusqlite::Error),
    /// A stored document could not be read back.
    #[error("registry holds a corrupt {what} `{id}`: {reason}")]
    Corrupt {
        /// Kind of object.
        what: &'static str,
        /// Its id.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// Opening the database file failed.
    #[error("cannot open registry at {path}: {reason}")]
    Open {
        /// Database path.
        path: String,
        /// Cause.
        reason: String,
    },
}

/// Result with the registry error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The shared error class.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Invalid(_) | Error::Id(_) => ErrorKind::Invalid,
            Error::Model(e) => e.kind(),
            Error::Db(_) | Error::Corrupt { .. } | Error::Open { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn not_found(what: &'static str, id: &str) -> Self {
        Error::NotFound {
            what,
            id: id.chars().take(140).collect(),
        }
    }
}

/// Whether a database error is a UNIQUE or PRIMARY KEY violation.
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}
