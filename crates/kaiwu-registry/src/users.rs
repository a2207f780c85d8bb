use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use kaiwu_bus::{ObjectKind, Op};
use kaiwu_core::{Role, now_ms, validate_username};

use crate::db::{corrupt, json_list};
use crate::error::is_unique_violation;
use crate::{Error, Registry, Result};

/// A user account as the API shows it (never with its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    /// Login name, unique platform-wide.
    pub username: String,
    /// Tenant the user belongs to.
    pub tenant: String,
    /// Granted roles.
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<Role>,
    /// Highest data classification (1-3) the user may read.
    pub clearance: u8,
    /// Disabled users cannot log in.
    pub disabled: bool,
    /// Creation time, epoch ms.
    pub created_ms: i64,
    /// Last change, epoch ms.
    pub updated_ms: i64,
}

/// What login needs besides the public user.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    /// The user.
    pub user: User,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Bearer tokens issued before this (epoch ms) are void: set on password change.
    pub tokens_after_ms: i64,
}

/// A user to create. The password is hashed by the caller (auth layer).
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Login name.
    pub username: String,
    /// Tenant.
    pub tenant: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Clearance 1-3.
    pub clearance: u8,
}

/// A partial change to a user.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// New password hash; voids earlier bearer tokens.
    pub password_hash: Option<String>,
    /// New roles.
    pub roles: Option<Vec<Role>>,
    /// New clearance.
    pub clearance: Option<u8>,
    /// Disable or enable.
    pub disabled: Option<bool>,
}

const COLS: &str = "username, tenant, roles, clearance, disabled, created_ms, updated_ms, \
                    password_hash, tokens_after_ms";

fn row_to_creds(r: &Row<'_>) -> rusqlite::Result<(User, String, i64, String)> {
    let roles: String = r.get(2)?;
    Ok((
        User {
            username: r.get(0)?,
            tenant: r.get(1)?,
            roles: Vec::new(),
            clearance: r.get(3)?,
            disabled: r.get(4)?,
            created_ms: r.get(5)?,
            updated_ms: r.get(6)?,
        },
        r.get(7)?,
        r.get(8)?,
        roles,
    ))
}

fn finish(row: (User, String, i64, String)) -> Result<UserCredentials> {
    let (mut user, password_hash, tokens_after_ms, roles) = row;
    user.roles = serde_json::from_str(&roles).map_err(|e| corrupt("user", &user.username, e))?;
    Ok(UserCredentials {
        user,
        password_hash,
        tokens_after_ms,
    })
}

fn check_user(roles: &[Role], clearance: u8) -> Result<()> {
    if roles.is_empty() {
        return Err(Error::Invalid("a user needs at least one role".into()));
    }
    if !(1..=3).contains(&clearance) {
        return Err(Error::Invalid(format!(
            "clearance must be 1 to 3, got {clearance}"
        )));
    }
    Ok(())
}

impl Registry {
    /// Create a user in an existing tenant.
    pub fn create_user(&self, u: NewUser) -> Result<User> {
        validate_username(&u.username)?;
        check_user(&u.roles, u.clearance)?;
        let mut roles = u.roles.clone();
        roles.sort();
        roles.dedup();
        let now = now_ms();
        let conn = self.conn();
        let tenant_exists: bool = conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM tenants WHERE id = ?1)",
            [&u.tenant],
            |r| r.get(0),
        )?;
        if !tenant_exists {
            return Err(Error::not_found("tenant", &u.tenant));
        }
        conn.execute(
            "INSERT INTO users (username, tenant, password_hash, roles, clearance, created_ms, updated_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            params![u.username, u.tenant, u.password_hash, json_list(&roles), u.clearance, now],
        )
        .map_err(|e| match is_unique_violation(&e) {
            true => Error::Conflict(format!("username `{}` is taken", u.username)),
            false => e.into(),
        })?;
        drop(conn);
        self.emit(&u.tenant, ObjectKind::User, &u.username, Op::Created, None);
        Ok(User {
            username: u.username,
            tenant: u.tenant,
            roles,
            clearance: u.clearance,
            disabled: false,
            created_ms: now,
            updated_ms: now,
        })
    }

    /// A user with credentials, by login name, in any tenant (for login and token checks).
    pub fn user_credentials(&self, username: &str) -> Result<Option<UserCredentials>> {
        let row = self
            .conn()
            .query_row(
                &format!("SELECT {COLS} FROM users WHERE username = ?1"),
                [username],
                row_to_creds,
            )
            .optional()?;
        row.map(finish).transpose()
    }

    /// A user of `tenant`; `None` tenant means any (platform admins).
    pub fn user(&self, tenant: Option<&str>, username: &str) -> Result<User> {
        match self.user_credentials(username)? {
            Some(c) if tenant.is_none_or(|t| t == c.user.tenant) => Ok(c.user),
            _ => Err(Error::not_found("user", username)),
        }
    }

    /// Users of a tenant, by name.
    pub fn users(&self, tenant: &str) -> Result<Vec<User>> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!(
            "SELECT {COLS} FROM users WHERE tenant = ?1 ORDER BY username"
        ))?;
        let rows = st.query_map([tenant], row_to_creds)?;
        rows.map(|r| Ok(finish(r?)?.user)).collect()
    }

    /// Change a user of `tenant` (`None`: any tenant).
    pub fn update_user(&self, tenant: Option<&str>, username: &str, p: UserPatch) -> Result<User> {
        let cur = self.user(tenant, username)?;
        let roles = p.roles.unwrap_or(cur.roles.clone());
        let clearance = p.clearance.unwrap_or(cur.clearance);
        check_user(&roles, clearance)?;
        let now = now_ms();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE users SET roles = ?2, clearance = ?3, disabled = ?4, updated_ms = ?5 WHERE username = ?1",
            params![username, json_list(&roles), clearance, p.disabled.unwrap_or(cur.disabled), now],
        )?;
        if let Some(h) = p.password_hash {
            tx.execute(
                "UPDATE users SET password_hash = ?2, tokens_after_ms = ?3 WHERE username = ?1",
                params![username, h, now],
            )?;
        }
        tx.commit()?;
        drop(conn);
        self.emit(&cur.tenant, ObjectKind::User, username, Op::Updated, None);
        self.user(None, username)
    }

    /// Delete a user of `tenant` (`None`: any tenant) and their API keys.
    pub fn delete_user(&self, tenant: Option<&str>, username: &str) -> Result<()> {
        let cur = self.user(tenant, username)?;
        self.conn()
            .execute("DELETE FROM users WHERE username = ?1", [username])?;
        self.emit(&cur.tenant, ObjectKind::User, username, Op::Deleted, None);
        Ok(())
    }

    /// How many users hold `role` in `tenant` (`None`: platform-wide), to keep the last admin.
    pub fn count_role(&self, tenant: Option<&str>, role: kaiwu_core::Role) -> Result<usize> {
        let conn = self.conn();
        let pat = format!("%\"{}\"%", role.as_str());
        let n: i64 = conn.query_row(
            "SELECT COUNT(*) FROM users WHERE roles LIKE ?1 AND disabled = 0 \
             AND (?2 IS NULL OR tenant = ?2)",
            params![pat, tenant],
            |r| r.get(0),
        )?;
        Ok(usize::try_from(n).unwrap_or(0))
    }
}
