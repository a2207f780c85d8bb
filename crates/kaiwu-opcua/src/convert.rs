//! Conversions between our types and async-opcua's: values, data types, timestamps, status.

use opcua::types::{
    DataTypeId, DataValue, DateTime, Identifier, LocalizedText, NodeId, StatusCode, UAString,
    Variant,
};

use crate::types::{DataType, Sample, Status, Val};

/// Ticks (100 ns) from 1601-01-01 to the Unix epoch.
const UNIX_EPOCH_TICKS: i64 = 116_444_736_000_000_000;

pub(crate) fn ts_ms(dt: &Option<DateTime>) -> Option<i64> {
    dt.as_ref()
        .filter(|d| !d.is_null())
        .map(|d| d.as_chrono().timestamp_millis())
}

pub(crate) fn date_time_from_ms(ms: i64) -> DateTime {
    DateTime::from(ms.saturating_mul(10_000).saturating_add(UNIX_EPOCH_TICKS))
}

pub(crate) fn ua_string(s: &UAString) -> String {
    s.value().clone().unwrap_or_default()
}

pub(crate) fn text(t: &LocalizedText) -> String {
    ua_string(&t.text)
}

pub(crate) fn status_name(code: StatusCode) -> String {
    format!("{code} (0x{:08X})", code.bits())
}

pub(crate) fn sample(node: &str, dv: DataValue) -> Sample {
    let code = dv.status.unwrap_or(StatusCode::Good).bits();
    Sample {
        node: node.to_owned(),
        value: dv.value.as_ref().map(from_variant).unwrap_or(Val::Null),
        status: Status::from_code(code),
        code,
        source_ts_ms: ts_ms(&dv.source_timestamp),
        server_ts_ms: ts_ms(&dv.server_timestamp),
    }
}

pub(crate) fn from_variant(v: &Variant) -> Val {
    match v {
        Variant::Empty => Val::Null,
        Variant::Boolean(b) => Val::Bool(*b),
        Variant::SByte(i) => Val::Int((*i).into()),
        Variant::Byte(i) => Val::Int((*i).into()),
        Variant::Int16(i) => Val::Int((*i).into()),
        Variant::UInt16(i) => Val::Int((*i).into()),
        Variant::Int32(i) => Val::Int((*i).into()),
        Variant::UInt32(i) => Val::Int((*i).into()),
        Variant::Int64(i) => Val::Int(*i),
        // Values past i64::MAX lose precision rather than wrap.
        Variant::UInt64(i) => i64::try_from(*i).map_or(Val::Float(*i as f64), Val::Int),
        Variant::Float(x) => Val::Float((*x).into()),
        Variant::Double(x) => Val::Float(*x),
        Variant::String(s) => s.value().clone().map_or(Val::Null, Val::String),
        Variant::LocalizedText(t) => Val::String(text(t)),
        Variant::StatusCode(c) => Val::Int(c.bits().into()),
        Variant::DateTime(d) => Val::String(d.to_rfc3339()),
        other => Val::String(other.to_string()),
    }
}

/// The natural Variant of a value, for untyped targets.
pub(crate) fn natural_variant(v: &Val) -> Variant {
    match v {
        Val::Bool(b) => Variant::Boolean(*b),
        Val::Int(i) => Variant::Int64(*i),
        Val::Float(x) => Variant::Double(*x),
        Val::String(s) => Variant::String(s.as_str().into()),
        Val::Null => Variant::Empty,
    }
}

/// Converts to the target type; None when the value does not fit or makes no sense there.
pub(crate) fn to_variant(v: &Val, target: DataType) -> Option<Variant> {
    // Strings are parsed when the target is not a string, so text input can be written.
    let parsed;
    let v = match (v, target) {
        (Val::String(s), t) if t != DataType::String && t != DataType::Any => {
            parsed = parse_val(s.trim(), t)?;
            &parsed
        }
        _ => v,
    };
    Some(match (target, v) {
        (DataType::Any, v) => natural_variant(v),
        (_, Val::Null) => return None,
        (DataType::Boolean, Val::Bool(b)) => Variant::Boolean(*b),
        (DataType::String, v) => Variant::String(plain(v).as_str().into()),
        (DataType::Float, Val::Float(x)) => {
            let f = *x as f32;
            if x.is_finite() && !f.is_finite() {
                return None;
            }
            Variant::Float(f)
        }
        (DataType::Double, Val::Float(x)) => Variant::Double(*x),
        (DataType::Float, Val::Int(i)) => Variant::Float(*i as f32),
        (DataType::Double, Val::Int(i)) => Variant::Double(*i as f64),
        (t, Val::Int(i)) => int_variant(*i, t)?,
        // Whole floats may go to integer types; fractions are refused, not truncated.
        (t, Val::Float(x)) if x.fract() == 0.0 && x.abs() < 9.2e18 => int_variant(*x as i64, t)?,
        _ => return None,
    })
}

fn plain(v: &Val) -> String {
    match v {
        Val::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_val(s: &str, t: DataType) -> Option<Val> {
    match t {
        DataType::Boolean => match s.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(Val::Bool(true)),
            "false" | "0" => Some(Val::Bool(false)),
            _ => None,
        },
        DataType::Float | DataType::Double => s.parse().ok().map(Val::Float),
        _ => s.parse().ok().map(Val::Int),
    }
}

fn int_variant(i: i64, t: DataType) -> Option<Variant> {
    Some(match t {
        DataType::SByte => Variant::SByte(i.try_into().ok()?),
        DataType::Byte => Variant::Byte(i.try_into().ok()?),
        DataType::Int16 => Variant::Int16(i.try_into().ok()?),
        DataType::UInt16 => Variant::UInt16(i.try_into().ok()?),
        DataType::Int32 => Variant::Int32(i.try_into().ok()?),
        DataType::UInt32 => Variant::UInt32(i.try_into().ok()?),
        DataType::Int64 => Variant::Int64(i),
        DataType::UInt64 => Variant::UInt64(i.try_into().ok()?),
        _ => return None,
    })
}

/// Our data type for a DataType node id; None for types we do not convert to.
pub(crate) fn data_type_of(id: &NodeId) -> Option<DataType> {
    let Identifier::Numeric(n) = id.identifier else {
        return None;
    };
    if id.namespace != 0 {
        return None;
    }
    Some(match n {
        1 => DataType::Boolean,
        2 => DataType::SByte,
        3 => DataType::Byte,
        4 => DataType::Int16,
        5 => DataType::UInt16,
        6 => DataType::Int32,
        7 => DataType::UInt32,
        8 => DataType::Int64,
        9 => DataType::UInt64,
        10 => DataType::Float,
        11 => DataType::Double,
        12 => DataType::String,
        // Enumerations travel as Int32.
        29 => DataType::Int32,
        24 | 26 | 27 | 28 => DataType::Any,
        _ => return None,
    })
}

pub(crate) fn data_type_id(t: DataType) -> NodeId {
    let id = match t {
        DataType::Boolean => DataTypeId::Boolean,
        DataType::SByte => DataTypeId::SByte,
        DataType::Byte => DataTypeId::Byte,
        DataType::Int16 => DataTypeId::Int16,
        DataType::UInt16 => DataTypeId::UInt16,
        DataType::Int32 => DataTypeId::Int32,
        DataType::UInt32 => DataTypeId::UInt32,
        DataType::Int64 => DataTypeId::Int64,
        DataType::UInt64 => DataTypeId::UInt64,
        DataType::Float => DataTypeId::Float,
        DataType::Double => DataTypeId::Double,
        DataType::String => DataTypeId::String,
        DataType::Any => DataTypeId::BaseDataType,
    };
    id.into()
}

/// Readable name of a data type node: built-in name or the node id.
pub(crate) fn data_type_name(id: &NodeId) -> String {
    if let (0, Identifier::Numeric(n)) = (id.namespace, &id.identifier) {
        let name = match n {
            13 => Some("DateTime"),
            14 => Some("Guid"),
            15 => Some("ByteString"),
            17 => Some("NodeId"),
            19 => Some("StatusCode"),
            20 => Some("QualifiedName"),
            21 => Some("LocalizedText"),
            22 => Some("Structure"),
            24 => Some("BaseDataType"),
            26 => Some("Number"),
            27 => Some("Integer"),
            28 => Some("UInteger"),
            29 => Some("Enumeration"),
            _ => None,
        };
        if let Some(name) = name {
            return name.to_owned();
        }
    }
    match data_type_of(id) {
        Some(t) if t != DataType::Any => t.to_string(),
        _ => id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_to_declared_types() {
        assert_eq!(
            to_variant(&Val::Int(7), DataType::Int32),
            Some(Variant::Int32(7))
        );
        assert_eq!(
            to_variant(&Val::Float(1.5), DataType::Double),
            Some(Variant::Double(1.5))
        );
        assert_eq!(
            to_variant(&Val::Int(2), DataType::Double),
            Some(Variant::Double(2.0))
        );
        assert_eq!(
            to_variant(&Val::Float(3.0), DataType::UInt16),
            Some(Variant::UInt16(3))
        );
        assert_eq!(to_variant(&Val::Float(3.5), DataType::Int32), None);
        assert_eq!(to_variant(&Val::Int(70000), DataType::Int16), None);
        assert_eq!(to_variant(&Val::Int(-1), DataType::UInt32), None);
        assert_eq!(
            to_variant(&Val::String("42".into()), DataType::Int32),
            Some(Variant::Int32(42))
        );
        assert_eq!(to_variant(&Val::Null, DataType::Int32), None);
        assert_eq!(to_variant(&Val::Bool(true), DataType::Int32), None);
    }

    #[test]
    fn timestamps_round_trip() {
        let ms = 1_763_700_000_123;
        assert_eq!(ts_ms(&Some(date_time_from_ms(ms))), Some(ms));
    }

    #[test]
    fn severity_bits() {
        assert_eq!(Status::from_code(0), Status::Good);
        assert_eq!(Status::from_code(0x4000_0000), Status::Uncertain);
        assert_eq!(Status::from_code(0x8034_0000), Status::Bad);
    }
}
