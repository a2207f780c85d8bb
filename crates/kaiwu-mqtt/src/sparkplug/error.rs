use kaiwu_core::ErrorKind;

use super::DataType;

/// Result with [`SparkplugError`].
pub type Result<T, E = SparkplugError> = std::result::Result<T, E>;

/// What went wrong decoding, interpreting or building a Sparkplug B message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SparkplugError {
    /// The bytes are not a Sparkplug B protobuf payload.
    #[error("malformed sparkplug payload: {0}")]
    Decode(#[from] prost::DecodeError),
    /// More metrics than one payload may carry (counting template members).
    #[error("sparkplug payload has more than {limit} metrics")]
    TooManyMetrics {
        /// The limit.
        limit: usize,
    },
    /// A topic outside the Sparkplug B namespace grammar.
    #[error("invalid sparkplug topic {topic:?}: {reason}")]
    Topic {
        /// The topic, shortened.
        topic: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A datatype number outside the Sparkplug 3.0 enumeration.
    #[error("unknown sparkplug datatype {0}")]
    UnknownDataType(u32),
    /// The value field does not match the declared datatype.
    #[error("{datatype} metric carries a {found}")]
    ValueMismatch {
        /// The declared type.
        datatype: DataType,
        /// The value field present.
        found: &'static str,
    },
    /// Neither a value nor `is_null`.
    #[error("{0} metric has no value and is not marked null")]
    MissingValue(DataType),
    /// An integer outside the declared type's range, or outside i64.
    #[error("value {value} is out of range for {datatype}")]
    OutOfRange {
        /// The declared type.
        datatype: DataType,
        /// The raw value.
        value: String,
    },
    /// A datatype without a Kaiwu value mapping (Bytes, File, PropertySet ...).
    #[error("{0} metrics are not supported")]
    Unsupported(DataType),
    /// A packed array whose bytes do not divide into elements, or a bad StringArray.
    #[error("malformed {datatype} of {len} bytes: {reason}")]
    BadArray {
        /// The array type.
        datatype: DataType,
        /// Its length in bytes.
        len: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A metric failed to convert; wraps the cause with the metric's name.
    #[error("metric {name:?}: {source}")]
    Metric {
        /// The metric's name (resolved from its alias when needed).
        name: String,
        /// The cause.
        source: Box<SparkplugError>,
    },
    /// An NBIRTH or NDEATH without an integer `bdSeq` metric.
    #[error("{0} has no integer bdSeq metric")]
    MissingBdSeq(&'static str),
    /// A birth metric without a name, or a data metric with neither name nor alias.
    #[error("{message} metric #{index} has no {missing}")]
    UnnamedMetric {
        /// The message type, e.g. `DBIRTH`.
        message: &'static str,
        /// Position in the payload.
        index: usize,
        /// `name`, or `name or alias` where an alias would have done.
        missing: &'static str,
    },
    /// Two metrics of one birth claim the same alias.
    #[error("alias {alias} is used by both {first:?} and {second:?}")]
    DuplicateAlias {
        /// The alias.
        alias: u64,
        /// The metric that claimed it first.
        first: String,
        /// The one that claimed it again.
        second: String,
    },
    /// An edge node announced more devices than a session tracks.
    #[error("edge node has more than {limit} devices")]
    TooManyDevices {
        /// The limit.
        limit: usize,
    },
    /// A command for a metric the node's or device's birth did not declare.
    #[error("metric {0:?} is not in the birth certificate")]
    UnknownMetric(String),
    /// A value that cannot be written as the metric's datatype.
    #[error("cannot write {value} as {datatype}")]
    NotRepresentable {
        /// The target type.
        datatype: DataType,
        /// The value, shortened.
        value: String,
    },
    /// A STATE message that is not `{"online":bool,"timestamp":ms}`.
    #[error("invalid STATE payload: {0}")]
    BadState(String),
}

impl SparkplugError {
    /// The coarse class, for MQTT reason codes and logs.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SparkplugError::Decode(_) | SparkplugError::BadState(_) => ErrorKind::BadRequest,
            SparkplugError::TooManyMetrics { .. } | SparkplugError::TooManyDevices { .. } => {
                ErrorKind::TooLarge
            }
            SparkplugError::UnknownMetric(_) => ErrorKind::NotFound,
            SparkplugError::Metric { source, .. } => source.kind(),
            _ => ErrorKind::Invalid,
        }
    }
}
