//! `/metrics`: the process's series in Prometheus text format, on an address of its own
//! (`BULKHEAD_METRICS_BIND`), so that nothing of it reaches the API's clients.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use bulkhead_infra::Store;
use bulkhead_infra::metrics::StoreMetrics;
use prometheus::{Encoder, Registry, TextEncoder};

/// Everything `/metrics` renders.
pub struct Metrics {
    registry: Registry,
    store: StoreMetrics,
}

impl Metrics {
    /// The process's registry (the process collector's series already in it) and the store's
    /// series over `pools`.
    pub fn new(registry: Registry, pools: Vec<Store>) -> Result<Self, prometheus::Error> {
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let store = StoreMetrics::register(pools, &registry)?;
        Ok(Self { registry, store })
    }

    /// The text format, with the store's figures read now.
    async fn render(&self) -> HttpResponse {
        if let Err(err) = self.store.refresh().await {
            // The pool figures and the process's series still tell what an operator needs
            // during an outage; the queues keep their last figures.
            tracing::warn!(error = %err, "metrics: the store's queues could not be read");
        }
        let mut body = Vec::new();
        match TextEncoder::new().encode(&self.registry.gather(), &mut body) {
            Ok(()) => HttpResponse::Ok()
                .content_type(prometheus::TEXT_FORMAT)
                .body(body),
            Err(err) => {
                tracing::error!(error = %err, "metrics: encoding failed");
                HttpResponse::InternalServerError().finish()
            }
        }
    }
}

/// Serves `GET /metrics` on `listener` (one worker: a scrape every few seconds needs no more).
pub fn serve(listener: TcpListener, metrics: Arc<Metrics>) -> std::io::Result<Server> {
    let metrics = web::Data::from(metrics);
    Ok(HttpServer::new(move || {
        App::new().app_data(metrics.clone()).route(
            "/metrics",
            web::get().to(|metrics: web::Data<Metrics>| async move { metrics.render().await }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}
