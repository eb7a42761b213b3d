//! `/billing`, `/usage`, the Stripe webhook, and the platform's view of subscriptions.

use actix_web::{HttpRequest, HttpResponse, web};
use bulkhead_domain::OrganizationId;
use bulkhead_domain::billing::{Invoice, Plan, PlanLimits, Subscription, Usage};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::admin::OrganizationPath;
use crate::extract::{Auth, Json, PlatformAuth};
use crate::pagination::{ListBody, PageBody, PageQuery};
use crate::problem::{ApiError, responses};

pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/billing/plans").route(web::get().to(plans)))
        .service(web::resource("/billing/subscription").route(web::get().to(subscription)))
        .service(web::resource("/billing/checkout").route(web::post().to(checkout)))
        .service(web::resource("/billing/portal").route(web::post().to(portal)))
        .service(web::resource("/billing/invoices").route(web::get().to(invoices)))
        .service(web::resource("/usage").route(web::get().to(usage)))
        .service(web::resource("/webhooks/stripe").route(web::post().to(stripe_webhook)))
        .service(
            web::resource("/admin/organizations/{organization_id}/subscription")
                .route(web::get().to(admin_subscription)),
        )
        .service(
            web::resource("/admin/organizations/{organization_id}/plan")
                .route(web::put().to(admin_set_plan)),
        );
}

/// What a plan allows; an absent (null) limit is unlimited.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanLimitsBody {
    pub members: Option<i64>,
    pub projects: Option<i64>,
    pub agents: Option<i64>,
    pub concurrent_runs: Option<i64>,
    pub runs_per_month: Option<i64>,
    pub tokens_per_month: Option<i64>,
    pub storage_bytes: Option<i64>,
    pub api_keys: Option<i64>,
}

impl From<&PlanLimits> for PlanLimitsBody {
    fn from(l: &PlanLimits) -> Self {
        Self {
            members: l.members,
            projects: l.projects,
            agents: l.agents,
            concurrent_runs: l.concurrent_runs,
            runs_per_month: l.runs_per_month,
            tokens_per_month: l.tokens_per_month,
            storage_bytes: l.storage_bytes,
            api_keys: l.api_keys,
        }
    }
}

/// A plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanBody {
    #[schema(example = "pro")]
    pub name: String,
    #[schema(example = "Pro")]
    pub title: Option<String>,
    /// Whether a checkout can buy it (it has a Stripe price).
    pub purchasable: bool,
    pub limits: PlanLimitsBody,
}

impl From<&Plan> for PlanBody {
    fn from(p: &Plan) -> Self {
        Self {
            name: p.name.clone(),
            title: p.title.clone(),
            purchasable: p.stripe_price_id.is_some(),
            limits: (&p.limits).into(),
        }
    }
}

/// The organization's subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionBody {
    pub organization_id: Uuid,
    #[schema(example = "free")]
    pub plan: String,
    /// `trialing`, `active`, `past_due`, `canceled`, `incomplete` or `unpaid`.
    #[schema(example = "active")]
    pub status: &'static str,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub current_period_start: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub current_period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    /// From when the organization is read-only unless paid before (set while payment is
    /// owed).
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub read_only_from: Option<DateTime<Utc>>,
    /// Whether writes are refused now (402 `subscription-inactive`).
    pub read_only: bool,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub updated_at: DateTime<Utc>,
}

impl From<Subscription> for SubscriptionBody {
    fn from(s: Subscription) -> Self {
        Self {
            organization_id: s.organization_id.as_uuid(),
            read_only: s.is_read_only(bulkhead_domain::now()),
            plan: s.plan,
            status: s.status.as_str(),
            current_period_start: s.current_period_start,
            current_period_end: s.current_period_end,
            cancel_at_period_end: s.cancel_at_period_end,
            read_only_from: s.read_only_from,
            updated_at: s.updated_at,
        }
    }
}

/// A plan to buy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequestBody {
    /// One of `GET /billing/plans`, with a Stripe price.
    #[schema(example = "pro", pattern = "^[a-z0-9_-]{1,40}$")]
    pub plan: String,
}

/// Where to send the customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct RedirectBody {
    /// A Stripe-hosted page.
    #[schema(example = "https://checkout.stripe.com/c/pay/cs_test_a1")]
    pub url: String,
}

/// An invoice, as Stripe last reported it.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceBody {
    #[schema(example = "in_1MtHbELkdIwHu7ix")]
    pub id: String,
    pub number: Option<String>,
    #[schema(example = "paid")]
    pub status: String,
    /// In the currency's smallest unit.
    pub amount_due: i64,
    /// In the currency's smallest unit.
    pub amount_paid: i64,
    #[schema(example = "usd")]
    pub currency: String,
    pub hosted_invoice_url: Option<String>,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub period_start: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::timestamps::rfc3339_option")]
    pub period_end: Option<DateTime<Utc>>,
}

impl From<Invoice> for InvoiceBody {
    fn from(i: Invoice) -> Self {
        Self {
            id: i.id,
            number: i.number,
            status: i.status,
            amount_due: i.amount_due,
            amount_paid: i.amount_paid,
            currency: i.currency,
            hosted_invoice_url: i.hosted_invoice_url,
            period_start: i.period_start,
            period_end: i.period_end,
        }
    }
}

/// One quota: what is used and what the plan allows.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageLineBody {
    /// `members`, `projects`, `agents`, `concurrent_runs`, `runs_per_month`,
    /// `tokens_per_month`, `storage_bytes` or `api_keys`.
    #[schema(example = "projects")]
    pub quota: &'static str,
    pub used: i64,
    /// Null: unlimited.
    pub limit: Option<i64>,
}

/// This period's usage beside the plan's limits.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageBody {
    pub plan: String,
    /// The calendar month (UTC) monthly quotas count in.
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub period_start: DateTime<Utc>,
    #[serde(serialize_with = "crate::timestamps::rfc3339")]
    pub period_end: DateTime<Utc>,
    pub quotas: Vec<UsageLineBody>,
}

impl From<Usage> for UsageBody {
    fn from(u: Usage) -> Self {
        Self {
            plan: u.plan,
            period_start: u.period_start,
            period_end: u.period_end,
            quotas: u
                .lines
                .into_iter()
                .map(|l| UsageLineBody {
                    quota: l.quota.as_str(),
                    used: l.used,
                    limit: l.limit,
                })
                .collect(),
        }
    }
}

/// What the server did with a webhook.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookBody {
    /// `accepted` (stored, applied in the background), `duplicate` (seen before: nothing
    /// done) or `ignored` (about nothing this server created, or of a type it does not
    /// handle).
    #[schema(example = "accepted")]
    pub status: &'static str,
}

/// A plan the platform puts an organization on, and why.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPlanRequest {
    /// One of `GET /billing/plans`.
    #[schema(example = "enterprise", pattern = "^[a-z0-9_-]{1,40}$")]
    pub plan: String,
    #[schema(
        example = "Contract 2026-114 signed offline",
        min_length = 3,
        max_length = 500,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub reason: String,
}

/// The plans and their limits (any member).
#[utoipa::path(
    get, path = "/api/v1/billing/plans", extensions(("x-permission" = json!("authenticated"))), tag = "billing",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every plan", body = ListBody<PlanBody>),
        (status = 401, response = responses::Unauthorized),
    )
)]
pub(crate) async fn plans(
    state: web::Data<AppState>,
    Auth(_scope): Auth,
) -> Result<HttpResponse, ApiError> {
    let data: Vec<PlanBody> = state.billing.plans().iter().map(PlanBody::from).collect();
    Ok(HttpResponse::Ok().json(ListBody { data }))
}

/// The organization's subscription (billing:manage).
#[utoipa::path(
    get, path = "/api/v1/billing/subscription", extensions(("x-permission" = json!("billing:manage"))), tag = "billing",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
    )
)]
pub(crate) async fn subscription(
    state: web::Data<AppState>,
    Auth(scope): Auth,
) -> Result<HttpResponse, ApiError> {
    let subscription = state.billing.subscription(&scope).await?;
    Ok(HttpResponse::Ok().json(SubscriptionBody::from(subscription)))
}

/// Start a Stripe Checkout for a plan (billing:manage): answers the page to send the customer
/// to. The subscription changes when Stripe reports the payment. 409 when payments are not
/// configured on this server.
#[utoipa::path(
    post, path = "/api/v1/billing/checkout", extensions(("x-permission" = json!("billing:manage"))), tag = "billing",
    request_body = CheckoutRequestBody, security(("bearer" = [])),
    responses(
        (status = 201, description = "Checkout created", body = RedirectBody),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 409, response = responses::Conflict),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn checkout(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    Json(body): Json<CheckoutRequestBody>,
) -> Result<HttpResponse, ApiError> {
    let session = state.billing.checkout(&scope, &body.plan).await?;
    Ok(HttpResponse::Created().json(RedirectBody { url: session.url }))
}

/// Open Stripe's customer portal (billing:manage): answers its page. 409 when payments are
/// not configured on this server.
#[utoipa::path(
    post, path = "/api/v1/billing/portal", extensions(("x-permission" = json!("billing:manage"))), tag = "billing",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Portal session created", body = RedirectBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 409, response = responses::Conflict),
    )
)]
pub(crate) async fn portal(
    state: web::Data<AppState>,
    Auth(scope): Auth,
) -> Result<HttpResponse, ApiError> {
    let url = state.billing.portal(&scope).await?;
    Ok(HttpResponse::Created().json(RedirectBody { url }))
}

/// The organization's invoices, newest first (billing:manage).
#[utoipa::path(
    get, path = "/api/v1/billing/invoices", extensions(("x-permission" = json!("billing:manage"))), tag = "billing",
    params(PageQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of invoices", body = PageBody<InvoiceBody>),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn invoices(
    state: web::Data<AppState>,
    Auth(scope): Auth,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let invoices = state.billing.invoices(&scope, page).await?;
    Ok(HttpResponse::Ok().json(PageBody::<InvoiceBody>::from_page(invoices)))
}

/// This month's usage beside the plan's limits (organization:read).
#[utoipa::path(
    get, path = "/api/v1/usage", extensions(("x-permission" = json!("organization:read"))), tag = "billing",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Usage", body = UsageBody),
        (status = 401, response = responses::Unauthorized),
        (status = 403, response = responses::Forbidden),
    )
)]
pub(crate) async fn usage(
    state: web::Data<AppState>,
    Auth(scope): Auth,
) -> Result<HttpResponse, ApiError> {
    let usage = state.billing.usage(&scope).await?;
    Ok(HttpResponse::Ok().json(UsageBody::from(usage)))
}

/// Stripe's webhook (no bearer token: Stripe signs it). The raw body is verified against
/// `Stripe-Signature` (HMAC-SHA256 under any configured secret, five minutes of tolerance)
/// before anything is read; a bad or stale signature is 400 and changes nothing. Each event id
/// is taken once; the organization is found only from ids this server stored.
#[utoipa::path(
    post, path = "/api/v1/webhooks/stripe", extensions(("x-permission" = json!("stripe signature"))), tag = "billing",
    request_body(content = String, content_type = "application/json", description = "A Stripe event, exactly as Stripe sent it"),
    params(("Stripe-Signature" = String, Header, description = "t=<unix time>,v1=<hex HMAC-SHA256>")),
    responses(
        (status = 200, description = "Received", body = WebhookBody),
        (status = 400, description = "The signature does not verify, or the event is malformed", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn stripe_webhook(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let signature = request
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let outcome = state.billing.receive(signature, &body).await?;
    if outcome == bulkhead_domain::billing::WebhookOutcome::Accepted {
        state.billing_wake.notify_one();
    }
    Ok(HttpResponse::Ok().json(WebhookBody {
        status: outcome.as_str(),
    }))
}

/// An organization's subscription (superuser).
#[utoipa::path(
    get, path = "/api/v1/admin/organizations/{organization_id}/subscription", extensions(("x-permission" = json!("superuser"))), tag = "admin",
    params(OrganizationPath), security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionBody),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
    )
)]
pub(crate) async fn admin_subscription(
    state: web::Data<AppState>,
    PlatformAuth(scope): PlatformAuth,
    path: web::Path<OrganizationPath>,
) -> Result<HttpResponse, ApiError> {
    let subscription = state
        .billing
        .subscription_of(&scope, OrganizationId::from_uuid(path.organization_id))
        .await?;
    Ok(HttpResponse::Ok().json(SubscriptionBody::from(subscription)))
}

/// Put an organization on a plan (superuser): an override recorded with its reason in the
/// organization's audit trail; Stripe's next event about the subscription sets it again.
#[utoipa::path(
    put, path = "/api/v1/admin/organizations/{organization_id}/plan", extensions(("x-permission" = json!("superuser"))), tag = "admin",
    params(OrganizationPath), request_body = SetPlanRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "The subscription, on the plan", body = SubscriptionBody),
        (status = 400, response = responses::MalformedJson),
        (status = 401, response = responses::Unauthorized),
        (status = 404, response = responses::NotFound),
        (status = 415, response = responses::UnsupportedMediaType),
        (status = 422, response = responses::Invalid),
    )
)]
pub(crate) async fn admin_set_plan(
    state: web::Data<AppState>,
    PlatformAuth(scope): PlatformAuth,
    path: web::Path<OrganizationPath>,
    Json(body): Json<SetPlanRequest>,
) -> Result<HttpResponse, ApiError> {
    let subscription = state
        .billing
        .override_plan(
            &scope,
            OrganizationId::from_uuid(path.organization_id),
            &body.plan,
            &body.reason,
        )
        .await?;
    Ok(HttpResponse::Ok().json(SubscriptionBody::from(subscription)))
}
