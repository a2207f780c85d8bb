//! Errors of the OPC UA layer. Messages name the endpoint or node involved.

use std::path::PathBuf;

/// What went wrong talking OPC UA.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A node id string does not follow `[ns=<u16>;]<i|s|g|b>=<value>`.
    #[error("invalid node id {input:?}: {reason}")]
    InvalidNodeId { input: String, reason: String },

    /// The options cannot work (bad endpoint URL, unusable pki dir, ...).
    #[error("invalid opc ua configuration: {0}")]
    Config(String),

    /// The server offers no endpoint with the requested security.
    #[error("no endpoint on {endpoint} offers security {security}")]
    NoMatchingEndpoint { endpoint: String, security: String },

    /// The server certificate is unknown and `trust_server_certs` is off.
    #[error(
        "server certificate of {endpoint} is not trusted: it was stored in {rejected_dir}; \
         move it to the trusted/ folder to accept it"
    )]
    ServerCertRejected {
        endpoint: String,
        rejected_dir: PathBuf,
    },

    /// The server refused the user identity.
    #[error("server {endpoint} rejected identity {identity}: {status}")]
    AuthRejected {
        endpoint: String,
        identity: String,
        status: String,
    },

    /// Connecting (discovery, secure channel or session) failed.
    #[error("connect to {endpoint} failed: {message}")]
    Connect { endpoint: String, message: String },

    /// The operation took longer than the configured timeout.
    #[error("{op} on {endpoint} timed out after {ms} ms")]
    Timeout {
        op: &'static str,
        endpoint: String,
        ms: u128,
    },

    /// The session is gone; drop the client and connect again.
    #[error("not connected to {0}")]
    NotConnected(String),

    /// A service call failed as a whole.
    #[error("{op} failed: {message}")]
    Service { op: &'static str, message: String },

    /// The server answered a node-level operation with a Bad status.
    #[error("{op} of {node} failed: {status}")]
    BadStatus {
        op: &'static str,
        node: String,
        status: String,
        code: u32,
    },

    /// A value cannot be converted to the node's data type.
    #[error("cannot convert {value} to {data_type} for {node}")]
    Conversion {
        node: String,
        value: String,
        data_type: String,
    },

    /// The simulator server does not have this node.
    #[error("unknown node {0}")]
    UnknownNode(String),

    /// The simulator server failed to build or run.
    #[error("opc ua server: {0}")]
    Server(String),

    /// Local file or socket trouble.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
