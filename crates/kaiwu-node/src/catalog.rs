//! The query engine's view of the platform: device types and devices from the registry, data
//! from the time-series engine.

use std::sync::Arc;

use kaiwu_model::DeviceType;
use kaiwu_query::{Catalog, DeviceInfo};
use kaiwu_registry::{DeviceFilter, Registry};
use kaiwu_tsdb::{Resolution, RollupSnapshot, TableSnapshot, TimeRange, Tsdb};

pub(crate) struct NodeCatalog {
    pub(crate) registry: Arc<Registry>,
    pub(crate) tsdb: Arc<Tsdb>,
}

impl Catalog for NodeCatalog {
    fn device_types(&self, tenant: &str) -> Result<Vec<DeviceType>, String> {
        self.registry
            .device_types(tenant)
            .map_err(|e| e.to_string())
    }

    fn devices(&self, tenant: &str) -> Result<Vec<DeviceInfo>, String> {
        let list = self
            .registry
            .devices(tenant, &DeviceFilter::default())
            .map_err(|e| e.to_string())?;
        Ok(list
            .into_iter()
            .map(|d| DeviceInfo {
                id: d.id,
                device_type: d.device_type,
                name: d.name,
                asset: d.asset,
                labels: d.labels,
            })
            .collect())
    }

    fn snapshot(
        &self,
        tenant: &str,
        device_type: &str,
        range: TimeRange,
    ) -> Result<TableSnapshot, String> {
        Ok(self.tsdb.snapshot(tenant, device_type, range))
    }

    fn rollup_snapshot(
        &self,
        tenant: &str,
        device_type: &str,
        resolution: Resolution,
        range: TimeRange,
    ) -> Result<Option<RollupSnapshot>, String> {
        Ok(Some(self.tsdb.rollup_snapshot(
            tenant,
            device_type,
            resolution,
            range,
        )))
    }
}
