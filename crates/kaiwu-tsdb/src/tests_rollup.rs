use crate::test_util::batch;
use crate::*;

fn opts() -> TsdbOptions {
    TsdbOptions {
        window: std::time::Duration::from_secs(3600),
        ..TsdbOptions::default()
    }
}

const MIN: i64 = 60_000;

/// `n` rows of `d`, one per second from `start`, all with value `v`: dense enough for rollups
/// at both resolutions when `n` >= 10 within one minute.
fn dense(d: &str, start: i64, n: i64, v: f64) -> Vec<(String, i64, f64)> {
    (0..n)
        .map(|i| (d.to_owned(), start + i * 1_000, v))
        .collect()
}

fn write_rows(rows: &[(String, i64, f64)]) -> kaiwu_core::Batch {
    let r: Vec<(&str, i64, f64)> = rows.iter().map(|(d, t, v)| (d.as_str(), *t, *v)).collect();
    batch("t", &r)
}

#[tokio::test]
async fn partials_merge_across_flushes_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Tsdb::open(dir.path(), opts()).unwrap();
    db.write(batch(
        "t",
        &[("d1", 10, 4.0), ("d1", 20, 2.0), ("d2", 5, 9.0)],
    ))
    .await
    .unwrap();
    db.flush().await.unwrap();
    db.write(batch("t", &[("d1", 5, 7.0), ("d1", MIN + 1, 1.0)]))
        .await
        .unwrap();
    db.flush().await.unwrap();
    db.write(batch("t", &[("d1", 30, 3.0)])).await.unwrap();
    let snap = db.rollup_snapshot("t", "m", Resolution::Minute, TimeRange::ALL);
    // Too sparse for rollup files: the two segments are read raw.
    assert_eq!(
        (snap.files.len(), snap.raw_files.len(), snap.batches.len()),
        (0, 2, 1)
    );
    let b = snap
        .buckets("d1", &["v"], TimeRange::ALL)
        .unwrap()
        .remove(0);
    let p = Partial {
        count: 4,
        sum: 16.0,
        min: 2.0,
        max: 7.0,
        first_ts: 5,
        first: 7.0,
        last_ts: 30,
        last: 3.0,
    };
    assert_eq!(b[&0], p);
    assert_eq!((b[&MIN].count, b[&MIN].first, b.len()), (1, 1.0, 2));
    let only_second = TimeRange {
        start: Some(MIN),
        end: None,
    };
    assert_eq!(snap.buckets("d1", &["v"], only_second).unwrap()[0].len(), 1);
    let h = db.rollup_snapshot("t", "m", Resolution::Hour, TimeRange::ALL);
    let b = h.buckets("d1", &["v"], TimeRange::ALL).unwrap().remove(0);
    assert_eq!(
        (b.len(), b[&0].count, b[&0].sum, b[&0].last),
        (1, 5, 17.0, 1.0),
        "last is at MIN + 1"
    );
    assert_eq!(
        h.buckets("d2", &["v"], TimeRange::ALL).unwrap()[0][&0].count,
        1
    );
    assert!(h.buckets("d1", &["nope"], TimeRange::ALL).unwrap()[0].is_empty());
}

fn rollup_files(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().contains("_rollup_")
                && p.extension().is_some_and(|x| x == "parquet")
            {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn orphan_rollups_are_removed_on_open_and_rows_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (db, _) = Tsdb::open(dir.path(), opts()).unwrap();
        db.write(write_rows(&dense("d1", 1_000, 10, 1.0)))
            .await
            .unwrap();
        db.flush().await.unwrap();
        db.write(batch("t", &[("d1", 20_000, 2.0)])).await.unwrap();
    }
    let files = rollup_files(dir.path());
    assert_eq!(files.len(), 2);
    // A rollup of an unfinished flush: its rows are still in the WAL.
    let rows = crate::segment::read_all(&files[0]).unwrap();
    crate::segment::write(files[0].parent().unwrap(), "x.parquet", &rows[0], 99).unwrap();
    let (db, rep) = Tsdb::open(dir.path(), opts()).unwrap();
    assert_eq!((rep.orphans_removed, rep.segments), (1, 1));
    assert_eq!(rollup_files(dir.path()).len(), 2);
    for r in Resolution::ALL {
        let s = db.rollup_snapshot("t", "m", r, TimeRange::ALL);
        let b = s.buckets("d1", &["v"], TimeRange::ALL).unwrap().remove(0);
        assert_eq!((b[&0].count, b[&0].sum), (11, 12.0), "{r:?}");
    }
}

#[tokio::test]
async fn retention_drops_rollups_with_their_window() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Tsdb::open(dir.path(), opts()).unwrap();
    let hour = 3_600_000;
    for h in 0..3 {
        db.write(write_rows(&dense("d1", h * hour + 5, 10, 1.0)))
            .await
            .unwrap();
        db.flush().await.unwrap();
    }
    assert_eq!(rollup_files(dir.path()).len(), 6);
    let keep = |_: &str, _: &str| Some(std::time::Duration::from_secs(3600));
    assert_eq!(db.enforce_retention(3 * hour, keep).await.unwrap(), 2);
    assert_eq!(rollup_files(dir.path()).len(), 2);
    let s = db.rollup_snapshot("t", "m", Resolution::Hour, TimeRange::ALL);
    let b = s.buckets("d1", &["v"], TimeRange::ALL).unwrap().remove(0);
    assert_eq!(b.keys().copied().collect::<Vec<_>>(), vec![2 * hour]);
    drop(db);
    let (db, _) = Tsdb::open(dir.path(), opts()).unwrap();
    let s = db.rollup_snapshot("t", "m", Resolution::Minute, TimeRange::ALL);
    assert_eq!(s.files.len(), 1);
}

#[tokio::test]
async fn segments_from_before_rollups_get_them_once() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (db, _) = Tsdb::open(dir.path(), opts()).unwrap();
        let mut rows = dense("d1", 1_000, 10, 1.0);
        rows.push(("d1".into(), 11_000, 5.0));
        db.write(write_rows(&rows)).await.unwrap();
        db.flush().await.unwrap();
    }
    // Look like an older version: no rollups, no marker.
    for p in rollup_files(dir.path()) {
        std::fs::remove_file(p).unwrap();
    }
    std::fs::remove_file(dir.path().join("tsdb/ROLLUPS")).unwrap();
    for _ in 0..2 {
        let (db, rep) = Tsdb::open(dir.path(), opts()).unwrap();
        assert_eq!(rep.orphans_removed, 0);
        assert_eq!(rollup_files(dir.path()).len(), 2);
        let s = db.rollup_snapshot("t", "m", Resolution::Hour, TimeRange::ALL);
        let b = s.buckets("d1", &["v"], TimeRange::ALL).unwrap().remove(0);
        assert_eq!((b[&0].count, b[&0].max), (11, 5.0));
    }
}

#[tokio::test]
async fn sparse_segments_get_no_rollup_files_and_are_read_raw() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = Tsdb::open(dir.path(), opts()).unwrap();
    // One value per 10 s: 6 per minute (too sparse), 60 in the hour (dense enough).
    let rows: Vec<_> = (0..60)
        .map(|i| ("d1".to_owned(), i * 10_000, i as f64))
        .collect();
    db.write(write_rows(&rows)).await.unwrap();
    db.flush().await.unwrap();
    let m = db.rollup_snapshot("t", "m", Resolution::Minute, TimeRange::ALL);
    assert_eq!((m.files.len(), m.raw_files.len()), (0, 1));
    let b = m.buckets("d1", &["v"], TimeRange::ALL).unwrap().remove(0);
    assert_eq!(b.len(), 10);
    assert_eq!((b[&MIN].count, b[&MIN].sum, b[&MIN].last), (6, 51.0, 11.0));
    let h = db.rollup_snapshot("t", "m", Resolution::Hour, TimeRange::ALL);
    assert_eq!((h.files.len(), h.raw_files.len()), (1, 0));
    let b = h.buckets("d1", &["v"], TimeRange::ALL).unwrap().remove(0);
    assert_eq!((b[&0].count, b[&0].sum, b[&0].max), (60, 1770.0, 59.0));
    // A range ending inside the data still sees whole buckets before its end.
    let r = TimeRange {
        start: Some(MIN),
        end: Some(3 * MIN),
    };
    let b = m.buckets("d1", &["v"], r).unwrap().remove(0);
    assert_eq!(b.keys().copied().collect::<Vec<_>>(), vec![MIN, 2 * MIN]);
}

#[tokio::test]
async fn compaction_rewrites_rollups_and_a_crash_counts_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let expect = |db: &Tsdb| {
        for r in Resolution::ALL {
            let s = db.rollup_snapshot("t", "m", r, TimeRange::ALL);
            let b = s.buckets("d1", &["v"], TimeRange::ALL).unwrap().remove(0);
            assert_eq!((b[&0].count, b[&0].sum), (20, 20.0), "{r:?}");
        }
    };
    {
        let (db, _) = Tsdb::open(dir.path(), opts()).unwrap();
        // Four flushes of five rows: each too sparse alone, dense once merged.
        for f in 0..4 {
            db.write(write_rows(&dense("d1", f * 5_000, 5, 1.0)))
                .await
                .unwrap();
            db.flush().await.unwrap();
        }
        assert!(rollup_files(dir.path()).is_empty());
        expect(&db);
        // Long grace: the node "dies" before the inputs are deleted.
        assert_eq!(
            db.compact(std::time::Duration::from_secs(3600))
                .await
                .unwrap(),
            4
        );
        assert_eq!(rollup_files(dir.path()).len(), 2);
        let s = db.rollup_snapshot("t", "m", Resolution::Minute, TimeRange::ALL);
        assert_eq!((s.files.len(), s.raw_files.len()), (1, 0));
        expect(&db);
    }
    let (db, rep) = Tsdb::open(dir.path(), opts()).unwrap();
    assert_eq!((rep.segments, rep.orphans_removed), (1, 4));
    expect(&db);
    drop(db);
    // A compaction that died after writing its rollups but before its segment: the rollups
    // are orphans, and the inputs are read raw.
    let merged = rollup_files(dir.path());
    for p in &merged {
        let name = p.file_name().unwrap().to_str().unwrap().replace("-c", "-d");
        std::fs::copy(p, p.with_file_name(name)).unwrap();
    }
    let (db, rep) = Tsdb::open(dir.path(), opts()).unwrap();
    assert_eq!(rep.orphans_removed, 2);
    expect(&db);
}
