//! Reading, exporting and verifying the audit trail; recording refusals.

use std::sync::Arc;

use super::model::{AuditEntry, AuditEvent, AuditQuery, ChainReport};
use super::port::AuditRepository;
use crate::error::{DomainResult, Validator};
use crate::page::{Page, PageRequest};
use crate::scope::{Permission, RefusalLog, TenantScope};

/// Raw list filters, as a client sent them.
#[derive(Debug, Clone, Default)]
pub struct ListAuditEvents {
    /// Page size (1 to 100, default 20).
    pub limit: Option<i64>,
    /// Items to skip.
    pub offset: Option<i64>,
    /// Only this actor (user id or system task name).
    pub actor_id: Option<String>,
    /// Only this action (`project.updated`).
    pub action: Option<String>,
    /// Only this resource type.
    pub resource_type: Option<String>,
    /// Only this resource id.
    pub resource_id: Option<String>,
    /// RFC 3339; only events at or after it.
    pub since: Option<String>,
    /// RFC 3339; only events before it.
    pub until: Option<String>,
}

/// Every audit trail records refusals: a failure to record one is logged by the adapter and
/// does not change the refusal.
#[async_trait::async_trait]
impl<T: AuditRepository + ?Sized> RefusalLog for T {
    async fn permission_denied(&self, scope: &TenantScope, permission: Permission) {
        let _ = self
            .record(scope, AuditEntry::permission_denied(permission))
            .await;
    }
}

/// The audit use cases.
#[derive(Clone)]
pub struct AuditService {
    repo: Arc<dyn AuditRepository>,
}

impl AuditService {
    /// How many events verification and export read at a time.
    pub const BATCH: u64 = 500;

    /// Builds the service.
    pub fn new(repo: Arc<dyn AuditRepository>) -> Self {
        Self { repo }
    }

    /// Lists events, newest first.
    pub async fn list(
        &self,
        scope: &TenantScope,
        input: ListAuditEvents,
    ) -> DomainResult<Page<AuditEvent>> {
        scope.authorize(&*self.repo, Permission::AuditRead).await?;
        let mut v = Validator::new();
        let page = v.check(PageRequest::parse(input.limit, input.offset));
        let since = v.check(crate::parse_time("since", input.since.as_deref()));
        let until = v.check(crate::parse_time("until", input.until.as_deref()));
        let (page, since, until) = v.values((page, since, until))?;
        let text =
            |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let query = AuditQuery {
            page,
            actor_id: text(input.actor_id),
            action: text(input.action),
            resource_type: text(input.resource_type),
            resource_id: text(input.resource_id),
            since,
            until,
        };
        self.repo.list(scope, &query).await
    }

    /// Up to [`Self::BATCH`] events after `after_seq`, in chain order, for export.
    pub async fn export_batch(
        &self,
        scope: &TenantScope,
        after_seq: i64,
    ) -> DomainResult<Vec<AuditEvent>> {
        scope.authorize(&*self.repo, Permission::AuditRead).await?;
        self.repo.chain_after(scope, after_seq, Self::BATCH).await
    }

    /// Walks the whole chain: every event must hash to its stored digest, link to the previous
    /// one, and sit at the next position.
    pub async fn verify(&self, scope: &TenantScope) -> DomainResult<ChainReport> {
        scope.authorize(&*self.repo, Permission::AuditRead).await?;
        let mut checked = 0u64;
        let mut expected_seq = 1i64;
        let mut prev_hash = String::new();
        loop {
            let batch = self
                .repo
                .chain_after(scope, expected_seq - 1, Self::BATCH)
                .await?;
            if batch.is_empty() {
                return Ok(ChainReport {
                    intact: true,
                    events_checked: checked,
                    first_broken: None,
                });
            }
            for event in batch {
                checked += 1;
                let intact = event.seq == expected_seq
                    && event.prev_hash == prev_hash
                    && event.hash == event.compute_hash()
                    && event.organization_id == scope.organization_id();
                if !intact {
                    return Ok(ChainReport {
                        intact: false,
                        events_checked: checked,
                        first_broken: Some((event.id, event.seq)),
                    });
                }
                prev_hash = event.hash;
                expected_seq += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::audit::port::MockAuditRepository;
    use crate::error::DomainError;
    use crate::ids::{OrganizationId, UserId};
    use crate::scope::Role;

    fn scope(role: Role) -> TenantScope {
        TenantScope::authenticated(OrganizationId::new(), UserId::new(), role)
    }

    fn chain(scope: &TenantScope, n: i64) -> Vec<AuditEvent> {
        let mut events = Vec::new();
        let mut prev = String::new();
        for seq in 1..=n {
            let entry = AuditEntry::event("test.event", "test", Some(seq.to_string()), Value::Null);
            let event = AuditEvent::seal(scope, entry, seq, prev, crate::now());
            prev = event.hash.clone();
            events.push(event);
        }
        events
    }

    fn serve(events: Vec<AuditEvent>) -> MockAuditRepository {
        let mut repo = MockAuditRepository::new();
        repo.expect_chain_after().returning(move |_, after, limit| {
            Ok(events
                .iter()
                .filter(|e| e.seq > after)
                .take(limit as usize)
                .cloned()
                .collect())
        });
        repo
    }

    #[tokio::test]
    async fn an_untouched_chain_verifies() {
        let scope = scope(Role::Owner);
        let service = AuditService::new(Arc::new(serve(chain(&scope, 3))));
        let report = service.verify(&scope).await.expect("verified");
        assert_eq!(
            report,
            ChainReport {
                intact: true,
                events_checked: 3,
                first_broken: None
            }
        );
    }

    #[tokio::test]
    async fn an_edited_removed_or_reordered_event_is_found() {
        let scope = scope(Role::Admin);
        let mut edited = chain(&scope, 4);
        edited[1].action = "project.innocent".into();
        let expected = Some((edited[1].id, 2));
        let report = AuditService::new(Arc::new(serve(edited)))
            .verify(&scope)
            .await
            .expect("ran");
        assert!(!report.intact);
        assert_eq!(report.first_broken, expected);

        let mut removed = chain(&scope, 4);
        removed.remove(2);
        let expected = Some((removed[2].id, 4));
        let report = AuditService::new(Arc::new(serve(removed)))
            .verify(&scope)
            .await
            .expect("ran");
        assert_eq!(report.first_broken, expected);

        // Rewriting an event and recomputing its own hash still breaks the next link.
        let mut rehashed = chain(&scope, 3);
        rehashed[0].action = "rewritten".into();
        rehashed[0].hash = rehashed[0].compute_hash();
        let expected = Some((rehashed[1].id, 2));
        let report = AuditService::new(Arc::new(serve(rehashed)))
            .verify(&scope)
            .await
            .expect("ran");
        assert_eq!(report.first_broken, expected);
    }

    #[tokio::test]
    async fn members_cannot_read_the_trail_and_the_refusal_is_recorded() {
        let mut repo = MockAuditRepository::new();
        repo.expect_record()
            .withf(|_, entry| {
                entry.action == "permission.denied"
                    && entry.resource_id.as_deref() == Some("audit:read")
            })
            .times(1)
            .returning(|_, _| Ok(()));
        repo.expect_list().never();
        let err = AuditService::new(Arc::new(repo))
            .list(&scope(Role::Member), ListAuditEvents::default())
            .await;
        assert!(matches!(
            err,
            Err(DomainError::Forbidden(Permission::AuditRead))
        ));
    }

    #[tokio::test]
    async fn list_validates_times() {
        let mut repo = MockAuditRepository::new();
        repo.expect_list().never();
        let err = AuditService::new(Arc::new(repo))
            .list(
                &scope(Role::Owner),
                ListAuditEvents {
                    since: Some("yesterday".into()),
                    ..Default::default()
                },
            )
            .await;
        assert!(
            matches!(err, Err(DomainError::Validation(ref e)) if e[0].field == "since"),
            "{err:?}"
        );
    }
}
