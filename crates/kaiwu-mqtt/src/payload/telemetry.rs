//! Telemetry rows: `v1/devices/me/telemetry` and the per-device lists of `v1/gateway/telemetry`.

use serde_json::{Map, Value};

use super::MAX_ROWS;
use super::error::{PayloadError, Result};
use super::json::{self, ROOT};

/// One set of values sharing a timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryRow {
    /// Epoch milliseconds from the payload; `None` means "time of arrival" (the caller stamps it).
    pub ts: Option<i64>,
    /// Key -> value, in payload order. Never empty, never holds `null`.
    pub values: Map<String, Value>,
}

/// Decodes a device telemetry payload.
///
/// Accepted forms, as in ThingsBoard: a flat object `{"temp":21.5,"on":true}`, a timestamped
/// row `{"ts":1700000000000,"values":{..}}`, or a non-empty array of either.
///
/// An object is a timestamped row exactly when it has a `ts` key; it must then hold only `ts`
/// and `values` (ThingsBoard would silently store `ts` as a telemetry key of a flat object,
/// which is never what the sender meant, so it is rejected instead).
///
/// `ts` must be a non-negative integer of epoch milliseconds. A float with an integral value
/// (`1.7e12`, as some JSON encoders print large numbers) is accepted; a fractional one is
/// rejected because it almost always means seconds (`time.time()`), not milliseconds, and
/// strings are rejected.
pub fn decode_telemetry(bytes: &[u8]) -> Result<Vec<TelemetryRow>> {
    let mut rows = Vec::new();
    push_rows(json::parse(bytes)?, ROOT, &mut rows)?;
    Ok(rows)
}

/// Appends the rows of one telemetry value (object or array of objects) at `path` to `out`,
/// keeping `out` within [`MAX_ROWS`] overall, so gateway payloads share one budget.
pub(super) fn push_rows(v: Value, path: &str, out: &mut Vec<TelemetryRow>) -> Result<()> {
    match v {
        Value::Object(obj) => {
            reserve(out, 1, path)?;
            out.push(row(obj, path)?);
        }
        Value::Array(items) => {
            if items.is_empty() {
                return Err(PayloadError::Empty {
                    path: path.to_owned(),
                    what: "rows",
                });
            }
            reserve(out, items.len(), path)?;
            for (i, item) in items.into_iter().enumerate() {
                let here = json::index_path(path, i);
                match item {
                    Value::Object(obj) => out.push(row(obj, &here)?),
                    Value::Array(_) => return Err(PayloadError::NestedArray { path: here }),
                    other => return Err(json::wrong_type(&here, "object", &other)),
                }
            }
        }
        other => return Err(json::wrong_type(path, "object or array", &other)),
    }
    Ok(())
}

fn reserve(out: &mut Vec<TelemetryRow>, more: usize, path: &str) -> Result<()> {
    if out.len().saturating_add(more) > MAX_ROWS {
        return Err(PayloadError::TooMany {
            path: path.to_owned(),
            what: "rows",
            limit: MAX_ROWS,
        });
    }
    out.reserve(more);
    Ok(())
}

fn row(mut obj: Map<String, Value>, path: &str) -> Result<TelemetryRow> {
    let Some(ts) = obj.remove("ts") else {
        json::check_values(&obj, path, "telemetry values")?;
        return Ok(TelemetryRow {
            ts: None,
            values: obj,
        });
    };
    let ts = timestamp(&ts, &json::key_path(path, "ts"))?;
    let values_path = json::key_path(path, "values");
    let values = match obj.remove("values") {
        Some(v) => json::into_object(v, &values_path)?,
        None => {
            return Err(PayloadError::MissingField {
                path: path.to_owned(),
                field: "values",
            });
        }
    };
    if let Some(extra) = obj.keys().next() {
        return Err(PayloadError::UnexpectedField {
            path: path.to_owned(),
            field: extra.clone(),
        });
    }
    json::check_values(&values, &values_path, "telemetry values")?;
    Ok(TelemetryRow {
        ts: Some(ts),
        values,
    })
}

/// Epoch milliseconds: an integer, or a float with an integral value, in `0..=i64::MAX`.
fn timestamp(v: &Value, path: &str) -> Result<i64> {
    let ok = match v {
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => (i >= 0).then_some(i),
            // u64 above i64::MAX also lands here and fails the range check below.
            (None, Some(f)) => integral_ms(f),
            (None, None) => None,
        },
        _ => None,
    };
    ok.ok_or_else(|| PayloadError::BadTimestamp {
        path: path.to_owned(),
        found: json::shown_value(v),
    })
}

fn integral_ms(f: f64) -> Option<i64> {
    // 2^63 as f64; every integral f64 below it converts to i64 exactly.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.is_finite() && f.fract() == 0.0 && (0.0..LIMIT).contains(&f) {
        // Exact: range and integrality are checked above.
        Some(f as i64)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ok(s: &str) -> Vec<TelemetryRow> {
        decode_telemetry(s.as_bytes()).expect("valid telemetry")
    }

    fn err(s: &str) -> PayloadError {
        decode_telemetry(s.as_bytes()).expect_err("invalid telemetry")
    }

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn flat_object_is_one_row_without_ts() {
        let rows = ok(r#"{"temp":21.5,"on":true,"mode":"auto","cfg":{"a":[1,2]}}"#);
        assert_eq!(
            rows,
            vec![TelemetryRow {
                ts: None,
                values: map(json!({"temp":21.5,"on":true,"mode":"auto","cfg":{"a":[1,2]}})),
            }]
        );
        // Payload order is kept.
        let keys: Vec<_> = rows[0].values.keys().cloned().collect();
        assert_eq!(keys, ["temp", "on", "mode", "cfg"]);
    }

    #[test]
    fn timestamped_row() {
        let rows = ok(r#"{"ts":1451649600512,"values":{"k":1}}"#);
        assert_eq!(rows[0].ts, Some(1_451_649_600_512));
        assert_eq!(rows[0].values, map(json!({"k":1})));
    }

    #[test]
    fn array_mixes_both_forms() {
        let rows = ok(r#"[{"ts":1,"values":{"a":1}},{"b":2},{"ts":3,"values":{"c":"x"}}]"#);
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows.iter().map(|r| r.ts).collect::<Vec<_>>(),
            [Some(1), None, Some(3)]
        );
    }

    #[test]
    fn ts_accepts_integral_float_and_rejects_the_rest() {
        assert_eq!(
            ok(r#"{"ts":1.7e12,"values":{"a":1}}"#)[0].ts,
            Some(1_700_000_000_000)
        );
        assert_eq!(ok(r#"{"ts":0,"values":{"a":1}}"#)[0].ts, Some(0));
        for bad in [
            "1.5",
            "-1",
            "\"1700000000000\"",
            "true",
            "null",
            "18446744073709551615",
            "1e300",
        ] {
            let e = err(&format!(r#"{{"ts":{bad},"values":{{"a":1}}}}"#));
            assert!(
                matches!(&e, PayloadError::BadTimestamp { path, .. } if path == "ts"),
                "{bad}: {e}"
            );
        }
        let e = err(r#"[{"a":1},{"ts":1.5,"values":{"a":1}}]"#);
        assert_eq!(
            e.to_string(),
            "at [1].ts: ts must be a non-negative integer of epoch milliseconds, found 1.5"
        );
    }

    #[test]
    fn errors_name_the_path() {
        let cases: &[(&str, &str)] = &[
            ("not json", "payload is not valid json"),
            ("", "payload is not valid json"),
            ("42", "at $: expected object or array, found number"),
            ("[]", "at $: no rows"),
            ("{}", "at $: no telemetry values"),
            (
                r#"[{"a":1},{"a":1},{"ts":1,"values":{}}]"#,
                "at [2].values: no telemetry values",
            ),
            (
                r#"[{"a":1},[{"a":1}]]"#,
                "at [1]: nested arrays are not allowed",
            ),
            (r#"[{"a":1},"x"]"#, "at [1]: expected object, found string"),
            (r#"{"ts":1}"#, "at $: missing field `values`"),
            (
                r#"{"ts":1,"values":[1]}"#,
                "at values: expected object, found array",
            ),
            (
                r#"{"ts":1,"values":{"a":1},"temp":2}"#,
                "at $: unexpected field `temp`",
            ),
            (r#"{"a":null}"#, "at a: null is not a valid value"),
            (
                r#"{"ts":1,"values":{"my key":null}}"#,
                r#"at values["my key"]: null"#,
            ),
            (r#"{"":1}"#, r#"at [""]: must not be empty"#),
        ];
        for (input, want) in cases {
            let got = err(input).to_string();
            assert!(
                got.starts_with(want),
                "{input}: got {got:?}, want prefix {want:?}"
            );
        }
    }

    #[test]
    fn limits() {
        let row = r#"{"a":1}"#;
        let many = format!("[{}]", vec![row; MAX_ROWS].join(","));
        assert_eq!(ok(&many).len(), MAX_ROWS);
        let too_many = format!("[{}]", vec![row; MAX_ROWS + 1].join(","));
        assert!(matches!(
            err(&too_many),
            PayloadError::TooMany { what: "rows", .. }
        ));

        let keys: Vec<String> = (0..=super::super::MAX_KEYS)
            .map(|i| format!("\"k{i}\":1"))
            .collect();
        let e = err(&format!("{{{}}}", keys.join(",")));
        assert!(
            matches!(e, PayloadError::TooMany { what: "keys", .. }),
            "{e}"
        );

        let long = "k".repeat(super::super::MAX_NAME_LEN + 1);
        assert!(matches!(
            err(&format!(r#"{{"{long}":1}}"#)),
            PayloadError::BadName { .. }
        ));

        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(err(&deep), PayloadError::NotJson(_)));
    }

    #[test]
    fn key_named_values_in_a_flat_object_is_a_plain_key() {
        let rows = ok(r#"{"values":{"x":1}}"#);
        assert_eq!(rows[0].ts, None);
        assert_eq!(rows[0].values, map(json!({"values":{"x":1}})));
    }
}
