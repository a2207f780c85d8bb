//! Broker errors.

use std::path::PathBuf;

/// Failures of [`Broker`](super::Broker) operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is out of range.
    #[error("invalid mqtt broker config: {0}")]
    Config(String),
    /// The state directory could not be created.
    #[error("mqtt state dir `{}`: {source}", path.display())]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The SQLite state store failed.
    #[error("mqtt state store {op}: {source}")]
    Store {
        op: &'static str,
        source: rusqlite::Error,
    },
    /// The state store holds data this build does not understand.
    #[error("mqtt state store: {0}")]
    Corrupt(String),
    /// The store's writer thread stopped (the broker is shut down).
    #[error("mqtt state store is closed")]
    StoreClosed,
    /// A topic name that MQTT does not allow (empty, wildcards, too long).
    #[error("invalid mqtt topic name {0:?}")]
    InvalidTopic(String),
    /// The broker is shutting down.
    #[error("mqtt broker is shutting down")]
    ShuttingDown,
}

/// Why [`Broker::deliver`](super::Broker::deliver) did not hand a message over.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// No live connection with that client id, and no persistent session to queue a
    /// QoS 1/2 message in.
    #[error("mqtt client {0:?} is not connected")]
    Offline(String),
    /// The client has no subscription matching the topic.
    #[error("mqtt client {client_id:?} is not subscribed to {topic:?}")]
    NotSubscribed { client_id: String, topic: String },
    /// The client's queue is full (it is not reading); the message was dropped.
    #[error("mqtt client {0:?} has a full queue")]
    QueueFull(String),
    /// The topic name is not valid.
    #[error("invalid mqtt topic name {0:?}")]
    InvalidTopic(String),
    /// Persisting the queued message failed.
    #[error(transparent)]
    Broker(#[from] Error),
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;
