//! Shared vocabulary of Kaiwu: identifiers, typed values and quality, timestamps, roles and the
//! error kinds every layer maps onto (the HTTP layer turns them into status codes in one place).

pub mod batch;
mod error;
mod id;
mod role;
mod value;

pub use batch::Batch;
pub use error::ErrorKind;
pub use id::{
    IdError, validate_asset_id, validate_device_id, validate_tenant_id, validate_type_id,
    validate_username,
};
pub use role::{Role, RoleParseError};
pub use value::{Quality, Value};

/// Milliseconds since the Unix epoch, UTC: the one timestamp unit of the platform.
pub type TimestampMs = i64;

/// Current wall-clock time in epoch milliseconds.
pub fn now_ms() -> TimestampMs {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
