use kaiwu_core::{ErrorKind, Quality, Value};
use serde_json::json;

use crate::tests::{cnc_mill, full};
use crate::{DataType, Error, Field, Property, validate_field_value, validate_value};

fn prop(id: &str) -> Property {
    let mut all = cnc_mill().properties;
    all.extend(full().properties);
    all.into_iter().find(|p| p.id == id).unwrap()
}

fn good(p: &Property, v: serde_json::Value) -> Value {
    let (value, q) = validate_value(p, &v).unwrap_or_else(|e| panic!("{v}: {e}"));
    assert_eq!(q, Quality::Good, "{v}");
    value
}

fn reason(p: &Property, v: serde_json::Value) -> String {
    match validate_value(p, &v) {
        Err(e @ Error::Value { .. }) => {
            assert_eq!(e.kind(), ErrorKind::Invalid);
            let Error::Value { property, reason } = e else {
                unreachable!()
            };
            assert_eq!(property, p.id);
            reason
        }
        other => panic!("{v} should be rejected, got {other:?}"),
    }
}

#[test]
fn bool_only_from_json_bool() {
    let p = prop("running");
    assert_eq!(good(&p, json!(true)), Value::Bool(true));
    assert_eq!(
        reason(&p, json!(1)),
        "property running expects bool, got number 1"
    );
    assert_eq!(
        reason(&p, json!("true")),
        "property running expects bool, got string \"true\""
    );
    assert_eq!(
        reason(&p, json!(null)),
        "property running expects bool, got null"
    );
}

#[test]
fn int_accepts_whole_numbers() {
    let p = prop("count");
    assert_eq!(good(&p, json!(3)), Value::Int(3));
    assert_eq!(good(&p, json!(3.0)), Value::Int(3));
    assert_eq!(good(&p, json!(-5)), Value::Int(-5));
    assert_eq!(
        reason(&p, json!(3.5)),
        "property count expects int, got number 3.5"
    );
    assert!(reason(&p, json!("3")).contains("got string \"3\""));
    assert!(reason(&p, json!(u64::MAX)).contains("expects int"));
    assert!(reason(&p, json!(1e19)).contains("expects int"));
    assert!(reason(&p, json!([1])).ends_with("got array"));
    let wide = Property::new("n", DataType::Int);
    assert_eq!(good(&wide, json!(i64::MIN)), Value::Int(i64::MIN));
    assert_eq!(good(&wide, json!(i64::MAX)), Value::Int(i64::MAX));
}

#[test]
fn float_accepts_any_number() {
    let p = prop("spindle_speed");
    assert_eq!(good(&p, json!(12000)), Value::Float(12000.0));
    assert_eq!(good(&p, json!(0.5)), Value::Float(0.5));
    assert_eq!(
        reason(&p, json!("abc")),
        "property spindle_speed expects float, got string \"abc\""
    );
    assert!(reason(&p, json!({"v": 1})).ends_with("got object"));
}

#[test]
fn strings_up_to_64_kib() {
    let p = prop("batch");
    assert_eq!(good(&p, json!("B-7")), Value::String("B-7".into()));
    assert!(matches!(good(&p, json!("x".repeat(65536))), Value::String(s) if s.len() == 65536));
    assert!(reason(&p, json!("x".repeat(65537))).contains("at most 65536 bytes, got 65537"));
    assert!(reason(&p, json!(7)).contains("expects string"));
    // Long inputs are clipped in the message.
    assert!(reason(&prop("count"), json!("y".repeat(1000))).len() < 120);
}

#[test]
fn enums_by_key_or_label() {
    let p = prop("state");
    assert_eq!(good(&p, json!(1)), Value::Int(1));
    assert_eq!(good(&p, json!(2.0)), Value::Int(2));
    assert_eq!(good(&p, json!("running")), Value::Int(1));
    assert_eq!(
        reason(&p, json!(7)),
        "property state has no enum key 7 (keys: 0, 1, 2)"
    );
    assert_eq!(
        reason(&p, json!("stopped")),
        "property state has no enum label \"stopped\" (labels: \"idle\", \"running\", \"fault\")"
    );
    // A key sent as a string is not a label.
    assert!(reason(&p, json!("1")).contains("no enum label \"1\""));
    assert!(
        reason(&p, json!(true)).contains("expects enum (an integer key or a label), got bool true")
    );
    assert!(reason(&p, json!(1.5)).contains("expects enum"));
    let mode = prop("mode");
    assert_eq!(good(&mode, json!(-1)), Value::Int(-1));
    assert_eq!(good(&mode, json!("manual")), Value::Int(10));
}

#[test]
fn timestamps_are_integer_epoch_ms() {
    let p = prop("last_service");
    assert_eq!(
        good(&p, json!(1_700_000_000_000_i64)),
        Value::Timestamp(1_700_000_000_000)
    );
    assert_eq!(good(&p, json!(1.7e12)), Value::Timestamp(1_700_000_000_000));
    assert!(
        reason(&p, json!("2024-01-01T00:00:00Z"))
            .contains("expects timestamp (integer epoch milliseconds)")
    );
    assert!(reason(&p, json!(1.5)).contains("expects timestamp"));
}

#[test]
fn json_accepts_anything() {
    let p = prop("recipe");
    for v in [
        json!(null),
        json!(1),
        json!("s"),
        json!([1, {"a": 2}]),
        json!({"steps": []}),
    ] {
        assert_eq!(good(&p, v.clone()), Value::Json(v));
    }
}

#[test]
fn out_of_range_is_kept_as_uncertain() {
    let cases = [
        ("spindle_speed", json!(30000), Value::Float(30000.0)),
        ("spindle_speed", json!(-0.1), Value::Float(-0.1)),
        ("feed_override", json!(151), Value::Int(151)),
        ("last_service", json!(0), Value::Timestamp(0)),
    ];
    for (id, v, want) in cases {
        let (value, q) = validate_value(&prop(id), &v).unwrap();
        assert_eq!((value, q), (want, Quality::Uncertain), "{id} {v}");
    }
    // Bounds are inclusive.
    assert_eq!(
        validate_value(&prop("feed_override"), &json!(150))
            .unwrap()
            .1,
        Quality::Good
    );
    assert_eq!(
        validate_value(&prop("spindle_speed"), &json!(0)).unwrap().1,
        Quality::Good
    );
}

#[test]
fn fields_validate_like_properties() {
    let mut f = Field::new("zone", DataType::Int);
    f.max = Some(9.0);
    assert_eq!(
        validate_field_value(&f, &json!(3)).unwrap(),
        (Value::Int(3), Quality::Good)
    );
    assert_eq!(
        validate_field_value(&f, &json!(10)).unwrap().1,
        Quality::Uncertain
    );
    let Err(Error::Value { reason, .. }) = validate_field_value(&f, &json!("x")) else {
        panic!("a string is no int")
    };
    assert_eq!(reason, "field zone expects int, got string \"x\"");
}

#[test]
fn enum_without_values_rejects_everything() {
    let p = Property::new("e", DataType::Enum);
    assert!(reason(&p, json!(0)).contains("keys: none"));
    assert!(reason(&p, json!("a")).contains("labels: none"));
}
