//! Property tests: no decoder panics, whatever arrives; valid rows survive a round trip.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::*;

/// Runs every decoder on the input; only panics matter here, results are ignored.
fn decode_all(bytes: &[u8]) {
    let _ = decode_telemetry(bytes);
    let _ = decode_attributes(bytes);
    let _ = decode_attribute_request(bytes);
    let _ = decode_rpc_request(bytes);
    let _ = decode_rpc_response(bytes);
    let _ = decode_gateway_connect(bytes);
    let _ = decode_gateway_disconnect(bytes);
    let _ = decode_gateway_telemetry(bytes);
    let _ = decode_gateway_attributes(bytes);
    let _ = decode_gateway_rpc_response(bytes);
    let _ = decode_gateway_attribute_request(bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        let _ = classify(s);
    }
}

/// JSON-ish text built from the tokens the decoders care about, so that generated inputs
/// reach deep into the decoders instead of failing at the first byte.
fn jsonish() -> impl Strategy<Value = String> {
    let fixed = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "null",
        "true",
        r#""ts""#,
        r#""values""#,
        r#""device""#,
        r#""id""#,
        r#""client""#,
        r#""key""#,
        r#""keys""#,
        r#""method""#,
        r#""data""#,
    ])
    .prop_map(str::to_owned);
    let token = prop_oneof![
        6 => fixed,
        1 => "-?[0-9]{1,20}(\\.[0-9]{1,3})?(e[0-9]{1,3})?",
        1 => "\"[a-zA-Z ,.]{0,6}\"",
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

/// Telemetry values that must be accepted: non-null scalars with sane keys.
fn row_values() -> impl Strategy<Value = Map<String, Value>> {
    let scalar = prop_oneof![
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-z]{0,8}".prop_map(Value::from),
    ];
    prop::collection::btree_map("[a-z][a-z0-9_]{0,10}", scalar, 1..8)
        .prop_map(|m| m.into_iter().filter(|(k, _)| k != "ts").collect())
}

proptest! {
    #[test]
    fn decoders_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        decode_all(&bytes);
    }

    #[test]
    fn decoders_never_panic_on_strings(s in "\\PC{0,200}") {
        decode_all(s.as_bytes());
    }

    #[test]
    fn decoders_never_panic_on_jsonish(s in jsonish()) {
        decode_all(s.as_bytes());
    }

    #[test]
    fn telemetry_rows_round_trip(rows in prop::collection::vec((prop::option::of(0i64..4_102_444_800_000), row_values()), 1..6)) {
        prop_assume!(rows.iter().all(|(_, v)| !v.is_empty()));
        let items: Vec<Value> = rows
            .iter()
            .map(|(ts, values)| match ts {
                Some(ts) => serde_json::json!({"ts": ts, "values": values}),
                None => Value::Object(values.clone()),
            })
            .collect();
        let decoded = decode_telemetry(Value::Array(items).to_string().as_bytes()).expect("valid rows");
        prop_assert_eq!(decoded.len(), rows.len());
        for (got, (ts, values)) in decoded.iter().zip(&rows) {
            prop_assert_eq!(got.ts, *ts);
            prop_assert_eq!(&got.values, values);
        }
    }
}
