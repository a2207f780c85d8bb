//! Southbound connector configurations. The registry keeps each as its JSON document with the
//! fields every kind shares (`id`, `kind`, `enabled`) pulled out; the kind-specific checks
//! (points against thing models, addresses, node ids) belong to `kaiwu-connect`, which validates
//! a document before it is stored here.

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use kaiwu_bus::{ObjectKind, Op};
use kaiwu_core::now_ms;

use crate::db::corrupt;
use crate::error::is_unique_violation;
use crate::{Error, Registry, Result};

/// Largest stored connector document.
pub const MAX_CONNECTOR_BYTES: usize = 1 << 20;

/// A stored connector configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredConnector {
    /// Tenant it belongs to.
    pub tenant: String,
    /// Id, unique in the tenant.
    pub id: String,
    /// Kind (`modbus_tcp`, `modbus_rtu`, `opcua`, `mqtt_bridge`).
    pub kind: String,
    /// Whether it runs.
    pub enabled: bool,
    /// The whole configuration document.
    pub doc: serde_json::Value,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// Last change, epoch ms.
    pub updated_ms: i64,
}

const COLS: &str = "tenant, id, kind, enabled, doc, created_ms, updated_ms";

fn row(r: &Row<'_>) -> rusqlite::Result<(StoredConnector, String)> {
    let doc: String = r.get(4)?;
    Ok((
        StoredConnector {
            tenant: r.get(0)?,
            id: r.get(1)?,
            kind: r.get(2)?,
            enabled: r.get(3)?,
            doc: serde_json::Value::Null,
            created_ms: r.get(5)?,
            updated_ms: r.get(6)?,
        },
        doc,
    ))
}

fn parse((mut c, doc): (StoredConnector, String)) -> Result<StoredConnector> {
    c.doc = serde_json::from_str(&doc).map_err(|e| corrupt("connector", &c.id, e))?;
    Ok(c)
}

fn encode(doc: &serde_json::Value) -> Result<String> {
    let s = serde_json::to_string(doc).map_err(|e| Error::Invalid(e.to_string()))?;
    if s.len() > MAX_CONNECTOR_BYTES {
        return Err(Error::Invalid(format!(
            "connector configuration is {} bytes; at most {MAX_CONNECTOR_BYTES} are allowed",
            s.len()
        )));
    }
    Ok(s)
}

impl Registry {
    /// Store a new connector configuration (already validated by its kind).
    pub fn create_connector(
        &self,
        tenant: &str,
        id: &str,
        kind: &str,
        enabled: bool,
        doc: &serde_json::Value,
    ) -> Result<StoredConnector> {
        kaiwu_core::validate_asset_id(id)?;
        let text = encode(doc)?;
        let now = now_ms();
        self.conn()
            .execute(
                &format!("INSERT INTO connectors ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)"),
                params![tenant, id, kind, enabled, text, now],
            )
            .map_err(|e| match is_unique_violation(&e) {
                true => Error::Conflict(format!("connector `{id}` already exists")),
                false => e.into(),
            })?;
        self.emit(tenant, ObjectKind::Connector, id, Op::Created, None);
        self.connector(tenant, id)
    }

    /// Replace a connector's configuration; its kind cannot change.
    pub fn update_connector(
        &self,
        tenant: &str,
        id: &str,
        enabled: bool,
        doc: &serde_json::Value,
    ) -> Result<StoredConnector> {
        let text = encode(doc)?;
        let n = self.conn().execute(
            "UPDATE connectors SET enabled = ?3, doc = ?4, updated_ms = ?5 WHERE tenant = ?1 AND id = ?2",
            params![tenant, id, enabled, text, now_ms()],
        )?;
        if n == 0 {
            return Err(Error::not_found("connector", id));
        }
        self.emit(tenant, ObjectKind::Connector, id, Op::Updated, None);
        self.connector(tenant, id)
    }

    /// One connector.
    pub fn connector(&self, tenant: &str, id: &str) -> Result<StoredConnector> {
        let r = self
            .conn()
            .query_row(
                &format!("SELECT {COLS} FROM connectors WHERE tenant = ?1 AND id = ?2"),
                [tenant, id],
                row,
            )
            .optional()?
            .ok_or_else(|| Error::not_found("connector", id))?;
        parse(r)
    }

    /// Connectors of a tenant, or of every tenant with `None` (the node starting them all).
    pub fn connectors(&self, tenant: Option<&str>) -> Result<Vec<StoredConnector>> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!(
            "SELECT {COLS} FROM connectors WHERE (?1 IS NULL OR tenant = ?1) ORDER BY tenant, id"
        ))?;
        let rows = st
            .query_map(params![tenant], row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(parse).collect()
    }

    /// Delete a connector.
    pub fn delete_connector(&self, tenant: &str, id: &str) -> Result<()> {
        let n = self.conn().execute(
            "DELETE FROM connectors WHERE tenant = ?1 AND id = ?2",
            [tenant, id],
        )?;
        if n == 0 {
            return Err(Error::not_found("connector", id));
        }
        self.emit(tenant, ObjectKind::Connector, id, Op::Deleted, None);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn connector_crud_is_tenant_scoped() {
        let reg = Registry::open_in_memory(Arc::new(kaiwu_bus::MemoryBus::new())).unwrap();
        reg.create_tenant("a", "A").unwrap();
        reg.create_tenant("b", "B").unwrap();
        let doc = serde_json::json!({"id": "plc1", "kind": "modbus_tcp", "enabled": true});
        let c = reg
            .create_connector("a", "plc1", "modbus_tcp", true, &doc)
            .unwrap();
        assert_eq!(c.doc, doc);
        assert!(matches!(
            reg.create_connector("a", "plc1", "modbus_tcp", true, &doc),
            Err(Error::Conflict(_))
        ));
        assert!(matches!(
            reg.connector("b", "plc1"),
            Err(Error::NotFound { .. })
        ));
        reg.update_connector("a", "plc1", false, &doc).unwrap();
        assert!(!reg.connector("a", "plc1").unwrap().enabled);
        assert_eq!(reg.connectors(None).unwrap().len(), 1);
        assert!(reg.connectors(Some("b")).unwrap().is_empty());
        assert!(reg.delete_connector("b", "plc1").is_err());
        reg.delete_connector("a", "plc1").unwrap();
        assert!(reg.connectors(None).unwrap().is_empty());
    }
}
