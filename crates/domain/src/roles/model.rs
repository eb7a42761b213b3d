//! Custom roles and the view of every role an organization offers.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::audit::Auditable;
use crate::error::{DomainError, DomainResult};
use crate::ids::{OrganizationId, RoleId};
use crate::scope::{Permission, PermissionSet, Role, RoleRef};
use crate::text::bounded;

/// A custom role's name: 1 to 64 characters, unique per organization (case-insensitively),
/// and never the name of a system role, so a role's name says which role it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleName(String);

impl RoleName {
    /// Validates a raw name.
    pub fn parse(raw: &str) -> DomainResult<Self> {
        let name = bounded("name", raw, 1, 64)?;
        if Role::ALL
            .iter()
            .any(|role| role.as_str().eq_ignore_ascii_case(&name))
        {
            return Err(DomainError::invalid(
                "name",
                "reserved",
                "name is the name of a system role",
            ));
        }
        Ok(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a stored name without checks.
    pub fn from_stored(name: String) -> Self {
        Self(name)
    }
}

/// Parses permission names from the catalogue; an unknown one fails on `field`.
pub fn parse_permissions(field: &str, names: &[String]) -> DomainResult<PermissionSet> {
    names
        .iter()
        .map(|name| {
            Permission::parse(name).ok_or_else(|| {
                DomainError::invalid(
                    field,
                    "unknown_permission",
                    format!("{name:?} is not a permission (see GET /permissions)"),
                )
            })
        })
        .collect()
}

/// A role an organization defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomRole {
    /// The role.
    pub id: RoleId,
    /// The organization it belongs to.
    pub organization_id: OrganizationId,
    /// Its name.
    pub name: RoleName,
    /// What it grants.
    pub permissions: PermissionSet,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Auditable for CustomRole {
    const RESOURCE_TYPE: &'static str = "role";

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    fn audit_fields(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("name".into(), self.name.as_str().into());
        let permissions: Vec<Value> = self.permissions.iter().map(|p| p.as_str().into()).collect();
        fields.insert("permissions".into(), permissions.into());
        fields
    }
}

/// Any role an organization offers, system or custom, as listed to its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDefinition {
    /// How the role is named in memberships and invitations.
    pub role: RoleRef,
    /// Its display name.
    pub name: String,
    /// What it grants.
    pub permissions: PermissionSet,
    /// The custom role behind it, if it is one.
    pub custom: Option<CustomRole>,
}

impl RoleDefinition {
    /// A system role's definition.
    pub fn system(role: Role) -> Self {
        Self {
            role: RoleRef::System(role),
            name: role.as_str().to_owned(),
            permissions: role.permission_set(),
            custom: None,
        }
    }
}

impl From<CustomRole> for RoleDefinition {
    fn from(role: CustomRole) -> Self {
        Self {
            role: RoleRef::Custom(role.id),
            name: role.name.as_str().to_owned(),
            permissions: role.permissions,
            custom: Some(role),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_never_a_system_role() {
        assert_eq!(
            RoleName::parse("  Auditor ")
                .ok()
                .map(|n| n.as_str().to_owned()),
            Some("Auditor".to_owned())
        );
        assert!(RoleName::parse("").is_err());
        assert!(RoleName::parse(&"x".repeat(65)).is_err());
        assert!(RoleName::parse("Admin").is_err());
        assert!(RoleName::parse("owner").is_err());
    }

    #[test]
    fn permissions_come_from_the_catalogue() {
        let set = parse_permissions(
            "permissions",
            &["projects:read".into(), "audit:read".into()],
        );
        assert_eq!(
            set.ok().map(|s| s.to_names()),
            Some("projects:read audit:read".to_owned())
        );
        assert!(parse_permissions("permissions", &["projects:*".into()]).is_err());
    }
}
