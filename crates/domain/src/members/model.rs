//! A member as the organization sees them.

use chrono::{DateTime, Utc};

use crate::error::DomainResult;
use crate::page::PageRequest;
use crate::scope::RoleRef;
use crate::text::bounded;
use crate::users::User;

/// A user's membership of the scope's organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The user.
    pub user: User,
    /// Their role here.
    pub role: RoleRef,
    /// When they joined.
    pub joined_at: DateTime<Utc>,
}

/// A validated member search.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberQuery {
    /// Case-insensitive search in name and email.
    pub q: Option<String>,
    /// Only members with this role.
    pub role: Option<RoleRef>,
    /// The page.
    pub page: PageRequest,
}

impl MemberQuery {
    /// Validates raw list parameters.
    pub fn parse(
        q: Option<&str>,
        role: Option<RoleRef>,
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> DomainResult<Self> {
        let q = q
            .map(|q| bounded("q", q, 0, 200))
            .transpose()?
            .filter(|q| !q.is_empty());
        Ok(Self {
            q,
            role,
            page: PageRequest::parse(limit, offset)?,
        })
    }
}
