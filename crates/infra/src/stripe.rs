//! Stripe's REST API, as much of it as billing uses: form-encoded POSTs over TLS with the
//! secret key as bearer token. The base URL is configurable so tests run it against a local
//! fake that checks what it receives.

use std::time::Duration;

use async_trait::async_trait;
use bulkhead_domain::billing::{CheckoutRequest, CheckoutSession, PaymentProvider};
use bulkhead_domain::{DomainError, DomainResult, OrganizationId};
use serde::Deserialize;

/// Where and how to reach Stripe.
#[derive(Clone)]
pub struct StripeSettings {
    /// The secret API key (`sk_live_...`, `sk_test_...`).
    pub secret_key: String,
    /// `https://api.stripe.com` unless testing.
    pub api_base: url::Url,
}

impl std::fmt::Debug for StripeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeSettings")
            .field("secret_key", &"<redacted>")
            .field("api_base", &self.api_base.as_str())
            .finish()
    }
}

/// The Stripe client.
#[derive(Clone)]
pub struct StripeClient {
    client: reqwest::Client,
    settings: StripeSettings,
}

#[derive(Deserialize)]
struct Created {
    id: String,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: Option<String>,
}

impl StripeClient {
    /// A client with bounded timeouts, following no redirects.
    pub fn new(settings: StripeSettings) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            .build()?;
        Ok(Self { client, settings })
    }

    async fn post(
        &self,
        path: &str,
        form: &[(&str, String)],
        idempotency_key: Option<String>,
    ) -> DomainResult<Created> {
        let url = self
            .settings
            .api_base
            .join(path)
            .map_err(|e| DomainError::Internal(format!("stripe url: {e}")))?;
        let mut request = self
            .client
            .post(url)
            .bearer_auth(&self.settings.secret_key)
            .form(form);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| DomainError::Unavailable(format!("stripe: {e}")))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| DomainError::Unavailable(format!("stripe: {e}")))?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| DomainError::Internal(format!("stripe answered {path} oddly: {e}")));
        }
        let message = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .and_then(|b| b.error.message)
            .unwrap_or_default();
        if status.is_server_error() || status.as_u16() == 429 {
            Err(DomainError::Unavailable(format!(
                "stripe {path}: {status} {message}"
            )))
        } else {
            // The request was wrong (a price id that does not exist, a revoked key): the
            // operator's to fix, not the client's.
            Err(DomainError::Internal(format!(
                "stripe refused {path}: {status} {message}"
            )))
        }
    }
}

#[async_trait]
impl PaymentProvider for StripeClient {
    async fn create_customer(&self, organization: OrganizationId) -> DomainResult<String> {
        let created = self
            .post(
                "v1/customers",
                &[
                    (
                        "description",
                        format!("Bulkhead organization {organization}"),
                    ),
                    ("metadata[organization_id]", organization.to_string()),
                ],
                // A retry after a lost answer gets the same customer, not a second one.
                Some(format!("bulkhead-customer-{organization}")),
            )
            .await?;
        Ok(created.id)
    }

    async fn create_checkout(&self, request: &CheckoutRequest) -> DomainResult<CheckoutSession> {
        let created = self
            .post(
                "v1/checkout/sessions",
                &[
                    ("mode", "subscription".into()),
                    ("customer", request.customer_id.clone()),
                    ("line_items[0][price]", request.price_id.clone()),
                    ("line_items[0][quantity]", "1".into()),
                    ("success_url", request.success_url.clone()),
                    ("cancel_url", request.cancel_url.clone()),
                    ("client_reference_id", request.organization_id.to_string()),
                ],
                None,
            )
            .await?;
        let url = created.url.ok_or_else(|| {
            DomainError::Internal("stripe answered a checkout session without a url".into())
        })?;
        Ok(CheckoutSession {
            id: created.id,
            url,
        })
    }

    async fn create_portal(&self, customer_id: &str, return_url: &str) -> DomainResult<String> {
        let created = self
            .post(
                "v1/billing_portal/sessions",
                &[
                    ("customer", customer_id.to_owned()),
                    ("return_url", return_url.to_owned()),
                ],
                None,
            )
            .await?;
        created.url.ok_or_else(|| {
            DomainError::Internal("stripe answered a portal session without a url".into())
        })
    }
}
