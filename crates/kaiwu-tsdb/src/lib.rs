//! Kaiwu's time-series engine: WAL -> in-memory columnar buffer -> Parquet segments per tenant,
//! device type and time window, with a latest-value cache. See `engine.rs` for the recovery
//! invariant.

mod codec;
mod compact;
mod engine;
mod error;
mod flush;
mod latest;
mod maintenance;
mod memtable;
mod options;
mod rollup;
mod segment;
mod snapshot;

pub use engine::{FlushStats, OpenReport, Tsdb};
pub use error::{Error, Result};
pub use latest::LatestValue;
pub use options::{Durability, TsdbOptions};
pub use rollup::{Buckets, Partial, Resolution, RollupSnapshot};
pub use snapshot::{SegmentFile, TableSnapshot, TimeRange};

#[cfg(test)]
mod test_util;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_rollup;
