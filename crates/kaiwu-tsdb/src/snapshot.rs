//! What a query sees of one table: the Parquet segments that may hold rows in the asked time
//! range, and the rows still in memory. Plain Arrow and paths, so the query layer needs nothing
//! else from the engine.

use std::path::PathBuf;

use arrow_array::RecordBatch;

/// A half-open time range `[start, end)` in epoch ms; `None` is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub start: Option<i64>,
    /// Exclusive end.
    pub end: Option<i64>,
}

impl TimeRange {
    /// Everything.
    pub const ALL: TimeRange = TimeRange {
        start: None,
        end: None,
    };

    /// Whether `[min, max]` (inclusive) overlaps this range.
    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        self.start.is_none_or(|s| max >= s) && self.end.is_none_or(|e| min < e)
    }

    /// Whether `ts` is inside.
    pub fn contains(&self, ts: i64) -> bool {
        self.start.is_none_or(|s| ts >= s) && self.end.is_none_or(|e| ts < e)
    }
}

/// One immutable Parquet segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentFile {
    /// Absolute path.
    pub path: PathBuf,
    /// Smallest `ts` in the file.
    pub min_ts: i64,
    /// Largest `ts` in the file.
    pub max_ts: i64,
    /// Rows in the file.
    pub rows: u64,
    /// Size on disk.
    pub bytes: u64,
}

/// A consistent view of one device type's data in one tenant.
#[derive(Debug, Clone, Default)]
pub struct TableSnapshot {
    /// Segments overlapping the range, oldest first. Their schemas may lack columns added to
    /// the device type later (read them as NULL).
    pub files: Vec<SegmentFile>,
    /// In-memory rows overlapping the range (rows outside it may be included; filter them).
    /// Same schema caveat as `files`.
    pub batches: Vec<RecordBatch>,
}
