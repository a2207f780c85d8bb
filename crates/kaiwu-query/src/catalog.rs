use std::collections::BTreeMap;

use kaiwu_model::DeviceType;
use kaiwu_tsdb::{Resolution, RollupSnapshot, TableSnapshot, TimeRange};

/// What the engine needs from the rest of the platform; implemented by the composition root over
/// the registry and the time-series engine. Calls may block briefly (SQLite): the engine makes
/// them from `spawn_blocking` on its own runtime.
///
/// Every call names the tenant; the engine only ever asks for the tenant of the caller, which is
/// how tenant scope is enforced (no SQL rewriting).
pub trait Catalog: Send + Sync + 'static {
    /// The tenant's device types, in their current version.
    fn device_types(&self, tenant: &str) -> Result<Vec<DeviceType>, String>;
    /// The tenant's devices.
    fn devices(&self, tenant: &str) -> Result<Vec<DeviceInfo>, String>;
    /// The data of one device type that may hold rows in `range`.
    fn snapshot(
        &self,
        tenant: &str,
        device_type: &str,
        range: TimeRange,
    ) -> Result<TableSnapshot, String>;
    /// Rollups of one device type at `resolution` for buckets in `range`; `None` when there are
    /// none to offer (history then reads raw rows).
    fn rollup_snapshot(
        &self,
        tenant: &str,
        device_type: &str,
        resolution: Resolution,
        range: TimeRange,
    ) -> Result<Option<RollupSnapshot>, String>;
}

/// A device as the `devices` table shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceInfo {
    /// Device id, unique in the tenant.
    pub id: String,
    /// Its device type id.
    pub device_type: String,
    /// Display name.
    pub name: String,
    /// The asset it hangs under.
    pub asset: Option<String>,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
}
