use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::json;

use super::{ACME, fixture};
use crate::Error;

#[tokio::test]
async fn json_shape_and_row_limit() {
    let fx = fixture();
    let e = fx.engine();
    let out = e
        .sql(
            ACME,
            "SELECT ts, device, speed FROM cnc ORDER BY ts, device LIMIT 2",
        )
        .await
        .unwrap();
    assert_eq!(
        out.to_json(10).unwrap(),
        json!({
            "columns": [
                {"name": "ts", "type": "Timestamp(ms, \"UTC\")"},
                {"name": "device", "type": "Utf8"},
                {"name": "speed", "type": "Float64"}],
            "rows": [[1000, "m1", 10.0], [1000, "m2", 20.0]]})
    );
    let out = e
        .sql(ACME, "SELECT * FROM generate_series(1, 20)")
        .await
        .unwrap();
    let err = out.to_json(10).unwrap_err();
    assert!(matches!(err, Error::TooManyRows { limit: 10 }), "{err:?}");
    assert!(err.to_string().contains("LIMIT"), "{err}");
    assert_eq!(err.kind(), kaiwu_core::ErrorKind::TooLarge);
    assert_eq!(
        out.to_json(20).unwrap()["rows"].as_array().unwrap().len(),
        20
    );
}

#[tokio::test]
async fn json_values_of_other_types() {
    let fx = fixture();
    let e = fx.engine();
    let out = e
        .sql(
            ACME,
            "SELECT true AS b, CAST(1 AS TINYINT) AS i, 1.5::real AS f, 'nan'::double AS n, \
             NULL AS z, DATE '2024-05-01' AS d, CAST(2.50 AS DECIMAL(5,2)) AS m, \
             to_timestamp_micros(1500) AS us",
        )
        .await
        .unwrap();
    assert_eq!(
        super::json_rows(&out),
        vec![json!([true, 1, 1.5, null, null, "2024-05-01", 2.5, 1])]
    );
}

#[tokio::test]
async fn csv_has_header_and_rfc4180_quoting() {
    let fx = fixture();
    let e = fx.engine();
    let out = e
        .sql(
            ACME,
            "SELECT ts, device, note, temp FROM cnc WHERE device = 'm2' AND ts < \
             TIMESTAMP '1970-01-01T00:00:06Z' ORDER BY ts",
        )
        .await
        .unwrap();
    let mut csv = Vec::new();
    out.write_csv(&mut csv).unwrap();
    assert_eq!(
        String::from_utf8(csv).unwrap(),
        "ts,device,note,temp\r\n\
         1970-01-01T00:00:01.000+00:00,m2,,\r\n\
         1970-01-01T00:00:05.000+00:00,m2,\"x,\"\"y\"\"\",61\r\n"
    );
    let empty = e
        .sql(ACME, "SELECT device FROM cnc WHERE false")
        .await
        .unwrap();
    let mut csv = Vec::new();
    empty.write_csv(&mut csv).unwrap();
    assert_eq!(String::from_utf8(csv).unwrap(), "device\r\n");
}

#[tokio::test]
async fn parquet_export_round_trips() {
    let fx = fixture();
    let e = fx.engine();
    let out = e.sql(ACME, "SELECT * FROM cnc ORDER BY ts").await.unwrap();
    let path = fx.dir.path().join("export.parquet");
    out.write_parquet(std::fs::File::create(&path).unwrap())
        .unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 10);
    assert_eq!(batches[0].schema(), out.schema);
}
