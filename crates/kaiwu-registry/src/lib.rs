//! The registry: tenants, users, API keys, device types (versioned thing models), devices with
//! their credentials, and the ISA-95 asset tree. Embedded SQLite here; PostgreSQL behind the same
//! API when clustered.
//!
//! Every method that touches tenant data takes the tenant explicitly and filters by it in SQL, so
//! an object of another tenant is indistinguishable from one that does not exist. Changes are
//! published on the bus after they commit.

mod api_keys;
mod assets;
mod connectors;
mod db;
mod device_types;
mod devices;
mod error;
mod migrate;
mod retention;
mod shadows;
mod tenants;
mod users;

pub use api_keys::{ApiKey, NewApiKey};
pub use assets::{Asset, AssetKind, AssetPatch, NewAsset};
pub use connectors::{MAX_CONNECTOR_BYTES, StoredConnector};
pub use db::{Registry, hash_secret};
pub use devices::{Device, DeviceFilter, DevicePatch, NewDevice};
pub use error::{Error, Result};
pub use retention::RetentionPolicy;
pub use shadows::{MAX_SHADOW_BYTES, Shadow};
pub use tenants::Tenant;
pub use users::{NewUser, User, UserCredentials, UserPatch};

#[cfg(test)]
mod tests;
