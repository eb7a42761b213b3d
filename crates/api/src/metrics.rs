//! HTTP metrics: requests by route template (never the raw path, which would make one series
//! per id), method and status, and their latency. A middleware records every request; the
//! server renders them with its other metrics on its own address (`BULKHEAD_METRICS_BIND`),
//! never on the API's.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// The HTTP series, shared by every worker's state.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    latency: HistogramVec,
}

impl HttpMetrics {
    /// Creates the series and registers them with `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "bulkhead_http_requests_total",
                "HTTP requests answered, by route template, method and status.",
            ),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "bulkhead_http_request_duration_seconds",
                "Time from a request's arrival to its response head, by route template and method.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["route", "method"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(Self { requests, latency })
    }
}

/// Records the request's route template, method, status and latency.
pub(crate) async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let began = Instant::now();
    let metrics = req
        .app_data::<web::Data<crate::AppState>>()
        .map(|state| state.http_metrics.clone());
    // The template the router matched (`/api/v1/projects/{project_id}`); a path no route
    // matches is one series, whatever it was.
    let route = crate::request_id::route(&req).unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let response = next.call(req).await;
    if let Some(metrics) = metrics {
        let status = match &response {
            Ok(response) => response.status(),
            Err(err) => err.as_response_error().status_code(),
        };
        metrics
            .requests
            .with_label_values(&[route.as_str(), method.as_str(), status.as_str()])
            .inc();
        metrics
            .latency
            .with_label_values(&[route.as_str(), method.as_str()])
            .observe(began.elapsed().as_secs_f64());
    }
    response
}
