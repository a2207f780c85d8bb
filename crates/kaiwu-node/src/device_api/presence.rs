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
    /// The gateway device this device is connected through (`v1/gateway/connect`); `None` for
    /// a direct connection. Decides which topics commands and attribute pushes use.
    pub(crate) gateway: Mutex<Option<String>>,
    pub(crate) online: AtomicBool,
    pub(crate) last_seen: AtomicI64,
}

impl Live {
    /// Online through `client_id`, directly (`gateway == None`) or behind a gateway.
    pub(crate) fn connect(&self, client_id: &str, gateway: Option<&str>) {
        *self
            .client_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = client_id.to_owned();
        *self.gateway.lock().unwrap_or_else(PoisonError::into_inner) = gateway.map(str::to_owned);
        self.online.store(true, Ordering::Relaxed);
        self.touch();
    }

    /// Offline, unless the device has meanwhile come online elsewhere: only the connection
    /// (`client_id`, through `gateway`) that brought it online takes it offline.
    pub(crate) fn disconnect_if(&self, client_id: &str, gateway: Option<&str>) {
        let same_client = *self
            .client_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            == client_id;
        let same_gateway = self
            .gateway
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_deref()
            == gateway;
        if same_client && same_gateway {
            self.online.store(false, Ordering::Relaxed);
        }
    }

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
                    gateway: Mutex::new(None),
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

    /// Takes offline every device of `tenant` reached through `gateway` on `client_id`,
    /// including those attached by an earlier connection whose session this one took over.
    pub(crate) fn disconnect_via(
        &self,
        tenant: &str,
        gateway: &str,
        client_id: &str,
    ) -> Vec<String> {
        let m = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let mut gone = Vec::new();
        for ((t, device), live) in m.iter() {
            if t == tenant && live.online.load(Ordering::Relaxed) {
                live.disconnect_if(client_id, Some(gateway));
                if !live.online.load(Ordering::Relaxed) {
                    gone.push(device.clone());
                }
            }
        }
        gone
    }

    /// How to reach a connected device: its MQTT client id, or its gateway's.
    pub(crate) fn route(&self, tenant: &str, device: &str) -> Option<Route> {
        let m = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let l = m.get(&(tenant.to_owned(), device.to_owned()))?;
        l.online.load(Ordering::Relaxed).then(|| Route {
            client_id: l
                .client_id
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            via_gateway: l
                .gateway
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_some(),
        })
    }
}

/// Where messages for a connected device go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    /// The MQTT client to deliver to (the gateway's when `via_gateway`).
    pub(crate) client_id: String,
    /// Use the gateway topics (`v1/gateway/...`, device named in the payload).
    pub(crate) via_gateway: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_takes_offline_only_its_own_children() {
        let p = PresenceMap::default();
        p.entry("t", "a").connect("gw-client", Some("gw"));
        p.entry("t", "b").connect("other-client", Some("gw2"));
        p.entry("t", "c").connect("gw-client", None);
        p.entry("u", "a").connect("gw-client", Some("gw"));
        assert_eq!(
            p.route("t", "a"),
            Some(Route {
                client_id: "gw-client".into(),
                via_gateway: true
            })
        );
        assert_eq!(
            p.disconnect_via("t", "gw", "gw-client"),
            vec!["a".to_owned()]
        );
        assert!(p.route("t", "a").is_none());
        assert!(p.get("t", "b").online && p.get("t", "c").online && p.get("u", "a").online);
        // Reconnected directly meanwhile: the gateway's end leaves it alone.
        p.entry("t", "a").connect("a-client", None);
        p.entry("t", "a").disconnect_if("gw-client", Some("gw"));
        assert!(p.get("t", "a").online);
    }
}
