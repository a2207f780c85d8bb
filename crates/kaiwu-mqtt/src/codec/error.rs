//! Codec errors. Decode errors carry the MQTT 5 reason code the broker should answer with.

use super::ReasonCode;

/// Why bytes from a peer are not an acceptable packet. After any of these the connection
/// must be closed; the receive buffer is left in an unspecified state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    #[error("remaining length uses more than 4 bytes")]
    RemainingLengthTooLong,
    #[error("packet type {0} is reserved")]
    ReservedPacketType(u8),
    #[error("invalid fixed header flags {flags:#06b} for {packet}")]
    InvalidFlags { packet: &'static str, flags: u8 },
    #[error("{packet} ends inside its {field}")]
    Truncated {
        packet: &'static str,
        field: &'static str,
    },
    #[error("{count} unexpected bytes after the end of {packet}")]
    TrailingBytes { packet: &'static str, count: usize },
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 { field: &'static str },
    #[error("{field} contains the character U+0000")]
    NullCharacter { field: &'static str },
    #[error("property identifier {id:#04x} is not valid in {packet}")]
    InvalidProperty { packet: &'static str, id: u8 },
    #[error("reason code {code:#04x} is not valid in {packet}")]
    InvalidReasonCode { packet: &'static str, code: u8 },
    #[error("protocol error: {0}")]
    ProtocolViolation(&'static str),
    #[error("first packet is {packet}, expected CONNECT")]
    FirstPacketNotConnect { packet: &'static str },
    #[error("second CONNECT on one connection")]
    UnexpectedConnect,
    #[error("{packet} has packet identifier 0")]
    ZeroPacketId { packet: &'static str },
    #[error("property {property} appears more than once")]
    DuplicateProperty { property: &'static str },
    #[error("property {property} has invalid value {value}")]
    InvalidPropertyValue { property: &'static str, value: u32 },
    #[error("unsupported MQTT protocol level {level} (only 4 = 3.1.1 and 5 = 5.0 are supported)")]
    UnsupportedProtocolVersion { level: u8 },
    #[error("protocol name in CONNECT is not \"MQTT\"")]
    UnsupportedProtocolName,
    #[error("invalid topic name: {0}")]
    InvalidTopicName(&'static str),
    #[error("invalid topic filter")]
    InvalidTopicFilter,
    #[error("packet of {size} bytes exceeds the maximum packet size {max}")]
    PacketTooLarge { size: usize, max: usize },
    #[error("more than {max} user properties in one packet")]
    TooManyUserProperties { max: usize },
}

impl DecodeError {
    /// Reason code for the CONNACK or DISCONNECT that reports this error to the peer.
    pub fn reason_code(&self) -> ReasonCode {
        use DecodeError::*;
        match self {
            Malformed(_)
            | RemainingLengthTooLong
            | ReservedPacketType(_)
            | InvalidFlags { .. }
            | Truncated { .. }
            | TrailingBytes { .. }
            | InvalidUtf8 { .. }
            | NullCharacter { .. }
            | InvalidProperty { .. }
            | InvalidReasonCode { .. } => ReasonCode::MalformedPacket,
            ProtocolViolation(_)
            | FirstPacketNotConnect { .. }
            | UnexpectedConnect
            | ZeroPacketId { .. }
            | DuplicateProperty { .. }
            | InvalidPropertyValue { .. } => ReasonCode::ProtocolError,
            UnsupportedProtocolVersion { .. } | UnsupportedProtocolName => {
                ReasonCode::UnsupportedProtocolVersion
            }
            InvalidTopicName(_) => ReasonCode::TopicNameInvalid,
            InvalidTopicFilter => ReasonCode::TopicFilterInvalid,
            PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            TooManyUserProperties { .. } => ReasonCode::QuotaExceeded,
        }
    }
}

/// Why a packet value cannot be put on the wire. Checked before anything is written, so the
/// output buffer is unchanged on error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{field} is {len} bytes, more than the 65535 MQTT allows")]
    FieldTooLong { field: &'static str, len: usize },
    #[error("{field} contains the character U+0000")]
    NullCharacter { field: &'static str },
    #[error("packet body of {size} bytes exceeds the MQTT limit of 268435455")]
    PacketTooLarge { size: usize },
    #[error("invalid topic name for PUBLISH or will")]
    InvalidTopicName,
    #[error("invalid topic filter in {packet}")]
    InvalidTopicFilter { packet: &'static str },
    #[error("{packet} needs a non-zero packet identifier")]
    InvalidPacketId { packet: &'static str },
    #[error("property {property} is not allowed in {packet}")]
    PropertyNotAllowed {
        property: &'static str,
        packet: &'static str,
    },
    #[error("property {property} has a value MQTT does not allow")]
    InvalidPropertyValue { property: &'static str },
    #[error("reason code {code:?} is not allowed in {packet}")]
    ReasonCodeNotAllowed {
        code: ReasonCode,
        packet: &'static str,
    },
    #[error("cannot encode: {0}")]
    Invalid(&'static str),
}
