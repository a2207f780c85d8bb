use serde_json::json;

use super::*;

fn map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

#[test]
fn connect_and_disconnect() {
    let c = decode_gateway_connect(br#"{"device":"Device A","type":"Sensor A"}"#).expect("valid");
    assert_eq!(c.device, "Device A");
    assert_eq!(c.device_type.as_deref(), Some("Sensor A"));
    let c = decode_gateway_connect(br#"{"device":"Device A"}"#).expect("no type");
    assert_eq!(c.device_type, None);
    assert_eq!(
        decode_gateway_disconnect(br#"{"device":"Device A"}"#).expect("valid"),
        "Device A"
    );
    for (input, want) in [
        ("{}", "at $: missing field `device`"),
        (
            r#"{"device":7}"#,
            "at device: expected string, found number",
        ),
        (r#"{"device":""}"#, "at device: must not be empty"),
        (
            r#"{"device":"A","type":3}"#,
            "at type: expected string, found number",
        ),
    ] {
        let e = decode_gateway_connect(input.as_bytes())
            .expect_err(input)
            .to_string();
        assert_eq!(e, want, "{input}");
    }
}

#[test]
fn telemetry_per_device() {
    let got = decode_gateway_telemetry(
        br#"{"Device A":[{"ts":1483228800000,"values":{"temperature":42}},{"humidity":80}],
            "Device B":{"ts":1483228801000,"values":{"temperature":43}}}"#,
    )
    .expect("valid");
    assert_eq!(got.len(), 2);
    let (name, rows) = &got[0];
    assert_eq!(name, "Device A");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].ts, Some(1_483_228_800_000));
    assert_eq!(rows[1].ts, None);
    assert_eq!(rows[1].values, map(json!({"humidity":80})));
    assert_eq!(got[1].0, "Device B");
    assert_eq!(got[1].1[0].values, map(json!({"temperature":43})));
}

#[test]
fn telemetry_errors_name_device_and_row() {
    for (input, want) in [
        ("[]", "at $: expected object, found array"),
        ("{}", "at $: no devices"),
        (r#"{"Device A":[]}"#, r#"at ["Device A"]: no rows"#),
        (
            r#"{"A":[{"ts":1,"values":{}}]}"#,
            "at A[0].values: no telemetry values",
        ),
        (
            r#"{"Device A":[{"a":1},{"ts":"x","values":{"a":1}}]}"#,
            r#"at ["Device A"][1].ts: ts must be"#,
        ),
        (r#"{"A":[[{"a":1}]]}"#, "at A[0]: nested arrays"),
        (r#"{"A":5}"#, "at A: expected object or array, found number"),
        (r#"{"":[{"a":1}]}"#, r#"at [""]: must not be empty"#),
    ] {
        let e = decode_gateway_telemetry(input.as_bytes())
            .expect_err(input)
            .to_string();
        assert!(e.starts_with(want), "{input}: got {e:?}");
    }
}

#[test]
fn telemetry_rows_budget_is_shared_by_devices() {
    let half = vec![r#"{"a":1}"#; MAX_ROWS / 2 + 1].join(",");
    let input = format!(r#"{{"A":[{half}],"B":[{half}]}}"#);
    let e = decode_gateway_telemetry(input.as_bytes()).expect_err("too many rows");
    assert!(
        matches!(e, PayloadError::TooMany { what: "rows", ref path, .. } if path == "B"),
        "{e}"
    );
}

#[test]
fn attributes_per_device() {
    let got =
        decode_gateway_attributes(br#"{"Device A":{"fw":"1.0"},"Device B":{"fw":"2.1","b":92}}"#)
            .expect("valid");
    assert_eq!(got[0], ("Device A".to_owned(), map(json!({"fw":"1.0"}))));
    assert_eq!(got[1].1.len(), 2);
    let e = decode_gateway_attributes(br#"{"A":[1]}"#).expect_err("array");
    assert_eq!(e.to_string(), "at A: expected object, found array");
    let e = decode_gateway_attributes(br#"{"A":{"k":null}}"#).expect_err("null");
    assert_eq!(e.to_string(), "at A.k: null is not a valid value");
}

#[test]
fn rpc_both_directions() {
    let out = encode_gateway_rpc_request("Device A", 1, "toggle_gpio", &json!({"pin":1}));
    assert_eq!(
        out,
        br#"{"device":"Device A","data":{"id":1,"method":"toggle_gpio","params":{"pin":1}}}"#
    );
    let r = decode_gateway_rpc_response(br#"{"device":"Device A","id":1,"data":{"success":true}}"#)
        .expect("valid");
    assert_eq!(
        r,
        GatewayRpcResponse {
            device: "Device A".to_owned(),
            id: 1,
            data: json!({"success":true}),
        }
    );
    for (input, want) in [
        (r#"{"device":"A","data":1}"#, "at $: missing field `id`"),
        (
            r#"{"device":"A","id":-1,"data":1}"#,
            "at id: expected non-negative integer, found number",
        ),
        (r#"{"device":"A","id":1}"#, "at $: missing field `data`"),
    ] {
        let e = decode_gateway_rpc_response(input.as_bytes())
            .expect_err(input)
            .to_string();
        assert_eq!(e, want, "{input}");
    }
}

#[test]
fn attribute_request_single_key() {
    let r = decode_gateway_attribute_request(
        br#"{"id":3,"device":"Device A","client":true,"key":"fw"}"#,
    )
    .expect("valid");
    assert_eq!(r.id, 3);
    assert_eq!(r.client_keys, ["fw"]);
    assert!(r.shared_keys.is_empty());
    assert!(r.single_key);
    let out = encode_gateway_attribute_response(&r, &map(json!({"fw":"1.0"})));
    assert_eq!(out, br#"{"id":3,"device":"Device A","value":"1.0"}"#);
    let out = encode_gateway_attribute_response(&r, &Map::new());
    assert_eq!(out, br#"{"id":3,"device":"Device A","value":null}"#);
}

#[test]
fn attribute_request_key_lists() {
    let r = decode_gateway_attribute_request(
        br#"{"id":1,"device":"A","client":false,"keys":["a","b"]}"#,
    )
    .expect("keys");
    assert_eq!(r.shared_keys, ["a", "b"]);
    assert!(!r.single_key);
    let out = encode_gateway_attribute_response(&r, &map(json!({"a":1,"b":2})));
    assert_eq!(out, br#"{"id":1,"device":"A","values":{"a":1,"b":2}}"#);

    let r = decode_gateway_attribute_request(
        br#"{"id":1,"device":"A","client":["fw","battery"],"shared":["target"]}"#,
    )
    .expect("new form");
    assert_eq!(r.client_keys, ["fw", "battery"]);
    assert_eq!(r.shared_keys, ["target"]);
}

#[test]
fn attribute_request_errors() {
    for (input, want) in [
        (
            r#"{"device":"A","client":true,"key":"k"}"#,
            "at $: missing field `id`",
        ),
        (
            r#"{"id":1,"client":true,"key":"k"}"#,
            "at $: missing field `device`",
        ),
        (
            r#"{"id":1,"device":"A","client":true}"#,
            "at $: missing field `key`",
        ),
        (
            r#"{"id":1,"device":"A","key":"k"}"#,
            "at $: missing field `client`",
        ),
        (r#"{"id":1,"device":"A"}"#, "at $: no attribute keys"),
        (
            r#"{"id":1,"device":"A","client":true,"key":5}"#,
            "at key: expected string, found number",
        ),
        (
            r#"{"id":1,"device":"A","client":5}"#,
            "at client: expected boolean or array of strings",
        ),
        (
            r#"{"id":1,"device":"A","client":true,"keys":[1]}"#,
            "at keys[0]: expected string",
        ),
    ] {
        let e = decode_gateway_attribute_request(input.as_bytes())
            .expect_err(input)
            .to_string();
        assert!(e.starts_with(want), "{input}: got {e:?}");
    }
}

#[test]
fn attribute_update_builder() {
    let out = encode_gateway_attribute_update("Device A", &map(json!({"target":"2.0"})));
    assert_eq!(out, br#"{"device":"Device A","data":{"target":"2.0"}}"#);
}
