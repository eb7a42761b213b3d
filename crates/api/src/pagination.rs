//! The list envelope every list answers with (DESIGN.md's HTTP conventions).

use bulkhead_domain::page::{Page, PageRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::extract::int_param;
use crate::problem::ApiError;

/// The paging parameters of a list that has no filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<String>,
    /// Items to skip.
    #[param(value_type = Option<i64>, minimum = 0, default = 0)]
    pub offset: Option<String>,
}

impl PageQuery {
    /// The validated page (422 naming the parameter otherwise).
    pub(crate) fn page(&self) -> Result<PageRequest, ApiError> {
        Ok(PageRequest::parse(
            int_param("limit", self.limit.as_deref())?,
            int_param("offset", self.offset.as_deref())?,
        )?)
    }
}

/// One page of a list: `{data, total, limit, offset, has_more}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageBody<T: ToSchema> {
    /// The items of this page.
    pub data: Vec<T>,
    /// How many items match in all.
    pub total: u64,
    /// The page size asked for.
    pub limit: u64,
    /// The items skipped.
    pub offset: u64,
    /// Whether more items follow this page.
    pub has_more: bool,
}

impl<T: ToSchema> PageBody<T> {
    /// Converts a domain page, item by item.
    pub(crate) fn from_page<D>(page: Page<D>) -> Self
    where
        T: From<D>,
    {
        Self {
            total: page.total,
            limit: page.request.limit(),
            offset: page.request.offset(),
            has_more: page.has_more(),
            data: page.items.into_iter().map(T::from).collect(),
        }
    }
}

/// A short list that is never paged (a user's own sessions or organizations): `{data}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListBody<T: ToSchema> {
    /// Every item.
    pub data: Vec<T>,
}

impl<T: ToSchema> ListBody<T> {
    /// Converts domain items one by one.
    pub(crate) fn from_items<D>(items: impl IntoIterator<Item = D>) -> Self
    where
        T: From<D>,
    {
        Self {
            data: items.into_iter().map(T::from).collect(),
        }
    }
}
