//! Latest value per device and property, kept in memory so `/latest` and shadows never touch
//! disk. Persisted at each flush and rebuilt from the WAL replay on start.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::RwLock;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType, UInt8Type};
use arrow_array::{Array, ArrayRef, PrimitiveArray, RecordBatch};
use arrow_schema::DataType;
use kaiwu_core::batch::{DEVICE, QUALITY_PREFIX, TS, quality_column, quality_from_code};
use kaiwu_core::{Batch, Quality};
use serde::{Deserialize, Serialize};

/// One property's latest reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatestValue {
    /// Epoch ms of the reading.
    pub ts: i64,
    /// The value (json properties as their text).
    pub value: serde_json::Value,
    /// Its quality.
    pub quality: Quality,
}

type Device = BTreeMap<String, LatestValue>;
type Tenant = HashMap<String, Device>;

#[derive(Debug, Default)]
pub(crate) struct Latest {
    map: RwLock<HashMap<String, Tenant>>,
}

/// The value at `i` as JSON, or `None` when null.
type ValueColumn<'a> = (&'a str, &'a ArrayRef, Option<&'a PrimitiveArray<UInt8Type>>);

/// The value columns of a storage batch with their quality columns. The storage layout puts
/// the quality of property k at k + (number of properties), so that guess is tried first: a
/// wide type would otherwise cost a search by name per column.
fn value_columns(rows: &RecordBatch) -> Vec<ValueColumn<'_>> {
    let schema = rows.schema_ref();
    let fields = schema.fields();
    let n = fields.len();
    let props = n.saturating_sub(2) / 2;
    let is_quality_of =
        |k: usize, name: &str| k < n && fields[k].name().strip_prefix(QUALITY_PREFIX) == Some(name);
    fields
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            let name = f.name();
            name != TS && name != DEVICE && !name.starts_with(QUALITY_PREFIX)
        })
        .map(|(j, f)| {
            let name = f.name().as_str();
            let q = if is_quality_of(j + props, name) {
                Some(j + props)
            } else {
                schema.index_of(&quality_column(name)).ok()
            };
            let q = q.map(|k| rows.column(k).as_primitive::<UInt8Type>());
            (name, rows.column(j), q)
        })
        .collect()
}

fn json_at(col: &ArrayRef, i: usize) -> Option<serde_json::Value> {
    if col.is_null(i) {
        return None;
    }
    Some(match col.data_type() {
        DataType::Boolean => col.as_boolean().value(i).into(),
        DataType::Int64 => col.as_primitive::<Int64Type>().value(i).into(),
        DataType::Float64 => {
            serde_json::Number::from_f64(col.as_primitive::<Float64Type>().value(i))
                .map_or(serde_json::Value::Null, serde_json::Value::Number)
        }
        DataType::Utf8 => col.as_string::<i32>().value(i).into(),
        DataType::Timestamp(_, _) => col
            .as_primitive::<TimestampMillisecondType>()
            .value(i)
            .into(),
        _ => return None,
    })
}

impl Latest {
    pub(crate) fn update(&self, b: &Batch) {
        let rows = &b.rows;
        let schema = rows.schema();
        let (Ok(ts), Ok(dev)) = (schema.index_of(TS), schema.index_of(DEVICE)) else {
            return;
        };
        let ts = rows.column(ts).as_primitive::<TimestampMillisecondType>();
        let dev = rows.column(dev).as_string::<i32>();
        let cols = value_columns(rows);
        let mut by_device: HashMap<&str, Vec<usize>> = HashMap::new();
        for i in 0..rows.num_rows() {
            by_device.entry(dev.value(i)).or_default().push(i);
        }
        let mut map = self
            .map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tenant = map.entry(b.tenant.clone()).or_default();
        for (device, ix) in by_device {
            for (name, col, q) in &cols {
                let bad_marker = |i: usize| {
                    q.is_some_and(|q| {
                        !q.is_null(i) && quality_from_code(q.value(i)) == Quality::Bad
                    })
                };
                // The device's newest row that holds a value or a bad marker for this column.
                let mut newest: Option<usize> = None;
                for &i in &ix {
                    if (!col.is_null(i) || bad_marker(i))
                        && newest.is_none_or(|n| ts.value(i) >= ts.value(n))
                    {
                        newest = Some(i);
                    }
                }
                let Some(i) = newest else {
                    continue;
                };
                let t = ts.value(i);
                let quality = q
                    .filter(|q| !q.is_null(i))
                    .map_or(Quality::Good, |q| quality_from_code(q.value(i)));
                let Some(value) = json_at(col, i) else {
                    // An unreadable point (null, quality bad) keeps its last value but shows
                    // that it is no longer current.
                    if quality == Quality::Bad
                        && let Some(cur) = tenant.get_mut(device).and_then(|d| d.get_mut(*name))
                        && cur.ts <= t
                    {
                        cur.quality = Quality::Bad;
                    }
                    continue;
                };
                let d = match tenant.get_mut(device) {
                    Some(d) => d,
                    None => tenant.entry(device.to_owned()).or_default(),
                };
                let v = LatestValue {
                    ts: t,
                    value,
                    quality,
                };
                match d.get_mut(*name) {
                    Some(cur) if cur.ts > t => {}
                    Some(cur) => *cur = v,
                    None => {
                        d.insert((*name).to_owned(), v);
                    }
                }
            }
        }
    }

    pub(crate) fn get(&self, tenant: &str, device: &str) -> Option<Device> {
        let map = self
            .map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(tenant)?.get(device).cloned()
    }

    /// Forget a device (deleted from the registry).
    pub(crate) fn remove(&self, tenant: &str, device: &str) {
        let mut map = self
            .map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(t) = map.get_mut(tenant) {
            t.remove(device);
        }
    }

    pub(crate) fn to_json(&self) -> Vec<u8> {
        let map = self
            .map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        serde_json::to_vec(&*map).unwrap_or_default()
    }

    /// Load a persisted snapshot; a damaged one is ignored (the WAL and later writes refill it).
    pub(crate) fn load(path: &Path) -> Self {
        let map = match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "latest-value snapshot unreadable; starting empty");
                HashMap::new()
            }),
            Err(_) => HashMap::new(),
        };
        Self {
            map: RwLock::new(map),
        }
    }
}
