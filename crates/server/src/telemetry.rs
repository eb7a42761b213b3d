//! Logging set-up.

use tracing_subscriber::EnvFilter;

/// Logs to stdout; `RUST_LOG` filters (default `info`), `BULKHEAD_LOG_FORMAT=json` switches to
/// JSON lines for log shippers.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let json = std::env::var("BULKHEAD_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // A subscriber set earlier (tests) wins; that is fine.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
