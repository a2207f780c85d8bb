//! The native JSON form of a thing model (interfaces.md section 3).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::strict::{Object, objects};

/// A device type: the thing model shared by all devices of one kind.
///
/// Deserialising fills `name` with the id when absent; it does not validate (use
/// [`DeviceType::from_json`] or [`DeviceType::validate`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, from = "Object<RawDeviceType>")]
pub struct DeviceType {
    /// `[a-z][a-z0-9_]{0,62}`; also the SQL table name.
    pub id: String,
    /// Display name, 1..=128 characters; defaults to the id.
    #[serde(default)]
    pub name: String,
    /// At least 1; defaults to 1.
    #[serde(default = "one")]
    pub version: u32,
    /// At most 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Telemetry keys, at most 1024.
    #[serde(default, deserialize_with = "objects")]
    pub properties: Vec<Property>,
    /// At most 256.
    #[serde(default, deserialize_with = "objects")]
    pub events: Vec<EventDef>,
    /// At most 256.
    #[serde(default, deserialize_with = "objects")]
    pub commands: Vec<CommandDef>,
    /// When true, unknown telemetry keys become new properties instead of being rejected.
    #[serde(default)]
    pub extensible: bool,
}

/// The type of a property or field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// JSON `true`/`false`.
    Bool,
    /// 64-bit signed integer.
    Int,
    /// 64-bit float.
    Float,
    /// UTF-8 text, at most 64 KiB.
    String,
    /// An integer key out of `values`; devices may also send the label.
    Enum,
    /// Epoch milliseconds.
    Timestamp,
    /// Any JSON document.
    Json,
}

impl DataType {
    /// All types, in declaration order.
    pub const ALL: [DataType; 7] = [
        DataType::Bool,
        DataType::Int,
        DataType::Float,
        DataType::String,
        DataType::Enum,
        DataType::Timestamp,
        DataType::Json,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Bool => "bool",
            DataType::Int => "int",
            DataType::Float => "float",
            DataType::String => "string",
            DataType::Enum => "enum",
            DataType::Timestamp => "timestamp",
            DataType::Json => "json",
        }
    }

    /// Parses a wire name.
    pub fn from_name(s: &str) -> Option<DataType> {
        DataType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The type an extensible device type gives a new key from its first value. Every number
    /// becomes `float` so that a key first seen as `20` still accepts `20.5` later.
    pub fn infer(v: &serde_json::Value) -> DataType {
        match v {
            serde_json::Value::Bool(_) => DataType::Bool,
            serde_json::Value::Number(_) => DataType::Float,
            serde_json::Value::String(_) => DataType::String,
            _ => DataType::Json,
        }
    }

    /// Types that may carry a `unit`.
    pub(crate) fn takes_unit(self) -> bool {
        matches!(self, DataType::Int | DataType::Float)
    }

    /// Types that may carry `min`/`max`.
    pub(crate) fn takes_range(self) -> bool {
        matches!(self, DataType::Int | DataType::Float | DataType::Timestamp)
    }

    /// Types whose values, and therefore bounds, are integers.
    pub(crate) fn is_integral(self) -> bool {
        matches!(self, DataType::Int | DataType::Timestamp)
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the platform may write a property (to the device's desired state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Reported by the device only.
    #[default]
    Read,
    /// Also writable.
    ReadWrite,
}

/// Severity of an event (the alarm levels of the platform).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Informational.
    #[default]
    Info,
    /// Warning.
    Warning,
    /// Minor.
    Minor,
    /// Major.
    Major,
    /// Critical.
    Critical,
}

impl Severity {
    /// All severities, least severe first.
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Warning,
        Severity::Minor,
        Severity::Major,
        Severity::Critical,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Minor => "minor",
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }

    /// Parses a wire name.
    pub fn from_name(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A property: one telemetry key and one column of the device type's table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Property {
    /// `[A-Za-z][A-Za-z0-9_]{0,62}`, unique ignoring case, not a reserved column name.
    pub id: String,
    /// Display name, 1..=128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The value type.
    #[serde(rename = "type")]
    pub r#type: DataType,
    /// Unit of measure (int and float only), 1..=32 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Lower bound (int, float, timestamp); values below are stored as `uncertain`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "num"
    )]
    pub min: Option<f64>,
    /// Upper bound (int, float, timestamp); values above are stored as `uncertain`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "num"
    )]
    pub max: Option<f64>,
    /// Enum only: integer key (as a string, e.g. `"0"`) to label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<BTreeMap<String, String>>,
    /// Defaults to `read`.
    #[serde(default)]
    pub access: Access,
    /// Data grading 1..=3 (MIIT industrial data classification, 3 most sensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<u8>,
    /// At most 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Property {
    /// A read-only property with nothing but an id and a type.
    pub fn new(id: impl Into<String>, r#type: DataType) -> Property {
        Property {
            id: id.into(),
            name: None,
            r#type,
            unit: None,
            min: None,
            max: None,
            values: None,
            access: Access::Read,
            classification: None,
            description: None,
        }
    }
}

/// A typed field of an event, or a parameter or result of a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Field {
    /// `[A-Za-z][A-Za-z0-9_]{0,62}`, unique within its list.
    pub id: String,
    /// Display name, 1..=128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The value type.
    #[serde(rename = "type")]
    pub r#type: DataType,
    /// As for [`Property::unit`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// As for [`Property::min`].
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "num"
    )]
    pub min: Option<f64>,
    /// As for [`Property::max`].
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "num"
    )]
    pub max: Option<f64>,
    /// As for [`Property::values`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<BTreeMap<String, String>>,
    /// At most 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Field {
    /// A field with nothing but an id and a type.
    pub fn new(id: impl Into<String>, r#type: DataType) -> Field {
        Field {
            id: id.into(),
            name: None,
            r#type,
            unit: None,
            min: None,
            max: None,
            values: None,
            description: None,
        }
    }
}

/// An event a device raises.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventDef {
    /// `[A-Za-z][A-Za-z0-9_]{0,62}`, unique among events.
    pub id: String,
    /// Display name, 1..=128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Defaults to `info`.
    #[serde(default)]
    pub severity: Severity,
    /// Payload fields, at most 256.
    #[serde(default, deserialize_with = "objects")]
    pub fields: Vec<Field>,
    /// At most 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A command the platform can send to a device (an RPC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandDef {
    /// `[A-Za-z][A-Za-z0-9_]{0,62}`, unique among commands.
    pub id: String,
    /// Display name, 1..=128 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Parameters, at most 256.
    #[serde(default, deserialize_with = "objects")]
    pub params: Vec<Field>,
    /// Result fields, at most 256.
    #[serde(default, deserialize_with = "objects")]
    pub result: Vec<Field>,
    /// At most 1024 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl DeviceType {
    /// The property with this id (exact match).
    pub fn property(&self, id: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.id == id)
    }

    /// The event with this id.
    pub fn event(&self, id: &str) -> Option<&EventDef> {
        self.events.iter().find(|e| e.id == id)
    }

    /// The command with this id.
    pub fn command(&self, id: &str) -> Option<&CommandDef> {
        self.commands.iter().find(|c| c.id == id)
    }
}

/// What the wire carries; separate so that an absent `name` can default to the id while an
/// explicit empty one is still reported by validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeviceType {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default = "one")]
    version: u32,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "objects")]
    properties: Vec<Property>,
    #[serde(default, deserialize_with = "objects")]
    events: Vec<EventDef>,
    #[serde(default, deserialize_with = "objects")]
    commands: Vec<CommandDef>,
    #[serde(default)]
    extensible: bool,
}

impl From<Object<RawDeviceType>> for DeviceType {
    fn from(Object(r): Object<RawDeviceType>) -> Self {
        DeviceType {
            name: r.name.unwrap_or_else(|| r.id.clone()),
            id: r.id,
            version: r.version,
            description: r.description,
            properties: r.properties,
            events: r.events,
            commands: r.commands,
            extensible: r.extensible,
        }
    }
}

fn one() -> u32 {
    1
}

/// Writes integral bounds as JSON integers (`150`, not `150.0`), as users wrote them.
fn num<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) => match integral(*x) {
            Some(i) => s.serialize_i64(i),
            None => s.serialize_f64(*x),
        },
        None => s.serialize_none(),
    }
}

/// `x` as an integer when it is one exactly representable (|x| <= 2^53).
pub(crate) fn integral(x: f64) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    (x.fract() == 0.0 && x.abs() <= EXACT).then_some(x as i64)
}
