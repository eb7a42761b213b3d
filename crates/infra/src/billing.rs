//! Billing in SQL: each organization's subscription, its checkouts, invoices and usage, and
//! the queue of Stripe's events (see migration 21 for the tables and their policies).

use async_trait::async_trait;
use bulkhead_domain::audit::AuditEntry;
use bulkhead_domain::billing::{
    BillingRepository, Invoice, QueuedEvent, Settlement, StripeEvent, StripeReferences,
    Subscription, SubscriptionStatus,
};
use bulkhead_domain::page::{Page, PageRequest};
use bulkhead_domain::{DomainError, DomainResult, OrganizationId, Quota, TenantScope};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, QueryResult, Value};
use serde_json::json;
use uuid::Uuid;

use crate::error::{corrupt, to_domain};
use crate::quotas::{number, statement};
use crate::store::Store;
use crate::tx::{OrgTx, set_local, set_tenant};

/// The subscription's columns, in the order [`subscription_from`] reads them.
const SUBSCRIPTION_COLUMNS: &str = "organization_id, plan, status, current_period_start, \
    current_period_end, cancel_at_period_end, stripe_customer_id, stripe_subscription_id, \
    delinquent_since, read_only_from, event_at, version, updated_at";

const INVOICE_COLUMNS: &str = "id, number, status, amount_due, amount_paid, currency, \
    hosted_invoice_url, period_start, period_end, event_at";

/// Billing's repository.
#[derive(Clone)]
pub struct SqlBillingRepository {
    store: Store,
}

impl SqlBillingRepository {
    /// Builds the repository.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Puts every event left failed after its last attempt back in the queue, its attempts
    /// counted afresh; answers how many. A maintenance statement for `bulkhead
    /// retry-billing-events`, run on the owner's connection: row-level security hides every
    /// organization's events from the application role without a tenant set.
    pub async fn retry_failed_events(&self) -> DomainResult<u64> {
        let db = self.store.connection();
        let done = db
            .execute_raw(statement(
                db.get_database_backend(),
                "UPDATE billing_events SET status = 'pending', attempts = 0, available_at = $1, \
                 last_error = NULL WHERE status = 'failed'",
                [bulkhead_domain::now().into()],
            ))
            .await
            .map_err(to_domain)?;
        Ok(done.rows_affected())
    }
}

fn subscription_from(row: &QueryResult) -> DomainResult<Subscription> {
    let get = |i: usize| row.try_get_by_index::<Option<DateTime<Utc>>>(i);
    let status: String = row.try_get_by_index(2).map_err(to_domain)?;
    Ok(Subscription {
        organization_id: OrganizationId::from_uuid(row.try_get_by_index(0).map_err(to_domain)?),
        plan: row.try_get_by_index(1).map_err(to_domain)?,
        status: SubscriptionStatus::parse(&status).ok_or_else(|| {
            DomainError::Internal(format!("unknown subscription status {status}"))
        })?,
        current_period_start: get(3).map_err(to_domain)?,
        current_period_end: get(4).map_err(to_domain)?,
        cancel_at_period_end: row.try_get_by_index(5).map_err(to_domain)?,
        stripe_customer_id: row.try_get_by_index(6).map_err(to_domain)?,
        stripe_subscription_id: row.try_get_by_index(7).map_err(to_domain)?,
        delinquent_since: get(8).map_err(to_domain)?,
        read_only_from: get(9).map_err(to_domain)?,
        event_at: get(10).map_err(to_domain)?,
        version: row.try_get_by_index(11).map_err(to_domain)?,
        updated_at: row.try_get_by_index(12).map_err(to_domain)?,
    })
}

fn invoice_from(row: &QueryResult) -> DomainResult<Invoice> {
    let read = || -> Result<Invoice, sea_orm::TryGetError> {
        Ok(Invoice {
            id: row.try_get_by_index(0)?,
            number: row.try_get_by_index(1)?,
            status: row.try_get_by_index(2)?,
            amount_due: row.try_get_by_index(3)?,
            amount_paid: row.try_get_by_index(4)?,
            currency: row.try_get_by_index(5)?,
            hosted_invoice_url: row.try_get_by_index(6)?,
            period_start: row.try_get_by_index(7)?,
            period_end: row.try_get_by_index(8)?,
            event_at: row.try_get_by_index(9)?,
        })
    };
    read().map_err(|e| DomainError::Internal(format!("unreadable invoice: {e:?}")))
}

async fn load(db: &impl ConnectionTrait, org: OrganizationId) -> DomainResult<Subscription> {
    let row = db
        .query_one_raw(statement(
            db.get_database_backend(),
            &format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM billing_subscriptions WHERE organization_id = $1"
            ),
            [org.as_uuid().into()],
        ))
        .await
        .map_err(to_domain)?
        .ok_or(DomainError::NotFound)?;
    subscription_from(&row)
}

/// Writes `next` over the row at `expected_version`; `false` if it is not at that version.
async fn write(
    db: &impl ConnectionTrait,
    org: OrganizationId,
    next: &Subscription,
    expected_version: i64,
) -> DomainResult<bool> {
    let values: Vec<Value> = vec![
        next.plan.clone().into(),
        next.status.as_str().into(),
        next.current_period_start.into(),
        next.current_period_end.into(),
        next.cancel_at_period_end.into(),
        next.stripe_customer_id.clone().into(),
        next.stripe_subscription_id.clone().into(),
        next.delinquent_since.into(),
        next.read_only_from.into(),
        next.event_at.into(),
        (expected_version + 1).into(),
        bulkhead_domain::now().into(),
        org.as_uuid().into(),
        expected_version.into(),
    ];
    let done = db
        .execute_raw(statement(
            db.get_database_backend(),
            "UPDATE billing_subscriptions SET plan = $1, status = $2, current_period_start = $3, \
             current_period_end = $4, cancel_at_period_end = $5, stripe_customer_id = $6, \
             stripe_subscription_id = $7, delinquent_since = $8, read_only_from = $9, \
             event_at = $10, version = $11, updated_at = $12 \
             WHERE organization_id = $13 AND version = $14",
            values,
        ))
        .await
        .map_err(to_domain)?;
    Ok(done.rows_affected() == 1)
}

/// Writes the invoice unless a newer event already did; `true` if it wrote.
async fn upsert_invoice(
    db: &impl ConnectionTrait,
    org: OrganizationId,
    invoice: &Invoice,
) -> DomainResult<bool> {
    let values: Vec<Value> = vec![
        org.as_uuid().into(),
        invoice.id.clone().into(),
        invoice.number.clone().into(),
        invoice.status.clone().into(),
        invoice.amount_due.into(),
        invoice.amount_paid.into(),
        invoice.currency.clone().into(),
        invoice.hosted_invoice_url.clone().into(),
        invoice.period_start.into(),
        invoice.period_end.into(),
        invoice.event_at.into(),
        bulkhead_domain::now().into(),
    ];
    let done = db
        .execute_raw(statement(
            db.get_database_backend(),
            &format!(
                "INSERT INTO billing_invoices (organization_id, {INVOICE_COLUMNS}, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (organization_id, id) DO UPDATE SET number = excluded.number, \
                 status = excluded.status, amount_due = excluded.amount_due, \
                 amount_paid = excluded.amount_paid, currency = excluded.currency, \
                 hosted_invoice_url = excluded.hosted_invoice_url, \
                 period_start = excluded.period_start, period_end = excluded.period_end, \
                 event_at = excluded.event_at \
                 WHERE billing_invoices.event_at <= excluded.event_at"
            ),
            values,
        ))
        .await
        .map_err(to_domain)?;
    Ok(done.rows_affected() > 0)
}

#[async_trait]
impl BillingRepository for SqlBillingRepository {
    async fn subscription(&self, scope: &TenantScope) -> DomainResult<Subscription> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let found = load(&*tx, scope.organization_id()).await;
        tx.finish_read().await?;
        found
    }

    async fn save(
        &self,
        scope: &TenantScope,
        next: &Subscription,
        expected_version: i64,
        entry: AuditEntry,
    ) -> DomainResult<()> {
        let tx = OrgTx::begin_exempt(&self.store, scope).await?;
        if !write(&*tx, scope.organization_id(), next, expected_version).await? {
            return Err(DomainError::PreconditionFailed);
        }
        tx.audit(scope, entry).await?;
        tx.commit().await
    }

    async fn record_checkout(
        &self,
        scope: &TenantScope,
        session_id: &str,
        plan: &str,
        entry: AuditEntry,
    ) -> DomainResult<()> {
        let tx = OrgTx::begin_exempt(&self.store, scope).await?;
        tx.execute_raw(statement(
            tx.get_database_backend(),
            "INSERT INTO billing_checkout_sessions (organization_id, id, plan, created_at) \
             VALUES ($1, $2, $3, $4)",
            [
                scope.organization_id().as_uuid().into(),
                session_id.into(),
                plan.into(),
                bulkhead_domain::now().into(),
            ],
        ))
        .await
        .map_err(to_domain)?;
        tx.audit(scope, entry).await?;
        tx.commit().await
    }

    async fn checkout_plan(
        &self,
        scope: &TenantScope,
        session_id: &str,
    ) -> DomainResult<Option<String>> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let row = tx
            .query_one_raw(statement(
                tx.get_database_backend(),
                "SELECT plan FROM billing_checkout_sessions WHERE organization_id = $1 AND id = $2",
                [scope.organization_id().as_uuid().into(), session_id.into()],
            ))
            .await
            .map_err(to_domain)?;
        tx.finish_read().await?;
        row.map(|row| row.try_get_by_index::<String>(0).map_err(to_domain))
            .transpose()
    }

    async fn invoices(
        &self,
        scope: &TenantScope,
        page: PageRequest,
    ) -> DomainResult<Page<Invoice>> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let backend = tx.get_database_backend();
        let org: Value = scope.organization_id().as_uuid().into();
        let rows = tx
            .query_all_raw(statement(
                backend,
                &format!(
                    "SELECT {INVOICE_COLUMNS} FROM billing_invoices WHERE organization_id = $1 \
                     ORDER BY created_at DESC, id LIMIT $2 OFFSET $3"
                ),
                [
                    org.clone(),
                    (page.limit() as i64).into(),
                    (page.offset() as i64).into(),
                ],
            ))
            .await
            .map_err(to_domain)?;
        let total = number(
            &*tx,
            statement(
                backend,
                "SELECT count(*) FROM billing_invoices WHERE organization_id = $1",
                [org],
            ),
        )
        .await?;
        tx.finish_read().await?;
        Ok(Page {
            items: rows.iter().map(invoice_from).collect::<DomainResult<_>>()?,
            total: u64::try_from(total).unwrap_or_default(),
            request: page,
        })
    }

    async fn usage(&self, scope: &TenantScope, month: &str) -> DomainResult<Vec<(Quota, i64)>> {
        let tx = OrgTx::begin_read(&self.store, scope).await?;
        let mut lines = Vec::with_capacity(Quota::ALL.len());
        for quota in Quota::ALL {
            let used = crate::quotas::used_in(&*tx, scope.organization_id(), *quota, month).await?;
            lines.push((*quota, used));
        }
        tx.finish_read().await?;
        Ok(lines)
    }

    async fn organization_for(
        &self,
        references: &StripeReferences,
    ) -> DomainResult<Option<OrganizationId>> {
        let tx = self.store.begin().await.map_err(to_domain)?;
        set_local(&tx, "app.billing", "lookup").await?;
        let rows = tx
            .query_all_raw(statement(
                tx.get_database_backend(),
                "SELECT DISTINCT organization_id FROM ( \
                   SELECT organization_id FROM billing_checkout_sessions WHERE id = $1 \
                   UNION ALL \
                   SELECT organization_id FROM billing_subscriptions \
                    WHERE stripe_subscription_id = $2 \
                   UNION ALL \
                   SELECT organization_id FROM billing_subscriptions \
                    WHERE stripe_customer_id = $3) found \
                 LIMIT 2",
                [
                    references.checkout_session.clone().into(),
                    references.subscription.clone().into(),
                    references.customer.clone().into(),
                ],
            ))
            .await
            .map_err(to_domain)?;
        tx.rollback().await.map_err(to_domain)?;
        // Ids that lead to two organizations lead nowhere: nothing is applied on a guess.
        match rows.as_slice() {
            [row] => Ok(Some(OrganizationId::from_uuid(
                row.try_get_by_index::<Uuid>(0).map_err(to_domain)?,
            ))),
            _ => Ok(None),
        }
    }

    async fn store_event(
        &self,
        event: &StripeEvent,
        organization: Option<OrganizationId>,
    ) -> DomainResult<bool> {
        let tx = self.store.begin().await.map_err(to_domain)?;
        let backend = tx.get_database_backend();
        let now = bulkhead_domain::now();
        let fresh = tx
            .execute_raw(statement(
                backend,
                "INSERT INTO billing_event_ids (id, received_at) VALUES ($1, $2) \
                 ON CONFLICT (id) DO NOTHING",
                [event.id.clone().into(), now.into()],
            ))
            .await
            .map_err(to_domain)?
            .rows_affected()
            == 1;
        if !fresh {
            tx.rollback().await.map_err(to_domain)?;
            return Ok(false);
        }
        if let Some(org) = organization {
            set_tenant(&tx, Some(org), None).await?;
            let payload = json!({
                "id": event.id,
                "type": event.kind,
                "created": event.created.timestamp(),
                "data": { "object": event.object },
            });
            tx.execute_raw(statement(
                backend,
                "INSERT INTO billing_events (organization_id, id, kind, event_created, payload, \
                 status, attempts, available_at, received_at) \
                 VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7)",
                [
                    org.as_uuid().into(),
                    event.id.clone().into(),
                    event.kind.clone().into(),
                    event.created.into(),
                    payload.to_string().into(),
                    now.into(),
                    now.into(),
                ],
            ))
            .await
            .map_err(to_domain)?;
        }
        tx.commit().await.map_err(to_domain)?;
        Ok(true)
    }

    async fn claim_event(
        &self,
        lease_secs: i64,
        max_attempts: i32,
    ) -> DomainResult<Option<QueuedEvent>> {
        let tx = self.store.begin().await.map_err(to_domain)?;
        let backend = tx.get_database_backend();
        set_local(&tx, "app.queue", "billing").await?;
        let lock = if backend == DatabaseBackend::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let now = bulkhead_domain::now();
        let row = tx
            .query_one_raw(statement(
                backend,
                &format!(
                    "SELECT organization_id, id, payload, attempts FROM billing_events \
                     WHERE status = 'pending' AND available_at <= $1 AND attempts < $2 \
                     ORDER BY available_at LIMIT 1{lock}"
                ),
                [now.into(), max_attempts.into()],
            ))
            .await
            .map_err(to_domain)?;
        let Some(row) = row else {
            tx.rollback().await.map_err(to_domain)?;
            return Ok(None);
        };
        let org = OrganizationId::from_uuid(row.try_get_by_index(0).map_err(to_domain)?);
        let id: String = row.try_get_by_index(1).map_err(to_domain)?;
        let payload: String = row.try_get_by_index(2).map_err(to_domain)?;
        let attempts: i32 = row.try_get_by_index(3).map_err(to_domain)?;
        set_tenant(&tx, Some(org), None).await?;
        tx.execute_raw(statement(
            backend,
            "UPDATE billing_events SET attempts = attempts + 1, available_at = $1 \
             WHERE organization_id = $2 AND id = $3",
            [
                (now + chrono::Duration::seconds(lease_secs)).into(),
                org.as_uuid().into(),
                id.clone().into(),
            ],
        ))
        .await
        .map_err(to_domain)?;
        tx.commit().await.map_err(to_domain)?;
        let event = match StripeEvent::parse(payload.as_bytes()) {
            Ok(event) => event,
            Err(err) => {
                // Unreadable as stored: failed at once, where readiness shows it, rather than
                // claimed again every second.
                let error = corrupt::<DomainError>("billing event")(err).to_string();
                self.retry_event(org, &id, &error, None).await?;
                return Ok(None);
            }
        };
        Ok(Some(QueuedEvent {
            event,
            organization_id: org,
            attempts: attempts + 1,
        }))
    }

    async fn settle(
        &self,
        scope: &TenantScope,
        event_id: &str,
        settlement: Settlement,
        entry: Option<AuditEntry>,
    ) -> DomainResult<()> {
        let tx = OrgTx::begin_exempt(&self.store, scope).await?;
        let org = scope.organization_id();
        let changed = match &settlement {
            Settlement::Nothing => false,
            Settlement::Subscription {
                next,
                expected_version,
            } => {
                if !write(&*tx, org, next, *expected_version).await? {
                    return Err(DomainError::PreconditionFailed);
                }
                true
            }
            Settlement::Invoice(invoice) => upsert_invoice(&*tx, org, invoice).await?,
        };
        if let (true, Some(entry)) = (changed, entry) {
            tx.audit(scope, entry).await?;
        }
        tx.execute_raw(statement(
            tx.get_database_backend(),
            "UPDATE billing_events SET status = 'processed', processed_at = $1, last_error = NULL \
             WHERE organization_id = $2 AND id = $3",
            [
                bulkhead_domain::now().into(),
                org.as_uuid().into(),
                event_id.into(),
            ],
        ))
        .await
        .map_err(to_domain)?;
        tx.commit().await
    }

    async fn retry_event(
        &self,
        organization: OrganizationId,
        event_id: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> DomainResult<()> {
        let tx = self.store.begin().await.map_err(to_domain)?;
        set_tenant(&tx, Some(organization), None).await?;
        let (status, at) = match retry_at {
            Some(at) => ("pending", at),
            None => ("failed", bulkhead_domain::now()),
        };
        let error: String = error.chars().take(1000).collect();
        tx.execute_raw(statement(
            tx.get_database_backend(),
            "UPDATE billing_events SET status = $1, available_at = $2, last_error = $3 \
             WHERE organization_id = $4 AND id = $5",
            [
                status.into(),
                at.into(),
                error.into(),
                organization.as_uuid().into(),
                event_id.into(),
            ],
        ))
        .await
        .map_err(to_domain)?;
        tx.commit().await.map_err(to_domain)
    }
}
