//! History from the engine's rollups: when every bucket of the request is a whole number of
//! rollup buckets inside the range, merging their partials gives the raw answer without reading
//! raw rows.

use std::sync::Arc;

use kaiwu_model::DataType as PropType;
use kaiwu_tsdb::{Buckets, Partial, Resolution, TimeRange};
use serde_json::Value;

use super::{Agg, History, HistoryPoint, Plan};
use crate::Result;
use crate::output::float;
use crate::session::Tenant;

impl Plan {
    /// The rollup resolution that answers this plan exactly, if any: the interval and both
    /// range ends must be whole buckets, and every key numeric.
    fn resolution(&self) -> Option<Resolution> {
        let (iv, _) = self.agg?;
        let numeric = |t: &PropType| matches!(t, PropType::Int | PropType::Float);
        if !self.keys.iter().all(|(_, t)| numeric(t)) {
            return None;
        }
        let whole =
            |ms: i64| iv % ms == 0 && [self.from, self.to].iter().flatten().all(|x| x % ms == 0);
        // Coarsest first: fewer rows to read.
        Resolution::ALL.into_iter().rev().find(|r| whole(r.ms()))
    }

    /// The answer from rollups, or None when they cannot give it.
    pub(super) async fn via_rollups(
        &self,
        tenant: &Arc<Tenant>,
        device_type: &str,
        device: &str,
    ) -> Result<Option<History>> {
        let (Some(res), Some((iv, agg))) = (self.resolution(), self.agg) else {
            return Ok(None);
        };
        let range = TimeRange {
            start: self.from,
            end: self.to,
        };
        let (ty, dev) = (device_type.to_owned(), device.to_owned());
        let keys: Vec<String> = self.keys.iter().map(|(k, _)| k.clone()).collect();
        let got = tenant
            .call("rollups", move |c, t| {
                let Some(snap) = c.rollup_snapshot(t, &ty, res, range)? else {
                    return Ok(None);
                };
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                snap.buckets(&dev, &keys, range)
                    .map(Some)
                    .map_err(|e| e.to_string())
            })
            .await?;
        let Some(per_key) = got else {
            return Ok(None);
        };
        let mut out = History::new();
        for ((key, t), buckets) in self.keys.iter().zip(per_key) {
            let points: Vec<HistoryPoint> = regroup(&buckets, iv)
                .into_iter()
                .take(self.limit.unwrap_or(usize::MAX))
                .map(|(ts, p)| HistoryPoint {
                    ts,
                    value: value(&p, agg, *t == PropType::Int),
                })
                .collect();
            let points = self.fill(points);
            if !points.is_empty() {
                out.insert(key.clone(), points);
            }
        }
        Ok(Some(out))
    }
}

/// Merge rollup buckets into the request's buckets (epoch-aligned, like the raw path).
fn regroup(b: &Buckets, iv: i64) -> Buckets {
    let mut out = Buckets::new();
    for (ts, p) in b {
        out.entry(ts.div_euclid(iv) * iv)
            .and_modify(|x| x.merge(p))
            .or_insert(*p);
    }
    out
}

/// The aggregate as the raw path types it: integer properties keep integer min, max, sum,
/// first and last (exact up to 2^53, as rollups hold them as f64).
fn value(p: &Partial, agg: Agg, int: bool) -> Value {
    let typed = |x: f64| if int { Value::from(x as i64) } else { float(x) };
    match agg {
        Agg::Avg => float(p.sum / p.count as f64),
        Agg::Min => typed(p.min),
        Agg::Max => typed(p.max),
        Agg::Sum => typed(p.sum),
        Agg::Count => Value::from(p.count),
        Agg::First => typed(p.first),
        Agg::Last => typed(p.last),
    }
}
