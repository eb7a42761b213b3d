//! Running the real `bulkhead` binary in tests: start it on a free port, wait for it, call it,
//! signal it.

#![allow(dead_code, clippy::unwrap_used)]

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const SECRET: &str = "shutdown-secret-shutdown-secret-0123456789";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `bulkhead serve` on `database` and `port`, with a fixed JWT secret (so that a second
/// process accepts the first one's tokens), cheap hashing and a 3 s grace period; its output
/// is discarded.
pub fn serve(database: &str, port: u16, extra: &[&str]) -> Child {
    serve_command(database, port, extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The command [`serve`] runs, to adjust (its output, its environment) before spawning.
pub fn serve_command(database: &str, port: u16, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bulkhead"));
    command
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            database,
            "--jwt-secret",
            SECRET,
            "--bcrypt-cost",
            "4",
            "--shutdown-grace-secs",
            "3",
            // These tests make more than the shipped free plan allows; the flag's own file
            // format is checked on the way.
            "--billing-plans",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/unlimited-plans.json"),
        ])
        .args(extra)
        .env("RUST_LOG", "warn");
    command
}

/// Waits until the server at `base` answers.
pub async fn ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends SIGTERM.
pub fn terminate(server: &Child) {
    let terminated = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
}

/// Waits for the process to end, at most `limit`.
pub async fn exited(server: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = server.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the server did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A successful call's JSON body.
pub async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> Value {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

pub async fn status_of(client: &reqwest::Client, base: &str, token: &str, run: &Value) -> Value {
    call(
        client,
        reqwest::Method::GET,
        format!("{base}/api/v1/runs/{}", run["id"].as_str().unwrap()),
        Some(token),
        None,
    )
    .await
}

/// Signs up at `base`: the owner's registration answer.
pub async fn register(client: &reqwest::Client, base: &str, email: &str) -> Value {
    call(
        client,
        reqwest::Method::POST,
        format!("{base}/api/v1/auth/register"),
        None,
        Some(json!({ "email": email, "password": "correct horse battery", "name": "S", "organization_name": "S" })),
    )
    .await
}

/// Signs up at `base` and makes an echo agent: the owner's token and the agent's runs path.
pub async fn echo_agent(client: &reqwest::Client, base: &str, email: &str) -> (String, String) {
    let registered = register(client, base, email).await;
    let token = registered["access_token"].as_str().unwrap().to_owned();
    let config = call(
        client,
        reqwest::Method::POST,
        format!("{base}/api/v1/agent-configs"),
        Some(&token),
        Some(json!({ "name": "c", "agent_type": "custom", "model": "m" })),
    )
    .await;
    let agent = call(
        client,
        reqwest::Method::POST,
        format!("{base}/api/v1/agents"),
        Some(&token),
        Some(json!({ "agent_key": "a", "config_id": config["id"] })),
    )
    .await;
    let runs = format!("/agents/{}/runs", agent["id"].as_str().unwrap());
    (token, runs)
}
