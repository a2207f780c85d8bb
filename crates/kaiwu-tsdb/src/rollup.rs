//! Downsampling rollups: per (device, bucket) partial aggregates of every numeric property, at
//! 1 min and 1 h, written next to each segment under
//! `<root>/<tenant>/<type>/_rollup_<res>/<window>/<segment file name>`.
//!
//! A rollup is written only where it pays: when it has at most a tenth of its segment's rows
//! (`MIN_ROWS_PER_BUCKET`). Sparse data (say one value per 10 s, against 1 min buckets) is
//! cheaper to read raw than to store twice, so readers fold the rows of segments without a
//! rollup sibling themselves. A flush computes partials only from its own rows, so one bucket may
//! have a partial per segment; readers merge them. Compaction rewrites the rollups of the
//! segments it merges. A rollup file whose segment is gone is an orphan and removed on open.
use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use kaiwu_core::batch::{DEVICE, QUALITY_PREFIX, TS};

use crate::segment::ts_column;
use crate::{Result, SegmentFile, TimeRange};

/// A rollup is kept only if it cuts the rows read at least this many times.
pub(crate) const MIN_ROWS_PER_BUCKET: usize = 10;

/// Bucket width of a rollup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resolution {
    /// 60 s buckets.
    Minute,
    /// 3600 s buckets.
    Hour,
}

impl Resolution {
    /// Both, finest first.
    pub const ALL: [Resolution; 2] = [Resolution::Minute, Resolution::Hour];

    /// Bucket width in ms.
    pub fn ms(self) -> i64 {
        match self {
            Resolution::Minute => 60_000,
            Resolution::Hour => 3_600_000,
        }
    }

    pub(crate) fn dir(self) -> &'static str {
        match self {
            Resolution::Minute => "_rollup_1m",
            Resolution::Hour => "_rollup_1h",
        }
    }

    pub(crate) fn from_dir(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.dir() == name)
    }
}

/// Aggregate state of the values of one property in one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Partial {
    /// Number of values.
    pub count: i64,
    /// Their sum.
    pub sum: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Time of the earliest.
    pub first_ts: i64,
    /// The earliest.
    pub first: f64,
    /// Time of the latest.
    pub last_ts: i64,
    /// The latest.
    pub last: f64,
}

impl Partial {
    fn one(ts: i64, v: f64) -> Self {
        Partial {
            count: 1,
            sum: v,
            min: v,
            max: v,
            first_ts: ts,
            first: v,
            last_ts: ts,
            last: v,
        }
    }

    /// Fold `o` in. On equal timestamps the earlier-folded first and later-folded last win,
    /// matching row order.
    pub fn merge(&mut self, o: &Partial) {
        self.count += o.count;
        self.sum += o.sum;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        if o.first_ts < self.first_ts {
            (self.first_ts, self.first) = (o.first_ts, o.first);
        }
        if o.last_ts >= self.last_ts {
            (self.last_ts, self.last) = (o.last_ts, o.last);
        }
    }
}

/// Merged partials per bucket start.
pub type Buckets = BTreeMap<i64, Partial>;

/// What `history` needs for one table: rollup files of flushed rows, raw batches of the rest.
/// Taken under one lock, so every row is in exactly one of the two.
#[derive(Debug, Clone)]
pub struct RollupSnapshot {
    /// Bucket width.
    pub resolution: Resolution,
    /// Rollup files that may hold buckets in the range.
    pub files: Vec<SegmentFile>,
    /// Rows not yet flushed (not in any rollup).
    pub batches: Vec<RecordBatch>,
    /// Segments in the range too sparse to have a rollup at this resolution: read raw.
    pub raw_files: Vec<SegmentFile>,
}

impl RollupSnapshot {
    /// Partials of `device`'s `properties` (in that order) for buckets starting in `range`.
    /// Reads files: blocking.
    pub fn buckets(
        &self,
        device: &str,
        properties: &[&str],
        range: TimeRange,
    ) -> Result<Vec<Buckets>> {
        let mut out = vec![Buckets::new(); properties.len()];
        let mut add = |j: usize, b: i64, p: &Partial| {
            if range.contains(b) {
                out[j].entry(b).and_modify(|x| x.merge(p)).or_insert(*p);
            }
        };
        for f in &self.files {
            for b in crate::segment::read_all(&f.path)? {
                for (j, prop) in properties.iter().enumerate() {
                    read_partials(&b, device, prop, &mut |b, p| add(j, b, p))?;
                }
            }
        }
        let raw: Vec<Vec<RecordBatch>> = self
            .raw_files
            .iter()
            .map(|f| crate::segment::read_all(&f.path))
            .collect::<Result<_>>()?;
        for b in raw.iter().flatten().chain(&self.batches) {
            fold_device(b, device, properties, self.resolution, &mut add)?;
        }
        Ok(out)
    }
}

/// Fold `device`'s rows of raw batch `b` into partials of `properties` (by index) per bucket.
fn fold_device(
    b: &RecordBatch,
    device: &str,
    properties: &[&str],
    res: Resolution,
    add: &mut impl FnMut(usize, i64, &Partial),
) -> Result<()> {
    let Some(dev) = b.column_by_name(DEVICE) else {
        return Ok(());
    };
    // Only this device's rows: the memtable and segments hold every device of the type.
    let mask = arrow_ord::cmp::eq(dev, &StringArray::new_scalar(device))?;
    let b = arrow_select::filter::filter_record_batch(b, &mask)?;
    let present: Vec<(usize, usize)> = properties
        .iter()
        .enumerate()
        .filter_map(|(j, p)| Some((j, b.schema().index_of(p).ok()?)))
        .collect();
    let cols: Vec<usize> = present.iter().map(|x| x.1).collect();
    for ((_, bucket), ps) in fold(&b, res.ms(), &cols)? {
        for ((j, _), p) in present.iter().zip(&ps) {
            if let Some(p) = p {
                add(*j, bucket, p);
            }
        }
    }
    Ok(())
}

type Folded<'a> = BTreeMap<(&'a str, i64), Vec<Option<Partial>>>;

/// Partials of the columns `cols` of `b` per (device, bucket). Walks rows in order; sorted
/// input makes consecutive rows hit the same entry.
fn fold<'a>(b: &'a RecordBatch, res_ms: i64, cols: &[usize]) -> Result<Folded<'a>> {
    let ts = ts_column(b)?;
    let dev = b
        .column_by_name(DEVICE)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| crate::Error::Codec("batch has no utf8 `device` column".into()))?;
    let values: Vec<Option<Float64Array>> = cols
        .iter()
        .map(|&i| as_f64(b.column(i)))
        .collect::<Result<_>>()?;
    let mut out = Folded::new();
    for row in 0..b.num_rows() {
        let t = ts.value(row);
        let key = (dev.value(row), t.div_euclid(res_ms) * res_ms);
        let slot = out.entry(key).or_insert_with(|| vec![None; cols.len()]);
        for (s, v) in slot.iter_mut().zip(&values) {
            let Some(v) = v.as_ref().filter(|v| v.is_valid(row)) else {
                continue;
            };
            let p = Partial::one(t, v.value(row));
            match s {
                Some(s) => s.merge(&p),
                None => *s = Some(p),
            }
        }
    }
    Ok(out)
}

fn as_f64(c: &ArrayRef) -> Result<Option<Float64Array>> {
    Ok(match c.data_type() {
        DataType::Float64 => Some(c.as_primitive::<Float64Type>().clone()),
        DataType::Int64 => Some(c.as_primitive::<Int64Type>().unary(|v| v as f64)),
        _ => None,
    })
}

/// Columns of `b` that get rollups: numeric properties.
fn numeric(b: &RecordBatch) -> Vec<(usize, String)> {
    b.schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            let n = f.name();
            n != TS
                && !n.starts_with(QUALITY_PREFIX)
                && matches!(f.data_type(), DataType::Int64 | DataType::Float64)
        })
        .map(|(i, f)| (i, f.name().clone()))
        .collect()
}

const SUFFIXES: [&str; 8] = [
    "count", "sum", "min", "max", "first_ts", "first", "last_ts", "last",
];

/// The rollup rows of `b` (one row per (device, bucket)); None when `b` has no numeric property.
pub(crate) fn compute(b: &RecordBatch, res: Resolution) -> Result<Option<RecordBatch>> {
    let props = numeric(b);
    if props.is_empty() || b.num_rows() == 0 {
        return Ok(None);
    }
    let cols: Vec<usize> = props.iter().map(|(i, _)| *i).collect();
    let folded = fold(b, res.ms(), &cols)?;
    let mut fields = vec![
        Field::new(
            TS,
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        Field::new(DEVICE, DataType::Utf8, false),
    ];
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMillisecondArray::from_iter_values(folded.keys().map(|k| k.1))
                .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from_iter_values(folded.keys().map(|k| k.0))),
    ];
    for (j, (_, name)) in props.iter().enumerate() {
        let ps: Vec<Option<Partial>> = folded.values().map(|v| v[j]).collect();
        for s in SUFFIXES {
            let int = matches!(s, "count" | "first_ts" | "last_ts");
            let dt = if int {
                DataType::Int64
            } else {
                DataType::Float64
            };
            fields.push(Field::new(format!("{name}__{s}"), dt, true));
            let get = |p: &Partial| -> (i64, f64) {
                match s {
                    "count" => (p.count, 0.0),
                    "sum" => (0, p.sum),
                    "min" => (0, p.min),
                    "max" => (0, p.max),
                    "first_ts" => (p.first_ts, 0.0),
                    "first" => (0, p.first),
                    "last_ts" => (p.last_ts, 0.0),
                    _ => (0, p.last),
                }
            };
            arrays.push(if int {
                Arc::new(
                    ps.iter()
                        .map(|p| p.as_ref().map(|p| get(p).0))
                        .collect::<Int64Array>(),
                )
            } else {
                Arc::new(
                    ps.iter()
                        .map(|p| p.as_ref().map(|p| get(p).1))
                        .collect::<Float64Array>(),
                )
            });
        }
    }
    Ok(Some(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        arrays,
    )?))
}

/// Feed the partials of `device`'s `property` in rollup rows `b` to `add`.
fn read_partials(
    b: &RecordBatch,
    device: &str,
    property: &str,
    add: &mut impl FnMut(i64, &Partial),
) -> Result<()> {
    let col = |s: &str| b.column_by_name(&format!("{property}__{s}"));
    let (Some(count), Some(dev)) = (col("count"), b.column_by_name(DEVICE)) else {
        return Ok(()); // Flushed before the property existed.
    };
    let ts = ts_column(b)?;
    let dev = dev.as_string::<i32>();
    let count = count.as_primitive::<Int64Type>();
    let i = |s: &str| col(s).and_then(|c| c.as_primitive_opt::<Int64Type>().cloned());
    let f = |s: &str| col(s).and_then(|c| c.as_primitive_opt::<Float64Type>().cloned());
    let (Some(sum), Some(min), Some(max), Some(first), Some(last)) =
        (f("sum"), f("min"), f("max"), f("first"), f("last"))
    else {
        return Err(crate::Error::Codec(format!(
            "rollup of {property} is incomplete"
        )));
    };
    let (Some(first_ts), Some(last_ts)) = (i("first_ts"), i("last_ts")) else {
        return Err(crate::Error::Codec(format!(
            "rollup of {property} is incomplete"
        )));
    };
    for r in 0..b.num_rows() {
        if dev.value(r) != device || count.is_null(r) || count.value(r) == 0 {
            continue;
        }
        add(
            ts.value(r),
            &Partial {
                count: count.value(r),
                sum: sum.value(r),
                min: min.value(r),
                max: max.value(r),
                first_ts: first_ts.value(r),
                first: first.value(r),
                last_ts: last_ts.value(r),
                last: last.value(r),
            },
        );
    }
    Ok(())
}

/// Rollup files of one flush; each sits at the segment's name under `_rollup_<res>/<window>/`.
pub(crate) type RollupFiles = Vec<(Resolution, crate::segment::SegmentMeta)>;

/// Write the rollups (at resolutions `res`) of segment rows `rows`, window `w` of `table_dir`,
/// named like the segment.
pub(crate) fn write_for(
    table_dir: &std::path::Path,
    w: i64,
    name: &str,
    rows: &RecordBatch,
    seq: u64,
    res: &[Resolution],
) -> Result<RollupFiles> {
    let mut out = Vec::new();
    for &r in res {
        let Some(agg) = compute(rows, r)? else {
            continue;
        };
        if agg.num_rows().saturating_mul(MIN_ROWS_PER_BUCKET) <= rows.num_rows() {
            let dir = table_dir.join(r.dir()).join(w.to_string());
            out.push((r, crate::segment::write(&dir, name, &agg, seq)?));
        }
    }
    Ok(out)
}

/// Rollups for segments written before rollups existed (one-time, on the first open that knows
/// them). Idempotent: rollup siblings that exist are skipped, so a crash midway only repeats
/// work. They keep the segment's flush seq, so they are never taken for orphans.
pub(crate) fn backfill(segments: &[Arc<crate::segment::SegmentMeta>]) -> Result<RollupFiles> {
    let mut out = Vec::new();
    for m in segments {
        let path = &m.file.path;
        let (Some(wdir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str()))
        else {
            continue;
        };
        let (Some(table_dir), Some(w)) = (
            wdir.parent(),
            wdir.file_name()
                .and_then(|n| n.to_str()?.parse::<i64>().ok()),
        ) else {
            continue;
        };
        let missing: Vec<Resolution> = Resolution::ALL
            .into_iter()
            .filter(|r| {
                !table_dir
                    .join(r.dir())
                    .join(w.to_string())
                    .join(name)
                    .exists()
            })
            .collect();
        if missing.is_empty() {
            continue;
        }
        let batches = crate::segment::read_all(path)?;
        let Some(first) = batches.first() else {
            continue;
        };
        let rows = arrow_select::concat::concat_batches(&first.schema(), &batches)?;
        out.extend(write_for(table_dir, w, name, &rows, m.flush_seq, &missing)?);
    }
    Ok(out)
}
