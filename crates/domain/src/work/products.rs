//! What a session's run hands back: read from the run's output, checked like client input.

use serde_json::{Value, json};

use super::artifacts::ArtifactFields;
use super::checkpoints::CheckpointFields;
use crate::error::{DomainError, DomainResult};
use crate::ids::{ProjectId, WorkSessionId};

/// The most artifacts one run may produce.
pub const MAX_ARTIFACTS: usize = 20;

/// What one run of a session produced: a checkpoint to stop at, or the artifacts of the
/// finished work.
#[derive(Debug, Clone, PartialEq)]
pub enum Products {
    /// The run stopped for a person's decision.
    Checkpoint(CheckpointFields),
    /// The run finished the work with these artifacts.
    Artifacts(Vec<ArtifactFields>),
}

impl Products {
    /// Reads a run's output. An output with `checkpoint` (an object with `title` and
    /// `details`) stops there; one with `artifacts` (a list of `{artifact_type, title,
    /// content}`) produces them; any other output (a model's `{"text": ...}`, say) is one
    /// `report`. An output that breaks these rules is [`DomainError::Validation`], and the
    /// session fails saying so.
    pub fn of_output(
        session: WorkSessionId,
        project: ProjectId,
        output: &Value,
    ) -> DomainResult<Self> {
        if let Some(checkpoint) = output.get("checkpoint") {
            let title = checkpoint["title"]
                .as_str()
                .unwrap_or("Review before finishing");
            let details = checkpoint.get("details").cloned().unwrap_or(json!({}));
            return CheckpointFields::opened(session, project, title, details)
                .map(Self::Checkpoint);
        }
        let Some(artifacts) = output.get("artifacts") else {
            let content = match output {
                Value::Object(_) => output.clone(),
                other => json!({ "value": other }),
            };
            return ArtifactFields::produced(session, project, "report", "Result", content)
                .map(|a| Self::Artifacts(vec![a]));
        };
        let list = artifacts.as_array().filter(|l| l.len() <= MAX_ARTIFACTS);
        let Some(list) = list else {
            return Err(DomainError::invalid(
                "artifacts",
                "type",
                format!("artifacts must be a list of at most {MAX_ARTIFACTS}"),
            ));
        };
        list.iter()
            .map(|a| {
                ArtifactFields::produced(
                    session,
                    project,
                    a["artifact_type"].as_str().unwrap_or("report"),
                    a["title"].as_str().unwrap_or_default(),
                    a.get("content").cloned().unwrap_or(Value::Null),
                )
            })
            .collect::<DomainResult<Vec<_>>>()
            .map(Self::Artifacts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_become_checkpoints_artifacts_or_one_report() {
        let (s, p) = (WorkSessionId::new(), ProjectId::new());
        let stop = json!({ "checkpoint": { "title": "Plan", "details": { "steps": 3 } } });
        assert!(matches!(
            Products::of_output(s, p, &stop),
            Ok(Products::Checkpoint(c)) if c.title == "Plan"
        ));
        let text = json!({ "text": "the answer" });
        match Products::of_output(s, p, &text).expect("as expected") {
            Products::Artifacts(a) => {
                assert_eq!(a.len(), 1);
                assert_eq!(a[0].artifact_type, "report");
                assert_eq!(a[0].content["text"], "the answer");
            }
            other => panic!("{other:?}"),
        }
        let bad =
            json!({ "artifacts": [{ "artifact_type": "report", "title": "", "content": {} }] });
        assert!(Products::of_output(s, p, &bad).is_err());
    }
}
