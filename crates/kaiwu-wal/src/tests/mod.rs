//! Tests against real files in temporary directories.

mod api;
mod corruption;
mod throughput;

use std::path::{Path, PathBuf};

use crate::{Replayed, Wal, WalOptions};

pub(super) fn opts(durability: &str, max_file_bytes: u64) -> WalOptions {
    WalOptions {
        durability: durability.parse().unwrap(),
        max_file_bytes,
        max_record_bytes: 1 << 20,
    }
}

/// Durability that never syncs during a short test: builds fixtures fast.
pub(super) const LAZY: &str = "interval:60000";

/// A payload of varied size (0..3000 bytes) whose content identifies `i`.
pub(super) fn payload(i: u64) -> Vec<u8> {
    let len = (i * 7919 % 3000) as usize;
    (0..len).map(|k| (i as usize * 31 + k) as u8).collect()
}

pub(super) fn open(dir: &Path, opts: WalOptions) -> (Wal, Replayed) {
    Wal::open(dir, opts).unwrap()
}

/// The WAL files of `dir`, in seq order.
pub(super) fn wal_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

/// Appends `payload(1..=n)` to a new or existing WAL and closes it; returns what was appended.
pub(super) fn fill(dir: &Path, n: u64, max_file_bytes: u64) -> Vec<(u64, Vec<u8>)> {
    let (wal, _) = open(dir, opts(LAZY, max_file_bytes));
    let out = (1..=n)
        .map(|i| {
            let p = payload(i);
            (wal.append_blocking(p.clone()).unwrap(), p)
        })
        .collect();
    drop(wal);
    out
}

/// Byte offsets of each frame in a WAL file.
pub(super) fn frame_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut at = crate::HEADER_LEN;
    let mut out = Vec::new();
    while at < bytes.len() {
        out.push(at);
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += crate::FRAME_OVERHEAD + len;
    }
    out
}
