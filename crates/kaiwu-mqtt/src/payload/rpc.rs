//! RPC of the device API. Server-side: the platform publishes `{"method","params"}` on
//! `v1/devices/me/rpc/request/{n}` and the device answers on `.../response/{n}`. Client-side:
//! the device publishes the request and the platform answers, on the same two topics.

use serde_json::{Map, Value};

use super::error::{PayloadError, Result};
use super::json::{self, ROOT};

const RPC_REQUEST_PREFIX: &str = "v1/devices/me/rpc/request/";
const RPC_RESPONSE_PREFIX: &str = "v1/devices/me/rpc/response/";
const ATTRIBUTE_RESPONSE_PREFIX: &str = "v1/devices/me/attributes/response/";

/// An RPC call: a method name and its parameters (any JSON, `null` when absent).
#[derive(Debug, Clone, PartialEq)]
pub struct RpcRequest {
    /// The method, non-empty.
    pub method: String,
    /// The parameters.
    pub params: Value,
}

/// Decodes a client-side RPC request published by a device: `{"method":"..","params":..}`.
/// Other fields are ignored, as ThingsBoard does.
pub fn decode_rpc_request(bytes: &[u8]) -> Result<RpcRequest> {
    let mut obj = json::into_object(json::parse(bytes)?, ROOT)?;
    let method = json::take_name(&mut obj, "method", ROOT)?;
    let params = obj.remove("params").unwrap_or(Value::Null);
    Ok(RpcRequest { method, params })
}

/// Encodes a server-side RPC request for `v1/devices/me/rpc/request/{n}`.
pub fn encode_rpc_request(method: &str, params: &Value) -> Vec<u8> {
    let mut obj = Map::new();
    obj.insert("method".to_owned(), Value::String(method.to_owned()));
    obj.insert("params".to_owned(), params.clone());
    json::to_bytes(&Value::Object(obj))
}

/// Decodes a device's answer to a server-side RPC. ThingsBoard passes the body through as
/// opaque text, so any UTF-8 is accepted: JSON is returned as parsed, other text as a string.
pub fn decode_rpc_response(bytes: &[u8]) -> Result<Value> {
    if let Ok(v) = serde_json::from_slice(bytes) {
        return Ok(v);
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(Value::String(s.to_owned())),
        Err(e) => Err(PayloadError::NotJson(format!(
            "rpc response is not utf-8: {e}"
        ))),
    }
}

/// Encodes the platform's answer to a client-side RPC: the result document itself.
pub fn encode_rpc_response(result: &Value) -> Vec<u8> {
    json::to_bytes(result)
}

/// `v1/devices/me/rpc/request/{id}`.
pub fn rpc_request_topic(id: u64) -> String {
    format!("{RPC_REQUEST_PREFIX}{id}")
}

/// `v1/devices/me/rpc/response/{id}`.
pub fn rpc_response_topic(id: u64) -> String {
    format!("{RPC_RESPONSE_PREFIX}{id}")
}

/// `v1/devices/me/attributes/response/{id}`.
pub fn attribute_response_topic(id: u64) -> String {
    format!("{ATTRIBUTE_RESPONSE_PREFIX}{id}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::payload::{DeviceTopic, classify};

    #[test]
    fn client_side_request() {
        let r = decode_rpc_request(br#"{"method":"getTime","params":{"tz":"UTC"},"extra":1}"#)
            .expect("valid");
        assert_eq!(r.method, "getTime");
        assert_eq!(r.params, json!({"tz":"UTC"}));
        let r = decode_rpc_request(br#"{"method":"ping"}"#).expect("no params");
        assert_eq!(r.params, Value::Null);
        for (input, want) in [
            ("{}", "at $: missing field `method`"),
            (
                r#"{"method":1}"#,
                "at method: expected string, found number",
            ),
            (r#"{"method":""}"#, "at method: must not be empty"),
            ("[]", "at $: expected object, found array"),
        ] {
            let e = decode_rpc_request(input.as_bytes())
                .expect_err(input)
                .to_string();
            assert_eq!(e, want, "{input}");
        }
    }

    #[test]
    fn server_side_request_builder() {
        let out = encode_rpc_request("setGpio", &json!({"pin":4,"value":1}));
        assert_eq!(out, br#"{"method":"setGpio","params":{"pin":4,"value":1}}"#);
        let back = decode_rpc_request(&out).expect("round trip");
        assert_eq!(back.params, json!({"pin":4,"value":1}));
    }

    #[test]
    fn responses() {
        assert_eq!(
            decode_rpc_response(br#"{"ok":true}"#).expect("json"),
            json!({"ok":true})
        );
        assert_eq!(decode_rpc_response(b"done").expect("text"), json!("done"));
        assert!(decode_rpc_response(&[0xff, 0xfe]).is_err());
        assert_eq!(encode_rpc_response(&json!({"time":1})), br#"{"time":1}"#);
    }

    #[test]
    fn topics_round_trip_through_classify() {
        assert_eq!(rpc_request_topic(7), "v1/devices/me/rpc/request/7");
        assert_eq!(
            classify(&rpc_request_topic(7)),
            Some(DeviceTopic::RpcRequest(7))
        );
        assert_eq!(
            classify(&rpc_response_topic(8)),
            Some(DeviceTopic::RpcResponse(8))
        );
        assert_eq!(
            classify(&attribute_response_topic(u64::MAX)),
            Some(DeviceTopic::AttributeResponse(u64::MAX))
        );
    }
}
