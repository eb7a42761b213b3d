//! The API key entity and the shape of its secret.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::audit::{AuditEntry, Auditable};
use crate::error::DomainResult;
use crate::ids::{ApiKeyId, OrganizationId, UserId};
use crate::scope::{Grant, Permission};
use crate::secret::{Secret, SecretDigest};
use crate::text::bounded;

/// How every API key starts: `bhk_<prefix>_<secret>`.
pub const API_KEY_PREFIX: &str = "bhk_";
/// Hex digits in a key's public prefix (64 bits: unique without a retry loop in practice, and
/// a unique index catches the rest).
const PREFIX_HEX: usize = 16;

/// An API key's display name, 1 to 100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyName(String);

impl ApiKeyName {
    /// Validates a name.
    pub fn parse(raw: &str) -> DomainResult<Self> {
        bounded("name", raw, 1, 100).map(Self)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An API key as listed: never its secret, which exists only in the creation response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The key.
    pub id: ApiKeyId,
    /// The organization it acts in.
    pub organization_id: OrganizationId,
    /// Its display name.
    pub name: ApiKeyName,
    /// The public part of the secret (`bhk_<prefix>_…`), to recognise a key.
    pub prefix: String,
    /// The permissions it holds.
    pub scopes: Vec<Permission>,
    /// Who created it.
    pub created_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it last authenticated a request (updated at most about once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Auditable for ApiKey {
    const RESOURCE_TYPE: &'static str = "api_key";

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    fn audit_fields(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("name".into(), self.name.as_str().into());
        fields.insert("prefix".into(), self.prefix.clone().into());
        let scopes: Vec<Value> = self.scopes.iter().map(|p| p.as_str().into()).collect();
        fields.insert("scopes".into(), scopes.into());
        fields.insert(
            "expires_at".into(),
            self.expires_at.map(|t| t.to_rfc3339()).into(),
        );
        fields
    }
}

/// Raw input for a new key, as a client sent it.
#[derive(Debug, Clone, Default)]
pub struct CreateApiKey {
    /// The display name.
    pub name: String,
    /// Permission names (`projects:read`, ...).
    pub scopes: Vec<String>,
    /// When it should stop working, if ever; must be in the future.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key to store: the key and the digest of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    /// The key.
    pub key: ApiKey,
    /// SHA-256 of the whole secret.
    pub digest: SecretDigest,
}

/// A key just created, with its secret: shown once, never stored.
#[derive(Debug, Clone)]
pub struct IssuedApiKey {
    /// The key.
    pub key: ApiKey,
    /// The whole secret, `bhk_<prefix>_<64 hex digits>`.
    pub secret: Secret,
}

/// What authentication learns from a live key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedKey {
    /// The key.
    pub id: ApiKeyId,
    /// Its organization.
    pub organization_id: OrganizationId,
    /// Its creator.
    pub created_by: UserId,
    /// Its permissions, as created.
    pub scopes: Vec<Permission>,
    /// What its creator holds in the organization right now. A key acts on its creator's
    /// authority, so it may do only what both its scopes and this grant allow.
    pub creator_grant: Grant,
}

impl ResolvedKey {
    /// The key's scopes that its creator still holds: what a request with it may do.
    pub fn effective_scopes(&self) -> Vec<Permission> {
        self.scopes
            .iter()
            .copied()
            .filter(|p| self.creator_grant.permissions.contains(*p))
            .collect()
    }
}

/// Why a key was revoked, recorded with its `api_key.revoked` audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// Someone holding `api_keys:manage` revoked it.
    Manual,
    /// Its creator was removed from the organization.
    CreatorRemoved,
    /// Its creator left the organization.
    CreatorLeft,
}

impl Revocation {
    /// The reason as recorded.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "revoked",
            Self::CreatorRemoved => "creator_removed",
            Self::CreatorLeft => "creator_left",
        }
    }

    /// The `api_key.revoked` audit entry of key `id`.
    pub fn entry(self, id: ApiKeyId) -> AuditEntry {
        AuditEntry::event(
            "api_key.revoked",
            "api_key",
            Some(id.to_string()),
            serde_json::json!({ "reason": self.as_str() }),
        )
    }
}

/// A fresh key's public prefix and whole secret.
pub(crate) fn generate() -> (String, Secret) {
    let prefix: String = Secret::generate("").expose()[..PREFIX_HEX].to_owned();
    let secret = Secret::generate(&format!("{API_KEY_PREFIX}{prefix}_"));
    (prefix, secret)
}

/// Splits a presented key into its prefix and its secret, if it has the shape of a key.
pub(crate) fn parse(presented: &str) -> Option<(String, Secret)> {
    let rest = presented.strip_prefix(API_KEY_PREFIX)?;
    let (prefix, _) = rest.split_once('_')?;
    if prefix.len() != PREFIX_HEX || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let secret = Secret::parse(&format!("{API_KEY_PREFIX}{prefix}_"), presented)?;
    Some((prefix.to_owned(), secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back_to_their_prefix() {
        let (prefix, secret) = generate();
        assert!(secret.expose().starts_with(&format!("bhk_{prefix}_")));
        let (parsed_prefix, parsed) = parse(secret.expose()).expect("parses");
        assert_eq!((parsed_prefix, parsed), (prefix, secret));
    }

    #[test]
    fn other_shapes_are_not_keys() {
        let (_, secret) = generate();
        let key = secret.expose();
        for bad in [
            "",
            "bhk_",
            "bhk_abc_def",
            &key[..key.len() - 1],
            &key.replace("bhk_", "bhr_"),
            &format!("{key}0"),
        ] {
            assert!(parse(bad).is_none(), "{bad:?} parsed");
        }
    }
}
