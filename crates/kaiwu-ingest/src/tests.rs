use std::collections::BTreeMap;
use std::sync::Arc;

use kaiwu_registry::NewDevice;
use kaiwu_tsdb::{TimeRange, TsdbOptions};

use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    reg: Arc<Registry>,
    tsdb: Arc<Tsdb>,
    ingest: Ingest,
}

fn fixture(extensible: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let reg = Arc::new(Registry::open_in_memory(Arc::new(kaiwu_bus::MemoryBus::new())).unwrap());
    reg.create_tenant("a", "A").unwrap();
    reg.create_tenant("b", "B").unwrap();
    let doc = format!(
        r#"{{"id":"m","extensible":{extensible},"properties":[{{"id":"v","type":"float","max":10}},{{"id":"on","type":"bool"}}]}}"#
    );
    let dt = DeviceType::from_json(doc.as_bytes()).unwrap();
    reg.create_device_type("a", dt.clone()).unwrap();
    reg.create_device_type("b", dt).unwrap();
    for (t, d) in [("a", "d1"), ("a", "d2"), ("b", "x")] {
        let nd = NewDevice {
            id: d.into(),
            device_type: "m".into(),
            name: None,
            asset: None,
            labels: BTreeMap::new(),
        };
        reg.create_device(t, nd, &format!("token-{t}-{d}")).unwrap();
    }
    let (db, _) = Tsdb::open(dir.path(), TsdbOptions::default()).unwrap();
    let tsdb = Arc::new(db);
    let ingest = Ingest::new(reg.clone(), tsdb.clone());
    Fixture {
        _dir: dir,
        reg,
        tsdb,
        ingest,
    }
}

fn row(device: &str, ts: i64, json: &str) -> Row {
    Row {
        device: device.into(),
        ts: Some(ts),
        values: serde_json::from_str(json).unwrap(),
    }
}

fn rows_in(f: &Fixture, tenant: &str) -> usize {
    f.tsdb
        .snapshot(tenant, "m", TimeRange::ALL)
        .batches
        .iter()
        .map(|b| b.num_rows())
        .sum()
}

#[tokio::test]
async fn valid_rows_are_stored_and_counted() {
    let f = fixture(false);
    let acc = f
        .ingest
        .write(
            "a",
            vec![
                row("d1", 1, r#"{"v": 1.5, "on": true}"#),
                row("d2", 2, r#"{"v": 50}"#),
            ],
        )
        .await
        .unwrap();
    assert_eq!((acc.rows, acc.points, acc.uncertain), (2, 3, 1));
    assert_eq!(rows_in(&f, "a"), 2);
    assert_eq!(
        f.tsdb.latest("a", "d2").unwrap()["v"].quality,
        kaiwu_core::Quality::Uncertain
    );
    assert_eq!(
        f.reg.properties_with_data("a", "m").unwrap(),
        vec!["on", "v"]
    );
}

#[tokio::test]
async fn one_bad_row_stores_nothing_and_names_every_problem() {
    let f = fixture(false);
    let err = f
        .ingest
        .write(
            "a",
            vec![
                row("d1", 1, r#"{"v": 1}"#),
                row("d1", 2, r#"{"v": "hot"}"#),
                row("ghost", 3, r#"{"v": 1}"#),
                row("x", 4, r#"{"v": 1}"#),
                row("d2", 5, r#"{"nope": 1}"#),
            ],
        )
        .await
        .unwrap_err();
    let Error::Invalid(errs) = err else {
        panic!("{err}")
    };
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "[1].values.v",
            "[2].device",
            "[3].device",
            "[4].values.nope"
        ]
    );
    assert_eq!(rows_in(&f, "a"), 0);
    assert_eq!(rows_in(&f, "b"), 0, "another tenant's device is not found");
}

#[tokio::test]
async fn extensible_types_learn_new_keys() {
    let f = fixture(true);
    f.ingest
        .write(
            "a",
            vec![row("d1", 1, r#"{"v": 1, "rpm": 1200, "mode": "auto"}"#)],
        )
        .await
        .unwrap();
    let dt = f.reg.device_type("a", "m").unwrap();
    assert_eq!(dt.version, 2);
    // Numbers are learned as float: a later 1200.5 must still fit.
    assert_eq!(dt.property("rpm").unwrap().r#type, DataType::Float);
    assert_eq!(dt.property("mode").unwrap().r#type, DataType::String);
    assert_eq!(
        f.reg.device_type("b", "m").unwrap().version,
        1,
        "tenant b untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalesced_messages_keep_their_own_outcome_and_share_batches() {
    let f = fixture(false);
    let ingest = Arc::new(Ingest::new(f.reg.clone(), f.tsdb.clone()));
    let mut tasks = Vec::new();
    for i in 0..200i64 {
        let ingest = ingest.clone();
        tasks.push(tokio::spawn(async move {
            let (tenant, r) = match i {
                7 => ("a", row("d1", i, r#"{"v": "not a number"}"#)),
                8 => ("a", row("nope", i, r#"{"v": 1}"#)),
                _ if i % 2 == 0 => ("a", row("d1", i, r#"{"v": 1, "on": true}"#)),
                _ => ("b", row("x", i, r#"{"v": 20}"#)),
            };
            (i, ingest.write_coalesced(tenant, vec![r]).await)
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let (i, r) = t.await.unwrap();
        match i {
            7 | 8 => assert!(matches!(r, Err(Error::Invalid(_))), "{i}: {r:?}"),
            _ => {
                let acc = r.unwrap();
                assert_eq!(acc.rows, 1);
                assert_eq!(acc.uncertain, usize::from(i % 2 == 1), "{i}");
                ok += 1;
            }
        }
    }
    assert_eq!(ok, 198);
    let (a, b) = (rows_in(&f, "a"), rows_in(&f, "b"));
    assert_eq!(
        (a, b),
        (99, 99),
        "each valid message stored once, the refused ones not"
    );
    let batches = f.tsdb.snapshot("a", "m", TimeRange::ALL).batches.len();
    assert!(
        batches < 99,
        "messages were grouped ({batches} batches for 99 rows)"
    );
}

#[tokio::test]
async fn lenient_writes_keep_the_valid_values_and_report_the_rest() {
    let f = fixture(false);
    let rows = vec![
        row("d1", 1, r#"{"v": 1.5, "on": "yes"}"#),
        row("ghost", 1, r#"{"v": 1}"#),
        row("d2", 1, r#"{"on": 3}"#),
        row("d2", 2, r#"{"v": 2.5}"#),
    ];
    let (acc, refused) = f.ingest.write_lenient("a", rows).await.unwrap();
    assert_eq!(
        (acc.rows, acc.points),
        (2, 2),
        "d1 keeps v, d2@2 keeps v; d2@1 has nothing left"
    );
    let paths: Vec<&str> = refused.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["[0].values.on", "[1].device", "[2].values.on"]);
    assert_eq!(rows_in(&f, "a"), 2);
}

#[tokio::test]
async fn bad_markers_store_nulls_with_quality_bad() {
    let f = fixture(false);
    f.ingest
        .write("a", vec![row("d1", 1, r#"{"v": 1.5}"#)])
        .await
        .unwrap();
    f.ingest
        .write_bad("a", "d1", &["v".to_owned(), "nope".to_owned()], 2)
        .await
        .unwrap();
    assert_eq!(rows_in(&f, "a"), 2);
    let l = f.tsdb.latest("a", "d1").unwrap();
    let v = &l["v"];
    assert_eq!(
        (v.ts, v.quality),
        (1, kaiwu_core::Quality::Bad),
        "last value kept, marked bad"
    );
    f.ingest
        .write("a", vec![row("d1", 3, r#"{"v": 2.0}"#)])
        .await
        .unwrap();
    assert_eq!(
        f.tsdb.latest("a", "d1").unwrap()["v"].quality,
        kaiwu_core::Quality::Good
    );
}

#[tokio::test]
async fn changes_in_the_registry_reach_ingest_at_once() {
    let f = fixture(false);
    f.ingest
        .write("a", vec![row("d1", 1, r#"{"v": 1}"#)])
        .await
        .unwrap();
    // A property added to the type is accepted by the next write.
    let mut dt = f.reg.device_type("a", "m").unwrap();
    dt.properties
        .push(kaiwu_model::Property::new("rpm", DataType::Int));
    f.reg.update_device_type("a", "m", dt, false).unwrap();
    let acc = f
        .ingest
        .write("a", vec![row("d1", 2, r#"{"rpm": 1200}"#)])
        .await
        .unwrap();
    assert_eq!(acc.points, 1);
    assert!(
        f.reg
            .properties_with_data("a", "m")
            .unwrap()
            .contains(&"rpm".to_owned())
    );
    // A deleted device is unknown to the next write.
    f.reg.delete_device("a", "d2").unwrap();
    let err = f
        .ingest
        .write("a", vec![row("d2", 3, r#"{"v": 1}"#)])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("`d2` not found"), "{err}");
    // A device moved to another type writes into that type's table.
    let other = DeviceType::from_json(br#"{"id":"n","properties":[{"id":"temp","type":"float"}]}"#)
        .unwrap();
    f.reg.create_device_type("a", other).unwrap();
    f.reg
        .update_device(
            "a",
            "d1",
            kaiwu_registry::DevicePatch {
                device_type: Some("n".into()),
                ..Default::default()
            },
        )
        .unwrap();
    f.ingest
        .write("a", vec![row("d1", 4, r#"{"temp": 20.5}"#)])
        .await
        .unwrap();
    let in_n: usize = f
        .tsdb
        .snapshot("a", "n", TimeRange::ALL)
        .batches
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(in_n, 1);
}

#[tokio::test]
async fn rows_of_interleaved_devices_each_find_their_device() {
    // Device lookups are remembered per message (the previous row first, then a map): rows
    // that go back and forth between devices, and an unknown one in between, all resolve.
    let f = fixture(false);
    let order = ["d1", "d2", "d1", "ghost", "d2", "ghost", "d1"];
    let rows = order
        .iter()
        .zip(1..)
        .map(|(d, ts)| row(d, ts, r#"{"v": 1}"#))
        .collect();
    let Error::Invalid(errs) = f.ingest.write("a", rows).await.unwrap_err() else {
        panic!("expected invalid rows")
    };
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["[3].device", "[5].device"]);
    let rows = order
        .iter()
        .filter(|d| **d != "ghost")
        .zip(1..)
        .map(|(d, ts)| row(d, ts, r#"{"v": 1}"#))
        .collect();
    let acc = f.ingest.write("a", rows).await.unwrap();
    assert_eq!((acc.rows, acc.points), (5, 5));
    assert_eq!(rows_in(&f, "a"), 5);
    // Filtered order d1 d2 d1 d2 d1 with ts 1..=5: each device's newest row is its own.
    let newest = |d: &str| f.tsdb.latest("a", d).unwrap()["v"].ts;
    assert_eq!((newest("d1"), newest("d2")), (5, 4));
}
