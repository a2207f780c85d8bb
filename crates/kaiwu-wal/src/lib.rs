//! Write-ahead log for telemetry batches: an append is acknowledged only once it is durable
//! (architecture: "acknowledge after durability"), and everything acknowledged comes back on
//! replay after a crash.
//!
//! Layout: `<dir>/<first_seq:020>.wal` files, each an 8-byte versioned header and CRC-checked
//! frames (see `format`), plus `LOCK` and `quarantine/`. One writer thread group-commits: every
//! append waiting while the previous group was written shares one `fdatasync`.
//!
//! Failure model:
//! - `append` returning `Ok(seq)` means the record survives a crash (`Durability::Fsync`: also a
//!   power loss). `Err` means "not acknowledged": the record may or may not be replayed, so a
//!   retry can duplicate it (at-least-once).
//! - After a failed write or fsync every later call fails with `Error::Failed` until the WAL is
//!   reopened. Retrying an fsync is not safe: Linux may already have dropped the dirty pages and
//!   report success the second time ("fsyncgate"). Reopening replays what really is on disk.
//! - Replay cuts away a torn tail of the last file (writes never acknowledged) and quarantines
//!   anything else that is damaged, keeping the intact records before the damage. Seqs are never
//!   reused for data that might have been acknowledged: after damage they jump past it.
//!
//! Metrics: `kaiwu_wal_appends_total`, `kaiwu_wal_bytes_total` (frame bytes written),
//! `kaiwu_wal_fsync_seconds` and `kaiwu_wal_group_size` (appends per group commit).

mod durability;
mod error;
mod files;
mod format;
mod replay;
mod writer;

pub use durability::{Durability, WalOptions};
pub use error::{Error, Result};
pub use format::{Decoded, FRAME_OVERHEAD, HEADER_LEN, Tail, decode_frames};

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use writer::{Ack, Request, Shared, Writer};

/// What `Wal::open` found on disk.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Replayed {
    /// Every intact record, `(seq, payload)` in seq order.
    pub records: Vec<(u64, Vec<u8>)>,
    /// Bytes cut from the end of the last file (a write interrupted by a crash).
    pub torn_bytes: u64,
    /// Damaged or foreign files, now in `<dir>/quarantine/`.
    pub quarantined: Vec<PathBuf>,
}

/// An open write-ahead log. `Send + Sync`; share it behind an `Arc`. Only one `Wal` may hold a
/// directory at a time (enforced with a lock file).
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    max_record: u32,
    tx: mpsc::Sender<Request>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// Holds the directory lock until the writer has stopped.
    _lock: File,
}

impl Wal {
    /// Opens (creating if needed) the WAL in `dir` and replays it. New appends continue after
    /// the highest seq found. Blocking: call it before serving, or from `spawn_blocking`.
    pub fn open(dir: &Path, opts: WalOptions) -> Result<(Wal, Replayed)> {
        fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
        let lock = lock_dir(dir)?;
        let mut rec = replay::recover(dir, opts.max_record_bytes)?;
        let (file, path, file_first) = match rec.active.take() {
            Some((first, path)) => {
                let f = OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(Error::io("open", &path))?;
                (f, path, first)
            }
            None => {
                let (f, path) = files::create(dir, rec.next_seq)?;
                rec.files.insert(rec.next_seq, path.clone());
                rec.disk_bytes += HEADER_LEN as u64;
                (f, path, rec.next_seq)
            }
        };
        let file_len = file.metadata().map_err(Error::io("stat", &path))?.len();
        let shared = Arc::new(Shared {
            last_seq: AtomicU64::new(rec.next_seq - 1),
            disk_bytes: AtomicU64::new(rec.disk_bytes),
            files: std::sync::Mutex::new(rec.files),
        });
        let writer = Writer {
            dir: dir.to_owned(),
            durability: opts.durability,
            max_file_bytes: opts.max_file_bytes,
            file,
            path,
            file_first,
            file_len,
            next_seq: rec.next_seq,
            shared: shared.clone(),
        };
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("kaiwu-wal-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(Error::io("start writer thread for", dir))?;
        let r = &rec.replayed;
        tracing::info!(dir = %dir.display(), records = r.records.len(), torn_bytes = r.torn_bytes,
            quarantined = r.quarantined.len(), next_seq = rec.next_seq, "wal opened");
        let wal = Wal {
            dir: dir.to_owned(),
            max_record: opts.max_record_bytes,
            tx,
            shared,
            thread: Some(thread),
            _lock: lock,
        };
        Ok((wal, rec.replayed))
    }

    /// Appends one record and returns its seq once it is durable per `Durability`.
    ///
    /// If the future is dropped after the call started, the record may still be written (it is
    /// then simply not acknowledged).
    pub async fn append(&self, payload: Vec<u8>) -> Result<u64> {
        self.check_len(&payload)?;
        let (tx, rx) = oneshot::channel();
        self.send(Request::Append {
            payload,
            ack: Ack::Async(tx),
        })?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// `append` for threads outside async code. It blocks the calling thread until the record
    /// is durable, so do not call it on a tokio runtime thread (use `append`, or call it from
    /// `spawn_blocking`); it does not panic there, it stalls the runtime.
    pub fn append_blocking(&self, payload: Vec<u8>) -> Result<u64> {
        self.check_len(&payload)?;
        self.request_blocking(|ack| Request::Append { payload, ack })
    }

    /// Makes every record acknowledged so far durable even in `Interval` mode, and returns the
    /// last such seq. Call it before recording a seq anywhere else (e.g. as "flushed through"
    /// in a Parquet file), so that a power loss cannot lose WAL records below that mark.
    pub async fn sync(&self) -> Result<u64> {
        let (tx, rx) = oneshot::channel();
        self.send(Request::Sync(Ack::Async(tx)))?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Seq of the last acknowledged append (0 for an empty WAL). After replay found damage this
    /// can be above the last replayed record: seqs skip past anything possibly acknowledged.
    pub fn last_seq(&self) -> u64 {
        self.shared.last_seq.load(Ordering::Acquire)
    }

    /// Deletes the files whose records all have seqs `<= seq` (after the caller has persisted
    /// them elsewhere) and returns how many were deleted. The active file is first closed and
    /// replaced if all its records qualify. Blocking (file deletion and possibly a rotation by
    /// the writer): from async code call it via `spawn_blocking`.
    pub fn remove_through(&self, seq: u64) -> Result<usize> {
        let active_first = self.shared.files().keys().next_back().copied().unwrap_or(1);
        let last = self.last_seq();
        if last >= active_first && last <= seq {
            self.request_blocking(|ack| Request::Rotate { through: seq, ack })?;
        }
        let mut files = self.shared.files();
        let firsts: Vec<u64> = files.keys().copied().collect();
        let mut removed = 0;
        // A closed file holds seqs below the next file's first seq; the last file is active.
        for pair in firsts.windows(2) {
            let &[first, next] = pair else { break };
            if next - 1 > seq {
                break;
            }
            let Some(path) = files.get(&first) else { break };
            let len = fs::metadata(path).map_or(0, |m| m.len());
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", path)(e)),
            }
            tracing::debug!(file = %path.display(), "wal file removed");
            files.remove(&first);
            self.shared.disk_bytes.fetch_sub(len, Ordering::Relaxed);
            removed += 1;
        }
        drop(files);
        if removed > 0 {
            files::sync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    /// Writes and syncs everything pending, then stops the writer. Appends still in flight from
    /// other tasks either complete first or fail with `Error::Closed`.
    pub async fn shutdown(mut self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Request::Shutdown(Some(Ack::Async(tx))))?;
        let res = rx.await.map_err(|_| Error::Closed)?;
        // The writer answers as its very last step, so this join does not wait on I/O.
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        res
    }

    /// Bytes of WAL files in the directory (quarantined files not counted).
    pub fn disk_bytes(&self) -> u64 {
        self.shared.disk_bytes.load(Ordering::Relaxed)
    }

    /// The directory this WAL lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_len(&self, payload: &[u8]) -> Result<()> {
        if u32::try_from(payload.len()).is_ok_and(|n| n <= self.max_record) {
            return Ok(());
        }
        Err(Error::RecordTooLarge {
            len: payload.len(),
            max: self.max_record,
        })
    }

    fn send(&self, req: Request) -> Result<()> {
        self.tx.send(req).map_err(|_| Error::Closed)
    }

    fn request_blocking<T>(&self, req: impl FnOnce(Ack<T>) -> Request) -> Result<T> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(req(Ack::Blocking(tx)))?;
        rx.recv().map_err(|_| Error::Closed)?
    }
}

impl Drop for Wal {
    /// Stops the writer after it has synced what was written; this blocks for that fsync, so
    /// prefer `shutdown().await` in async code.
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = self.tx.send(Request::Shutdown(None));
            let _ = t.join();
        }
    }
}

fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(files::LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(Error::io("open", &path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked {
            dir: dir.to_owned(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::io("lock", &path)(e)),
    }
}

#[cfg(test)]
mod tests;
