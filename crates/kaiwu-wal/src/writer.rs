//! The group-commit writer: one OS thread owns the active file, so appends never block async
//! workers on file I/O and one fsync covers every append that arrived while the previous one ran.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::oneshot;

use crate::format::{FRAME_OVERHEAD, HEADER_LEN, encode_frame};
use crate::{Durability, Error, Result, files};

/// Most requests taken into one group, to bound the wait of the group's first caller.
const MAX_GROUP: usize = 65_536;
/// Encoded bytes buffered before they are written out, to bound the copy held in memory.
const FLUSH_AT: usize = 8 << 20;

/// Where a request's answer goes: an async caller or a blocked thread.
pub(crate) enum Ack<T> {
    Async(oneshot::Sender<Result<T>>),
    Blocking(SyncSender<Result<T>>),
}

impl<T> Ack<T> {
    fn send(self, r: Result<T>) {
        // A caller that went away (cancelled future) no longer needs the answer.
        match self {
            Ack::Async(tx) => drop(tx.send(r)),
            Ack::Blocking(tx) => drop(tx.send(r)),
        }
    }
}

pub(crate) enum Request {
    Append {
        payload: Vec<u8>,
        ack: Ack<u64>,
    },
    /// Make everything written so far durable; answers the last acknowledged seq.
    Sync(Ack<u64>),
    /// Start a new file if the active one has records and all are `<= through`.
    Rotate {
        through: u64,
        ack: Ack<()>,
    },
    /// Sync, answer (if anyone waits) and stop.
    Shutdown(Option<Ack<()>>),
}

/// State read by `Wal` handles while the writer runs.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Last acknowledged seq.
    pub(crate) last_seq: AtomicU64,
    pub(crate) disk_bytes: AtomicU64,
    /// Every file in the directory by first seq; the last one is the active file.
    pub(crate) files: Mutex<BTreeMap<u64, PathBuf>>,
}

impl Shared {
    pub(crate) fn files(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, PathBuf>> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(crate) struct Writer {
    pub(crate) dir: PathBuf,
    pub(crate) durability: Durability,
    pub(crate) max_file_bytes: u64,
    pub(crate) file: File,
    pub(crate) path: PathBuf,
    pub(crate) file_first: u64,
    pub(crate) file_len: u64,
    pub(crate) next_seq: u64,
    pub(crate) shared: Arc<Shared>,
}

/// A `Writer` plus the state of its loop.
struct Running {
    w: Writer,
    buf: Vec<u8>,
    /// When the oldest write not yet synced reached the OS.
    dirty_since: Option<Instant>,
    /// First write or fsync error; once set, nothing is written again (see `Error::Failed`).
    failed: Option<String>,
}

impl Writer {
    pub(crate) fn run(self, rx: Receiver<Request>) {
        let mut r = Running {
            w: self,
            buf: Vec::new(),
            dirty_since: None,
            failed: None,
        };
        let mut stop = None;
        while let Some(first) = r.next_request(&rx) {
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(req) => group.push(req),
                    Err(_) => break,
                }
            }
            if let Some(ack) = r.commit(group) {
                stop = Some(ack);
                break;
            }
        }
        // Reached on shutdown or when every handle is gone: leave nothing unsynced. A failure
        // is logged by `fail` and reported to `shutdown`.
        let res = r.sync();
        drop(r);
        // Answering last means `shutdown` can join this thread without waiting on I/O.
        if let Some(Some(ack)) = stop {
            ack.send(res);
        }
    }
}

impl Running {
    /// The next request, syncing in the meantime when `Interval` durability asks for it.
    fn next_request(&mut self, rx: &Receiver<Request>) -> Option<Request> {
        loop {
            let wait = match self.w.durability {
                Durability::Interval(d) if self.failed.is_none() => match self.dirty_since {
                    Some(t) => d.saturating_sub(t.elapsed()),
                    None => return rx.recv().ok(),
                },
                _ => return rx.recv().ok(),
            };
            match rx.recv_timeout(wait) {
                Ok(req) => return Some(req),
                Err(RecvTimeoutError::Timeout) => {
                    // Callers were acknowledged already; a failure here fails later appends.
                    let _ = self.sync();
                }
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Writes a group, makes it durable as configured, answers it. Returns the shutdown ack if
    /// the group asked to stop.
    fn commit(&mut self, group: Vec<Request>) -> Option<Option<Ack<()>>> {
        let mut appends = Vec::new();
        let mut control = Vec::new();
        for req in group {
            match req {
                Request::Append { payload, ack } => appends.push((payload, ack)),
                other => control.push(other),
            }
        }
        let first_seq = self.w.next_seq;
        let res = self.write_group(&appends, !control.is_empty());
        let n = appends.len() as u64;
        // Published before any caller hears back, so `last_seq` never lags an acknowledgement.
        if res.is_ok() && n > 0 {
            self.w
                .shared
                .last_seq
                .store(first_seq + n - 1, Ordering::Release);
            metrics::counter!("kaiwu_wal_appends_total").increment(n);
            metrics::histogram!("kaiwu_wal_group_size").record(n as f64);
        }
        for (i, (_, ack)) in appends.into_iter().enumerate() {
            let reason = |r: &String| Error::Failed { reason: r.clone() };
            ack.send(res.as_ref().map(|()| first_seq + i as u64).map_err(reason));
        }
        for req in control {
            match req {
                Request::Sync(ack) => ack.send(self.sync().map(|()| self.last_seq())),
                Request::Rotate { through, ack } => ack.send(self.rotate_if_through(through)),
                Request::Shutdown(ack) => return Some(ack),
                Request::Append { .. } => {}
            }
        }
        None
    }

    fn write_group(
        &mut self,
        appends: &[(Vec<u8>, Ack<u64>)],
        must_sync: bool,
    ) -> Result<(), String> {
        self.check()?;
        let res = (|| {
            for (payload, _) in appends {
                self.stage(payload)?;
            }
            self.flush()?;
            let due = match self.w.durability {
                Durability::Fsync => true,
                Durability::Interval(d) => self.dirty_since.is_some_and(|t| t.elapsed() >= d),
            };
            if due || must_sync {
                self.sync()
            } else {
                Ok(())
            }
        })();
        res.map_err(|e| self.fail(e))
    }

    /// Encodes one record, starting a new file first if the record would overflow this one.
    fn stage(&mut self, payload: &[u8]) -> Result<()> {
        let frame = (FRAME_OVERHEAD + payload.len()) as u64;
        let has_records = self.w.next_seq > self.w.file_first;
        if has_records && self.w.file_len + self.buf.len() as u64 + frame > self.w.max_file_bytes {
            self.rotate()?;
        }
        if self.w.next_seq == u64::MAX {
            // Only reachable through a hand-made file name; refuse rather than wrap.
            return Err(Error::Io {
                op: "append to",
                path: self.w.path.clone(),
                source: std::io::Error::other("seq space exhausted"),
            });
        }
        encode_frame(&mut self.buf, self.w.next_seq, payload);
        self.w.next_seq += 1;
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.dirty_since.get_or_insert_with(Instant::now);
        let w = &mut self.w;
        w.file
            .write_all(&self.buf)
            .map_err(Error::io("write", &w.path))?;
        let n = self.buf.len() as u64;
        w.file_len += n;
        w.shared.disk_bytes.fetch_add(n, Ordering::Relaxed);
        metrics::counter!("kaiwu_wal_bytes_total").increment(n);
        self.buf.clear();
        Ok(())
    }

    fn sync(&mut self) -> Result<()> {
        self.check().map_err(|reason| Error::Failed { reason })?;
        let res = self.flush().and_then(|()| {
            if self.dirty_since.is_some() {
                let t = Instant::now();
                let w = &self.w;
                w.file.sync_data().map_err(Error::io("fsync", &w.path))?;
                metrics::histogram!("kaiwu_wal_fsync_seconds").record(t.elapsed().as_secs_f64());
                self.dirty_since = None;
            }
            Ok(())
        });
        res.map_err(|e| Error::Failed {
            reason: self.fail(e),
        })
    }

    /// Closes the active file (synced) and starts the next one at `next_seq`.
    fn rotate(&mut self) -> Result<()> {
        self.sync()?;
        let (file, path) = files::create(&self.w.dir, self.w.next_seq)?;
        let w = &mut self.w;
        w.shared.files().insert(w.next_seq, path.clone());
        w.shared
            .disk_bytes
            .fetch_add(HEADER_LEN as u64, Ordering::Relaxed);
        (w.file, w.path, w.file_first, w.file_len) = (file, path, w.next_seq, HEADER_LEN as u64);
        tracing::debug!(file = %w.path.display(), "wal rotated");
        Ok(())
    }

    fn rotate_if_through(&mut self, through: u64) -> Result<()> {
        self.check().map_err(|reason| Error::Failed { reason })?;
        let last = self.w.next_seq - 1;
        if last >= self.w.file_first && last <= through {
            self.rotate().map_err(|e| Error::Failed {
                reason: self.fail(e),
            })?;
        }
        Ok(())
    }

    fn last_seq(&self) -> u64 {
        self.w.shared.last_seq.load(Ordering::Acquire)
    }

    fn check(&self) -> Result<(), String> {
        self.failed.clone().map_or(Ok(()), Err)
    }

    /// Records the first failure (later ones are consequences) and returns it as text.
    fn fail(&mut self, e: Error) -> String {
        if let Error::Failed { reason } = e {
            return reason;
        }
        let reason = e.to_string();
        tracing::error!(error = %reason, "wal write failed; appends fail until the wal is reopened");
        self.failed.get_or_insert(reason).clone()
    }
}
