//! Projects: the first tenant-owned resource.

pub mod model;
pub mod port;
pub mod service;

pub use model::{
    Project, ProjectChanges, ProjectDescription, ProjectName, ProjectQuery, ProjectSort,
    ProjectSortField,
};
#[cfg(any(test, feature = "mock"))]
pub use port::MockProjectRepository;
pub use port::ProjectRepository;
pub use service::{CreateProject, ListProjects, ProjectService, UpdateProject};
