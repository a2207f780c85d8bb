//! The engine: durable writes through the WAL into the memtable, flushes into Parquet segments,
//! recovery on open, and consistent snapshots for queries.
//!
//! Recovery invariant: the `FLUSHED` marker names a WAL sequence number S such that every record
//! with seq <= S is in a segment whose footer says `flush_seq <= S`. On open, segments with a
//! larger `flush_seq` belong to a flush that never completed and are deleted (their rows are
//! still in the WAL), and replay skips records <= S. So nothing acknowledged is lost and nothing
//! is stored twice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use arrow_array::RecordBatch;
use kaiwu_core::Batch;
use kaiwu_wal::{Wal, WalOptions};

use crate::latest::{Latest, LatestValue};
use crate::memtable::{MemTable, TableKey};
use crate::segment::{self, SegmentMeta, Segments};
use crate::{Error, Result, TableSnapshot, TimeRange, TsdbOptions, codec};

/// What opening found.
#[derive(Debug, Default, Clone)]
pub struct OpenReport {
    /// WAL records replayed into memory.
    pub replayed: usize,
    /// Segments indexed.
    pub segments: usize,
    /// Segments of an unfinished flush, deleted (their rows came back from the WAL).
    pub orphans_removed: usize,
    /// Files moved to quarantine because they could not be read.
    pub quarantined: Vec<PathBuf>,
    /// Bytes of a torn WAL tail dropped (never acknowledged).
    pub torn_wal_bytes: u64,
}

/// Result of one flush.
#[derive(Debug, Default, Clone, Copy)]
pub struct FlushStats {
    /// Rows written.
    pub rows: usize,
    /// Segment files written.
    pub files: usize,
    /// WAL seq now covered by segments.
    pub through_seq: u64,
}

/// The time-series engine of one node.
pub struct Tsdb {
    root: PathBuf,
    opts: TsdbOptions,
    wal: Wal,
    /// Writers hold it shared from WAL append to memtable insert; a flush holds it exclusively
    /// while it swaps the memtable, so the swapped memtable has every seq up to its max.
    gate: tokio::sync::RwLock<()>,
    /// Rows are always in exactly one of memtable, flushing or segments; one lock over all
    /// three makes every move between them atomic for snapshot readers.
    state: RwLock<State>,
    latest: Latest,
    flush_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Tsdb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tsdb")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct State {
    mem: MemTable,
    flushing: Option<Arc<MemTable>>,
    segments: BTreeMap<TableKey, Segments>,
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

impl Tsdb {
    /// Open the engine in `data_dir` (`tsdb/` for segments, `wal/` for the log), recovering
    /// whatever a crash left. Blocking: call before serving or from a blocking context.
    pub fn open(data_dir: &Path, opts: TsdbOptions) -> Result<(Self, OpenReport)> {
        let root = data_dir.join("tsdb");
        std::fs::create_dir_all(&root).map_err(|e| Error::io("creating", &root, e))?;
        let marker = read_marker(&root)?;
        let mut report = OpenReport::default();
        let mut found_ok = Vec::new();
        for found in segment::scan(&root)? {
            match segment::read_meta(&found.path) {
                Ok(m) if m.flush_seq > marker => {
                    tracing::info!(path = %found.path.display(), "removing segment of an unfinished flush");
                    std::fs::remove_file(&found.path)
                        .map_err(|e| Error::io("removing", &found.path, e))?;
                    report.orphans_removed += 1;
                }
                Ok(m) => found_ok.push(((found.tenant, found.device_type), m)),
                Err(e) => {
                    tracing::error!(path = %found.path.display(), error = %e, "segment unreadable; quarantined");
                    if let Some(q) = segment::quarantine(&root, &found.path) {
                        report.quarantined.push(q);
                    }
                }
            }
        }
        // Inputs of a finished compaction that a crash left behind: their rows are in the
        // merged file already.
        let replaced: std::collections::HashSet<PathBuf> = found_ok
            .iter()
            .flat_map(|(_, m)| {
                let dir = m.file.path.parent().map(PathBuf::from).unwrap_or_default();
                m.replaces.iter().map(move |n| dir.join(n))
            })
            .collect();
        let mut index: BTreeMap<TableKey, Segments> = BTreeMap::new();
        for (key, m) in found_ok {
            if replaced.contains(&m.file.path) {
                std::fs::remove_file(&m.file.path)
                    .map_err(|e| Error::io("removing", &m.file.path, e))?;
                report.orphans_removed += 1;
                continue;
            }
            index.entry(key).or_default().push(Arc::new(m));
            report.segments += 1;
        }
        let latest = Latest::load(&root.join("latest.json"));
        let wal_opts = WalOptions {
            durability: opts.durability,
            ..WalOptions::default()
        };
        let (wal, replayed) = Wal::open(&data_dir.join("wal"), wal_opts)?;
        report.torn_wal_bytes = replayed.torn_bytes;
        report.quarantined.extend(replayed.quarantined);
        let mut mem = MemTable::default();
        for (seq, payload) in replayed.records.into_iter().filter(|(s, _)| *s > marker) {
            match codec::decode(&payload) {
                Ok(b) => {
                    latest.update(&b);
                    mem.insert(seq, &b.tenant, &b.device_type, b.rows);
                    report.replayed += 1;
                }
                Err(e) => tracing::error!(seq, error = %e, "wal record skipped"),
            }
        }
        let db = Self {
            root,
            opts,
            wal,
            gate: tokio::sync::RwLock::new(()),
            state: RwLock::new(State {
                mem,
                flushing: None,
                segments: index,
            }),
            latest,
            flush_lock: tokio::sync::Mutex::new(()),
        };
        Ok((db, report))
    }

    /// Store a batch; returns (with its WAL seq) only once it is durable as configured.
    pub async fn write(&self, batch: Batch) -> Result<u64> {
        if batch.num_rows() == 0 {
            return Ok(self.wal.last_seq());
        }
        let payload = codec::encode(&batch)?;
        let seq = {
            let _g = self.gate.read().await;
            let seq = self.wal.append(payload).await?;
            write(&self.state).mem.insert(
                seq,
                &batch.tenant,
                &batch.device_type,
                batch.rows.clone(),
            );
            seq
        };
        self.latest.update(&batch);
        metrics::counter!("kaiwu_tsdb_rows_total").increment(batch.num_rows() as u64);
        metrics::counter!("kaiwu_tsdb_points_total").increment(batch.num_points() as u64);
        Ok(seq)
    }

    /// Whether the memtable is due for a flush.
    pub fn flush_due(&self) -> bool {
        let st = read(&self.state);
        let m = &st.mem;
        m.rows >= self.opts.flush_rows
            || m.since
                .is_some_and(|s| s.elapsed() >= self.opts.flush_interval)
    }

    /// Write everything in memory to Parquet segments, then drop the WAL files it covered.
    pub async fn flush(&self) -> Result<FlushStats> {
        let _one = self.flush_lock.lock().await;
        let snap = {
            let _g = self.gate.write().await;
            let mut st = write(&self.state);
            if st.mem.is_empty() {
                return Ok(FlushStats::default());
            }
            let snap = Arc::new(std::mem::take(&mut st.mem));
            st.flushing = Some(snap.clone());
            snap
        };
        let result = self.flush_snapshot(&snap).await;
        if let Err(e) = &result {
            // Keep the rows queryable and flushable; they are still in the WAL.
            let mut st = write(&self.state);
            if let Some(f) = st.flushing.take() {
                let older = Arc::try_unwrap(f).unwrap_or_else(|a| clone_mem(&a));
                st.mem.absorb_older(older);
            }
            tracing::error!(error = %e, "flush failed; rows stay in memory and the wal");
        }
        result
    }

    async fn flush_snapshot(&self, snap: &Arc<MemTable>) -> Result<FlushStats> {
        // The marker must never claim a seq that is not durable in the WAL (interval mode).
        self.wal.sync().await?;
        let seq = snap.max_seq;
        let root = self.root.clone();
        let window = i64::try_from(self.opts.window.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let job = snap.clone();
        let written = tokio::task::spawn_blocking(move || write_segments(&root, &job, seq, window))
            .await
            .map_err(|e| Error::Codec(format!("flush task failed: {e}")))??;
        let stats = FlushStats {
            rows: snap.rows,
            files: written.len(),
            through_seq: seq,
        };
        {
            let mut st = write(&self.state);
            for (key, m) in written {
                st.segments.entry(key).or_default().push(Arc::new(m));
            }
            st.flushing = None;
        }
        let root = self.root.clone();
        let latest = self.latest.to_json();
        tokio::task::spawn_blocking(move || -> Result<()> {
            write_atomic(&root.join("latest.json"), &latest)?;
            write_atomic(&root.join("FLUSHED"), seq.to_string().as_bytes())
        })
        .await
        .map_err(|e| Error::Codec(format!("flush task failed: {e}")))??;
        let removed = self.wal.remove_through(seq)?;
        tracing::info!(
            rows = stats.rows,
            files = stats.files,
            through_seq = seq,
            wal_files_removed = removed,
            "flushed"
        );
        metrics::counter!("kaiwu_tsdb_flushes_total").increment(1);
        Ok(stats)
    }

    /// Segments and in-memory rows of one table that may overlap `range`.
    pub fn snapshot(&self, tenant: &str, device_type: &str, range: TimeRange) -> TableSnapshot {
        let key = (tenant.to_owned(), device_type.to_owned());
        let st = read(&self.state);
        let mut batches = Vec::new();
        if let Some(f) = &st.flushing {
            batches.extend(f.batches(tenant, device_type));
        }
        batches.extend(st.mem.batches(tenant, device_type));
        let mut files: Vec<_> = st
            .segments
            .get(&key)
            .map(|v| {
                v.iter()
                    .filter(|m| range.overlaps(m.file.min_ts, m.file.max_ts))
                    .map(|m| m.file.clone())
                    .collect()
            })
            .unwrap_or_default();
        drop(st);
        files.sort_by_key(|f| f.min_ts);
        TableSnapshot { files, batches }
    }

    /// Merge the segments of busy windows (see `compact.rs`). Returns how many files were merged
    /// away. Replaced files are deleted after `grace` (longer than any query runs).
    pub async fn compact(&self, grace: std::time::Duration) -> Result<usize> {
        let _one = self.flush_lock.lock().await;
        let window = i64::try_from(self.opts.window.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let groups: Vec<(TableKey, Vec<Arc<SegmentMeta>>)> = {
            let st = read(&self.state);
            st.segments
                .iter()
                .flat_map(|(k, v)| {
                    crate::compact::plan(v, window)
                        .into_iter()
                        .map(|g| (k.clone(), g))
                })
                .collect()
        };
        let mut merged_away = 0;
        for (key, inputs) in groups {
            let job = inputs.clone();
            let out = tokio::task::spawn_blocking(move || crate::compact::merge(&job))
                .await
                .map_err(|e| Error::Codec(format!("compaction task failed: {e}")))??;
            {
                let mut st = write(&self.state);
                if let Some(v) = st.segments.get_mut(&key) {
                    v.retain(|m| !inputs.iter().any(|i| i.file.path == m.file.path));
                    v.push(Arc::new(out));
                }
            }
            merged_away += inputs.len();
            let paths: Vec<PathBuf> = inputs.iter().map(|m| m.file.path.clone()).collect();
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                for p in paths {
                    let _ = tokio::fs::remove_file(&p).await;
                }
            });
        }
        if merged_away > 0 {
            tracing::info!(files = merged_away, "compacted segments");
            metrics::counter!("kaiwu_tsdb_compacted_files_total").increment(merged_away as u64);
        }
        Ok(merged_away)
    }

    /// Drop whole time partitions that ended before their table's retention horizon. `keep`
    /// answers, per (tenant, device type), how long data is kept (None: forever). Returns the
    /// number of segment files removed.
    pub async fn enforce_retention(
        &self,
        now_ms: i64,
        keep: impl Fn(&str, &str) -> Option<std::time::Duration>,
    ) -> Result<usize> {
        let window = i64::try_from(self.opts.window.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let doomed: Vec<(TableKey, Arc<SegmentMeta>)> = {
            let st = read(&self.state);
            st.segments
                .iter()
                .filter_map(|(k, v)| keep(&k.0, &k.1).map(|d| (k, v, d)))
                .flat_map(|(k, v, d)| {
                    let horizon =
                        now_ms.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                    v.iter()
                        // A segment lies in one window; drop it once the whole window is past.
                        .filter(move |m| {
                            m.file.max_ts.div_euclid(window) * window + window <= horizon
                        })
                        .map(move |m| (k.clone(), m.clone()))
                })
                .collect()
        };
        if doomed.is_empty() {
            return Ok(0);
        }
        {
            // Unindex first: queries stop seeing the files before they go.
            let mut st = write(&self.state);
            for (k, m) in &doomed {
                if let Some(v) = st.segments.get_mut(k) {
                    v.retain(|x| x.file.path != m.file.path);
                }
            }
        }
        let paths: Vec<PathBuf> = doomed.iter().map(|(_, m)| m.file.path.clone()).collect();
        let n = paths.len();
        tokio::task::spawn_blocking(move || {
            for p in &paths {
                if let Err(e) = std::fs::remove_file(p) {
                    tracing::warn!(path = %p.display(), error = %e, "retention could not remove segment");
                }
                // Remove the window directory once empty.
                if let Some(dir) = p.parent() {
                    let _ = std::fs::remove_dir(dir);
                }
            }
        })
        .await
        .map_err(|e| Error::Codec(format!("retention task failed: {e}")))?;
        tracing::info!(files = n, "retention dropped expired partitions");
        metrics::counter!("kaiwu_tsdb_retention_files_total").increment(n as u64);
        Ok(n)
    }

    /// Latest values of one device.
    pub fn latest(&self, tenant: &str, device: &str) -> Option<BTreeMap<String, LatestValue>> {
        self.latest.get(tenant, device)
    }

    /// Forget a deleted device's latest values.
    pub fn forget_device(&self, tenant: &str, device: &str) {
        self.latest.remove(tenant, device);
    }

    /// Rows waiting in memory.
    pub fn memtable_rows(&self) -> usize {
        read(&self.state).mem.rows
    }

    /// Bytes on disk: segments plus WAL.
    pub fn disk_bytes(&self) -> u64 {
        let seg: u64 = read(&self.state)
            .segments
            .values()
            .flatten()
            .map(|m| m.file.bytes)
            .sum();
        seg + self.wal.disk_bytes()
    }

    /// Flush what is in memory and close the WAL (graceful shutdown).
    pub async fn shutdown(self) -> Result<()> {
        self.flush().await?;
        self.wal.shutdown().await?;
        Ok(())
    }
}

fn clone_mem(m: &MemTable) -> MemTable {
    MemTable {
        tables: m.tables.clone(),
        rows: m.rows,
        bytes: m.bytes,
        max_seq: m.max_seq,
        since: m.since,
    }
}

type Written = Vec<(TableKey, SegmentMeta)>;

/// Group each table's batches by schema (a device type may have changed while they arrived),
/// sort, split by window and write one segment per (table, schema, window).
fn write_segments(root: &Path, snap: &MemTable, seq: u64, window: i64) -> Result<Written> {
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
                    out.push(((tenant.clone(), ty.clone()), m));
                }
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        // Leave no half-registered files behind: the next flush will write these rows again.
        for (_, m) in &out {
            let _ = std::fs::remove_file(&m.file.path);
        }
        return Err(e);
    }
    Ok(out)
}

fn read_marker(root: &Path) -> Result<u64> {
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

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
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
