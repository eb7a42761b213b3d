//! Subscriptions, invoices, usage, and the payment provider's events as the server reads them.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::audit::Auditable;
use crate::error::{DomainError, DomainResult};
use crate::ids::OrganizationId;
use crate::quota::Quota;

/// The state of a subscription, as Stripe names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionStatus {
    /// In a free trial.
    Trialing,
    /// Paid up (also every organization on a plan nobody pays for).
    Active,
    /// A payment failed; Stripe is retrying.
    PastDue,
    /// Ended.
    Canceled,
    /// The first payment has not succeeded yet.
    Incomplete,
    /// Stripe gave up retrying a failed payment.
    Unpaid,
}

impl SubscriptionStatus {
    /// The status's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trialing => "trialing",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Canceled => "canceled",
            Self::Incomplete => "incomplete",
            Self::Unpaid => "unpaid",
        }
    }

    /// Reads a status as stored.
    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Trialing,
            Self::Active,
            Self::PastDue,
            Self::Canceled,
            Self::Incomplete,
            Self::Unpaid,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }

    /// Reads Stripe's name for a subscription's status. Stripe's `incomplete_expired` is an
    /// ended subscription here, and `paused` (a trial that ended without a payment method) one
    /// that is not being paid.
    pub fn from_stripe(raw: &str) -> Option<Self> {
        match raw {
            "incomplete_expired" => Some(Self::Canceled),
            "paused" => Some(Self::Unpaid),
            other => Self::parse(other),
        }
    }

    /// Whether payment is owed and not coming in: the grace period runs.
    pub fn is_delinquent(self) -> bool {
        matches!(self, Self::PastDue | Self::Unpaid)
    }
}

/// An organization's one current subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// The organization.
    pub organization_id: OrganizationId,
    /// The plan its limits come from.
    pub plan: String,
    /// Its state.
    pub status: SubscriptionStatus,
    /// The start of the period paid for, if Stripe bills it.
    pub current_period_start: Option<DateTime<Utc>>,
    /// The end of the period paid for.
    pub current_period_end: Option<DateTime<Utc>>,
    /// Whether it ends at the end of the period.
    pub cancel_at_period_end: bool,
    /// The Stripe customer the server created for the organization.
    pub stripe_customer_id: Option<String>,
    /// The Stripe subscription a completed checkout created.
    pub stripe_subscription_id: Option<String>,
    /// Since when payment has been owed.
    pub delinquent_since: Option<DateTime<Utc>>,
    /// From when the organization is read-only, unless paid before.
    pub read_only_from: Option<DateTime<Utc>>,
    /// The creation time of the last Stripe event applied to it: older events are ignored.
    pub event_at: Option<DateTime<Utc>>,
    /// Changes so far; each write names the version it read.
    pub version: i64,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Subscription {
    /// Whether writes are refused at `now` for a lapsed payment.
    pub fn is_read_only(&self, now: DateTime<Utc>) -> bool {
        self.read_only_from.is_some_and(|from| from <= now)
    }

    /// Sets the status, starting or ending the grace period: a delinquent subscription turns
    /// the organization read-only `grace` after payment was first owed.
    pub fn set_status(
        &mut self,
        status: SubscriptionStatus,
        at: DateTime<Utc>,
        grace: chrono::Duration,
    ) {
        self.status = status;
        if status.is_delinquent() {
            let since = *self.delinquent_since.get_or_insert(at);
            self.read_only_from = Some(since + grace);
        } else {
            self.delinquent_since = None;
            self.read_only_from = None;
        }
    }
}

impl Auditable for Subscription {
    const RESOURCE_TYPE: &'static str = "subscription";

    fn audit_id(&self) -> String {
        self.organization_id.to_string()
    }

    fn audit_fields(&self) -> Map<String, Value> {
        let time = |t: Option<DateTime<Utc>>| json!(t.map(|t| t.to_rfc3339()));
        let mut fields = Map::new();
        fields.insert("plan".into(), json!(self.plan));
        fields.insert("status".into(), json!(self.status.as_str()));
        fields.insert("current_period_end".into(), time(self.current_period_end));
        fields.insert(
            "cancel_at_period_end".into(),
            json!(self.cancel_at_period_end),
        );
        fields.insert("stripe_customer_id".into(), json!(self.stripe_customer_id));
        fields.insert(
            "stripe_subscription_id".into(),
            json!(self.stripe_subscription_id),
        );
        fields.insert("read_only_from".into(), time(self.read_only_from));
        fields
    }
}

/// An invoice, mirrored from Stripe's events.
#[derive(Debug, Clone, PartialEq)]
pub struct Invoice {
    /// Stripe's id (`in_...`).
    pub id: String,
    /// Its number, once finalized.
    pub number: Option<String>,
    /// `paid`, `open`, ... (Stripe's invoice status).
    pub status: String,
    /// In the currency's smallest unit.
    pub amount_due: i64,
    /// In the currency's smallest unit.
    pub amount_paid: i64,
    /// ISO code, lower-case.
    pub currency: String,
    /// Where the customer sees it.
    pub hosted_invoice_url: Option<String>,
    /// The period billed.
    pub period_start: Option<DateTime<Utc>>,
    /// The period billed.
    pub period_end: Option<DateTime<Utc>>,
    /// The creation time of the event it was last updated from.
    pub event_at: DateTime<Utc>,
}

impl Auditable for Invoice {
    const RESOURCE_TYPE: &'static str = "invoice";

    fn audit_id(&self) -> String {
        self.id.clone()
    }

    fn audit_fields(&self) -> Map<String, Value> {
        let mut fields = Map::new();
        fields.insert("status".into(), json!(self.status));
        fields.insert("amount_due".into(), json!(self.amount_due));
        fields.insert("amount_paid".into(), json!(self.amount_paid));
        fields.insert("currency".into(), json!(self.currency));
        fields
    }
}

/// One line of usage: what is used of a quota and what the plan allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageLine {
    /// The quota.
    pub quota: Quota,
    /// Used now (this month, for monthly quotas).
    pub used: i64,
    /// The plan's limit; `None` is unlimited.
    pub limit: Option<i64>,
}

/// The organization's usage beside its plan's limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    /// The plan.
    pub plan: String,
    /// The month monthly quotas count in (UTC).
    pub period_start: DateTime<Utc>,
    /// Its end (exclusive).
    pub period_end: DateTime<Utc>,
    /// One line per quota.
    pub lines: Vec<UsageLine>,
}

/// The calendar month (UTC) holding `at`, as `(start, end)`, and its key (`2026-12`): the
/// period monthly counters count in.
pub fn month_of(at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>, String) {
    use chrono::{Datelike, TimeZone};
    let (year, month) = (at.year(), at.month());
    let start = Utc
        .with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .unwrap_or(at);
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let end = Utc
        .with_ymd_and_hms(next_year, next_month, 1, 0, 0, 0)
        .single()
        .unwrap_or(at);
    (start, end, format!("{year:04}-{month:02}"))
}

/// A new Stripe Checkout session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    /// Stripe's id (`cs_...`).
    pub id: String,
    /// Where to send the customer.
    pub url: String,
}

/// What a checkout needs from the payment provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    /// The organization (sent as the client reference, for people reading Stripe's
    /// dashboard; never trusted back).
    pub organization_id: OrganizationId,
    /// The customer the server created.
    pub customer_id: String,
    /// The price of the plan.
    pub price_id: String,
    /// Where Stripe sends the customer after paying.
    pub success_url: String,
    /// Where Stripe sends the customer on cancelling.
    pub cancel_url: String,
}

/// An event from Stripe, read after its signature verified.
#[derive(Debug, Clone, PartialEq)]
pub struct StripeEvent {
    /// Stripe's id (`evt_...`): each is processed at most once.
    pub id: String,
    /// `customer.subscription.updated`, ...
    pub kind: String,
    /// When Stripe created it: what orders events about one object.
    pub created: DateTime<Utc>,
    /// `data.object`.
    pub object: Value,
}

/// The Stripe ids an event names, by which the server finds the organization it stored them
/// with. Nothing else in an event (its metadata, say) ever names the organization.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StripeReferences {
    /// A checkout session the server created.
    pub checkout_session: Option<String>,
    /// A subscription a checkout of the server's created.
    pub subscription: Option<String>,
    /// A customer the server created.
    pub customer: Option<String>,
}

/// The event types the server acts on; others are acknowledged and ignored.
pub const HANDLED_EVENTS: &[&str] = &[
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
];

/// Longest event id accepted.
const MAX_ID: usize = 255;

impl StripeEvent {
    /// Reads an event's envelope from its raw (already verified) body.
    pub fn parse(body: &[u8]) -> DomainResult<Self> {
        let bad = |why: &str| DomainError::invalid("body", "format", why.to_owned());
        let value: Value =
            serde_json::from_slice(body).map_err(|_| bad("the event is not valid JSON"))?;
        let id = value
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty() && id.len() <= MAX_ID)
            .ok_or_else(|| bad("the event has no id"))?;
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .filter(|k| k.len() <= MAX_ID)
            .ok_or_else(|| bad("the event has no type"))?;
        let created = value
            .get("created")
            .and_then(Value::as_i64)
            .and_then(|t| DateTime::from_timestamp(t, 0))
            .ok_or_else(|| bad("the event has no creation time"))?;
        let object = value
            .get("data")
            .and_then(|d| d.get("object"))
            .filter(|o| o.is_object())
            .cloned()
            .ok_or_else(|| bad("the event has no data.object"))?;
        Ok(Self {
            id: id.to_owned(),
            kind: kind.to_owned(),
            created,
            object,
        })
    }

    /// Whether the server acts on this type.
    pub fn is_handled(&self) -> bool {
        HANDLED_EVENTS.contains(&self.kind.as_str())
    }

    /// A string field of the object (an expanded object's `id` counts too).
    pub fn field(&self, name: &str) -> Option<String> {
        match self.object.get(name)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Object(expanded) => expanded
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        }
    }

    /// The ids this event names, by what its object is.
    pub fn references(&self) -> StripeReferences {
        if self.kind.starts_with("checkout.session.") {
            StripeReferences {
                checkout_session: self.field("id"),
                subscription: self.field("subscription"),
                customer: self.field("customer"),
            }
        } else if self.kind.starts_with("customer.subscription.") {
            StripeReferences {
                checkout_session: None,
                subscription: self.field("id"),
                customer: self.field("customer"),
            }
        } else {
            StripeReferences {
                checkout_session: None,
                subscription: self.field("subscription"),
                customer: self.field("customer"),
            }
        }
    }

    /// A time field of the object (Unix seconds).
    pub fn time(&self, name: &str) -> Option<DateTime<Utc>> {
        self.object
            .get(name)
            .and_then(Value::as_i64)
            .and_then(|t| DateTime::from_timestamp(t, 0))
    }

    /// The price of a subscription object's first item.
    pub fn price(&self) -> Option<String> {
        self.object
            .pointer("/items/data/0/price/id")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    /// A subscription's period: on the object (older API versions) or on its first item.
    pub fn period(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let item = |name: &str| {
            self.object
                .pointer(&format!("/items/data/0/{name}"))
                .and_then(Value::as_i64)
                .and_then(|t| DateTime::from_timestamp(t, 0))
        };
        (
            self.time("current_period_start")
                .or_else(|| item("current_period_start")),
            self.time("current_period_end")
                .or_else(|| item("current_period_end")),
        )
    }
}

/// What receiving a webhook did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Stored; it is applied in the background.
    Accepted,
    /// Seen before: nothing done.
    Duplicate,
    /// Not about anything this server created, or of a type it does not handle.
    Ignored,
}

impl WebhookOutcome {
    /// The outcome's name, as answered to Stripe.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Ignored => "ignored",
        }
    }
}

/// A stored event claimed for processing.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedEvent {
    /// The event.
    pub event: StripeEvent,
    /// The organization its ids resolved to when it arrived.
    pub organization_id: OrganizationId,
    /// Attempts so far, this one included.
    pub attempts: i32,
}

/// The write that applying one event makes, with the event marked processed in the same unit
/// of work.
#[derive(Debug, Clone, PartialEq)]
pub enum Settlement {
    /// Nothing to change (a stale event, or one about nothing the server tracks).
    Nothing,
    /// The subscription as it is now, if it is still at `expected_version`.
    Subscription {
        /// What it should be.
        next: Subscription,
        /// The version it was read at.
        expected_version: i64,
    },
    /// The invoice as it is now, unless a newer event already updated it.
    Invoice(Invoice),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, object: Value) -> StripeEvent {
        StripeEvent::parse(
            json!({"id": "evt_1", "type": kind, "created": 1_700_000_000, "data": {"object": object}})
                .to_string()
                .as_bytes(),
        )
        .expect("a valid event")
    }

    #[test]
    fn references_come_from_the_object_never_from_metadata() {
        let e = event(
            "customer.subscription.updated",
            json!({"id": "sub_1", "customer": "cus_1", "metadata": {"organization_id": "x"}}),
        );
        assert_eq!(
            e.references(),
            StripeReferences {
                checkout_session: None,
                subscription: Some("sub_1".into()),
                customer: Some("cus_1".into())
            }
        );
        let e = event(
            "checkout.session.completed",
            json!({"id": "cs_1", "customer": {"id": "cus_2"}, "subscription": "sub_2"}),
        );
        assert_eq!(e.references().checkout_session.as_deref(), Some("cs_1"));
        assert_eq!(e.references().customer.as_deref(), Some("cus_2"));
        let e = event(
            "invoice.paid",
            json!({"id": "in_1", "subscription": "sub_3"}),
        );
        assert_eq!(e.references().subscription.as_deref(), Some("sub_3"));
    }

    #[test]
    fn malformed_events_are_refused() {
        for body in [
            "not json",
            r#"{"type": "invoice.paid", "created": 1, "data": {"object": {}}}"#,
            r#"{"id": "evt", "created": 1, "data": {"object": {}}}"#,
            r#"{"id": "evt", "type": "x", "data": {"object": {}}}"#,
            r#"{"id": "evt", "type": "x", "created": 1}"#,
        ] {
            assert!(StripeEvent::parse(body.as_bytes()).is_err(), "{body}");
        }
    }

    #[test]
    fn delinquency_starts_the_grace_period_once_and_payment_ends_it() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
        let mut s = Subscription {
            organization_id: OrganizationId::new(),
            plan: "pro".into(),
            status: SubscriptionStatus::Active,
            current_period_start: None,
            current_period_end: None,
            cancel_at_period_end: false,
            stripe_customer_id: None,
            stripe_subscription_id: None,
            delinquent_since: None,
            read_only_from: None,
            event_at: None,
            version: 1,
            updated_at: t0,
        };
        let grace = chrono::Duration::days(7);
        s.set_status(SubscriptionStatus::PastDue, t0, grace);
        s.set_status(
            SubscriptionStatus::Unpaid,
            t0 + chrono::Duration::days(3),
            grace,
        );
        assert_eq!(s.read_only_from, Some(t0 + grace));
        assert!(!s.is_read_only(t0 + chrono::Duration::days(6)));
        assert!(s.is_read_only(t0 + grace));
        s.set_status(
            SubscriptionStatus::Active,
            t0 + chrono::Duration::days(8),
            grace,
        );
        assert!(!s.is_read_only(t0 + chrono::Duration::days(9)));
        assert_eq!(s.delinquent_since, None);
    }

    #[test]
    fn months_run_from_the_first_to_the_first() {
        let at = DateTime::parse_from_rfc3339("2026-12-15T10:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let (start, end, key) = month_of(at);
        assert_eq!(start.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2027-01-01T00:00:00+00:00");
        assert_eq!(key, "2026-12");
    }
}
