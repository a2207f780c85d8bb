use std::time::Duration;

pub use kaiwu_wal::Durability;

/// Engine tunables.
#[derive(Debug, Clone)]
pub struct TsdbOptions {
    /// When a write counts as durable.
    pub durability: Durability,
    /// Flush the in-memory buffer to Parquet once it holds this many rows.
    pub flush_rows: usize,
    /// ... or once its oldest row is this old.
    pub flush_interval: Duration,
    /// Width of a time partition (one directory per window).
    pub window: Duration,
}

impl Default for TsdbOptions {
    fn default() -> Self {
        Self {
            durability: Durability::Fsync,
            flush_rows: 500_000,
            flush_interval: Duration::from_secs(60),
            window: Duration::from_secs(24 * 3600),
        }
    }
}
