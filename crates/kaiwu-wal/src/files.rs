//! File naming and the few file-system steps that need care (fsync of directories, quarantine).

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::format::MAGIC;
use crate::{Error, Result};

/// Where damaged files go, inside the WAL directory.
pub(crate) const QUARANTINE_DIR: &str = "quarantine";
/// Held (flock) while a `Wal` is open so two writers never share a directory.
pub(crate) const LOCK_FILE: &str = "LOCK";

pub(crate) fn file_name(first_seq: u64) -> String {
    format!("{first_seq:020}.wal")
}

/// The first seq encoded in a WAL file name, or `None` for any other name.
pub(crate) fn parse_name(name: &OsStr) -> Option<u64> {
    let digits = name.to_str()?.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&seq| seq > 0)
}

/// WAL files of `dir` sorted by first seq. Other entries are left alone (names that look almost
/// like WAL files are logged, since they are probably misplaced data).
pub(crate) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(Error::io("list", dir))? {
        let entry = entry.map_err(Error::io("list", dir))?;
        let name = entry.file_name();
        match parse_name(&name) {
            Some(seq) => out.push((seq, entry.path())),
            None if name.to_string_lossy().ends_with(".wal") => {
                tracing::warn!(file = %entry.path().display(), "ignoring file with an invalid wal name");
            }
            None => {}
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Makes entries created, renamed or removed in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("fsync directory", dir))
}

/// Creates `<dir>/<first_seq>.wal` with its header, durably (file and directory synced).
pub(crate) fn create(dir: &Path, first_seq: u64) -> Result<(File, PathBuf)> {
    let path = dir.join(file_name(first_seq));
    let mut file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(&path)
        .map_err(Error::io("create", &path))?;
    file.write_all(&MAGIC).map_err(Error::io("write", &path))?;
    file.sync_data().map_err(Error::io("fsync", &path))?;
    sync_dir(dir)?;
    Ok((file, path))
}

/// Truncates `path` to `len` bytes and syncs it.
pub(crate) fn truncate(path: &Path, len: u64) -> Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(Error::io("open", path))?;
    file.set_len(len).map_err(Error::io("truncate", path))?;
    file.sync_data().map_err(Error::io("fsync", path))
}

/// Moves `path` into the quarantine directory, or copies it there when `keep` is set (the caller
/// then cuts the original back to its intact prefix). Returns the quarantined path.
pub(crate) fn quarantine(dir: &Path, path: &Path, keep: bool) -> Result<PathBuf> {
    let qdir = dir.join(QUARANTINE_DIR);
    fs::create_dir_all(&qdir).map_err(Error::io("create directory", &qdir))?;
    let name = path
        .file_name()
        .unwrap_or(OsStr::new("unnamed"))
        .to_string_lossy();
    // A file can be quarantined more than once (damage found again after a crash mid-quarantine).
    let target = (0..1000)
        .map(|n| match n {
            0 => qdir.join(&*name),
            n => qdir.join(format!("{name}.{n}")),
        })
        .find(|p| !p.exists())
        .ok_or_else(|| Error::Io {
            op: "quarantine",
            path: path.to_owned(),
            source: std::io::Error::other("too many quarantined copies"),
        })?;
    if keep {
        fs::copy(path, &target).map_err(Error::io("copy to quarantine", path))?;
        File::open(&target)
            .and_then(|f| f.sync_all())
            .map_err(Error::io("fsync", &target))?;
    } else {
        fs::rename(path, &target).map_err(Error::io("move to quarantine", path))?;
        sync_dir(dir)?;
    }
    sync_dir(&qdir)?;
    Ok(target)
}
