//! What the HTTP layer needs from device connectivity (the MQTT broker and, later, the
//! southbound drivers): presence, pushing desired attributes, and commands. The node implements
//! it; without one every device is offline.

use std::time::Duration;

use serde_json::{Map, Value};

/// Whether a device is connected, and when it was last heard from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Presence {
    /// Connected now.
    pub online: bool,
    /// Epoch ms of its last message (0: never since the node started).
    pub last_seen: i64,
}

/// Why a command got no result.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The device is not connected (HTTP 409).
    #[error("device {0} is offline")]
    Offline(String),
    /// No answer in time (HTTP 504).
    #[error("device {device} did not answer within {ms} ms")]
    Timeout {
        /// The device.
        device: String,
        /// The timeout.
        ms: u64,
    },
    /// The device or the transport failed (HTTP 502).
    #[error("{0}")]
    Failed(String),
    /// The command cannot be expressed for this device (HTTP 422), e.g. an unknown metric.
    #[error("{0}")]
    Invalid(String),
}

/// Device connectivity, implemented by the node.
#[async_trait::async_trait]
pub trait DeviceLink: Send + Sync + 'static {
    /// Presence of one device.
    fn presence(&self, tenant: &str, device: &str) -> Presence;
    /// Send changed desired attributes to the device if it is connected (best effort: the
    /// shadow keeps them, and the device may read them on its own).
    async fn push_attributes(&self, tenant: &str, device: &str, changed: &Map<String, Value>);
    /// Run a command on the device and wait for its result.
    async fn command(
        &self,
        tenant: &str,
        device: &str,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CommandError>;
}

/// No connectivity: every device is offline.
#[derive(Debug, Default)]
pub(crate) struct NoLink;

#[async_trait::async_trait]
impl DeviceLink for NoLink {
    fn presence(&self, _: &str, _: &str) -> Presence {
        Presence::default()
    }

    async fn push_attributes(&self, _: &str, _: &str, _: &Map<String, Value>) {}

    async fn command(
        &self,
        _: &str,
        device: &str,
        _: &str,
        _: Value,
        _: Duration,
    ) -> Result<Value, CommandError> {
        Err(CommandError::Offline(device.to_owned()))
    }
}
