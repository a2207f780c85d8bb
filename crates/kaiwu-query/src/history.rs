//! `GET /api/devices/{id}/telemetry`: one device's history per key in ThingsBoard's shape.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::functions::expr_fn::date_bin;
use datafusion::functions_aggregate::expr_fn::{
    avg, count, first_value, last_value, max, min, sum,
};
use datafusion::logical_expr::{Expr, ident, lit};
use kaiwu_core::batch::{DEVICE, TS};
use kaiwu_model::{DataType as PropType, DeviceType};
use serde::Serialize;
use serde_json::Value;

use crate::engine::{Inner, collect_within};
use crate::output::json_values;
use crate::session::{Tenant, session};
use crate::{Error, Result};

mod rollup;

/// Points returned per key when the request sets no limit (raw values).
pub const DEFAULT_LIMIT: usize = 100;

/// What history to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryRequest {
    /// Properties to read; empty means all of the device type's.
    pub keys: Vec<String>,
    /// Inclusive start, epoch ms.
    pub from: Option<i64>,
    /// Exclusive end, epoch ms.
    pub to: Option<i64>,
    /// Bucket width in ms; set together with `agg`.
    pub interval_ms: Option<i64>,
    /// Aggregate per bucket; set together with `interval_ms`.
    pub agg: Option<Agg>,
    /// Most points per key: raw values newest first (default [`DEFAULT_LIMIT`]), or the first
    /// buckets (default: all).
    pub limit: Option<usize>,
}

/// Aggregate of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Agg {
    /// Mean (numeric keys).
    Avg,
    /// Smallest (numeric keys).
    Min,
    /// Largest (numeric keys).
    Max,
    /// Total (numeric keys).
    Sum,
    /// Number of values.
    Count,
    /// Earliest value.
    First,
    /// Latest value.
    Last,
}

impl Agg {
    /// All aggregates.
    pub const ALL: [Agg; 7] = [
        Agg::Avg,
        Agg::Min,
        Agg::Max,
        Agg::Sum,
        Agg::Count,
        Agg::First,
        Agg::Last,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Agg::Avg => "avg",
            Agg::Min => "min",
            Agg::Max => "max",
            Agg::Sum => "sum",
            Agg::Count => "count",
            Agg::First => "first",
            Agg::Last => "last",
        }
    }

    fn numeric_only(self) -> bool {
        matches!(self, Agg::Avg | Agg::Min | Agg::Max | Agg::Sum)
    }

    fn expr(self, v: Expr) -> Expr {
        let by_ts = || vec![ident(TS).sort(true, false)];
        match self {
            Agg::Avg => avg(v),
            Agg::Min => min(v),
            Agg::Max => max(v),
            Agg::Sum => sum(v),
            Agg::Count => count(v),
            Agg::First => first_value(v, by_ts()),
            Agg::Last => last_value(v, by_ts()),
        }
    }
}

impl fmt::Display for Agg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Agg {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Agg::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| {
            let shown: String = s.chars().take(32).collect();
            Error::Invalid(format!(
                "unknown aggregate `{shown}`: expected one of avg, min, max, sum, count, first, last"
            ))
        })
    }
}

/// History per key: `{"key":[{"ts":ms,"value":v}, ...]}`.
pub type History = BTreeMap<String, Vec<HistoryPoint>>;

/// One value, or one bucket (its `ts` is the bucket start, `value` null for an empty bucket).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryPoint {
    /// Epoch ms.
    pub ts: i64,
    /// The value as JSON: numbers, bools, enum keys, strings, JSON documents.
    pub value: Value,
}

/// A checked request.
struct Plan {
    keys: Vec<(String, PropType)>,
    from: Option<i64>,
    to: Option<i64>,
    /// Interval and aggregate.
    agg: Option<(i64, Agg)>,
    limit: Option<usize>,
}

impl Inner {
    pub(crate) async fn history(
        self: Arc<Self>,
        tenant: Arc<Tenant>,
        device: String,
        req: HistoryRequest,
    ) -> Result<History> {
        let devices = tenant.call("devices", |c, t| c.devices(t)).await?;
        let Some(info) = devices.into_iter().find(|d| d.id == device) else {
            return Err(Error::NotFound(format!("device {device}")));
        };
        let (ctx, schema) = session(&tenant, &self.limits, &self.footers).await?;
        let dt = schema.device_type(&info.device_type).ok_or_else(|| {
            Error::Internal(format!(
                "device type {} of device {device} is missing",
                info.device_type
            ))
        })?;
        let plan = check(dt, req, self.limits.max_json_rows)?;
        if let Some(out) = plan.via_rollups(&tenant, &dt.id, &device).await? {
            return Ok(out);
        }
        let table = ctx
            .read_table(schema.wide_table(dt))
            .map_err(|e| self.df_err(e))?;
        let mut out = History::new();
        for (key, t) in &plan.keys {
            let df = plan
                .frame(table.clone(), &device, key)
                .map_err(|e| self.df_err(e))?;
            let exec = df
                .create_physical_plan()
                .await
                .map_err(|e| self.df_err(e))?;
            let batches = collect_within(exec, &ctx)
                .await
                .map_err(|e| self.df_err(e))?;
            let points = plan.points(&batches, *t)?;
            if !points.is_empty() {
                out.insert(key.clone(), points);
            }
        }
        Ok(out)
    }
}

/// Validates `req` against the device type.
fn check(dt: &DeviceType, req: HistoryRequest, max_points: usize) -> Result<Plan> {
    let keys: Vec<(String, PropType)> = if req.keys.is_empty() {
        dt.properties
            .iter()
            .map(|p| (p.id.clone(), p.r#type))
            .collect()
    } else {
        let unknown: Vec<&str> = req
            .keys
            .iter()
            .filter(|k| dt.property(k).is_none())
            .take(10)
            .map(|k| k.get(..64).unwrap_or(k))
            .collect();
        if !unknown.is_empty() {
            return Err(Error::Invalid(format!(
                "not properties of device type {}: {}",
                dt.id,
                unknown.join(", ")
            )));
        }
        let mut keys: Vec<(String, PropType)> = Vec::new();
        for k in &req.keys {
            if let Some(p) = dt.property(k)
                && !keys.iter().any(|(id, _)| id == k)
            {
                keys.push((p.id.clone(), p.r#type));
            }
        }
        keys
    };
    if let (Some(f), Some(t)) = (req.from, req.to)
        && f >= t
    {
        return Err(Error::Invalid(format!(
            "from ({f}) must be before to ({t})"
        )));
    }
    match req.limit {
        Some(0) => return Err(Error::Invalid("limit must be at least 1".into())),
        Some(n) if n > max_points => {
            return Err(Error::Invalid(format!(
                "limit {n} is above the maximum of {max_points} points per key"
            )));
        }
        _ => {}
    }
    let agg = match (req.interval_ms, req.agg) {
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            return Err(Error::Invalid(
                "interval and agg must be given together".into(),
            ));
        }
        (Some(i), Some(a)) => Some((check_interval(i)?, a)),
    };
    if let Some((_, a)) = agg.filter(|(_, a)| a.numeric_only()) {
        let bad: Vec<&str> = keys
            .iter()
            .filter(|(_, t)| !matches!(t, PropType::Int | PropType::Float))
            .map(|(k, _)| k.as_str())
            .collect();
        if !bad.is_empty() {
            return Err(Error::Invalid(format!(
                "agg {a} needs numeric properties; not numeric: {} (use count, first or last)",
                bad.join(", ")
            )));
        }
    }
    let plan = Plan {
        keys,
        from: req.from,
        to: req.to,
        agg,
        limit: req.limit,
    };
    if let Some(n) = plan.bucket_count()
        && n > max_points as i128
    {
        return Err(Error::Invalid(format!(
            "{n} buckets per key is more than the maximum of {max_points}; use a larger interval \
             or a shorter time range"
        )));
    }
    Ok(plan)
}

/// 1 ms up to what fits in an interval's nanoseconds.
fn check_interval(ms: i64) -> Result<i64> {
    const MAX: i64 = i64::MAX / 1_000_000;
    if (1..=MAX).contains(&ms) {
        Ok(ms)
    } else {
        Err(Error::Invalid(format!(
            "interval must be between 1 and {MAX} ms, not {ms}"
        )))
    }
}

fn ts_lit(ms: i64) -> Expr {
    lit(ScalarValue::TimestampMillisecond(
        Some(ms),
        Some("UTC".into()),
    ))
}

impl Plan {
    /// First bucket start (aligned to the epoch) when gap filling applies.
    fn first_bucket(&self) -> Option<(i64, i64, i64)> {
        let (from, to, (iv, _)) = (self.from?, self.to?, self.agg?);
        Some((from.div_euclid(iv) * iv, to, iv))
    }

    fn bucket_count(&self) -> Option<i128> {
        let (start, to, iv) = self.first_bucket()?;
        let (span, iv) = (i128::from(to) - i128::from(start), i128::from(iv));
        Some((span + iv - 1) / iv)
    }

    /// The query for one key: its non-null values in range, raw newest first or bucketed.
    fn frame(
        &self,
        table: DataFrame,
        device: &str,
        key: &str,
    ) -> datafusion::error::Result<DataFrame> {
        let mut df = table.filter(ident(DEVICE).eq(lit(device)).and(ident(key).is_not_null()))?;
        if let Some(f) = self.from {
            df = df.filter(ident(TS).gt_eq(ts_lit(f)))?;
        }
        if let Some(t) = self.to {
            df = df.filter(ident(TS).lt(ts_lit(t)))?;
        }
        match self.agg {
            None => df
                .select(vec![ident(TS), ident(key)])?
                .sort(vec![ident(TS).sort(false, false)])?
                .limit(0, Some(self.limit.unwrap_or(DEFAULT_LIMIT))),
            Some((iv, agg)) => {
                let stride = lit(ScalarValue::new_interval_mdn(0, 0, iv * 1_000_000));
                let bucket = date_bin(stride, ident(TS), ts_lit(0)).alias("bucket");
                df.aggregate(vec![bucket], vec![agg.expr(ident(key)).alias("value")])?
                    .sort(vec![ident("bucket").sort(true, false)])?
                    .limit(0, self.limit)
            }
        }
    }

    /// Rows `(ts, value)` as points, gap-filled when `from`, `to` and an interval are set.
    fn points(&self, batches: &[RecordBatch], t: PropType) -> Result<Vec<HistoryPoint>> {
        let mut points = Vec::new();
        for b in batches {
            let ts = json_values(b.column(0))?;
            let vals = json_values(b.column(1))?;
            for (ts, v) in ts.into_iter().zip(vals) {
                let ts = ts
                    .as_i64()
                    .ok_or_else(|| Error::Internal("history: null ts".into()))?;
                points.push(HistoryPoint {
                    ts,
                    value: typed(v, t),
                });
            }
        }
        Ok(self.fill(points))
    }

    /// Gap-fills bucketed points when `from`, `to` and an interval are set.
    fn fill(&self, points: Vec<HistoryPoint>) -> Vec<HistoryPoint> {
        let Some((start, to, iv)) = self.first_bucket() else {
            return points;
        };
        let mut found: BTreeMap<i64, Value> = points.into_iter().map(|p| (p.ts, p.value)).collect();
        let limit = self.limit.unwrap_or(usize::MAX);
        std::iter::successors(Some(start), |b| b.checked_add(iv))
            .take_while(|b| *b < to)
            .take(limit)
            .map(|ts| HistoryPoint {
                ts,
                value: found.remove(&ts).unwrap_or(Value::Null),
            })
            .collect()
    }
}

/// JSON properties are stored as text: give them back as documents.
fn typed(v: Value, t: PropType) -> Value {
    match (t, v) {
        (PropType::Json, Value::String(s)) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        (_, v) => v,
    }
}
