//! Files a flush leaves: segments with their rollups, and the small marker files.

use std::path::Path;

use arrow_array::RecordBatch;

use crate::memtable::{MemTable, TableKey};
use crate::rollup::{self, Resolution};
use crate::segment::{self, SegmentMeta};
use crate::{Error, Result};

pub(crate) type Written = Vec<(TableKey, Option<Resolution>, SegmentMeta)>;

/// Start of the window a file lies in: its directory's name (rollup bounds are bucket starts,
/// which may precede the window), else from its last row.
pub(crate) fn window_start(m: &SegmentMeta, window: i64) -> i64 {
    m.file
        .path
        .parent()
        .and_then(|d| d.file_name()?.to_str()?.parse().ok())
        .unwrap_or_else(|| m.file.max_ts.div_euclid(window) * window)
}

/// Group each table's batches by schema (a device type may have changed while they arrived),
/// sort, split by window and write one segment per (table, schema, window).
pub(crate) fn write_segments(
    root: &Path,
    snap: &MemTable,
    seq: u64,
    window: i64,
) -> Result<Written> {
    let mut out: Written = Vec::new();
    let result = (|| -> Result<()> {
        for ((tenant, ty), batches) in &snap.tables {
            let mut groups: Vec<(arrow_schema::SchemaRef, Vec<RecordBatch>)> = Vec::new();
            for b in batches {
                match groups.iter_mut().find(|(s, _)| *s == b.schema()) {
                    Some((_, v)) => v.push(b.clone()),
                    None => groups.push((b.schema(), vec![b.clone()])),
                }
            }
            for (n, (schema, group)) in groups.iter().enumerate() {
                let all = arrow_select::concat::concat_batches(schema, group)?;
                let sorted = segment::sort_rows(&all)?;
                for (w, rows) in segment::split_windows(&sorted, window)? {
                    let dir = root.join(tenant).join(ty).join(w.to_string());
                    let name = format!("{seq:020}-{n}.parquet");
                    let m = segment::write(&dir, &name, &rows, seq)?;
                    out.push(((tenant.clone(), ty.clone()), None, m));
                    let table_dir = root.join(tenant).join(ty);
                    let all = Resolution::ALL;
                    for (r, m) in rollup::write_for(&table_dir, w, &name, &rows, seq, &all)? {
                        out.push(((tenant.clone(), ty.clone()), Some(r), m));
                    }
                }
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        // Leave no half-registered files behind: the next flush will write these rows again.
        for (_, _, m) in &out {
            let _ = std::fs::remove_file(&m.file.path);
        }
        return Err(e);
    }
    Ok(out)
}

pub(crate) fn read_marker(root: &Path) -> Result<u64> {
    let p = root.join("FLUSHED");
    match std::fs::read_to_string(&p) {
        Ok(s) => s
            .trim()
            .parse()
            .map_err(|_| Error::Codec(format!("{} is damaged: `{}`", p.display(), s.trim()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::io("reading", &p, e)),
    }
}

pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io("creating", &tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io("writing", &tmp, e))?;
    f.sync_all().map_err(|e| Error::io("syncing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io("renaming", &tmp, e))?;
    if let Some(dir) = path.parent() {
        segment::sync_dir(dir)?;
    }
    Ok(())
}
