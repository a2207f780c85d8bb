//! ThingsBoard-compatible payload decoding: the JSON bodies of the device API
//! (`v1/devices/me/...`) and the gateway API (`v1/gateway/...`), builders for what the platform
//! sends back, and topic classification.
//!
//! Pure functions from bytes to plain Rust types and back: no I/O, no storage, no knowledge of
//! the thing model (key validation against properties happens downstream). Decoders never panic
//! on any input; errors name the JSON path of the offending element (see [`PayloadError`]).
//! The caller bounds the payload size; the decoders also bound rows, keys and nesting.

mod attributes;
mod error;
mod gateway;
mod json;
mod rpc;
mod telemetry;
mod topic;

pub use attributes::{
    AttributeRequest, attribute_response, decode_attribute_request, decode_attributes,
    encode_attribute_response, encode_attribute_update,
};
pub use error::{PayloadError, Result};
pub use gateway::{
    GatewayAttributeRequest, GatewayConnect, GatewayRpcResponse, decode_gateway_attribute_request,
    decode_gateway_attributes, decode_gateway_connect, decode_gateway_disconnect,
    decode_gateway_rpc_response, decode_gateway_telemetry, encode_gateway_attribute_response,
    encode_gateway_attribute_update, encode_gateway_rpc_request,
};
pub use rpc::{
    RpcRequest, attribute_response_topic, decode_rpc_request, decode_rpc_response,
    encode_rpc_request, encode_rpc_response, rpc_request_topic, rpc_response_topic,
};
pub use telemetry::{TelemetryRow, decode_telemetry};
pub use topic::{DeviceTopic, classify};

/// Most telemetry rows in one payload; a gateway payload's devices share this budget, and it
/// also caps the number of devices in one gateway payload.
pub const MAX_ROWS: usize = 10_000;

/// Most keys in one telemetry row, one attribute set or one key list.
pub const MAX_KEYS: usize = 1_000;

/// Longest key, device name or method name, in bytes.
pub const MAX_NAME_LEN: usize = 256;

#[cfg(test)]
mod proptests;
