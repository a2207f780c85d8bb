use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use kaiwu_bus::{ObjectKind, Op};
use kaiwu_core::{now_ms, validate_device_id};

use crate::db::{corrupt, hash_secret};
use crate::error::is_unique_violation;
use crate::tenants::check_name;
use crate::{Error, Registry, Result};

/// A device as the API shows it (never with its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Device {
    /// Id, unique in the tenant.
    pub id: String,
    /// Device type id.
    #[serde(rename = "type")]
    pub device_type: String,
    /// Display name.
    pub name: String,
    /// Asset the device hangs under.
    pub asset: Option<String>,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// Last change, epoch ms.
    pub updated_ms: i64,
}

/// A device to create.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// Id.
    pub id: String,
    /// Device type id.
    pub device_type: String,
    /// Display name; defaults to the id.
    pub name: Option<String>,
    /// Asset.
    pub asset: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// A change to a device; `asset: Some(None)` detaches it.
#[derive(Debug, Clone, Default)]
pub struct DevicePatch {
    /// New name.
    pub name: Option<String>,
    /// New type.
    pub device_type: Option<String>,
    /// New asset.
    pub asset: Option<Option<String>>,
    /// New labels (replaces all).
    pub labels: Option<BTreeMap<String, String>>,
}

/// Which devices to list.
#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    /// Only this type.
    pub device_type: Option<String>,
    /// Only directly under this asset.
    pub asset: Option<String>,
    /// At most this many.
    pub limit: Option<usize>,
    /// Skip this many (ordered by id).
    pub offset: usize,
}

const COLS: &str = "id, type, name, asset, labels, created_ms, updated_ms";

fn row(r: &Row<'_>) -> rusqlite::Result<(Device, String)> {
    Ok((
        Device {
            id: r.get(0)?,
            device_type: r.get(1)?,
            name: r.get(2)?,
            asset: r.get(3)?,
            labels: BTreeMap::new(),
            created_ms: r.get(5)?,
            updated_ms: r.get(6)?,
        },
        r.get(4)?,
    ))
}

fn finish((mut d, labels): (Device, String)) -> Result<Device> {
    d.labels = serde_json::from_str(&labels).map_err(|e| corrupt("device", &d.id, e))?;
    Ok(d)
}

fn check_labels(labels: &BTreeMap<String, String>) -> Result<()> {
    if labels.len() > 64 {
        return Err(Error::Invalid("a device has at most 64 labels".into()));
    }
    for (k, v) in labels {
        let key_ok = !k.is_empty()
            && k.len() <= 64
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b));
        if !key_ok {
            return Err(Error::Invalid(format!(
                "label key `{}` must be 1 to 64 characters of [A-Za-z0-9_.-/]",
                k.chars().take(64).collect::<String>()
            )));
        }
        if v.chars().count() > 256 || v.chars().any(char::is_control) {
            return Err(Error::Invalid(format!(
                "label `{k}` value must be at most 256 characters without control characters"
            )));
        }
    }
    Ok(())
}

/// Caller-supplied access tokens (migrating ThingsBoard devices) must still be hard to guess.
pub(crate) fn check_token(t: &str) -> Result<()> {
    if t.len() < 8 || t.len() > 128 || !t.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::Invalid(
            "access token must be 8 to 128 printable ASCII characters without spaces".into(),
        ));
    }
    Ok(())
}

fn token_conflict(e: rusqlite::Error, id: &str) -> Error {
    let taken =
        matches!(&e, rusqlite::Error::SqliteFailure(_, Some(m)) if m.contains("token_hash"));
    match (is_unique_violation(&e), taken) {
        (true, true) => Error::Conflict("access token is already in use".into()),
        (true, false) => Error::Conflict(format!("device `{id}` already exists")),
        _ => e.into(),
    }
}

impl Registry {
    fn check_refs(&self, tenant: &str, device_type: &str, asset: Option<&str>) -> Result<()> {
        let conn = self.conn();
        let exists = |sql: &str, id: &str| -> Result<bool> {
            Ok(conn.query_row(sql, [tenant, id], |r| r.get(0))?)
        };
        if !exists(
            "SELECT EXISTS(SELECT 1 FROM device_types WHERE tenant = ?1 AND id = ?2)",
            device_type,
        )? {
            return Err(Error::Invalid(format!(
                "device type `{device_type}` does not exist"
            )));
        }
        let asset_sql = "SELECT EXISTS(SELECT 1 FROM assets WHERE tenant = ?1 AND id = ?2)";
        match asset {
            Some(a) if !exists(asset_sql, a)? => {
                Err(Error::Invalid(format!("asset `{a}` does not exist")))
            }
            _ => Ok(()),
        }
    }

    /// Create a device with its access token (stored only as a hash).
    pub fn create_device(&self, tenant: &str, d: NewDevice, token: &str) -> Result<Device> {
        validate_device_id(&d.id)?;
        let name = d.name.unwrap_or_else(|| d.id.clone());
        check_name("device", &name)?;
        check_labels(&d.labels)?;
        check_token(token)?;
        self.check_refs(tenant, &d.device_type, d.asset.as_deref())?;
        let now = now_ms();
        let labels = serde_json::to_string(&d.labels).unwrap_or_else(|_| "{}".into());
        self.conn()
            .execute(
                "INSERT INTO devices (tenant, id, type, name, asset, labels, token_hash, created_ms, updated_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                params![tenant, d.id, d.device_type, name, d.asset, labels, hash_secret(token), now],
            )
            .map_err(|e| token_conflict(e, &d.id))?;
        self.emit(tenant, ObjectKind::Device, &d.id, Op::Created, None);
        Ok(Device {
            id: d.id,
            device_type: d.device_type,
            name,
            asset: d.asset,
            labels: d.labels,
            created_ms: now,
            updated_ms: now,
        })
    }

    /// One device.
    pub fn device(&self, tenant: &str, id: &str) -> Result<Device> {
        let r = self
            .conn()
            .query_row(
                &format!("SELECT {COLS} FROM devices WHERE tenant = ?1 AND id = ?2"),
                [tenant, id],
                row,
            )
            .optional()?;
        r.map(finish)
            .transpose()?
            .ok_or_else(|| Error::not_found("device", id))
    }

    /// Devices of a tenant, ordered by id.
    pub fn devices(&self, tenant: &str, f: &DeviceFilter) -> Result<Vec<Device>> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!(
            "SELECT {COLS} FROM devices WHERE tenant = ?1 AND (?2 IS NULL OR type = ?2) \
             AND (?3 IS NULL OR asset = ?3) ORDER BY id LIMIT ?4 OFFSET ?5"
        ))?;
        let limit = f.limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let offset = i64::try_from(f.offset).unwrap_or(i64::MAX);
        let rows = st.query_map(params![tenant, f.device_type, f.asset, limit, offset], row)?;
        rows.map(|r| finish(r?)).collect()
    }

    /// How many devices match the filter (ignoring limit and offset).
    pub fn count_devices(&self, tenant: &str, f: &DeviceFilter) -> Result<usize> {
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM devices WHERE tenant = ?1 AND (?2 IS NULL OR type = ?2) AND (?3 IS NULL OR asset = ?3)",
            params![tenant, f.device_type, f.asset],
            |r| r.get(0),
        )?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Change a device.
    pub fn update_device(&self, tenant: &str, id: &str, p: DevicePatch) -> Result<Device> {
        let cur = self.device(tenant, id)?;
        let name = p.name.unwrap_or(cur.name);
        check_name("device", &name)?;
        let labels = p.labels.unwrap_or(cur.labels);
        check_labels(&labels)?;
        let device_type = p.device_type.unwrap_or(cur.device_type);
        let asset = p.asset.unwrap_or(cur.asset);
        self.check_refs(tenant, &device_type, asset.as_deref())?;
        let labels_json = serde_json::to_string(&labels).unwrap_or_else(|_| "{}".into());
        self.conn().execute(
            "UPDATE devices SET name = ?3, type = ?4, asset = ?5, labels = ?6, updated_ms = ?7 WHERE tenant = ?1 AND id = ?2",
            params![tenant, id, name, device_type, asset, labels_json, now_ms()],
        )?;
        self.emit(tenant, ObjectKind::Device, id, Op::Updated, None);
        self.device(tenant, id)
    }

    /// Delete a device.
    pub fn delete_device(&self, tenant: &str, id: &str) -> Result<()> {
        let n = self.conn().execute(
            "DELETE FROM devices WHERE tenant = ?1 AND id = ?2",
            [tenant, id],
        )?;
        if n == 0 {
            return Err(Error::not_found("device", id));
        }
        self.emit(tenant, ObjectKind::Device, id, Op::Deleted, None);
        Ok(())
    }

    /// Replace a device's access token; the old one stops working at once.
    pub fn set_device_token(&self, tenant: &str, id: &str, token: &str) -> Result<()> {
        check_token(token)?;
        let n = self
            .conn()
            .execute(
                "UPDATE devices SET token_hash = ?3, updated_ms = ?4 WHERE tenant = ?1 AND id = ?2",
                params![tenant, id, hash_secret(token), now_ms()],
            )
            .map_err(|e| token_conflict(e, id))?;
        if n == 0 {
            return Err(Error::not_found("device", id));
        }
        self.emit(tenant, ObjectKind::Credential, id, Op::Updated, None);
        Ok(())
    }

    /// Record the fingerprint (hex SHA-256) of a device's client certificate; the one issued
    /// before stops working at once.
    pub fn set_device_cert(&self, tenant: &str, id: &str, sha256: &str) -> Result<()> {
        let n = self.conn().execute(
            "UPDATE devices SET cert_sha256 = ?3, updated_ms = ?4 WHERE tenant = ?1 AND id = ?2",
            params![tenant, id, sha256, now_ms()],
        )?;
        if n == 0 {
            return Err(Error::not_found("device", id));
        }
        self.emit(tenant, ObjectKind::Credential, id, Op::Updated, None);
        Ok(())
    }

    /// The tenant and device a client certificate (by fingerprint) was issued to.
    pub fn device_by_cert(&self, sha256: &str) -> Result<Option<(String, Device)>> {
        self.device_where("cert_sha256", sha256)
    }

    /// The tenant and device an access token belongs to.
    pub fn device_by_token(&self, token: &str) -> Result<Option<(String, Device)>> {
        self.device_where("token_hash", &hash_secret(token))
    }

    fn device_where(&self, column: &str, value: &str) -> Result<Option<(String, Device)>> {
        let r = self
            .conn()
            .query_row(
                &format!("SELECT tenant, {COLS} FROM devices WHERE {column} = ?1"),
                [value],
                |r| {
                    let tenant: String = r.get(0)?;
                    let labels: String = r.get(5)?;
                    Ok((
                        tenant,
                        Device {
                            id: r.get(1)?,
                            device_type: r.get(2)?,
                            name: r.get(3)?,
                            asset: r.get(4)?,
                            labels: BTreeMap::new(),
                            created_ms: r.get(6)?,
                            updated_ms: r.get(7)?,
                        },
                        labels,
                    ))
                },
            )
            .optional()?;
        match r {
            Some((t, d, labels)) => Ok(Some((t, finish((d, labels))?))),
            None => Ok(None),
        }
    }
}
