use proptest::prelude::*;

use super::*;
use crate::sparkplug::proto::{
    DataSet, DataSetRow, DataSetValue, Metric, Template, data_set_value, metric,
};
use crate::sparkplug::{DataType, metric_value};

/// An NDATA payload written out by hand from the protobuf wire format.
const NDATA: &[u8] = &[
    0x08, 0x80, 0xD0, 0x95, 0xFF, 0xBC, 0x31, // 1: timestamp = 1_700_000_000_000 (varint)
    0x12, 0x0A, // 2: metrics, 10 bytes:
    0x10, 0x05, //    2: alias = 5
    0x20, 0x03, //    4: datatype = 3 (Int32)
    0x50, 0xFE, 0xFF, 0xFF, 0xFF, 0x0F, //    10: int_value = 0xFFFF_FFFE (-2 as Int32)
    0x18, 0x07, // 3: seq = 7
];

fn ndata() -> Payload {
    Payload {
        timestamp: Some(1_700_000_000_000),
        metrics: vec![Metric {
            alias: Some(5),
            datatype: Some(DataType::Int32.as_u32()),
            value: Some(metric::Value::IntValue(0xFFFF_FFFE)),
            ..Metric::default()
        }],
        seq: Some(7),
        ..Payload::default()
    }
}

#[test]
fn known_bytes_decode_and_encode() {
    let p = decode_payload(NDATA).expect("valid ndata");
    assert_eq!(p, ndata());
    assert_eq!(
        metric_value(&p.metrics[0]),
        Ok(Some(kaiwu_core::Value::Int(-2)))
    );
    assert_eq!(encode_payload(&p), NDATA);
}

#[test]
fn optional_fields_keep_absence_and_zero_apart() {
    let zero = Payload {
        seq: Some(0),
        ..Payload::default()
    };
    let bytes = encode_payload(&zero);
    assert_eq!(bytes, [0x18, 0x00]);
    assert_eq!(decode_payload(&bytes).expect("valid").seq, Some(0));
    assert_eq!(decode_payload(&[]).expect("empty is valid").seq, None);
}

#[test]
fn rich_payload_round_trips() {
    let template = Template {
        version: Some("1".to_owned()),
        template_ref: Some("Motor".to_owned()),
        is_definition: Some(false),
        metrics: vec![Metric {
            name: Some("rpm".to_owned()),
            datatype: Some(DataType::Double.as_u32()),
            value: Some(metric::Value::DoubleValue(1500.5)),
            ..Metric::default()
        }],
        ..Template::default()
    };
    let dataset = DataSet {
        num_of_columns: Some(1),
        columns: vec!["a".to_owned()],
        types: vec![DataType::Int16.as_u32()],
        rows: vec![DataSetRow {
            elements: vec![DataSetValue {
                value: Some(data_set_value::Value::IntValue(0xFFFF)),
            }],
        }],
    };
    let p = Payload {
        timestamp: Some(1),
        seq: Some(255),
        uuid: Some("u".to_owned()),
        body: Some(vec![1, 2, 3]),
        metrics: vec![
            Metric {
                name: Some("m".to_owned()),
                alias: Some(u64::MAX),
                is_historical: Some(true),
                is_transient: Some(false),
                datatype: Some(DataType::Template.as_u32()),
                value: Some(metric::Value::TemplateValue(template)),
                ..Metric::default()
            },
            Metric {
                datatype: Some(DataType::DataSet.as_u32()),
                value: Some(metric::Value::DatasetValue(dataset)),
                ..Metric::default()
            },
            Metric {
                is_null: Some(true),
                ..Metric::default()
            },
        ],
    };
    assert_eq!(decode_payload(&encode_payload(&p)).expect("round trip"), p);
}

#[test]
fn metric_count_is_bounded_before_decoding() {
    // An empty metric is two bytes: key 0x12, length 0.
    let at_limit = [0x12, 0x00].repeat(MAX_METRICS);
    assert_eq!(
        decode_payload(&at_limit)
            .expect("at the limit")
            .metrics
            .len(),
        MAX_METRICS
    );
    let over = [0x12, 0x00].repeat(MAX_METRICS + 1);
    assert_eq!(
        decode_payload(&over),
        Err(SparkplugError::TooManyMetrics { limit: MAX_METRICS })
    );
}

#[test]
fn template_members_count_towards_the_bound() {
    // One metric holding a template of MAX_METRICS empty members: MAX_METRICS + 1 in all.
    let members = [0x12, 0x00].repeat(MAX_METRICS);
    let mut template = vec![0x92, 0x01]; // Metric field 18 (template_value), length-delimited
    template.extend(prost_len(members.len()));
    template.extend(&members);
    let mut bytes = vec![0x12];
    bytes.extend(prost_len(template.len()));
    bytes.extend(&template);
    assert_eq!(
        decode_payload(&bytes),
        Err(SparkplugError::TooManyMetrics { limit: MAX_METRICS })
    );
}

fn prost_len(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_varint(n as u64, &mut out);
    out
}

#[test]
fn malformed_bytes_are_errors() {
    for bytes in [
        &[0x12][..],             // length missing
        &[0x12, 0x05, 0x00][..], // length past the end
        &[0x08][..],             // varint missing
        &[0x08, 0xFF][..],       // truncated varint
        &[0x0F][..],             // wire type 7
    ] {
        assert!(
            matches!(decode_payload(bytes), Err(SparkplugError::Decode(_))),
            "{bytes:?}"
        );
    }
}

proptest! {
    #[test]
    fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(p) = decode_payload(&bytes) {
            for m in &p.metrics {
                let _ = metric_value(m);
                let _ = crate::sparkplug::metric_quality(m);
            }
        }
    }

    #[test]
    fn decode_never_panics_on_metric_shaped_bytes(
        fields in prop::collection::vec((1u8..20, prop::collection::vec(any::<u8>(), 0..12)), 0..8)
    ) {
        // Length-delimited and varint fields with plausible tags, wrapped in a metric.
        let mut m = Vec::new();
        for (tag, body) in &fields {
            if tag % 2 == 0 {
                m.push(tag << 3 | 2);
                m.push(body.len() as u8);
                m.extend(body);
            } else {
                m.push(tag << 3);
                m.push(body.first().copied().unwrap_or(0) & 0x7f);
            }
        }
        let mut bytes = vec![0x12, m.len() as u8];
        bytes.extend(&m);
        if let Ok(p) = decode_payload(&bytes) {
            for metric in &p.metrics {
                let _ = metric_value(metric);
            }
        }
    }
}
