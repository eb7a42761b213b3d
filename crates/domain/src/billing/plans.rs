//! Plans and their limits: the catalogue the server ships with, which an operator may change.

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};
use crate::quota::Quota;

/// The name of the plan every new organization starts on, and the one a cancelled
/// subscription falls back to. Every catalogue has it.
pub const FREE_PLAN: &str = "free";

/// What a plan allows; an absent limit is unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanLimits {
    /// Members of the organization.
    #[serde(default)]
    pub members: Option<i64>,
    /// Live projects.
    #[serde(default)]
    pub projects: Option<i64>,
    /// Live agents.
    #[serde(default)]
    pub agents: Option<i64>,
    /// Runs queued or running at once.
    #[serde(default)]
    pub concurrent_runs: Option<i64>,
    /// Runs started per calendar month.
    #[serde(default)]
    pub runs_per_month: Option<i64>,
    /// Model tokens per calendar month.
    #[serde(default)]
    pub tokens_per_month: Option<i64>,
    /// Bytes of stored files.
    #[serde(default)]
    pub storage_bytes: Option<i64>,
    /// Live API keys.
    #[serde(default)]
    pub api_keys: Option<i64>,
}

impl PlanLimits {
    /// No limit at all.
    pub const UNLIMITED: PlanLimits = PlanLimits {
        members: None,
        projects: None,
        agents: None,
        concurrent_runs: None,
        runs_per_month: None,
        tokens_per_month: None,
        storage_bytes: None,
        api_keys: None,
    };

    /// The limit on `quota`, if there is one.
    pub fn of(&self, quota: Quota) -> Option<i64> {
        match quota {
            Quota::Members => self.members,
            Quota::Projects => self.projects,
            Quota::Agents => self.agents,
            Quota::ConcurrentRuns => self.concurrent_runs,
            Quota::RunsPerMonth => self.runs_per_month,
            Quota::TokensPerMonth => self.tokens_per_month,
            Quota::StorageBytes => self.storage_bytes,
            Quota::ApiKeys => self.api_keys,
        }
    }

    /// These limits with `quota` set to `limit`.
    pub fn with(mut self, quota: Quota, limit: Option<i64>) -> Self {
        let slot = match quota {
            Quota::Members => &mut self.members,
            Quota::Projects => &mut self.projects,
            Quota::Agents => &mut self.agents,
            Quota::ConcurrentRuns => &mut self.concurrent_runs,
            Quota::RunsPerMonth => &mut self.runs_per_month,
            Quota::TokensPerMonth => &mut self.tokens_per_month,
            Quota::StorageBytes => &mut self.storage_bytes,
            Quota::ApiKeys => &mut self.api_keys,
        };
        *slot = limit;
        self
    }
}

/// A plan an organization can be on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The plan's key (`free`, `pro`, ...): lower-case letters, digits, `-` and `_`.
    pub name: String,
    /// What people see.
    #[serde(default)]
    pub title: Option<String>,
    /// The Stripe price a checkout for this plan subscribes to; a plan without one cannot be
    /// bought (only granted by the platform).
    #[serde(default)]
    pub stripe_price_id: Option<String>,
    /// The plan's limits.
    #[serde(default)]
    pub limits: PlanLimits,
}

/// The plans of this server. The defaults ship with it; an operator replaces plans (by name)
/// or adds new ones in configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanCatalogue {
    plans: Vec<Plan>,
}

const MIB: i64 = 1024 * 1024;

impl Default for PlanCatalogue {
    fn default() -> Self {
        let plan = |name: &str, title: &str, limits: PlanLimits| Plan {
            name: name.into(),
            title: Some(title.into()),
            stripe_price_id: None,
            limits,
        };
        Self {
            plans: vec![
                plan(
                    FREE_PLAN,
                    "Free",
                    PlanLimits {
                        members: Some(3),
                        projects: Some(3),
                        agents: Some(2),
                        concurrent_runs: Some(1),
                        runs_per_month: Some(100),
                        tokens_per_month: Some(100_000),
                        storage_bytes: Some(100 * MIB),
                        api_keys: Some(2),
                    },
                ),
                plan(
                    "pro",
                    "Pro",
                    PlanLimits {
                        members: Some(25),
                        projects: Some(100),
                        agents: Some(50),
                        concurrent_runs: Some(10),
                        runs_per_month: Some(10_000),
                        tokens_per_month: Some(10_000_000),
                        storage_bytes: Some(10 * 1024 * MIB),
                        api_keys: Some(25),
                    },
                ),
                plan("enterprise", "Enterprise", PlanLimits::UNLIMITED),
            ],
        }
    }
}

impl PlanCatalogue {
    /// A catalogue of exactly `plans`; it must name each plan once, well-formed, and include
    /// [`FREE_PLAN`], and no limit may be negative.
    pub fn new(plans: Vec<Plan>) -> DomainResult<Self> {
        for (i, plan) in plans.iter().enumerate() {
            let well_formed = !plan.name.is_empty()
                && plan.name.len() <= 40
                && plan.name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if !well_formed {
                return Err(DomainError::invalid(
                    "plans",
                    "format",
                    format!(
                        "plan name {:?} must be 1-40 of a-z, 0-9, - and _",
                        plan.name
                    ),
                ));
            }
            if plans[..i].iter().any(|p| p.name == plan.name) {
                return Err(DomainError::invalid(
                    "plans",
                    "duplicate",
                    format!("plan {:?} is named twice", plan.name),
                ));
            }
            if Quota::ALL
                .iter()
                .any(|q| plan.limits.of(*q).is_some_and(|l| l < 0))
            {
                return Err(DomainError::invalid(
                    "plans",
                    "range",
                    format!("plan {:?} has a negative limit", plan.name),
                ));
            }
        }
        if !plans.iter().any(|p| p.name == FREE_PLAN) {
            return Err(DomainError::invalid(
                "plans",
                "required",
                "the catalogue must have a plan named free",
            ));
        }
        Ok(Self { plans })
    }

    /// The defaults with `overrides` applied: a plan of the same name replaces the default one
    /// whole (so an absent limit there is unlimited), a new name is added.
    pub fn with_overrides(overrides: Vec<Plan>) -> DomainResult<Self> {
        for (i, plan) in overrides.iter().enumerate() {
            if overrides[..i].iter().any(|p| p.name == plan.name) {
                return Err(DomainError::invalid(
                    "plans",
                    "duplicate",
                    format!("plan {:?} is named twice", plan.name),
                ));
            }
        }
        let mut plans = Self::default().plans;
        for plan in overrides {
            match plans.iter_mut().find(|p| p.name == plan.name) {
                Some(existing) => *existing = plan,
                None => plans.push(plan),
            }
        }
        Self::new(plans)
    }

    /// Parses an operator's plans (a JSON array of plans) over the defaults, as
    /// [`PlanCatalogue::with_overrides`] does.
    pub fn from_json(json: &str) -> DomainResult<Self> {
        let overrides: Vec<Plan> = serde_json::from_str(json).map_err(|e| {
            DomainError::invalid("plans", "format", format!("plans are not valid: {e}"))
        })?;
        Self::with_overrides(overrides)
    }

    /// Every plan, in catalogue order.
    pub fn plans(&self) -> &[Plan] {
        &self.plans
    }

    /// The plan named `name`.
    pub fn get(&self, name: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.name == name)
    }

    /// The plan named `name`, or a validation error on the request's `plan`.
    pub fn require(&self, name: &str) -> DomainResult<&Plan> {
        self.get(name).ok_or_else(|| {
            DomainError::invalid(
                "plan",
                "unknown",
                format!("there is no plan named {name:?}"),
            )
        })
    }

    /// The limits of the plan named `name`; a plan the catalogue no longer has (removed by the
    /// operator) limits like [`FREE_PLAN`], so nothing becomes unlimited by accident.
    pub fn limits(&self, name: &str) -> &PlanLimits {
        self.get(name)
            .or_else(|| self.get(FREE_PLAN))
            .map(|p| &p.limits)
            .unwrap_or(&PlanLimits::UNLIMITED)
    }

    /// The plan sold at Stripe price `price`.
    pub fn by_price(&self, price: &str) -> Option<&Plan> {
        self.plans
            .iter()
            .find(|p| p.stripe_price_id.as_deref() == Some(price))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_have_free_pro_and_unlimited_enterprise() {
        let plans = PlanCatalogue::default();
        assert_eq!(plans.limits(FREE_PLAN).projects, Some(3));
        assert_eq!(plans.limits("pro").members, Some(25));
        assert_eq!(plans.limits("enterprise"), &PlanLimits::UNLIMITED);
        // A plan the operator removed limits like free, never like nothing.
        assert_eq!(plans.limits("gone"), plans.limits(FREE_PLAN));
    }

    #[test]
    fn overrides_replace_by_name_and_add_new_plans() {
        let plans = PlanCatalogue::from_json(
            r#"[{"name": "pro", "stripe_price_id": "price_pro", "limits": {"projects": 7}},
                {"name": "team", "limits": {"members": 10}}]"#,
        )
        .expect("valid plans");
        assert_eq!(plans.limits("pro").projects, Some(7));
        assert_eq!(plans.limits("pro").members, None);
        assert_eq!(
            plans.by_price("price_pro").map(|p| p.name.as_str()),
            Some("pro")
        );
        assert_eq!(plans.limits("team").members, Some(10));
        assert_eq!(plans.plans().len(), 4);
    }

    #[test]
    fn bad_catalogues_are_refused() {
        for json in [
            r#"[{"name": "Pro!"}]"#,
            r#"[{"name": "x", "limits": {"projects": -1}}]"#,
            r#"[{"name": "x"}, {"name": "x"}]"#,
            r#"[{"name": "x", "limits": {"seats": 3}}]"#,
            r#"{"name": "x"}"#,
        ] {
            assert!(
                PlanCatalogue::from_json(json).is_err(),
                "{json} was accepted"
            );
        }
        assert!(PlanCatalogue::new(vec![]).is_err());
    }
}
