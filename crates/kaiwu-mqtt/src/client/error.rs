//! Client errors.

use std::time::Duration;

use crate::codec::{DecodeError, EncodeError, ReasonCode};

/// Failures of [`Client`](super::Client) operations and reasons a connection ended.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The TCP connection could not be opened.
    #[error("mqtt connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    /// TCP connect plus CONNECT/CONNACK took longer than the connect timeout.
    #[error("mqtt connect to {addr} timed out after {after:?}")]
    Timeout { addr: String, after: Duration },
    /// The server answered CONNECT with a failure code. 3.1.1 return codes arrive as their
    /// reason code equivalents (4 = `BadUserNameOrPassword`, 5 = `NotAuthorized`, ...); the
    /// text is the MQTT 5 reason string, if the server sent one.
    #[error("mqtt server refused the connection: {0:?} {1}")]
    Refused(ReasonCode, String),
    /// The server acknowledged a publish or unsubscribe with a failure code (MQTT 5 only).
    #[error("mqtt server rejected the request: {code:?} {reason}")]
    Rejected { code: ReasonCode, reason: String },
    /// The connection is closed (lost, or ended by [`Client::disconnect`](super::Client::disconnect)).
    /// [`Client::close_reason`](super::Client::close_reason) says why.
    #[error("mqtt connection is closed")]
    Disconnected,
    #[error("mqtt connection i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The server sent bytes that are not a valid packet (or a packet above the maximum size).
    #[error("mqtt server sent an invalid packet: {0}")]
    Decode(#[from] DecodeError),
    /// A packet could not be encoded (field too long, invalid characters).
    #[error("cannot encode mqtt packet: {0}")]
    Encode(#[from] EncodeError),
    /// The server sent a packet it must not send here.
    #[error("mqtt protocol error: {0}")]
    Protocol(String),
    /// The server closed the connection with an MQTT 5 DISCONNECT.
    #[error("mqtt server disconnected: {0:?} {1}")]
    ServerDisconnect(ReasonCode, String),
    /// No PINGRESP arrived within a keep-alive interval after PINGREQ.
    #[error("mqtt server did not answer PINGREQ within {0:?}")]
    KeepAliveTimeout(Duration),
    /// The packet exceeds the Maximum Packet Size the server announced.
    #[error("mqtt packet of {size} bytes exceeds the server's maximum packet size {max}")]
    TooLarge { size: usize, max: usize },
    #[error("invalid mqtt topic name {0:?}")]
    InvalidTopic(String),
    #[error("invalid mqtt topic filter {0:?}")]
    InvalidFilter(String),
    #[error("invalid mqtt client request: {0}")]
    InvalidArgument(&'static str),
    /// Every packet identifier is taken by a request in flight.
    #[error("all mqtt packet identifiers are in use")]
    NoPacketId,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
