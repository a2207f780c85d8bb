//! A fresh DataFusion session per query whose only catalog holds the caller's tenant.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::Result as DfResult;
use datafusion::execution::cache::cache_manager::{CacheManagerConfig, FileMetadataCache};
use datafusion::execution::cache::default_cache::DefaultCache;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use kaiwu_model::DeviceType;

use crate::devices::{DEVICES_TABLE, DevicesTable};
use crate::table::TypeTable;
use crate::telemetry::{TELEMETRY_TABLE, telemetry_table};
use crate::{Catalog, Error, QueryLimits, Result};

/// Name of the session's only catalog.
const CATALOG: &str = "kaiwu";
/// Name of its only schema.
const SCHEMA: &str = "public";

/// The caller's tenant and where to ask about it.
pub(crate) struct Tenant {
    pub(crate) id: String,
    pub(crate) catalog: Arc<dyn Catalog>,
}

impl Tenant {
    /// Calls the catalog off the async threads.
    pub(crate) async fn call<T: Send + 'static>(
        self: &Arc<Self>,
        what: &'static str,
        f: impl FnOnce(&dyn Catalog, &str) -> Result<T, String> + Send + 'static,
    ) -> Result<T> {
        let t = Arc::clone(self);
        tokio::task::spawn_blocking(move || f(t.catalog.as_ref(), &t.id))
            .await
            .map_err(|e| Error::Internal(format!("catalog task failed: {e}")))?
            .map_err(|e| Error::Internal(format!("catalog: {what}: {e}")))
    }
}

/// A session over `tenant`'s tables, with the query limits applied.
/// Parquet footers (with page indexes) of segments, shared by all sessions: segment files never
/// change once written, so a footer parsed for one query serves the next.
pub(crate) fn metadata_cache() -> Arc<FileMetadataCache> {
    Arc::new(DefaultCache::new(METADATA_CACHE_BYTES).with_name("kaiwu-segment-footers"))
}

const METADATA_CACHE_BYTES: usize = 64 << 20;

pub(crate) async fn session(
    tenant: &Arc<Tenant>,
    limits: &QueryLimits,
    footers: &Arc<FileMetadataCache>,
) -> Result<(SessionContext, Arc<TenantSchema>)> {
    let types = tenant
        .call("device types", |c, t| c.device_types(t))
        .await?;
    let mut config = SessionConfig::new()
        .with_target_partitions(2)
        .with_information_schema(true)
        .with_create_default_catalog_and_schema(false)
        .with_default_catalog_and_schema(CATALOG, SCHEMA);
    // Late materialisation: decode the filter columns (time, device) first and the rest only
    // for the rows that pass; segments hold many series, queries usually want few.
    let pq = &mut config.options_mut().execution.parquet;
    pq.pushdown_filters = true;
    pq.reorder_filters = true;
    // No spilling: the memory limit is a hard limit and queries never write temporary files.
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(limits.memory_bytes, 1.0)
        .with_cache_manager(
            CacheManagerConfig::default()
                .with_file_metadata_cache(Some(Arc::clone(footers)))
                .with_metadata_cache_limit(METADATA_CACHE_BYTES),
        )
        .with_disk_manager_builder(
            DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
        )
        .build_arc()
        .map_err(|e| Error::Internal(format!("query runtime: {e}")))?;
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    let schema = Arc::new(TenantSchema {
        tenant: Arc::clone(tenant),
        types: types.into_iter().map(|t| (t.id.clone(), t)).collect(),
    });
    let catalog = MemoryCatalogProvider::new();
    catalog
        .register_schema(SCHEMA, Arc::clone(&schema) as Arc<dyn SchemaProvider>)
        .map_err(|e| Error::Internal(format!("query catalog: {e}")))?;
    ctx.register_catalog(CATALOG, Arc::new(catalog));
    Ok((ctx, schema))
}

/// The tenant's tables, built on demand: one per device type, `telemetry` and `devices`.
/// A device type whose id is a built-in table's name is shadowed by it in SQL (it still shows
/// in `telemetry`).
pub(crate) struct TenantSchema {
    tenant: Arc<Tenant>,
    types: BTreeMap<String, DeviceType>,
}

impl fmt::Debug for TenantSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantSchema")
            .field("tenant", &self.tenant.id)
            .field("types", &self.types.len())
            .finish()
    }
}

impl TenantSchema {
    /// A device type of the tenant.
    pub(crate) fn device_type(&self, id: &str) -> Option<&DeviceType> {
        self.types.get(id)
    }

    /// The wide table of a device type, without going through name resolution.
    pub(crate) fn wide_table(&self, dt: &DeviceType) -> Arc<TypeTable> {
        Arc::new(TypeTable::wide(Arc::clone(&self.tenant), dt))
    }
}

fn builtin(name: &str) -> bool {
    name == TELEMETRY_TABLE || name == DEVICES_TABLE
}

#[async_trait]
impl SchemaProvider for TenantSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.types.keys().filter(|n| !builtin(n)).cloned().collect();
        names.push(TELEMETRY_TABLE.to_owned());
        names.push(DEVICES_TABLE.to_owned());
        names
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Ok(match name {
            TELEMETRY_TABLE => Some(telemetry_table(&self.tenant, self.types.values())?),
            DEVICES_TABLE => Some(Arc::new(DevicesTable::new(Arc::clone(&self.tenant)))),
            _ => self
                .types
                .get(name)
                .map(|dt| self.wide_table(dt) as Arc<dyn TableProvider>),
        })
    }

    fn table_exist(&self, name: &str) -> bool {
        builtin(name) || self.types.contains_key(name)
    }
}
