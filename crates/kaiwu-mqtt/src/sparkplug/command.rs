//! Messages a host sends: NCMD/DCMD payloads (including the rebirth request) and STATE.

use kaiwu_core::Value;
use serde_json::{Map, Value as Json};

use super::DataType;
use super::error::{Result, SparkplugError};
use super::proto::{Metric, Payload, metric};
use super::session::REBIRTH_METRIC;
use super::value::to_json;

/// A metric writing `value` as `datatype` (`Unknown`: chosen from the value: Int64, Double,
/// Boolean, String or DateTime). With an `alias` the name is left out, as Sparkplug requires
/// of commands to nodes that use aliases.
///
/// Integers must fit the datatype's range; signed 8- to 32-bit values go into `int_value` as
/// 32-bit two's complement, 64-bit ones into `long_value`. Floats accept integers too;
/// String/Text/UUID accept JSON (as its text); DateTime accepts timestamps and non-negative
/// integers. Anything else is [`SparkplugError::NotRepresentable`].
pub fn command_metric(
    name: &str,
    alias: Option<u64>,
    datatype: DataType,
    value: &Value,
) -> Result<Metric> {
    let dt = match (datatype, value) {
        (DataType::Unknown, Value::Bool(_)) => DataType::Boolean,
        (DataType::Unknown, Value::Int(_)) => DataType::Int64,
        (DataType::Unknown, Value::Float(_)) => DataType::Double,
        (DataType::Unknown, Value::String(_) | Value::Json(_)) => DataType::String,
        (DataType::Unknown, Value::Timestamp(_)) => DataType::DateTime,
        (dt, _) => dt,
    };
    Ok(Metric {
        name: if alias.is_some() {
            None
        } else {
            Some(name.to_owned())
        },
        alias,
        datatype: Some(dt.as_u32()),
        value: Some(encode_value(dt, value)?),
        ..Metric::default()
    })
}

fn encode_value(dt: DataType, value: &Value) -> Result<metric::Value> {
    use DataType as D;
    use metric::Value as M;
    let not_representable = || SparkplugError::NotRepresentable {
        datatype: dt,
        value: shorten(&to_json(value).to_string()),
    };
    if let Some((bits, signed)) = dt.int_shape() {
        let Value::Int(i) = *value else {
            return Err(not_representable());
        };
        let (min, max) = if signed {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        } else {
            (0, (1i128 << bits) - 1)
        };
        if !(min..=max).contains(&i128::from(i)) {
            return Err(not_representable());
        }
        // In range, so the casts below keep the value (as two's complement where signed).
        return Ok(if bits == 64 {
            M::LongValue(i as u64)
        } else {
            M::IntValue(i as u32)
        });
    }
    Ok(match (dt, value) {
        (D::Float, Value::Float(f)) => M::FloatValue(*f as f32),
        (D::Float, Value::Int(i)) => M::FloatValue(*i as f32),
        (D::Double, Value::Float(f)) => M::DoubleValue(*f),
        (D::Double, Value::Int(i)) => M::DoubleValue(*i as f64),
        (D::Boolean, Value::Bool(b)) => M::BooleanValue(*b),
        (D::String | D::Text | D::Uuid, Value::String(s)) => M::StringValue(s.clone()),
        (D::String | D::Text, Value::Json(j)) => M::StringValue(j.to_string()),
        (D::DateTime, Value::Timestamp(t) | Value::Int(t)) if *t >= 0 => M::LongValue(*t as u64),
        _ => return Err(not_representable()),
    })
}

fn shorten(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

/// An NCMD or DCMD payload: the publish time and the metrics; no `seq`, as the specification
/// requires of commands.
pub fn command_payload(timestamp_ms: u64, metrics: Vec<Metric>) -> Payload {
    Payload {
        timestamp: Some(timestamp_ms),
        metrics,
        ..Payload::default()
    }
}

/// The NCMD asking an edge node to republish its NBIRTH and DBIRTHs:
/// `Node Control/Rebirth` = true, addressed by name (which every edge node understands).
pub fn rebirth_payload(timestamp_ms: u64) -> Payload {
    let rebirth = Metric {
        name: Some(REBIRTH_METRIC.to_owned()),
        timestamp: Some(timestamp_ms),
        datatype: Some(DataType::Boolean.as_u32()),
        value: Some(metric::Value::BooleanValue(true)),
        ..Metric::default()
    };
    command_payload(timestamp_ms, vec![rebirth])
}

/// A primary host application's STATE (Sparkplug 3.0): JSON `{"online":bool,"timestamp":ms}`
/// published on [`super::state_topic`], retained, QoS 1. The offline message registered as
/// the MQTT will must carry the same timestamp as the online message that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostState {
    /// Whether the host is online.
    pub online: bool,
    /// Epoch milliseconds of the host's connect.
    pub timestamp: u64,
}

impl HostState {
    /// The QoS STATE messages are published with.
    pub const QOS: u8 = 1;
    /// STATE messages are retained.
    pub const RETAIN: bool = true;

    /// The JSON payload.
    pub fn to_json(&self) -> Vec<u8> {
        let mut obj = Map::new();
        obj.insert("online".to_owned(), Json::Bool(self.online));
        obj.insert("timestamp".to_owned(), Json::from(self.timestamp));
        Json::Object(obj).to_string().into_bytes()
    }

    /// Parses another host's STATE payload. Sparkplug 2.x hosts published the bare strings
    /// `ONLINE`/`OFFLINE` on `STATE/{host_id}`; those are not accepted here.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let bad = |why: &str| SparkplugError::BadState(why.to_owned());
        let v: Json = serde_json::from_slice(bytes).map_err(|e| bad(&e.to_string()))?;
        let online = v
            .get("online")
            .and_then(Json::as_bool)
            .ok_or_else(|| bad("`online` must be a boolean"))?;
        let timestamp = v
            .get("timestamp")
            .and_then(Json::as_u64)
            .ok_or_else(|| bad("`timestamp` must be a non-negative integer"))?;
        Ok(HostState { online, timestamp })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparkplug::metric_value;

    #[test]
    fn integers_encode_by_width_and_decode_back() {
        use DataType::*;
        let cases = [
            (Int8, -128, metric::Value::IntValue(0xFFFF_FF80)),
            (Int16, -2, metric::Value::IntValue(0xFFFF_FFFE)),
            (
                Int32,
                i64::from(i32::MIN),
                metric::Value::IntValue(0x8000_0000),
            ),
            (Int64, -1, metric::Value::LongValue(u64::MAX)),
            (UInt8, 255, metric::Value::IntValue(255)),
            (UInt16, 65_535, metric::Value::IntValue(65_535)),
            (UInt32, 4_294_967_295, metric::Value::IntValue(u32::MAX)),
            (UInt64, i64::MAX, metric::Value::LongValue(i64::MAX as u64)),
        ];
        for (dt, i, want) in cases {
            let m = command_metric("m", None, dt, &Value::Int(i)).expect("in range");
            assert_eq!(m.value, Some(want), "{dt}");
            assert_eq!(metric_value(&m), Ok(Some(Value::Int(i))), "{dt}");
        }
        for (dt, i) in [
            (Int8, 128),
            (Int8, -129),
            (UInt8, -1),
            (UInt16, 65_536),
            (UInt64, -1),
        ] {
            let e = command_metric("m", None, dt, &Value::Int(i)).expect_err("out of range");
            assert!(
                matches!(e, SparkplugError::NotRepresentable { .. }),
                "{dt} {i}"
            );
        }
    }

    #[test]
    fn other_types_and_inference() {
        let m = command_metric("sp", Some(7), DataType::Float, &Value::Int(3)).expect("float");
        assert_eq!(m.name, None, "an alias replaces the name");
        assert_eq!(m.alias, Some(7));
        assert_eq!(m.value, Some(metric::Value::FloatValue(3.0)));
        let m = command_metric("on", None, DataType::Unknown, &Value::Bool(true)).expect("bool");
        assert_eq!(m.datatype, Some(DataType::Boolean.as_u32()));
        assert_eq!(m.name.as_deref(), Some("on"));
        let m = command_metric("t", None, DataType::Unknown, &Value::Timestamp(5)).expect("ts");
        assert_eq!(metric_value(&m), Ok(Some(Value::Timestamp(5))));
        let j = Value::Json(serde_json::json!({"a":1}));
        let m = command_metric("cfg", None, DataType::Text, &j).expect("json as text");
        assert_eq!(
            m.value,
            Some(metric::Value::StringValue(r#"{"a":1}"#.to_owned()))
        );
        let e =
            command_metric("b", None, DataType::Boolean, &Value::Int(1)).expect_err("int as bool");
        assert_eq!(e.to_string(), "cannot write 1 as Boolean");
        assert!(command_metric("f", None, DataType::Bytes, &Value::Int(1)).is_err());
        assert!(command_metric("d", None, DataType::DateTime, &Value::Int(-1)).is_err());
    }

    #[test]
    fn rebirth_request() {
        let p = rebirth_payload(1_700_000_000_000);
        assert_eq!(p.timestamp, Some(1_700_000_000_000));
        assert_eq!(p.seq, None);
        assert_eq!(p.metrics.len(), 1);
        let m = &p.metrics[0];
        assert_eq!(m.name.as_deref(), Some("Node Control/Rebirth"));
        assert_eq!(m.datatype, Some(11));
        assert_eq!(metric_value(m), Ok(Some(Value::Bool(true))));
    }

    #[test]
    fn host_state() {
        let s = HostState {
            online: true,
            timestamp: 1_700_000_000_000,
        };
        assert_eq!(s.to_json(), br#"{"online":true,"timestamp":1700000000000}"#);
        assert_eq!(HostState::parse(&s.to_json()), Ok(s));
        assert_eq!((HostState::QOS, HostState::RETAIN), (1, true));
        for bad in [
            &b"ONLINE"[..],
            br#"{"online":"yes","timestamp":1}"#,
            br#"{"online":true}"#,
        ] {
            assert!(matches!(
                HostState::parse(bad),
                Err(SparkplugError::BadState(_))
            ));
        }
    }
}
