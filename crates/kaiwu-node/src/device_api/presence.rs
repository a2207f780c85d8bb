//! Which devices are connected, through which MQTT client id, and when each was last heard from.
//! In memory: presence changes with every message and means nothing after a restart.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use kaiwu_api::Presence;

/// One device's live state; connections hold it to touch `last_seen` without a map lookup.
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) client_id: Mutex<String>,
    pub(crate) online: AtomicBool,
    pub(crate) last_seen: AtomicI64,
}

impl Live {
    pub(crate) fn touch(&self) {
        self.last_seen
            .store(kaiwu_core::now_ms(), Ordering::Relaxed);
    }
}

/// Presence of every device seen since the node started, by (tenant, device).
#[derive(Debug, Default)]
pub(crate) struct PresenceMap {
    map: Mutex<HashMap<(String, String), Arc<Live>>>,
}

impl PresenceMap {
    /// The entry of a device, created offline if new.
    pub(crate) fn entry(&self, tenant: &str, device: &str) -> Arc<Live> {
        let mut m = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        m.entry((tenant.to_owned(), device.to_owned()))
            .or_insert_with(|| {
                Arc::new(Live {
                    client_id: Mutex::new(String::new()),
                    online: AtomicBool::new(false),
                    last_seen: AtomicI64::new(0),
                })
            })
            .clone()
    }

    /// Presence as the API shows it.
    pub(crate) fn get(&self, tenant: &str, device: &str) -> Presence {
        let m = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        m.get(&(tenant.to_owned(), device.to_owned()))
            .map(|l| Presence {
                online: l.online.load(Ordering::Relaxed),
                last_seen: l.last_seen.load(Ordering::Relaxed),
            })
            .unwrap_or_default()
    }

    /// The MQTT client id a connected device uses.
    pub(crate) fn client_id(&self, tenant: &str, device: &str) -> Option<String> {
        let m = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let l = m.get(&(tenant.to_owned(), device.to_owned()))?;
        l.online.load(Ordering::Relaxed).then(|| {
            l.client_id
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        })
    }
}
