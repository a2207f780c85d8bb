//! The permission matrix: which role may do what. One table, so a reviewer can read the whole
//! policy in one place.

use kaiwu_core::Role;

/// Operations the API guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create, change or delete tenants; act across tenants.
    ManageTenants,
    /// Create, change or delete users and API keys of the tenant.
    ManageUsers,
    /// Read the tenant's users.
    ReadUsers,
    /// Create, change or delete device types, assets, devices, credentials and connectors.
    Configure,
    /// Act on devices: commands, desired shadow, alarm acknowledgement.
    Operate,
    /// Read the tenant's objects and data.
    Read,
    /// Read and change one's own account and API keys.
    Own,
}

/// Whether any of `roles` permits `action`.
pub fn allowed(roles: &[Role], action: Action) -> bool {
    roles.iter().any(|r| role_allows(*r, action))
}

fn role_allows(role: Role, action: Action) -> bool {
    use Action::*;
    match role {
        Role::PlatformAdmin => true,
        Role::TenantAdmin => !matches!(action, ManageTenants),
        Role::Operator => matches!(action, Operate | Read | Own),
        Role::Viewer => matches!(action, Read | Own),
    }
}

/// Whether a holder of `granter` roles may give `role` to someone: never more than one holds,
/// and only platform admins make platform admins.
pub fn can_grant(granter: &[Role], role: Role) -> bool {
    match role {
        Role::PlatformAdmin => granter.contains(&Role::PlatformAdmin),
        _ => allowed(granter, Action::ManageUsers),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix() {
        assert!(allowed(&[Role::PlatformAdmin], Action::ManageTenants));
        assert!(!allowed(&[Role::TenantAdmin], Action::ManageTenants));
        assert!(allowed(&[Role::TenantAdmin], Action::Configure));
        assert!(!allowed(&[Role::Operator], Action::Configure));
        assert!(allowed(&[Role::Operator], Action::Operate));
        assert!(!allowed(&[Role::Viewer], Action::Operate));
        assert!(allowed(&[Role::Viewer], Action::Read));
        assert!(!allowed(&[Role::Viewer], Action::ReadUsers));
        assert!(allowed(&[Role::Viewer, Role::Operator], Action::Operate));
        assert!(!allowed(&[], Action::Read));
    }

    #[test]
    fn granting() {
        assert!(can_grant(&[Role::TenantAdmin], Role::Operator));
        assert!(can_grant(&[Role::TenantAdmin], Role::TenantAdmin));
        assert!(!can_grant(&[Role::TenantAdmin], Role::PlatformAdmin));
        assert!(can_grant(&[Role::PlatformAdmin], Role::PlatformAdmin));
        assert!(!can_grant(&[Role::Operator], Role::Viewer));
    }
}
