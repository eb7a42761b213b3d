//! SIGTERM on the real binary: the run worker stops claiming, a run that finishes within the
//! grace period is stored as finished, one that does not is handed back to the queue (not left
//! `running`, not counted as an attempt), and the process exits 0.

#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const SECRET: &str = "shutdown-secret-shutdown-secret-0123456789";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve(database: &str, port: u16, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_bulkhead"))
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
        ])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn call(
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

async fn status_of(client: &reqwest::Client, base: &str, token: &str, run: &Value) -> Value {
    call(
        client,
        reqwest::Method::GET,
        format!("{base}/api/v1/runs/{}", run["id"].as_str().unwrap()),
        Some(token),
        None,
    )
    .await
}

/// Signs up at `base` and makes an echo agent: the owner's token and the agent's runs path.
async fn echo_agent(client: &reqwest::Client, base: &str, email: &str) -> (String, String) {
    let registered = call(
        client,
        reqwest::Method::POST,
        format!("{base}/api/v1/auth/register"),
        None,
        Some(json!({ "email": email, "password": "correct horse battery", "name": "S", "organization_name": "S" })),
    )
    .await;
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

#[tokio::test]
async fn sigterm_finishes_what_it_can_and_hands_back_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/shutdown.db?mode=rwc", dir.path().display());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = serve(&database, port, &[]);
    ready(&client, &base).await;

    let (token, runs) = echo_agent(&client, &base, "sigterm@example.com").await;
    let post = |path: &str, body: Value| {
        call(
            &client,
            reqwest::Method::POST,
            format!("{base}/api/v1{path}"),
            Some(&token),
            Some(body),
        )
    };
    let long = post(&runs, json!({ "input": { "delay_ms": 60_000 } })).await;
    let short = post(&runs, json!({ "input": { "delay_ms": 1500 } })).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (l, s) = (
            status_of(&client, &base, &token, &long).await,
            status_of(&client, &base, &token, &short).await,
        );
        if l["status"] == "running" && s["status"] == "running" {
            break;
        }
        assert!(Instant::now() < deadline, "not both running: {l} {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let terminated = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "exit {exit:?}");

    // A server that runs nothing shows what the first left behind.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut reader = serve(&database, port, &["--run-concurrency", "0"]);
    ready(&client, &base).await;
    let short = status_of(&client, &base, &token, &short).await;
    let long = status_of(&client, &base, &token, &long).await;
    reader.kill().unwrap();
    let _ = reader.wait();
    assert_eq!(
        short["status"], "succeeded",
        "finished within the grace period: {short}"
    );
    assert_eq!(long["status"], "queued", "handed back: {long}");
    assert_eq!(
        long["attempt"], 0,
        "a handed-back start is not an attempt: {long}"
    );
}

/// kill -9 in the middle of a run: the dead worker's lease runs out, a `bulkhead worker`
/// process retries the run, and it finishes; nothing stays `running`.
#[tokio::test]
async fn a_killed_servers_run_is_retried_by_a_standalone_worker() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/killed.db?mode=rwc", dir.path().display());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let lease = ["--run-lease-secs", "3"];
    let mut doomed = serve(&database, port, &lease);
    ready(&client, &base).await;
    let (token, runs) = echo_agent(&client, &base, "kill9@example.com").await;
    let run = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/api/v1{runs}"),
        Some(&token),
        Some(json!({ "input": { "delay_ms": 2000 } })),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while status_of(&client, &base, &token, &run).await["status"] != "running" {
        assert!(Instant::now() < deadline, "the run never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    doomed.kill().unwrap();
    let _ = doomed.wait();

    // The retry is the work of `bulkhead worker`, a process with no HTTP; a server that runs
    // nothing answers the reads.
    let mut survivor = Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args([
            "worker",
            "--database-url",
            &database,
            "--run-lease-secs",
            "3",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut reader = serve(&database, port, &["--run-concurrency", "0"]);
    ready(&client, &base).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let finished = loop {
        let now = status_of(&client, &base, &token, &run).await;
        if now["status"] == "succeeded" {
            break now;
        }
        assert!(Instant::now() < deadline, "not retried: {now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for process in [&mut survivor, &mut reader] {
        process.kill().unwrap();
        let _ = process.wait();
    }
    assert_eq!(finished["attempt"], 2, "{finished}");
}
