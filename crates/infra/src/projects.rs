//! Projects in SQL: the `projects` table as the kit's adapter needs it.

use bulkhead_domain::DomainResult;
use bulkhead_domain::projects::{ProjectDescription, ProjectFields, ProjectName, Projects};
use sea_orm::Value;

use crate::error::corrupt;
use crate::resources::{Cells, SqlResources, TenantTable};

/// The `projects` table.
pub struct ProjectTable;

/// The kit's repository of projects.
pub type SqlProjectRepository = SqlResources<ProjectTable>;

impl TenantTable for ProjectTable {
    type Resource = Projects;
    const TABLE: &'static str = "projects";
    const COLUMNS: &'static [&'static str] = &["name", "description"];
    const SEARCH: Option<&'static str> = Some("name");
    const CONFLICT: &'static str = "a project with this name already exists";
    /// Kept by triggers (migration 14).
    const LIVE_COUNTS: Option<&'static str> = Some("project_counts");
    const QUOTA: Option<bulkhead_domain::Quota> = Some(bulkhead_domain::Quota::Projects);

    fn read(cells: &mut Cells<'_>) -> DomainResult<ProjectFields> {
        let name: String = cells.take()?;
        let description: Option<String> = cells.take()?;
        Ok(ProjectFields {
            name: ProjectName::parse(&name).map_err(corrupt("project name"))?,
            description: description
                .as_deref()
                .map(ProjectDescription::parse)
                .transpose()
                .map_err(corrupt("project description"))?,
        })
    }

    fn values(fields: &ProjectFields) -> Vec<Value> {
        vec![
            fields.name.as_str().into(),
            fields.description.as_ref().map(|d| d.as_str()).into(),
        ]
    }
}
