use bytes::Bytes;
use kaiwu_mqtt::client::Message;
use kaiwu_mqtt::codec::QoS;
use serde_json::json;

use super::config::{BridgeConfig, device_for, template_refs};
use super::driver::to_row;

fn cfg(v: serde_json::Value) -> BridgeConfig {
    serde_json::from_value(v).unwrap()
}

fn msg(topic: &str, payload: &str) -> Message {
    Message {
        topic: topic.into(),
        payload: Bytes::from(payload.to_owned()),
        qos: QoS::AtLeastOnce,
        retain: false,
    }
}

#[test]
fn templates_take_the_plus_levels_in_order() {
    let c = cfg(
        json!({"id": "b", "kind": "mqtt_bridge", "url": "mqtt://127.0.0.1:1883",
        "mappings": [{"topic": "site/+/line/+/env", "device": "env-{2}-{1}", "device_type": "env"}]}),
    );
    assert!(c.check().is_empty(), "{:?}", c.check());
    let m = &c.mappings[0];
    assert_eq!(
        device_for(m, "site/sz/line/7/env").as_deref(),
        Some("env-7-sz")
    );
    assert_eq!(template_refs("a{1}b{12}").unwrap(), vec![1, 12]);
    assert!(template_refs("a{x}").is_err());
    assert!(template_refs("a{1").is_err());
}

#[test]
fn bad_mappings_name_their_field() {
    let c = cfg(json!({"id": "b", "kind": "mqtt_bridge", "url": "nohost",
        "mappings": [{"topic": "a/#/b", "device": "d-{3}", "qos": 5}]}));
    let paths: Vec<String> = c.check().into_iter().map(|e| e.path).collect();
    for p in [
        "url",
        "mappings[0].topic",
        "mappings[0].qos",
        "mappings[0].device",
        "mappings[0].device_type",
    ] {
        assert!(paths.iter().any(|x| x == p), "{p} missing in {paths:?}");
    }
}

#[test]
fn rows_from_fields_paths_and_timestamps() {
    let c = cfg(
        json!({"id": "b", "kind": "mqtt_bridge", "url": "127.0.0.1:1883",
        "mappings": [{"topic": "plant/+/m", "device": "{1}", "device_type": "t",
                      "fields": {"temp": "s.t", "hum": "h"}, "ts_field": "at"}]}),
    );
    let r = to_row(
        &c.mappings[0],
        &msg(
            "plant/dev1/m",
            r#"{"s":{"t":21.5},"h":40,"at":1700000000000,"x":1}"#,
        ),
    )
    .unwrap();
    assert_eq!(r.device, "dev1");
    assert_eq!(r.ts, Some(1_700_000_000_000));
    assert_eq!(
        serde_json::Value::Object(r.values),
        json!({"hum": 40, "temp": 21.5})
    );
    assert!(to_row(&c.mappings[0], &msg("plant/dev1/m", "not json")).is_err());
    assert!(
        to_row(&c.mappings[0], &msg("plant/dev1/m", r#"{"s":{"t":1}}"#)).is_err(),
        "missing ts"
    );
}

#[test]
fn rows_from_whole_objects() {
    let c = cfg(
        json!({"id": "b", "kind": "mqtt_bridge", "url": "127.0.0.1:1883",
        "mappings": [{"topic": "x/y", "device": "d1"}]}),
    );
    let r = to_row(&c.mappings[0], &msg("x/y", r#"{"a":1,"b":true}"#)).unwrap();
    assert_eq!(r.ts, None);
    assert_eq!(r.values.len(), 2);
    assert!(to_row(&c.mappings[0], &msg("x/y", "[1,2]")).is_err());
    assert!(to_row(&c.mappings[0], &msg("x/y", "{}")).is_err());
}
