//! Projects: the first tenant resource on the kit ([`crate::resource`]), with members of
//! their own and the rule that a project's creator and maintainers may edit it.

mod members;
pub mod model;
pub mod port;
pub mod service;

pub use model::{
    CreateProject, Project, ProjectChanges, ProjectDescription, ProjectFields, ProjectMember,
    ProjectName, ProjectRole, Projects, UpdateProject,
};
#[cfg(any(test, feature = "mock"))]
pub use port::MockProjectMemberRepository;
pub use port::ProjectMemberRepository;
pub use service::ProjectService;
