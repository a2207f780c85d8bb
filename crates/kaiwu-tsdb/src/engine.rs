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

use kaiwu_core::Batch;
use kaiwu_wal::{Wal, WalOptions};

use crate::flush::{read_marker, write_atomic, write_segments};
use crate::latest::{Latest, LatestValue};
use crate::memtable::{MemTable, TableKey};
use crate::rollup::{Resolution, RollupSnapshot};
use crate::segment::{self, Segments};
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
    pub(crate) root: PathBuf,
    pub(crate) opts: TsdbOptions,
    wal: Wal,
    /// Writers hold it shared from WAL append to memtable insert; a flush holds it exclusively
    /// while it swaps the memtable, so the swapped memtable has every seq up to its max.
    gate: tokio::sync::RwLock<()>,
    /// Rows are always in exactly one of memtable, flushing or segments; one lock over all
    /// three makes every move between them atomic for snapshot readers.
    pub(crate) state: RwLock<State>,
    latest: Latest,
    pub(crate) flush_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Tsdb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tsdb")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) mem: MemTable,
    pub(crate) flushing: Option<Arc<MemTable>>,
    pub(crate) segments: BTreeMap<TableKey, Segments>,
    /// Rollup files; they move with the segments of the same flush, under the same lock.
    pub(crate) rollups: BTreeMap<(TableKey, Resolution), Segments>,
}

pub(crate) fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
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
                Ok(m) => found_ok.push(((found.tenant, found.device_type), found.rollup, m)),
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
            .flat_map(|(_, _, m)| {
                let dir = m.file.path.parent().map(PathBuf::from).unwrap_or_default();
                m.replaces.iter().map(move |n| dir.join(n))
            })
            .collect();
        let mut index: BTreeMap<TableKey, Segments> = BTreeMap::new();
        let mut found_rollups = Vec::new();
        for (key, rollup, m) in found_ok {
            if let Some(r) = rollup {
                found_rollups.push((key, r, m));
                continue;
            }
            if replaced.contains(&m.file.path) {
                std::fs::remove_file(&m.file.path)
                    .map_err(|e| Error::io("removing", &m.file.path, e))?;
                report.orphans_removed += 1;
                continue;
            }
            index.entry(key).or_default().push(Arc::new(m));
            report.segments += 1;
        }
        // A rollup stands for its segment's rows; without that segment (merged away by a
        // compaction, or a compaction that died before its segment appeared) it would count
        // rows twice or rows that are not there.
        let live: std::collections::HashSet<(TableKey, (String, String))> = index
            .iter()
            .flat_map(|(k, v)| {
                v.iter()
                    .filter_map(|m| Some((k.clone(), segment::sibling_key(&m.file.path)?)))
            })
            .collect();
        let mut rollups: BTreeMap<(TableKey, Resolution), Segments> = BTreeMap::new();
        for (key, r, m) in found_rollups {
            let sibling = segment::sibling_key(&m.file.path);
            if sibling.is_some_and(|s| live.contains(&(key.clone(), s))) {
                rollups.entry((key, r)).or_default().push(Arc::new(m));
            } else {
                std::fs::remove_file(&m.file.path)
                    .map_err(|e| Error::io("removing", &m.file.path, e))?;
                report.orphans_removed += 1;
            }
        }
        // Segments from before rollups existed get theirs once.
        let rollups_marker = root.join("ROLLUPS");
        if !rollups_marker.exists() {
            for (key, v) in &index {
                for (r, m) in crate::rollup::backfill(v)? {
                    rollups
                        .entry((key.clone(), r))
                        .or_default()
                        .push(Arc::new(m));
                }
            }
            write_atomic(&rollups_marker, b"1")?;
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
                rollups,
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
            files: written.iter().filter(|w| w.1.is_none()).count(),
            through_seq: seq,
        };
        {
            let mut st = write(&self.state);
            for (key, rollup, m) in written {
                match rollup {
                    Some(r) => st.rollups.entry((key, r)).or_default().push(Arc::new(m)),
                    None => st.segments.entry(key).or_default().push(Arc::new(m)),
                }
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

    /// Rollup files of one table at `resolution` that may hold buckets in `range`, and the rows
    /// not yet flushed (not in any rollup), taken together so each row is in exactly one.
    pub fn rollup_snapshot(
        &self,
        tenant: &str,
        device_type: &str,
        resolution: Resolution,
        range: TimeRange,
    ) -> RollupSnapshot {
        let key = ((tenant.to_owned(), device_type.to_owned()), resolution);
        let st = read(&self.state);
        let mut batches = Vec::new();
        if let Some(f) = &st.flushing {
            batches.extend(f.batches(tenant, device_type));
        }
        batches.extend(st.mem.batches(tenant, device_type));
        // File bounds are bucket starts: widen by one bucket so a bucket holding `start` counts.
        let wide = TimeRange {
            start: range.start.map(|s| s.saturating_sub(resolution.ms())),
            end: range.end,
        };
        let all_rollups = st.rollups.get(&key).map(Vec::as_slice).unwrap_or_default();
        let with_rollup: std::collections::HashSet<(String, String)> = all_rollups
            .iter()
            .filter_map(|m| segment::sibling_key(&m.file.path))
            .collect();
        let files = all_rollups
            .iter()
            .filter(|m| wide.overlaps(m.file.min_ts, m.file.max_ts))
            .map(|m| m.file.clone())
            .collect();
        // Raw rows of a bucket starting before `end` may lie up to one bucket past it.
        let rows_range = TimeRange {
            start: range.start,
            end: range.end.map(|e| e.saturating_add(resolution.ms())),
        };
        let raw_files = st
            .segments
            .get(&key.0)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|m| rows_range.overlaps(m.file.min_ts, m.file.max_ts))
            .filter(|m| {
                segment::sibling_key(&m.file.path).is_none_or(|k| !with_rollup.contains(&k))
            })
            .map(|m| m.file.clone())
            .collect();
        RollupSnapshot {
            resolution,
            files,
            batches,
            raw_files,
        }
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
        let st = read(&self.state);
        let seg: u64 = st
            .segments
            .values()
            .chain(st.rollups.values())
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
        settled: m.settled.clone(),
        rows: m.rows,
        bytes: m.bytes,
        max_seq: m.max_seq,
        since: m.since,
    }
}
