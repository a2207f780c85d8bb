use kaiwu_core::ErrorKind;
use serde_json::{Value, json};

use crate::tests::{cnc_mill, full};
use crate::{Access, DataType, DeviceType, Error, Severity};

fn wot_error(td: &Value) -> String {
    match DeviceType::from_wot(td, None) {
        Err(e @ Error::Wot { .. }) => {
            assert_eq!(e.kind(), ErrorKind::Invalid);
            e.to_string()
        }
        other => panic!("expected a wot error, got {other:?}"),
    }
}

#[test]
fn example_round_trips() {
    let dt = cnc_mill();
    let back = DeviceType::from_wot(&dt.to_wot(), Some("cnc_mill")).unwrap();
    assert_eq!(back, dt);
}

#[test]
fn every_type_round_trips() {
    let dt = full();
    let td = dt.to_wot();
    assert_eq!(DeviceType::from_wot(&td, Some("press_line")).unwrap(), dt);
    // Field order survives (zeta before alpha).
    let params: Vec<&String> = td["actions"]["set_mode"]["input"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(params, ["zeta", "alpha", "mid"]);
    // And through text, as a client would store it.
    let text = serde_json::to_string(&td).unwrap();
    let reparsed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        DeviceType::from_wot(&reparsed, Some("press_line")).unwrap(),
        dt
    );
}

#[test]
fn id_defaults_to_the_slug_of_the_title() {
    let dt = DeviceType::from_wot(&cnc_mill().to_wot(), None).unwrap();
    assert_eq!(dt.id, "cnc_milling_machine");
    assert_eq!(dt.name, "CNC milling machine");
}

#[test]
fn export_is_a_td_1_1() {
    let td = cnc_mill().to_wot();
    assert_eq!(
        td["@context"],
        json!(["https://www.w3.org/2022/wot/td/v1.1", {"kaiwu": "urn:kaiwu:td#"}])
    );
    assert_eq!(td["id"], "urn:kaiwu:device-type:cnc_mill");
    assert_eq!(td["title"], "CNC milling machine");
    assert_eq!(td["version"], json!({"instance": "1"}));
    assert_eq!(
        td["securityDefinitions"]["bearer_sc"],
        json!({"scheme": "bearer", "in": "header", "format": "jwt"})
    );
    assert_eq!(td["security"], "bearer_sc");
    let speed = &td["properties"]["spindle_speed"];
    assert_eq!(speed["type"], "number");
    assert_eq!(speed["title"], "主轴转速");
    assert_eq!(speed["unit"], "r/min");
    assert_eq!(
        (speed["minimum"].to_string(), speed["maximum"].to_string()),
        ("0".into(), "24000".into())
    );
    assert_eq!(speed["readOnly"], true);
    assert_eq!(speed["kaiwu:classification"], 1);
    let state = &td["properties"]["state"];
    assert_eq!(state["type"], "integer");
    assert_eq!(
        state["oneOf"],
        json!([{"const": 0, "title": "idle"}, {"const": 1, "title": "running"}, {"const": 2, "title": "fault"}])
    );
    let feed = &td["properties"]["feed_override"];
    assert_eq!(
        (feed["type"].as_str(), feed["readOnly"].as_bool()),
        (Some("integer"), Some(false))
    );
    let ops: Vec<&Value> = feed["forms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["op"][0])
        .collect();
    assert_eq!(ops, [&json!("readproperty"), &json!("writeproperty")]);
    let stop = &td["actions"]["stop"];
    assert!(stop.get("input").is_none());
    assert_eq!(
        stop["output"],
        json!({"type": "object", "properties": {"ok": {"type": "boolean"}}})
    );
    assert_eq!(
        stop["forms"][0]["href"],
        "/api/devices/{device}/commands/stop"
    );
    assert_eq!(stop["forms"][0]["htv:methodName"], "POST");
    let tool_break = &td["events"]["tool_break"];
    assert_eq!(tool_break["kaiwu:severity"], "critical");
    assert_eq!(
        tool_break["data"]["properties"]["tool"],
        json!({"type": "integer"})
    );
    // Every affordance has forms and declares the {device} variable its hrefs use.
    for kind in ["properties", "actions", "events"] {
        for (name, a) in td[kind].as_object().unwrap() {
            let forms = a["forms"].as_array().unwrap();
            assert!(!forms.is_empty(), "{kind}.{name}");
            for f in forms {
                let href = f["href"].as_str().unwrap();
                assert!(href.starts_with("/api/"), "{href}");
                assert!(!href.contains("{device}") || a["uriVariables"].get("device").is_some());
            }
        }
    }
}

#[test]
fn export_marks_kaiwu_types() {
    let td = full().to_wot();
    let p = &td["properties"];
    assert_eq!(p["last_service"]["type"], "integer");
    assert_eq!(p["last_service"]["kaiwu:type"], "timestamp");
    assert!(p["recipe"].get("type").is_none());
    assert_eq!(p["recipe"]["kaiwu:type"], "json");
    // Enum entries ordered by value, not as strings.
    let consts: Vec<&Value> = p["mode"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["const"])
        .collect();
    assert_eq!(consts, [&json!(-1), &json!(2), &json!(10)]);
    assert_eq!(p["temp"]["minimum"], json!(-40.5));
    assert_eq!(td["kaiwu:extensible"], true);
    assert_eq!(td["description"], "line 2\npress");
    assert_eq!(td["version"]["instance"], "7");
    assert_eq!(td["events"]["heartbeat"]["kaiwu:severity"], "info");
    assert!(td["events"]["heartbeat"].get("data").is_none());
}

/// A third-party TD as a device vendor might write it (TD 1.0 context, no kaiwu terms).
fn lamp() -> Value {
    json!({
        "@context": "https://www.w3.org/2019/wot/td/v1",
        "id": "urn:dev:ops:32473-WoTLamp-1234",
        "title": "My Lamp",
        "version": {"instance": "1.2.0"},
        "securityDefinitions": {"basic_sc": {"scheme": "basic", "in": "header"}},
        "security": ["basic_sc"],
        "properties": {
            "status": {"type": "string", "readOnly": true,
                       "forms": [{"href": "https://mylamp.example.com/status"}]},
            "brightness": {"type": "integer", "minimum": 0, "maximum": 100, "unit": "%",
                           "forms": [{"href": "https://mylamp.example.com/brightness"}]},
            "temperature": {"type": "number", "unit": "Cel", "readOnly": true, "description": "housing",
                            "forms": [{"href": "https://mylamp.example.com/temp"}]},
            "mode": {"type": "string", "enum": ["eco", "normal", "boost"],
                     "forms": [{"href": "https://mylamp.example.com/mode"}]},
            "color": {"type": "object", "properties": {"r": {"type": "integer"}},
                      "forms": [{"href": "https://mylamp.example.com/color"}]},
            "level": {"type": "integer", "oneOf": [{"const": 1, "title": "low"}, {"const": 3}],
                      "forms": [{"href": "https://mylamp.example.com/level"}]},
            "label": {"type": "string", "unit": "none", "minimum": 3,
                      "forms": [{"href": "https://mylamp.example.com/label"}]}
        },
        "actions": {
            "toggle": {"title": "Toggle", "forms": [{"href": "https://mylamp.example.com/toggle"}]},
            "dim": {"input": {"type": "integer", "minimum": 0, "maximum": 100},
                    "forms": [{"href": "https://mylamp.example.com/dim"}]},
            "fade": {"input": {"type": "object", "properties": {
                        "to": {"type": "number"}, "duration": {"type": "integer", "unit": "ms"}}},
                     "output": {"type": "boolean"},
                     "forms": [{"href": "https://mylamp.example.com/fade"}]}
        },
        "events": {
            "overheating": {"data": {"type": "number", "unit": "Cel"}, "description": "too hot",
                            "forms": [{"href": "https://mylamp.example.com/oh", "subprotocol": "longpoll"}]}
        }
    })
}

#[test]
fn imports_a_third_party_td() {
    let dt = DeviceType::from_wot(&lamp(), None).unwrap();
    assert_eq!(
        (dt.id.as_str(), dt.name.as_str(), dt.version),
        ("my_lamp", "My Lamp", 1)
    );
    let status = dt.property("status").unwrap();
    assert_eq!(
        (status.r#type, status.access),
        (DataType::String, Access::Read)
    );
    let brightness = dt.property("brightness").unwrap();
    assert_eq!(brightness.r#type, DataType::Int);
    assert_eq!(
        (brightness.min, brightness.max, brightness.unit.as_deref()),
        (Some(0.0), Some(100.0), Some("%"))
    );
    assert_eq!(
        brightness.access,
        Access::ReadWrite,
        "readOnly absent means writable"
    );
    let temp = dt.property("temperature").unwrap();
    assert_eq!(
        (temp.r#type, temp.description.as_deref()),
        (DataType::Float, Some("housing"))
    );
    let mode = dt.property("mode").unwrap();
    assert_eq!(mode.r#type, DataType::Enum);
    let labels: Vec<(&str, &str)> = mode
        .values
        .as_ref()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(labels, [("0", "eco"), ("1", "normal"), ("2", "boost")]);
    assert_eq!(
        crate::validate_value(mode, &json!("boost")).unwrap().0,
        kaiwu_core::Value::Int(2)
    );
    assert_eq!(dt.property("color").unwrap().r#type, DataType::Json);
    let level = dt.property("level").unwrap().values.clone().unwrap();
    assert_eq!((level["1"].as_str(), level["3"].as_str()), ("low", "3"));
    // Units and bounds that the native type cannot carry are dropped.
    let label = dt.property("label").unwrap();
    assert_eq!((label.unit.as_ref(), label.min), (None, None));

    let toggle = dt.command("toggle").unwrap();
    assert_eq!(toggle.name.as_deref(), Some("Toggle"));
    assert!(toggle.params.is_empty() && toggle.result.is_empty());
    let dim = &dt.command("dim").unwrap().params;
    assert_eq!(
        (dim.len(), dim[0].id.as_str(), dim[0].r#type, dim[0].max),
        (1, "value", DataType::Int, Some(100.0))
    );
    let fade = dt.command("fade").unwrap();
    let ids: Vec<&str> = fade.params.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["to", "duration"]);
    assert_eq!(fade.params[1].unit.as_deref(), Some("ms"));
    assert_eq!(
        (fade.result[0].id.as_str(), fade.result[0].r#type),
        ("value", DataType::Bool)
    );
    let oh = dt.event("overheating").unwrap();
    assert_eq!(
        (oh.severity, oh.description.as_deref()),
        (Severity::Info, Some("too hot"))
    );
    assert_eq!(
        (oh.fields[0].id.as_str(), oh.fields[0].r#type),
        ("value", DataType::Float)
    );
    assert_eq!(oh.fields[0].unit.as_deref(), Some("Cel"));
    // The imported type exports again and comes back the same.
    assert_eq!(
        DeviceType::from_wot(&dt.to_wot(), Some("my_lamp")).unwrap(),
        dt
    );
}

#[test]
fn context_and_title_are_required() {
    assert!(wot_error(&json!([1])).contains("$: a thing description must be a json object"));
    let mut td = lamp();
    td["@context"] = json!(["https://www.w3.org/2022/wot/td/v1.1", {"x": "y"}]);
    assert!(DeviceType::from_wot(&td, None).is_ok());
    for bad in [
        json!("https://schema.org"),
        json!([{"td": "https://www.w3.org/2019/wot/td/v1"}]),
        json!(1),
    ] {
        td["@context"] = bad;
        assert!(wot_error(&td).contains("@context: must be or contain"));
    }
    let mut td = lamp();
    td.as_object_mut().unwrap().remove("@context");
    assert!(wot_error(&td).contains("@context"));
    let mut td = lamp();
    td.as_object_mut().unwrap().remove("title");
    assert!(wot_error(&td).contains("title: is missing"));
    td["title"] = json!(5);
    assert!(wot_error(&td).contains("title: must be a string"));
}

#[test]
fn names_that_are_not_ids_are_rejected() {
    let mut td = lamp();
    td["properties"]["on-off"] = json!({"type": "boolean"});
    let e = wot_error(&td);
    assert!(
        e.contains("properties.on-off: name `on-off` is not a valid kaiwu id"),
        "{e}"
    );
    let mut td = lamp();
    td["actions"]["fade"]["input"]["properties"]["2x"] = json!({"type": "number"});
    assert!(wot_error(&td).contains("actions.fade.input.properties.2x: name `2x`"));
    let mut td = lamp();
    td["events"]["über"] = json!({});
    assert!(wot_error(&td).contains("events.über"));
}

#[test]
fn unsupported_schemas_are_rejected() {
    let cases = [
        (
            "properties",
            "p",
            json!({"type": "null"}),
            "properties.p.type: unsupported type \"null\"",
        ),
        (
            "properties",
            "p",
            json!({"type": ["string"]}),
            "properties.p.type: must be a string",
        ),
        (
            "properties",
            "p",
            json!({"enum": [1, "a"]}),
            "properties.p.enum: enum values must be all integers or all strings",
        ),
        (
            "properties",
            "p",
            json!({"enum": [1, 1]}),
            "duplicate enum value 1",
        ),
        (
            "properties",
            "p",
            json!({"type": "integer", "kaiwu:type": "decimal"}),
            "properties.p.kaiwu:type: unknown type",
        ),
        (
            "properties",
            "p",
            json!({"type": "integer", "readOnly": "yes"}),
            "properties.p.readOnly: must be a boolean",
        ),
        (
            "properties",
            "p",
            json!({"type": "integer", "minimum": "0"}),
            "properties.p.minimum: must be a number",
        ),
        (
            "properties",
            "p",
            json!({"type": "integer", "kaiwu:classification": 300}),
            "must be 1, 2 or 3",
        ),
        (
            "properties",
            "p",
            json!(true),
            "properties.p: must be an object",
        ),
        (
            "events",
            "e",
            json!({"kaiwu:severity": "fatal"}),
            "events.e.kaiwu:severity: unknown severity",
        ),
        (
            "actions",
            "a",
            json!({"input": 3}),
            "actions.a.input: must be a data schema object",
        ),
        (
            "actions",
            "a",
            json!({"title": 3}),
            "actions.a.title: must be a string",
        ),
    ];
    for (kind, name, affordance, needle) in cases {
        let mut td = lamp();
        td[kind][name] = affordance;
        let e = wot_error(&td);
        assert!(e.contains(needle), "{e} should contain {needle}");
    }
    let mut td = lamp();
    td["properties"] = json!([]);
    assert!(wot_error(&td).contains("properties: must be an object of affordances by name"));
}

#[test]
fn imported_types_are_validated() {
    let mut td = lamp();
    td["properties"]["value"] = json!({"type": "number"});
    td["properties"]["big"] = json!({"type": "number", "unit": "u".repeat(40)});
    let Err(Error::Invalid(v)) = DeviceType::from_wot(&td, None) else {
        panic!("reserved id and long unit must fail validation")
    };
    let paths: Vec<&str> = v.iter().map(|v| v.path.as_str()).collect();
    assert_eq!(paths, ["properties[7].id", "properties[8].unit"]);
    let Err(Error::Invalid(v)) = DeviceType::from_wot(&lamp(), Some("My Lamp")) else {
        panic!("a bad explicit id must fail")
    };
    assert_eq!(v[0].path, "id");
}

#[test]
fn versions_and_extension_terms() {
    let mut td = lamp();
    td["version"] = json!({"instance": "5"});
    td["kaiwu:extensible"] = json!(true);
    let dt = DeviceType::from_wot(&td, None).unwrap();
    assert_eq!((dt.version, dt.extensible), (5, true));
    td["version"] = json!({"instance": "0"});
    assert_eq!(DeviceType::from_wot(&td, None).unwrap().version, 1);
    td["kaiwu:extensible"] = json!("yes");
    assert!(wot_error(&td).contains("kaiwu:extensible: must be a boolean"));
    // A Chinese title gets a hashed slug.
    let mut td = lamp();
    td["title"] = json!("智能台灯");
    let dt = DeviceType::from_wot(&td, None).unwrap();
    assert!(
        dt.id.starts_with("type_") && dt.name == "智能台灯",
        "{}",
        dt.id
    );
}
