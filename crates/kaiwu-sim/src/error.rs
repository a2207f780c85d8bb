//! Errors of the simulated plant.

use std::net::SocketAddr;

/// What can fail while starting or running the simulated plant.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A listening socket could not be bound.
    #[error("bind {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// A socket's local address could not be read back.
    #[error("local address of {what}: {source}")]
    LocalAddr {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A value could not be encoded into or decoded from registers.
    #[error("modbus point {device}.{property}: {message}")]
    Register {
        device: &'static str,
        property: &'static str,
        message: String,
    },
    /// The OPC UA simulator server failed.
    #[error("opc ua server: {0}")]
    Opcua(String),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
