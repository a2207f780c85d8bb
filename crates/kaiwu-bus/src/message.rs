use serde::{Deserialize, Serialize};

/// One message on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Dot-separated subject, e.g. `kaiwu.default.registry.device`.
    pub subject: String,
    /// What happened.
    pub payload: Payload,
}

/// Message bodies. New kinds (telemetry batches, alarms, commands) are added as variants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Payload {
    /// A registry object changed.
    Registry(RegistryEvent),
}

/// A change to a registry object, published after the change is committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryEvent {
    /// Tenant the object belongs to (for tenants: the tenant itself).
    pub tenant: String,
    /// What kind of object.
    pub object: ObjectKind,
    /// Its id within the tenant (username for users).
    pub id: String,
    /// Created, updated or deleted.
    pub op: Op,
    /// New version, for versioned objects (device types).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
}

impl RegistryEvent {
    /// The subject this event is published on: `kaiwu.<tenant>.registry.<object>`.
    pub fn subject(&self) -> String {
        format!("kaiwu.{}.registry.{}", self.tenant, self.object.as_str())
    }

    /// Wrap into a message on its subject.
    pub fn into_message(self) -> Message {
        Message {
            subject: self.subject(),
            payload: Payload::Registry(self),
        }
    }
}

/// Kinds of registry objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A tenant.
    Tenant,
    /// A user.
    User,
    /// An API key.
    ApiKey,
    /// A device type (thing model).
    DeviceType,
    /// A device.
    Device,
    /// A device credential (access token, certificate).
    Credential,
    /// An ISA-95 asset.
    Asset,
    /// A southbound connector.
    Connector,
}

impl ObjectKind {
    /// Subject token.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Tenant => "tenant",
            ObjectKind::User => "user",
            ObjectKind::ApiKey => "api_key",
            ObjectKind::DeviceType => "device_type",
            ObjectKind::Device => "device",
            ObjectKind::Credential => "credential",
            ObjectKind::Asset => "asset",
            ObjectKind::Connector => "connector",
        }
    }
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Newly created.
    Created,
    /// Changed.
    Updated,
    /// Removed.
    Deleted,
}
