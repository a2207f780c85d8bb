use kaiwu_core::ErrorKind;

/// Result with [`PayloadError`].
pub type Result<T, E = PayloadError> = std::result::Result<T, E>;

/// Why a ThingsBoard-style JSON payload was rejected.
///
/// `path` locates the offending element in the payload, in the thing model's format: `$` is the
/// whole payload, object keys are joined by `.`, array indices are in brackets, and keys that
/// would be ambiguous (spaces, dots, brackets) are quoted: `[2].values`, `["Device A"][0].ts`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The bytes are not JSON (syntax error, bad UTF-8, truncated, nested deeper than 128).
    #[error("payload is not valid json: {0}")]
    NotJson(String),
    /// An element has the wrong JSON type.
    #[error("at {path}: expected {expected}, found {found}")]
    WrongType {
        /// Where.
        path: String,
        /// What the format requires there.
        expected: &'static str,
        /// The JSON type that arrived.
        found: &'static str,
    },
    /// A required field is absent.
    #[error("at {path}: missing field `{field}`")]
    MissingField {
        /// The object lacking the field.
        path: String,
        /// The field name.
        field: &'static str,
    },
    /// A `{"ts":..,"values":{..}}` row with a field other than `ts` and `values`.
    #[error("at {path}: unexpected field `{field}` next to `ts` and `values`")]
    UnexpectedField {
        /// The row.
        path: String,
        /// The extra field.
        field: String,
    },
    /// `ts` is not a non-negative integer number of epoch milliseconds.
    #[error("at {path}: ts must be a non-negative integer of epoch milliseconds, found {found}")]
    BadTimestamp {
        /// Where the `ts` is.
        path: String,
        /// The offending value, shortened.
        found: String,
    },
    /// An object or array that must hold something is empty.
    #[error("at {path}: no {what}")]
    Empty {
        /// Where.
        path: String,
        /// What was expected, e.g. `telemetry values`.
        what: &'static str,
    },
    /// An array directly inside the top-level telemetry array.
    #[error("at {path}: nested arrays are not allowed; each element must be an object")]
    NestedArray {
        /// The inner array.
        path: String,
    },
    /// A telemetry or attribute value is `null`.
    #[error("at {path}: null is not a valid value")]
    NullValue {
        /// The key holding the null.
        path: String,
    },
    /// A key (or device name, method name) that is empty or too long.
    #[error("at {path}: {reason}")]
    BadName {
        /// Where.
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// More rows, keys or devices than one payload may carry.
    #[error("at {path}: more than {limit} {what}")]
    TooMany {
        /// Where.
        path: String,
        /// What was counted.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
}

impl PayloadError {
    /// The coarse class, for MQTT reason codes and logs.
    pub fn kind(&self) -> ErrorKind {
        match self {
            PayloadError::NotJson(_) => ErrorKind::BadRequest,
            PayloadError::TooMany { .. } => ErrorKind::TooLarge,
            _ => ErrorKind::Invalid,
        }
    }
}
