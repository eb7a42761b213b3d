//! What a plan limits, and the refusal of a create past a limit. Its own module, below the
//! error type (which carries the refusal) and the billing module (which prices the limits).

use std::fmt;

use serde::{Deserialize, Serialize};

/// One thing a plan limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quota {
    /// Members of the organization.
    Members,
    /// Live projects.
    Projects,
    /// Live agents.
    Agents,
    /// Runs queued or running at once.
    ConcurrentRuns,
    /// Runs started in the calendar month (UTC).
    RunsPerMonth,
    /// Model tokens (read and written) used by runs finished in the calendar month (UTC).
    TokensPerMonth,
    /// Bytes of stored files.
    StorageBytes,
    /// Live (unrevoked, unexpired) API keys.
    ApiKeys,
}

impl Quota {
    /// Every quota, in the order usage reports them.
    pub const ALL: &'static [Quota] = &[
        Quota::Members,
        Quota::Projects,
        Quota::Agents,
        Quota::ConcurrentRuns,
        Quota::RunsPerMonth,
        Quota::TokensPerMonth,
        Quota::StorageBytes,
        Quota::ApiKeys,
    ];

    /// The quota's name, as in plans and problems (`runs_per_month`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Members => "members",
            Self::Projects => "projects",
            Self::Agents => "agents",
            Self::ConcurrentRuns => "concurrent_runs",
            Self::RunsPerMonth => "runs_per_month",
            Self::TokensPerMonth => "tokens_per_month",
            Self::StorageBytes => "storage_bytes",
            Self::ApiKeys => "api_keys",
        }
    }

    /// Whether the quota counts within a calendar month rather than what exists now.
    pub fn is_monthly(self) -> bool {
        matches!(self, Self::RunsPerMonth | Self::TokensPerMonth)
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A create refused because it would pass the organization's plan limit; nothing was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaExceeded {
    /// What is limited.
    pub quota: Quota,
    /// The plan's limit.
    pub limit: i64,
    /// How much is used now (before the refused create).
    pub used: i64,
    /// The organization's plan.
    pub plan: String,
}

impl fmt::Display for QuotaExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the {} plan allows {} {}; {} used",
            self.plan, self.limit, self.quota, self.used
        )
    }
}
