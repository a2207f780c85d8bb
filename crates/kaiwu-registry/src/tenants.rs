use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use kaiwu_bus::{ObjectKind, Op};
use kaiwu_core::{now_ms, validate_tenant_id};

use crate::error::is_unique_violation;
use crate::{Error, Registry, Result};

/// A tenant: an isolated organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tenant {
    /// `[a-z][a-z0-9_-]{0,62}`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Creation time, epoch ms.
    pub created_ms: i64,
}

/// Tables holding tenant data, child tables first, for a forced delete.
const TENANT_TABLES: &[&str] = &[
    "retention",
    "api_keys",
    "users",
    "devices",
    "property_usage",
    "device_type_versions",
    "device_types",
];

pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    let n = name.chars().count();
    if n == 0 || n > 128 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "{what} name must be 1 to 128 characters without control characters"
        )));
    }
    Ok(())
}

impl Registry {
    /// Create a tenant.
    pub fn create_tenant(&self, id: &str, name: &str) -> Result<Tenant> {
        validate_tenant_id(id)?;
        check_name("tenant", name)?;
        let t = Tenant {
            id: id.to_owned(),
            name: name.to_owned(),
            created_ms: now_ms(),
        };
        self.conn()
            .execute(
                "INSERT INTO tenants (id, name, created_ms) VALUES (?1, ?2, ?3)",
                params![t.id, t.name, t.created_ms],
            )
            .map_err(|e| match is_unique_violation(&e) {
                true => Error::Conflict(format!("tenant `{id}` already exists")),
                false => e.into(),
            })?;
        self.emit(id, ObjectKind::Tenant, id, Op::Created, None);
        Ok(t)
    }

    /// One tenant.
    pub fn tenant(&self, id: &str) -> Result<Tenant> {
        self.conn()
            .query_row(
                "SELECT id, name, created_ms FROM tenants WHERE id = ?1",
                [id],
                |r| {
                    Ok(Tenant {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        created_ms: r.get(2)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| Error::not_found("tenant", id))
    }

    /// All tenants, by id.
    pub fn tenants(&self) -> Result<Vec<Tenant>> {
        let conn = self.conn();
        let mut st = conn.prepare("SELECT id, name, created_ms FROM tenants ORDER BY id")?;
        let rows = st.query_map([], |r| {
            Ok(Tenant {
                id: r.get(0)?,
                name: r.get(1)?,
                created_ms: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Rename a tenant.
    pub fn rename_tenant(&self, id: &str, name: &str) -> Result<Tenant> {
        check_name("tenant", name)?;
        let n = self.conn().execute(
            "UPDATE tenants SET name = ?2 WHERE id = ?1",
            params![id, name],
        )?;
        if n == 0 {
            return Err(Error::not_found("tenant", id));
        }
        self.emit(id, ObjectKind::Tenant, id, Op::Updated, None);
        self.tenant(id)
    }

    /// Delete a tenant. Refused while it holds anything unless `force`, which deletes it all.
    pub fn delete_tenant(&self, id: &str, force: bool) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let exists: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM tenants WHERE id = ?1)",
            [id],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(Error::not_found("tenant", id));
        }
        let mut held = Vec::new();
        for (table, what) in [
            ("users", "users"),
            ("device_types", "device types"),
            ("devices", "devices"),
            ("assets", "assets"),
        ] {
            let n: i64 = tx.query_row(
                &format!("SELECT COUNT(*) FROM {table} WHERE tenant = ?1"),
                [id],
                |r| r.get(0),
            )?;
            if n > 0 {
                held.push(format!("{n} {what}"));
            }
        }
        if !held.is_empty() && !force {
            return Err(Error::Conflict(format!(
                "tenant `{id}` still holds {}; delete them first or pass force",
                held.join(", ")
            )));
        }
        for table in TENANT_TABLES {
            tx.execute(&format!("DELETE FROM {table} WHERE tenant = ?1"), [id])?;
        }
        // Assets reference their parents: delete leaves first.
        loop {
            let n = tx.execute(
                "DELETE FROM assets WHERE tenant = ?1 AND id NOT IN \
                 (SELECT parent FROM assets WHERE tenant = ?1 AND parent IS NOT NULL)",
                [id],
            )?;
            if n == 0 {
                break;
            }
        }
        tx.execute("DELETE FROM tenants WHERE id = ?1", [id])?;
        tx.commit()?;
        drop(conn);
        self.emit(id, ObjectKind::Tenant, id, Op::Deleted, None);
        Ok(())
    }
}
