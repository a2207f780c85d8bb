//! What ingest needs to know of devices and their types, kept in memory: every message would
//! otherwise cost two registry queries, a JSON parse of its device type and, for wide types, a
//! linear search per value. Valid while the registry's generation holds (it changes when a
//! device or type is updated or deleted); only found objects are kept.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arrow_schema::SchemaRef;
use kaiwu_model::DeviceType;
use kaiwu_registry::Registry;

use crate::Error;

/// Maps consulted for every message: foldhash instead of SipHash (keys are ids the registry
/// already accepted; the seed is still random per process).
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A device type with what writing its rows needs.
pub(crate) struct TypeEntry {
    pub(crate) dt: DeviceType,
    /// Its storage schema, shared by every batch of this version.
    pub(crate) schema: SchemaRef,
    index: FastMap<String, usize>,
    /// Properties known to be recorded in the registry as having data.
    used: Vec<AtomicBool>,
}

impl TypeEntry {
    pub(crate) fn new(dt: DeviceType) -> Self {
        let index = dt
            .properties
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.clone(), i))
            .collect();
        let used = dt
            .properties
            .iter()
            .map(|_| AtomicBool::new(false))
            .collect();
        Self {
            schema: kaiwu_model::storage_schema(&dt),
            dt,
            index,
            used,
        }
    }

    /// Index of a property in the type.
    pub(crate) fn position(&self, property: &str) -> Option<usize> {
        self.index.get(property).copied()
    }

    pub(crate) fn is_used(&self, ix: usize) -> bool {
        self.used.get(ix).is_some_and(|u| u.load(Ordering::Relaxed))
    }

    pub(crate) fn set_used(&self, ix: usize) {
        if let Some(u) = self.used.get(ix) {
            u.store(true, Ordering::Relaxed);
        }
    }
}

/// Entries kept before the cache starts over (a bound on memory, far above real fleets).
const MAX_DEVICES: usize = 1_000_000;

#[derive(Default)]
struct Inner {
    generation: u64,
    /// tenant -> device -> device type id.
    devices: FastMap<String, FastMap<String, String>>,
    /// tenant -> type id -> entry.
    types: FastMap<String, FastMap<String, Arc<TypeEntry>>>,
    device_count: usize,
}

/// The cache.
#[derive(Default)]
pub(crate) struct Types {
    inner: Mutex<Inner>,
}

impl Types {
    /// The lock, emptied first if the registry changed since it was filled. Returns the
    /// generation read before anything else, which is the one answers read now belong to.
    fn current(&self, reg: &Registry) -> (MutexGuard<'_, Inner>, u64) {
        let generation = reg.generation();
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.generation != generation {
            *inner = Inner {
                generation,
                ..Inner::default()
            };
        }
        (inner, generation)
    }

    /// The type id of a device; `None` if the tenant has no such device.
    pub(crate) fn device_type_of(
        &self,
        reg: &Registry,
        tenant: &str,
        device: &str,
    ) -> Result<Option<String>, Error> {
        let (inner, generation) = self.current(reg);
        if let Some(t) = inner.devices.get(tenant).and_then(|d| d.get(device)) {
            return Ok(Some(t.clone()));
        }
        drop(inner);
        let ty = match reg.device(tenant, device) {
            Ok(d) => d.device_type,
            Err(e) if e.kind() == kaiwu_core::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.generation == generation {
            if inner.device_count >= MAX_DEVICES {
                inner.devices.clear();
                inner.device_count = 0;
            }
            let prev = inner
                .devices
                .entry(tenant.to_owned())
                .or_default()
                .insert(device.to_owned(), ty.clone());
            inner.device_count += usize::from(prev.is_none());
        }
        Ok(Some(ty))
    }

    /// A device type of a tenant (an error if there is none).
    pub(crate) fn entry(
        &self,
        reg: &Registry,
        tenant: &str,
        type_id: &str,
    ) -> Result<Arc<TypeEntry>, Error> {
        let (inner, generation) = self.current(reg);
        if let Some(e) = inner.types.get(tenant).and_then(|t| t.get(type_id)) {
            return Ok(e.clone());
        }
        drop(inner);
        let e = Arc::new(TypeEntry::new(reg.device_type(tenant, type_id)?));
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.generation == generation {
            inner
                .types
                .entry(tenant.to_owned())
                .or_default()
                .insert(type_id.to_owned(), e.clone());
        }
        Ok(e)
    }
}
