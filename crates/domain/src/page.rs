//! Pagination shared by every list.

use crate::error::{DomainError, DomainResult, FieldError};

/// Page size used when the client names none.
pub const DEFAULT_LIMIT: u64 = 20;
/// The largest page a client may ask for; more is an error, not silently clamped.
pub const MAX_LIMIT: u64 = 100;

/// A validated `limit`/`offset` pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    limit: u64,
    offset: u64,
}

impl PageRequest {
    /// Validates raw values: `limit` in `1..=MAX_LIMIT`, `offset` not negative.
    pub fn parse(limit: Option<i64>, offset: Option<i64>) -> DomainResult<Self> {
        let mut errors = Vec::new();
        let limit = limit.unwrap_or(DEFAULT_LIMIT as i64);
        if !(1..=MAX_LIMIT as i64).contains(&limit) {
            errors.push(FieldError::new(
                "limit",
                "range",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let offset = offset.unwrap_or(0);
        if offset < 0 {
            errors.push(FieldError::new(
                "offset",
                "range",
                "offset must not be negative",
            ));
        }
        if errors.is_empty() {
            Ok(Self {
                limit: limit as u64,
                offset: offset as u64,
            })
        } else {
            Err(DomainError::Validation(errors))
        }
    }

    /// The number of items asked for.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The number of items skipped.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

/// One page of a list, with the total count of matching items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// How many items match in all.
    pub total: u64,
    /// The request that produced this page.
    pub request: PageRequest,
}

impl<T> Page<T> {
    /// Whether items exist beyond this page.
    pub fn has_more(&self) -> bool {
        self.request.offset + (self.items.len() as u64) < self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_the_range_are_rejected_not_clamped() {
        assert!(PageRequest::parse(Some(101), None).is_err());
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(None, Some(-1)).is_err());
        let page = PageRequest::parse(None, None).expect("defaults are valid");
        assert_eq!((page.limit(), page.offset()), (DEFAULT_LIMIT, 0));
    }

    #[test]
    fn has_more_counts_from_the_offset() {
        let request = PageRequest::parse(Some(2), Some(2)).expect("valid");
        let page = Page {
            items: vec![1, 2],
            total: 5,
            request,
        };
        assert!(page.has_more());
        let last = Page {
            items: vec![5],
            total: 5,
            request: PageRequest::parse(Some(2), Some(4)).expect("valid"),
        };
        assert!(!last.has_more());
    }
}
