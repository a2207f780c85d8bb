use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use kaiwu_bus::{ObjectKind, Op};
use kaiwu_core::{now_ms, validate_asset_id};

use crate::error::is_unique_violation;
use crate::tenants::check_name;
use crate::{Error, Registry, Result};

/// ISA-95 equipment hierarchy levels, top down.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AssetKind {
    /// The company.
    Enterprise,
    /// A plant or factory.
    Site,
    /// A production area or workshop.
    Area,
    /// A production line.
    Line,
    /// A work cell or machine.
    Cell,
}

impl AssetKind {
    fn as_str(self) -> &'static str {
        match self {
            AssetKind::Enterprise => "enterprise",
            AssetKind::Site => "site",
            AssetKind::Area => "area",
            AssetKind::Line => "line",
            AssetKind::Cell => "cell",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Enterprise,
            Self::Site,
            Self::Area,
            Self::Line,
            Self::Cell,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A node of the asset tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Asset {
    /// Id, unique in the tenant.
    pub id: String,
    /// Hierarchy level.
    pub kind: AssetKind,
    /// Display name.
    pub name: String,
    /// Parent asset; its level must be above this one's.
    pub parent: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// Last change, epoch ms.
    pub updated_ms: i64,
}

/// An asset to create.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAsset {
    /// Id, unique in the tenant.
    pub id: String,
    /// Level.
    pub kind: AssetKind,
    /// Display name; defaults to the id.
    #[serde(default)]
    pub name: Option<String>,
    /// Parent asset.
    #[serde(default)]
    pub parent: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// A change to an asset; `parent: null` moves it to the root.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssetPatch {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New parent (`null`: root).
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub parent: Option<Option<String>>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
}

/// Distinguishes an absent field from an explicit `null`.
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

const COLS: &str = "id, kind, name, parent, description, created_ms, updated_ms";

fn row(r: &Row<'_>) -> rusqlite::Result<Asset> {
    let kind: String = r.get(1)?;
    Ok(Asset {
        id: r.get(0)?,
        kind: AssetKind::parse(&kind).unwrap_or(AssetKind::Cell),
        name: r.get(2)?,
        parent: r.get(3)?,
        description: r.get(4)?,
        created_ms: r.get(5)?,
        updated_ms: r.get(6)?,
    })
}

fn check_description(d: Option<&str>) -> Result<()> {
    match d {
        Some(d) if d.chars().count() > 1024 => Err(Error::Invalid(
            "description must be at most 1024 characters".into(),
        )),
        _ => Ok(()),
    }
}

impl Registry {
    /// Create an asset.
    pub fn create_asset(&self, tenant: &str, a: NewAsset) -> Result<Asset> {
        validate_asset_id(&a.id)?;
        let name = a.name.unwrap_or_else(|| a.id.clone());
        check_name("asset", &name)?;
        check_description(a.description.as_deref())?;
        let conn = self.conn();
        if let Some(p) = &a.parent {
            check_parent(&conn, tenant, &a.id, a.kind, p)?;
        }
        let now = now_ms();
        conn.execute(
            &format!("INSERT INTO assets (tenant, {COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)"),
            params![
                tenant,
                a.id,
                a.kind.as_str(),
                name,
                a.parent,
                a.description,
                now
            ],
        )
        .map_err(|e| match is_unique_violation(&e) {
            true => Error::Conflict(format!("asset `{}` already exists", a.id)),
            false => e.into(),
        })?;
        drop(conn);
        self.emit(tenant, ObjectKind::Asset, &a.id, Op::Created, None);
        self.asset(tenant, &a.id)
    }

    /// One asset.
    pub fn asset(&self, tenant: &str, id: &str) -> Result<Asset> {
        self.conn()
            .query_row(
                &format!("SELECT {COLS} FROM assets WHERE tenant = ?1 AND id = ?2"),
                [tenant, id],
                row,
            )
            .optional()?
            .ok_or_else(|| Error::not_found("asset", id))
    }

    /// Assets of a tenant; with `parent`, only its direct children.
    pub fn assets(&self, tenant: &str, parent: Option<&str>) -> Result<Vec<Asset>> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!(
            "SELECT {COLS} FROM assets WHERE tenant = ?1 AND (?2 IS NULL OR parent = ?2) ORDER BY id"
        ))?;
        let rows = st.query_map(params![tenant, parent], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Change an asset (name, description, parent).
    pub fn update_asset(&self, tenant: &str, id: &str, p: AssetPatch) -> Result<Asset> {
        let cur = self.asset(tenant, id)?;
        let name = p.name.unwrap_or(cur.name);
        check_name("asset", &name)?;
        let description = p.description.or(cur.description);
        check_description(description.as_deref())?;
        let parent = p.parent.unwrap_or(cur.parent);
        let conn = self.conn();
        if let Some(pid) = &parent {
            check_parent(&conn, tenant, id, cur.kind, pid)?;
        }
        conn.execute(
            "UPDATE assets SET name = ?3, parent = ?4, description = ?5, updated_ms = ?6 WHERE tenant = ?1 AND id = ?2",
            params![tenant, id, name, parent, description, now_ms()],
        )?;
        drop(conn);
        self.emit(tenant, ObjectKind::Asset, id, Op::Updated, None);
        self.asset(tenant, id)
    }

    /// Delete a leaf asset that no device hangs under.
    pub fn delete_asset(&self, tenant: &str, id: &str) -> Result<()> {
        self.asset(tenant, id)?;
        let conn = self.conn();
        let count =
            |sql: &str| -> Result<i64> { Ok(conn.query_row(sql, [tenant, id], |r| r.get(0))?) };
        let children = count("SELECT COUNT(*) FROM assets WHERE tenant = ?1 AND parent = ?2")?;
        let devices = count("SELECT COUNT(*) FROM devices WHERE tenant = ?1 AND asset = ?2")?;
        if children > 0 || devices > 0 {
            return Err(Error::Conflict(format!(
                "asset `{id}` still has {children} child assets and {devices} devices"
            )));
        }
        conn.execute(
            "DELETE FROM assets WHERE tenant = ?1 AND id = ?2",
            [tenant, id],
        )?;
        drop(conn);
        self.emit(tenant, ObjectKind::Asset, id, Op::Deleted, None);
        Ok(())
    }
}

/// The parent must exist, sit at a higher ISA-95 level, and not be the asset or its descendant.
/// The level rule alone rules out cycles; the ancestor walk keeps that true if levels ever relax.
fn check_parent(
    conn: &rusqlite::Connection,
    tenant: &str,
    id: &str,
    kind: AssetKind,
    parent: &str,
) -> Result<()> {
    let get = |pid: &str| -> Result<Option<(String, Option<String>)>> {
        Ok(conn
            .query_row(
                "SELECT kind, parent FROM assets WHERE tenant = ?1 AND id = ?2",
                [tenant, pid],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    };
    let (pkind, _) = get(parent)?
        .ok_or_else(|| Error::Invalid(format!("parent asset `{parent}` does not exist")))?;
    let pkind = AssetKind::parse(&pkind).unwrap_or(AssetKind::Cell);
    if pkind >= kind {
        return Err(Error::Invalid(format!(
            "a {} cannot hang under a {} (ISA-95 levels go enterprise > site > area > line > cell)",
            kind.as_str(),
            pkind.as_str()
        )));
    }
    let mut cur = Some(parent.to_owned());
    let mut steps = 0;
    while let Some(c) = cur {
        if c == id || steps > 64 {
            return Err(Error::Invalid(format!(
                "moving `{id}` under `{parent}` would make a cycle"
            )));
        }
        cur = get(&c)?.and_then(|(_, p)| p);
        steps += 1;
    }
    Ok(())
}
