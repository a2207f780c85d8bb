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

/// Whether someone holding `holder` has at least the permissions of `role`. The built-in roles
/// nest (viewer within operator within tenant admin within platform admin), so an admin may, for
/// example, hand a dashboard a viewer-only API key.
pub fn covers(holder: &[Role], role: Role) -> bool {
    // `Role`'s order is most powerful first.
    holder.iter().any(|h| *h <= role)
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
    fn roles_nest() {
        // `covers` relies on the matrix being monotone in the role order; prove it.
        let actions = [
            Action::ManageTenants,
            Action::ManageUsers,
            Action::ReadUsers,
            Action::Configure,
            Action::Operate,
            Action::Read,
            Action::Own,
        ];
        for (i, strong) in Role::ALL.iter().enumerate() {
            for weak in &Role::ALL[i..] {
                for a in actions {
                    assert!(
                        !allowed(&[*weak], a) || allowed(&[*strong], a),
                        "{weak} > {strong} on {a:?}"
                    );
                }
            }
        }
        assert!(covers(&[Role::TenantAdmin], Role::Viewer));
        assert!(!covers(&[Role::Operator], Role::TenantAdmin));
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
