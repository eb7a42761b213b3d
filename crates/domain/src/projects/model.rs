//! The project entity and its value types.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::{DomainError, DomainResult, Validator};
use crate::ids::{ProjectId, UserId};
use crate::resource::{Record, Resource};
use crate::scope::Permission;
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

/// Projects as a tenant resource: `projects:read` to read, `projects:write` to create and
/// edit, `projects:delete` to delete, restore and purge; sorted by name or creation time,
/// searched by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Projects;

/// A project as stored: its own fields and the lifecycle every resource has.
pub type Project = Record<Projects>;

/// A project's own fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectFields {
    /// The name.
    pub name: ProjectName,
    /// The optional description.
    pub description: Option<ProjectDescription>,
}

/// Raw input of a create, as a client sent it.
#[derive(Debug, Clone, Default)]
pub struct CreateProject {
    /// The name.
    pub name: String,
    /// The optional description.
    pub description: Option<String>,
}

/// Raw input of a partial update. `description: Some(None)` clears the description.
#[derive(Debug, Clone, Default)]
pub struct UpdateProject {
    /// A new name, if any.
    pub name: Option<String>,
    /// A new description (`Some(None)` clears it), if any.
    pub description: Option<Option<String>>,
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

impl Resource for Projects {
    type Id = ProjectId;
    type Fields = ProjectFields;
    type Filter = ();
    type Create = CreateProject;
    type Patch = UpdateProject;
    type Changes = ProjectChanges;

    const NAME: &'static str = "project";
    const READ: Permission = Permission::ProjectsRead;
    const WRITE: Permission = Permission::ProjectsWrite;
    const DELETE: Permission = Permission::ProjectsDelete;
    const SORTS: &'static [&'static str] = &["name"];

    fn validate(input: CreateProject) -> DomainResult<ProjectFields> {
        let mut v = Validator::new();
        let name = v.check(ProjectName::parse(&input.name));
        let description = v.check(
            input
                .description
                .as_deref()
                .map(ProjectDescription::parse)
                .transpose(),
        );
        let (name, description) = v.values((name, description))?;
        Ok(ProjectFields { name, description })
    }

    fn changes(patch: UpdateProject) -> DomainResult<ProjectChanges> {
        let mut v = Validator::new();
        let name = v.check(patch.name.as_deref().map(ProjectName::parse).transpose());
        let description = v.check(
            patch
                .description
                .map(|d| d.as_deref().map(ProjectDescription::parse).transpose())
                .transpose(),
        );
        let (name, description) = v.values((name, description))?;
        Ok(ProjectChanges { name, description })
    }

    fn apply(fields: &mut ProjectFields, changes: &ProjectChanges) -> bool {
        if let Some(name) = &changes.name {
            fields.name = name.clone();
        }
        if let Some(description) = &changes.description {
            fields.description.clone_from(description);
        }
        changes.name.is_some() || changes.description.is_some()
    }

    fn audit_fields(fields: &ProjectFields) -> Map<String, Value> {
        let mut recorded = Map::new();
        recorded.insert("name".into(), fields.name.as_str().into());
        recorded.insert(
            "description".into(),
            fields.description.as_ref().map(|d| d.as_str()).into(),
        );
        recorded
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_descriptions_are_bounded() {
        assert!(ProjectName::parse("").is_err());
        assert!(ProjectName::parse(&"x".repeat(200)).is_ok());
        assert!(ProjectName::parse(&"x".repeat(201)).is_err());
        assert!(ProjectDescription::parse(&"x".repeat(2000)).is_ok());
        assert!(ProjectDescription::parse(&"x".repeat(2001)).is_err());
    }

    #[test]
    fn invalid_input_reports_every_field() {
        let err = Projects::validate(CreateProject {
            name: String::new(),
            description: Some("d".repeat(2001)),
        });
        let Err(DomainError::Validation(errors)) = err else {
            panic!("expected validation error, got {err:?}")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "description"]);
    }

    #[test]
    fn a_patch_can_clear_the_description_and_an_empty_one_changes_nothing() {
        let mut fields = Projects::validate(CreateProject {
            name: " Apollo ".into(),
            description: Some("moon".into()),
        })
        .expect("valid");
        assert_eq!(fields.name.as_str(), "Apollo");
        let clear = Projects::changes(UpdateProject {
            name: None,
            description: Some(None),
        })
        .expect("valid");
        assert!(Projects::apply(&mut fields, &clear));
        assert_eq!(fields.description, None);
        let empty = Projects::changes(UpdateProject::default()).expect("valid");
        assert!(!Projects::apply(&mut fields, &empty));
    }
}
