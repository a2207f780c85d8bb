use serde_json::json;

use super::*;
use crate::sparkplug::proto::{
    DataSetRow, DataSetValue, PropertySet, PropertyValue, TemplateParameter,
};

fn m(dt: DataType, v: metric::Value) -> Metric {
    Metric {
        datatype: Some(dt.as_u32()),
        value: Some(v),
        ..Metric::default()
    }
}

fn val(dt: DataType, v: metric::Value) -> Result<Option<Value>> {
    metric_value(&m(dt, v))
}

#[test]
fn signed_integers_from_either_field_and_either_extension() {
    use DataType::*;
    use metric::Value::{IntValue, LongValue};
    let cases = [
        (Int8, IntValue(0xFF), -1),
        (Int8, IntValue(0xFFFF_FFFF), -1),
        (Int8, LongValue(u64::MAX), -1),
        (Int8, IntValue(0x7F), 127),
        (Int16, IntValue(0x8000), -32_768),
        (Int16, IntValue(0xFFFF_8000), -32_768),
        (Int32, IntValue(0x8000_0000), i64::from(i32::MIN)),
        (Int32, LongValue(0xFFFF_FFFF_8000_0000), i64::from(i32::MIN)),
        (Int64, LongValue(u64::MAX), -1),
        (Int64, LongValue(1 << 40), 1 << 40),
        (Int64, IntValue(0xFFFF_FFFE), -2),
    ];
    for (dt, v, want) in cases {
        assert_eq!(val(dt, v.clone()), Ok(Some(Value::Int(want))), "{dt} {v:?}");
    }
    for (dt, v) in [
        (Int8, IntValue(0x100)),
        (Int8, IntValue(300)),
        (Int16, LongValue(1 << 40)),
    ] {
        assert!(
            matches!(val(dt, v), Err(SparkplugError::OutOfRange { .. })),
            "{dt}"
        );
    }
}

#[test]
fn unsigned_integers_must_fit() {
    use DataType::*;
    use metric::Value::{IntValue, LongValue};
    assert_eq!(val(UInt8, IntValue(255)), Ok(Some(Value::Int(255))));
    assert_eq!(
        val(UInt32, IntValue(u32::MAX)),
        Ok(Some(Value::Int(4_294_967_295)))
    );
    assert_eq!(val(UInt32, LongValue(7)), Ok(Some(Value::Int(7))));
    assert_eq!(
        val(UInt64, LongValue(1 << 62)),
        Ok(Some(Value::Int(1 << 62)))
    );
    let e = val(UInt8, IntValue(256)).expect_err("too big");
    assert_eq!(e.to_string(), "value 256 is out of range for UInt8");
    let e = val(UInt64, LongValue(u64::MAX)).expect_err("above i64");
    assert!(matches!(
        e,
        SparkplugError::OutOfRange {
            datatype: UInt64,
            ..
        }
    ));
}

#[test]
fn other_scalars() {
    use DataType::*;
    use metric::Value as V;
    assert_eq!(val(Float, V::FloatValue(1.5)), Ok(Some(Value::Float(1.5))));
    assert_eq!(
        val(Double, V::DoubleValue(2.25)),
        Ok(Some(Value::Float(2.25)))
    );
    assert_eq!(
        val(Boolean, V::BooleanValue(true)),
        Ok(Some(Value::Bool(true)))
    );
    for dt in [String, Text, Uuid] {
        assert_eq!(
            val(dt, V::StringValue("x".into())),
            Ok(Some(Value::String("x".into())))
        );
    }
    assert_eq!(
        val(DateTime, V::LongValue(1_700_000_000_000)),
        Ok(Some(Value::Timestamp(1_700_000_000_000)))
    );
    assert!(matches!(
        val(DateTime, V::LongValue(u64::MAX)),
        Err(SparkplugError::OutOfRange { .. })
    ));
}

#[test]
fn mismatches_and_unsupported() {
    use DataType::*;
    use metric::Value as V;
    let e = val(Int16, V::StringValue("1".into())).expect_err("string for int");
    assert_eq!(e.to_string(), "Int16 metric carries a string_value");
    let e = val(Boolean, V::IntValue(1)).expect_err("int for bool");
    assert_eq!(e.to_string(), "Boolean metric carries a int_value");
    assert_eq!(
        val(Bytes, V::BytesValue(vec![1])),
        Err(SparkplugError::Unsupported(Bytes))
    );
    assert_eq!(
        val(File, V::BytesValue(vec![1])),
        Err(SparkplugError::Unsupported(File))
    );
    assert!(matches!(
        val(String, V::BytesValue(vec![])),
        Err(SparkplugError::ValueMismatch { .. })
    ));
    let mut unknown = m(Int8, V::IntValue(1));
    unknown.datatype = Some(99);
    assert_eq!(
        metric_value(&unknown),
        Err(SparkplugError::UnknownDataType(99))
    );
    let mut missing = m(Int8, V::IntValue(1));
    missing.value = None;
    assert_eq!(
        metric_value(&missing),
        Err(SparkplugError::MissingValue(Int8))
    );
}

#[test]
fn null_and_untyped() {
    let null = Metric {
        datatype: Some(DataType::Double.as_u32()),
        is_null: Some(true),
        ..Metric::default()
    };
    assert_eq!(metric_value(&null), Ok(None));
    let untyped = |v| Metric {
        value: Some(v),
        ..Metric::default()
    };
    use metric::Value as V;
    assert_eq!(
        metric_value(&untyped(V::IntValue(u32::MAX))),
        Ok(Some(Value::Int(4_294_967_295)))
    );
    assert_eq!(
        metric_value(&untyped(V::DoubleValue(0.5))),
        Ok(Some(Value::Float(0.5)))
    );
    assert_eq!(
        metric_value(&untyped(V::StringValue("s".into()))),
        Ok(Some(Value::String("s".into())))
    );
    assert!(metric_value(&untyped(V::LongValue(u64::MAX))).is_err());
}

#[test]
fn arrays_become_json() {
    let v = val(
        DataType::Int16Array,
        metric::Value::BytesValue(vec![0xFF, 0xFF, 0x01, 0x00]),
    );
    assert_eq!(v, Ok(Some(Value::Json(json!([-1, 1])))));
}

#[test]
fn dataset_becomes_a_table() {
    let cell = |v| DataSetValue { value: Some(v) };
    use data_set_value::Value as C;
    let ds = DataSet {
        num_of_columns: Some(3),
        columns: vec!["i".into(), "s".into(), "b".into()],
        types: vec![
            DataType::Int8.as_u32(),
            DataType::String.as_u32(),
            DataType::Boolean.as_u32(),
        ],
        rows: vec![
            DataSetRow {
                elements: vec![
                    cell(C::IntValue(0xFF)),
                    cell(C::StringValue("a".into())),
                    cell(C::BooleanValue(true)),
                ],
            },
            DataSetRow {
                elements: vec![
                    cell(C::IntValue(2)),
                    DataSetValue { value: None },
                    cell(C::BooleanValue(false)),
                ],
            },
        ],
    };
    let v = val(DataType::DataSet, metric::Value::DatasetValue(ds.clone()));
    assert_eq!(
        v,
        Ok(Some(Value::Json(json!({
            "columns": ["i", "s", "b"],
            "types": ["Int8", "String", "Boolean"],
            "rows": [[-1, "a", true], [2, null, false]],
        }))))
    );
    let mut bad = ds;
    bad.rows[0].elements[1] = cell(C::IntValue(1));
    assert!(matches!(
        val(DataType::DataSet, metric::Value::DatasetValue(bad)),
        Err(SparkplugError::ValueMismatch {
            datatype: DataType::String,
            ..
        })
    ));
}

#[test]
fn template_becomes_nested_json() {
    let t = Template {
        template_ref: Some("Motor".into()),
        parameters: vec![TemplateParameter {
            name: Some("poles".into()),
            r#type: Some(DataType::UInt8.as_u32()),
            value: Some(template_parameter::Value::IntValue(4)),
        }],
        metrics: vec![
            Metric {
                name: Some("rpm".into()),
                ..m(DataType::Float, metric::Value::FloatValue(1500.0))
            },
            Metric {
                name: Some("fault".into()),
                datatype: Some(DataType::Boolean.as_u32()),
                is_null: Some(true),
                ..Metric::default()
            },
        ],
        ..Template::default()
    };
    let v = val(DataType::Template, metric::Value::TemplateValue(t.clone()));
    assert_eq!(
        v,
        Ok(Some(Value::Json(json!({
            "template_ref": "Motor",
            "parameters": {"poles": 4},
            "metrics": {"rpm": 1500.0, "fault": null},
        }))))
    );
    let mut bad = t;
    bad.metrics[0].datatype = Some(DataType::String.as_u32());
    let e = val(DataType::Template, metric::Value::TemplateValue(bad)).expect_err("bad member");
    assert_eq!(
        e.to_string(),
        r#"metric "rpm": String metric carries a float_value"#
    );
}

#[test]
fn quality_property() {
    let with_quality = |code: u32| Metric {
        properties: Some(PropertySet {
            keys: vec!["engUnit".into(), "Quality".into()],
            values: vec![
                PropertyValue {
                    r#type: Some(DataType::String.as_u32()),
                    value: Some(property_value::Value::StringValue("rpm".into())),
                    ..PropertyValue::default()
                },
                PropertyValue {
                    r#type: Some(DataType::Int32.as_u32()),
                    value: Some(property_value::Value::IntValue(code)),
                    ..PropertyValue::default()
                },
            ],
        }),
        ..Metric::default()
    };
    assert_eq!(metric_quality(&with_quality(0)), Quality::Bad);
    assert_eq!(metric_quality(&with_quality(192)), Quality::Good);
    assert_eq!(metric_quality(&with_quality(500)), Quality::Uncertain);
    assert_eq!(metric_quality(&Metric::default()), Quality::Good);
}
