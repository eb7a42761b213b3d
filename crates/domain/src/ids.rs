//! Identifier newtypes. All ids are UUIDv7 (time-ordered), created by the server.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What generic code needs of an id: ids are UUIDs in a newtype of their own, so that one
/// resource's id cannot be passed where another's is expected.
pub trait ResourceId:
    Copy + Send + Sync + fmt::Debug + fmt::Display + PartialEq + Eq + 'static
{
    /// A new, time-ordered (UUIDv7) id.
    fn generate() -> Self;
    /// Wraps a stored UUID.
    fn from_uuid(uuid: Uuid) -> Self;
    /// The underlying UUID.
    fn as_uuid(&self) -> Uuid;
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered (UUIDv7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID (from storage or a request path).
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl ResourceId for $name {
            fn generate() -> Self {
                Self::new()
            }

            fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            fn as_uuid(&self) -> Uuid {
                self.0
            }
        }
    };
}

id_type!(
    /// Identifies an organization (a tenant).
    OrganizationId
);
id_type!(
    /// Identifies a user account (global: one user may belong to several organizations).
    UserId
);
id_type!(
    /// Identifies a project inside an organization.
    ProjectId
);
id_type!(
    /// Identifies an agent configuration inside an organization.
    AgentConfigId
);
id_type!(
    /// Identifies an agent inside an organization.
    AgentId
);
id_type!(
    /// Identifies one run of an agent.
    RunId
);
id_type!(
    /// Identifies a work session on a project.
    WorkSessionId
);
id_type!(
    /// Identifies an artifact a work session produced.
    ArtifactId
);
id_type!(
    /// Identifies a checkpoint of a work session.
    CheckpointId
);
id_type!(
    /// Identifies one audit event.
    AuditEventId
);
id_type!(
    /// Identifies a sign-in session (one device's chain of refresh tokens).
    SessionId
);
id_type!(
    /// Identifies an API key of an organization.
    ApiKeyId
);
id_type!(
    /// Identifies an invitation to join an organization.
    InvitationId
);
id_type!(
    /// Identifies a custom role of an organization.
    RoleId
);
id_type!(
    /// Identifies a conversation, private to the member who started it.
    ConversationId
);
id_type!(
    /// Identifies one message of a conversation.
    MessageId
);
id_type!(
    /// Identifies an uploaded document.
    DocumentId
);
id_type!(
    /// Identifies one impersonation of an organization by a platform superuser.
    ImpersonationId
);
