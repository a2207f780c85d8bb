use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use kaiwu_core::Quality;

use crate::test_util::batch;
use crate::*;

fn opts() -> TsdbOptions {
    TsdbOptions {
        window: std::time::Duration::from_secs(3600),
        ..TsdbOptions::default()
    }
}

/// All values of `v` for tenant `t`, from segments and memory, sorted.
fn values(db: &Tsdb, tenant: &str) -> Vec<f64> {
    let snap = db.snapshot(tenant, "m", TimeRange::ALL);
    let mut batches = snap.batches.clone();
    for f in &snap.files {
        batches.extend(crate::segment::read_all(&f.path).unwrap());
    }
    let mut out: Vec<f64> = batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("v")
                .unwrap()
                .as_primitive::<Float64Type>()
                .values()
                .to_vec()
        })
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

#[tokio::test]
async fn writes_survive_restart_from_wal_and_from_segments() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (db, _) = Tsdb::open(dir.path(), opts()).unwrap();
        db.write(batch("t", &[("d1", 1_000, 1.0), ("d2", 2_000, 2.0)]))
            .await
            .unwrap();
        db.flush().await.unwrap();
        db.write(batch("t", &[("d1", 3_000, 3.0)])).await.unwrap();
        // No shutdown: as after a crash.
    }
    let (db, rep) = Tsdb::open(dir.path(), opts()).unwrap();
    assert_eq!((rep.segments, rep.replayed), (1, 1));
    assert_eq!(values(&db, "t"), vec![1.0, 2.0, 3.0]);
    let l = db.latest("t", "d1").unwrap();
    assert_eq!(l["v"].ts, 3_000);
    assert_eq!(l["v"].value, serde_json::json!(3.0));
    assert_eq!(l["v"].quality, Quality::Good);
    assert!(values(&db, "other").is_empty(), "tenants are separate");
}

#[tokio::test]
async fn unfinished_flush_is_undone_without_loss_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (db, _) = Tsdb::open(dir.path(), opts()).unwrap();
        db.write(batch("t", &[("d1", 1_000, 1.0)])).await.unwrap();
        db.flush().await.unwrap();
        db.write(batch("t", &[("d1", 2_000, 2.0)])).await.unwrap();
    }
    // Simulate a crash after a segment was written but before the marker moved: a copy of the
    // flushed segment claiming a later flush.
    let seg = find_parquet(dir.path());
    let orphan_dir = seg.parent().unwrap();
    let rows = crate::segment::read_all(&seg).unwrap();
    crate::segment::write(orphan_dir, "x.parquet", &rows[0], 99).unwrap();
    let (db, rep) = Tsdb::open(dir.path(), opts()).unwrap();
    assert_eq!(rep.orphans_removed, 1);
    assert_eq!(values(&db, "t"), vec![1.0, 2.0]);
}

#[tokio::test]
async fn corrupt_segment_is_quarantined_not_read() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (db, _) = Tsdb::open(dir.path(), opts()).unwrap();
        db.write(batch("t", &[("d1", 1_000, 1.0)])).await.unwrap();
        db.flush().await.unwrap();
    }
    let seg = find_parquet(dir.path());
    std::fs::write(&seg, b"PAR1 definitely not parquet").unwrap();
    let (db, rep) = Tsdb::open(dir.path(), opts()).unwrap();
    assert_eq!(rep.quarantined.len(), 1);
    assert!(rep.quarantined[0].exists());
    assert!(!seg.exists());
    assert!(values(&db, "t").is_empty());
}

#[tokio::test]
async fn windows_split_segments_and_snapshots_prune_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Tsdb::open(dir.path(), opts()).unwrap();
    let hour = 3_600_000;
    db.write(batch(
        "t",
        &[
            ("d1", 10, 1.0),
            ("d1", hour + 10, 2.0),
            ("d2", 2 * hour + 5, 3.0),
        ],
    ))
    .await
    .unwrap();
    let s = db.flush().await.unwrap();
    assert_eq!((s.rows, s.files), (3, 3));
    let snap = db.snapshot(
        "t",
        "m",
        TimeRange {
            start: Some(hour),
            end: Some(2 * hour),
        },
    );
    assert_eq!(snap.files.len(), 1);
    assert_eq!(
        (snap.files[0].min_ts, snap.files[0].max_ts),
        (hour + 10, hour + 10)
    );
    assert!(snap.batches.is_empty());
    assert_eq!(db.memtable_rows(), 0);
    assert!(db.disk_bytes() > 0);
}

#[tokio::test]
async fn concurrent_writers_and_flushes_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Tsdb::open(dir.path(), opts()).unwrap();
    let db = std::sync::Arc::new(db);
    let mut tasks = Vec::new();
    for w in 0..8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let v = f64::from(w * 1000 + i);
                db.write(batch("t", &[("d", i64::from(w * 1000 + i), v)]))
                    .await
                    .unwrap();
            }
        }));
    }
    let flusher = {
        let db = db.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                db.flush().await.unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    for t in tasks {
        t.await.unwrap();
    }
    flusher.await.unwrap();
    assert_eq!(values(&db, "t").len(), 400);
    drop(db);
    let (db, _) = Tsdb::open(dir.path(), opts()).unwrap();
    assert_eq!(values(&db, "t").len(), 400, "exactly once after recovery");
}

fn find_parquet(root: &std::path::Path) -> std::path::PathBuf {
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() && !p.to_string_lossy().contains("_rollup_") {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                return p;
            }
        }
    }
    panic!("no segment");
}

#[tokio::test]
async fn retention_drops_whole_expired_windows_and_bounds_disk_use() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Tsdb::open(dir.path(), opts()).unwrap();
    let hour = 3_600_000;
    let now = 100 * hour;
    let mut peak = 0;
    // Ingest 100 hours of data hour by hour under a 10-hour retention, enforcing as time passes.
    for h in 0..100 {
        let rows: Vec<(&str, i64, f64)> = (0..50)
            .map(|i| ("d1", h * hour + i * 1000, i as f64))
            .collect();
        db.write(batch("t", &rows)).await.unwrap();
        db.write(batch("keep", &rows)).await.unwrap();
        db.flush().await.unwrap();
        let keep = |tenant: &str, _: &str| {
            (tenant == "t").then_some(std::time::Duration::from_secs(10 * 3600))
        };
        db.enforce_retention((h + 1) * hour, keep).await.unwrap();
        let t_files = db.snapshot("t", "m", TimeRange::ALL).files.len();
        assert!(t_files <= 10, "hour {h}: {t_files} partitions kept");
        peak = peak.max(t_files);
    }
    assert_eq!(peak, 10);
    assert_eq!(
        db.snapshot("keep", "m", TimeRange::ALL).files.len(),
        100,
        "no policy, no deletion"
    );
    let oldest = db.snapshot("t", "m", TimeRange::ALL).files[0].min_ts;
    assert!(oldest >= now - 10 * hour, "oldest kept row {oldest}");
    drop(db);
    let (db, rep) = Tsdb::open(dir.path(), opts()).unwrap();
    assert_eq!(rep.segments, 110, "deleted partitions stay deleted");
    drop(db);
}

#[tokio::test]
async fn compaction_merges_flushes_without_changing_data() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Tsdb::open(dir.path(), opts()).unwrap();
    for i in 0..6 {
        db.write(batch(
            "t",
            &[
                ("d2", i * 10, i as f64),
                ("d1", i * 10 + 1, 100.0 + i as f64),
            ],
        ))
        .await
        .unwrap();
        db.flush().await.unwrap();
    }
    let before = values(&db, "t");
    assert_eq!(db.snapshot("t", "m", TimeRange::ALL).files.len(), 6);
    let merged = db.compact(std::time::Duration::ZERO).await.unwrap();
    assert_eq!(merged, 6);
    let snap = db.snapshot("t", "m", TimeRange::ALL);
    assert_eq!(snap.files.len(), 1);
    assert_eq!(values(&db, "t"), before);
    // Sorted by (device, ts) inside the merged file.
    let rows = crate::segment::read_all(&snap.files[0].path).unwrap();
    let dev = rows[0].column_by_name("device").unwrap().as_string::<i32>();
    assert_eq!(dev.value(0), "d1");
    assert_eq!(dev.value(11), "d2");
    assert_eq!(
        db.compact(std::time::Duration::ZERO).await.unwrap(),
        0,
        "nothing left to do"
    );
}

#[tokio::test]
async fn crash_between_compaction_and_deletion_counts_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (db, _) = Tsdb::open(dir.path(), opts()).unwrap();
        for i in 0..4 {
            db.write(batch("t", &[("d", i, i as f64)])).await.unwrap();
            db.flush().await.unwrap();
        }
        // A long grace period: the node "dies" before the inputs are deleted.
        db.compact(std::time::Duration::from_secs(3600))
            .await
            .unwrap();
    }
    let (db, rep) = Tsdb::open(dir.path(), opts()).unwrap();
    assert_eq!((rep.segments, rep.orphans_removed), (1, 4));
    assert_eq!(values(&db, "t"), vec![0.0, 1.0, 2.0, 3.0]);
}

#[tokio::test]
async fn latest_keeps_the_newest_value_whatever_the_row_order() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Tsdb::open(dir.path(), opts()).unwrap();
    // Out of order within a batch; on equal timestamps the later row wins.
    db.write(batch(
        "t",
        &[
            ("d1", 3_000, 3.0),
            ("d2", 500, 9.0),
            ("d1", 1_000, 1.0),
            ("d1", 3_000, 4.0),
        ],
    ))
    .await
    .unwrap();
    assert_eq!(
        db.latest("t", "d1").unwrap()["v"].value,
        serde_json::json!(4.0)
    );
    assert_eq!(db.latest("t", "d2").unwrap()["v"].ts, 500);
    // An older reading arriving later does not replace a newer one; an equal one does.
    db.write(batch("t", &[("d1", 2_000, 2.0)])).await.unwrap();
    assert_eq!(db.latest("t", "d1").unwrap()["v"].ts, 3_000);
    db.write(batch("t", &[("d1", 3_000, 5.0)])).await.unwrap();
    assert_eq!(
        db.latest("t", "d1").unwrap()["v"].value,
        serde_json::json!(5.0)
    );
}
