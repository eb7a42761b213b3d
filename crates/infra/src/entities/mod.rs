//! The sea-orm entities of every table, one module a table. They are leaves: adapters, the
//! tenant transaction and the audit chain use them, and they use nothing of the crate.

pub(crate) mod account_tokens;
pub(crate) mod api_keys;
pub(crate) mod audit_events;
pub(crate) mod audit_heads;
pub(crate) mod idempotency_keys;
pub(crate) mod invitations;
pub(crate) mod memberships;
pub(crate) mod organizations;
pub(crate) mod outbox_emails;
pub(crate) mod project_members;
pub(crate) mod refresh_tokens;
pub(crate) mod roles;
pub(crate) mod sessions;
pub(crate) mod users;
