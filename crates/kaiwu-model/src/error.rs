use std::fmt;

use kaiwu_core::ErrorKind;
use serde::{Deserialize, Serialize};

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One broken validation rule.
///
/// `path` locates the offending value in the native JSON document: object keys joined by `.`,
/// array indices in brackets, no leading `$` (`properties[2].max`, `events[0].fields[1].id`,
/// `properties[1].values.7`). The document itself is `$`. Parse errors use the same format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Violation {
    /// Where, e.g. `properties[2].max`.
    pub path: String,
    /// What is wrong, naming the offending input.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Errors of the thing model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The bytes are not JSON (syntax error, truncated input, trailing data).
    #[error("malformed json at line {line} column {column}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the JSON parser found.
        message: String,
    },
    /// Well-formed JSON of the wrong shape: wrong type, unknown field, missing field.
    #[error("invalid device type at {path}: {message}")]
    Parse {
        /// Where, in the format of [`Violation::path`].
        path: String,
        /// What serde found there.
        message: String,
    },
    /// The model breaks validation rules; holds every violation, not just the first.
    #[error("invalid device type: {}", summary(.0))]
    Invalid(Vec<Violation>),
    /// A telemetry (or parameter) value does not have the declared type.
    #[error("{reason}")]
    Value {
        /// The property (or field) id.
        property: String,
        /// Why, naming the property, the expected type and what arrived.
        reason: String,
    },
    /// A WoT Thing Description that cannot be imported; the message names the TD path.
    #[error("cannot import thing description: {path}: {message}")]
    Wot {
        /// TD path of the offending member, e.g. `properties.temp.type`.
        path: String,
        /// What is wrong with it.
        message: String,
    },
}

impl Error {
    /// Coarse kind for the edge: only JSON syntax errors are bad requests, everything that parsed
    /// but does not fit the model fails validation (HTTP 422).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Syntax { .. } => ErrorKind::BadRequest,
            Error::Parse { .. } | Error::Invalid(_) | Error::Value { .. } | Error::Wot { .. } => {
                ErrorKind::Invalid
            }
        }
    }

    /// The violations of an [`Error::Invalid`], or a single one describing a parse error;
    /// empty for other errors. Handy for a problem+json body.
    pub fn violations(&self) -> Vec<Violation> {
        match self {
            Error::Invalid(v) => v.clone(),
            Error::Parse { path, message } | Error::Wot { path, message } => vec![Violation {
                path: path.clone(),
                message: message.clone(),
            }],
            _ => Vec::new(),
        }
    }

    pub(crate) fn from_json(e: serde_path_to_error::Error<serde_json::Error>) -> Self {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let (line, column) = (inner.line(), inner.column());
        let message = inner.to_string();
        // serde_json appends the position; the path (or the explicit fields) already say where.
        let message = message
            .strip_suffix(&format!(" at line {line} column {column}"))
            .map(str::to_owned)
            .unwrap_or(message);
        match inner.classify() {
            serde_json::error::Category::Data => Error::Parse {
                path: if path == "." { "$".to_owned() } else { path },
                message,
            },
            _ => Error::Syntax {
                line,
                column,
                message,
            },
        }
    }
}

/// Display of many violations stays readable in a log line.
fn summary(v: &[Violation]) -> String {
    const SHOWN: usize = 10;
    let mut s = v
        .iter()
        .take(SHOWN)
        .map(Violation::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if v.len() > SHOWN {
        s.push_str(&format!("; and {} more", v.len() - SHOWN));
    }
    s
}
