//! `opcua` configuration.

use serde::Deserialize;

use crate::bridge::Credentials;
use crate::config::{Carries, ConfigError, PointRef};

/// Message security (Basic256Sha256 for Sign and SignAndEncrypt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum SecurityName {
    /// No signing or encryption.
    #[default]
    None,
    /// Signed messages.
    Sign,
    /// Signed and encrypted messages.
    SignAndEncrypt,
}

/// How a node is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A monitored item of a subscription: the server reports changes.
    #[default]
    Subscribe,
    /// Read every `poll_ms`.
    Poll,
}

/// An OPC UA connector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpcuaConfig {
    #[allow(dead_code)]
    id: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    #[allow(dead_code)]
    enabled: Option<bool>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// `opc.tcp://host:port/path`.
    pub endpoint: String,
    /// Message security.
    #[serde(default)]
    pub security: SecurityName,
    /// User name and password; anonymous without.
    #[serde(default)]
    pub credentials: Option<Credentials>,
    /// Trust the server's certificate on first contact (otherwise it lands in the data dir's
    /// `pki/rejected/` until an operator moves it to `trusted/`).
    #[serde(default)]
    pub trust_server: bool,
    /// Publishing interval of the subscription, ms.
    #[serde(default = "d_publishing")]
    pub publishing_ms: u64,
    /// Interval of `poll` nodes, ms.
    #[serde(default = "d_poll")]
    pub poll_ms: u64,
    /// Connect and request timeout, ms.
    #[serde(default = "d_timeout")]
    pub timeout_ms: u64,
    /// Mapped nodes.
    pub nodes: Vec<OpcuaNode>,
    /// Commands of devices that are OPC UA method calls.
    #[serde(default)]
    pub methods: Vec<OpcuaMethod>,
}

/// One node mapped to a device property.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpcuaNode {
    /// Device id.
    pub device: String,
    /// Property of the device's type.
    pub property: String,
    /// Node id, e.g. `ns=2;s=Line1.Speed`.
    pub node_id: String,
    /// Subscribe (default) or poll.
    #[serde(default)]
    pub mode: Mode,
    /// Sampling interval of a subscribed node, ms (default: the publishing interval).
    #[serde(default)]
    pub sampling_ms: Option<f64>,
    /// Absolute deadband of a subscribed node.
    #[serde(default)]
    pub deadband: Option<f64>,
    /// Commands and desired values for this property are written to the node.
    #[serde(default)]
    pub write: bool,
}

/// A device command carried out as an OPC UA method call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpcuaMethod {
    /// Device id.
    pub device: String,
    /// Command id (as in `POST /api/devices/{id}/commands/{command}`).
    pub command: String,
    /// Node id of the object the method belongs to.
    pub object_id: String,
    /// Node id of the method.
    pub method_id: String,
}

fn d_publishing() -> u64 {
    500
}
fn d_poll() -> u64 {
    1000
}
fn d_timeout() -> u64 {
    5000
}

impl OpcuaConfig {
    pub(crate) fn check(&self) -> Vec<ConfigError> {
        let mut e = Vec::new();
        let rest = self.endpoint.strip_prefix("opc.tcp://");
        if rest.is_none_or(|r| r.is_empty()) {
            e.push(ConfigError::new(
                "endpoint",
                "must be opc.tcp://host:port[/path]",
            ));
        }
        for (field, v, lo, hi) in [
            ("publishing_ms", self.publishing_ms, 10, 3_600_000),
            ("poll_ms", self.poll_ms, 10, 86_400_000),
            ("timeout_ms", self.timeout_ms, 100, 120_000),
        ] {
            if !(lo..=hi).contains(&v) {
                e.push(ConfigError::new(field, format!("must be {lo}..={hi}")));
            }
        }
        if self.nodes.is_empty() {
            e.push(ConfigError::new("nodes", "at least one node is needed"));
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if let Err(err) = kaiwu_opcua::parse_node_id(&n.node_id) {
                e.push(ConfigError::new(
                    format!("nodes[{i}].node_id"),
                    err.to_string(),
                ));
            }
            if n.sampling_ms.is_some_and(|s| !s.is_finite() || s < 0.0) {
                e.push(ConfigError::new(
                    format!("nodes[{i}].sampling_ms"),
                    "must be a number >= 0",
                ));
            }
            if n.deadband.is_some_and(|d| !d.is_finite() || d < 0.0) {
                e.push(ConfigError::new(
                    format!("nodes[{i}].deadband"),
                    "must be a number >= 0",
                ));
            }
        }
        for (i, m) in self.methods.iter().enumerate() {
            for (f, id) in [("object_id", &m.object_id), ("method_id", &m.method_id)] {
                if let Err(err) = kaiwu_opcua::parse_node_id(id) {
                    e.push(ConfigError::new(
                        format!("methods[{i}].{f}"),
                        err.to_string(),
                    ));
                }
            }
        }
        e
    }

    pub(crate) fn point_refs(&self) -> impl Iterator<Item = PointRef<'_>> {
        self.nodes.iter().enumerate().map(|(i, n)| PointRef {
            path: format!("nodes[{i}]"),
            device: &n.device,
            property: &n.property,
            carries: Carries::Any,
            write: n.write,
        })
    }
}
