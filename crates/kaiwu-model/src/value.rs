//! Checking one incoming JSON value against its property (or command/event field).

use kaiwu_core::{Quality, Value};
use serde_json::Value as Json;

use crate::schema::{Schema, clip, enum_key};
use crate::{DataType, Error, Field, Property, Result};

/// Longest `string` value, in bytes.
pub const MAX_STRING_BYTES: usize = 64 * 1024;

/// Converts a value sent by a device into the property's type.
///
/// A value of the wrong type is [`Error::Value`]; a value outside `min`/`max` is kept with
/// [`Quality::Uncertain`]. Integers may arrive as floats with a zero fraction (`3.0`); enums as
/// their integer key or their label.
pub fn validate_value(p: &Property, v: &Json) -> Result<(Value, Quality)> {
    check(&Schema::from(p), "property", v)
}

/// As [`validate_value`], for command parameters and results and event fields.
pub fn validate_field_value(f: &Field, v: &Json) -> Result<(Value, Quality)> {
    check(&Schema::from(f), "field", v)
}

fn check(s: &Schema<'_>, what: &str, v: &Json) -> Result<(Value, Quality)> {
    let value = match s.ty {
        DataType::Bool => v.as_bool().map(Value::Bool),
        DataType::Int => integer(v).map(Value::Int),
        DataType::Float => v.as_f64().map(Value::Float),
        DataType::String => match v {
            Json::String(t) if t.len() > MAX_STRING_BYTES => {
                let reason = format!(
                    "{what} {} expects a string of at most {MAX_STRING_BYTES} bytes, got {} bytes",
                    clip(s.id, 64),
                    t.len()
                );
                return Err(error(s, reason));
            }
            Json::String(t) => Some(Value::String(t.clone())),
            _ => None,
        },
        DataType::Enum => return Ok((Value::Int(enum_value(s, what, v)?), Quality::Good)),
        DataType::Timestamp => integer(v).map(Value::Timestamp),
        DataType::Json => Some(Value::Json(v.clone())),
    };
    let value = value.ok_or_else(|| mismatch(s, what, v))?;
    let x = match value {
        Value::Int(i) | Value::Timestamp(i) => Some(i as f64),
        Value::Float(f) => Some(f),
        _ => None,
    };
    let outside = x.is_some_and(|x| s.min.is_some_and(|m| x < m) || s.max.is_some_and(|m| x > m));
    let quality = if outside {
        Quality::Uncertain
    } else {
        Quality::Good
    };
    Ok((value, quality))
}

/// An integer JSON number, or a float with a zero fraction inside the i64 range.
fn integer(v: &Json) -> Option<i64> {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    let n = v.as_number()?;
    n.as_i64().or_else(|| {
        let f = n.as_f64()?;
        (f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f)).then_some(f as i64)
    })
}

fn enum_value(s: &Schema<'_>, what: &str, v: &Json) -> Result<i64> {
    let id = clip(s.id, 64);
    let values = s.values.into_iter().flatten();
    match v {
        Json::String(label) => values
            .filter(|(_, l)| *l == label)
            .find_map(|(k, _)| enum_key(k))
            .ok_or_else(|| {
                let labels = listing(
                    s.values
                        .into_iter()
                        .flat_map(|m| m.values())
                        .map(|l| quoted(l)),
                );
                let got = quoted(label);
                error(
                    s,
                    format!("{what} {id} has no enum label {got} (labels: {labels})"),
                )
            }),
        Json::Number(_) => {
            let k = integer(v).ok_or_else(|| mismatch(s, what, v))?;
            let key = k.to_string();
            if values.map(|(k, _)| k).any(|known| *known == key) {
                Ok(k)
            } else {
                let keys = listing(s.values.into_iter().flat_map(|m| m.keys()).cloned());
                Err(error(
                    s,
                    format!("{what} {id} has no enum key {k} (keys: {keys})"),
                ))
            }
        }
        _ => Err(mismatch(s, what, v)),
    }
}

fn mismatch(s: &Schema<'_>, what: &str, v: &Json) -> Error {
    let expected = match s.ty {
        DataType::Enum => "enum (an integer key or a label)",
        DataType::Timestamp => "timestamp (integer epoch milliseconds)",
        ty => ty.as_str(),
    };
    let reason = format!(
        "{what} {} expects {expected}, got {}",
        clip(s.id, 64),
        describe(v)
    );
    error(s, reason)
}

fn error(s: &Schema<'_>, reason: String) -> Error {
    Error::Value {
        property: s.id.to_owned(),
        reason,
    }
}

/// What arrived, briefly: `string "abc"`, `number 3.5`, `array`.
fn describe(v: &Json) -> String {
    match v {
        Json::Null => "null".to_owned(),
        Json::Bool(b) => format!("bool {b}"),
        Json::Number(n) => format!("number {n}"),
        Json::String(t) => format!("string {}", quoted(t)),
        Json::Array(_) => "array".to_owned(),
        Json::Object(_) => "object".to_owned(),
    }
}

fn quoted(s: &str) -> String {
    Json::String(clip(s, 40)).to_string()
}

/// The first few items of a list for an error message.
fn listing(items: impl Iterator<Item = String>) -> String {
    const SHOWN: usize = 10;
    let mut all: Vec<String> = items.take(SHOWN + 1).collect();
    if all.len() > SHOWN {
        all.truncate(SHOWN);
        all.push("…".to_owned());
    }
    if all.is_empty() {
        "none".to_owned()
    } else {
        all.join(", ")
    }
}

#[cfg(test)]
mod tests;
