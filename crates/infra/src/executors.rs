//! Executors of runs. `echo` is built in: it needs no model, so tests and demos run end to end.
//! `openai_compatible` calls a chat-completions service at the configuration's `base_url`.

use std::time::Duration;

use async_trait::async_trait;
use bulkhead_domain::agent_configs::ProviderUrl;
use bulkhead_domain::runs::{EventKind, EventSink, Executor, Outcome, Started};
use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::{Value, json};

use crate::provider_urls::ProviderUrlPolicy;

/// The longest `delay_ms` echo honours, so a demo input cannot hold a worker for hours.
const MAX_DELAY: Duration = Duration::from_secs(600);

/// Succeeds with `{"echo": input}` after `input.delay_ms` (default 0), or fails with
/// `input.fail` as its error when that is a string. A conversation's reply answers
/// `{"text": "echo: <the latest user message>"}`. A work session's run (an input with a
/// `task`) does the task as a model would be asked to: it first stops at a checkpoint when the
/// task asks for one, and once resumed (or without one) writes a `report` derived from the
/// task.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoExecutor;

#[async_trait]
impl Executor for EchoExecutor {
    async fn execute(&self, job: &Started, events: &dyn EventSink) -> Outcome {
        let input = job.run.input.as_map();
        // A reply takes its delay from the metadata of the message it answers.
        let delay = input
            .get("delay_ms")
            .or_else(|| input.get("metadata").and_then(|m| m.get("delay_ms")))
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
        let output = match (input.get("task"), input.get("conversation_id")) {
            (Some(task), _) => work(task),
            // A conversation's reply: the user's latest words back, as a model's text.
            (None, Some(_)) => json!({
                "text": format!("echo: {}", input.get("prompt").and_then(Value::as_str).unwrap_or_default())
            }),
            (None, None) => json!({ "echo": Value::Object(input.clone()) }),
        };
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

/// Calls `POST {base_url}/chat/completions` with `stream: true`: the version's model,
/// temperature, max tokens and system prompt, and `input.prompt` (or the whole input as JSON)
/// as the user's message. Each delta becomes an `output_delta` event; the usage the provider
/// reports becomes the run's tokens. 429 and 5xx answers, and connections that fail, are
/// retried with exponential backoff that honours `Retry-After`.
///
/// The URL is checked against the deployment's policy again right before connecting, and the
/// connection goes to the addresses that check admitted (not to a second lookup), so a name
/// re-pointed at an internal address after the configuration was saved is refused. Redirects
/// are not followed.
#[derive(Debug, Clone)]
pub struct OpenAiCompatibleExecutor {
    policy: ProviderUrlPolicy,
    retries: u32,
    backoff: Duration,
}

/// The longest wait between retries, whatever `Retry-After` asks.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl OpenAiCompatibleExecutor {
    /// An executor calling only URLs `policy` admits, retrying up to `retries` times.
    pub fn new(policy: ProviderUrlPolicy, retries: u32) -> Self {
        Self {
            policy,
            retries,
            backoff: Duration::from_millis(500),
        }
    }

    fn wait(&self, attempt: u32, headers: Option<&HeaderMap>) -> Duration {
        let asked = headers
            .and_then(|h| h.get(RETRY_AFTER))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        asked
            .unwrap_or_else(|| self.backoff * 2u32.saturating_pow(attempt))
            .min(MAX_BACKOFF)
    }

    fn request(job: &Started) -> Value {
        let settings = &job.settings;
        let input = job.run.input.as_map();
        let prompt = match input.get("prompt") {
            Some(Value::String(prompt)) => prompt.clone(),
            _ => Value::Object(input.clone()).to_string(),
        };
        let mut messages = Vec::new();
        if let Some(system) = settings["system_prompt"].as_str().filter(|s| !s.is_empty()) {
            messages.push(json!({ "role": "system", "content": system }));
        }
        // A reply with a knowledge base reads the chunks retrieved for it first.
        if let Some(chunks) = input.get("knowledge").and_then(Value::as_array)
            && !chunks.is_empty()
        {
            let sources: Vec<String> = chunks
                .iter()
                .enumerate()
                .map(|(n, c)| {
                    format!(
                        "[{}] {}: {}",
                        n + 1,
                        c["title"].as_str().unwrap_or_default(),
                        c["content"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            messages.push(json!({
                "role": "system",
                "content": format!(
                    "Answer from these sources where they help, citing them by number:\n\n{}",
                    sources.join("\n\n")
                ),
            }));
        }
        // A conversation's reply reads the conversation; any other run, its prompt.
        match input.get("messages").and_then(Value::as_array) {
            Some(history) if input.contains_key("conversation_id") => {
                messages.extend(
                    history
                        .iter()
                        .filter(|m| {
                            matches!(m["role"].as_str(), Some("user" | "assistant" | "system"))
                                && m["content"].is_string()
                        })
                        .cloned(),
                );
            }
            _ => messages.push(json!({ "role": "user", "content": prompt })),
        }
        json!({
            "model": settings["model"],
            "temperature": settings["temperature"],
            "max_tokens": settings["max_tokens"],
            "stream": true,
            "stream_options": { "include_usage": true },
            "messages": messages,
        })
    }

    /// Reads the event stream of a successful answer.
    async fn read(&self, response: reqwest::Response, events: &dyn EventSink) -> Outcome {
        let mut body = response.bytes_stream();
        let mut pending: Vec<u8> = Vec::new();
        let mut text = String::new();
        let (mut tokens_in, mut tokens_out) = (0, 0);
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(err) => {
                    return Outcome::Failed(format!("the provider's stream broke off: {err}"));
                }
            };
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line);
                let Some(data) = line.trim().strip_prefix("data:").map(str::trim) else {
                    continue;
                };
                if data == "[DONE]" {
                    return Outcome::Succeeded {
                        output: json!({ "text": text }),
                        tokens_in,
                        tokens_out,
                    };
                }
                let Ok(message) = serde_json::from_str::<Value>(data) else {
                    continue;
                };
                if let Some(delta) = message["choices"][0]["delta"]["content"]
                    .as_str()
                    .filter(|d| !d.is_empty())
                {
                    text.push_str(delta);
                    let _ = events
                        .emit(EventKind::OutputDelta, json!({ "text": delta }))
                        .await;
                }
                if let Some(usage) = message.get("usage").filter(|u| u.is_object()) {
                    tokens_in = usage["prompt_tokens"].as_i64().unwrap_or(tokens_in);
                    tokens_out = usage["completion_tokens"].as_i64().unwrap_or(tokens_out);
                }
            }
        }
        // Some services end the stream without `[DONE]`; what arrived is the answer.
        Outcome::Succeeded {
            output: json!({ "text": text }),
            tokens_in,
            tokens_out,
        }
    }
}

#[async_trait]
impl Executor for OpenAiCompatibleExecutor {
    async fn execute(&self, job: &Started, events: &dyn EventSink) -> Outcome {
        let Some(url) = job.settings["base_url"]
            .as_str()
            .and_then(|u| ProviderUrl::parse(u).ok())
        else {
            return Outcome::Failed("the configuration version has no base_url".into());
        };
        let addresses = match self.policy.resolve(&url).await {
            Ok(addresses) => addresses,
            Err(err) => {
                return Outcome::Failed(format!(
                    "the provider URL is refused at connect time: {err}"
                ));
            }
        };
        let host = url.url().host_str().unwrap_or_default().to_owned();
        let client = match reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve_to_addrs(&host, &addresses)
            .connect_timeout(Duration::from_secs(10))
            .build()
        {
            Ok(client) => client,
            Err(err) => return Outcome::Failed(format!("no HTTP client: {err}")),
        };
        let endpoint = format!("{}/chat/completions", url.as_str());
        let body = Self::request(job);
        let mut attempt = 0;
        loop {
            let mut request = client.post(&endpoint).json(&body);
            if let Some(key) = &job.credential {
                request = request.bearer_auth(key.expose());
            }
            let (wait, why) = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    return self.read(response, events).await;
                }
                Ok(response)
                    if response.status() == StatusCode::TOO_MANY_REQUESTS
                        || response.status().is_server_error() =>
                {
                    (
                        self.wait(attempt, Some(response.headers())),
                        format!("the provider answered {}", response.status()),
                    )
                }
                Ok(response) => {
                    let status = response.status();
                    let detail: String = response
                        .text()
                        .await
                        .unwrap_or_default()
                        .chars()
                        .take(500)
                        .collect();
                    return Outcome::Failed(format!("the provider answered {status}: {detail}"));
                }
                Err(err) => (
                    self.wait(attempt, None),
                    format!("the provider did not answer: {err}"),
                ),
            };
            if attempt >= self.retries {
                return Outcome::Failed(why);
            }
            attempt += 1;
            let _ = events
                .emit(
                    EventKind::Log,
                    json!({ "message": format!("{why}; retry {attempt} in {} ms", wait.as_millis()) }),
                )
                .await;
            tokio::time::sleep(wait).await;
        }
    }
}

/// What echo makes of a work session's task: a checkpoint to stop at, or the report.
fn work(task: &Value) -> Value {
    let intent = task["task_intent"].as_str().unwrap_or_default();
    let kind = task["task_type"].as_str().unwrap_or("task");
    let short: String = intent.chars().take(120).collect();
    if task["checkpoint"] == true && task.get("resume").is_none() {
        return json!({
            "checkpoint": {
                "title": format!("Approve the plan: {short}"),
                "details": {
                    "task_type": kind,
                    "plan": ["gather sources", "draft the findings", "write the report"],
                },
            },
        });
    }
    let words = intent.split_whitespace().count();
    json!({
        "artifacts": [{
            "artifact_type": "report",
            "title": format!("{} report: {short}", kind.replace('_', " ")),
            "content": {
                "task_intent": intent,
                "task_parameters": task["task_parameters"],
                "summary": format!("A {kind} of {words} words of intent, done by echo."),
                "resumed_from": task["resume"]["checkpoint_id"],
            },
        }],
    })
}
