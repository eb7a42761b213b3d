//! The project entity and its value types.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::audit::Auditable;
use crate::error::{DomainError, DomainResult};
use crate::ids::{OrganizationId, ProjectId, UserId};
use crate::page::PageRequest;
use crate::text::bounded;

/// A project's name: 1 to 200 characters, unique per organization regardless of case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectName(String);

impl ProjectName {
    /// The longest name accepted, in characters.
    pub const MAX_CHARS: usize = 200;

    /// Validates a name.
    pub fn parse(raw: &str) -> DomainResult<Self> {
        bounded("name", raw, 1, Self::MAX_CHARS).map(Self)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A project's description, up to 2000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectDescription(String);

impl ProjectDescription {
    /// The longest description accepted, in characters.
    pub const MAX_CHARS: usize = 2000;

    /// Validates a description.
    pub fn parse(raw: &str) -> DomainResult<Self> {
        let value = raw.trim();
        if value.chars().count() > Self::MAX_CHARS {
            return Err(DomainError::invalid(
                "description",
                "length",
                format!("description must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The description.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A project as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The project's id.
    pub id: ProjectId,
    /// The owning organization.
    pub organization_id: OrganizationId,
    /// The name.
    pub name: ProjectName,
    /// The optional description.
    pub description: Option<ProjectDescription>,
    /// The user who created it.
    pub created_by: UserId,
    /// Creation time (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
    /// Incremented by every change; clients send it back in `If-Match`.
    pub version: i64,
    /// When it was soft-deleted, if it was.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Who soft-deleted it.
    pub deleted_by: Option<UserId>,
}

/// The audit actions of projects.
pub mod actions {
    /// A project was created.
    pub const CREATED: &str = "project.created";
    /// A project's fields changed.
    pub const UPDATED: &str = "project.updated";
    /// A project was soft-deleted.
    pub const DELETED: &str = "project.deleted";
    /// A soft-deleted project was brought back.
    pub const RESTORED: &str = "project.restored";
    /// Soft-deleted projects past retention were removed for good.
    pub const PURGED: &str = "project.purged";
}

impl Auditable for Project {
    const RESOURCE_TYPE: &'static str = "project";

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    fn audit_fields(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("name".into(), self.name.as_str().into());
        fields.insert(
            "description".into(),
            self.description.as_ref().map(|d| d.as_str()).into(),
        );
        fields.insert("created_by".into(), self.created_by.to_string().into());
        fields
    }
}

/// A validated partial update. `None` leaves a field as it is; `Some(None)` clears the
/// description.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectChanges {
    /// A new name.
    pub name: Option<ProjectName>,
    /// A new (or no) description.
    pub description: Option<Option<ProjectDescription>>,
}

impl ProjectChanges {
    /// Whether the update changes nothing.
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.description.is_none()
    }
}

/// Fields a project list can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectSortField {
    /// By name.
    Name,
    /// By creation time.
    CreatedAt,
}

/// A sort order: a field and a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProjectSort {
    /// The field.
    pub field: ProjectSortField,
    /// Whether the order is descending.
    pub descending: bool,
}

impl ProjectSort {
    /// The names accepted by [`ProjectSort::parse`].
    pub const ALLOWED: [&'static str; 4] = ["name", "-name", "created_at", "-created_at"];

    /// Parses `field` or `-field` (descending) against the allowlist.
    pub fn parse(raw: &str) -> DomainResult<Self> {
        let (descending, name) = match raw.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, raw),
        };
        let field = match name {
            "name" => ProjectSortField::Name,
            "created_at" => ProjectSortField::CreatedAt,
            _ => {
                return Err(DomainError::invalid(
                    "sort",
                    "allowlist",
                    format!("sort must be one of {}", Self::ALLOWED.join(", ")),
                ));
            }
        };
        Ok(Self { field, descending })
    }
}

impl Default for ProjectSort {
    /// Newest first.
    fn default() -> Self {
        Self {
            field: ProjectSortField::CreatedAt,
            descending: true,
        }
    }
}

/// A validated list query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectQuery {
    /// Which page.
    pub page: PageRequest,
    /// Case-insensitive substring of the name, if any.
    pub name_contains: Option<String>,
    /// The order.
    pub sort: ProjectSort,
    /// Whether soft-deleted projects are listed too.
    pub include_deleted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_accepts_only_the_allowlist() {
        assert_eq!(
            ProjectSort::parse("-name").ok(),
            Some(ProjectSort {
                field: ProjectSortField::Name,
                descending: true
            })
        );
        assert!(ProjectSort::parse("organization_id").is_err());
        assert!(ProjectSort::parse("--name").is_err());
    }

    #[test]
    fn names_and_descriptions_are_bounded() {
        assert!(ProjectName::parse("").is_err());
        assert!(ProjectName::parse(&"x".repeat(200)).is_ok());
        assert!(ProjectName::parse(&"x".repeat(201)).is_err());
        assert!(ProjectDescription::parse(&"x".repeat(2000)).is_ok());
        assert!(ProjectDescription::parse(&"x".repeat(2001)).is_err());
    }
}

/// A member's role in one project, on top of their organization role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectRole {
    /// May edit the project and manage its members, even without the organization-wide
    /// `projects:write`.
    Maintainer,
    /// Works on the project; no rights beyond the organization role.
    Contributor,
}

impl ProjectRole {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Maintainer => "maintainer",
            Self::Contributor => "contributor",
        }
    }

    /// The role with this name.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Maintainer, Self::Contributor]
            .into_iter()
            .find(|r| r.as_str() == name)
    }
}

/// A member of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectMember {
    /// The member (always a member of the organization too).
    pub user_id: UserId,
    /// Their role in the project.
    pub role: ProjectRole,
    /// Who added them.
    pub added_by: UserId,
    /// When.
    pub added_at: DateTime<Utc>,
}
