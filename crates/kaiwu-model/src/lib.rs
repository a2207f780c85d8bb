//! The thing model (物模型) of Kaiwu: device types with typed properties, events and commands
//! (interfaces.md section 3), their validation, the check of incoming values, and the mapping to
//! and from W3C WoT Thing Descriptions 1.1.
//!
//! ```
//! let dt = kaiwu_model::DeviceType::from_json(br#"{"id": "pump", "properties": [
//!     {"id": "flow", "type": "float", "unit": "m3/h", "min": 0, "max": 120}]}"#)?;
//! let flow = dt.property("flow").ok_or("no flow")?;
//! let (v, q) = kaiwu_model::validate_value(flow, &serde_json::json!(130))?;
//! assert_eq!(v, kaiwu_core::Value::Float(130.0));
//! assert_eq!(q, kaiwu_core::Quality::Uncertain);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Decisions beyond the interface contract:
//! - `min`/`max` apply to int, float and timestamp (epoch ms; integral bounds for int and
//!   timestamp); `unit` to int and float only; `access: read_write` is allowed for every type.
//! - Violation paths look like `properties[2].max` (see [`Violation`]).
//! - Enum keys must be canonical integer strings (`"0"`, `"-1"`); devices send the integer key as
//!   a JSON number or the label as a JSON string.

mod diff;
mod error;
mod parse;
mod schema;
mod slug;
mod storage;
mod strict;
mod types;
mod validate;
mod value;
mod wot;

pub use diff::{SchemaChange, diff};
pub use error::{Error, Result, Violation};
pub use slug::slug;
pub use storage::{BatchBuilder, arrow_type, storage_schema};
pub use types::{Access, CommandDef, DataType, DeviceType, EventDef, Field, Property, Severity};
pub use validate::{
    MAX_COMMANDS, MAX_ENUM_VALUES, MAX_EVENTS, MAX_FIELDS, MAX_PROPERTIES, RESERVED_PROPERTY_IDS,
    RESERVED_TYPE_IDS, is_member_id,
};
pub use value::{MAX_STRING_BYTES, validate_field_value, validate_value};
pub use wot::{KAIWU_NAMESPACE, TD_CONTEXT_10, TD_CONTEXT_11, TD_ID_PREFIX};

#[cfg(test)]
mod tests;
