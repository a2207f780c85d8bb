//! Background maintenance of the engine: compaction of busy windows and retention.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use crate::engine::{read, write};
use crate::flush::window_start;
use crate::memtable::TableKey;
use crate::rollup::Resolution;
use crate::segment::{SegmentMeta, sibling_key};
use crate::{Error, Result, Tsdb};

impl Tsdb {
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
            let (out, rollups) = tokio::task::spawn_blocking(move || crate::compact::merge(&job))
                .await
                .map_err(|e| Error::Codec(format!("compaction task failed: {e}")))??;
            let gone: HashSet<(String, String)> = inputs
                .iter()
                .filter_map(|m| sibling_key(&m.file.path))
                .collect();
            let mut paths: Vec<PathBuf> = inputs.iter().map(|m| m.file.path.clone()).collect();
            {
                let mut st = write(&self.state);
                if let Some(v) = st.segments.get_mut(&key) {
                    v.retain(|m| !inputs.iter().any(|i| i.file.path == m.file.path));
                    v.push(Arc::new(out));
                }
                for r in Resolution::ALL {
                    let v = st.rollups.entry((key.clone(), r)).or_default();
                    v.retain(|m| {
                        let old = sibling_key(&m.file.path).is_some_and(|k| gone.contains(&k));
                        if old {
                            paths.push(m.file.path.clone());
                        }
                        !old
                    });
                }
                for (r, m) in rollups {
                    st.rollups
                        .entry((key.clone(), r))
                        .or_default()
                        .push(Arc::new(m));
                }
            }
            merged_away += inputs.len();
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
        let doomed: Vec<(Option<Resolution>, TableKey, Arc<SegmentMeta>)> = {
            let st = read(&self.state);
            let rollups = st.rollups.iter().map(|((k, r), v)| (Some(*r), k, v));
            st.segments
                .iter()
                .map(|(k, v)| (None, k, v))
                .chain(rollups)
                .filter_map(|(r, k, v)| keep(&k.0, &k.1).map(|d| (r, k, v, d)))
                .flat_map(|(r, k, v, d)| {
                    let horizon =
                        now_ms.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                    v.iter()
                        // A segment lies in one window; drop it once the whole window is past.
                        .filter(move |m| window_start(m, window) + window <= horizon)
                        .map(move |m| (r, k.clone(), m.clone()))
                })
                .collect()
        };
        if doomed.is_empty() {
            return Ok(0);
        }
        {
            // Unindex first: queries stop seeing the files before they go.
            let mut st = write(&self.state);
            for (r, k, m) in &doomed {
                let v = match r {
                    Some(r) => st.rollups.get_mut(&(k.clone(), *r)),
                    None => st.segments.get_mut(k),
                };
                if let Some(v) = v {
                    v.retain(|x| x.file.path != m.file.path);
                }
            }
        }
        let paths: Vec<PathBuf> = doomed.iter().map(|(_, _, m)| m.file.path.clone()).collect();
        let n = doomed.iter().filter(|d| d.0.is_none()).count();
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
}
