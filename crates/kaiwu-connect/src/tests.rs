use serde_json::json;

use crate::config::{Carries, PointRef, check_points, parse};
use crate::ctx::Backoff;
use crate::{keep_secrets, redact};

fn modbus(points: serde_json::Value) -> serde_json::Value {
    json!({"id": "plc", "kind": "modbus_tcp", "address": "[::1]:502", "points": points})
}

fn paths(doc: &serde_json::Value) -> Vec<String> {
    parse(doc)
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.path)
        .collect()
}

#[test]
fn kinds_ids_and_unknown_fields() {
    assert_eq!(paths(&json!({"id": "x", "kind": "profinet"})), ["kind"]);
    assert_eq!(paths(&json!({"kind": "opcua"})), ["id"]);
    assert_eq!(paths(&json!({"id": "bad id", "kind": "opcua"})), ["id"]);
    assert_eq!(paths(&json!([1])), [""]);
    let mut d = modbus(json!([{"device": "d", "property": "p", "area": "input", "address": 0}]));
    assert!(parse(&d).is_ok());
    d["extra"] = json!(1);
    assert_eq!(paths(&d), ["extra"], "unknown top-level field");
    d = modbus(
        json!([{"device": "d", "property": "p", "area": "input", "address": 0, "colour": 1}]),
    );
    assert_eq!(paths(&d), ["points[0].colour"]);
}

#[test]
fn modbus_points_are_checked_without_a_model() {
    let d = modbus(json!([
        {"device": "d", "property": "a", "area": "coil", "address": 0, "encoding": "f32"},
        {"device": "d", "property": "b", "area": "input", "address": 65535, "encoding": "f64"},
        {"device": "d", "property": "c", "area": "input", "address": 0, "order": "ABDC"},
        {"device": "d", "property": "e", "area": "input", "address": 0, "bit": 16},
        {"device": "d", "property": "f", "area": "discrete", "address": 0, "write": true},
        {"device": "d", "property": "g", "area": "holding", "address": 0, "scale": 0},
        {"device": "d", "property": "h", "area": "holding", "address": 0, "bit": 3, "write": true}
    ]));
    let p = paths(&d);
    for want in [
        "points[0].encoding",
        "points[1].address",
        "points[2].order",
        "points[3].bit",
        "points[4].write",
        "points[5].scale",
        "points[6].write",
    ] {
        assert!(p.iter().any(|x| x == want), "{want} not in {p:?}");
    }
    let mut d = modbus(json!([{"device": "d", "property": "p", "area": "input", "address": 0}]));
    d["address"] = json!("plc.local");
    assert_eq!(paths(&d), ["address"]);
    d["address"] = json!("::1:502");
    assert_eq!(paths(&d), ["address"], "IPv6 needs brackets");
    d["address"] = json!("plc.local:1502");
    d["poll_ms"] = json!(1);
    assert_eq!(paths(&d), ["poll_ms"]);
}

#[test]
fn model_checks_name_the_field() {
    let dt = kaiwu_model::DeviceType::from_json(
        br#"{"id": "m", "properties": [
            {"id": "speed", "type": "float"}, {"id": "note", "type": "string"},
            {"id": "set", "type": "int", "access": "read_write"}, {"id": "doc", "type": "json"}]}"#,
    )
    .unwrap();
    let mut lookup = |d: &str| (d == "m1").then(|| dt.clone());
    let refs = vec![
        PointRef {
            path: "p[0]".into(),
            device: "m1",
            property: "speed",
            carries: Carries::Number,
            write: true,
        },
        PointRef {
            path: "p[1]".into(),
            device: "m1",
            property: "nope",
            carries: Carries::Number,
            write: false,
        },
        PointRef {
            path: "p[2]".into(),
            device: "ghost",
            property: "speed",
            carries: Carries::Number,
            write: false,
        },
        PointRef {
            path: "p[3]".into(),
            device: "m1",
            property: "note",
            carries: Carries::Number,
            write: false,
        },
        PointRef {
            path: "p[4]".into(),
            device: "m1",
            property: "set",
            carries: Carries::Bit,
            write: true,
        },
        PointRef {
            path: "p[5]".into(),
            device: "m1",
            property: "set",
            carries: Carries::Number,
            write: false,
        },
        PointRef {
            path: "p[6]".into(),
            device: "m1",
            property: "doc",
            carries: Carries::Any,
            write: false,
        },
    ];
    let e: Vec<String> = check_points(refs, &mut lookup)
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(
        e,
        [
            "p[0].write",
            "p[1].property",
            "p[2].device",
            "p[3].property",
            "p[5].property",
            "p[6].property"
        ]
    );
}

#[test]
fn passwords_are_hidden_and_kept() {
    let stored = json!({"id": "b", "credentials": {"username": "u", "password": "s3cret"}});
    let shown = redact(&stored);
    assert_eq!(
        shown["credentials"],
        json!({"username": "u", "password": null})
    );
    let mut back = shown.clone();
    keep_secrets(&mut back, &stored);
    assert_eq!(back, stored);
    let mut changed = json!({"id": "b", "credentials": {"username": "u", "password": "new"}});
    keep_secrets(&mut changed, &stored);
    assert_eq!(changed["credentials"]["password"], "new");
}

#[test]
fn backoff_grows_to_a_bound() {
    let mut b = Backoff::new();
    let first = b.next_delay();
    assert!(first >= std::time::Duration::from_millis(500));
    let mut last = first;
    for _ in 0..20 {
        last = b.next_delay();
    }
    assert!(last <= std::time::Duration::from_millis(37_500), "{last:?}");
    assert!(last >= std::time::Duration::from_secs(30));
    b.reset();
    assert!(b.next_delay() < std::time::Duration::from_secs(1));
}
