//! Parquet segments: `<root>/<tenant>/<type>/<window start ms>/<flush seq>-<n>.parquet`, rows
//! sorted by (device, ts). Each file records the flush it belongs to and its time bounds in the
//! footer's key-value metadata, so the index is rebuilt from the files alone.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, RecordBatch, TimestampMillisecondArray};
use arrow_ord::sort::{SortColumn, lexsort_to_indices};
use arrow_schema::DataType;
use kaiwu_core::batch::{DEVICE, TS};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::schema::types::ColumnPath;

use crate::rollup::Resolution;
use crate::{Error, Result, SegmentFile};

const META_FLUSH_SEQ: &str = "kaiwu.flush_seq";
const META_MIN_TS: &str = "kaiwu.min_ts";
const META_MAX_TS: &str = "kaiwu.max_ts";
const META_REPLACES: &str = "kaiwu.replaces";

/// What a segment's footer says about it.
#[derive(Debug, Clone)]
pub(crate) struct SegmentMeta {
    pub(crate) file: SegmentFile,
    pub(crate) flush_seq: u64,
    /// File names (same directory) a compaction merged into this one.
    pub(crate) replaces: Vec<String>,
}

fn parquet_err(path: &Path, source: parquet::errors::ParquetError) -> Error {
    Error::Parquet {
        path: path.display().to_string(),
        source,
    }
}

/// (window directory, file name) of a segment or rollup file: a rollup's is its segment's.
pub(crate) fn sibling_key(path: &Path) -> Option<(String, String)> {
    let name = path.file_name()?.to_str()?.to_owned();
    let w = path.parent()?.file_name()?.to_str()?.to_owned();
    Some((w, name))
}

/// Sort rows by (device, ts) so each series is contiguous: timestamps then delta-encode to
/// almost nothing and neighbouring values compress well.
pub(crate) fn sort_rows(b: &RecordBatch) -> Result<RecordBatch> {
    let (Some(dev), Some(ts)) = (b.column_by_name(DEVICE), b.column_by_name(TS)) else {
        return Ok(b.clone());
    };
    let cols = [
        SortColumn {
            values: dev.clone(),
            options: None,
        },
        SortColumn {
            values: ts.clone(),
            options: None,
        },
    ];
    let idx = lexsort_to_indices(&cols, None)?;
    Ok(arrow_select::take::take_record_batch(b, &idx)?)
}

/// Split rows (already sorted) by time window, keeping their order inside each window.
pub(crate) fn split_windows(b: &RecordBatch, window_ms: i64) -> Result<Vec<(i64, RecordBatch)>> {
    let ts = ts_column(b)?;
    let mut groups: std::collections::BTreeMap<i64, Vec<u32>> = Default::default();
    for (i, t) in ts.values().iter().enumerate() {
        let w = t.div_euclid(window_ms) * window_ms;
        groups
            .entry(w)
            .or_default()
            .push(u32::try_from(i).unwrap_or(u32::MAX));
    }
    if groups.len() == 1 {
        return Ok(groups.into_keys().map(|w| (w, b.clone())).collect());
    }
    groups
        .into_iter()
        .map(|(w, idx)| {
            let idx = arrow_array::UInt32Array::from(idx);
            Ok((w, arrow_select::take::take_record_batch(b, &idx)?))
        })
        .collect()
}

pub(crate) fn ts_column(b: &RecordBatch) -> Result<&TimestampMillisecondArray> {
    b.column_by_name(TS)
        .and_then(|c| c.as_any().downcast_ref::<TimestampMillisecondArray>())
        .ok_or_else(|| Error::Codec("batch has no millisecond `ts` column".into()))
}

fn props(
    b: &RecordBatch,
    flush_seq: u64,
    min: i64,
    max: i64,
    replaces: &[String],
) -> Result<WriterProperties> {
    let zstd = ZstdLevel::try_new(3).map_err(|e| parquet_err(Path::new("-"), e))?;
    let mut p = WriterProperties::builder()
        .set_compression(Compression::ZSTD(zstd))
        // Small row groups and pages: segments hold many series sorted by (device, ts), so
        // statistics then narrow a device or time filter to a few thousand rows.
        .set_max_row_group_row_count(Some(64 * 1024))
        .set_data_page_row_count_limit(8 * 1024)
        .set_key_value_metadata(Some(vec![
            KeyValue::new(META_FLUSH_SEQ.into(), flush_seq.to_string()),
            KeyValue::new(META_MIN_TS.into(), min.to_string()),
            KeyValue::new(META_MAX_TS.into(), max.to_string()),
            KeyValue::new(META_REPLACES.into(), replaces.join(",")),
        ]))
        // Sorted timestamps are near-constant deltas.
        .set_column_dictionary_enabled(ColumnPath::from(TS), false)
        .set_column_encoding(ColumnPath::from(TS), Encoding::DELTA_BINARY_PACKED);
    for f in b.schema().fields() {
        let path = ColumnPath::from(f.name().as_str());
        match f.data_type() {
            // Splitting float bytes into streams lets zstd find the slowly changing exponent
            // and high mantissa bytes of sensor series.
            DataType::Float64 => {
                p = p
                    .set_column_dictionary_enabled(path.clone(), false)
                    .set_column_encoding(path, Encoding::BYTE_STREAM_SPLIT);
            }
            DataType::Int64 => {
                p = p
                    .set_column_dictionary_enabled(path.clone(), false)
                    .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
            }
            _ => {}
        }
    }
    Ok(p.build())
}

/// Write one segment atomically: temp file, fsync, rename, fsync the directory.
pub(crate) fn write(
    dir: &Path,
    name: &str,
    rows: &RecordBatch,
    flush_seq: u64,
) -> Result<SegmentMeta> {
    write_replacing(dir, name, rows, flush_seq, &[])
}

/// As [`write`], recording the files this one replaces (compaction).
pub(crate) fn write_replacing(
    dir: &Path,
    name: &str,
    rows: &RecordBatch,
    flush_seq: u64,
    replaces: &[String],
) -> Result<SegmentMeta> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
    let ts = ts_column(rows)?;
    let min = ts.values().iter().copied().min().unwrap_or(0);
    let max = ts.values().iter().copied().max().unwrap_or(0);
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let f = File::create(&tmp).map_err(|e| Error::io("creating", &tmp, e))?;
    let mut w = ArrowWriter::try_new(
        f,
        rows.schema(),
        Some(props(rows, flush_seq, min, max, replaces)?),
    )
    .map_err(|e| parquet_err(&tmp, e))?;
    w.write(rows).map_err(|e| parquet_err(&tmp, e))?;
    let f = w.into_inner().map_err(|e| parquet_err(&tmp, e))?;
    f.sync_all().map_err(|e| Error::io("syncing", &tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, &path).map_err(|e| Error::io("renaming", &tmp, e))?;
    sync_dir(dir)?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    Ok(SegmentMeta {
        file: SegmentFile {
            path,
            min_ts: min,
            max_ts: max,
            rows: u64::try_from(rows.num_rows()).unwrap_or(u64::MAX),
            bytes,
        },
        flush_seq,
        replaces: replaces.to_vec(),
    })
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("syncing directory", dir, e))
}

/// Read a segment's footer. Any failure means the file cannot be trusted.
pub(crate) fn read_meta(path: &Path) -> Result<SegmentMeta> {
    let f = File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let bytes = f.metadata().map(|m| m.len()).unwrap_or(0);
    let r = SerializedFileReader::new(f).map_err(|e| parquet_err(path, e))?;
    let md = r.metadata().file_metadata();
    let kv = md.key_value_metadata().cloned().unwrap_or_default();
    let get = |k: &str| -> Result<i64> {
        kv.iter()
            .find(|e| e.key == k)
            .and_then(|e| e.value.as_deref())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::Codec(format!("{}: footer lacks {k}", path.display())))
    };
    Ok(SegmentMeta {
        file: SegmentFile {
            path: path.to_owned(),
            min_ts: get(META_MIN_TS)?,
            max_ts: get(META_MAX_TS)?,
            rows: u64::try_from(md.num_rows()).unwrap_or(0),
            bytes,
        },
        flush_seq: u64::try_from(get(META_FLUSH_SEQ)?).unwrap_or(0),
        replaces: kv
            .iter()
            .find(|e| e.key == META_REPLACES)
            .and_then(|e| e.value.as_deref())
            .map(|v| {
                v.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// A segment found on disk, with the (tenant, type) it belongs to.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) tenant: String,
    pub(crate) device_type: String,
    pub(crate) path: PathBuf,
    /// Set for rollup files.
    pub(crate) rollup: Option<Resolution>,
}

/// Every `*.parquet` under `root/<tenant>/<type>/<window>/` and the rollups under
/// `root/<tenant>/<type>/_rollup_<res>/<window>/`; leftover `*.tmp` files (a flush or
/// compaction that died before its rename) are deleted.
pub(crate) fn scan(root: &Path) -> Result<Vec<Found>> {
    let mut out = Vec::new();
    for tenant in subdirs(root)? {
        let tname = file_name(&tenant);
        if tname == "quarantine" {
            continue;
        }
        for ty in subdirs(&tenant)? {
            let mut windows: Vec<(PathBuf, Option<Resolution>)> = Vec::new();
            for w in subdirs(&ty)? {
                match Resolution::from_dir(&file_name(&w)) {
                    Some(r) => windows.extend(subdirs(&w)?.into_iter().map(|d| (d, Some(r)))),
                    None => windows.push((w, None)),
                }
            }
            for (window, rollup) in windows {
                let rd =
                    std::fs::read_dir(&window).map_err(|e| Error::io("listing", &window, e))?;
                for e in rd.flatten() {
                    let p = e.path();
                    match p.extension().and_then(|x| x.to_str()) {
                        Some("parquet") => out.push(Found {
                            tenant: tname.clone(),
                            device_type: file_name(&ty),
                            path: p,
                            rollup,
                        }),
                        Some("tmp") => {
                            let _ = std::fs::remove_file(&p);
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn subdirs(p: &Path) -> Result<Vec<PathBuf>> {
    let rd = match std::fs::read_dir(p) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("listing", p, e)),
    };
    Ok(rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Move an untrustworthy file aside (never read silently, never deleted: an operator may want
/// to inspect or salvage it).
pub(crate) fn quarantine(root: &Path, path: &Path) -> Option<PathBuf> {
    let q = root.join("quarantine");
    let rel = path.strip_prefix(root).unwrap_or(path);
    let flat: String = rel.to_string_lossy().replace(['/', '\\'], "__");
    let target = q.join(flat);
    let moved = std::fs::create_dir_all(&q).and_then(|()| std::fs::rename(path, &target));
    moved.ok().map(|()| target)
}

/// Read all rows of a segment.
pub(crate) fn read_all(path: &Path) -> Result<Vec<RecordBatch>> {
    let f = File::open(path).map_err(|e| Error::io("opening", path, e))?;
    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .and_then(|b| b.build())
        .map_err(|e| parquet_err(path, e))?;
    Ok(r.collect::<Result<Vec<_>, _>>()?)
}

/// Arc alias used by the index.
pub(crate) type Segments = Vec<Arc<SegmentMeta>>;
