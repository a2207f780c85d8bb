use rusqlite::Connection;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use kaiwu_bus::{Bus, ObjectKind, Op, RegistryEvent};

use crate::{Error, Result, migrate};

/// Handle to the registry database. Calls are synchronous and short (one indexed statement or a
/// small transaction); async callers run them on the blocking pool.
pub struct Registry {
    conn: Mutex<Connection>,
    bus: Arc<dyn Bus>,
    /// Bumped after every committed change that can alter what `device` or `device_type`
    /// answer for an existing object, so callers may cache those answers (see `generation`).
    generation: AtomicU64,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Registry {
    /// Open (creating and migrating as needed) the registry database at `path`.
    pub fn open(path: &Path, bus: Arc<dyn Bus>) -> Result<Self> {
        let conn = Connection::open(path).map_err(|e| Error::Open {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::init(conn, bus)
    }

    /// A private in-memory registry, for tests and tools.
    pub fn open_in_memory(bus: Arc<dyn Bus>) -> Result<Self> {
        Self::init(Connection::open_in_memory()?, bus)
    }

    fn init(mut conn: Connection, bus: Arc<dyn Bus>) -> Result<Self> {
        // WAL keeps readers off the writer's back; FULL sync makes every acknowledged change
        // durable (registry writes are rare, so the fsync cost is irrelevant).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate::run(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            bus,
            generation: AtomicU64::new(0),
        })
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (transactions roll
        // back on drop), so a poisoned lock is still safe to use.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes when a device or device type is updated or deleted (or a tenant deleted).
    /// A cache of `device` / `device_type` answers is valid while this stays the same, provided
    /// the generation was read *before* the answers were (a change commits, then bumps).
    /// Creations do not bump it: nothing absent is supposed to be cached.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn emit(
        &self,
        tenant: &str,
        object: ObjectKind,
        id: &str,
        op: Op,
        version: Option<u32>,
    ) {
        if op != Op::Created
            && matches!(
                object,
                ObjectKind::Device | ObjectKind::DeviceType | ObjectKind::Tenant
            )
        {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        let ev = RegistryEvent {
            tenant: tenant.to_owned(),
            object,
            id: id.to_owned(),
            op,
            version,
        };
        if let Err(e) = self.bus.publish(ev.into_message()) {
            tracing::warn!(tenant, id, error = %e, "registry change not published");
        }
    }

    /// Schema version of the open database.
    pub fn schema_version(&self) -> Result<u32> {
        Ok(self
            .conn()
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }
}

/// Hex SHA-256 of a high-entropy secret (device access token, API key). Such secrets are stored
/// only as this: they are random, so there is no dictionary to attack, and a fast hash keeps the
/// per-connection lookup cheap.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub(crate) fn json_list<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn corrupt(what: &'static str, id: &str, e: impl std::fmt::Display) -> Error {
    Error::Corrupt {
        what,
        id: id.to_owned(),
        reason: e.to_string(),
    }
}
