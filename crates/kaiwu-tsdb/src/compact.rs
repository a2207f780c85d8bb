//! Compaction: the flushes of one time window are merged into one file sorted by (device, ts),
//! so queries open few files and series compress as one run.
//!
//! Crash safety: the merged file is complete before it becomes visible (temp file + rename) and
//! its footer names the files it replaces. If the node dies before those are deleted, `open`
//! deletes them then, so no row is ever counted twice. Replaced files are deleted only after a
//! grace period longer than any query may run, so a query that already planned them finishes.
//!
//! The merged file's rollups are written before it: once it exists, so do they (where dense
//! enough), and the inputs' rollups become orphans that `open` removes with their segments.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{RecordBatch, RecordBatchOptions, new_null_array};
use arrow_schema::{Schema, SchemaRef};

use crate::rollup::{self, Resolution, RollupFiles};
use crate::segment::{self, SegmentMeta};
use crate::{Error, Result};

/// Merge a window once it has this many files.
pub(crate) const MIN_FILES: usize = 4;
/// Never hold more rows than this in memory for one merge.
pub(crate) const MAX_ROWS: u64 = 4_000_000;

/// Pick, per window, the files worth merging: at least `MIN_FILES`, at most `MAX_ROWS` rows.
pub(crate) fn plan(files: &[Arc<SegmentMeta>], window: i64) -> Vec<Vec<Arc<SegmentMeta>>> {
    let mut by_window: BTreeMap<i64, Vec<Arc<SegmentMeta>>> = BTreeMap::new();
    for f in files {
        by_window
            .entry(f.file.min_ts.div_euclid(window))
            .or_default()
            .push(f.clone());
    }
    by_window
        .into_values()
        .filter_map(|mut v| {
            v.sort_by_key(|m| m.file.rows);
            let mut rows = 0;
            v.retain(|m| {
                rows += m.file.rows;
                rows <= MAX_ROWS
            });
            (v.len() >= MIN_FILES).then_some(v)
        })
        .collect()
}

/// Adapt a batch to `target` (a superset of its columns), adding NULL columns.
fn widen(b: &RecordBatch, target: &SchemaRef) -> Result<RecordBatch> {
    let own = b.schema();
    let by_name = kaiwu_core::batch::column_positions(&own);
    let cols = target
        .fields()
        .iter()
        .map(|f| match by_name.get(f.name().as_str()) {
            Some(i) => b.column(*i).clone(),
            None => new_null_array(f.data_type(), b.num_rows()),
        })
        .collect();
    let opts = RecordBatchOptions::new().with_row_count(Some(b.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        target.clone(),
        cols,
        &opts,
    )?)
}

/// Merge `inputs` (all in one window directory) into one new segment with its rollups.
pub(crate) fn merge(inputs: &[Arc<SegmentMeta>]) -> Result<(SegmentMeta, RollupFiles)> {
    let dir: PathBuf = inputs
        .first()
        .and_then(|m| m.file.path.parent())
        .map(PathBuf::from)
        .ok_or_else(|| Error::Codec("nothing to compact".into()))?;
    let mut batches = Vec::new();
    for m in inputs {
        batches.extend(segment::read_all(&m.file.path)?);
    }
    let schemas: Vec<Schema> = batches
        .iter()
        .map(|b| b.schema().as_ref().clone())
        .collect();
    // Types of stored properties never change (the registry refuses it), so this only adds
    // columns that newer device type versions introduced.
    let target = Arc::new(Schema::try_merge(schemas)?);
    let widened = batches
        .iter()
        .map(|b| widen(b, &target))
        .collect::<Result<Vec<_>>>()?;
    let all = arrow_select::concat::concat_batches(&target, &widened)?;
    let sorted = segment::sort_rows(&all)?;
    let seq = inputs.iter().map(|m| m.flush_seq).max().unwrap_or(0);
    let replaces: Vec<String> = inputs
        .iter()
        .filter_map(|m| {
            m.file
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .collect();
    let name = format!("{seq:020}-c{}.parquet", kaiwu_core::now_ms());
    let (Some(table_dir), Some(w)) = (
        dir.parent(),
        dir.file_name()
            .and_then(|n| n.to_str()?.parse::<i64>().ok()),
    ) else {
        return Err(Error::Codec(format!(
            "{} is not a window directory",
            dir.display()
        )));
    };
    let rollups = rollup::write_for(table_dir, w, &name, &sorted, seq, &Resolution::ALL)?;
    let merged = segment::write_replacing(&dir, &name, &sorted, seq, &replaces)?;
    Ok((merged, rollups))
}
