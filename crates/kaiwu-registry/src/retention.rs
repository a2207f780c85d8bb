use std::collections::BTreeMap;

use rusqlite::params;
use serde::{Deserialize, Serialize};

use kaiwu_bus::{ObjectKind, Op};

use crate::{Error, Registry, Result};

/// Longest retention that can be set: a century.
const MAX_DAYS: u32 = 36_500;

/// How long a tenant keeps its time-series data, in whole days; absent means forever.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Default for every device type of the tenant.
    #[serde(default)]
    pub default_days: Option<u32>,
    /// Overrides per device type id.
    #[serde(default)]
    pub device_types: BTreeMap<String, u32>,
}

impl RetentionPolicy {
    /// Days kept for one device type, if limited.
    pub fn days_for(&self, device_type: &str) -> Option<u32> {
        self.device_types
            .get(device_type)
            .copied()
            .or(self.default_days)
    }
}

impl Registry {
    /// A tenant's retention policy.
    pub fn retention(&self, tenant: &str) -> Result<RetentionPolicy> {
        let conn = self.conn();
        let mut st = conn.prepare("SELECT type_id, keep_days FROM retention WHERE tenant = ?1")?;
        let rows = st.query_map([tenant], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?))
        })?;
        let mut p = RetentionPolicy::default();
        for row in rows {
            match row? {
                (t, d) if t.is_empty() => p.default_days = Some(d),
                (t, d) => {
                    p.device_types.insert(t, d);
                }
            }
        }
        Ok(p)
    }

    /// Replace a tenant's retention policy. Device types must exist.
    pub fn set_retention(&self, tenant: &str, p: &RetentionPolicy) -> Result<RetentionPolicy> {
        let days = p.default_days.iter().chain(p.device_types.values());
        if let Some(d) = days.into_iter().find(|d| **d == 0 || **d > MAX_DAYS) {
            return Err(Error::Invalid(format!(
                "retention must be 1 to {MAX_DAYS} days, got {d}"
            )));
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for ty in p.device_types.keys() {
            let exists: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM device_types WHERE tenant = ?1 AND id = ?2)",
                [tenant, ty],
                |r| r.get(0),
            )?;
            if !exists {
                return Err(Error::Invalid(format!("device type `{ty}` does not exist")));
            }
        }
        tx.execute("DELETE FROM retention WHERE tenant = ?1", [tenant])?;
        let rows = p
            .default_days
            .map(|d| (String::new(), d))
            .into_iter()
            .chain(p.device_types.iter().map(|(k, v)| (k.clone(), *v)));
        for (ty, d) in rows {
            tx.execute(
                "INSERT INTO retention (tenant, type_id, keep_days) VALUES (?1, ?2, ?3)",
                params![tenant, ty, d],
            )?;
        }
        tx.commit()?;
        drop(conn);
        self.emit(tenant, ObjectKind::Tenant, tenant, Op::Updated, None);
        self.retention(tenant)
    }

    /// Every tenant's policy, for the enforcement loop.
    pub fn all_retention(&self) -> Result<BTreeMap<String, RetentionPolicy>> {
        let tenants: Vec<String> = {
            let conn = self.conn();
            let mut st = conn.prepare("SELECT DISTINCT tenant FROM retention")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        tenants
            .into_iter()
            .map(|t| Ok((t.clone(), self.retention(&t)?)))
            .collect()
    }
}
