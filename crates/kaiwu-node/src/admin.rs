//! `kaiwu admin`: offline administration on a stopped node's data dir (the data dir lock makes
//! sure the node is not running).

use std::path::Path;
use std::sync::Arc;

use kaiwu_auth::{hash_password, random_token, validate_password};
use kaiwu_core::Role;
use kaiwu_registry::{NewUser, Registry, UserPatch};

use crate::datadir::DataDir;
use crate::{Error, Result};

fn open(data_dir: &Path) -> Result<(DataDir, Registry)> {
    if !data_dir.join("registry.db").is_file() {
        return Err(Error::DataDir {
            path: data_dir.display().to_string(),
            reason: "holds no kaiwu registry (start `kaiwu serve` once first)".into(),
        });
    }
    let dir = DataDir::open(data_dir)?;
    let reg = Registry::open(&dir.registry_db(), Arc::new(kaiwu_bus::MemoryBus::new()))?;
    Ok((dir, reg))
}

fn password_or_random(p: Option<String>) -> Result<(String, bool)> {
    match p {
        Some(p) => {
            validate_password(&p)?;
            Ok((p, false))
        }
        None => Ok((random_token(20), true)),
    }
}

/// Create a user. Returns the password when it was generated.
pub fn create_user(
    data_dir: &Path,
    username: &str,
    password: Option<String>,
    tenant: &str,
    roles: Vec<Role>,
) -> Result<Option<String>> {
    let (_dir, reg) = open(data_dir)?;
    let (pw, generated) = password_or_random(password)?;
    reg.create_user(NewUser {
        username: username.to_owned(),
        tenant: tenant.to_owned(),
        password_hash: hash_password(&pw)?,
        roles,
        clearance: 1,
    })?;
    Ok(generated.then_some(pw))
}

/// Set a new password (and enable the account). Returns the password when it was generated.
pub fn reset_password(
    data_dir: &Path,
    username: &str,
    password: Option<String>,
) -> Result<Option<String>> {
    let (_dir, reg) = open(data_dir)?;
    let (pw, generated) = password_or_random(password)?;
    let patch = UserPatch {
        password_hash: Some(hash_password(&pw)?),
        disabled: Some(false),
        ..Default::default()
    };
    reg.update_user(None, username, patch)?;
    Ok(generated.then_some(pw))
}
