//! Feeds arbitrary bytes to every ThingsBoard-compatible payload decoder (device and gateway
//! API) and to topic classification; none may panic, and accepted telemetry keeps its limits.
#![no_main]

use kaiwu_mqtt::payload::{self, MAX_KEYS, MAX_ROWS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(rows) = payload::decode_telemetry(data) {
        assert!(!rows.is_empty() && rows.len() <= MAX_ROWS);
        for row in &rows {
            assert!(!row.values.is_empty() && row.values.len() <= MAX_KEYS);
            assert!(row.ts.is_none_or(|ts| ts >= 0));
        }
    }
    if let Ok(devices) = payload::decode_gateway_telemetry(data) {
        let total: usize = devices.iter().map(|(_, rows)| rows.len()).sum();
        assert!(total <= MAX_ROWS);
    }
    let _ = payload::decode_attributes(data);
    let _ = payload::decode_attribute_request(data);
    let _ = payload::decode_rpc_request(data);
    let _ = payload::decode_rpc_response(data);
    let _ = payload::decode_gateway_connect(data);
    let _ = payload::decode_gateway_disconnect(data);
    let _ = payload::decode_gateway_attributes(data);
    let _ = payload::decode_gateway_rpc_response(data);
    if let Ok(req) = payload::decode_gateway_attribute_request(data) {
        let _ = payload::encode_gateway_attribute_response(&req, &serde_json::Map::new());
    }
    if let Ok(topic) = std::str::from_utf8(data) {
        let _ = payload::classify(topic);
    }
});
