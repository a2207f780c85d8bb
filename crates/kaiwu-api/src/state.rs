use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kaiwu_auth::JwtKey;
use kaiwu_ingest::Ingest;
use kaiwu_query::QueryEngine;
use kaiwu_registry::Registry;
use kaiwu_tsdb::Tsdb;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::link::NoLink;
use crate::{ApiError, DeviceLink};

/// Queries (SQL and history) that run at once; more wait their turn.
const QUERY_SLOTS: usize = 4;

/// Tunables of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Lifetime of login tokens, seconds.
    pub token_ttl_secs: i64,
}

/// Shared state of all handlers.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) registry: Arc<Registry>,
    pub(crate) tsdb: Arc<Tsdb>,
    pub(crate) ingest: Arc<Ingest>,
    pub(crate) query: Arc<QueryEngine>,
    /// Queries running at once; each may use the full per-query memory limit.
    pub(crate) query_slots: tokio::sync::Semaphore,
    pub(crate) jwt: JwtKey,
    pub(crate) config: ApiConfig,
    pub(crate) metrics: Option<PrometheusHandle>,
    pub(crate) ready: AtomicBool,
    pub(crate) openapi: std::sync::OnceLock<String>,
    pub(crate) link: std::sync::RwLock<Arc<dyn DeviceLink>>,
    pub(crate) http_rpc: crate::http_rpc::HttpRpc,
    pub(crate) connectors: std::sync::OnceLock<Arc<kaiwu_connect::Connectors>>,
    pub(crate) device_ca: std::sync::OnceLock<Arc<kaiwu_auth::DeviceCa>>,
}

impl AppState {
    /// State over an open registry and the install's signing key.
    pub fn new(
        registry: Arc<Registry>,
        tsdb: Arc<Tsdb>,
        query: Arc<QueryEngine>,
        jwt: JwtKey,
        config: ApiConfig,
        metrics: Option<PrometheusHandle>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                ingest: Arc::new(Ingest::new(registry.clone(), tsdb.clone())),
                registry,
                tsdb,
                query,
                query_slots: tokio::sync::Semaphore::new(QUERY_SLOTS),
                jwt,
                config,
                metrics,
                ready: AtomicBool::new(false),
                openapi: std::sync::OnceLock::new(),
                link: std::sync::RwLock::new(Arc::new(NoLink)),
                http_rpc: crate::http_rpc::HttpRpc::default(),
                connectors: std::sync::OnceLock::new(),
                device_ca: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Connect the API to the devices (the node sets this once its broker runs).
    pub fn set_device_link(&self, link: Arc<dyn DeviceLink>) {
        *self
            .inner
            .link
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = link;
    }

    /// Hand the API the node's device certificate authority (once).
    pub fn set_device_ca(&self, ca: Arc<kaiwu_auth::DeviceCa>) {
        let _ = self.inner.device_ca.set(ca);
    }

    pub(crate) fn device_ca(&self) -> Option<Arc<kaiwu_auth::DeviceCa>> {
        self.inner.device_ca.get().cloned()
    }

    /// Hand the API the node's connector supervisor (once).
    pub fn set_connectors(&self, c: Arc<kaiwu_connect::Connectors>) {
        let _ = self.inner.connectors.set(c);
    }

    pub(crate) fn connectors(&self) -> Option<Arc<kaiwu_connect::Connectors>> {
        self.inner.connectors.get().cloned()
    }

    /// The connector supervisor when `device` is attached through a connector.
    pub(crate) fn connector_for(
        &self,
        tenant: &str,
        device: &str,
    ) -> Option<Arc<kaiwu_connect::Connectors>> {
        self.connectors().filter(|c| c.serves(tenant, device))
    }

    /// Presence from the broker, or from the connector that reads the device.
    pub(crate) fn presence(&self, tenant: &str, device: &str) -> crate::Presence {
        let p = self.link().presence(tenant, device);
        match self
            .connector_for(tenant, device)
            .and_then(|c| c.presence(tenant, device))
        {
            Some((online, seen)) => crate::Presence {
                online: p.online || online,
                last_seen: p.last_seen.max(seen),
            },
            None => p,
        }
    }

    pub(crate) fn link(&self) -> Arc<dyn DeviceLink> {
        self.inner
            .link
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The ingest service (shared with the device protocols, so they validate alike).
    pub fn ingest(&self) -> Arc<Ingest> {
        self.inner.ingest.clone()
    }

    /// Mark the node ready (`/readyz` answers 200) or draining (503).
    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::SeqCst);
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::SeqCst)
    }

    pub(crate) fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }

    /// Wait for one of the query slots; held until the returned permit drops.
    pub(crate) async fn query_slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ApiError> {
        self.inner
            .query_slots
            .acquire()
            .await
            .map_err(|_| ApiError::internal("query slots closed"))
    }

    /// The current type of one of `tenant`'s devices (404 when the device does not exist).
    pub(crate) async fn device_type_of(
        &self,
        tenant: &str,
        device: &str,
    ) -> Result<kaiwu_model::DeviceType, ApiError> {
        let (t, d) = (tenant.to_owned(), device.to_owned());
        self.db(move |r| {
            let dev = r.device(&t, &d)?;
            Ok(r.device_type(&t, &dev.device_type)?)
        })
        .await
    }

    /// Run a registry call on the blocking pool: SQLite and argon2 must not stall the runtime.
    pub(crate) async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Registry) -> Result<T, ApiError> + Send + 'static,
    {
        let reg = self.inner.registry.clone();
        tokio::task::spawn_blocking(move || f(&reg))
            .await
            .map_err(|e| ApiError::internal(format!("registry task failed: {e}")))?
    }
}
