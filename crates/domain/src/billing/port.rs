//! Ports of billing: the organization's subscription and what hangs off it, the inbound
//! event queue, and the payment provider.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::model::{
    CheckoutRequest, CheckoutSession, Invoice, QueuedEvent, Settlement, StripeEvent,
    StripeReferences, Subscription,
};
use crate::audit::AuditEntry;
use crate::error::DomainResult;
use crate::ids::OrganizationId;
use crate::page::{Page, PageRequest};
use crate::quota::Quota;
use crate::scope::TenantScope;

/// Each organization's subscription, checkouts, invoices and usage, and the queue of
/// Stripe's events. The tenant methods work even while the organization is read-only for a
/// lapsed payment: paying must stay possible.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait BillingRepository: Send + Sync {
    /// The organization's subscription ([`crate::DomainError::NotFound`] if the organization
    /// does not exist).
    async fn subscription(&self, scope: &TenantScope) -> DomainResult<Subscription>;

    /// Writes `next` if the subscription is still at `expected_version`
    /// ([`crate::DomainError::PreconditionFailed`] if not), recording `entry`.
    async fn save(
        &self,
        scope: &TenantScope,
        next: &Subscription,
        expected_version: i64,
        entry: AuditEntry,
    ) -> DomainResult<()>;

    /// Records a checkout session the server created for `plan`.
    async fn record_checkout(
        &self,
        scope: &TenantScope,
        session_id: &str,
        plan: &str,
        entry: AuditEntry,
    ) -> DomainResult<()>;

    /// The plan of a checkout session the server created for this organization.
    async fn checkout_plan(
        &self,
        scope: &TenantScope,
        session_id: &str,
    ) -> DomainResult<Option<String>>;

    /// A page of invoices, newest first.
    async fn invoices(&self, scope: &TenantScope, page: PageRequest)
    -> DomainResult<Page<Invoice>>;

    /// What is used of every quota now; monthly quotas in the month keyed `month`
    /// (`2026-12`).
    async fn usage(&self, scope: &TenantScope, month: &str) -> DomainResult<Vec<(Quota, i64)>>;

    /// The organization that the server stored any of `references` with.
    async fn organization_for(
        &self,
        references: &StripeReferences,
    ) -> DomainResult<Option<OrganizationId>>;

    /// Stores a verified event, to be processed if `organization` is known (else only
    /// remembered, so a replay is recognized). `false`: the event id was stored before, and
    /// nothing was done.
    async fn store_event(
        &self,
        event: &StripeEvent,
        organization: Option<OrganizationId>,
    ) -> DomainResult<bool>;

    /// Claims the oldest event due for processing, for `lease_secs` seconds, counting the
    /// attempt; events past `max_attempts` stay failed.
    async fn claim_event(
        &self,
        lease_secs: i64,
        max_attempts: i32,
    ) -> DomainResult<Option<QueuedEvent>>;

    /// Applies `settlement` and marks the event processed, in one unit of work, recording
    /// `entry` when something changed. A subscription settlement whose expected version moved
    /// fails with [`crate::DomainError::PreconditionFailed`], changing nothing.
    async fn settle(
        &self,
        scope: &TenantScope,
        event_id: &str,
        settlement: Settlement,
        entry: Option<AuditEntry>,
    ) -> DomainResult<()>;

    /// Records a failed attempt at `organization`'s event; it is due again at `retry_at`, or
    /// (`None`) it is left failed for good.
    async fn retry_event(
        &self,
        organization: OrganizationId,
        event_id: &str,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> DomainResult<()>;
}

/// The payment provider (Stripe): creates what the customer pays through.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait PaymentProvider: Send + Sync {
    /// Creates the organization's customer; answers its id.
    async fn create_customer(&self, organization: OrganizationId) -> DomainResult<String>;

    /// Creates a subscription checkout.
    async fn create_checkout(&self, request: &CheckoutRequest) -> DomainResult<CheckoutSession>;

    /// Creates a customer-portal session; answers its URL.
    async fn create_portal(&self, customer_id: &str, return_url: &str) -> DomainResult<String>;
}
