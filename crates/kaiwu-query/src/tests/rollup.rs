//! History from rollups must equal history from raw rows: a real engine with data over several
//! flushes and some still in memory, asked the same questions with and without rollups.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use kaiwu_model::{BatchBuilder, DeviceType};
use kaiwu_tsdb::{Resolution, RollupSnapshot, TableSnapshot, TimeRange, Tsdb, TsdbOptions};
use serde_json::json;

use super::ACME;
use crate::{Agg, Catalog, DeviceInfo, HistoryRequest, QueryEngine, QueryLimits};

struct Real {
    tsdb: Arc<Tsdb>,
    dt: DeviceType,
    rollups: bool,
    used: AtomicUsize,
}

impl Catalog for Real {
    fn device_types(&self, _: &str) -> Result<Vec<DeviceType>, String> {
        Ok(vec![self.dt.clone()])
    }

    fn devices(&self, _: &str) -> Result<Vec<DeviceInfo>, String> {
        Ok(["a", "b"]
            .iter()
            .map(|d| DeviceInfo {
                id: (*d).into(),
                device_type: "gen".into(),
                ..DeviceInfo::default()
            })
            .collect())
    }

    fn snapshot(&self, t: &str, ty: &str, range: TimeRange) -> Result<TableSnapshot, String> {
        Ok(self.tsdb.snapshot(t, ty, range))
    }

    fn rollup_snapshot(
        &self,
        t: &str,
        ty: &str,
        res: Resolution,
        range: TimeRange,
    ) -> Result<Option<RollupSnapshot>, String> {
        if !self.rollups {
            return Ok(None);
        }
        self.used.fetch_add(1, Ordering::Relaxed);
        Ok(Some(self.tsdb.rollup_snapshot(t, ty, res, range)))
    }
}

const MIN: i64 = 60_000;
const HOUR: i64 = 3_600_000;

#[tokio::test]
async fn rollup_answers_equal_raw_answers() {
    let dir = tempfile::tempdir().unwrap();
    let dt = DeviceType::from_json(
        br#"{"id":"gen","properties":[{"id":"speed","type":"float"},{"id":"temp","type":"int"},
            {"id":"note","type":"string"}]}"#,
    )
    .unwrap();
    let opts = TsdbOptions {
        window: std::time::Duration::from_secs(2 * 3600),
        ..TsdbOptions::default()
    };
    let (tsdb, _) = Tsdb::open(dir.path(), opts).unwrap();
    let tsdb = Arc::new(tsdb);
    // Five batches over ~5 hours; late rows land in buckets already flushed; the last two
    // batches stay in memory.
    let mut x: i64 = 7;
    // Distinct timestamps per device: first and last are ambiguous on ties.
    let mut seen = std::collections::HashSet::new();
    for round in 0..5 {
        let mut b = BatchBuilder::new(ACME, &dt);
        for i in 0..300 {
            x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
            let ts = (x % (5 * HOUR)) / 1000 * 1000 + round;
            let dev = if i % 3 == 0 { "b" } else { "a" };
            if !seen.insert((dev, ts)) {
                continue;
            }
            let mut m = serde_json::Map::new();
            if x % 5 != 0 {
                m.insert("speed".into(), json!((x % 400) as f64 / 4.0 - 20.0));
            }
            if x % 7 != 0 {
                m.insert("temp".into(), json!(x % 1000 - 300));
            }
            m.insert("note".into(), json!("n"));
            b.push_json(dev, ts, &m).unwrap();
        }
        tsdb.write(b.finish().unwrap()).await.unwrap();
        if round < 3 {
            tsdb.flush().await.unwrap();
        }
    }
    let engine = |rollups| {
        let c = Arc::new(Real {
            tsdb: tsdb.clone(),
            dt: dt.clone(),
            rollups,
            used: AtomicUsize::new(0),
        });
        let e = QueryEngine::new(c.clone() as Arc<dyn Catalog>, QueryLimits::default()).unwrap();
        (e, c)
    };
    let (raw, _) = engine(false);
    let (fast, used) = engine(true);
    let ranges = [
        (None, None, None),
        (Some(HOUR), Some(4 * HOUR), None),
        (Some(30 * MIN), Some(3 * HOUR + 7 * MIN), Some(5)),
        (Some(1234), None, None), // not aligned: raw path
    ];
    for iv in [MIN, 2 * MIN, 15 * MIN, HOUR, 2 * HOUR] {
        for agg in Agg::ALL {
            for (from, to, limit) in ranges {
                for dev in ["a", "b"] {
                    let req = HistoryRequest {
                        keys: vec!["speed".into(), "temp".into()],
                        from,
                        to,
                        interval_ms: Some(iv),
                        agg: Some(agg),
                        limit,
                    };
                    let want = raw.history(ACME, dev, req.clone()).await.unwrap();
                    let got = fast.history(ACME, dev, req).await.unwrap();
                    assert!(!want.is_empty());
                    let diff = want.iter().find(|(k, w)| {
                        let g = &got[*k];
                        g.len() != w.len() || g.iter().zip(w.iter()).any(|(g, w)| g != w)
                    });
                    assert!(
                        got.len() == want.len() && diff.is_none(),
                        "{dev} {agg} every {iv} in {from:?}..{to:?}: key {:?}",
                        diff.map(|d| d.0)
                    );
                }
            }
        }
    }
    assert!(used.used.load(Ordering::Relaxed) > 0, "rollups were used");
    // Non-numeric keys and raw reads never ask for rollups.
    let before = used.used.load(Ordering::Relaxed);
    let req = HistoryRequest {
        keys: vec!["note".into()],
        interval_ms: Some(HOUR),
        agg: Some(Agg::Count),
        ..HistoryRequest::default()
    };
    assert_eq!(
        fast.history(ACME, "a", req.clone()).await.unwrap(),
        raw.history(ACME, "a", req).await.unwrap()
    );
    assert_eq!(used.used.load(Ordering::Relaxed), before);
}
