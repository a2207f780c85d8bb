//! Kaiwu's time-series engine: WAL -> in-memory columnar buffer -> Parquet segments per tenant,
//! device type and time window, with a latest-value cache.

mod snapshot;

pub use snapshot::{SegmentFile, TableSnapshot, TimeRange};
