//! Errors of the codec, client and server.

use std::time::Duration;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong talking Modbus.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The connection failed or was closed; reconnect.
    #[error("modbus connection: {0}")]
    Io(#[from] std::io::Error),
    /// No complete answer within the configured time.
    #[error("modbus request timed out after {0:?}")]
    Timeout(Duration),
    /// The peer answered with a Modbus exception response, or (when decoding a request) the
    /// request must be answered with this exception.
    #[error("modbus exception {code:#04x} ({}) for function {function:#04x}", exception_name(*.code))]
    Exception { function: u8, code: u8 },
    /// Malformed or mismatched frame (length, CRC, transaction id, unit, function, byte count).
    #[error("modbus protocol error: {0}")]
    Protocol(String),
    /// Bad argument from the caller (count out of range, value does not fit, ...).
    #[error("invalid modbus argument: {0}")]
    Invalid(String),
}

impl Error {
    /// True when the connection is unusable (I/O error, timeout with an answer possibly still
    /// in flight, or a stream that lost frame sync): the caller should drop it and reconnect.
    pub fn is_connection(&self) -> bool {
        matches!(self, Error::Io(_) | Error::Timeout(_) | Error::Protocol(_))
    }

    pub(crate) fn protocol(msg: impl Into<String>) -> Error {
        Error::Protocol(msg.into())
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Error {
        Error::Invalid(msg.into())
    }
}

/// Exception code 01: function code not supported.
pub const ILLEGAL_FUNCTION: u8 = 0x01;
/// Exception code 02: address range outside the device's data.
pub const ILLEGAL_DATA_ADDRESS: u8 = 0x02;
/// Exception code 03: quantity, byte count or value not allowed.
pub const ILLEGAL_DATA_VALUE: u8 = 0x03;
/// Exception code 0B: a gateway got no answer from the target unit.
pub const GATEWAY_TARGET_FAILED: u8 = 0x0B;

/// Name of a Modbus exception code as the specification spells it.
pub fn exception_name(code: u8) -> &'static str {
    match code {
        0x01 => "illegal function",
        0x02 => "illegal data address",
        0x03 => "illegal data value",
        0x04 => "server device failure",
        0x05 => "acknowledge",
        0x06 => "server device busy",
        0x08 => "memory parity error",
        0x0A => "gateway path unavailable",
        0x0B => "gateway target device failed to respond",
        _ => "unknown exception",
    }
}
