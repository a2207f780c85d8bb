//! Parsing, defaults, serialisation and error classification of the native form.

use kaiwu_core::ErrorKind;
use serde_json::{Value, json};

use super::*;

/// The example of interfaces.md section 3, verbatim.
pub(crate) const CNC_MILL: &str = r#"{"id": "cnc_mill", "name": "CNC milling machine", "version": 1,
 "properties": [
   {"id": "spindle_speed", "name": "主轴转速", "type": "float", "unit": "r/min", "min": 0, "max": 24000, "access": "read", "classification": 1},
   {"id": "state", "type": "enum", "values": {"0": "idle", "1": "running", "2": "fault"}, "access": "read"},
   {"id": "feed_override", "type": "int", "unit": "%", "min": 0, "max": 150, "access": "read_write"}],
 "events": [{"id": "tool_break", "severity": "critical", "fields": [{"id": "tool", "type": "int"}]}],
 "commands": [{"id": "stop", "params": [], "result": [{"id": "ok", "type": "bool"}]}]}"#;

pub(crate) fn cnc_mill() -> DeviceType {
    DeviceType::from_json(CNC_MILL.as_bytes()).expect("the interfaces.md example is valid")
}

/// A model using every type and optional member.
pub(crate) fn full() -> DeviceType {
    DeviceType::from_value(json!({
        "id": "press_line", "name": "注塑机 press", "version": 7, "description": "line 2\npress",
        "extensible": true,
        "properties": [
            {"id": "running", "type": "bool", "description": "motor on"},
            {"id": "count", "name": "Count", "type": "int", "min": -5, "max": 1000000, "access": "read_write"},
            {"id": "temp", "type": "float", "unit": "°C", "min": -40.5, "max": 250.25, "classification": 3},
            {"id": "batch", "type": "string", "classification": 2},
            {"id": "mode", "type": "enum", "values": {"-1": "off", "2": "auto", "10": "manual"}, "access": "read_write"},
            {"id": "last_service", "type": "timestamp", "min": 946684800000_i64},
            {"id": "recipe", "type": "json", "access": "read_write"}
        ],
        "events": [
            {"id": "jam", "name": "Jam", "severity": "major", "description": "feeder jam",
             "fields": [{"id": "zone", "type": "int", "min": 1, "max": 9}, {"id": "at", "type": "timestamp"},
                        {"id": "detail", "type": "json"}]},
            {"id": "heartbeat"}
        ],
        "commands": [
            {"id": "set_mode", "name": "Set mode",
             "params": [{"id": "zeta", "type": "enum", "values": {"0": "a", "1": "b"}},
                        {"id": "alpha", "type": "float", "unit": "bar", "max": 3.5, "name": "Pressure"},
                        {"id": "mid", "type": "string", "description": "note"}],
             "result": [{"id": "ok", "type": "bool"}, {"id": "took", "type": "int", "unit": "ms"}]},
            {"id": "reset", "description": "soft reset"}
        ]
    }))
    .expect("the full model is valid")
}

#[test]
fn example_parses_with_defaults() {
    let dt = cnc_mill();
    assert_eq!(
        (dt.id.as_str(), dt.name.as_str(), dt.version),
        ("cnc_mill", "CNC milling machine", 1)
    );
    assert!(!dt.extensible);
    let speed = dt.property("spindle_speed").unwrap();
    assert_eq!(speed.r#type, DataType::Float);
    assert_eq!((speed.min, speed.max), (Some(0.0), Some(24000.0)));
    assert_eq!(speed.classification, Some(1));
    assert_eq!(speed.name.as_deref(), Some("主轴转速"));
    assert_eq!(
        dt.property("feed_override").unwrap().access,
        Access::ReadWrite
    );
    assert_eq!(
        dt.property("state").unwrap().values.as_ref().unwrap()["2"],
        "fault"
    );
    assert!(dt.property("nope").is_none());
    assert_eq!(dt.event("tool_break").unwrap().severity, Severity::Critical);
    assert_eq!(dt.command("stop").unwrap().result[0].r#type, DataType::Bool);
}

#[test]
fn defaults() {
    let dt = DeviceType::from_json(
        br#"{"id": "x", "properties": [{"id": "a", "type": "int"}],
        "events": [{"id": "e"}]}"#,
    )
    .unwrap();
    assert_eq!(dt.name, "x");
    assert_eq!(dt.version, 1);
    assert_eq!(dt.properties[0].access, Access::Read);
    assert_eq!(dt.events[0].severity, Severity::Info);
    assert!(dt.commands.is_empty() && dt.description.is_none() && !dt.extensible);
    // An explicit empty name is not "absent".
    let e = DeviceType::from_json(br#"{"id": "x", "name": ""}"#).unwrap_err();
    assert_eq!(e.violations()[0].path, "name");
}

#[test]
fn serialization_round_trips() {
    for dt in [cnc_mill(), full()] {
        let bytes = serde_json::to_vec(&dt).unwrap();
        assert_eq!(DeviceType::from_json(&bytes).unwrap(), dt);
        let v = serde_json::to_value(&dt).unwrap();
        assert_eq!(DeviceType::from_value(v).unwrap(), dt);
    }
    let v = serde_json::to_value(cnc_mill()).unwrap();
    let speed = &v["properties"][0];
    // Integral bounds stay integers; absent options are omitted.
    assert_eq!(speed["max"].to_string(), "24000");
    assert!(v["properties"][1].get("unit").is_none());
    assert!(v.get("description").is_none());
    let full = serde_json::to_value(full()).unwrap();
    assert_eq!(full["properties"][2]["min"], json!(-40.5));
}

#[test]
fn syntax_errors_are_bad_requests() {
    for bad in [
        &b""[..],
        b"{",
        b"{\"id\": }",
        b"{\"id\": \"x\"} trailing",
        b"nul",
        b"\xff",
    ] {
        let e = DeviceType::from_json(bad).unwrap_err();
        assert!(matches!(e, Error::Syntax { .. }), "{bad:?}: {e:?}");
        assert_eq!(e.kind(), ErrorKind::BadRequest);
    }
    let e = DeviceType::from_json(b"{\n  \"id\": \"x\",\n  oops\n}").unwrap_err();
    assert!(matches!(e, Error::Syntax { line: 3, .. }), "{e:?}");
    assert!(
        e.to_string().starts_with("malformed json at line 3 column"),
        "{e}"
    );
}

fn parse_error(doc: Value) -> (String, String) {
    let bytes = serde_json::to_vec(&doc).unwrap();
    let e = DeviceType::from_json(&bytes).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    let same = DeviceType::from_value(doc).unwrap_err();
    match (e, same) {
        (Error::Parse { path, message }, Error::Parse { path: p2, .. }) => {
            assert_eq!(path, p2);
            (path, message)
        }
        other => panic!("expected parse errors, got {other:?}"),
    }
}

#[test]
fn shape_errors_name_the_path() {
    let cases = [
        (json!({"id": "x", "idd": 1}), "idd", "unknown field `idd`"),
        (
            json!({"id": "x", "version": "one"}),
            "version",
            "invalid type",
        ),
        (
            json!({"id": "x", "version": -1}),
            "version",
            "invalid value",
        ),
        (json!({"id": 5}), "id", "invalid type"),
        (json!({"name": "x"}), "$", "missing field `id`"),
        (
            json!([1]),
            "$",
            "invalid type: sequence, expected a json object",
        ),
        (json!("x"), "$", "invalid type"),
        (
            json!({"id": "x", "properties": [["a", null, "int"]]}),
            "properties[0]",
            "expected a json object",
        ),
        (
            json!({"id": "x", "properties": {"a": {}}}),
            "properties",
            "expected an array of objects",
        ),
        (
            json!({"id": "x", "commands": [{"id": "c", "result": [["ok", null, "bool"]]}]}),
            "commands[0].result[0]",
            "expected a json object",
        ),
        (
            json!({"id": "x", "properties": [{"id": "a", "type": "int"}, {"id": "b", "type": "double"}]}),
            "properties[1].type",
            "unknown variant `double`",
        ),
        (
            json!({"id": "x", "properties": [{"id": "a", "type": "int", "acces": "read"}]}),
            "properties[0].acces",
            "unknown field",
        ),
        (
            json!({"id": "x", "properties": [{"id": "a", "type": "int", "classification": 300}]}),
            "properties[0].classification",
            "invalid value",
        ),
        (
            json!({"id": "x", "properties": [{"id": "a", "type": "enum", "values": {"0": 1}}]}),
            "properties[0].values.0",
            "invalid type",
        ),
        (
            json!({"id": "x", "events": [{"id": "e", "severity": "fatal"}]}),
            "events[0].severity",
            "unknown variant",
        ),
        (
            json!({"id": "x", "commands": [{"id": "c", "params": [{"id": "p", "type": "int", "access": "read"}]}]}),
            "commands[0].params[0].access",
            "unknown field",
        ),
    ];
    // Duplicate keys are not silently resolved.
    let e = DeviceType::from_json(
        br#"{"id": "a", "properties": [{"id": "p", "type": "int", "type": "float"}]}"#,
    );
    assert!(
        matches!(e, Err(Error::Parse { ref path, ref message })
        if path == "properties[0]" && message.contains("duplicate field `type`")),
        "{e:?}"
    );
    for (doc, path, message) in cases {
        let (p, m) = parse_error(doc);
        assert_eq!(p, path);
        assert!(m.contains(message), "{m} should contain {message}");
        assert!(!m.contains(" at line "), "{m}");
    }
}

#[test]
fn invalid_reports_every_violation() {
    let doc = br#"{"id": "Bad Id", "version": 0, "properties": [
        {"id": "ts", "type": "string", "unit": "m"},
        {"id": "x", "type": "enum"}]}"#;
    let e = DeviceType::from_json(doc).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    let paths: Vec<String> = e.violations().into_iter().map(|v| v.path).collect();
    assert_eq!(
        paths,
        [
            "id",
            "version",
            "properties[0].id",
            "properties[0].unit",
            "properties[1].values"
        ]
    );
    let text = e.to_string();
    assert!(
        text.starts_with("invalid device type: id: invalid device type id `Bad Id`"),
        "{text}"
    );
}

#[test]
fn error_kinds() {
    let value = Error::Value {
        property: "p".into(),
        reason: "r".into(),
    };
    assert_eq!(value.kind(), ErrorKind::Invalid);
    assert_eq!(
        Error::Wot {
            path: "x".into(),
            message: "y".into()
        }
        .kind(),
        ErrorKind::Invalid
    );
    assert_eq!(Error::Invalid(vec![]).kind(), ErrorKind::Invalid);
    assert!(value.violations().is_empty());
}

#[test]
fn openapi_schemas_follow_serde() {
    use utoipa::PartialSchema;
    let p = serde_json::to_value(Property::schema()).unwrap();
    assert!(p["properties"].get("type").is_some(), "{p}");
    assert!(p["properties"].get("r#type").is_none());
    let required = p["required"].as_array().unwrap();
    assert!(required.contains(&json!("id")) && required.contains(&json!("type")));
    assert!(!required.contains(&json!("unit")) && !required.contains(&json!("access")));
    let dt = serde_json::to_value(DeviceType::schema()).unwrap();
    assert_eq!(dt["required"], json!(["id"]), "{dt}");
    let access = serde_json::to_value(Access::schema()).unwrap();
    assert!(access.to_string().contains("read_write"), "{access}");
}

/// Small deterministic generator: no extra dependency, reproducible failures.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A random JSON value of limited depth, biased towards the shapes the model uses.
    pub(crate) fn json(&mut self, depth: u32) -> Value {
        const WORDS: [&str; 12] = [
            "id",
            "type",
            "int",
            "enum",
            "values",
            "min",
            "max",
            "0",
            "properties",
            "running",
            "",
            "read_write",
        ];
        match self.below(if depth == 0 { 7 } else { 9 }) {
            0 => Value::Null,
            1 => Value::Bool(self.next().is_multiple_of(2)),
            2 => json!(self.next() as i64),
            3 => json!((self.next() as i64 as f64) / 1e3),
            4 => json!(self.below(4) as i64 - 1),
            5 => json!(WORDS[self.below(WORDS.len())]),
            6 => json!("x".repeat(self.below(3) * 40_000)),
            7 => Value::Array((0..self.below(4)).map(|_| self.json(depth - 1)).collect()),
            _ => {
                let n = self.below(5);
                let entries = (0..n).map(|_| {
                    (
                        WORDS[self.below(WORDS.len())].to_owned(),
                        self.json(depth - 1),
                    )
                });
                Value::Object(entries.collect())
            }
        }
    }
}

#[test]
fn never_panics_on_mutated_or_random_input() {
    const SPICE: &[u8] = b"{}[]\",:0-9e.aZ";
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let base = CNC_MILL.as_bytes().to_vec();
    let props = full().properties;
    let td = full().to_wot();
    for _ in 0..3000 {
        let mut doc = base.clone();
        for _ in 0..=rng.below(4) {
            let at = rng.below(doc.len());
            match rng.below(3) {
                0 => doc[at] = rng.next() as u8,
                1 => {
                    doc.remove(at);
                }
                _ => doc.insert(at, SPICE[rng.below(SPICE.len())]),
            }
        }
        let _ = DeviceType::from_json(&doc);
        let v = rng.json(4);
        let _ = DeviceType::from_value(v.clone());
        let _ = DeviceType::from_wot(&v, None);
        for p in &props {
            let _ = validate_value(p, &v);
        }
        // A TD with one member replaced by garbage.
        let mut t = td.clone();
        let keys: Vec<String> = t.as_object().unwrap().keys().cloned().collect();
        t[&keys[rng.below(keys.len())]] = rng.json(3);
        let _ = DeviceType::from_wot(&t, None);
        // An affordance member, or a nested field schema, replaced by garbage.
        let mut t = td.clone();
        let spots = [
            ("properties", "mode", "oneOf"),
            ("properties", "temp", "minimum"),
            ("actions", "set_mode", "input"),
            ("events", "jam", "data"),
        ];
        let (kind, name, member) = spots[rng.below(spots.len())];
        t[kind][name][member] = rng.json(3);
        t[kind]["x"] = rng.json(2);
        let _ = DeviceType::from_wot(&t, None);
    }
}

#[test]
fn built_in_table_names_are_not_type_ids() {
    for id in crate::RESERVED_TYPE_IDS {
        let doc = format!(r#"{{"id":"{id}"}}"#);
        let e = DeviceType::from_json(doc.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("reserved"), "{id}: {e}");
    }
}
