use kaiwu_core::ErrorKind;

/// Storage engine failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The write-ahead log failed; the write was not acknowledged.
    #[error("write-ahead log: {0}")]
    Wal(#[from] kaiwu_wal::Error),
    /// Arrow encoding or decoding failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// Parquet encoding or decoding failed.
    #[error("parquet {path}: {source}")]
    Parquet {
        /// File concerned.
        path: String,
        /// Cause.
        source: parquet::errors::ParquetError,
    },
    /// File system failure.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// Path concerned.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A WAL record that does not decode (written by an incompatible build).
    #[error("undecodable wal record: {0}")]
    Codec(String),
    /// The engine is shutting down.
    #[error("storage engine is shutting down")]
    Closed,
}

/// Result with the engine error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The shared error class.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }

    pub(crate) fn io(op: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.display().to_string(),
            source,
        }
    }
}
