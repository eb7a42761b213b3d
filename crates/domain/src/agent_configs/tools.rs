//! The catalogue of tools a configuration may give its agents, published by the server.

use crate::error::{DomainError, DomainResult};

/// A tool an agent may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tool {
    /// Arithmetic on numbers in the conversation.
    Calculator,
    /// Searches the organization's documents.
    DocumentSearch,
    /// Reads Jira issues the organization connected.
    JiraSearch,
    /// Searches the public web.
    WebSearch,
    /// Reads and writes the run's scratch notes.
    Notes,
}

impl Tool {
    /// The catalogue, in published order.
    pub const ALL: [Tool; 5] = [
        Self::Calculator,
        Self::DocumentSearch,
        Self::JiraSearch,
        Self::WebSearch,
        Self::Notes,
    ];

    /// The tool's name in configurations.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Calculator => "calculator",
            Self::DocumentSearch => "document_search",
            Self::JiraSearch => "jira_search",
            Self::WebSearch => "web_search",
            Self::Notes => "notes",
        }
    }

    /// What it does, for people choosing tools.
    pub fn description(self) -> &'static str {
        match self {
            Self::Calculator => "Evaluates arithmetic expressions.",
            Self::DocumentSearch => "Searches the organization's documents.",
            Self::JiraSearch => "Searches the Jira issues the organization connected.",
            Self::WebSearch => "Searches the public web.",
            Self::Notes => "Keeps scratch notes for the length of a run.",
        }
    }

    /// The tool named `raw`, or a validation error on `tools`.
    pub fn parse(raw: &str) -> DomainResult<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == raw)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|t| t.as_str()).collect();
                DomainError::invalid(
                    "tools",
                    "catalogue",
                    format!(
                        "tools must be names from the catalogue: {}",
                        names.join(", ")
                    ),
                )
            })
    }
}
