//! Southbound connectors (interfaces.md section 6): Modbus TCP and RTU over TCP, OPC UA, and a
//! bridge from external MQTT brokers. Configurations live in the registry; the [`Connectors`]
//! supervisor runs each enabled one as its own task, restarts it when its configuration
//! changes, and routes writes (commands, desired values) to the connector that owns a device.
//!
//! Every driver reconnects on its own, forever, with exponential backoff; while a device cannot
//! be read its mapped properties are recorded once with quality `bad`, and the next good read
//! records fresh values stamped with their own read (or source) time.

mod bridge;
mod config;
mod ctx;
mod error;
mod manager;
mod modbus;
mod opcua;
mod status;
#[cfg(test)]
mod tests;

pub use bridge::{BridgeConfig, Credentials, Mapping};
pub use config::{
    ConfigError, ConnectorConfig, Kind, SECRET_FIELDS, Spec, keep_secrets, parse, redact, validate,
};
pub use error::{Error, Result};
pub use manager::{Connectors, WRITE_COMMAND};
pub use modbus::{AreaName, EncodingName, ModbusConfig, ModbusPoint};
pub use opcua::{Mode, OpcuaConfig, OpcuaMethod, OpcuaNode, SecurityName};
pub use status::{State, StatusDoc};
