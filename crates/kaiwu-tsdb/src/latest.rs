//! Latest value per device and property, kept in memory so `/latest` and shadows never touch
//! disk. Persisted at each flush and rebuilt from the WAL replay on start.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::RwLock;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType, UInt8Type};
use arrow_array::{Array, ArrayRef};
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
        let (Some(ts), Some(dev)) = (rows.column_by_name(TS), rows.column_by_name(DEVICE)) else {
            return;
        };
        let ts = ts.as_primitive::<TimestampMillisecondType>();
        let dev = dev.as_string::<i32>();
        let schema = rows.schema();
        // Reduce each property to its newest row per device before taking the lock, so the
        // cache is touched (and keys allocated) once per device and property, not per row.
        // Among equal timestamps the later row wins, as if the rows were applied in order.
        let mut newest: Vec<(&str, HashMap<&str, usize>)> = Vec::new();
        for (f, col) in schema.fields().iter().zip(rows.columns()) {
            let name = f.name();
            if name == TS || name == DEVICE || name.starts_with(QUALITY_PREFIX) {
                continue;
            }
            let mut per_device: HashMap<&str, usize> = HashMap::new();
            // Null values count only as markers of unreadable points (quality bad).
            let q = rows
                .column_by_name(&quality_column(name))
                .map(|q| q.as_primitive::<UInt8Type>());
            let bad_marker = |i: usize| {
                q.is_some_and(|q| !q.is_null(i) && quality_from_code(q.value(i)) == Quality::Bad)
            };
            for i in (0..rows.num_rows()).filter(|i| !col.is_null(*i) || bad_marker(*i)) {
                let e = per_device.entry(dev.value(i)).or_insert(i);
                if ts.value(i) >= ts.value(*e) {
                    *e = i;
                }
            }
            newest.push((name.as_str(), per_device));
        }
        let mut map = self
            .map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tenant = map.entry(b.tenant.clone()).or_default();
        for (name, per_device) in newest {
            let Some(col) = rows.column_by_name(name) else {
                continue;
            };
            let q = rows.column_by_name(&quality_column(name));
            let q = q.map(|q| q.as_primitive::<UInt8Type>());
            for (device, i) in per_device {
                let t = ts.value(i);
                let quality = q
                    .filter(|q| !q.is_null(i))
                    .map_or(Quality::Good, |q| quality_from_code(q.value(i)));
                let Some(value) = json_at(col, i) else {
                    // An unreadable point (null, quality bad) keeps its last value but shows
                    // that it is no longer current.
                    if quality == Quality::Bad
                        && let Some(cur) = tenant.get_mut(device).and_then(|d| d.get_mut(name))
                        && cur.ts <= t
                    {
                        cur.quality = Quality::Bad;
                    }
                    continue;
                };
                if !tenant.contains_key(device) {
                    tenant.insert(device.to_owned(), Device::new());
                }
                let Some(d) = tenant.get_mut(device) else {
                    continue;
                };
                match d.get_mut(name) {
                    Some(cur) if cur.ts > t => {}
                    Some(cur) => {
                        *cur = LatestValue {
                            ts: t,
                            value,
                            quality,
                        }
                    }
                    None => {
                        d.insert(
                            name.to_owned(),
                            LatestValue {
                                ts: t,
                                value,
                                quality,
                            },
                        );
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
