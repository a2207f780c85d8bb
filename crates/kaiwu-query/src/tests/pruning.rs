//! Segments outside the queried time range are never opened.

use kaiwu_tsdb::{SegmentFile, TimeRange};
use serde_json::json;

use super::{ACME, fixture_with, query};
use crate::Error;

/// A file that fails to read, claiming to hold `cnc` rows from 100 s to 200 s.
fn corrupt(dir: &std::path::Path) -> SegmentFile {
    let path = dir.join("corrupt.parquet");
    std::fs::write(&path, b"this is not a parquet file").unwrap();
    SegmentFile {
        path,
        min_ts: 100_000,
        max_ts: 200_000,
        rows: 10,
        bytes: 26,
    }
}

fn range(start: Option<i64>, end: Option<i64>) -> TimeRange {
    TimeRange { start, end }
}

#[tokio::test]
async fn files_outside_the_range_are_never_opened() {
    // The catalog returns every file whatever the range: the engine must skip it itself.
    let fx = fixture_with(|fake, dir| {
        fake.ignore_range = true;
        let snap = fake.data.get_mut(&(ACME.into(), "cnc".into())).unwrap();
        snap.files.push(corrupt(dir));
    });
    let e = fx.engine();
    let rows = query(
        &e,
        "SELECT count(*) FROM cnc WHERE ts >= TIMESTAMP '1970-01-01T00:00:02Z' \
         AND ts < TIMESTAMP '1970-01-01T00:00:50Z'",
    )
    .await;
    assert_eq!(rows, vec![json!([8])]);
    assert_eq!(
        fx.fake.asked(),
        vec![("cnc".into(), range(Some(2000), Some(50_000)))]
    );
    fx.fake.clear_asked();
    let rows = query(
        &e,
        "SELECT count(*) FROM cnc WHERE ts BETWEEN TIMESTAMP '1970-01-01T00:00:04Z' \
         AND TIMESTAMP '1970-01-01T00:00:05Z' OR ts = TIMESTAMP '1970-01-01T00:00:01Z'",
    )
    .await;
    assert_eq!(rows, vec![json!([4])]);
    assert_eq!(
        fx.fake.asked(),
        vec![("cnc".into(), range(Some(1000), Some(5001)))]
    );
    // Without a bound on ts the file is read, and fails: the test above is meaningful.
    let err = e.sql(ACME, "SELECT count(*) FROM cnc").await.unwrap_err();
    assert!(matches!(err, Error::Internal(_)), "{err:?}");
    let err = e
        .sql(
            ACME,
            "SELECT count(*) FROM cnc WHERE ts > TIMESTAMP '1970-01-01T00:02:00Z'",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Internal(_)), "{err:?}");
}

#[tokio::test]
async fn the_range_reaches_the_catalog_through_views_and_functions() {
    let fx = fixture_with(|fake, dir| {
        let snap = fake.data.get_mut(&(ACME.into(), "cnc".into())).unwrap();
        snap.files.push(corrupt(dir));
    });
    let e = fx.engine();
    let rows = query(
        &e,
        "SELECT count(*) FROM telemetry WHERE device_type = 'cnc' AND key = 'speed' \
         AND ts < to_timestamp_millis(4000)",
    )
    .await;
    assert_eq!(rows, vec![json!([4])]);
    assert_eq!(
        fx.fake.asked(),
        vec![("cnc".into(), range(None, Some(4000)))]
    );
    fx.fake.clear_asked();
    let rows = query(
        &e,
        "SELECT count(*) FROM cnc WHERE ts > now() - INTERVAL '1000 days'",
    )
    .await;
    assert_eq!(rows, vec![json!([0])]);
    let asked = fx.fake.asked();
    assert_eq!(asked.len(), 1);
    assert!(asked[0].1.start > Some(1_600_000_000_000), "{asked:?}");
}

#[tokio::test]
async fn filters_reach_the_parquet_scan_for_row_group_pruning() {
    let fx = super::fixture();
    let e = fx.engine();
    let out = e
        .sql(
            ACME,
            "EXPLAIN SELECT speed FROM cnc WHERE device = 'm2' \
             AND ts >= TIMESTAMP '1970-01-01T00:00:02Z'",
        )
        .await
        .unwrap();
    let plan = super::json_rows(&out)
        .iter()
        .map(|r| r[1].as_str().unwrap_or_default().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(plan.contains("DataSourceExec"), "{plan}");
    assert!(plan.contains("predicate=device@1 = m2"), "{plan}");
    assert!(plan.contains("pruning_predicate="), "{plan}");
}
