//! Connector documents (interfaces.md section 6): `{"id","kind","enabled", ...}` with fields
//! per kind. Parsing names the offending field by its JSON path; the model checks then hold
//! every mapped point against the thing model of its device.

use std::collections::{HashMap, HashSet};

use kaiwu_model::{Access, DataType, DeviceType};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::bridge::BridgeConfig;
use crate::modbus::ModbusConfig;
use crate::opcua::OpcuaConfig;

/// One thing wrong with a configuration.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ConfigError {
    /// JSON path of the field, e.g. `points[2].property`.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Connector kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Modbus TCP.
    ModbusTcp,
    /// Modbus RTU framing over a TCP stream (serial servers, gateways).
    ModbusRtu,
    /// OPC UA client.
    Opcua,
    /// Subscriber on an external MQTT broker.
    MqttBridge,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 4] = [
        Kind::ModbusTcp,
        Kind::ModbusRtu,
        Kind::Opcua,
        Kind::MqttBridge,
    ];

    /// The `kind` field's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ModbusTcp => "modbus_tcp",
            Kind::ModbusRtu => "modbus_rtu",
            Kind::Opcua => "opcua",
            Kind::MqttBridge => "mqtt_bridge",
        }
    }
}

/// The kind-specific part.
#[derive(Debug, Clone)]
pub enum Spec {
    /// `modbus_tcp` / `modbus_rtu`.
    Modbus(ModbusConfig),
    /// `opcua`.
    Opcua(OpcuaConfig),
    /// `mqtt_bridge`.
    Bridge(BridgeConfig),
}

/// A parsed connector configuration.
#[derive(Debug, Clone)]
pub struct ConnectorConfig {
    /// Id, unique in the tenant.
    pub id: String,
    /// Kind.
    pub kind: Kind,
    /// Whether it runs.
    pub enabled: bool,
    /// The kind's settings.
    pub spec: Spec,
}

impl ConnectorConfig {
    /// Devices this connector reads or writes (literal ids only; bridge templates resolve at
    /// run time).
    pub fn devices(&self) -> HashSet<String> {
        match &self.spec {
            Spec::Modbus(c) => c.points.iter().map(|p| p.device.clone()).collect(),
            Spec::Opcua(c) => c
                .nodes
                .iter()
                .map(|p| p.device.clone())
                .chain(c.methods.iter().map(|m| m.device.clone()))
                .collect(),
            Spec::Bridge(c) => c
                .mappings
                .iter()
                .filter(|m| !m.device.contains('{'))
                .map(|m| m.device.clone())
                .collect(),
        }
    }
}

/// Parse a document: syntax, field types and the checks that need no thing model.
pub fn parse(doc: &Value) -> Result<ConnectorConfig, Vec<ConfigError>> {
    let obj = doc
        .as_object()
        .ok_or_else(|| vec![ConfigError::new("", "a connector is a JSON object")])?;
    let kind_s = obj
        .get("kind")
        .and_then(Value::as_str)
        .ok_or_else(|| vec![ConfigError::new("kind", "missing or not a string")])?;
    let kind = Kind::ALL
        .into_iter()
        .find(|k| k.as_str() == kind_s)
        .ok_or_else(|| {
            vec![ConfigError::new(
                "kind",
                format!(
                    "unknown kind `{}`; one of modbus_tcp, modbus_rtu, opcua, mqtt_bridge",
                    kind_s.chars().take(64).collect::<String>()
                ),
            )]
        })?;
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| vec![ConfigError::new("id", "missing or not a string")])?
        .to_owned();
    if let Err(e) = kaiwu_core::validate_asset_id(&id) {
        return Err(vec![ConfigError::new("id", e.to_string())]);
    }
    let enabled = match obj.get("enabled") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(vec![ConfigError::new("enabled", "must be true or false")]),
    };
    let spec = match kind {
        Kind::ModbusTcp | Kind::ModbusRtu => Spec::Modbus(typed::<ModbusConfig>(doc)?),
        Kind::Opcua => Spec::Opcua(typed::<OpcuaConfig>(doc)?),
        Kind::MqttBridge => Spec::Bridge(typed::<BridgeConfig>(doc)?),
    };
    let errors = match &spec {
        Spec::Modbus(c) => c.check(),
        Spec::Opcua(c) => c.check(),
        Spec::Bridge(c) => c.check(),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ConnectorConfig {
        id,
        kind,
        enabled,
        spec,
    })
}

fn typed<T: DeserializeOwned>(doc: &Value) -> Result<T, Vec<ConfigError>> {
    serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        vec![ConfigError::new(path, e.into_inner().to_string())]
    })
}

/// What a point can carry, for the compatibility check against its property's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Carries {
    /// A number (registers).
    Number,
    /// A bit (coils, discrete inputs, bit fields).
    Bit,
    /// Whatever the source's type is (OPC UA variants, JSON fields).
    Any,
}

/// One mapped point, as the model check sees it.
pub(crate) struct PointRef<'a> {
    pub(crate) path: String,
    pub(crate) device: &'a str,
    pub(crate) property: &'a str,
    pub(crate) carries: Carries,
    pub(crate) write: bool,
}

/// Check points against the thing models: the device exists, the property exists with a type
/// the point can carry, and writes go only to `read_write` properties. `lookup` answers a
/// device's type (`None`: no such device).
pub(crate) fn check_points<'a>(
    points: impl IntoIterator<Item = PointRef<'a>>,
    lookup: &mut dyn FnMut(&str) -> Option<DeviceType>,
) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut types: HashMap<String, Option<DeviceType>> = HashMap::new();
    let mut seen = HashSet::new();
    for p in points {
        let dt = types
            .entry(p.device.to_owned())
            .or_insert_with(|| lookup(p.device));
        let Some(dt) = dt else {
            errors.push(ConfigError::new(
                format!("{}.device", p.path),
                format!("device `{}` does not exist", p.device),
            ));
            continue;
        };
        let Some(prop) = dt.properties.iter().find(|q| q.id == p.property) else {
            errors.push(ConfigError::new(
                format!("{}.property", p.path),
                format!(
                    "`{}` is not a property of device type {} (device {})",
                    p.property, dt.id, p.device
                ),
            ));
            continue;
        };
        if !seen.insert((p.device, p.property)) {
            errors.push(ConfigError::new(
                format!("{}.property", p.path),
                format!("{}.{} is mapped twice", p.device, p.property),
            ));
        }
        let ok = match (p.carries, prop.r#type) {
            (_, DataType::Json) => false,
            (Carries::Any, _) => true,
            (Carries::Bit, t) => matches!(t, DataType::Bool | DataType::Int | DataType::Enum),
            (Carries::Number, t) => matches!(
                t,
                DataType::Int | DataType::Float | DataType::Enum | DataType::Timestamp
            ),
        };
        if !ok {
            errors.push(ConfigError::new(
                format!("{}.property", p.path),
                format!(
                    "{} is of type {:?}, which this point cannot carry",
                    p.property, prop.r#type
                ),
            ));
        }
        if p.write && prop.access != Access::ReadWrite {
            errors.push(ConfigError::new(
                format!("{}.write", p.path),
                format!(
                    "property `{}` of device type {} is read-only; writes go to read_write properties only",
                    p.property, dt.id
                ),
            ));
        }
    }
    errors
}

/// Parse and check a document against `tenant`'s registry.
pub fn validate(
    reg: &kaiwu_registry::Registry,
    tenant: &str,
    doc: &Value,
) -> Result<ConnectorConfig, Vec<ConfigError>> {
    let cfg = parse(doc)?;
    let mut lookup = |device: &str| -> Option<DeviceType> {
        let d = reg.device(tenant, device).ok()?;
        reg.device_type(tenant, &d.device_type).ok()
    };
    let errors = match &cfg.spec {
        Spec::Modbus(c) => check_points(c.point_refs(), &mut lookup),
        Spec::Opcua(c) => check_points(c.point_refs(), &mut lookup),
        Spec::Bridge(c) => c.check_models(reg, tenant, &mut lookup),
    };
    if errors.is_empty() {
        Ok(cfg)
    } else {
        Err(errors)
    }
}

/// Secret fields of connector documents, blanked when a document is shown.
pub const SECRET_FIELDS: [&str; 1] = ["password"];

/// A copy of `doc` without secrets (`credentials.password` becomes `null`).
pub fn redact(doc: &Value) -> Value {
    let mut d = doc.clone();
    if let Some(c) = d.get_mut("credentials").and_then(Value::as_object_mut) {
        for f in SECRET_FIELDS {
            if c.contains_key(f) {
                c.insert(f.into(), Value::Null);
            }
        }
    }
    d
}

/// On update, a document that leaves `credentials.password` out (or null) keeps the stored one,
/// so a client can send back what it read.
pub fn keep_secrets(new: &mut Value, old: &Value) {
    let Some(old_c) = old.get("credentials").and_then(Value::as_object) else {
        return;
    };
    let Some(new_c) = new.get_mut("credentials").and_then(Value::as_object_mut) else {
        return;
    };
    for f in SECRET_FIELDS {
        if new_c.get(f).is_none_or(Value::is_null)
            && let Some(v) = old_c.get(f)
        {
            new_c.insert(f.into(), v.clone());
        }
    }
}

/// `host:port` with a port, IPv6 in brackets; names are resolved when connecting.
pub(crate) fn check_host_port(path: &str, s: &str) -> Option<ConfigError> {
    let bad = || {
        Some(ConfigError::new(
            path,
            format!("`{s}` is not host:port (IPv6 as [addr]:port)"),
        ))
    };
    let Some((host, port)) = s.rsplit_once(':') else {
        return bad();
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return bad();
    }
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return bad();
    }
    None
}
