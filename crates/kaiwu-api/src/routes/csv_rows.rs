//! CSV telemetry import: a header `device,ts,<property>,...` and one row per device and time.
//! `ts` is epoch ms or RFC 3339 (empty: time of arrival); an empty cell is "no value". Cells are
//! read as the property's type in the device's thing model, then validated like JSON telemetry.

use std::collections::{BTreeMap, BTreeSet};

use kaiwu_ingest::Row;
use kaiwu_model::{DataType, DeviceType};
use serde_json::Value;

use crate::error::FieldError;

/// Parsed CSV before cells are typed.
pub(crate) struct Table {
    columns: Vec<String>,
    records: Vec<(String, String, Vec<String>)>,
}

impl Table {
    /// Devices named in the data.
    pub(crate) fn devices(&self) -> BTreeSet<String> {
        self.records.iter().map(|(d, _, _)| d.clone()).collect()
    }
}

/// Read and check the CSV structure (header, field counts), at most `max_rows` records.
pub(crate) fn parse(bytes: &[u8], max_rows: usize) -> Result<Table, Vec<FieldError>> {
    let err = |path: String, message: String| vec![FieldError { path, message }];
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes);
    let header = r
        .headers()
        .map_err(|e| err("header".into(), format!("unreadable CSV header: {e}")))?
        .clone();
    let cols: Vec<String> = header.iter().map(|h| h.trim().to_owned()).collect();
    if cols.len() < 3 || cols[0] != "device" || cols[1] != "ts" {
        return Err(err(
            "header".into(),
            "the header must be `device,ts,<property>,...`".into(),
        ));
    }
    let columns = cols[2..].to_vec();
    let mut records = Vec::new();
    for (i, rec) in r.records().enumerate() {
        if i >= max_rows {
            return Err(err(
                format!("[{i}]"),
                format!("at most {max_rows} rows per request"),
            ));
        }
        let rec = rec.map_err(|e| err(format!("[{i}]"), format!("malformed CSV record: {e}")))?;
        if rec.len() != cols.len() {
            return Err(err(
                format!("[{i}]"),
                format!("expected {} fields, found {}", cols.len(), rec.len()),
            ));
        }
        let mut it = rec.iter().map(str::to_owned);
        let device = it.next().unwrap_or_default();
        let ts = it.next().unwrap_or_default();
        records.push((device, ts, it.collect()));
    }
    Ok(Table { columns, records })
}

/// A cell as JSON, read as the property's type (so `"007"` stays a string for string properties
/// and becomes 7 for numbers). Text that does not fit stays text and fails validation with the
/// usual message.
fn cell(t: Option<DataType>, s: &str) -> Value {
    let text = || Value::String(s.to_owned());
    match t {
        Some(DataType::Bool) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => text(),
        },
        Some(DataType::Int | DataType::Enum) => s
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| text()),
        Some(DataType::Float) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(text),
        Some(DataType::Timestamp) => kaiwu_query::parse_time(s.trim())
            .map(Value::from)
            .unwrap_or_else(|_| text()),
        Some(DataType::Json) => serde_json::from_str(s).unwrap_or_else(|_| text()),
        Some(DataType::String) | None => text(),
    }
}

/// Typed rows; `types` maps each known device to its thing model (unknown devices pass through
/// and are refused by ingest with their row number).
pub(crate) fn rows(
    t: Table,
    types: &BTreeMap<String, DeviceType>,
) -> Result<Vec<Row>, Vec<FieldError>> {
    let mut out = Vec::with_capacity(t.records.len());
    let mut errors = Vec::new();
    for (i, (device, ts, cells)) in t.records.into_iter().enumerate() {
        let dt = types.get(&device);
        let ts = match ts.trim() {
            "" => None,
            s => match kaiwu_query::parse_time(s) {
                Ok(v) => Some(v),
                Err(e) => {
                    errors.push(FieldError {
                        path: format!("[{i}].ts"),
                        message: e.to_string(),
                    });
                    continue;
                }
            },
        };
        let mut values = serde_json::Map::new();
        for (col, c) in t.columns.iter().zip(cells) {
            if !c.is_empty() {
                let ty = dt.and_then(|d| d.property(col)).map(|p| p.r#type);
                values.insert(col.clone(), cell(ty, &c));
            }
        }
        out.push(Row { device, ts, values });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_follow_the_model() {
        let dt = DeviceType::from_json(
            br#"{"id":"m","properties":[{"id":"v","type":"float"},{"id":"on","type":"bool"},
               {"id":"code","type":"string"},{"id":"cfg","type":"json"}]}"#,
        )
        .unwrap();
        let csv = "device,ts,v,on,code,cfg\nd1,1000,1.5,1,007,\"{\"\"a\"\":1}\"\nd1,2024-01-01T00:00:00Z,,false,x,\n";
        let t = parse(csv.as_bytes(), 10).unwrap();
        let types = BTreeMap::from([("d1".to_string(), dt)]);
        let rows = rows(t, &types).unwrap();
        assert_eq!(rows[0].ts, Some(1000));
        assert_eq!(
            Value::Object(rows[0].values.clone()),
            serde_json::json!({"v": 1.5, "on": true, "code": "007", "cfg": {"a": 1}})
        );
        assert_eq!(rows[1].ts, Some(1_704_067_200_000));
        assert!(!rows[1].values.contains_key("v"), "empty cell is no value");
    }

    #[test]
    fn structure_errors_name_the_row() {
        assert!(parse(b"ts,device,v\n", 10).is_err());
        let e = parse(b"device,ts,v\nd1,1\n", 10).err().unwrap();
        assert_eq!(e[0].path, "[0]");
        assert!(parse(b"device,ts,v\nd,1,1\nd,2,2\n", 1).is_err());
        let t = parse(b"device,ts,v\nd1,yesterday,1\n", 10).unwrap();
        assert_eq!(rows(t, &BTreeMap::new()).err().unwrap()[0].path, "[0].ts");
    }
}
