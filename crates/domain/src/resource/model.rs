//! What a tenant resource is: its description ([`Resource`]), a stored row of it ([`Record`]),
//! and the list query every resource shares.

use std::fmt::Debug;
use std::ops::{Deref, DerefMut};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::audit::Auditable;
use crate::error::{DomainError, DomainResult, Validator};
use crate::ids::{OrganizationId, ResourceId, UserId};
use crate::page::PageRequest;
use crate::scope::Permission;

/// The description of one kind of tenant resource. Implemented by a unit struct
/// (`Projects`), it names the types and rules that the generic port, service and adapter
/// need; the aggregate's module keeps only what is its own.
pub trait Resource: Clone + Debug + PartialEq + Send + Sync + Sized + 'static {
    /// The id type (a newtype of its own, so ids of different resources never mix).
    type Id: ResourceId;
    /// The resource's own fields: everything but the lifecycle every resource shares.
    type Fields: Clone + Debug + PartialEq + Send + Sync + 'static;
    /// The resource's own list filters, already validated (`()` when it has none).
    type Filter: Clone + Debug + Default + PartialEq + Send + Sync + 'static;
    /// A create as the client sent it.
    type Create: Send + 'static;
    /// A partial update as the client sent it.
    type Patch: Send + 'static;
    /// A validated partial update.
    type Changes: Debug + Send + Sync + 'static;

    /// The singular name: the audit trail's resource type and the prefix of its actions
    /// (`project` gives `project.created`, ...).
    const NAME: &'static str;
    /// Needed to list and read.
    const READ: Permission;
    /// Needed to create and change.
    const WRITE: Permission;
    /// Needed to delete, restore, see deleted rows and purge.
    const DELETE: Permission;
    /// The fields a list may be sorted by (`sort=name` or `sort=-name`); `created_at` is
    /// always allowed and is the default (newest first).
    const SORTS: &'static [&'static str];
    /// The longest search text accepted, in characters.
    const MAX_SEARCH_CHARS: usize = 200;

    /// Validates a create, reporting every bad field at once.
    fn validate(input: Self::Create) -> DomainResult<Self::Fields>;

    /// Validates a partial update, reporting every bad field at once.
    fn changes(patch: Self::Patch) -> DomainResult<Self::Changes>;

    /// Applies validated changes; answers whether they ask for any change at all (an empty
    /// update writes nothing).
    fn apply(fields: &mut Self::Fields, changes: &Self::Changes) -> bool;

    /// Rules across fields that a partial update could break (a provider that needs a URL,
    /// say), checked on the row as it would be written. [`Resource::validate`] checks them on
    /// a create itself.
    fn check(fields: &Self::Fields) -> DomainResult<()> {
        let _ = fields;
        Ok(())
    }

    /// The fields the audit trail may record (never secrets).
    fn audit_fields(fields: &Self::Fields) -> Map<String, Value>;
}

/// Sets `field` to `value` if a partial update gives one; answers whether it did. What a
/// [`Resource::apply`] does for each field of a patch.
pub fn set_if_given<T: Clone>(field: &mut T, value: &Option<T>) -> bool {
    value.as_ref().map(|v| field.clone_from(v)).is_some()
}

/// The audit actions every resource records, named `<resource>.<action>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A row was created.
    Created,
    /// A row's fields changed.
    Updated,
    /// A row was soft-deleted.
    Deleted,
    /// A soft-deleted row was brought back.
    Restored,
    /// Soft-deleted rows past retention were removed for good.
    Purged,
}

impl Action {
    /// The verb, as recorded after the resource's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
            Self::Restored => "restored",
            Self::Purged => "purged",
        }
    }

    /// The recorded action of resource `R`, e.g. `project.created`.
    pub fn of<R: Resource>(self) -> String {
        format!("{}.{}", R::NAME, self.as_str())
    }
}

/// One stored row of a resource: its own fields and the lifecycle every tenant resource
/// shares. It dereferences to the fields, so `project.name` reads the project's name.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<R: Resource> {
    /// The row's id.
    pub id: R::Id,
    /// The owning organization; always the scope's that stored it.
    pub organization_id: OrganizationId,
    /// The resource's own fields.
    pub fields: R::Fields,
    /// The user (or the creator of the API key) who created it.
    pub created_by: UserId,
    /// Creation time (UTC).
    pub created_at: DateTime<Utc>,
    /// Last change (UTC).
    pub updated_at: DateTime<Utc>,
    /// Incremented by every change; clients send it back in `If-Match`.
    pub version: i64,
    /// When it was soft-deleted, if it was.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Who soft-deleted it.
    pub deleted_by: Option<UserId>,
}

impl<R: Resource> Record<R> {
    /// A new row (version 1) of `organization_id`, created now by `created_by`.
    pub fn new(organization_id: OrganizationId, created_by: UserId, fields: R::Fields) -> Self {
        let now = crate::now();
        Self {
            id: R::Id::generate(),
            organization_id,
            fields,
            created_by,
            created_at: now,
            updated_at: now,
            version: 1,
            deleted_at: None,
            deleted_by: None,
        }
    }

    /// The same row as the next version, changed at `now`.
    pub(crate) fn next_version(&self, now: DateTime<Utc>) -> Self {
        Self {
            version: self.version + 1,
            updated_at: now,
            ..self.clone()
        }
    }
}

impl<R: Resource> Deref for Record<R> {
    type Target = R::Fields;

    fn deref(&self) -> &R::Fields {
        &self.fields
    }
}

impl<R: Resource> DerefMut for Record<R> {
    fn deref_mut(&mut self) -> &mut R::Fields {
        &mut self.fields
    }
}

impl<R: Resource> Auditable for Record<R> {
    const RESOURCE_TYPE: &'static str = R::NAME;

    fn audit_id(&self) -> String {
        self.id.to_string()
    }

    fn audit_fields(&self) -> Map<String, Value> {
        let mut fields = R::audit_fields(&self.fields);
        fields.insert("created_by".into(), self.created_by.to_string().into());
        fields
    }
}

/// Which rows a lookup may find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowState {
    /// Rows that are not soft-deleted (what every client read sees).
    Live,
    /// Soft-deleted rows only (what a restore looks for).
    Deleted,
}

/// A validated sort order: one of the resource's sort fields, and a direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    /// The field's name (`created_at` or one of [`Resource::SORTS`]).
    pub field: &'static str,
    /// Whether the order is descending.
    pub descending: bool,
}

impl Sort {
    /// The sort field every resource has.
    pub const CREATED_AT: &'static str = "created_at";

    /// Parses `field` or `-field` (descending) against `R`'s allowlist.
    pub fn parse<R: Resource>(raw: &str) -> DomainResult<Self> {
        let (descending, name) = match raw.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, raw),
        };
        let field = std::iter::once(Self::CREATED_AT)
            .chain(R::SORTS.iter().copied())
            .find(|field| *field == name)
            .ok_or_else(|| {
                let allowed: Vec<String> = std::iter::once(Self::CREATED_AT)
                    .chain(R::SORTS.iter().copied())
                    .flat_map(|f| [f.to_owned(), format!("-{f}")])
                    .collect();
                DomainError::invalid(
                    "sort",
                    "allowlist",
                    format!("sort must be one of {}", allowed.join(", ")),
                )
            })?;
        Ok(Self { field, descending })
    }
}

impl Default for Sort {
    /// Newest first.
    fn default() -> Self {
        Self {
            field: Self::CREATED_AT,
            descending: true,
        }
    }
}

/// Raw list parameters every resource takes, as a client sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    /// Page size (1 to 100, default 20).
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    pub offset: Option<i64>,
    /// Case-insensitive search text.
    pub q: Option<String>,
    /// `field` or `-field` (default `-created_at`).
    pub sort: Option<String>,
    /// List soft-deleted rows too (needs the resource's delete permission).
    pub include_deleted: bool,
}

/// A validated list query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery<F> {
    /// Which page.
    pub page: PageRequest,
    /// Case-insensitive substring to search for, if any.
    pub search: Option<String>,
    /// The order.
    pub sort: Sort,
    /// Whether soft-deleted rows are listed too.
    pub include_deleted: bool,
    /// The resource's own filters.
    pub filter: F,
}

impl ListParams {
    /// Validates the parameters for resource `R`, reporting every bad one at once.
    pub fn parse<R: Resource>(self, filter: R::Filter) -> DomainResult<ListQuery<R::Filter>> {
        let mut v = Validator::new();
        let page = v.check(PageRequest::parse(self.limit, self.offset));
        let sort = v.check(self.sort.as_deref().map(Sort::parse::<R>).transpose());
        let search = v.check(
            self.q
                .as_deref()
                .map(|raw| crate::text::bounded("q", raw, 0, R::MAX_SEARCH_CHARS))
                .transpose(),
        );
        let (page, sort, search) = v.values((page, sort, search))?;
        Ok(ListQuery {
            page,
            search: search.filter(|q| !q.is_empty()),
            sort: sort.unwrap_or_default(),
            include_deleted: self.include_deleted,
            filter,
        })
    }
}
