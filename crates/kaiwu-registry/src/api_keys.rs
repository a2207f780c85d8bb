use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use kaiwu_bus::{ObjectKind, Op};
use kaiwu_core::{Role, now_ms};

use crate::db::{corrupt, hash_secret, json_list};
use crate::tenants::check_name;
use crate::{Error, Registry, Result};

/// An API key as listed (the secret is shown only once, at creation, by the API layer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKey {
    /// Key id.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// Owner; the key acts as this user, with at most these roles.
    pub username: String,
    /// Label.
    pub name: String,
    /// Roles (a subset of the owner's at creation).
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<Role>,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// Expiry, epoch ms; none means no expiry.
    pub expires_ms: Option<i64>,
}

/// An API key to store.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// Key id.
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// Owner.
    pub username: String,
    /// Label.
    pub name: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Expiry, epoch ms.
    pub expires_ms: Option<i64>,
    /// The secret itself; only its hash is stored.
    pub secret: String,
}

const COLS: &str = "id, tenant, username, name, roles, created_ms, expires_ms";

fn row(r: &Row<'_>) -> rusqlite::Result<(ApiKey, String)> {
    Ok((
        ApiKey {
            id: r.get(0)?,
            tenant: r.get(1)?,
            username: r.get(2)?,
            name: r.get(3)?,
            roles: Vec::new(),
            created_ms: r.get(5)?,
            expires_ms: r.get(6)?,
        },
        r.get(4)?,
    ))
}

fn finish((mut k, roles): (ApiKey, String)) -> Result<ApiKey> {
    k.roles = serde_json::from_str(&roles).map_err(|e| corrupt("api key", &k.id, e))?;
    Ok(k)
}

impl Registry {
    /// Store a new API key.
    pub fn create_api_key(&self, k: NewApiKey) -> Result<ApiKey> {
        check_name("api key", &k.name)?;
        if k.roles.is_empty() {
            return Err(Error::Invalid("an api key needs at least one role".into()));
        }
        let now = now_ms();
        self.conn().execute(
            "INSERT INTO api_keys (id, tenant, username, name, key_hash, roles, created_ms, expires_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![k.id, k.tenant, k.username, k.name, hash_secret(&k.secret), json_list(&k.roles), now, k.expires_ms],
        )?;
        self.emit(&k.tenant, ObjectKind::ApiKey, &k.id, Op::Created, None);
        Ok(ApiKey {
            id: k.id,
            tenant: k.tenant,
            username: k.username,
            name: k.name,
            roles: k.roles,
            created_ms: now,
            expires_ms: k.expires_ms,
        })
    }

    /// The key a secret belongs to, if any (expiry is checked by the caller).
    pub fn api_key_by_secret(&self, secret: &str) -> Result<Option<ApiKey>> {
        let r = self
            .conn()
            .query_row(
                &format!("SELECT {COLS} FROM api_keys WHERE key_hash = ?1"),
                [hash_secret(secret)],
                row,
            )
            .optional()?;
        r.map(finish).transpose()
    }

    /// Keys of a tenant, optionally only one owner's.
    pub fn api_keys(&self, tenant: &str, owner: Option<&str>) -> Result<Vec<ApiKey>> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!(
            "SELECT {COLS} FROM api_keys WHERE tenant = ?1 AND (?2 IS NULL OR username = ?2) ORDER BY created_ms, id"
        ))?;
        let rows = st.query_map(params![tenant, owner], row)?;
        rows.map(|r| finish(r?)).collect()
    }

    /// One key of a tenant.
    pub fn api_key(&self, tenant: &str, id: &str) -> Result<ApiKey> {
        let r = self
            .conn()
            .query_row(
                &format!("SELECT {COLS} FROM api_keys WHERE tenant = ?1 AND id = ?2"),
                [tenant, id],
                row,
            )
            .optional()?;
        r.map(finish)
            .transpose()?
            .ok_or_else(|| Error::not_found("api key", id))
    }

    /// Revoke a key of a tenant.
    pub fn delete_api_key(&self, tenant: &str, id: &str) -> Result<()> {
        let n = self.conn().execute(
            "DELETE FROM api_keys WHERE tenant = ?1 AND id = ?2",
            [tenant, id],
        )?;
        if n == 0 {
            return Err(Error::not_found("api key", id));
        }
        self.emit(tenant, ObjectKind::ApiKey, id, Op::Deleted, None);
        Ok(())
    }
}
