//! Executors of runs. `echo` is built in: it needs no model, so tests and demos run end to end.

use std::time::Duration;

use async_trait::async_trait;
use bulkhead_domain::runs::{EventKind, EventSink, Executor, Outcome, Run};
use serde_json::{Value, json};

/// The longest `delay_ms` echo honours, so a demo input cannot hold a worker for hours.
const MAX_DELAY: Duration = Duration::from_secs(600);

/// Succeeds with `{"echo": input}` after `input.delay_ms` (default 0), or fails with
/// `input.fail` as its error when that is a string.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoExecutor;

#[async_trait]
impl Executor for EchoExecutor {
    async fn execute(&self, run: &Run, events: &dyn EventSink) -> Outcome {
        let input = run.input.as_map();
        let delay = input
            .get("delay_ms")
            .and_then(Value::as_u64)
            .map_or(Duration::ZERO, Duration::from_millis)
            .min(MAX_DELAY);
        if !delay.is_zero() {
            let _ = events
                .emit(
                    EventKind::Log,
                    json!({ "message": format!("waiting {} ms", delay.as_millis()) }),
                )
                .await;
            tokio::time::sleep(delay).await;
        }
        if let Some(error) = input.get("fail").and_then(Value::as_str) {
            let _ = events
                .emit(EventKind::Error, json!({ "message": error }))
                .await;
            return Outcome::Failed(error.to_owned());
        }
        let output = json!({ "echo": Value::Object(input.clone()) });
        let _ = events
            .emit(
                EventKind::OutputDelta,
                json!({ "text": output.to_string() }),
            )
            .await;
        Outcome::Succeeded {
            output,
            tokens_in: 0,
            tokens_out: 0,
        }
    }
}
