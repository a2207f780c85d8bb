//! Rows acknowledged but not yet in Parquet, per (tenant, device type), as the batches arrived.

use std::collections::HashMap;
use std::time::Instant;

use arrow_array::RecordBatch;

/// (tenant, device type).
pub(crate) type TableKey = (String, String);

/// The in-memory buffer.
#[derive(Debug, Default)]
pub(crate) struct MemTable {
    pub(crate) tables: HashMap<TableKey, Vec<RecordBatch>>,
    pub(crate) rows: usize,
    pub(crate) bytes: usize,
    /// Highest WAL sequence number whose rows are in here.
    pub(crate) max_seq: u64,
    pub(crate) since: Option<Instant>,
}

impl MemTable {
    pub(crate) fn insert(&mut self, seq: u64, tenant: &str, device_type: &str, rows: RecordBatch) {
        self.rows += rows.num_rows();
        self.bytes += rows.get_array_memory_size();
        self.max_seq = self.max_seq.max(seq);
        self.since.get_or_insert_with(Instant::now);
        self.tables
            .entry((tenant.to_owned(), device_type.to_owned()))
            .or_default()
            .push(rows);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub(crate) fn batches(&self, tenant: &str, device_type: &str) -> Vec<RecordBatch> {
        self.tables
            .get(&(tenant.to_owned(), device_type.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    /// Put back rows of a flush that failed, in front of what arrived since.
    pub(crate) fn absorb_older(&mut self, older: MemTable) {
        for (k, mut v) in older.tables {
            let e = self.tables.entry(k).or_default();
            v.append(e);
            *e = v;
        }
        self.rows += older.rows;
        self.bytes += older.bytes;
        self.max_seq = self.max_seq.max(older.max_seq);
        self.since = match (self.since, older.since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}
