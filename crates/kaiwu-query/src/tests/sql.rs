use serde_json::json;

use super::{ACME, OTHER, fixture, query};
use crate::Error;

#[tokio::test]
async fn wide_table_select_filter_aggregate() {
    let fx = fixture();
    let e = fx.engine();
    let rows = query(
        &e,
        "SELECT ts, device, speed, state, note FROM cnc WHERE device = 'm2' ORDER BY ts",
    )
    .await;
    assert_eq!(
        rows,
        vec![
            json!([1000, "m2", 20.0, null, null]),
            json!([5000, "m2", 50.0, null, "x,\"y\""]),
            json!([8000, "m2", 80.0, null, null]),
        ]
    );
    let rows = query(
        &e,
        "SELECT device, count(*) AS n, max(speed) AS top, max(temp) AS t FROM cnc \
         WHERE ts >= TIMESTAMP '1970-01-01T00:00:02Z' GROUP BY device ORDER BY device",
    )
    .await;
    assert_eq!(
        rows,
        vec![json!(["m1", 6, 150.0, 63]), json!(["m2", 2, 80.0, 61])]
    );
    // Enums are their integer key; the quality columns are not part of the wide table.
    let rows = query(
        &e,
        "SELECT state FROM cnc WHERE state IS NOT NULL ORDER BY ts",
    )
    .await;
    assert_eq!(rows, vec![json!([1]), json!([0])]);
    let err = e.sql(ACME, "SELECT __q_speed FROM cnc").await.unwrap_err();
    assert!(matches!(err, Error::Sql(_)), "{err}");
}

#[tokio::test]
async fn old_segments_read_new_columns_as_null_and_memory_is_not_duplicated() {
    let fx = fixture();
    let e = fx.engine();
    assert_eq!(
        query(&e, "SELECT count(*) FROM cnc").await,
        vec![json!([10])]
    );
    let rows = query(
        &e,
        "SELECT ts, speed, temp FROM cnc WHERE device = 'm1' ORDER BY ts",
    )
    .await;
    assert_eq!(
        rows,
        vec![
            json!([1000, 10.0, null]),
            json!([2000, 30.0, null]),
            json!([3000, 150.0, null]),
            json!([4000, 40.0, 60]),
            json!([6000, null, 62]),
            json!([7000, 70.0, 63]),
            json!([7500, 75.0, null]),
        ]
    );
    // Memory rows outside the range are dropped even though the snapshot returns them.
    let rows = query(
        &e,
        "SELECT count(*) FROM cnc WHERE ts < TIMESTAMP '1970-01-01T00:00:07.200Z'",
    )
    .await;
    assert_eq!(rows, vec![json!([8])]);
}

#[tokio::test]
async fn tenants_see_only_their_tables() {
    let fx = fixture();
    let e = fx.engine();
    let err = e.sql(ACME, "SELECT * FROM secret").await.unwrap_err();
    assert!(
        matches!(&err, Error::Sql(m) if m.contains("not found")),
        "{err}"
    );
    let err = e
        .sql(ACME, "SELECT * FROM other.public.secret")
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::Sql(_)), "{err}");
    let rows = query(
        &e,
        "SELECT table_name FROM information_schema.tables \
         WHERE table_schema = 'public' ORDER BY table_name",
    )
    .await;
    assert_eq!(
        rows,
        vec![
            json!(["cnc"]),
            json!(["devices"]),
            json!(["pump"]),
            json!(["telemetry"])
        ]
    );
    let out = e.sql(OTHER, "SELECT device, x FROM secret").await.unwrap();
    assert_eq!(super::json_rows(&out), vec![json!(["s1", 1.0])]);
    let out = e.sql(OTHER, "SELECT id FROM devices").await.unwrap();
    assert_eq!(super::json_rows(&out), vec![json!(["s1"])]);
    let err = e.sql(OTHER, "SELECT * FROM cnc").await.unwrap_err();
    assert!(
        matches!(&err, Error::Sql(m) if m.contains("not found")),
        "{err}"
    );
}

#[tokio::test]
async fn telemetry_is_one_row_per_value() {
    let fx = fixture();
    let e = fx.engine();
    let rows = query(
        &e,
        "SELECT ts, device, device_type, key, value, value_double, quality FROM telemetry \
         WHERE device = 'm1' AND ts <= TIMESTAMP '1970-01-01T00:00:03Z' ORDER BY ts, key",
    )
    .await;
    assert_eq!(
        rows,
        vec![
            json!([1000, "m1", "cnc", "note", "a", null, "good"]),
            json!([1000, "m1", "cnc", "speed", "10.0", 10.0, "good"]),
            json!([1000, "m1", "cnc", "state", "1", 1.0, "good"]),
            json!([2000, "m1", "cnc", "speed", "30.0", 30.0, "good"]),
            json!([2000, "m1", "cnc", "state", "0", 0.0, "good"]),
            json!([3000, "m1", "cnc", "speed", "150.0", 150.0, "uncertain"]),
        ]
    );
    let rows = query(
        &e,
        "SELECT ts, key, value, value_double FROM telemetry WHERE device_type = 'pump' \
         AND key IN ('on', 'cfg', 'since') ORDER BY ts, key",
    )
    .await;
    assert_eq!(
        rows,
        vec![
            json!([1000, "cfg", "{\"a\":1}", null]),
            json!([1000, "on", "true", 1.0]),
            json!([2000, "on", "false", 0.0]),
            json!([2000, "since", "1234", null]),
        ]
    );
    // Every stored value once: cnc has 17 values, pump 7.
    assert_eq!(
        query(&e, "SELECT count(*) FROM telemetry").await,
        vec![json!([24])]
    );
}

#[tokio::test]
async fn telemetry_filters_skip_unrelated_tables() {
    let fx = fixture();
    let e = fx.engine();
    query(&e, "SELECT * FROM telemetry WHERE device_type = 'pump'").await;
    let asked = fx.fake.asked();
    assert!(
        !asked.is_empty() && asked.iter().all(|(ty, _)| ty == "pump"),
        "{asked:?}"
    );
    fx.fake.clear_asked();
    query(&e, "SELECT * FROM telemetry WHERE key IN ('speed', 'temp')").await;
    let asked = fx.fake.asked();
    assert!(
        !asked.is_empty() && asked.iter().all(|(ty, _)| ty == "cnc"),
        "{asked:?}"
    );
    // One snapshot per range, however many property branches read it.
    assert_eq!(asked.len(), 1, "{asked:?}");
}

#[tokio::test]
async fn devices_join_and_labels() {
    let fx = fixture();
    let e = fx.engine();
    let rows = query(
        &e,
        "SELECT d.id, d.type, d.asset, d.labels, count(*) AS n FROM cnc c \
         JOIN devices d ON d.id = c.device GROUP BY d.id, d.type, d.asset, d.labels \
         ORDER BY d.id",
    )
    .await;
    assert_eq!(
        rows,
        vec![
            json!(["m1", "cnc", "line1", "{\"zone\":\"a\"}", 7]),
            json!(["m2", "cnc", null, "{}", 3]),
        ]
    );
    let rows = query(
        &e,
        "SELECT t.device, count(*) FROM telemetry t JOIN devices d ON d.id = t.device \
         WHERE d.asset = 'line1' AND t.device_type = 'pump' GROUP BY t.device",
    )
    .await;
    assert_eq!(rows, vec![json!(["p1", 7])]);
}

#[tokio::test]
async fn time_functions() {
    let fx = fixture();
    let e = fx.engine();
    let rows = query(
        &e,
        "SELECT date_bin(INTERVAL '3 seconds', ts) AS b, count(speed) AS n, \
         first_value(speed ORDER BY ts) AS f, last_value(speed ORDER BY ts) AS l \
         FROM cnc WHERE device = 'm1' GROUP BY b ORDER BY b",
    )
    .await;
    assert_eq!(
        rows,
        vec![
            json!([0, 2, 10.0, 30.0]),
            json!([3000, 2, 150.0, 40.0]),
            json!([6000, 2, null, 75.0]),
        ]
    );
    let rows = query(
        &e,
        "SELECT date_trunc('minute', ts) AS m, count(*) FROM pump GROUP BY m",
    )
    .await;
    assert_eq!(rows, vec![json!([0, 3])]);
}

#[tokio::test]
async fn only_queries_run() {
    let fx = fixture();
    let e = fx.engine();
    for sql in [
        "CREATE TABLE t (x INT)",
        "CREATE VIEW v AS SELECT 1",
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/tmp'",
        "DROP TABLE cnc",
        "INSERT INTO cnc (ts, device) VALUES (now(), 'x')",
        "DELETE FROM cnc",
        "COPY (SELECT 1) TO '/tmp/kaiwu-query-copy.csv'",
        "SET datafusion.execution.batch_size = 1",
        "EXPLAIN CREATE TABLE t (x INT)",
        "SELECT * FROM '/etc/hostname'",
        "SELECT 1; SELECT 2",
        "SELEC 1",
    ] {
        let err = e.sql(ACME, sql).await.unwrap_err();
        assert!(matches!(err, Error::Sql(_)), "{sql}: {err:?}");
        assert_eq!(err.kind(), kaiwu_core::ErrorKind::Invalid);
    }
    assert!(!std::path::Path::new("/tmp/kaiwu-query-copy.csv").exists());
    // Reading the catalog is fine.
    assert!(!query(&e, "SHOW TABLES").await.is_empty());
}
