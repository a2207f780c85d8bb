//! Rows acknowledged but not yet in Parquet, per (tenant, device type), as the batches arrived.
//! Runs of small batches are concatenated as they accumulate: every Arrow array carries fixed
//! overhead, which for a wide device type written a few rows at a time (a connector polling
//! 1,000 registers per device) costs far more memory than the values, and slows every query
//! and flush that walks the batches.

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
    /// Per table, how many leading batches are past merging (already merged, or large).
    pub(crate) settled: HashMap<TableKey, usize>,
}

/// Merge a table's unsettled batches once there are this many...
const MERGE_BATCHES: usize = 32;
/// ...if they average fewer rows than this (larger ones gain nothing from a copy).
const SMALL_ROWS: usize = 1024;

impl MemTable {
    pub(crate) fn insert(&mut self, seq: u64, tenant: &str, device_type: &str, rows: RecordBatch) {
        self.rows += rows.num_rows();
        self.bytes += rows.get_array_memory_size();
        self.max_seq = self.max_seq.max(seq);
        self.since.get_or_insert_with(Instant::now);
        let key = (tenant.to_owned(), device_type.to_owned());
        let batches = self.tables.entry(key.clone()).or_default();
        batches.push(rows);
        let settled = self.settled.entry(key).or_default();
        if batches.len() - *settled >= MERGE_BATCHES {
            let tail = &batches[*settled..];
            let tail_rows: usize = tail.iter().map(RecordBatch::num_rows).sum();
            if tail_rows / tail.len() < SMALL_ROWS {
                let before: usize = tail.iter().map(RecordBatch::get_array_memory_size).sum();
                let merged = merge_runs(tail);
                let after: usize = merged.iter().map(RecordBatch::get_array_memory_size).sum();
                batches.truncate(*settled);
                batches.extend(merged);
                self.bytes = (self.bytes + after).saturating_sub(before);
            }
            *settled = batches.len();
        }
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
            let e = self.tables.entry(k.clone()).or_default();
            v.append(e);
            *e = v;
            self.settled.insert(k, 0);
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

/// Concatenate each run of consecutive batches that share a schema (a device type change
/// starts a new run). A run that cannot be concatenated is kept as it was.
fn merge_runs(batches: &[RecordBatch]) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < batches.len() {
        let schema = batches[start].schema();
        let end = start
            + batches[start..]
                .iter()
                .take_while(|b| b.schema() == schema)
                .count();
        let run = &batches[start..end];
        match run.len() {
            1 => out.push(run[0].clone()),
            _ => match arrow_select::concat::concat_batches(&schema, run) {
                Ok(b) => out.push(b),
                Err(_) => out.extend(run.iter().cloned()),
            },
        }
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::{Int64Array, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};

    use super::{MERGE_BATCHES, MemTable};

    fn one_row(schema: &Arc<Schema>, v: i64) -> RecordBatch {
        RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![v]))]).unwrap()
    }

    #[test]
    fn small_batches_are_merged_in_order_and_schema_changes_start_a_new_run() {
        let a = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        let b = Arc::new(Schema::new(vec![Field::new("y", DataType::Int64, true)]));
        let mut m = MemTable::default();
        let n = 3 * MERGE_BATCHES as i64 + 5;
        let mut bytes_unmerged = 0;
        for i in 0..n {
            // A device type change in the middle of a run.
            let s = if i == MERGE_BATCHES as i64 / 2 {
                &b
            } else {
                &a
            };
            let batch = one_row(s, i);
            bytes_unmerged += batch.get_array_memory_size();
            m.insert(i as u64 + 1, "t", "ty", batch);
        }
        let batches = m.batches("t", "ty");
        assert!(batches.len() < 12, "{} batches left", batches.len());
        assert_eq!(m.rows, n as usize);
        assert_eq!(m.max_seq, n as u64);
        assert!(
            m.bytes < bytes_unmerged / 4,
            "{} vs {bytes_unmerged}",
            m.bytes
        );
        let mut seen = Vec::new();
        for batch in &batches {
            seen.extend(
                batch
                    .column(0)
                    .as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .copied(),
            );
        }
        assert_eq!(seen, (0..n).collect::<Vec<_>>(), "rows keep their order");
        let with_b: Vec<_> = batches.iter().filter(|x| x.schema() == b).collect();
        assert_eq!(with_b.len(), 1);
        assert_eq!(with_b[0].num_rows(), 1);
    }
}
