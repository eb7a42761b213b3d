//! Logging and tracing set-up.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry};

/// Keeps the trace exporter alive; dropping it sends the spans still buffered.
#[must_use = "dropping it at once stops exporting traces"]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(traces) = self.traces.take()
            && let Err(err) = traces.shutdown()
        {
            eprintln!("traces not all exported at shutdown: {err}");
        }
    }
}

/// Logs to stdout; `RUST_LOG` filters (default `info`), `BULKHEAD_LOG_FORMAT=json` switches to
/// JSON lines for log shippers. With `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans (each request,
/// each unit of work in the database) also go out over OTLP (HTTP/protobuf; the exporter reads
/// the standard `OTEL_*` variables, `OTEL_SERVICE_NAME` included).
pub fn init() -> Telemetry {
    let logs = || {
        EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"))
    };
    let json = std::env::var("BULKHEAD_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // Boxed layers in a Vec, not Options: an absent `Option` layer declares interest in every
    // callsite, which would make every span and debug event of every crate be built (and then
    // dropped by the filters) even with RUST_LOG=warn.
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = Vec::new();
    if json {
        layers.push(
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .json()
                .with_filter(logs())
                .boxed(),
        );
    } else {
        layers.push(
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_filter(logs())
                .boxed(),
        );
    }
    let traces = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|endpoint| !endpoint.trim().is_empty())
        .and_then(|_| match otlp() {
            Ok(provider) => Some(provider),
            Err(err) => {
                eprintln!(
                    "OTEL_EXPORTER_OTLP_ENDPOINT is set, but traces cannot be exported: {err}"
                );
                None
            }
        });
    // Traces do not follow RUST_LOG, which quiets logs: the application's spans always go out,
    // and never those of the HTTP client that exports them (it would trace its own exports).
    if let Some(provider) = &traces {
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("bulkhead"))
                .with_filter(EnvFilter::new(
                    "info,sqlx=warn,sea_orm=warn,hyper=off,hyper_util=off,reqwest=off,h2=off,opentelemetry=off,opentelemetry_sdk=off,opentelemetry_http=off,opentelemetry_otlp=off",
                ))
                .boxed(),
        );
    }
    // A subscriber set earlier (tests) wins; that is fine.
    let _ = tracing_subscriber::registry().with(layers).try_init();
    Telemetry { traces }
}

fn otlp() -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("bulkhead");
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}
