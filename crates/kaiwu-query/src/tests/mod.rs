//! Tests over a fake catalog holding real data: Parquet segments in a temporary directory and
//! in-memory batches, both built with `kaiwu_model::BatchBuilder`.

mod history;
mod limits;
mod output;
mod pruning;
mod rollup;
mod sql;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::{max, min};
use datafusion::arrow::datatypes::TimestampMillisecondType;
use datafusion::parquet::arrow::ArrowWriter;
use kaiwu_model::{BatchBuilder, DeviceType};
use kaiwu_tsdb::{Resolution, RollupSnapshot, SegmentFile, TableSnapshot, TimeRange};
use serde_json::{Value, json};

use crate::{Catalog, DeviceInfo, QueryEngine, QueryLimits, QueryOutput};

pub(super) const ACME: &str = "acme";
pub(super) const OTHER: &str = "other";

/// `cnc` as it is now (version 2 added `temp`).
pub(super) fn cnc_v2() -> DeviceType {
    DeviceType::from_json(
        br#"{"id":"cnc","version":2,"properties":[
          {"id":"speed","type":"float","min":0,"max":100},
          {"id":"state","type":"enum","values":{"0":"idle","1":"run"}},
          {"id":"note","type":"string"},
          {"id":"temp","type":"int"}]}"#,
    )
    .unwrap()
}

fn cnc_v1() -> DeviceType {
    let mut dt = cnc_v2();
    dt.version = 1;
    dt.properties.retain(|p| p.id != "temp");
    dt
}

fn pump() -> DeviceType {
    DeviceType::from_json(
        br#"{"id":"pump","properties":[
          {"id":"flow","type":"float"},{"id":"on","type":"bool"},
          {"id":"cfg","type":"json"},{"id":"since","type":"timestamp"}]}"#,
    )
    .unwrap()
}

fn secret() -> DeviceType {
    DeviceType::from_json(br#"{"id":"secret","properties":[{"id":"x","type":"float"}]}"#).unwrap()
}

/// Rows of `dt` in its storage schema.
pub(super) fn rows(dt: &DeviceType, rows: &[(&str, i64, Value)]) -> RecordBatch {
    let mut b = BatchBuilder::new(ACME, dt);
    for (device, ts, v) in rows {
        b.push_json(device, *ts, v.as_object().unwrap()).unwrap();
    }
    b.finish().unwrap().rows
}

/// Writes `batch` as one Parquet segment.
pub(super) fn segment(dir: &Path, name: &str, batch: &RecordBatch) -> SegmentFile {
    let path = dir.join(name);
    let mut w = ArrowWriter::try_new(File::create(&path).unwrap(), batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
    let ts = batch.column(0).as_primitive::<TimestampMillisecondType>();
    SegmentFile {
        min_ts: min(ts).unwrap(),
        max_ts: max(ts).unwrap(),
        rows: batch.num_rows() as u64,
        bytes: std::fs::metadata(&path).unwrap().len(),
        path,
    }
}

/// A catalog over fixed data that records what it was asked.
#[derive(Default)]
pub(super) struct Fake {
    pub(super) types: BTreeMap<String, Vec<DeviceType>>,
    pub(super) devices: BTreeMap<String, Vec<DeviceInfo>>,
    pub(super) data: BTreeMap<(String, String), TableSnapshot>,
    /// Return every file whatever the range (to prove the engine checks too).
    pub(super) ignore_range: bool,
    pub(super) asked: Mutex<Vec<(String, TimeRange)>>,
}

impl Fake {
    pub(super) fn asked(&self) -> Vec<(String, TimeRange)> {
        self.asked.lock().unwrap().clone()
    }

    pub(super) fn clear_asked(&self) {
        self.asked.lock().unwrap().clear();
    }
}

impl Catalog for Fake {
    fn device_types(&self, tenant: &str) -> Result<Vec<DeviceType>, String> {
        Ok(self.types.get(tenant).cloned().unwrap_or_default())
    }

    fn devices(&self, tenant: &str) -> Result<Vec<DeviceInfo>, String> {
        Ok(self.devices.get(tenant).cloned().unwrap_or_default())
    }

    fn snapshot(&self, tenant: &str, ty: &str, range: TimeRange) -> Result<TableSnapshot, String> {
        self.asked.lock().unwrap().push((ty.to_owned(), range));
        let Some(s) = self.data.get(&(tenant.to_owned(), ty.to_owned())) else {
            return Err(format!("no table {ty} in tenant {tenant}"));
        };
        let files = s
            .files
            .iter()
            .filter(|f| self.ignore_range || range.overlaps(f.min_ts, f.max_ts))
            .cloned()
            .collect();
        Ok(TableSnapshot {
            files,
            batches: s.batches.clone(),
        })
    }

    /// Hand-made segments have no rollups: history keeps reading raw rows.
    fn rollup_snapshot(
        &self,
        _: &str,
        _: &str,
        _: Resolution,
        _: TimeRange,
    ) -> Result<Option<RollupSnapshot>, String> {
        Ok(None)
    }
}

/// The standard data set. `cnc` has 10 rows: 4 in a version-1 segment (no `temp`), 3 in a
/// version-2 segment, 3 in memory (one batch still in the version-1 schema).
pub(super) struct Fixture {
    pub(super) dir: tempfile::TempDir,
    pub(super) fake: Arc<Fake>,
}

pub(super) fn fixture() -> Fixture {
    fixture_with(|_, _| {})
}

/// The data set, changed by `f` before it is frozen.
pub(super) fn fixture_with(f: impl FnOnce(&mut Fake, &Path)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (v1, v2, pump, secret) = (cnc_v1(), cnc_v2(), pump(), secret());
    let seg1 = rows(
        &v1,
        &[
            (
                "m1",
                1000,
                json!({"speed": 10, "state": "run", "note": "a"}),
            ),
            ("m2", 1000, json!({"speed": 20})),
            ("m1", 2000, json!({"speed": 30, "state": "idle"})),
            ("m1", 3000, json!({"speed": 150})),
        ],
    );
    let seg2 = rows(
        &v2,
        &[
            ("m1", 4000, json!({"speed": 40, "temp": 60})),
            (
                "m2",
                5000,
                json!({"speed": 50, "temp": 61, "note": "x,\"y\""}),
            ),
            ("m1", 6000, json!({"temp": 62})),
        ],
    );
    let mem2 = rows(
        &v2,
        &[
            ("m1", 7000, json!({"speed": 70, "temp": 63})),
            ("m2", 8000, json!({"speed": 80})),
        ],
    );
    let mem1 = rows(&v1, &[("m1", 7500, json!({"speed": 75}))]);
    let pump_seg = rows(
        &pump,
        &[
            (
                "p1",
                1000,
                json!({"flow": 1.5, "on": true, "cfg": {"a": 1}}),
            ),
            ("p1", 2000, json!({"flow": 2.5, "on": false, "since": 1234})),
        ],
    );
    let pump_mem = rows(&pump, &[("p1", 3000, json!({"flow": 3.5}))]);
    let secret_mem = rows(&secret, &[("s1", 1000, json!({"x": 1.0}))]);
    let mut fake = Fake::default();
    let snap = |files, batches| TableSnapshot { files, batches };
    let key = |t: &str, ty: &str| (t.to_owned(), ty.to_owned());
    fake.data.insert(
        key(ACME, "cnc"),
        snap(
            vec![
                segment(dir.path(), "cnc-1.parquet", &seg1),
                segment(dir.path(), "cnc-2.parquet", &seg2),
            ],
            vec![mem2, mem1],
        ),
    );
    fake.data.insert(
        key(ACME, "pump"),
        snap(
            vec![segment(dir.path(), "pump-1.parquet", &pump_seg)],
            vec![pump_mem],
        ),
    );
    fake.data
        .insert(key(OTHER, "secret"), snap(vec![], vec![secret_mem]));
    fake.types.insert(ACME.into(), vec![v2, pump]);
    fake.types.insert(OTHER.into(), vec![secret]);
    let dev = |id: &str, ty: &str, asset: Option<&str>, labels: &[(&str, &str)]| DeviceInfo {
        id: id.into(),
        device_type: ty.into(),
        name: format!("{id} name"),
        asset: asset.map(Into::into),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
    };
    fake.devices.insert(
        ACME.into(),
        vec![
            dev("m1", "cnc", Some("line1"), &[("zone", "a")]),
            dev("m2", "cnc", None, &[]),
            dev("p1", "pump", Some("line1"), &[]),
        ],
    );
    fake.devices
        .insert(OTHER.into(), vec![dev("s1", "secret", None, &[])]);
    f(&mut fake, dir.path());
    Fixture {
        dir,
        fake: Arc::new(fake),
    }
}

impl Fixture {
    pub(super) fn engine(&self) -> QueryEngine {
        self.engine_with(QueryLimits::default())
    }

    pub(super) fn engine_with(&self, limits: QueryLimits) -> QueryEngine {
        QueryEngine::new(Arc::clone(&self.fake) as Arc<dyn Catalog>, limits).unwrap()
    }
}

/// The JSON rows of a result.
pub(super) fn json_rows(out: &QueryOutput) -> Vec<Value> {
    match out.to_json(usize::MAX).unwrap()["rows"].take() {
        Value::Array(rows) => rows,
        other => panic!("rows: {other}"),
    }
}

/// Runs `sql` as `acme` and returns its JSON rows.
pub(super) async fn query(engine: &QueryEngine, sql: &str) -> Vec<Value> {
    let out = engine
        .sql(ACME, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    json_rows(&out)
}
