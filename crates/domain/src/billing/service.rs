//! Billing use cases: plans, the subscription and its checkout, usage, and Stripe's events.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::model::{
    CheckoutRequest, CheckoutSession, Invoice, QueuedEvent, Settlement, StripeEvent, Subscription,
    SubscriptionStatus, Usage, UsageLine, WebhookOutcome, month_of,
};
use super::plans::{FREE_PLAN, Plan, PlanCatalogue};
use super::port::{BillingRepository, PaymentProvider};
use super::signature::{self, WebhookSecret};
use crate::audit::{AuditEntry, AuditRepository};
use crate::error::{DomainError, DomainResult};
use crate::ids::OrganizationId;
use crate::page::{Page, PageRequest};
use crate::platform::PlatformScope;
use crate::scope::{Permission, SystemTask, TenantScope};

/// How billing runs on this server.
#[derive(Debug, Clone)]
pub struct BillingSettings {
    /// The plans.
    pub plans: Arc<PlanCatalogue>,
    /// Secrets Stripe signs webhooks with; several while one is rotated. None: every
    /// webhook is refused.
    pub webhook_secrets: Vec<WebhookSecret>,
    /// How long payment may be owed before the organization turns read-only.
    pub grace: chrono::Duration,
    /// The server's public URL, for the pages Stripe sends customers back to.
    pub public_url: String,
    /// Attempts at an event before it is left failed.
    pub max_attempts: i32,
    /// How long a claimed event is held before another processor may take it.
    pub lease_secs: i64,
}

impl Default for BillingSettings {
    fn default() -> Self {
        Self {
            plans: Arc::new(PlanCatalogue::default()),
            webhook_secrets: Vec::new(),
            grace: chrono::Duration::days(7),
            public_url: "http://localhost:8080".into(),
            max_attempts: 8,
            lease_secs: 60,
        }
    }
}

/// The adapters [`BillingService`] needs.
pub struct BillingPorts {
    /// Subscriptions, invoices, usage and the event queue.
    pub billing: Arc<dyn BillingRepository>,
    /// Stripe; `None` when no API key is configured (checkout and portal then answer 409).
    pub provider: Option<Arc<dyn PaymentProvider>>,
    /// Refusals.
    pub audit: Arc<dyn AuditRepository>,
    /// Settings.
    pub settings: BillingSettings,
}

/// Billing.
#[derive(Clone)]
pub struct BillingService {
    billing: Arc<dyn BillingRepository>,
    provider: Option<Arc<dyn PaymentProvider>>,
    audit: Arc<dyn AuditRepository>,
    settings: BillingSettings,
}

/// What one [`BillingService::process_next`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processing {
    /// No event was due.
    Idle,
    /// One event was applied.
    Applied,
    /// Applying one failed; it is retried later.
    Failed {
        /// The event.
        event_id: String,
        /// Its attempts so far.
        attempt: i32,
        /// What went wrong.
        error: String,
    },
}

/// Attempts at a subscription write that lost a race with another before giving up.
const SAVE_ATTEMPTS: usize = 5;

impl BillingService {
    /// Wires the service.
    pub fn new(ports: BillingPorts) -> Self {
        Self {
            billing: ports.billing,
            provider: ports.provider,
            audit: ports.audit,
            settings: ports.settings,
        }
    }

    /// Every plan, with its limits.
    pub fn plans(&self) -> &[Plan] {
        self.settings.plans.plans()
    }

    /// The organization's subscription. Needs `billing:manage`.
    pub async fn subscription(&self, scope: &TenantScope) -> DomainResult<Subscription> {
        scope
            .authorize(&*self.audit, Permission::BillingManage)
            .await?;
        self.billing.subscription(scope).await
    }

    /// Its invoices, newest first. Needs `billing:manage`.
    pub async fn invoices(
        &self,
        scope: &TenantScope,
        page: PageRequest,
    ) -> DomainResult<Page<Invoice>> {
        scope
            .authorize(&*self.audit, Permission::BillingManage)
            .await?;
        self.billing.invoices(scope, page).await
    }

    /// This month's usage beside the plan's limits. Needs `organization:read`.
    pub async fn usage(&self, scope: &TenantScope) -> DomainResult<Usage> {
        scope
            .authorize(&*self.audit, Permission::OrganizationRead)
            .await?;
        let subscription = self.billing.subscription(scope).await?;
        let (period_start, period_end, month) = month_of(crate::now());
        let used = self.billing.usage(scope, &month).await?;
        let limits = self.settings.plans.limits(&subscription.plan);
        Ok(Usage {
            plan: subscription.plan,
            period_start,
            period_end,
            lines: used
                .into_iter()
                .map(|(quota, used)| UsageLine {
                    quota,
                    used,
                    limit: limits.of(quota),
                })
                .collect(),
        })
    }

    fn provider(&self) -> DomainResult<&Arc<dyn PaymentProvider>> {
        self.provider.as_ref().ok_or_else(|| {
            DomainError::Conflict(
                "payments are not configured on this server (BULKHEAD_STRIPE_SECRET_KEY)".into(),
            )
        })
    }

    /// The organization's Stripe customer, created (and stored) on first use.
    async fn customer(
        &self,
        scope: &TenantScope,
        provider: &Arc<dyn PaymentProvider>,
    ) -> DomainResult<String> {
        let current = self.billing.subscription(scope).await?;
        if let Some(customer) = current.stripe_customer_id {
            return Ok(customer);
        }
        let customer = provider.create_customer(scope.organization_id()).await?;
        let mut next = current.clone();
        next.stripe_customer_id = Some(customer.clone());
        let entry = AuditEntry::updated("subscription.customer_created", &current, &next);
        match self
            .billing
            .save(scope, &next, current.version, entry)
            .await
        {
            Ok(()) => Ok(customer),
            // Another request stored a customer meanwhile: use the one stored.
            Err(DomainError::PreconditionFailed) => self
                .billing
                .subscription(scope)
                .await?
                .stripe_customer_id
                .ok_or_else(|| DomainError::Conflict("the subscription changed; retry".into())),
            Err(other) => Err(other),
        }
    }

    /// A Stripe Checkout for `plan`; answers where to send the customer. Needs
    /// `billing:manage`.
    pub async fn checkout(&self, scope: &TenantScope, plan: &str) -> DomainResult<CheckoutSession> {
        scope
            .authorize(&*self.audit, Permission::BillingManage)
            .await?;
        let found = self.settings.plans.require(plan)?;
        let Some(price_id) = found.stripe_price_id.clone() else {
            return Err(DomainError::invalid(
                "plan",
                "not_for_sale",
                format!("the {plan} plan cannot be bought"),
            ));
        };
        let provider = self.provider()?;
        let customer_id = self.customer(scope, provider).await?;
        let base = self.settings.public_url.trim_end_matches('/');
        let session = provider
            .create_checkout(&CheckoutRequest {
                organization_id: scope.organization_id(),
                customer_id,
                price_id,
                success_url: format!("{base}/billing/success?session_id={{CHECKOUT_SESSION_ID}}"),
                cancel_url: format!("{base}/billing/cancelled"),
            })
            .await?;
        let entry = AuditEntry::event(
            "subscription.checkout_started",
            "subscription",
            Some(scope.organization_id().to_string()),
            json!({ "plan": plan, "checkout_session_id": session.id }),
        );
        self.billing
            .record_checkout(scope, &session.id, plan, entry)
            .await?;
        Ok(session)
    }

    /// A Stripe customer-portal session; answers its URL. Needs `billing:manage`.
    pub async fn portal(&self, scope: &TenantScope) -> DomainResult<String> {
        scope
            .authorize(&*self.audit, Permission::BillingManage)
            .await?;
        let provider = self.provider()?;
        let customer = self.customer(scope, provider).await?;
        let base = self.settings.public_url.trim_end_matches('/');
        provider
            .create_portal(&customer, &format!("{base}/billing"))
            .await
    }

    /// Receives one webhook: verifies `signature` over the raw `body` before reading
    /// anything, then stores the event for the background to apply. The organization is found
    /// only through ids the server stored; an event about none of them, or of a type the
    /// server does not handle, is remembered and ignored.
    pub async fn receive(
        &self,
        signature_header: Option<&str>,
        body: &[u8],
    ) -> DomainResult<WebhookOutcome> {
        signature::verify(
            signature_header,
            body,
            &self.settings.webhook_secrets,
            crate::now(),
        )?;
        let event = StripeEvent::parse(body)?;
        let organization = if event.is_handled() {
            self.billing.organization_for(&event.references()).await?
        } else {
            None
        };
        if !self.billing.store_event(&event, organization).await? {
            return Ok(WebhookOutcome::Duplicate);
        }
        Ok(match organization {
            Some(_) => WebhookOutcome::Accepted,
            None => WebhookOutcome::Ignored,
        })
    }

    /// Applies the oldest stored event that is due, if any; answers what happened. A failure
    /// is recorded on the event, which is retried later with backoff.
    pub async fn process_next(&self) -> DomainResult<Processing> {
        let Some(queued) = self
            .billing
            .claim_event(self.settings.lease_secs, self.settings.max_attempts)
            .await?
        else {
            return Ok(Processing::Idle);
        };
        if let Err(err) = self.apply(&queued).await {
            let backoff = 2_i64.saturating_pow(queued.attempts.clamp(0, 12) as u32);
            let retry_at = (queued.attempts < self.settings.max_attempts)
                .then(|| crate::now() + chrono::Duration::seconds(backoff.min(3600)));
            self.billing
                .retry_event(
                    queued.organization_id,
                    &queued.event.id,
                    &err.to_string(),
                    retry_at,
                )
                .await?;
            return Ok(Processing::Failed {
                event_id: queued.event.id,
                attempt: queued.attempts,
                error: err.to_string(),
            });
        }
        Ok(Processing::Applied)
    }

    async fn apply(&self, queued: &QueuedEvent) -> DomainResult<()> {
        let scope = TenantScope::system(queued.organization_id, SystemTask::Stripe);
        let event = &queued.event;
        // Only a checkout's event names a session; its plan does not change between attempts.
        let checkout_plan = match event.references().checkout_session {
            Some(session) => self.billing.checkout_plan(&scope, &session).await?,
            None => None,
        };
        for _ in 0..SAVE_ATTEMPTS {
            let current = self.billing.subscription(&scope).await?;
            let (settlement, entry) = self.settlement(&current, event, checkout_plan.clone());
            match self
                .billing
                .settle(&scope, &event.id, settlement, entry)
                .await
            {
                Err(DomainError::PreconditionFailed) => continue,
                other => return other,
            }
        }
        Err(DomainError::Conflict(
            "the subscription kept changing while an event was applied".into(),
        ))
    }

    /// What `event` changes of `current`: the decision, apart from any storage.
    pub fn settlement(
        &self,
        current: &Subscription,
        event: &StripeEvent,
        checkout_plan: Option<String>,
    ) -> (Settlement, Option<AuditEntry>) {
        let grace = self.settings.grace;
        let stale = current.event_at.is_some_and(|at| at > event.created);
        let mut next = current.clone();
        let action = match event.kind.as_str() {
            "checkout.session.completed" => {
                let Some(plan) = checkout_plan.filter(|p| self.settings.plans.get(p).is_some())
                else {
                    return (Settlement::Nothing, None);
                };
                next.plan = plan;
                if let Some(subscription) = event.field("subscription") {
                    next.stripe_subscription_id = Some(subscription);
                }
                let paid = matches!(
                    event.field("payment_status").as_deref(),
                    Some("paid") | Some("no_payment_required")
                );
                if !stale {
                    let status = if paid {
                        SubscriptionStatus::Active
                    } else {
                        SubscriptionStatus::Incomplete
                    };
                    next.set_status(status, event.created, grace);
                    next.event_at = Some(event.created);
                }
                "subscription.checkout_completed"
            }
            "customer.subscription.created"
            | "customer.subscription.updated"
            | "customer.subscription.deleted" => {
                let id = event.field("id");
                let other_subscription = current.stripe_subscription_id.is_some()
                    && current.stripe_subscription_id != id
                    && current.status != SubscriptionStatus::Canceled;
                if stale || other_subscription {
                    return (Settlement::Nothing, None);
                }
                next.stripe_subscription_id = id;
                next.event_at = Some(event.created);
                if event.kind == "customer.subscription.deleted" {
                    // A downgrade: nothing is deleted, new creation stops at the free limits.
                    next.plan = FREE_PLAN.into();
                    next.cancel_at_period_end = false;
                    next.set_status(SubscriptionStatus::Canceled, event.created, grace);
                    "subscription.canceled"
                } else {
                    if let Some(plan) = event
                        .price()
                        .and_then(|price| self.settings.plans.by_price(&price))
                    {
                        next.plan = plan.name.clone();
                    }
                    let (start, end) = event.period();
                    next.current_period_start = start.or(next.current_period_start);
                    next.current_period_end = end.or(next.current_period_end);
                    next.cancel_at_period_end = event
                        .object
                        .get("cancel_at_period_end")
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(false);
                    match event
                        .field("status")
                        .as_deref()
                        .and_then(SubscriptionStatus::from_stripe)
                    {
                        Some(status) => next.set_status(status, event.created, grace),
                        None => return (Settlement::Nothing, None),
                    }
                    "subscription.updated"
                }
            }
            "invoice.paid" | "invoice.payment_failed" => {
                let Some(invoice) = invoice_of(event) else {
                    return (Settlement::Nothing, None);
                };
                let action = if event.kind == "invoice.paid" {
                    "invoice.paid"
                } else {
                    "invoice.payment_failed"
                };
                let entry = AuditEntry::created(action, &invoice);
                return (Settlement::Invoice(invoice), Some(entry));
            }
            _ => return (Settlement::Nothing, None),
        };
        if next == *current {
            return (Settlement::Nothing, None);
        }
        let entry = AuditEntry::updated(action, current, &next);
        (
            Settlement::Subscription {
                next,
                expected_version: current.version,
            },
            Some(entry),
        )
    }

    /// An organization's subscription, for the platform.
    pub async fn subscription_of(
        &self,
        scope: &PlatformScope,
        organization: OrganizationId,
    ) -> DomainResult<Subscription> {
        self.billing.subscription(&scope.tenant(organization)).await
    }

    /// Puts an organization on `plan` whatever Stripe says until its next event about the
    /// subscription: an audited override by the platform, with its reason.
    pub async fn override_plan(
        &self,
        scope: &PlatformScope,
        organization: OrganizationId,
        plan: &str,
        reason: &str,
    ) -> DomainResult<Subscription> {
        let reason = crate::platform::model::reason(reason)?;
        self.settings.plans.require(plan)?;
        let tenant = scope.tenant(organization);
        for _ in 0..SAVE_ATTEMPTS {
            let current = self.billing.subscription(&tenant).await?;
            let mut next = current.clone();
            next.plan = plan.to_owned();
            next.version = current.version + 1;
            let mut entry = AuditEntry::updated("subscription.plan_overridden", &current, &next);
            if let Some(changes) = entry.changes.as_object_mut() {
                changes.insert("reason".into(), json!(reason));
            }
            match self
                .billing
                .save(&tenant, &next, current.version, entry)
                .await
            {
                Ok(()) => return Ok(next),
                Err(DomainError::PreconditionFailed) => continue,
                Err(other) => return Err(other),
            }
        }
        Err(DomainError::Conflict(
            "the subscription kept changing; retry".into(),
        ))
    }
}

/// The invoice an `invoice.*` event describes.
fn invoice_of(event: &StripeEvent) -> Option<Invoice> {
    let number = |name: &str| event.object.get(name).and_then(serde_json::Value::as_i64);
    Some(Invoice {
        id: event.field("id")?,
        number: event.field("number"),
        status: event.field("status").unwrap_or_else(|| "open".into()),
        amount_due: number("amount_due").unwrap_or(0),
        amount_paid: number("amount_paid").unwrap_or(0),
        currency: event.field("currency").unwrap_or_else(|| "usd".into()),
        hosted_invoice_url: event.field("hosted_invoice_url"),
        period_start: event.time("period_start"),
        period_end: event.time("period_end"),
        event_at: event.created,
    })
}

/// The time `t` seconds after the Unix epoch, for tests and fakes.
pub fn unix(t: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::MockAuditRepository;
    use crate::billing::port::MockBillingRepository;
    use serde_json::Value;

    fn service(plans: PlanCatalogue) -> BillingService {
        BillingService::new(BillingPorts {
            billing: Arc::new(MockBillingRepository::new()),
            provider: None,
            audit: Arc::new(MockAuditRepository::new()),
            settings: BillingSettings {
                plans: Arc::new(plans),
                ..BillingSettings::default()
            },
        })
    }

    fn subscription() -> Subscription {
        Subscription {
            organization_id: OrganizationId::new(),
            plan: FREE_PLAN.into(),
            status: SubscriptionStatus::Active,
            current_period_start: None,
            current_period_end: None,
            cancel_at_period_end: false,
            stripe_customer_id: Some("cus_1".into()),
            stripe_subscription_id: Some("sub_1".into()),
            delinquent_since: None,
            read_only_from: None,
            event_at: unix(1_000),
            version: 3,
            updated_at: crate::now(),
        }
    }

    fn event(kind: &str, created: i64, object: Value) -> StripeEvent {
        StripeEvent {
            id: format!("evt_{created}"),
            kind: kind.into(),
            created: unix(created).expect("time"),
            object,
        }
    }

    fn plans() -> PlanCatalogue {
        PlanCatalogue::from_json(r#"[{"name": "pro", "stripe_price_id": "price_pro"}]"#)
            .expect("plans")
    }

    fn queued(attempts: i32) -> QueuedEvent {
        QueuedEvent {
            event: event("invoice.paid", 2_000, json!({"id": "in_1"})),
            organization_id: OrganizationId::new(),
            attempts,
        }
    }

    fn processing_with(repo: MockBillingRepository) -> BillingService {
        BillingService::new(BillingPorts {
            billing: Arc::new(repo),
            provider: None,
            audit: Arc::new(MockAuditRepository::new()),
            settings: BillingSettings {
                plans: Arc::new(plans()),
                max_attempts: 3,
                ..BillingSettings::default()
            },
        })
    }

    #[tokio::test]
    async fn a_failed_event_is_retried_with_backoff_until_its_last_attempt() {
        for (attempts, retried) in [(1, true), (2, true), (3, false)] {
            let mut repo = MockBillingRepository::new();
            repo.expect_claim_event()
                .returning(move |_, _| Ok(Some(queued(attempts))));
            repo.expect_subscription()
                .returning(|_| Err(DomainError::Unavailable("down".into())));
            repo.expect_retry_event()
                .withf(move |_, id, error, at| {
                    let backoff = at.map(|at| (at - crate::now()).num_seconds());
                    id == "evt_2000"
                        && error.contains("down")
                        && match retried {
                            // 2^attempts seconds, give or take the test's own time.
                            true => backoff.is_some_and(|s| (s - (1 << attempts)).abs() <= 1),
                            false => backoff.is_none(),
                        }
                })
                .times(1)
                .returning(|_, _, _, _| Ok(()));
            let outcome = processing_with(repo)
                .process_next()
                .await
                .expect("processed");
            assert!(
                matches!(outcome, Processing::Failed { attempt, .. } if attempt == attempts),
                "{outcome:?}"
            );
        }
    }

    #[tokio::test]
    async fn an_idle_queue_does_nothing() {
        let mut repo = MockBillingRepository::new();
        repo.expect_claim_event().returning(|_, _| Ok(None));
        assert_eq!(
            processing_with(repo).process_next().await.expect("idle"),
            Processing::Idle
        );
    }

    #[test]
    fn an_update_sets_plan_status_and_period_from_the_price() {
        let s = service(plans());
        let object = json!({"id": "sub_1", "status": "past_due", "cancel_at_period_end": true,
            "items": {"data": [{"price": {"id": "price_pro"}, "current_period_end": 5000}]},
            "metadata": {"plan": "enterprise"}});
        let (settlement, entry) = s.settlement(
            &subscription(),
            &event("customer.subscription.updated", 2_000, object),
            None,
        );
        let Settlement::Subscription {
            next,
            expected_version,
        } = settlement
        else {
            panic!("expected a subscription change, got {settlement:?}");
        };
        assert_eq!(expected_version, 3);
        assert_eq!(next.plan, "pro");
        assert_eq!(next.status, SubscriptionStatus::PastDue);
        assert!(next.cancel_at_period_end);
        assert_eq!(next.current_period_end, unix(5000));
        assert_eq!(
            next.read_only_from,
            unix(2_000).map(|t| t + chrono::Duration::days(7))
        );
        assert_eq!(next.event_at, unix(2_000));
        assert_eq!(entry.map(|e| e.action), Some("subscription.updated".into()));
    }

    #[test]
    fn older_events_and_other_subscriptions_change_nothing() {
        let s = service(plans());
        let object = json!({"id": "sub_1", "status": "canceled"});
        let stale = event("customer.subscription.updated", 999, object);
        assert_eq!(
            s.settlement(&subscription(), &stale, None).0,
            Settlement::Nothing
        );
        let other = event(
            "customer.subscription.deleted",
            2_000,
            json!({"id": "sub_other", "status": "canceled"}),
        );
        assert_eq!(
            s.settlement(&subscription(), &other, None).0,
            Settlement::Nothing
        );
    }

    #[test]
    fn a_deleted_subscription_falls_back_to_free_and_a_checkout_takes_its_stored_plan() {
        let s = service(plans());
        let mut current = subscription();
        current.plan = "pro".into();
        let deleted = event(
            "customer.subscription.deleted",
            2_000,
            json!({"id": "sub_1", "status": "canceled"}),
        );
        let Settlement::Subscription { next, .. } = s.settlement(&current, &deleted, None).0 else {
            panic!("expected a change");
        };
        assert_eq!(
            (next.plan.as_str(), next.status),
            (FREE_PLAN, SubscriptionStatus::Canceled)
        );

        let completed = event(
            "checkout.session.completed",
            3_000,
            json!({"id": "cs_1", "subscription": "sub_2", "payment_status": "paid",
                   "metadata": {"plan": "enterprise"}}),
        );
        let Settlement::Subscription { next, .. } =
            s.settlement(&next, &completed, Some("pro".into())).0
        else {
            panic!("expected a change");
        };
        assert_eq!(next.plan, "pro");
        assert_eq!(next.stripe_subscription_id.as_deref(), Some("sub_2"));
        assert_eq!(next.status, SubscriptionStatus::Active);
        // A session the server did not create changes nothing.
        assert_eq!(s.settlement(&next, &completed, None).0, Settlement::Nothing);
    }
}
