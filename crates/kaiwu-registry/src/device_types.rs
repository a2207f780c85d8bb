use rusqlite::{OptionalExtension, params};

use kaiwu_bus::{ObjectKind, Op};
use kaiwu_core::now_ms;
use kaiwu_model::DeviceType;

use crate::db::corrupt;
use crate::error::is_unique_violation;
use crate::{Error, Registry, Result};

fn parse(id: &str, doc: &str) -> Result<DeviceType> {
    serde_json::from_str(doc).map_err(|e| corrupt("device type", id, e))
}

fn to_doc(dt: &DeviceType) -> Result<String> {
    serde_json::to_string(dt).map_err(|e| corrupt("device type", &dt.id, e))
}

impl Registry {
    /// Create a device type at version 1 (a version in the body is ignored: the registry counts).
    pub fn create_device_type(&self, tenant: &str, mut dt: DeviceType) -> Result<DeviceType> {
        dt.version = 1;
        dt.validate()?;
        let doc = to_doc(&dt)?;
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO device_types (tenant, id, version, doc, created_ms, updated_ms) VALUES (?1, ?2, 1, ?3, ?4, ?4)",
            params![tenant, dt.id, doc, now],
        )
        .map_err(|e| match is_unique_violation(&e) {
            true => Error::Conflict(format!("device type `{}` already exists", dt.id)),
            false => e.into(),
        })?;
        tx.execute(
            "INSERT OR REPLACE INTO device_type_versions (tenant, id, version, doc, created_ms) VALUES (?1, ?2, 1, ?3, ?4)",
            params![tenant, dt.id, doc, now],
        )?;
        tx.commit()?;
        drop(conn);
        self.emit(tenant, ObjectKind::DeviceType, &dt.id, Op::Created, Some(1));
        Ok(dt)
    }

    /// The current version of a device type.
    pub fn device_type(&self, tenant: &str, id: &str) -> Result<DeviceType> {
        let doc: Option<String> = self
            .conn()
            .query_row(
                "SELECT doc FROM device_types WHERE tenant = ?1 AND id = ?2",
                [tenant, id],
                |r| r.get(0),
            )
            .optional()?;
        parse(id, &doc.ok_or_else(|| Error::not_found("device type", id))?)
    }

    /// An earlier (or the current) version of a device type.
    pub fn device_type_version(&self, tenant: &str, id: &str, version: u32) -> Result<DeviceType> {
        let doc: Option<String> = self
            .conn()
            .query_row(
                "SELECT doc FROM device_type_versions WHERE tenant = ?1 AND id = ?2 AND version = ?3",
                params![tenant, id, version],
                |r| r.get(0),
            )
            .optional()?;
        parse(
            id,
            &doc.ok_or_else(|| {
                Error::not_found("device type version", &format!("{id}@{version}"))
            })?,
        )
    }

    /// All device types of a tenant, by id.
    pub fn device_types(&self, tenant: &str) -> Result<Vec<DeviceType>> {
        let conn = self.conn();
        let mut st =
            conn.prepare("SELECT id, doc FROM device_types WHERE tenant = ?1 ORDER BY id")?;
        let rows = st.query_map([tenant], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        rows.map(|r| {
            let (id, doc) = r?;
            parse(&id, &doc)
        })
        .collect()
    }

    /// Replace a device type. A real change bumps the version; an identical body is a no-op.
    /// Removing a property that has data is refused unless `force`; changing the type of a
    /// property that has data is always refused (stored values could no longer be read).
    pub fn update_device_type(
        &self,
        tenant: &str,
        id: &str,
        mut dt: DeviceType,
        force: bool,
    ) -> Result<DeviceType> {
        if dt.id != id {
            return Err(Error::Invalid(format!(
                "body id `{}` does not match the device type `{id}` being updated",
                dt.id
            )));
        }
        let cur = self.device_type(tenant, id)?;
        dt.version = cur.version;
        dt.validate()?;
        if dt == cur {
            return Ok(cur);
        }
        let change = kaiwu_model::diff(&cur, &dt);
        let used = self.properties_with_data(tenant, id)?;
        let retyped: Vec<&str> = change
            .retyped
            .iter()
            .map(|(p, _, _)| p.as_str())
            .filter(|p| used.iter().any(|u| u == p))
            .collect();
        if !retyped.is_empty() {
            return Err(Error::Conflict(format!(
                "cannot change the type of properties that have data: {}",
                retyped.join(", ")
            )));
        }
        let removed: Vec<&str> = change
            .removed
            .iter()
            .map(String::as_str)
            .filter(|p| used.iter().any(|u| u == p))
            .collect();
        if !removed.is_empty() && !force {
            return Err(Error::Conflict(format!(
                "properties {} have data; removing them needs force",
                removed.join(", ")
            )));
        }
        dt.version = cur.version + 1;
        let doc = to_doc(&dt)?;
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE device_types SET version = ?3, doc = ?4, updated_ms = ?5 WHERE tenant = ?1 AND id = ?2",
            params![tenant, id, dt.version, doc, now],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO device_type_versions (tenant, id, version, doc, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![tenant, id, dt.version, doc, now],
        )?;
        tx.commit()?;
        drop(conn);
        self.emit(
            tenant,
            ObjectKind::DeviceType,
            id,
            Op::Updated,
            Some(dt.version),
        );
        Ok(dt)
    }

    /// Delete a device type no device uses.
    pub fn delete_device_type(&self, tenant: &str, id: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n: i64 = tx.query_row(
            "SELECT COUNT(*) FROM devices WHERE tenant = ?1 AND type = ?2",
            [tenant, id],
            |r| r.get(0),
        )?;
        if n > 0 {
            return Err(Error::Conflict(format!(
                "device type `{id}` is used by {n} devices"
            )));
        }
        if tx.execute(
            "DELETE FROM device_types WHERE tenant = ?1 AND id = ?2",
            [tenant, id],
        )? == 0
        {
            return Err(Error::not_found("device type", id));
        }
        tx.execute(
            "DELETE FROM device_type_versions WHERE tenant = ?1 AND id = ?2",
            [tenant, id],
        )?;
        tx.execute(
            "DELETE FROM property_usage WHERE tenant = ?1 AND type_id = ?2",
            [tenant, id],
        )?;
        tx.commit()?;
        drop(conn);
        self.emit(tenant, ObjectKind::DeviceType, id, Op::Deleted, None);
        Ok(())
    }

    /// Record that properties of a type have stored data (called by ingest on first write).
    pub fn mark_properties_used(&self, tenant: &str, type_id: &str, props: &[&str]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let now = now_ms();
        for p in props {
            tx.execute(
                "INSERT OR IGNORE INTO property_usage (tenant, type_id, property, first_ms) VALUES (?1, ?2, ?3, ?4)",
                params![tenant, type_id, p, now],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Properties of a type that have stored data.
    pub fn properties_with_data(&self, tenant: &str, type_id: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT property FROM property_usage WHERE tenant = ?1 AND type_id = ?2 ORDER BY property",
        )?;
        let rows = st.query_map([tenant, type_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
