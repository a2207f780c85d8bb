use serde_json::{Value, json};

use crate::{DataType, DeviceType, Error, Property, Violation};

/// The violations of a document that parses; empty when it is valid.
fn violations(doc: Value) -> Vec<Violation> {
    match DeviceType::from_value(doc) {
        Ok(_) => Vec::new(),
        Err(Error::Invalid(v)) => v,
        Err(e) => panic!("expected a validation result, got {e:?}"),
    }
}

fn paths(doc: Value) -> Vec<String> {
    violations(doc).into_iter().map(|v| v.path).collect()
}

fn props(p: Value) -> Value {
    json!({"id": "t", "properties": p})
}

/// One property of `type` with extra members.
fn prop(ty: &str, extra: Value) -> Value {
    let mut p = json!({"id": "p", "type": ty});
    if let (Some(p), Some(extra)) = (p.as_object_mut(), extra.as_object()) {
        p.extend(extra.clone());
    }
    props(json!([p]))
}

fn assert_one(doc: Value, path: &str, needle: &str) {
    let v = violations(doc);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0].path, path);
    assert!(
        v[0].message.contains(needle),
        "{:?} should contain {needle}",
        v[0].message
    );
}

#[test]
fn type_id_version_name_description() {
    assert_one(
        json!({"id": "Cnc-Mill"}),
        "id",
        "must match [a-z][a-z0-9_]{0,62}",
    );
    assert_one(json!({"id": "a".repeat(64)}), "id", "device type id");
    assert_one(json!({"id": "t", "version": 0}), "version", "at least 1");
    assert_one(
        json!({"id": "t", "name": "n".repeat(129)}),
        "name",
        "129 characters",
    );
    assert!(violations(json!({"id": "t", "name": "名".repeat(128)})).is_empty());
    assert_one(
        json!({"id": "t", "name": "a\u{7}b"}),
        "name",
        "control characters",
    );
    assert_one(
        json!({"id": "t", "description": "d".repeat(1025)}),
        "description",
        "1025",
    );
    assert!(violations(json!({"id": "t", "description": "d\n".repeat(512)})).is_empty());
}

#[test]
fn member_names_and_descriptions() {
    let doc = json!({"id": "t",
        "properties": [{"id": "a", "type": "int", "name": "", "description": "x".repeat(1025)}],
        "events": [{"id": "e", "name": "n".repeat(129)}],
        "commands": [{"id": "c", "params": [{"id": "p", "type": "int", "name": "tab\there"}]}]});
    assert_eq!(
        paths(doc),
        [
            "properties[0].name",
            "properties[0].description",
            "events[0].name",
            "commands[0].params[0].name"
        ]
    );
}

#[test]
fn member_id_syntax() {
    for ok in ["a", "A1", "spindle_Speed", &"x".repeat(63)] {
        assert!(
            violations(props(json!([{"id": ok, "type": "int"}]))).is_empty(),
            "{ok}"
        );
    }
    for bad in ["", "1a", "_a", "a-b", "a b", "ä", &"x".repeat(64)] {
        assert_one(
            props(json!([{"id": bad, "type": "int"}])),
            "properties[0].id",
            "invalid property id",
        );
    }
    let doc = json!({"id": "t", "events": [{"id": "e-1", "fields": [{"id": "9", "type": "int"}]}],
        "commands": [{"id": "c", "params": [{"id": "p.q", "type": "int"}], "result": [{"id": "", "type": "bool"}]}]});
    assert_eq!(
        paths(doc),
        [
            "events[0].id",
            "events[0].fields[0].id",
            "commands[0].params[0].id",
            "commands[0].result[0].id"
        ]
    );
}

#[test]
fn ids_are_unique_per_list() {
    let doc = props(
        json!([{"id": "a", "type": "int"}, {"id": "b", "type": "int"}, {"id": "a", "type": "float"}]),
    );
    assert_one(
        doc,
        "properties[2].id",
        "duplicate property id `a` (first at properties[0])",
    );
    // Properties are SQL columns: ids differing only by case collide.
    let doc = props(json!([{"id": "speed", "type": "int"}, {"id": "Speed", "type": "int"}]));
    assert_one(
        doc,
        "properties[1].id",
        "differs only by case from `speed` at properties[0]",
    );
    let doc = json!({"id": "t",
        "events": [{"id": "e"}, {"id": "e"}, {"id": "E"}],
        "commands": [{"id": "c", "params": [{"id": "x", "type": "int"}, {"id": "x", "type": "int"}],
                      "result": [{"id": "x", "type": "int"}]}, {"id": "c"}]});
    // Events and fields only need exact uniqueness; the same id may be a param and a result.
    assert_eq!(
        paths(doc),
        ["events[1].id", "commands[1].id", "commands[0].params[1].id"]
    );
    let doc = json!({"id": "t", "events": [{"id": "e", "fields": [{"id": "f", "type": "int"}, {"id": "f", "type": "int"}]}]});
    assert_one(doc, "events[0].fields[1].id", "duplicate field id `f`");
}

#[test]
fn reserved_property_ids() {
    for id in [
        "ts",
        "TS",
        "device",
        "Device_Type",
        "tenant",
        "key",
        "value",
        "Quality",
    ] {
        assert_one(
            props(json!([{"id": id, "type": "int"}])),
            "properties[0].id",
            "reserved",
        );
    }
    // Not columns elsewhere.
    let doc = json!({"id": "t", "events": [{"id": "value", "fields": [{"id": "ts", "type": "int"}]}],
        "commands": [{"id": "key", "params": [{"id": "value", "type": "int"}]}]});
    assert!(violations(doc).is_empty());
}

#[test]
fn ranges() {
    for ty in ["int", "float", "timestamp"] {
        assert!(
            violations(prop(ty, json!({"min": 0, "max": 10}))).is_empty(),
            "{ty}"
        );
    }
    for ty in ["bool", "string", "enum", "json"] {
        let extra = if ty == "enum" {
            json!({"min": 0, "values": {"0": "a"}})
        } else {
            json!({"min": 0})
        };
        assert_one(
            prop(ty, extra),
            "properties[0].min",
            "only allowed for int, float and timestamp",
        );
    }
    assert_one(
        prop("int", json!({"max": 1.5})),
        "properties[0].max",
        "must be an integer for int",
    );
    assert_one(
        prop("timestamp", json!({"min": 0.5})),
        "properties[0].min",
        "integer for timestamp",
    );
    assert!(violations(prop("float", json!({"min": -1.5, "max": -1.5}))).is_empty());
    assert_one(
        prop("float", json!({"min": 2, "max": 1})),
        "properties[0].min",
        "min 2 is greater than max 1",
    );
    // Non-finite bounds cannot come from JSON, only from code.
    let mut p = Property::new("p", DataType::Float);
    p.min = Some(f64::NAN);
    p.max = Some(f64::INFINITY);
    let dt = DeviceType::from_value(json!({"id": "t"})).map(|mut d| {
        d.properties.push(p);
        d
    });
    let Err(Error::Invalid(v)) = dt.unwrap().validate() else {
        panic!("non-finite bounds must be invalid")
    };
    assert_eq!(v.len(), 2);
    assert!(v.iter().all(|v| v.message.contains("finite")), "{v:?}");
}

#[test]
fn enum_values() {
    assert_one(
        prop("enum", json!({})),
        "properties[0].values",
        "required for enum",
    );
    assert_one(
        prop("enum", json!({"values": {}})),
        "properties[0].values",
        "must not be empty",
    );
    assert_one(
        prop("int", json!({"values": {"0": "a"}})),
        "properties[0].values",
        "only allowed for enum, not int",
    );
    assert!(
        violations(prop(
            "enum",
            json!({"values": {"-1": "off", "0": "zero", "10": "ten"}})
        ))
        .is_empty()
    );
    for key in ["a", "01", "+1", "1.0", " 1", "", "99999999999999999999"] {
        let doc = prop("enum", json!({"values": {key: "label"}}));
        assert_one(
            doc,
            &format!("properties[0].values.{key}"),
            "must be an integer",
        );
    }
    assert_one(
        prop("enum", json!({"values": {"0": ""}})),
        "properties[0].values.0",
        "1 to 128 characters",
    );
    assert_one(
        prop("enum", json!({"values": {"0": "l".repeat(129)}})),
        "properties[0].values.0",
        "has 129",
    );
    assert_one(
        prop("enum", json!({"values": {"0": "a\nb"}})),
        "properties[0].values.0",
        "control",
    );
    let doc = prop(
        "enum",
        json!({"values": {"0": "on", "1": "off", "2": "on"}}),
    );
    assert_one(
        doc,
        "properties[0].values.2",
        "enum label `on` is used by keys `0` and `2`",
    );
    let many: serde_json::Map<String, Value> = (0..1025)
        .map(|i| (i.to_string(), json!(format!("v{i}"))))
        .collect();
    assert_one(
        prop("enum", json!({"values": many})),
        "properties[0].values",
        "at most 1024",
    );
}

#[test]
fn units() {
    for ok in ["r/min", "%", "°C", "m³/h", &"u".repeat(32)] {
        assert!(
            violations(prop("float", json!({"unit": ok}))).is_empty(),
            "{ok}"
        );
    }
    for ty in ["bool", "string", "timestamp", "json"] {
        assert_one(
            prop(ty, json!({"unit": "s"})),
            "properties[0].unit",
            "only allowed for int and float",
        );
    }
    assert_one(
        prop("int", json!({"unit": ""})),
        "properties[0].unit",
        "1 to 32 characters",
    );
    assert_one(
        prop("int", json!({"unit": "u".repeat(33)})),
        "properties[0].unit",
        "has 33",
    );
    assert_one(
        prop("int", json!({"unit": "m\n"})),
        "properties[0].unit",
        "control characters",
    );
    assert_one(
        prop("int", json!({"unit": " mm"})),
        "properties[0].unit",
        "whitespace",
    );
}

#[test]
fn classification_and_access() {
    for c in 1..=3 {
        assert!(violations(prop("float", json!({"classification": c}))).is_empty());
    }
    for c in [0, 4, 255] {
        assert_one(
            prop("float", json!({"classification": c})),
            "properties[0].classification",
            "1, 2 or 3",
        );
    }
    // read_write is allowed for every type, json included.
    for ty in ["bool", "int", "float", "string", "timestamp", "json"] {
        assert!(
            violations(prop(ty, json!({"access": "read_write"}))).is_empty(),
            "{ty}"
        );
    }
}

#[test]
fn field_schemas_follow_the_same_rules() {
    let doc = json!({"id": "t",
        "events": [{"id": "e", "fields": [{"id": "f", "type": "string", "unit": "m"}]}],
        "commands": [{"id": "c", "params": [{"id": "p", "type": "enum"}],
                      "result": [{"id": "r", "type": "int", "min": 5, "max": 1}]}]});
    assert_eq!(
        paths(doc),
        [
            "events[0].fields[0].unit",
            "commands[0].params[0].values",
            "commands[0].result[0].min"
        ]
    );
}

#[test]
fn list_limits() {
    let list = |n: usize, f: &dyn Fn(usize) -> Value| Value::Array((0..n).map(f).collect());
    let p = |i: usize| json!({"id": format!("p{i}"), "type": "int"});
    assert!(violations(props(list(1024, &p))).is_empty());
    // Over a limit: one violation, items skipped (even invalid ones).
    let mut many = list(1025, &p);
    many[0]["id"] = json!("ts");
    assert_one(
        props(many),
        "properties",
        "properties has 1025 entries, at most 1024 allowed",
    );
    let e = |i: usize| json!({"id": format!("e{i}")});
    assert_one(
        json!({"id": "t", "events": list(257, &e)}),
        "events",
        "at most 256",
    );
    assert_one(
        json!({"id": "t", "commands": list(257, &e)}),
        "commands",
        "at most 256",
    );
    let f = |i: usize| json!({"id": format!("f{i}"), "type": "bool"});
    assert!(
        violations(json!({"id": "t", "commands": [{"id": "c", "params": list(256, &f)}]}))
            .is_empty()
    );
    let doc = json!({"id": "t", "commands": [{"id": "c", "result": list(257, &f)}],
        "events": [{"id": "e", "fields": list(300, &f)}]});
    assert_eq!(paths(doc), ["events[0].fields", "commands[0].result"]);
}

#[test]
fn is_member_id_matches_the_rule() {
    assert!(crate::is_member_id("a_1"));
    assert!(!crate::is_member_id("a-1"));
    assert!(!crate::is_member_id(""));
}
