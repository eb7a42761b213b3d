//! The agent entity: a named, configured worker of an organization that runs are started on.

use serde_json::{Map, Value};

use crate::agent_configs::AgentType;
use crate::error::{DomainError, DomainResult, Validator};
use crate::ids::AgentConfigId;
use crate::resource::{Record, Resource, set_if_given};
use crate::scope::Permission;
use crate::text::{bounded, bounded_object, one_of};

/// An agent's name for machines: 1 to 100 letters, digits, `.`, `_` or `-`, starting with a
/// letter or digit; unique among the organization's live agents regardless of case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentKey(String);

impl AgentKey {
    /// The longest key accepted.
    pub const MAX_CHARS: usize = 100;

    /// Validates a key.
    pub fn parse(raw: &str) -> DomainResult<Self> {
        let ok = (1..=Self::MAX_CHARS).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_alphanumeric())
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::invalid(
                "agent_key",
                "format",
                "agent_key must be 1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit",
            ))
        }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An agent's free-form settings: a JSON object of at most 16 KiB.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentSettings(Map<String, Value>);

impl AgentSettings {
    /// The largest accepted object, in bytes of compact JSON.
    pub const MAX_BYTES: usize = 16 * 1024;

    /// Validates settings.
    pub fn parse(raw: Value) -> DomainResult<Self> {
        bounded_object("configuration", raw, Self::MAX_BYTES).map(Self)
    }

    /// The object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

/// Where an agent is: idle or busy with runs, or paused by a person. Only the server sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentStatus {
    /// No run is executing.
    Idle,
    /// A run is executing.
    Busy,
    /// Starts no new runs; running ones finish.
    Paused,
}

impl AgentStatus {
    /// Every status.
    pub const ALL: [AgentStatus; 3] = [Self::Idle, Self::Busy, Self::Paused];

    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Busy => "busy",
            Self::Paused => "paused",
        }
    }

    /// The status named `raw`, or a validation error on `field`.
    pub fn parse(field: &str, raw: &str) -> DomainResult<Self> {
        one_of(field, raw, &Self::ALL, Self::as_str)
    }
}

/// Agents as a tenant resource: `agents:read`, `agents:write` (create, edit, pause, resume),
/// `agents:delete` (delete, restore, purge); sorted by key or creation time, searched by key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agents;

/// An agent as stored.
pub type Agent = Record<Agents>;

/// An agent's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentFields {
    /// Its name for machines.
    pub agent_key: AgentKey,
    /// Its name for people, if any.
    pub name: Option<String>,
    /// The configuration it runs with (live, of the same organization).
    pub config_id: AgentConfigId,
    /// Free-form settings passed to its runs.
    pub configuration: AgentSettings,
    /// Set by the server only.
    pub status: AgentStatus,
}

/// Raw input of a create.
#[derive(Debug, Clone, Default)]
pub struct CreateAgent {
    /// The key.
    pub agent_key: String,
    /// The name.
    pub name: Option<String>,
    /// The configuration.
    pub config_id: AgentConfigId,
    /// Settings; `{}` if absent.
    pub configuration: Option<Value>,
}

/// Raw input of a partial update; `name: Some(None)` clears the name.
#[derive(Debug, Clone, Default)]
pub struct UpdateAgent {
    /// A new key.
    pub agent_key: Option<String>,
    /// A new (or no) name.
    pub name: Option<Option<String>>,
    /// Another configuration.
    pub config_id: Option<AgentConfigId>,
    /// New settings (the whole object).
    pub configuration: Option<Value>,
}

/// A validated partial update.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentChanges {
    /// A new key.
    pub agent_key: Option<AgentKey>,
    /// A new (or no) name.
    pub name: Option<Option<String>>,
    /// Another configuration.
    pub config_id: Option<AgentConfigId>,
    /// New settings.
    pub configuration: Option<AgentSettings>,
}

/// List filters of agents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentFilter {
    /// Only agents in this status.
    pub status: Option<AgentStatus>,
    /// Only agents whose configuration has this type.
    pub agent_type: Option<AgentType>,
    /// Only agents of this configuration.
    pub config_id: Option<AgentConfigId>,
}

fn name(raw: &str) -> DomainResult<String> {
    bounded("name", raw, 1, 200)
}

impl Resource for Agents {
    type Id = crate::ids::AgentId;
    type Fields = AgentFields;
    type Filter = AgentFilter;
    type Create = CreateAgent;
    type Patch = UpdateAgent;
    type Changes = AgentChanges;

    const NAME: &'static str = "agent";
    const READ: Permission = Permission::AgentsRead;
    const WRITE: Permission = Permission::AgentsWrite;
    const DELETE: Permission = Permission::AgentsDelete;
    const SORTS: &'static [&'static str] = &["agent_key"];

    fn validate(input: CreateAgent) -> DomainResult<AgentFields> {
        let mut v = Validator::new();
        let agent_key = v.check(AgentKey::parse(&input.agent_key));
        let name = v.check(input.name.as_deref().map(name).transpose());
        let configuration = v.check(
            input
                .configuration
                .map_or(Ok(AgentSettings::default()), AgentSettings::parse),
        );
        let (agent_key, name, configuration) = v.values((agent_key, name, configuration))?;
        Ok(AgentFields {
            agent_key,
            name,
            config_id: input.config_id,
            configuration,
            status: AgentStatus::Idle,
        })
    }

    fn changes(patch: UpdateAgent) -> DomainResult<AgentChanges> {
        let mut v = Validator::new();
        let agent_key = v.check(patch.agent_key.as_deref().map(AgentKey::parse).transpose());
        let name = v.check(
            patch
                .name
                .map(|n| n.as_deref().map(name).transpose())
                .transpose(),
        );
        let configuration = v.check(patch.configuration.map(AgentSettings::parse).transpose());
        let (agent_key, name, configuration) = v.values((agent_key, name, configuration))?;
        Ok(AgentChanges {
            agent_key,
            name,
            config_id: patch.config_id,
            configuration,
        })
    }

    fn apply(fields: &mut AgentFields, changes: &AgentChanges) -> bool {
        [
            set_if_given(&mut fields.agent_key, &changes.agent_key),
            set_if_given(&mut fields.name, &changes.name),
            set_if_given(&mut fields.config_id, &changes.config_id),
            set_if_given(&mut fields.configuration, &changes.configuration),
        ]
        .contains(&true)
    }

    fn audit_fields(fields: &AgentFields) -> Map<String, Value> {
        let mut recorded = Map::new();
        recorded.insert("agent_key".into(), fields.agent_key.as_str().into());
        recorded.insert("name".into(), fields.name.clone().into());
        recorded.insert("config_id".into(), fields.config_id.to_string().into());
        recorded.insert(
            "configuration".into(),
            Value::Object(fields.configuration.as_map().clone()),
        );
        recorded.insert("status".into(), fields.status.as_str().into());
        recorded
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keys_are_for_machines() {
        for good in ["a", "rfp-writer_2.0", &"k".repeat(100)] {
            assert!(AgentKey::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "-lead", "has space", "ünï", &"k".repeat(101)] {
            assert!(AgentKey::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_are_a_bounded_object() {
        assert!(AgentSettings::parse(json!([1])).is_err());
        assert!(AgentSettings::parse(json!({ "x": "y".repeat(16 * 1024) })).is_err());
        assert!(AgentSettings::parse(json!({ "x": "y".repeat(16 * 1024 - 20) })).is_ok());
    }

    #[test]
    fn a_new_agent_is_idle_and_bad_input_is_reported_together() {
        let fields = Agents::validate(CreateAgent {
            agent_key: "helper".into(),
            ..Default::default()
        })
        .expect("valid");
        assert_eq!(fields.status, AgentStatus::Idle);
        let err = Agents::validate(CreateAgent {
            agent_key: " ".into(),
            name: Some(String::new()),
            configuration: Some(json!("text")),
            ..Default::default()
        });
        let Err(DomainError::Validation(errors)) = err else {
            panic!("{err:?}")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["agent_key", "name", "configuration"]);
    }
}
