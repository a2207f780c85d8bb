use datafusion::error::DataFusionError;
use kaiwu_core::ErrorKind;

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a query or history request failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SQL does not parse, names an unknown table or column, or is not a plain query.
    #[error("sql: {0}")]
    Sql(String),
    /// The device does not exist in the caller's tenant.
    #[error("not found: {0}")]
    NotFound(String),
    /// The query ran longer than `QueryLimits::timeout`.
    #[error(
        "query exceeded the time limit of {secs} s and was cancelled; narrow the time range, \
         add filters or aggregate"
    )]
    Timeout {
        /// The limit, in seconds.
        secs: f64,
    },
    /// The query needed more memory than `QueryLimits::memory_bytes`.
    #[error("{0}")]
    ResourcesExhausted(String),
    /// The result has more rows than may be returned as JSON.
    #[error(
        "the result has more than {limit} rows, the most returned as JSON; add a LIMIT, \
         aggregate, or ask for CSV"
    )]
    TooManyRows {
        /// The row limit.
        limit: usize,
    },
    /// A well-formed request with invalid content (bad parameter, failing expression).
    #[error("invalid: {0}")]
    Invalid(String),
    /// A failure on our side (storage, catalog, runtime).
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    /// The coarse class the edge maps to a status code. `Timeout` is `Invalid` (422): the
    /// request is well-formed but asks for more work than allowed, and there is no "busy"
    /// kind; its message names the limit.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Sql(_) | Error::Invalid(_) | Error::Timeout { .. } => ErrorKind::Invalid,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::ResourcesExhausted(_) | Error::TooManyRows { .. } => ErrorKind::TooLarge,
            Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// Classifies a DataFusion error; `memory_bytes` is named in memory errors.
    pub(crate) fn from_datafusion(e: DataFusionError, memory_bytes: usize) -> Error {
        if let Some(ours) = find_ours(&e) {
            return ours;
        }
        let root = e.find_root();
        let msg = root.strip_backtrace();
        match root {
            DataFusionError::ResourcesExhausted(_) => Error::ResourcesExhausted(format!(
                "query exceeded the memory limit of {}: {msg}",
                human_bytes(memory_bytes)
            )),
            DataFusionError::SQL(..)
            | DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_)
            | DataFusionError::Configuration(_) => Error::Sql(msg),
            // Casts, division by zero, bad function arguments: caused by the query text.
            DataFusionError::Execution(_) => Error::Invalid(msg),
            DataFusionError::ArrowError(a, _) if !is_io(a) => Error::Invalid(msg),
            _ => Error::Internal(msg),
        }
    }
}

impl Error {
    /// A copy (the error is not `Clone` only because nothing else needs it).
    fn duplicate(&self) -> Error {
        match self {
            Error::Sql(m) => Error::Sql(m.clone()),
            Error::NotFound(m) => Error::NotFound(m.clone()),
            Error::Timeout { secs } => Error::Timeout { secs: *secs },
            Error::ResourcesExhausted(m) => Error::ResourcesExhausted(m.clone()),
            Error::TooManyRows { limit } => Error::TooManyRows { limit: *limit },
            Error::Invalid(m) => Error::Invalid(m.clone()),
            Error::Internal(m) => Error::Internal(m.clone()),
        }
    }
}

/// Our own error carried through DataFusion (a catalog failure inside a scan).
fn find_ours(e: &DataFusionError) -> Option<Error> {
    let mut cur: &dyn std::error::Error = e;
    loop {
        if let Some(ours) = cur.downcast_ref::<Error>() {
            return Some(ours.duplicate());
        }
        cur = cur.source()?;
    }
}

fn is_io(a: &datafusion::arrow::error::ArrowError) -> bool {
    use datafusion::arrow::error::ArrowError as A;
    matches!(a, A::IoError(..) | A::ExternalError(_))
}

/// `512 MiB`-style rendering of a byte count.
pub(crate) fn human_bytes(n: usize) -> String {
    const MIB: usize = 1 << 20;
    const KIB: usize = 1 << 10;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

/// For returning our errors from inside DataFusion callbacks.
pub(crate) fn to_df(e: Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}
