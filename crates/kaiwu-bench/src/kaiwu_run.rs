//! Kaiwu at its storage API: `BatchBuilder::push_values` + `Tsdb::write` (fsync) + `flush`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use kaiwu_core::{Quality, Value};
use kaiwu_model::{BatchBuilder, DeviceType};
use kaiwu_tsdb::{Tsdb, TsdbOptions};

use crate::report::Measure;
use crate::sys;
use crate::tsbs::{Dataset, FIELDS};

/// Rows per `Tsdb::write` call.
pub(crate) const BATCH_ROWS: usize = 10_000;

/// The `cpu` device type: ten float properties.
pub(crate) fn cpu_type() -> anyhow::Result<DeviceType> {
    let props: Vec<serde_json::Value> = FIELDS
        .iter()
        .map(|f| serde_json::json!({"id": f, "type": "float", "unit": "%", "min": 0, "max": 100}))
        .collect();
    let doc = serde_json::json!({"id": "cpu", "name": "TSBS cpu", "properties": props});
    DeviceType::from_json(doc.to_string().as_bytes()).context("building the cpu device type")
}

/// What one Kaiwu run measured beyond the common figures.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KaiwuDisk {
    /// `Tsdb::disk_bytes` after flush (segments + rollups + WAL).
    pub(crate) engine_bytes: u64,
    /// Files under `tsdb/`, excluding rollups.
    pub(crate) segment_bytes: u64,
    /// Files under `tsdb/` including rollups.
    pub(crate) segment_rollup_bytes: u64,
}

/// Ingest the whole data set into a fresh engine in a temp dir.
pub(crate) fn run(data: &Dataset, tck: f64) -> anyhow::Result<(Measure, KaiwuDisk)> {
    let dt = cpu_type()?;
    let dir = tempfile::tempdir().context("creating a temp dir for kaiwu")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting a tokio runtime")?;
    let (db, _) = Tsdb::open(dir.path(), TsdbOptions::default()).context("opening the tsdb")?;
    let db = Arc::new(db);
    let rss_reset = sys::reset_peak_rss();
    let cpu0 = sys::self_cpu_seconds(tck);
    let t0 = Instant::now();
    rt.block_on(ingest(&db, data, &dt))?;
    let seconds = t0.elapsed().as_secs_f64();
    let cpu = sys::self_cpu_seconds(tck) - cpu0;
    let peak = if rss_reset { sys::peak_rss_kib() } else { None };
    let (all, rollup) = sys::dir_bytes(&dir.path().join("tsdb"));
    let disk = KaiwuDisk {
        engine_bytes: db.disk_bytes(),
        segment_bytes: all - rollup,
        segment_rollup_bytes: all,
    };
    let db = Arc::try_unwrap(db).map_err(|_| anyhow::anyhow!("tsdb still shared"))?;
    rt.block_on(db.shutdown()).context("closing the tsdb")?;
    let m = Measure {
        seconds,
        cpu_seconds: Some(cpu),
        peak_rss_kib: peak,
        bytes: Some(disk.segment_rollup_bytes),
    };
    Ok((m, disk))
}

/// Write the whole data set through the storage API. Flushes run in the background as the
/// node's flush loop runs them (writes go on into a fresh memtable meanwhile); the last one is
/// awaited.
pub(crate) async fn ingest(db: &Arc<Tsdb>, data: &Dataset, dt: &DeviceType) -> anyhow::Result<()> {
    let mut row = vec![None; FIELDS.len()];
    let mut r = 0;
    let mut flushing: Option<tokio::task::JoinHandle<kaiwu_tsdb::Result<kaiwu_tsdb::FlushStats>>> =
        None;
    while r < data.rows() {
        let mut b = BatchBuilder::new("bench", dt);
        for i in r..(r + BATCH_ROWS).min(data.rows()) {
            let (ts, h, vals) = data.row(i);
            for (slot, v) in row.iter_mut().zip(vals) {
                *slot = Some((Value::Float(*v), Quality::Good));
            }
            b.push_values(&data.tags[h][0], ts, &row);
        }
        r += b.len();
        db.write(b.finish().context("finishing a batch")?)
            .await
            .context("writing a batch")?;
        let idle = flushing.as_ref().is_none_or(|f| f.is_finished());
        if idle && db.flush_due() {
            if let Some(f) = flushing.take() {
                f.await.context("flush task")?.context("flushing")?;
            }
            let db = db.clone();
            flushing = Some(tokio::spawn(async move { db.flush().await }));
        }
    }
    if let Some(f) = flushing.take() {
        f.await.context("flush task")?.context("flushing")?;
    }
    db.flush().await.context("flushing")?;
    Ok(())
}
