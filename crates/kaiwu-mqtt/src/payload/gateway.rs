//! The ThingsBoard gateway API (`v1/gateway/...`): one connection speaking for many devices,
//! each named in the payload.

use serde_json::{Map, Value};

use super::MAX_ROWS;
use super::error::{PayloadError, Result};
use super::json::{self, ROOT};
use super::telemetry::{TelemetryRow, push_rows};

/// `v1/gateway/connect`: a device behind the gateway came online.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConnect {
    /// The device name.
    pub device: String,
    /// The optional `type` (a ThingsBoard device profile name; here a device type hint).
    pub device_type: Option<String>,
}

/// Decodes `{"device":"Device A","type":"optional profile"}`.
pub fn decode_gateway_connect(bytes: &[u8]) -> Result<GatewayConnect> {
    let mut obj = json::into_object(json::parse(bytes)?, ROOT)?;
    let device = json::take_name(&mut obj, "device", ROOT)?;
    let device_type = match obj.get("type") {
        None | Some(Value::Null) => None,
        Some(_) => Some(json::take_name(&mut obj, "type", ROOT)?),
    };
    Ok(GatewayConnect {
        device,
        device_type,
    })
}

/// Decodes `v1/gateway/disconnect`: `{"device":"Device A"}`, returning the name.
pub fn decode_gateway_disconnect(bytes: &[u8]) -> Result<String> {
    let mut obj = json::into_object(json::parse(bytes)?, ROOT)?;
    json::take_name(&mut obj, "device", ROOT)
}

/// Decodes `v1/gateway/telemetry`: `{"Device A":[row, ..], "Device B":[..]}`, each row in
/// either telemetry form (see [`super::decode_telemetry`]). A single row object instead of
/// the array is accepted too. All devices together share the [`MAX_ROWS`] budget.
pub fn decode_gateway_telemetry(bytes: &[u8]) -> Result<Vec<(String, Vec<TelemetryRow>)>> {
    let obj = devices_object(bytes)?;
    // One row vector for all devices keeps a single MAX_ROWS budget; split it at the end.
    let mut all = Vec::new();
    let mut spans = Vec::with_capacity(obj.len());
    for (device, rows) in obj {
        let here = json::key_path(ROOT, &device);
        json::check_name(&device, &here)?;
        let start = all.len();
        push_rows(rows, &here, &mut all)?;
        spans.push((device, start));
    }
    let mut out: Vec<_> = spans
        .into_iter()
        .rev()
        .map(|(device, start)| (device, all.split_off(start)))
        .collect();
    out.reverse();
    Ok(out)
}

/// Decodes `v1/gateway/attributes`: `{"Device A":{"k":v,..}, ..}`.
pub fn decode_gateway_attributes(bytes: &[u8]) -> Result<Vec<(String, Map<String, Value>)>> {
    let obj = devices_object(bytes)?;
    let mut out = Vec::with_capacity(obj.len());
    for (device, attrs) in obj {
        let here = json::key_path(ROOT, &device);
        json::check_name(&device, &here)?;
        let attrs = json::into_object(attrs, &here)?;
        json::check_values(&attrs, &here, "attributes")?;
        out.push((device, attrs));
    }
    Ok(out)
}

/// The top-level object of a multi-device payload: non-empty, at most [`MAX_ROWS`] devices.
fn devices_object(bytes: &[u8]) -> Result<Map<String, Value>> {
    let obj = json::into_object(json::parse(bytes)?, ROOT)?;
    if obj.is_empty() {
        return Err(PayloadError::Empty {
            path: ROOT.to_owned(),
            what: "devices",
        });
    }
    if obj.len() > MAX_ROWS {
        return Err(PayloadError::TooMany {
            path: ROOT.to_owned(),
            what: "devices",
            limit: MAX_ROWS,
        });
    }
    Ok(obj)
}

/// A gateway's answer to an RPC, on `v1/gateway/rpc`: `{"device":..,"id":1,"data":{..}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayRpcResponse {
    /// The device that executed the call.
    pub device: String,
    /// The request id from [`encode_gateway_rpc_request`].
    pub id: u64,
    /// The result document.
    pub data: Value,
}

/// Decodes a gateway RPC response.
pub fn decode_gateway_rpc_response(bytes: &[u8]) -> Result<GatewayRpcResponse> {
    let mut obj = json::into_object(json::parse(bytes)?, ROOT)?;
    let device = json::take_name(&mut obj, "device", ROOT)?;
    let id = json::take_id(&mut obj, ROOT)?;
    let data = obj
        .remove("data")
        .ok_or_else(|| PayloadError::MissingField {
            path: ROOT.to_owned(),
            field: "data",
        })?;
    Ok(GatewayRpcResponse { device, id, data })
}

/// Encodes a platform -> gateway RPC request for `v1/gateway/rpc`:
/// `{"device":..,"data":{"id":..,"method":..,"params":..}}`.
pub fn encode_gateway_rpc_request(device: &str, id: u64, method: &str, params: &Value) -> Vec<u8> {
    let mut data = Map::new();
    data.insert("id".to_owned(), Value::from(id));
    data.insert("method".to_owned(), Value::String(method.to_owned()));
    data.insert("params".to_owned(), params.clone());
    addressed(device, Value::Object(data))
}

/// Encodes a desired-attribute push for one device on `v1/gateway/attributes`:
/// `{"device":..,"data":{..}}`.
pub fn encode_gateway_attribute_update(device: &str, attributes: &Map<String, Value>) -> Vec<u8> {
    addressed(device, Value::Object(attributes.clone()))
}

fn addressed(device: &str, data: Value) -> Vec<u8> {
    let mut obj = Map::new();
    obj.insert("device".to_owned(), Value::String(device.to_owned()));
    obj.insert("data".to_owned(), data);
    json::to_bytes(&Value::Object(obj))
}

/// An attribute read for one device, on `v1/gateway/attributes/request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayAttributeRequest {
    /// Echoed in the response.
    pub id: u64,
    /// The device name.
    pub device: String,
    /// Client-side keys asked for.
    pub client_keys: Vec<String>,
    /// Shared keys asked for.
    pub shared_keys: Vec<String>,
    /// The request named one `key`; the response then carries a bare `value`.
    pub single_key: bool,
}

/// Decodes a gateway attribute request. Two generations of the format are accepted:
/// `{"id":1,"device":"A","client":true,"key":"k"}` (or `"keys":["k1","k2"]`; `client:false`
/// means shared keys), and `{"id":1,"device":"A","client":["k1"],"shared":["k2"]}`.
pub fn decode_gateway_attribute_request(bytes: &[u8]) -> Result<GatewayAttributeRequest> {
    let mut obj = json::into_object(json::parse(bytes)?, ROOT)?;
    let id = json::take_id(&mut obj, ROOT)?;
    let device = json::take_name(&mut obj, "device", ROOT)?;
    let mut req = GatewayAttributeRequest {
        id,
        device,
        client_keys: Vec::new(),
        shared_keys: Vec::new(),
        single_key: false,
    };
    match obj.remove("client") {
        Some(Value::Bool(client)) => {
            let keys = if let Some(key) = obj.get("key") {
                let here = json::key_path(ROOT, "key");
                let Value::String(key) = key else {
                    return Err(json::wrong_type(&here, "string", key));
                };
                json::check_name(key, &here)?;
                req.single_key = true;
                vec![key.clone()]
            } else if let Some(keys) = obj.remove("keys") {
                json::key_list(keys, &json::key_path(ROOT, "keys"))?
            } else {
                return Err(PayloadError::MissingField {
                    path: ROOT.to_owned(),
                    field: "key",
                });
            };
            if client {
                req.client_keys = keys;
            } else {
                req.shared_keys = keys;
            }
        }
        Some(keys @ (Value::Array(_) | Value::String(_))) => {
            req.client_keys = json::key_list(keys, &json::key_path(ROOT, "client"))?;
        }
        None | Some(Value::Null) if obj.contains_key("key") || obj.contains_key("keys") => {
            return Err(PayloadError::MissingField {
                path: ROOT.to_owned(),
                field: "client",
            });
        }
        None | Some(Value::Null) => {}
        Some(other) => {
            let here = json::key_path(ROOT, "client");
            return Err(json::wrong_type(
                &here,
                "boolean or array of strings",
                &other,
            ));
        }
    }
    if let Some(keys) = obj.remove("shared") {
        req.shared_keys
            .extend(json::key_list(keys, &json::key_path(ROOT, "shared"))?);
    }
    if req.client_keys.is_empty() && req.shared_keys.is_empty() {
        return Err(PayloadError::Empty {
            path: ROOT.to_owned(),
            what: "attribute keys",
        });
    }
    Ok(req)
}

/// Encodes the answer on `v1/gateway/attributes/response`: `{"id","device","value"}` for a
/// single-key request (`null` when the key has no value), else `{"id","device","values":{..}}`.
pub fn encode_gateway_attribute_response(
    req: &GatewayAttributeRequest,
    values: &Map<String, Value>,
) -> Vec<u8> {
    let mut obj = Map::new();
    obj.insert("id".to_owned(), Value::from(req.id));
    obj.insert("device".to_owned(), Value::String(req.device.clone()));
    if req.single_key {
        let key = req.client_keys.first().or(req.shared_keys.first());
        let value = key
            .and_then(|k| values.get(k))
            .cloned()
            .unwrap_or(Value::Null);
        obj.insert("value".to_owned(), value);
    } else {
        obj.insert("values".to_owned(), Value::Object(values.clone()));
    }
    json::to_bytes(&Value::Object(obj))
}

#[cfg(test)]
mod tests;
