use std::path::PathBuf;

/// Write-ahead log failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system operation failed.
    #[error("wal {op} `{}`: {source}", path.display())]
    Io {
        /// What was being done (`open`, `write`, `fsync`, ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating-system error.
        source: std::io::Error,
    },
    /// Another `Wal` (in this or another process) holds the directory.
    #[error("wal directory `{}` is locked by another writer", dir.display())]
    Locked {
        /// The directory.
        dir: PathBuf,
    },
    /// An append larger than `WalOptions::max_record_bytes`.
    #[error("wal record of {len} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge {
        /// Payload length.
        len: usize,
        /// The configured limit.
        max: u32,
    },
    /// Replay found an intact record larger than the configured limit. The WAL refuses to open
    /// rather than discard acknowledged data; raise `max_record_bytes` to read it.
    #[error(
        "wal file `{}` holds an intact record of {len} bytes at offset {offset}, above the limit of {max} bytes",
        path.display()
    )]
    StoredRecordTooLarge {
        /// The file.
        path: PathBuf,
        /// Byte offset of the record's frame.
        offset: usize,
        /// Payload length.
        len: u32,
        /// The configured limit.
        max: u32,
    },
    /// An earlier write or fsync failed. The WAL stays failed until it is reopened, because after
    /// a failed fsync the kernel may have dropped the dirty pages: retrying could report success
    /// for data that never reached the disk.
    #[error("wal is failed after an earlier error ({reason}); reopen it to recover")]
    Failed {
        /// The first error.
        reason: String,
    },
    /// The writer thread is gone (the WAL was shut down).
    #[error("wal is closed")]
    Closed,
    /// A durability setting that is not `fsync` or `interval:<ms>`.
    #[error("invalid wal durability `{input}`: {reason}")]
    InvalidDurability {
        /// The text given.
        input: String,
        /// Why it was refused.
        reason: &'static str,
    },
}

/// Result with the WAL error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}
