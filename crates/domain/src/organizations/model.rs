//! The organization entity.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::audit::Auditable;
use crate::error::{DomainError, DomainResult};
use crate::ids::OrganizationId;
use crate::memberships::Membership;
use crate::text::bounded;
use crate::users::{PasswordHash, User};

/// An organization's display name, 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationName(String);

impl OrganizationName {
    /// The longest name accepted, in characters.
    pub const MAX_CHARS: usize = 200;

    /// Validates a name. `field` names the input in errors.
    pub fn parse(field: &str, raw: &str) -> DomainResult<Self> {
        bounded(field, raw, 1, Self::MAX_CHARS).map(Self)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An organization's settings: a JSON object for the product built on Bulkhead to keep
/// per-tenant preferences in (Bulkhead itself reads none). At most 64 keys, each 1 to 64
/// characters of letters, digits, `_`, `-` and `.`, and 16 KiB in all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrganizationSettings(Map<String, Value>);

impl OrganizationSettings {
    /// The most keys accepted.
    pub const MAX_KEYS: usize = 64;
    /// The largest accepted size, serialized, in bytes.
    pub const MAX_BYTES: usize = 16 * 1024;

    /// Validates settings sent by a client.
    pub fn parse(value: Value) -> DomainResult<Self> {
        let invalid = |code, message: &str| Err(DomainError::invalid("settings", code, message));
        let Value::Object(map) = value else {
            return invalid("type", "settings must be a JSON object");
        };
        if map.len() > Self::MAX_KEYS {
            return invalid("size", "settings may have at most 64 keys");
        }
        let key_ok = |k: &str| {
            (1..=64).contains(&k.chars().count())
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        };
        if !map.keys().all(|k| key_ok(k)) {
            return invalid(
                "key",
                "settings keys are 1 to 64 letters, digits, '_', '-' or '.'",
            );
        }
        if Value::Object(map.clone()).to_string().len() > Self::MAX_BYTES {
            return invalid("size", "settings may take at most 16 KiB");
        }
        Ok(Self(map))
    }

    /// Reads stored settings (written by [`OrganizationSettings::to_stored`]).
    pub fn from_stored(text: &str) -> DomainResult<Self> {
        match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            _ => Err(DomainError::Internal(
                "stored organization settings are not a JSON object".into(),
            )),
        }
    }

    /// The stored form: the object as JSON text.
    pub fn to_stored(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }

    /// The settings.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// The tenant's id; every tenant-owned row carries it.
    pub id: OrganizationId,
    /// The display name.
    pub name: OrganizationName,
    /// When the organization was created.
    pub created_at: DateTime<Utc>,
    /// Its settings.
    pub settings: OrganizationSettings,
}

impl Auditable for Organization {
    const RESOURCE_TYPE: &'static str = "organization";

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    fn audit_fields(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("name".into(), self.name.as_str().into());
        fields.insert("settings".into(), Value::Object(self.settings.0.clone()));
        fields
    }
}

/// One organization the user belongs to, with the role held there.
#[derive(Debug, Clone)]
pub struct OrganizationMembership {
    /// The organization.
    pub organization: Organization,
    /// The user's role there.
    pub role: crate::scope::RoleRef,
    /// When the user joined.
    pub joined_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_are_a_bounded_object_with_plain_keys() {
        let ok = OrganizationSettings::parse(json!({ "theme": "dark", "ui.locale": "de" }));
        assert_eq!(ok.ok().map(|s| s.as_map().len()), Some(2));
        assert!(OrganizationSettings::parse(json!(["theme"])).is_err());
        assert!(OrganizationSettings::parse(json!({ "": 1 })).is_err());
        assert!(OrganizationSettings::parse(json!({ "bad key": 1 })).is_err());
        let many: Map<String, Value> = (0..65).map(|i| (format!("k{i}"), json!(i))).collect();
        assert!(OrganizationSettings::parse(Value::Object(many)).is_err());
        assert!(OrganizationSettings::parse(json!({ "big": "x".repeat(17 * 1024) })).is_err());
        let stored = OrganizationSettings::parse(json!({ "a": [1, {"b": null}] })).ok();
        let text = stored.as_ref().map(OrganizationSettings::to_stored);
        assert_eq!(
            text.as_deref()
                .map(OrganizationSettings::from_stored)
                .and_then(Result::ok),
            stored
        );
    }
}

/// Everything a sign-up creates, stored atomically: the organization, its first user and that
/// user's owner membership.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The new organization.
    pub organization: Organization,
    /// The new user.
    pub user: User,
    /// The new user's password hash.
    pub password_hash: PasswordHash,
    /// The owner membership linking the two.
    pub membership: Membership,
    /// The new owner's first session.
    pub session: crate::sessions::NewSession,
    /// The token that verifies the new owner's email, and the email that carries it.
    pub verification: (crate::accounts::AccountToken, crate::outbox::OutgoingEmail),
}
