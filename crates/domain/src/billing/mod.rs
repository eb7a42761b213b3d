//! Billing: plans and their limits, each organization's subscription through Stripe, signed
//! and idempotent webhooks, invoices and usage.
//!
//! Limits are enforced by the stores, in the same unit of work as the create they limit
//! (see [`crate::DomainError::QuotaExceeded`]); this module says what the limits are and
//! keeps the subscription that picks them.

pub mod model;
pub mod plans;
pub mod port;
pub mod service;
pub mod signature;

pub use model::{
    CheckoutRequest, CheckoutSession, Invoice, QueuedEvent, Settlement, StripeEvent,
    StripeReferences, Subscription, SubscriptionStatus, Usage, UsageLine, WebhookOutcome, month_of,
};
pub use plans::{FREE_PLAN, Plan, PlanCatalogue, PlanLimits};
pub use port::{BillingRepository, PaymentProvider};
#[cfg(any(test, feature = "mock"))]
pub use port::{MockBillingRepository, MockPaymentProvider};
pub use service::{BillingPorts, BillingService, BillingSettings, Processing};
pub use signature::WebhookSecret;
