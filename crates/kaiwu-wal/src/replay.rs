//! Startup recovery: read every file, cut torn tails, quarantine damage, find where to continue.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::format::{FRAME_OVERHEAD, HEADER_LEN, MAGIC, Tail, decode_frames};
use crate::{Error, Replayed, Result, files};

/// What `Wal::open` needs after replay.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub(crate) replayed: Replayed,
    /// Files kept in the directory, by first seq.
    pub(crate) files: BTreeMap<u64, PathBuf>,
    /// Seq of the next append: above every seq that may ever have been acknowledged.
    pub(crate) next_seq: u64,
    /// The last file, if intact enough to keep appending to: `(first seq, path)`.
    pub(crate) active: Option<(u64, PathBuf)>,
    pub(crate) disk_bytes: u64,
}

pub(crate) fn recover(dir: &Path, max_record: u32) -> Result<Recovered> {
    let listed = files::list(dir)?;
    let mut r = Recovered {
        replayed: Replayed::default(),
        files: BTreeMap::new(),
        next_seq: 1,
        active: None,
        disk_bytes: 0,
    };
    // Highest seq held by the files kept so far.
    let mut prev_hi: Option<u64> = None;
    for (i, (first, path)) in listed.iter().enumerate() {
        let next_name = listed.get(i + 1).map(|f| f.0);
        if let Some(hi) = prev_hi.filter(|&hi| *first <= hi) {
            tracing::error!(file = %path.display(), first_seq = first, previous_last_seq = hi, "wal file overlaps the previous one; quarantined");
            let size = fs::metadata(path).map_or(0, |m| m.len());
            r.replayed
                .quarantined
                .push(files::quarantine(dir, path, false)?);
            r.next_seq = r.next_seq.max(seq_bound(first - 1, size, next_name));
            continue;
        }
        if let Some(hi) = prev_hi.filter(|&hi| *first > hi + 1) {
            tracing::warn!(file = %path.display(), first_seq = first, previous_last_seq = hi, "gap in wal seqs (after earlier damage or manual deletion)");
        }
        if let Some(hi) = recover_file(dir, *first, path, next_name, max_record, &mut r)? {
            prev_hi = Some(hi);
        }
    }
    Ok(r)
}

/// Replays one file into `r`; returns the highest seq it holds if the file is kept.
fn recover_file(
    dir: &Path,
    first: u64,
    path: &Path,
    next_name: Option<u64>,
    max_record: u32,
    r: &mut Recovered,
) -> Result<Option<u64>> {
    let is_last = next_name.is_none();
    let bytes = fs::read(path).map_err(Error::io("read", path))?;
    let d = decode_frames(&bytes, first, max_record);
    let file = path.display();
    let size = bytes.len() as u64;
    let last = d.records.last().map_or(first - 1, |rec| rec.0);
    r.replayed
        .records
        .extend(d.records.iter().map(|&(seq, p)| (seq, p.to_vec())));
    r.next_seq = r.next_seq.max(last.saturating_add(1));
    let mut appendable = is_last;
    let kept_len = match d.tail {
        Tail::Clean => size,
        Tail::Oversized { offset, len } => {
            return Err(Error::StoredRecordTooLarge {
                path: path.to_owned(),
                offset,
                len,
                max: max_record,
            });
        }
        Tail::ShortHeader if is_last => {
            tracing::warn!(%file, torn_bytes = size, "wal file creation was cut short; header rewritten");
            fs::write(path, MAGIC).map_err(Error::io("write", path))?;
            files::truncate(path, HEADER_LEN as u64)?; // syncs
            r.replayed.torn_bytes += size;
            HEADER_LEN as u64
        }
        Tail::Torn { offset } if is_last => {
            let torn = size - offset as u64;
            tracing::warn!(%file, offset, torn_bytes = torn, "wal torn tail truncated (writes that were never acknowledged)");
            files::truncate(path, offset as u64)?;
            r.replayed.torn_bytes += torn;
            offset as u64
        }
        Tail::ShortHeader | Tail::BadHeader => {
            tracing::error!(%file, "not a wal file or unknown format version; quarantined");
            r.replayed
                .quarantined
                .push(files::quarantine(dir, path, false)?);
            // Skip past any seq the file could have held, so none is ever reused.
            r.next_seq = r.next_seq.max(seq_bound(first - 1, size, next_name));
            return Ok(None);
        }
        Tail::Torn { offset } | Tail::Damaged { offset, .. } => {
            let reason = match d.tail {
                Tail::Damaged { reason, .. } => reason,
                _ => "bad frame at the end of a file that is not the last",
            };
            tracing::error!(%file, offset, reason, records_kept = d.records.len(), "wal file damaged; copy quarantined, intact prefix kept");
            r.replayed
                .quarantined
                .push(files::quarantine(dir, path, true)?);
            files::truncate(path, offset as u64)?;
            let rest = size - offset as u64;
            r.next_seq = r.next_seq.max(seq_bound(last, rest, next_name));
            appendable = false;
            offset as u64
        }
    };
    r.next_seq = r.next_seq.max(first);
    r.files.insert(first, path.to_owned());
    r.disk_bytes += kept_len;
    // Only the last file can stay active, and only if its seqs continue without a gap.
    r.active =
        (appendable && r.next_seq == last.saturating_add(1)).then(|| (first, path.to_owned()));
    Ok(Some(last))
}

/// One past the highest seq `bytes` more bytes after seq `last` could hold, but never past the
/// next file's first seq (files are created in seq order).
fn seq_bound(last: u64, bytes: u64, next_name: Option<u64>) -> u64 {
    let bound = last
        .saturating_add(bytes / FRAME_OVERHEAD as u64)
        .saturating_add(1);
    next_name.map_or(bound, |n| bound.min(n))
}
