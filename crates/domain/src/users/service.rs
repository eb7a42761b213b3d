//! A user's own profile.

use std::sync::Arc;

use super::model::{User, UserName};
use super::port::UserRepository;
use crate::audit::AuditEntry;
use crate::error::DomainResult;
use crate::scope::TenantScope;

/// Profile use cases.
#[derive(Clone)]
pub struct UserService {
    users: Arc<dyn UserRepository>,
}

impl UserService {
    /// Wires the service.
    pub fn new(users: Arc<dyn UserRepository>) -> Self {
        Self { users }
    }

    /// Changes the signed-in user's display name (users only, no permission needed: it is
    /// their own profile).
    pub async fn rename_me(&self, scope: &TenantScope, name: &str) -> DomainResult<User> {
        let user = scope.require_user()?;
        let name = UserName::parse(name)?;
        let before = self.users.current(scope).await?;
        let entry = AuditEntry::event(
            "user.updated",
            "user",
            Some(user.to_string()),
            serde_json::json!({
                "before": { "name": before.name.as_str() },
                "after": { "name": name.as_str() },
            }),
        );
        self.users.rename(scope, &name, entry).await
    }
}
