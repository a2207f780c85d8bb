//! The data dir: checked writable up front, and locked so two processes never share it.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// An open, exclusively locked data dir. The lock is released when this is dropped.
#[derive(Debug)]
pub(crate) struct DataDir {
    path: PathBuf,
    _lock: File,
}

impl DataDir {
    /// Create if needed, prove writable, and take the lock.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let err = |reason: String| Error::DataDir {
            path: path.display().to_string(),
            reason,
        };
        std::fs::create_dir_all(path).map_err(|e| err(format!("cannot create: {e}")))?;
        let probe = path.join(".write-probe");
        std::fs::write(&probe, b"ok").map_err(|e| err(format!("not writable: {e}")))?;
        let _ = std::fs::remove_file(&probe);
        let lock = File::create(path.join("kaiwu.lock"))
            .map_err(|e| err(format!("cannot create lock file: {e}")))?;
        lock.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => {
                err("in use by another kaiwu process (stop it first)".into())
            }
            std::fs::TryLockError::Error(e) => err(format!("cannot lock: {e}")),
        })?;
        Ok(Self {
            path: path.to_owned(),
            _lock: lock,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn registry_db(&self) -> PathBuf {
        self.path.join("registry.db")
    }

    pub(crate) fn jwt_key(&self) -> PathBuf {
        self.path.join("secrets").join("jwt.key")
    }

    pub(crate) fn endpoints(&self) -> PathBuf {
        self.path.join("endpoints.json")
    }

    /// Write a file atomically (temp file, fsync, rename) so readers never see half of it.
    pub(crate) fn write_atomic(&self, target: &Path, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        let io = |source| Error::Io {
            what: format!("writing {}", target.display()),
            source,
        };
        let tmp = target.with_extension("tmp");
        let mut f = File::create(&tmp).map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, target).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_open_is_refused_and_files_are_not_dirs() {
        let d = tempfile::tempdir().unwrap();
        let a = DataDir::open(d.path()).unwrap();
        let e = DataDir::open(d.path()).unwrap_err().to_string();
        assert!(e.contains("in use"), "{e}");
        drop(a);
        DataDir::open(d.path()).unwrap();
        let file = d.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let e = DataDir::open(&file.join("sub")).unwrap_err().to_string();
        assert!(e.contains("cannot create"), "{e}");
    }
}
