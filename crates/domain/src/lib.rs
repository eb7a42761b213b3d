//! Bulkhead's domain: tenant-scoped entities, repository ports and the services (use cases)
//! built on them.
//!
//! The crate knows nothing of HTTP or SQL. Every port method that touches tenant data takes a
//! [`TenantScope`], and a `TenantScope` can only be obtained from [`auth::Authenticator::authenticate`],
//! so code outside this crate cannot read or write a tenant's rows without having authenticated
//! for that tenant first.
//!
//! With the `mock` feature, every port has a mockall mock (`MockTenantRepository<Projects>`,
//! `MockUserRepository`, ...) so that
//! services can be unit-tested without a database.

#![warn(missing_docs)]

pub mod accounts;
pub mod agent_configs;
pub mod agents;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod conversations;
pub mod credentials;
pub mod documents;
pub mod error;
pub mod exports;
pub mod health;
pub mod idempotency;
pub mod ids;
pub mod invitations;
pub mod limits;
pub mod members;
pub mod memberships;
pub mod organizations;
pub mod outbox;
pub mod page;
mod permissions;
pub mod platform;
pub mod projects;
pub mod quota;
pub mod resource;
pub mod roles;
pub mod runs;
pub mod scope;
pub mod sealed;
pub mod secret;
pub mod sessions;
mod text;
pub mod users;
pub mod work;

pub use error::{DomainError, DomainResult, FieldError};
pub use ids::{
    AgentConfigId, AgentId, ApiKeyId, ArtifactId, AuditEventId, CheckpointId, ConversationId,
    DocumentId, ImpersonationId, InvitationId, MessageId, OrganizationId, ProjectId, ResourceId,
    RoleId, RunId, SessionId, UserId, WorkSessionId,
};
pub use quota::{Quota, QuotaExceeded};
pub use scope::{
    Actor, Credential, Grant, Permission, PermissionSet, RequestMeta, Role, RoleRef, SystemTask,
    TenantScope,
};

/// Parses an optional RFC 3339 time given as `field`, to UTC; anything else is a validation
/// error on `field`.
pub fn parse_time(
    field: &str,
    raw: Option<&str>,
) -> DomainResult<Option<chrono::DateTime<chrono::Utc>>> {
    raw.map(|value| {
        chrono::DateTime::parse_from_rfc3339(value.trim())
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|_| {
                DomainError::invalid(field, "format", format!("{field} must be an RFC 3339 time"))
            })
    })
    .transpose()
}

/// The current time at the precision every store keeps (microseconds), so that what a
/// service returns equals what a later read returns.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}
