//! Projects: the first tenant-owned resource.

pub mod model;
pub mod port;
pub mod service;
mod team;

pub use model::{
    Project, ProjectChanges, ProjectDescription, ProjectMember, ProjectName, ProjectQuery,
    ProjectRole, ProjectSort, ProjectSortField,
};
#[cfg(any(test, feature = "mock"))]
pub use port::{MockProjectRepository, MockProjectTeamRepository};
pub use port::{ProjectRepository, ProjectTeamRepository};
pub use service::{CreateProject, ListProjects, ProjectService, UpdateProject};
