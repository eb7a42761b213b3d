//! The steps every resource's use cases repeat: the audited permission check, list validation,
//! the version check and the audit entry of each write.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use serde_json::json;

use super::model::{Action, ListParams, Record, Resource, RowState};
use super::port::TenantRepository;
use crate::audit::{AuditEntry, AuditRepository};
use crate::error::{DomainError, DomainResult};
use crate::ids::ResourceId;
use crate::page::Page;
use crate::scope::{Permission, TenantScope};

/// The generic use cases of resource `R`. An aggregate's service holds one and adds its own
/// rules: validation of its fields, and any permission rule beyond `R`'s three permissions.
pub struct Resources<R: Resource> {
    repo: Arc<dyn TenantRepository<R>>,
    audit: Arc<dyn AuditRepository>,
}

impl<R: Resource> Clone for Resources<R> {
    fn clone(&self) -> Self {
        Self {
            repo: self.repo.clone(),
            audit: self.audit.clone(),
        }
    }
}

impl<R: Resource> Resources<R> {
    /// Builds the use cases on their repository; refusals are recorded through `audit`.
    pub fn new(repo: Arc<dyn TenantRepository<R>>, audit: Arc<dyn AuditRepository>) -> Self {
        Self { repo, audit }
    }

    /// Fails with [`DomainError::Forbidden`] unless the scope holds `permission`, recording
    /// the refusal in the audit trail.
    pub async fn authorize(&self, scope: &TenantScope, permission: Permission) -> DomainResult<()> {
        scope.authorize(&*self.audit, permission).await
    }

    /// Creates a row in the scope's organization, created by the acting user (needs
    /// [`Resource::WRITE`], checked before the input is).
    pub async fn create(&self, scope: &TenantScope, input: R::Create) -> DomainResult<Record<R>> {
        self.authorize(scope, R::WRITE).await?;
        let fields = R::validate(input)?;
        self.insert(scope, fields).await
    }

    /// Stores a new row of validated `fields`, for a caller that has already authorized the
    /// scope and checked what the kit cannot (a rule that needs a port of its own).
    pub async fn insert(&self, scope: &TenantScope, fields: R::Fields) -> DomainResult<Record<R>> {
        self.insert_as(scope, R::Id::generate(), fields).await
    }

    /// [`Resources::insert`] under an id chosen beforehand (a document's, which names its
    /// stored bytes before its row exists).
    pub async fn insert_as(
        &self,
        scope: &TenantScope,
        id: R::Id,
        fields: R::Fields,
    ) -> DomainResult<Record<R>> {
        let created_by = scope.author().ok_or(DomainError::Unauthorized)?;
        let mut record = Record::new(scope.organization_id(), created_by, fields);
        record.id = id;
        let entry = AuditEntry::created(&Action::Created.of::<R>(), &record);
        self.repo.insert(scope, &record, entry).await?;
        Ok(record)
    }

    /// One page of the organization's rows (needs [`Resource::READ`], and
    /// [`Resource::DELETE`] to include deleted ones). Bad parameters are reported together,
    /// before anything is read.
    pub async fn list(
        &self,
        scope: &TenantScope,
        params: ListParams,
        filter: R::Filter,
    ) -> DomainResult<Page<Record<R>>> {
        self.authorize(scope, R::READ).await?;
        if params.include_deleted {
            self.authorize(scope, R::DELETE).await?;
        }
        let query = params.parse::<R>(filter)?;
        self.repo.list(scope, &query).await
    }

    /// One live row (needs [`Resource::READ`]).
    pub async fn get(&self, scope: &TenantScope, id: R::Id) -> DomainResult<Record<R>> {
        self.authorize(scope, R::READ).await?;
        self.repo.get(scope, id, RowState::Live).await
    }

    /// Applies a partial update to a live row (needs [`Resource::WRITE`], checked before the
    /// input is); see [`Resources::patch`].
    pub async fn update(
        &self,
        scope: &TenantScope,
        id: R::Id,
        patch: R::Patch,
        expected_version: Option<i64>,
    ) -> DomainResult<Record<R>> {
        self.authorize(scope, R::WRITE).await?;
        self.patch(scope, id, patch, expected_version).await
    }

    /// Applies a partial update to a live row for a caller that has already decided the scope
    /// may (an aggregate with an edit rule of its own). With `expected_version` (from
    /// `If-Match`), a row changed meanwhile is [`DomainError::PreconditionFailed`]; an empty
    /// update writes nothing but still checks it.
    pub async fn patch(
        &self,
        scope: &TenantScope,
        id: R::Id,
        patch: R::Patch,
        expected_version: Option<i64>,
    ) -> DomainResult<Record<R>> {
        let changes = R::changes(patch)?;
        self.apply_changes(scope, id, changes, expected_version)
            .await
    }

    /// Applies validated changes to a live row, for a caller that has already decided the
    /// scope may and checked what the kit cannot; see [`Resources::patch`].
    pub async fn apply_changes(
        &self,
        scope: &TenantScope,
        id: R::Id,
        changes: R::Changes,
        expected_version: Option<i64>,
    ) -> DomainResult<Record<R>> {
        self.write(
            scope,
            id,
            RowState::Live,
            expected_version,
            move |current| {
                let mut next = current.next_version(crate::now());
                if !R::apply(&mut next.fields, &changes) {
                    return Ok(None);
                }
                R::check(&next.fields)?;
                let entry = AuditEntry::updated(&Action::Updated.of::<R>(), current, &next);
                Ok(Some((next, entry)))
            },
        )
        .await
    }

    /// One of the resource's own actions on a live row (pause, activate, ...): needs
    /// `permission`, checks `expected_version` like [`Resources::patch`], and records
    /// `<resource>.<verb>` with what changed. `step` changes the fields while the row is held
    /// and answers whether anything changed (nothing is written otherwise), or refuses the
    /// action (a [`DomainError::Conflict`] for a state it does not apply to, say).
    pub async fn act(
        &self,
        scope: &TenantScope,
        id: R::Id,
        permission: Permission,
        expected_version: Option<i64>,
        verb: &'static str,
        step: impl Fn(&mut R::Fields) -> DomainResult<bool> + Send + Sync + 'static,
    ) -> DomainResult<Record<R>> {
        self.authorize(scope, permission).await?;
        self.transition(scope, id, expected_version, verb, step)
            .await
    }

    /// [`Resources::act`] for a caller that has already decided the scope may (a rule beyond
    /// one permission, such as a project's maintainers deciding on its work).
    pub async fn transition(
        &self,
        scope: &TenantScope,
        id: R::Id,
        expected_version: Option<i64>,
        verb: &'static str,
        step: impl Fn(&mut R::Fields) -> DomainResult<bool> + Send + Sync + 'static,
    ) -> DomainResult<Record<R>> {
        self.write(
            scope,
            id,
            RowState::Live,
            expected_version,
            move |current| {
                let mut next = current.next_version(crate::now());
                if !step(&mut next.fields)? {
                    return Ok(None);
                }
                let entry = AuditEntry::updated(&format!("{}.{verb}", R::NAME), current, &next);
                Ok(Some((next, entry)))
            },
        )
        .await
    }

    /// Soft-deletes a live row (needs [`Resource::DELETE`]); it then reads as missing. The
    /// same version check as [`Resources::patch`].
    pub async fn delete(
        &self,
        scope: &TenantScope,
        id: R::Id,
        expected_version: Option<i64>,
    ) -> DomainResult<Record<R>> {
        self.authorize(scope, R::DELETE).await?;
        let author = scope.author();
        self.write(
            scope,
            id,
            RowState::Live,
            expected_version,
            move |current| {
                let now = crate::now();
                let mut next = current.next_version(now);
                next.deleted_at = Some(now);
                next.deleted_by = author;
                let entry = AuditEntry::deleted(&Action::Deleted.of::<R>(), current);
                Ok(Some((next, entry)))
            },
        )
        .await
    }

    /// Brings back a soft-deleted row (needs [`Resource::DELETE`]);
    /// [`DomainError::Conflict`] if a unique field was taken meanwhile.
    pub async fn restore(&self, scope: &TenantScope, id: R::Id) -> DomainResult<Record<R>> {
        self.authorize(scope, R::DELETE).await?;
        self.write(scope, id, RowState::Deleted, None, |current| {
            let mut next = current.next_version(crate::now());
            next.deleted_at = None;
            next.deleted_by = None;
            let entry = AuditEntry::created(&Action::Restored.of::<R>(), &next);
            Ok(Some((next, entry)))
        })
        .await
    }

    /// Removes for good the rows deleted longer than `retention` ago (needs
    /// [`Resource::DELETE`]; the purge task holds it); returns how many.
    pub async fn purge(&self, scope: &TenantScope, retention: Duration) -> DomainResult<u64> {
        self.authorize(scope, R::DELETE).await?;
        let cutoff = crate::now() - retention;
        let entry = AuditEntry::event(
            &Action::Purged.of::<R>(),
            R::NAME,
            None,
            json!({ "deleted_before": cutoff.to_rfc3339() }),
        );
        self.repo.purge_deleted_before(scope, cutoff, entry).await
    }

    /// Checks the row's version and writes what `next` makes of it, in one unit of work with
    /// the row locked, so nobody changes it in between.
    async fn write(
        &self,
        scope: &TenantScope,
        id: R::Id,
        state: RowState,
        expected_version: Option<i64>,
        next: impl Fn(&Record<R>) -> DomainResult<Option<(Record<R>, AuditEntry)>>
        + Send
        + Sync
        + 'static,
    ) -> DomainResult<Record<R>> {
        let change = move |current: &Record<R>| {
            if expected_version.is_some_and(|expected| expected != current.version) {
                return Err(DomainError::PreconditionFailed);
            }
            next(current)
        };
        self.repo.change(scope, id, state, &change).await
    }
}

/// A resource whose soft-deleted rows are purged after retention: what the purge job runs
/// over, whatever the resource.
#[async_trait]
pub trait Purgeable: Send + Sync {
    /// The resource's name.
    fn resource(&self) -> &'static str;

    /// Removes for good the rows deleted longer than `retention` ago; returns how many.
    async fn purge(&self, scope: &TenantScope, retention: Duration) -> DomainResult<u64>;
}

#[async_trait]
impl<R: Resource> Purgeable for Resources<R> {
    fn resource(&self) -> &'static str {
        R::NAME
    }

    async fn purge(&self, scope: &TenantScope, retention: Duration) -> DomainResult<u64> {
        Resources::purge(self, scope, retention).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::{Map, Value};

    use super::*;
    use crate::audit::MockAuditRepository;
    use crate::ids::{OrganizationId, ProjectId, UserId};
    use crate::resource::MockTenantRepository;
    use crate::resource::model::Sort;
    use crate::scope::{Role, SystemTask};

    /// A resource of the tests' own, so that the kit is shown to be generic.
    #[derive(Debug, Clone, PartialEq)]
    struct Notes;

    impl Resource for Notes {
        type Id = ProjectId;
        type Fields = String;
        type Filter = ();
        type Create = String;
        type Patch = Option<String>;
        type Changes = Option<String>;
        const NAME: &'static str = "note";
        const READ: Permission = Permission::ProjectsRead;
        const WRITE: Permission = Permission::ProjectsWrite;
        const DELETE: Permission = Permission::ProjectsDelete;
        const SORTS: &'static [&'static str] = &["text"];

        fn validate(input: String) -> DomainResult<String> {
            crate::text::bounded("text", &input, 1, 10)
        }

        fn changes(patch: Option<String>) -> DomainResult<Option<String>> {
            patch.map(Self::validate).transpose()
        }

        fn apply(fields: &mut String, changes: &Option<String>) -> bool {
            if let Some(text) = changes {
                fields.clone_from(text);
            }
            changes.is_some()
        }

        fn audit_fields(fields: &String) -> Map<String, Value> {
            Map::from_iter([("text".to_owned(), fields.clone().into())])
        }
    }

    fn scope(role: Role) -> TenantScope {
        TenantScope::authenticated(OrganizationId::new(), UserId::new(), role)
    }

    fn notes(repo: MockTenantRepository<Notes>) -> Resources<Notes> {
        let mut audit = MockAuditRepository::new();
        audit.expect_record().returning(|_, _| Ok(()));
        Resources::new(Arc::new(repo), Arc::new(audit))
    }

    fn stored(scope: &TenantScope, version: i64) -> Record<Notes> {
        let mut record = Record::new(scope.organization_id(), UserId::new(), "hello".to_owned());
        record.version = version;
        record
    }

    #[tokio::test]
    async fn create_stamps_the_scope_organization_and_creator_and_audits_it() {
        let scope = scope(Role::Member);
        let (org, user) = (scope.organization_id(), scope.user_id());
        let mut repo = MockTenantRepository::<Notes>::new();
        repo.expect_insert()
            .withf(move |s, r, e| {
                s.organization_id() == org
                    && r.organization_id == org
                    && Some(r.created_by) == user
                    && r.version == 1
                    && e.action == "note.created"
                    && e.resource_id == Some(r.id.to_string())
            })
            .times(1)
            .returning(|_, _, _| Ok(()));
        let note = notes(repo)
            .create(&scope, "hi".into())
            .await
            .expect("created");
        assert_eq!(note.fields, "hi");
    }

    #[tokio::test]
    async fn each_operation_needs_its_permission_and_a_refusal_touches_nothing() {
        let mut repo = MockTenantRepository::<Notes>::new();
        repo.expect_insert().never();
        repo.expect_change().never();
        repo.expect_purge_deleted_before().never();
        let notes = notes(repo);
        let viewer = scope(Role::Viewer);
        let member = scope(Role::Member);
        let id = ProjectId::new();
        let forbidden = |r: DomainResult<Record<Notes>>, p| {
            assert!(
                matches!(r, Err(DomainError::Forbidden(q)) if q == p),
                "{r:?}"
            );
        };
        forbidden(
            notes.create(&viewer, "x".into()).await,
            Permission::ProjectsWrite,
        );
        forbidden(
            notes.update(&viewer, id, Some("x".into()), None).await,
            Permission::ProjectsWrite,
        );
        forbidden(
            notes.delete(&member, id, None).await,
            Permission::ProjectsDelete,
        );
        forbidden(notes.restore(&member, id).await, Permission::ProjectsDelete);
        let listed = notes
            .list(
                &member,
                ListParams {
                    include_deleted: true,
                    ..Default::default()
                },
                (),
            )
            .await;
        assert!(matches!(
            listed,
            Err(DomainError::Forbidden(Permission::ProjectsDelete))
        ));
        assert!(matches!(
            notes.purge(&member, Duration::days(1)).await,
            Err(DomainError::Forbidden(Permission::ProjectsDelete))
        ));
    }

    #[tokio::test]
    async fn refusals_are_recorded_in_the_audit_trail() {
        let mut audit = MockAuditRepository::new();
        audit
            .expect_record()
            .withf(|_, e| {
                e.action == "permission.denied"
                    && e.resource_id.as_deref() == Some("projects:write")
            })
            .times(1)
            .returning(|_, _| Ok(()));
        let mut repo = MockTenantRepository::<Notes>::new();
        repo.expect_insert().never();
        let notes = Resources::new(Arc::new(repo), Arc::new(audit));
        let err = notes.create(&scope(Role::Viewer), "x".into()).await;
        assert!(matches!(err, Err(DomainError::Forbidden(_))));
    }

    #[tokio::test]
    async fn list_reports_every_bad_parameter_before_querying() {
        let mut repo = MockTenantRepository::<Notes>::new();
        repo.expect_list().never();
        let err = notes(repo)
            .list(
                &scope(Role::Owner),
                ListParams {
                    limit: Some(500),
                    offset: Some(-1),
                    q: Some("x".repeat(201)),
                    sort: Some("organization_id".into()),
                    include_deleted: false,
                },
                (),
            )
            .await;
        let Err(DomainError::Validation(errors)) = err else {
            panic!("expected validation error, got {err:?}")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["limit", "offset", "sort", "q"]);
    }

    #[tokio::test]
    async fn list_passes_search_sort_and_page_through() {
        let mut repo = MockTenantRepository::<Notes>::new();
        repo.expect_list()
            .withf(|_, q| {
                q.search.as_deref() == Some("apo")
                    && q.sort
                        == Sort {
                            field: "text",
                            descending: true,
                        }
                    && q.page.limit() == 5
                    && q.include_deleted
            })
            .times(1)
            .returning(|_, q| {
                Ok(Page {
                    items: vec![],
                    total: 0,
                    request: q.page,
                })
            });
        let params = ListParams {
            limit: Some(5),
            q: Some(" apo ".into()),
            sort: Some("-text".into()),
            include_deleted: true,
            ..Default::default()
        };
        let page = notes(repo)
            .list(&scope(Role::Admin), params, ())
            .await
            .expect("listed");
        assert_eq!(page.total, 0);
    }

    #[test]
    fn sort_accepts_only_the_allowlist() {
        assert_eq!(
            Sort::parse::<Notes>("-text").ok(),
            Some(Sort {
                field: "text",
                descending: true
            })
        );
        assert!(Sort::parse::<Notes>("created_at").is_ok());
        assert!(Sort::parse::<Notes>("organization_id").is_err());
        assert!(Sort::parse::<Notes>("--text").is_err());
    }

    /// What a repository wrote through `change`.
    type Written = Arc<Mutex<Vec<(Record<Notes>, AuditEntry)>>>;

    /// A repository holding `live` and `deleted` rows that applies a change the way the
    /// adapter does, and keeps what it wrote.
    fn applying(
        live: Option<Record<Notes>>,
        deleted: Option<Record<Notes>>,
    ) -> (MockTenantRepository<Notes>, Written) {
        let written = Written::default();
        let kept = written.clone();
        let mut repo = MockTenantRepository::<Notes>::new();
        repo.expect_change().returning(move |_, _, state, change| {
            let current = match state {
                RowState::Live => live.clone(),
                RowState::Deleted => deleted.clone(),
            }
            .ok_or(DomainError::NotFound)?;
            match change.next(&current)? {
                Some((next, entry)) => {
                    kept.lock()
                        .expect("not poisoned")
                        .push((next.clone(), entry));
                    Ok(next)
                }
                None => Ok(current),
            }
        });
        (repo, written)
    }

    #[tokio::test]
    async fn update_writes_the_next_version_with_a_diff() {
        let scope = scope(Role::Member);
        let current = stored(&scope, 4);
        let id = current.id;
        let (repo, written) = applying(Some(current), None);
        let updated = notes(repo)
            .update(&scope, id, Some("bye".into()), Some(4))
            .await
            .expect("updated");
        assert_eq!((updated.version, updated.fields.as_str()), (5, "bye"));
        let written = written.lock().expect("not poisoned");
        let [(record, entry)] = written.as_slice() else {
            panic!("one write expected, got {written:?}")
        };
        assert_eq!(record, &updated);
        assert_eq!(entry.action, "note.updated");
        assert_eq!(entry.changes["before"]["text"], "hello");
        assert_eq!(entry.changes["after"]["text"], "bye");
    }

    #[tokio::test]
    async fn a_stale_version_fails_and_an_empty_change_writes_nothing() {
        let scope = scope(Role::Member);
        let current = stored(&scope, 4);
        let id = current.id;
        let (repo, written) = applying(Some(current), None);
        let notes = notes(repo);
        let stale = notes.update(&scope, id, Some("x".into()), Some(3)).await;
        assert!(matches!(stale, Err(DomainError::PreconditionFailed)));
        let empty = notes.update(&scope, id, None, Some(4)).await;
        assert_eq!(empty.expect("current").version, 4);
        let invalid = notes.update(&scope, id, Some(String::new()), None).await;
        assert!(matches!(invalid, Err(DomainError::Validation(_))));
        assert!(written.lock().expect("not poisoned").is_empty());
    }

    #[tokio::test]
    async fn delete_and_restore_move_the_row_between_states() {
        let scope = scope(Role::Admin);
        let live = stored(&scope, 2);
        let id = live.id;
        let mut deleted = live.clone();
        deleted.deleted_at = Some(crate::now());
        deleted.version = 3;
        let (repo, written) = applying(Some(live), Some(deleted));
        let notes = notes(repo);
        let gone = notes.delete(&scope, id, Some(2)).await.expect("deleted");
        assert_eq!(gone.version, 3);
        assert!(gone.deleted_at.is_some());
        assert_eq!(gone.deleted_by, scope.user_id());
        let back = notes.restore(&scope, id).await.expect("restored");
        assert!(back.deleted_at.is_none() && back.deleted_by.is_none());
        assert_eq!(back.version, 4);
        let actions: Vec<_> = written
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|(_, entry)| entry.action.clone())
            .collect();
        assert_eq!(actions, ["note.deleted", "note.restored"]);
    }

    #[tokio::test]
    async fn purge_runs_as_a_system_task_with_a_cutoff_in_the_past() {
        let mut repo = MockTenantRepository::<Notes>::new();
        repo.expect_purge_deleted_before()
            .withf(|_, cutoff, e| {
                *cutoff < crate::now() - Duration::days(29) && e.action == "note.purged"
            })
            .times(1)
            .returning(|_, _, _| Ok(2));
        let scope = TenantScope::system(OrganizationId::new(), SystemTask::Purge);
        let purged: &dyn Purgeable = &notes(repo);
        assert_eq!(purged.resource(), "note");
        assert_eq!(
            purged
                .purge(&scope, Duration::days(30))
                .await
                .expect("purged"),
            2
        );
    }
}
