//! Audit entries (what a change says about itself) and events (what is stored and chained).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::ids::{AuditEventId, OrganizationId, UserId};
use crate::page::PageRequest;
use crate::scope::{Actor, Permission, TenantScope};

/// A resource that can describe its fields for the audit trail. Implementations list only
/// what may be recorded: never secrets or hashes.
pub trait Auditable {
    /// The resource type, as recorded (`project`, `organization`, ...).
    const RESOURCE_TYPE: &'static str;

    /// The resource's id, as recorded.
    fn audit_id(&self) -> String;

    /// The recordable fields and their values.
    fn audit_fields(&self) -> Map<String, Value>;
}

/// What one change or security event says about itself; the store adds the actor, the
/// request, the time and the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// `resource.verb`, e.g. `project.updated`.
    pub action: String,
    /// The resource type.
    pub resource_type: String,
    /// The resource's id, if the event concerns one.
    pub resource_id: Option<String>,
    /// `{"before": {...}, "after": {...}}` with the changed fields, or other details.
    pub changes: Value,
}

impl AuditEntry {
    /// A resource was created: all its fields, as `after`.
    pub fn created<T: Auditable>(action: &str, resource: &T) -> Self {
        Self::about(
            action,
            resource,
            json!({ "after": resource.audit_fields() }),
        )
    }

    /// A resource changed: only the fields that differ, before and after.
    pub fn updated<T: Auditable>(action: &str, before: &T, after: &T) -> Self {
        let (old, new) = (before.audit_fields(), after.audit_fields());
        let mut changed_before = Map::new();
        let mut changed_after = Map::new();
        for (field, value) in &new {
            let previous = old.get(field).cloned().unwrap_or(Value::Null);
            if &previous != value {
                changed_before.insert(field.clone(), previous);
                changed_after.insert(field.clone(), value.clone());
            }
        }
        Self::about(
            action,
            after,
            json!({ "before": changed_before, "after": changed_after }),
        )
    }

    /// A resource was deleted: its fields, as `before`.
    pub fn deleted<T: Auditable>(action: &str, resource: &T) -> Self {
        Self::about(
            action,
            resource,
            json!({ "before": resource.audit_fields() }),
        )
    }

    /// An event about a resource, with free-form details.
    pub fn about<T: Auditable>(action: &str, resource: &T, changes: Value) -> Self {
        Self {
            action: action.to_owned(),
            resource_type: T::RESOURCE_TYPE.to_owned(),
            resource_id: Some(resource.audit_id()),
            changes,
        }
    }

    /// A security or housekeeping event.
    pub fn event(
        action: &str,
        resource_type: &str,
        resource_id: Option<String>,
        details: Value,
    ) -> Self {
        Self {
            action: action.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id,
            changes: details,
        }
    }

    /// A request refused for lack of `permission`.
    pub fn permission_denied(permission: Permission) -> Self {
        Self::event(
            "permission.denied",
            "permission",
            Some(permission.as_str().to_owned()),
            Value::Null,
        )
    }
}

/// A stored audit event, one link of its organization's hash chain. Deserializes from its
/// stored row (an export's `audit_events` rows), so a loader can check the chain.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct AuditEvent {
    /// The event's id.
    pub id: AuditEventId,
    /// The organization whose chain holds it.
    pub organization_id: OrganizationId,
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// `user` or `system`.
    pub actor_type: String,
    /// The user's id, or the system task's name.
    pub actor_id: Option<String>,
    /// The user acting on the actor's behalf, if any.
    pub impersonator_id: Option<UserId>,
    /// `resource.verb`.
    pub action: String,
    /// The resource type.
    pub resource_type: String,
    /// The resource's id.
    pub resource_id: Option<String>,
    /// Changed fields before and after, or details.
    pub changes: Value,
    /// The request's id.
    pub request_id: Option<String>,
    /// The client's address.
    pub client_ip: Option<String>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// When it happened (UTC, microseconds).
    pub created_at: DateTime<Utc>,
    /// The previous event's hash (empty for the first).
    pub prev_hash: String,
    /// SHA-256 of this event's canonical form, hex.
    pub hash: String,
}

impl AuditEvent {
    /// Builds the next link of `scope`'s organization's chain.
    pub fn seal(
        scope: &TenantScope,
        entry: AuditEntry,
        seq: i64,
        prev_hash: String,
        now: DateTime<Utc>,
    ) -> Self {
        let (actor_type, actor_id) = match scope.actor() {
            Actor::User(id) => ("user", id.to_string()),
            Actor::ApiKey { id, .. } => ("api_key", id.to_string()),
            Actor::System(task) => ("system", task.as_str().to_owned()),
            Actor::Impersonation { id, .. } => ("impersonation", id.to_string()),
            Actor::Platform(id) => ("superuser", id.to_string()),
        };
        let request = scope.request();
        let mut event = Self {
            id: AuditEventId::new(),
            organization_id: scope.organization_id(),
            seq,
            actor_type: actor_type.to_owned(),
            actor_id: Some(actor_id),
            impersonator_id: scope.impersonator(),
            action: entry.action,
            resource_type: entry.resource_type,
            resource_id: entry.resource_id,
            changes: entry.changes,
            request_id: request.request_id.clone(),
            client_ip: request.client_ip.clone(),
            user_agent: request.user_agent.clone(),
            created_at: now,
            prev_hash,
            hash: String::new(),
        };
        event.hash = event.compute_hash();
        event
    }

    /// SHA-256 over the canonical form: every field but `hash`, in a fixed order, with object
    /// keys sorted, so that the digest does not depend on how a store orders JSON.
    pub fn compute_hash(&self) -> String {
        let canonical = json!([
            "bulkhead-audit-v1",
            self.id.to_string(),
            self.organization_id.to_string(),
            self.seq,
            self.actor_type,
            self.actor_id,
            self.impersonator_id.map(|id| id.to_string()),
            self.action,
            self.resource_type,
            self.resource_id,
            canonical_json(&self.changes),
            self.request_id,
            self.client_ip,
            self.user_agent,
            self.created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            self.prev_hash,
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// JSON text with object keys sorted at every level.
pub fn canonical_json(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    write(&map[key], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// Validated filters of an audit list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    /// Which page.
    pub page: PageRequest,
    /// Only events of this actor id.
    pub actor_id: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this resource type.
    pub resource_type: Option<String>,
    /// Only this resource id.
    pub resource_id: Option<String>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time.
    pub until: Option<DateTime<Utc>>,
}

/// The outcome of checking an organization's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// Whether every event is unchanged and in place.
    pub intact: bool,
    /// How many events were checked.
    pub events_checked: u64,
    /// The first event whose content, position or link does not match, if any.
    pub first_broken: Option<(AuditEventId, i64)>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::SystemTask;

    struct Thing {
        name: &'static str,
        size: i64,
    }

    impl Auditable for Thing {
        const RESOURCE_TYPE: &'static str = "thing";

        fn audit_id(&self) -> String {
            "t1".into()
        }

        fn audit_fields(&self) -> Map<String, Value> {
            let mut fields = Map::new();
            fields.insert("name".into(), self.name.into());
            fields.insert("size".into(), self.size.into());
            fields
        }
    }

    #[test]
    fn updates_record_only_changed_fields() {
        let entry = AuditEntry::updated(
            "thing.updated",
            &Thing { name: "a", size: 1 },
            &Thing { name: "b", size: 1 },
        );
        assert_eq!(
            entry.changes,
            json!({ "before": { "name": "a" }, "after": { "name": "b" } })
        );
        assert_eq!(entry.resource_id.as_deref(), Some("t1"));
    }

    #[test]
    fn the_hash_covers_every_field_and_ignores_key_order() {
        let scope = TenantScope::system(OrganizationId::new(), SystemTask::Purge);
        let entry = AuditEntry::created("thing.created", &Thing { name: "a", size: 1 });
        let event = AuditEvent::seal(&scope, entry, 1, String::new(), crate::now());
        assert_eq!(event.hash, event.compute_hash());
        let mut reordered = event.clone();
        reordered.changes =
            serde_json::from_str(r#"{"after":{"size":1,"name":"a"}}"#).expect("json");
        assert_eq!(reordered.compute_hash(), event.hash);
        let mut tampered = event.clone();
        tampered.changes = json!({ "after": { "name": "z", "size": 1 } });
        assert_ne!(tampered.compute_hash(), event.hash);
        let mut moved = event.clone();
        moved.seq = 2;
        assert_ne!(moved.compute_hash(), event.hash);
        assert_eq!(event.actor_type, "system");
        assert_eq!(event.actor_id.as_deref(), Some("purge"));
    }

    #[test]
    fn canonical_json_sorts_nested_keys() {
        let value: Value =
            serde_json::from_str(r#"{"b":[{"d":1,"c":"x"}],"a":null}"#).expect("json");
        assert_eq!(
            canonical_json(&value),
            r#"{"a":null,"b":[{"c":"x","d":1}]}"#
        );
    }
}
