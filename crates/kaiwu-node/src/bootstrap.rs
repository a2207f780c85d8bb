//! First start on an empty data dir: tenant `default` and user `admin`. There is no default
//! password: it comes from `KAIWU_ADMIN_PASSWORD` or is generated and shown once.

use kaiwu_auth::{hash_password, random_token, validate_password};
use kaiwu_core::Role;
use kaiwu_registry::{NewUser, Registry};

use crate::{Error, Result};

/// What the first start created.
#[derive(Debug)]
pub(crate) struct FirstStart {
    /// The generated admin password, when none was supplied.
    pub(crate) generated_password: Option<String>,
}

/// Create the default tenant and admin if the registry has no tenant yet.
pub(crate) fn first_start(
    reg: &Registry,
    env_password: Option<String>,
) -> Result<Option<FirstStart>> {
    if !reg.tenants()?.is_empty() {
        return Ok(None);
    }
    let (password, generated) = match env_password {
        Some(p) => {
            validate_password(&p)
                .map_err(|e| Error::Config(format!("KAIWU_ADMIN_PASSWORD: {e}")))?;
            (p, false)
        }
        None => (random_token(20), true),
    };
    reg.create_tenant("default", "Default")?;
    reg.create_user(NewUser {
        username: "admin".into(),
        tenant: "default".into(),
        password_hash: hash_password(&password)?,
        roles: vec![Role::PlatformAdmin, Role::TenantAdmin],
        clearance: 3,
    })?;
    tracing::info!(
        tenant = "default",
        user = "admin",
        "first start: bootstrap account created"
    );
    Ok(Some(FirstStart {
        generated_password: generated.then_some(password),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn runs_once_and_never_uses_a_fixed_password() {
        let reg = Registry::open_in_memory(Arc::new(kaiwu_bus::MemoryBus::new())).unwrap();
        let first = first_start(&reg, None).unwrap().unwrap();
        let pw = first.generated_password.unwrap();
        assert_eq!(pw.len(), 20);
        let creds = reg.user_credentials("admin").unwrap().unwrap();
        assert!(kaiwu_auth::verify_password(&pw, &creds.password_hash).unwrap());
        assert!(first_start(&reg, None).unwrap().is_none());

        let reg2 = Registry::open_in_memory(Arc::new(kaiwu_bus::MemoryBus::new())).unwrap();
        assert!(first_start(&reg2, Some("short".into())).is_err());
        let f = first_start(&reg2, Some("a-long-secret".into()))
            .unwrap()
            .unwrap();
        assert!(f.generated_password.is_none());
    }
}
