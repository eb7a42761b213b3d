//! The work session entity: a piece of work a member asks for on a project, executed by an
//! agent's runs and stopped at checkpoints for a person's decision.

use serde_json::{Map, Value, json};

use crate::error::{DomainError, DomainResult, Validator};
use crate::ids::{AgentId, ProjectId, RunId, UserId, WorkSessionId};
use crate::resource::{Record, Resource};
use crate::runs::{RunInput, RunStatus};
use crate::scope::Permission;
use crate::text::{bounded, one_of};

/// The kinds of work an agent does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskType {
    /// Finding out about a subject.
    Research,
    /// Writing something.
    ContentCreation,
    /// Answering a question from data.
    Analysis,
}

impl TaskType {
    /// Every type.
    pub const ALL: [TaskType; 3] = [Self::Research, Self::ContentCreation, Self::Analysis];

    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Research => "research",
            Self::ContentCreation => "content_creation",
            Self::Analysis => "analysis",
        }
    }

    /// The type named `raw`, or a validation error on `field`.
    pub fn parse(field: &str, raw: &str) -> DomainResult<Self> {
        one_of(field, raw, &Self::ALL, Self::as_str)
    }

    /// The parameters this type takes, each with its check.
    fn parameters(self) -> &'static [(&'static str, Check)] {
        match self {
            Self::Research => &[
                ("scope", Check::OneOf(&["quick", "standard", "deep"])),
                ("depth", Check::OneOf(&["overview", "detailed"])),
            ],
            Self::ContentCreation => &[
                ("format", Check::Text(50)),
                ("audience", Check::Text(200)),
                ("length", Check::OneOf(&["short", "medium", "long"])),
            ],
            Self::Analysis => &[("question", Check::Text(2000)), ("data_refs", Check::Refs)],
        }
    }
}

/// How one task parameter is checked.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// Text of 1 to this many characters, no control characters.
    Text(usize),
    /// Up to [`TaskParameters::MAX_REFS`] references of 1 to 500 characters each.
    Refs,
}

/// A task's parameters, checked against its type: only the type's own keys, each valid.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskParameters(Map<String, Value>);

impl TaskParameters {
    /// The most `data_refs` an analysis takes.
    pub const MAX_REFS: usize = 50;

    /// Validates `raw` (absent: none) for `task_type`, reporting every bad key at once as
    /// `task_parameters.<key>`.
    pub fn parse(task_type: TaskType, raw: Option<Value>) -> DomainResult<Self> {
        let map = match raw {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Object(map)) => map,
            Some(_) => {
                return Err(DomainError::invalid(
                    "task_parameters",
                    "type",
                    "task_parameters must be a JSON object",
                ));
            }
        };
        let allowed = task_type.parameters();
        let mut v = Validator::new();
        for (key, value) in &map {
            let field = format!("task_parameters.{key}");
            let Some((_, check)) = allowed.iter().find(|(name, _)| name == key) else {
                let names: Vec<&str> = allowed.iter().map(|(name, _)| *name).collect();
                v.check::<()>(Err(DomainError::invalid(
                    &field,
                    "unknown",
                    format!(
                        "a {} task takes only {}",
                        task_type.as_str(),
                        names.join(", ")
                    ),
                )));
                continue;
            };
            v.check(check_value(&field, *check, value));
        }
        v.finish()?;
        Ok(Self(map))
    }

    /// The parameters.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }
}

fn check_value(field: &str, check: Check, value: &Value) -> DomainResult<()> {
    let text = |value: &Value, max| match value.as_str() {
        Some(s) => bounded(field, s, 1, max).map(|_| ()),
        None => Err(DomainError::invalid(
            field,
            "type",
            format!("{field} must be a string"),
        )),
    };
    match check {
        Check::OneOf(words) => match value.as_str() {
            Some(word) if words.contains(&word) => Ok(()),
            _ => Err(DomainError::invalid(
                field,
                "enum",
                format!("{field} must be one of {}", words.join(", ")),
            )),
        },
        Check::Text(max) => text(value, max),
        Check::Refs => match value.as_array() {
            Some(refs) if refs.len() <= TaskParameters::MAX_REFS => {
                refs.iter().try_for_each(|r| text(r, 500))
            }
            _ => Err(DomainError::invalid(
                field,
                "type",
                format!(
                    "{field} must be a list of at most {} strings",
                    TaskParameters::MAX_REFS
                ),
            )),
        },
    }
}

/// Where a session is. `pending → running` (started) `→ awaiting_review` (a checkpoint is
/// open) `→ running` (every checkpoint approved) `→ completed | failed`; and `pending |
/// running | awaiting_review → cancelled`. The three last are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionStatus {
    /// Created, not started.
    Pending,
    /// Its run is queued or executing.
    Running,
    /// A checkpoint waits for a person.
    AwaitingReview,
    /// Its run finished the work.
    Completed,
    /// Its run failed, or a person rejected a checkpoint.
    Failed,
    /// Cancelled by a person.
    Cancelled,
}

impl SessionStatus {
    /// Every status.
    pub const ALL: [SessionStatus; 6] = [
        Self::Pending,
        Self::Running,
        Self::AwaitingReview,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::AwaitingReview => "awaiting_review",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// The status named `raw`, or a validation error on `field`.
    pub fn parse(field: &str, raw: &str) -> DomainResult<Self> {
        one_of(field, raw, &Self::ALL, Self::as_str)
    }

    /// Whether the session is over for good.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

/// Work sessions as a tenant resource: `work:read` to read, `work:write` to create, start and
/// cancel. Sessions are never edited or deleted one by one; they go with their project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkSessions;

/// A work session as stored.
pub type WorkSession = Record<WorkSessions>;

/// A session's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionFields {
    /// The project the work is for (live, of the same organization).
    pub project_id: ProjectId,
    /// What kind of work.
    pub task_type: TaskType,
    /// What the member wants, in their words (1 to 2,000 characters).
    pub task_intent: String,
    /// The type's parameters.
    pub task_parameters: TaskParameters,
    /// The agent that does the work; a session without one cannot start.
    pub agent_id: Option<AgentId>,
    /// Whether the work stops for a person's decision before it finishes.
    pub checkpoint: bool,
    /// Where it is; set by the server only.
    pub status: SessionStatus,
    /// The run doing (or that last did) the work.
    pub run_id: Option<RunId>,
    /// Who started it.
    pub started_by: Option<UserId>,
    /// When it was started.
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it ended.
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Why it failed (or was cancelled).
    pub failure_reason: Option<String>,
}

impl SessionFields {
    /// The input of a run doing this session's work; `resume` is the decision it continues
    /// from (a resolved checkpoint), if any.
    pub fn run_input(&self, id: WorkSessionId, resume: Option<Value>) -> DomainResult<RunInput> {
        let mut task = json!({
            "work_session_id": id.to_string(),
            "task_type": self.task_type.as_str(),
            "task_intent": self.task_intent,
            "task_parameters": Value::Object(self.task_parameters.as_map().clone()),
            "checkpoint": self.checkpoint,
        });
        if let Some(resume) = resume {
            task["resume"] = resume;
        }
        RunInput::parse(json!({ "prompt": self.task_intent, "task": task }))
    }

    /// The status a session moves to when its run reaches `run`; `None` if it does not move.
    /// `paused_at_checkpoint`: the run ended by opening a checkpoint.
    pub fn follow(&self, run: RunStatus, paused_at_checkpoint: bool) -> Option<SessionStatus> {
        if self.status.is_terminal() {
            return None;
        }
        let next = match run {
            RunStatus::Queued | RunStatus::Running => SessionStatus::Running,
            RunStatus::Succeeded if paused_at_checkpoint => SessionStatus::AwaitingReview,
            RunStatus::Succeeded => SessionStatus::Completed,
            RunStatus::Failed | RunStatus::TimedOut => SessionStatus::Failed,
            RunStatus::Cancelled => SessionStatus::Cancelled,
        };
        (next != self.status).then_some(next)
    }
}

/// Raw input of a create.
#[derive(Debug, Clone)]
pub struct CreateWorkSession {
    /// The project (from the path).
    pub project_id: ProjectId,
    /// `research`, `content_creation` or `analysis`.
    pub task_type: String,
    /// What the member wants.
    pub task_intent: String,
    /// The type's parameters.
    pub task_parameters: Option<Value>,
    /// The agent.
    pub agent_id: Option<AgentId>,
    /// Whether to stop for a person's decision; default false.
    pub checkpoint: Option<bool>,
}

/// List filters of sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// Only this project's sessions.
    pub project_id: Option<ProjectId>,
    /// Only sessions in this status.
    pub status: Option<SessionStatus>,
    /// Only sessions of this type.
    pub task_type: Option<TaskType>,
    /// Only sessions of this agent.
    pub agent_id: Option<AgentId>,
    /// Only sessions created at or after this time.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only sessions created before this time.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

impl Resource for WorkSessions {
    type Id = WorkSessionId;
    type Fields = SessionFields;
    type Filter = SessionFilter;
    type Create = CreateWorkSession;
    type Patch = ();
    type Changes = ();

    const NAME: &'static str = "work_session";
    const READ: Permission = Permission::WorkRead;
    const WRITE: Permission = Permission::WorkWrite;
    // Sessions go with their project; nobody deletes them one by one.
    const DELETE: Permission = Permission::ProjectsDelete;
    const SORTS: &'static [&'static str] = &["status"];

    fn validate(input: CreateWorkSession) -> DomainResult<SessionFields> {
        let mut v = Validator::new();
        let task_type = v.check(TaskType::parse("task_type", &input.task_type));
        let task_intent = v.check(bounded("task_intent", &input.task_intent, 1, 2000));
        let (task_type, task_intent) = v.values((task_type, task_intent))?;
        let task_parameters = TaskParameters::parse(task_type, input.task_parameters)?;
        Ok(SessionFields {
            project_id: input.project_id,
            task_type,
            task_intent,
            task_parameters,
            agent_id: input.agent_id,
            checkpoint: input.checkpoint.unwrap_or(false),
            status: SessionStatus::Pending,
            run_id: None,
            started_by: None,
            started_at: None,
            finished_at: None,
            failure_reason: None,
        })
    }

    fn changes(_: ()) -> DomainResult<()> {
        Ok(())
    }

    fn apply(_: &mut SessionFields, _: &()) -> bool {
        false
    }

    fn audit_fields(fields: &SessionFields) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("project_id".into(), fields.project_id.to_string().into());
        map.insert("task_type".into(), fields.task_type.as_str().into());
        map.insert(
            "agent_id".into(),
            fields.agent_id.map(|a| a.to_string()).into(),
        );
        map.insert("checkpoint".into(), fields.checkpoint.into());
        map.insert("status".into(), fields.status.as_str().into());
        map.insert("run_id".into(), fields.run_id.map(|r| r.to_string()).into());
        if let Some(reason) = &fields.failure_reason {
            map.insert("failure_reason".into(), reason.clone().into());
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(task_type: &str, parameters: Value) -> DomainResult<SessionFields> {
        WorkSessions::validate(CreateWorkSession {
            project_id: ProjectId::new(),
            task_type: task_type.into(),
            task_intent: "Compare the three vendors".into(),
            task_parameters: Some(parameters),
            agent_id: None,
            checkpoint: None,
        })
    }

    fn fields_of(err: DomainError) -> Vec<String> {
        match err {
            DomainError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parameters_are_checked_against_the_task_type() {
        assert!(create("research", json!({ "scope": "deep", "depth": "overview" })).is_ok());
        assert!(
            create(
                "analysis",
                json!({ "question": "Why?", "data_refs": ["q3.csv"] })
            )
            .is_ok()
        );
        let err =
            create("research", json!({ "scope": "vast", "audience": "cfo" })).expect_err("refused");
        let mut fields = fields_of(err);
        fields.sort();
        assert_eq!(
            fields,
            ["task_parameters.audience", "task_parameters.scope"]
        );
        assert!(create("analysis", json!({ "data_refs": "q3.csv" })).is_err());
        assert!(create("content_creation", json!([1])).is_err());
        assert!(create("poetry", json!({})).is_err());
    }

    #[test]
    fn a_session_follows_its_run_until_it_ends() {
        let mut fields = create("research", json!({})).expect("as expected");
        fields.status = SessionStatus::Running;
        assert_eq!(fields.follow(RunStatus::Running, false), None);
        assert_eq!(
            fields.follow(RunStatus::Succeeded, true),
            Some(SessionStatus::AwaitingReview)
        );
        assert_eq!(
            fields.follow(RunStatus::TimedOut, false),
            Some(SessionStatus::Failed)
        );
        fields.status = SessionStatus::Cancelled;
        assert_eq!(fields.follow(RunStatus::Succeeded, false), None);
    }
}
