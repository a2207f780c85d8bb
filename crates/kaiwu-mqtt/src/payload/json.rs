//! Helpers shared by the payload decoders: parsing, JSON paths, typed field access.

use serde_json::{Map, Value};

use super::error::{PayloadError, Result};
use super::{MAX_KEYS, MAX_NAME_LEN};

/// The path of the whole payload.
pub(super) const ROOT: &str = "$";

/// Keys longer than this are shortened in error paths so one bad key cannot bloat a log line.
const PATH_KEY_SHOWN: usize = 64;

/// Parses a payload. serde_json's default recursion limit (128) stays on: it bounds nesting.
pub(super) fn parse(bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| PayloadError::NotJson(e.to_string()))
}

/// The JSON type of a value, for error messages.
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `parent` extended by an object key.
pub(super) fn key_path(parent: &str, key: &str) -> String {
    let shown = shorten(key);
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| !c.is_whitespace() && !matches!(c, '.' | '[' | ']' | '"' | '$'));
    let parent = if parent == ROOT { "" } else { parent };
    if plain {
        if parent.is_empty() {
            shown
        } else {
            format!("{parent}.{shown}")
        }
    } else {
        // A JSON string literal is unambiguous and escapes control characters.
        format!("{parent}[{}]", Value::String(shown))
    }
}

/// `parent` extended by an array index.
pub(super) fn index_path(parent: &str, index: usize) -> String {
    let parent = if parent == ROOT { "" } else { parent };
    format!("{parent}[{index}]")
}

fn shorten(key: &str) -> String {
    match key.char_indices().nth(PATH_KEY_SHOWN) {
        Some((cut, _)) => format!("{}…", &key[..cut]),
        None => key.to_owned(),
    }
}

/// A short rendering of an offending value for error messages.
pub(super) fn shown_value(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// The value as an object, or a type error at `path`.
pub(super) fn into_object(v: Value, path: &str) -> Result<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(wrong_type(path, "object", &other)),
    }
}

pub(super) fn wrong_type(path: &str, expected: &'static str, found: &Value) -> PayloadError {
    PayloadError::WrongType {
        path: path.to_owned(),
        expected,
        found: type_name(found),
    }
}

/// Checks a name (key, device, method): non-empty and at most [`MAX_NAME_LEN`] bytes.
pub(super) fn check_name(name: &str, path: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "must not be empty"
    } else if name.len() > MAX_NAME_LEN {
        "is longer than 256 bytes"
    } else {
        return Ok(());
    };
    Err(PayloadError::BadName {
        path: path.to_owned(),
        reason,
    })
}

/// Validates a flat key/value map (a telemetry row's values or a set of attributes): not
/// empty, at most [`MAX_KEYS`] keys, sane key names, no nulls.
pub(super) fn check_values(
    values: &Map<String, Value>,
    path: &str,
    what: &'static str,
) -> Result<()> {
    if values.is_empty() {
        return Err(PayloadError::Empty {
            path: path.to_owned(),
            what,
        });
    }
    if values.len() > MAX_KEYS {
        return Err(PayloadError::TooMany {
            path: path.to_owned(),
            what: "keys",
            limit: MAX_KEYS,
        });
    }
    for (k, v) in values {
        let here = key_path(path, k);
        check_name(k, &here)?;
        if v.is_null() {
            return Err(PayloadError::NullValue { path: here });
        }
    }
    Ok(())
}

/// Removes a required string field (a device or method name) and validates it as a name.
pub(super) fn take_name(
    obj: &mut Map<String, Value>,
    field: &'static str,
    path: &str,
) -> Result<String> {
    let here = key_path(path, field);
    match obj.remove(field) {
        None => Err(PayloadError::MissingField {
            path: path.to_owned(),
            field,
        }),
        Some(Value::String(s)) => {
            check_name(&s, &here)?;
            Ok(s)
        }
        Some(other) => Err(wrong_type(&here, "string", &other)),
    }
}

/// Removes a required request id: a non-negative integer.
pub(super) fn take_id(obj: &mut Map<String, Value>, path: &str) -> Result<u64> {
    let here = key_path(path, "id");
    match obj.remove("id") {
        None => Err(PayloadError::MissingField {
            path: path.to_owned(),
            field: "id",
        }),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| wrong_type(&here, "non-negative integer", &v)),
    }
}

/// A list of keys given either as an array of strings or as one comma-separated string (the
/// device API's `"clientKeys":"a,b"`). Blank entries of the string form are skipped.
pub(super) fn key_list(v: Value, path: &str) -> Result<Vec<String>> {
    let keys: Vec<String> = match v {
        Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect(),
        Value::Array(items) => {
            let mut keys = Vec::with_capacity(items.len().min(MAX_KEYS));
            for (i, item) in items.into_iter().enumerate() {
                let here = index_path(path, i);
                match item {
                    Value::String(s) => {
                        check_name(&s, &here)?;
                        keys.push(s);
                    }
                    other => return Err(wrong_type(&here, "string", &other)),
                }
            }
            keys
        }
        other => return Err(wrong_type(path, "string or array of strings", &other)),
    };
    if keys.len() > MAX_KEYS {
        return Err(PayloadError::TooMany {
            path: path.to_owned(),
            what: "keys",
            limit: MAX_KEYS,
        });
    }
    for k in &keys {
        check_name(k, path)?;
    }
    Ok(keys)
}

/// Serialises a JSON value; `Value`'s `Display` cannot fail, unlike `to_vec`.
pub(super) fn to_bytes(v: &Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use kaiwu_core::ErrorKind;

    use super::*;

    #[test]
    fn paths() {
        assert_eq!(key_path(ROOT, "temp"), "temp");
        assert_eq!(key_path("[2]", "values"), "[2].values");
        assert_eq!(key_path(ROOT, "Device A"), r#"["Device A"]"#);
        assert_eq!(key_path("x", "a.b"), r#"x["a.b"]"#);
        assert_eq!(key_path(ROOT, "q\"\n"), r#"["q\"\n"]"#);
        assert_eq!(index_path(ROOT, 0), "[0]");
        assert_eq!(index_path("A", 3), "A[3]");
        let long = "k".repeat(1000);
        assert_eq!(
            key_path(ROOT, &long),
            format!("{}…", "k".repeat(PATH_KEY_SHOWN))
        );
        let shown = shown_value(&Value::String("é".repeat(100)));
        assert_eq!(shown.chars().count(), 41);
    }

    #[test]
    fn kinds() {
        assert_eq!(
            PayloadError::NotJson(String::new()).kind(),
            ErrorKind::BadRequest
        );
        let too_many = PayloadError::TooMany {
            path: ROOT.to_owned(),
            what: "rows",
            limit: 1,
        };
        assert_eq!(too_many.kind(), ErrorKind::TooLarge);
        let empty = PayloadError::Empty {
            path: ROOT.to_owned(),
            what: "rows",
        };
        assert_eq!(empty.kind(), ErrorKind::Invalid);
    }
}
