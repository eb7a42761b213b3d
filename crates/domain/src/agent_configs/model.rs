//! The agent configuration entity: how an organization's agents call a model.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::tools::Tool;
use crate::error::{DomainError, DomainResult, Validator};
use crate::ids::{AgentConfigId, DocumentId, ProjectId, UserId};
use crate::resource::{Record, Resource, set_if_given};
use crate::scope::Permission;
use crate::sealed::SealedSecret;
use crate::text::{bounded, one_of};

/// What an agent is for; a label the product filters and reports by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentType {
    /// Answers requests for proposals.
    Rfp,
    /// Works on Jira tickets.
    Jira,
    /// Writes and maintains documentation.
    Documentation,
    /// Human resources.
    Hr,
    /// Finance.
    Finance,
    /// Anything else.
    Custom,
}

impl AgentType {
    /// Every type, in documentation order.
    pub const ALL: [AgentType; 6] = [
        Self::Rfp,
        Self::Jira,
        Self::Documentation,
        Self::Hr,
        Self::Finance,
        Self::Custom,
    ];

    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rfp => "rfp",
            Self::Jira => "jira",
            Self::Documentation => "documentation",
            Self::Hr => "hr",
            Self::Finance => "finance",
            Self::Custom => "custom",
        }
    }

    /// The type named `raw`, or a validation error on `field`.
    pub fn parse(field: &str, raw: &str) -> DomainResult<Self> {
        one_of(field, raw, &Self::ALL, |t| t.as_str())
    }
}

/// Who executes an agent's runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// Built in: answers with its input, for tests and demos; needs no model or credential.
    Echo,
    /// Any service speaking the OpenAI chat-completions protocol at `base_url`.
    OpenAiCompatible,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Provider; 2] = [Self::Echo, Self::OpenAiCompatible];

    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Echo => "echo",
            Self::OpenAiCompatible => "openai_compatible",
        }
    }

    /// The provider named `raw`, or a validation error on `field`.
    pub fn parse(field: &str, raw: &str) -> DomainResult<Self> {
        one_of(field, raw, &Self::ALL, |p| p.as_str())
    }
}

/// A model's sampling temperature, 0 to 2.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Temperature(f64);

impl Temperature {
    /// Validates a temperature.
    pub fn parse(raw: f64) -> DomainResult<Self> {
        if (0.0..=2.0).contains(&raw) {
            Ok(Self(raw))
        } else {
            Err(DomainError::invalid(
                "temperature",
                "range",
                "temperature must be between 0 and 2",
            ))
        }
    }

    /// The value.
    pub fn get(self) -> f64 {
        self.0
    }
}

/// The most tokens a run may generate, 1 to 32,768.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxTokens(i32);

impl MaxTokens {
    /// The largest accepted value.
    pub const MAX: i64 = 32_768;

    /// Validates a token budget.
    pub fn parse(raw: i64) -> DomainResult<Self> {
        if (1..=Self::MAX).contains(&raw) {
            Ok(Self(raw as i32))
        } else {
            Err(DomainError::invalid(
                "max_tokens",
                "range",
                format!("max_tokens must be between 1 and {}", Self::MAX),
            ))
        }
    }

    /// The value.
    pub fn get(self) -> i32 {
        self.0
    }
}

/// The system prompt, at most 32 KiB of UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemPrompt(String);

impl SystemPrompt {
    /// The largest accepted prompt, in bytes.
    pub const MAX_BYTES: usize = 32 * 1024;

    /// Validates a prompt. Newlines and tabs are welcome in prompts; other control
    /// characters are not.
    pub fn parse(raw: &str) -> DomainResult<Self> {
        if raw.len() > Self::MAX_BYTES {
            return Err(DomainError::invalid(
                "system_prompt",
                "length",
                format!("system_prompt must be at most {} bytes", Self::MAX_BYTES),
            ));
        }
        if raw
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(DomainError::invalid(
                "system_prompt",
                "format",
                "system_prompt must not contain control characters other than newlines and tabs",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The prompt.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The base URL of an OpenAI-compatible provider: `http` or `https`, a host, no credentials,
/// query or fragment. Whether the deployment may call it is the
/// [`super::EndpointPolicy`]'s decision, not this type's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderUrl(url::Url);

impl ProviderUrl {
    /// The longest URL accepted, in bytes.
    pub const MAX_BYTES: usize = 2048;

    /// Validates a URL's shape; a trailing slash is dropped, so `…/v1` and `…/v1/` are one.
    pub fn parse(raw: &str) -> DomainResult<Self> {
        let bad = |message: &str| DomainError::invalid("base_url", "format", message);
        if raw.len() > Self::MAX_BYTES {
            return Err(bad("base_url must be at most 2048 bytes"));
        }
        let url = url::Url::parse(raw.trim()).map_err(|_| bad("base_url must be a URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(bad("base_url must be an http or https URL with a host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "base_url must not carry credentials; store the key with PUT …/credential",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("base_url must not have a query or fragment"));
        }
        let mut url = url;
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&path);
        Ok(Self(url))
    }

    /// The URL.
    pub fn url(&self) -> &url::Url {
        &self.0
    }

    /// The URL as text, without a trailing slash.
    pub fn as_str(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }
}

/// A provider API key as a client sent it: 1 to 4096 visible characters. Never stored as is:
/// the service seals it.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderKey(String);

impl ProviderKey {
    /// Validates a key.
    pub fn parse(raw: &str) -> DomainResult<Self> {
        let ok = (1..=4096).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::invalid(
                "api_key",
                "format",
                "api_key must be 1 to 4096 visible ASCII characters",
            ))
        }
    }

    /// The key, for sealing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ProviderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProviderKey(..)")
    }
}

/// Agent configurations as a tenant resource: `agents:read` to read, `agents:configure` to
/// create, change, delete and restore; sorted by name or creation time, searched by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentConfigs;

/// An agent configuration as stored.
pub type AgentConfig = Record<AgentConfigs>;

/// How a configuration's agents behave: what a numbered version records, and what a run
/// traces back to.
#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    /// Who executes the runs.
    pub provider: Provider,
    /// The model's name, as the provider knows it.
    pub model: String,
    /// Sampling temperature.
    pub temperature: Temperature,
    /// Most tokens a run may generate.
    pub max_tokens: MaxTokens,
    /// The system prompt.
    pub system_prompt: SystemPrompt,
    /// Tools from the catalogue, without repeats, in the order given.
    pub tools: Vec<Tool>,
    /// Where an `openai_compatible` provider is called; `None` for `echo`.
    pub base_url: Option<ProviderUrl>,
}

impl Behaviour {
    /// The settings as a version records them.
    pub fn to_json(&self) -> Value {
        json!({
            "provider": self.provider.as_str(),
            "model": self.model,
            "temperature": self.temperature.get(),
            "max_tokens": self.max_tokens.get(),
            "system_prompt": self.system_prompt.as_str(),
            "tools": self.tools.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            "base_url": self.base_url.as_ref().map(ProviderUrl::as_str),
        })
    }

    fn check(&self) -> DomainResult<()> {
        match (self.provider, &self.base_url) {
            (Provider::OpenAiCompatible, None) => Err(DomainError::invalid(
                "base_url",
                "required",
                "base_url is required for the openai_compatible provider",
            )),
            (Provider::Echo, Some(_)) => Err(DomainError::invalid(
                "base_url",
                "forbidden",
                "the echo provider takes no base_url",
            )),
            _ => Ok(()),
        }
    }
}

/// An agent configuration's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfigFields {
    /// Unique in the organization, regardless of case; 1 to 200 characters.
    pub name: String,
    /// What its agents are for.
    pub agent_type: AgentType,
    /// The project it belongs to, if any (a live project of the same organization).
    pub project_id: Option<ProjectId>,
    /// How its agents behave.
    pub behaviour: Behaviour,
    /// The number of the current [`Behaviour`]'s version: 1 at creation, one more for every
    /// change of behaviour.
    pub behaviour_version: i64,
    /// Inactive configurations start no runs and are listed only on request.
    pub active: bool,
    /// The provider's API key, sealed; never leaves the server.
    pub credential: Option<SealedSecret>,
    /// When the credential was last set or removed.
    pub credential_changed_at: Option<DateTime<Utc>>,
    /// The documents its conversations' replies draw on (its knowledge base), without
    /// repeats, at most [`MAX_KNOWLEDGE`].
    pub knowledge: Vec<DocumentId>,
}

/// The most documents a configuration's knowledge base names.
pub const MAX_KNOWLEDGE: usize = 20;

fn knowledge(raw: &[DocumentId]) -> DomainResult<Vec<DocumentId>> {
    let mut ids: Vec<DocumentId> = Vec::with_capacity(raw.len());
    for id in raw {
        if !ids.contains(id) {
            ids.push(*id);
        }
    }
    if ids.len() > MAX_KNOWLEDGE {
        return Err(DomainError::invalid(
            "knowledge_document_ids",
            "size",
            format!("knowledge_document_ids may name at most {MAX_KNOWLEDGE} documents"),
        ));
    }
    Ok(ids)
}

/// Raw input of a create.
#[derive(Debug, Clone, Default)]
pub struct CreateAgentConfig {
    /// The name.
    pub name: String,
    /// One of [`AgentType`]'s names.
    pub agent_type: String,
    /// One of [`Provider`]'s names; `echo` if absent.
    pub provider: Option<String>,
    /// The model.
    pub model: String,
    /// 0 to 2; 0.7 if absent.
    pub temperature: Option<f64>,
    /// 1 to 32,768; 1,024 if absent.
    pub max_tokens: Option<i64>,
    /// Empty if absent.
    pub system_prompt: Option<String>,
    /// Tool names from the catalogue.
    pub tools: Vec<String>,
    /// The project, if any.
    pub project_id: Option<ProjectId>,
    /// For `openai_compatible`.
    pub base_url: Option<String>,
    /// Live documents of the organization its conversations' replies draw on.
    pub knowledge_document_ids: Vec<DocumentId>,
}

/// Raw input of a partial update; `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct UpdateAgentConfig {
    /// A new name.
    pub name: Option<String>,
    /// A new type.
    pub agent_type: Option<String>,
    /// A new provider.
    pub provider: Option<String>,
    /// A new model.
    pub model: Option<String>,
    /// A new temperature.
    pub temperature: Option<f64>,
    /// A new token budget.
    pub max_tokens: Option<i64>,
    /// A new system prompt.
    pub system_prompt: Option<String>,
    /// New tools (the whole list).
    pub tools: Option<Vec<String>>,
    /// A new (or no) project.
    pub project_id: Option<Option<ProjectId>>,
    /// A new (or no) base URL.
    pub base_url: Option<Option<String>>,
    /// A new knowledge base (the whole list).
    pub knowledge_document_ids: Option<Vec<DocumentId>>,
}

/// A validated partial update.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentConfigChanges {
    /// A new name.
    pub name: Option<String>,
    /// A new type.
    pub agent_type: Option<AgentType>,
    /// A new provider.
    pub provider: Option<Provider>,
    /// A new model.
    pub model: Option<String>,
    /// A new temperature.
    pub temperature: Option<Temperature>,
    /// A new token budget.
    pub max_tokens: Option<MaxTokens>,
    /// A new system prompt.
    pub system_prompt: Option<SystemPrompt>,
    /// New tools.
    pub tools: Option<Vec<Tool>>,
    /// A new (or no) project.
    pub project_id: Option<Option<ProjectId>>,
    /// A new (or no) base URL.
    pub base_url: Option<Option<ProviderUrl>>,
    /// A new knowledge base.
    pub knowledge: Option<Vec<DocumentId>>,
}

/// List filters of configurations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentConfigFilter {
    /// Only this type.
    pub agent_type: Option<AgentType>,
    /// Only this project's.
    pub project_id: Option<ProjectId>,
    /// Inactive ones too (by default only active ones are listed).
    pub include_inactive: bool,
}

fn name(raw: &str) -> DomainResult<String> {
    bounded("name", raw, 1, 200)
}

fn model(raw: &str) -> DomainResult<String> {
    bounded("model", raw, 1, 200)
}

fn tools(raw: &[String]) -> DomainResult<Vec<Tool>> {
    let mut tools = Vec::with_capacity(raw.len());
    for name in raw {
        let tool = Tool::parse(name)?;
        if !tools.contains(&tool) {
            tools.push(tool);
        }
    }
    Ok(tools)
}

impl Resource for AgentConfigs {
    type Id = AgentConfigId;
    type Fields = AgentConfigFields;
    type Filter = AgentConfigFilter;
    type Create = CreateAgentConfig;
    type Patch = UpdateAgentConfig;
    type Changes = AgentConfigChanges;

    const NAME: &'static str = "agent_config";
    const READ: Permission = Permission::AgentsRead;
    const WRITE: Permission = Permission::AgentsConfigure;
    const DELETE: Permission = Permission::AgentsConfigure;
    const SORTS: &'static [&'static str] = &["name"];

    fn validate(input: CreateAgentConfig) -> DomainResult<AgentConfigFields> {
        let mut v = Validator::new();
        let name = v.check(name(&input.name));
        let agent_type = v.check(AgentType::parse("agent_type", &input.agent_type));
        let provider = v.check(
            input
                .provider
                .as_deref()
                .map_or(Ok(Provider::Echo), |p| Provider::parse("provider", p)),
        );
        let model = v.check(model(&input.model));
        let temperature = v.check(Temperature::parse(input.temperature.unwrap_or(0.7)));
        let max_tokens = v.check(MaxTokens::parse(input.max_tokens.unwrap_or(1024)));
        let system_prompt = v.check(SystemPrompt::parse(
            input.system_prompt.as_deref().unwrap_or_default(),
        ));
        let tools = v.check(tools(&input.tools));
        let knowledge = v.check(knowledge(&input.knowledge_document_ids));
        let base_url = v.check(
            input
                .base_url
                .as_deref()
                .map(ProviderUrl::parse)
                .transpose(),
        );
        let (name, agent_type, provider, model, temperature, max_tokens, system_prompt, tools) = v
            .values((
                name,
                agent_type,
                provider,
                model,
                temperature,
                max_tokens,
                system_prompt,
                tools,
            ))?;
        let base_url = base_url.flatten();
        let knowledge = knowledge.unwrap_or_default();
        let behaviour = Behaviour {
            provider,
            model,
            temperature,
            max_tokens,
            system_prompt,
            tools,
            base_url,
        };
        behaviour.check()?;
        Ok(AgentConfigFields {
            name,
            agent_type,
            project_id: input.project_id,
            behaviour,
            behaviour_version: 1,
            active: true,
            credential: None,
            credential_changed_at: None,
            knowledge,
        })
    }

    fn changes(patch: UpdateAgentConfig) -> DomainResult<AgentConfigChanges> {
        let mut v = Validator::new();
        let name = v.check(patch.name.as_deref().map(name).transpose());
        let agent_type = v.check(
            patch
                .agent_type
                .as_deref()
                .map(|t| AgentType::parse("agent_type", t))
                .transpose(),
        );
        let provider = v.check(
            patch
                .provider
                .as_deref()
                .map(|p| Provider::parse("provider", p))
                .transpose(),
        );
        let model = v.check(patch.model.as_deref().map(model).transpose());
        let temperature = v.check(patch.temperature.map(Temperature::parse).transpose());
        let max_tokens = v.check(patch.max_tokens.map(MaxTokens::parse).transpose());
        let system_prompt = v.check(
            patch
                .system_prompt
                .as_deref()
                .map(SystemPrompt::parse)
                .transpose(),
        );
        let tools = v.check(patch.tools.as_deref().map(tools).transpose());
        let knowledge = v.check(
            patch
                .knowledge_document_ids
                .as_deref()
                .map(knowledge)
                .transpose(),
        );
        let base_url = v.check(
            patch
                .base_url
                .map(|u| u.as_deref().map(ProviderUrl::parse).transpose())
                .transpose(),
        );
        let (name, agent_type, provider, model, temperature, max_tokens, system_prompt, tools) = v
            .values((
                name,
                agent_type,
                provider,
                model,
                temperature,
                max_tokens,
                system_prompt,
                tools,
            ))?;
        Ok(AgentConfigChanges {
            name,
            agent_type,
            provider,
            model,
            temperature,
            max_tokens,
            system_prompt,
            tools,
            project_id: patch.project_id,
            base_url: base_url.flatten(),
            knowledge: knowledge.flatten(),
        })
    }

    fn apply(fields: &mut AgentConfigFields, changes: &AgentConfigChanges) -> bool {
        let before = fields.behaviour.clone();
        let b = &mut fields.behaviour;
        let asked = [
            set_if_given(&mut fields.name, &changes.name),
            set_if_given(&mut fields.agent_type, &changes.agent_type),
            set_if_given(&mut fields.project_id, &changes.project_id),
            set_if_given(&mut b.provider, &changes.provider),
            set_if_given(&mut b.model, &changes.model),
            set_if_given(&mut b.temperature, &changes.temperature),
            set_if_given(&mut b.max_tokens, &changes.max_tokens),
            set_if_given(&mut b.system_prompt, &changes.system_prompt),
            set_if_given(&mut b.tools, &changes.tools),
            set_if_given(&mut b.base_url, &changes.base_url),
            set_if_given(&mut fields.knowledge, &changes.knowledge),
        ];
        if fields.behaviour != before {
            fields.behaviour_version += 1;
        }
        asked.contains(&true)
    }

    fn check(fields: &AgentConfigFields) -> DomainResult<()> {
        fields.behaviour.check()
    }

    fn audit_fields(fields: &AgentConfigFields) -> Map<String, Value> {
        let mut recorded = Map::new();
        recorded.insert("name".into(), fields.name.clone().into());
        recorded.insert("agent_type".into(), fields.agent_type.as_str().into());
        recorded.insert(
            "project_id".into(),
            fields.project_id.map(|p| p.to_string()).into(),
        );
        if let Value::Object(behaviour) = fields.behaviour.to_json() {
            recorded.extend(behaviour);
        }
        recorded.insert("behaviour_version".into(), fields.behaviour_version.into());
        recorded.insert("active".into(), fields.active.into());
        // That a credential is there and when it changed; never the credential.
        recorded.insert("has_credential".into(), fields.credential.is_some().into());
        recorded.insert(
            "credential_changed_at".into(),
            fields.credential_changed_at.map(|t| t.to_rfc3339()).into(),
        );
        recorded.insert(
            "knowledge_document_ids".into(),
            fields
                .knowledge
                .iter()
                .map(|d| Value::from(d.to_string()))
                .collect::<Vec<_>>()
                .into(),
        );
        recorded
    }
}

/// One numbered, immutable version of a configuration's behaviour.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfigVersion {
    /// 1 for the settings it was created with, then one more per change of behaviour.
    pub number: i64,
    /// The settings, as [`Behaviour::to_json`] records them.
    pub settings: Value,
    /// Who made the change.
    pub created_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo() -> CreateAgentConfig {
        CreateAgentConfig {
            name: "Helper".into(),
            agent_type: "custom".into(),
            model: "echo-1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_create_reports_every_bad_field_and_applies_defaults() {
        let fields = AgentConfigs::validate(echo()).expect("valid");
        assert!(fields.knowledge.is_empty());
        let many = AgentConfigs::validate(CreateAgentConfig {
            knowledge_document_ids: (0..21).map(|_| DocumentId::new()).collect(),
            ..echo()
        });
        assert!(matches!(many, Err(DomainError::Validation(_))));
        let twice = DocumentId::new();
        let deduped = AgentConfigs::validate(CreateAgentConfig {
            knowledge_document_ids: vec![twice, twice],
            ..echo()
        })
        .expect("valid");
        assert_eq!(deduped.knowledge, [twice]);
        assert_eq!(fields.behaviour.provider, Provider::Echo);
        assert_eq!(fields.behaviour.max_tokens.get(), 1024);
        assert_eq!(fields.behaviour_version, 1);
        assert!(fields.active);
        let err = AgentConfigs::validate(CreateAgentConfig {
            name: String::new(),
            agent_type: "robot".into(),
            provider: Some("skynet".into()),
            model: String::new(),
            temperature: Some(2.5),
            max_tokens: Some(40_000),
            system_prompt: Some("x".repeat(32 * 1024 + 1)),
            tools: vec!["rm -rf".into()],
            project_id: None,
            base_url: Some("ftp://example.com".into()),
            knowledge_document_ids: Vec::new(),
        });
        let Err(DomainError::Validation(errors)) = err else {
            panic!("{err:?}")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "agent_type",
                "provider",
                "model",
                "temperature",
                "max_tokens",
                "system_prompt",
                "tools",
                "base_url"
            ]
        );
    }

    #[test]
    fn providers_and_base_urls_go_together() {
        let mut openai = echo();
        openai.provider = Some("openai_compatible".into());
        assert!(AgentConfigs::validate(openai.clone()).is_err());
        openai.base_url = Some("https://llm.example.com/v1/".into());
        let fields = AgentConfigs::validate(openai).expect("valid");
        assert_eq!(
            fields.behaviour.base_url.as_ref().map(ProviderUrl::as_str),
            Some("https://llm.example.com/v1")
        );
        let mut echo_with_url = echo();
        echo_with_url.base_url = Some("https://llm.example.com".into());
        assert!(AgentConfigs::validate(echo_with_url).is_err());
        for bad in [
            "https://user:pw@llm.example.com",
            "https://llm.example.com/?key=1",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(ProviderUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_a_change_of_behaviour_makes_a_new_version() {
        let mut fields = AgentConfigs::validate(echo()).expect("valid");
        let rename = AgentConfigs::changes(UpdateAgentConfig {
            name: Some("Renamed".into()),
            ..Default::default()
        })
        .expect("valid");
        assert!(AgentConfigs::apply(&mut fields, &rename));
        assert_eq!(fields.behaviour_version, 1);
        let same_model = AgentConfigs::changes(UpdateAgentConfig {
            model: Some("echo-1".into()),
            ..Default::default()
        })
        .expect("valid");
        AgentConfigs::apply(&mut fields, &same_model);
        assert_eq!(
            fields.behaviour_version, 1,
            "the same value is no new version"
        );
        let prompt = AgentConfigs::changes(UpdateAgentConfig {
            system_prompt: Some("Be brief.".into()),
            tools: Some(vec!["calculator".into(), "calculator".into()]),
            ..Default::default()
        })
        .expect("valid");
        assert!(AgentConfigs::apply(&mut fields, &prompt));
        assert_eq!(fields.behaviour_version, 2);
        assert_eq!(fields.behaviour.tools, [Tool::Calculator]);
    }

    #[test]
    fn the_audit_trail_never_holds_the_credential() {
        let mut fields = AgentConfigs::validate(echo()).expect("valid");
        fields.credential = Some(SealedSecret::from_sealed("bhs1:k:nonce:body".into()));
        let recorded = Value::Object(AgentConfigs::audit_fields(&fields)).to_string();
        assert!(!recorded.contains("bhs1"), "{recorded}");
        assert!(recorded.contains("\"has_credential\":true"));
        assert!(!format!("{:?}", ProviderKey::parse("sk-123").expect("valid")).contains("sk-123"));
    }
}
