//! The request log in JSON: one line per request with its id, route template, status, latency,
//! organization and principal, and never a credential or a body.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{call, exited, free_port, ready, register, serve_command, terminate};
use serde_json::{Value, json};

#[tokio::test]
async fn json_request_lines_name_the_route_the_organization_and_the_principal_only() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/logs.db?mode=rwc", dir.path().display());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut server = serve_command(&database, port, &["--run-concurrency", "0"])
        .env("BULKHEAD_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    ready(&client, &base).await;

    let registered = register(&client, &base, "logs@example.com").await;
    let token = registered["access_token"].as_str().unwrap().to_owned();
    let refresh = registered["refresh_token"].as_str().unwrap().to_owned();
    let organization = registered["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let user = registered["user"]["id"].as_str().unwrap().to_owned();
    let secret_description = "a body the log must not hold";
    let project = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/api/v1/projects"),
        Some(&token),
        Some(json!({ "name": "p", "description": secret_description })),
    )
    .await;
    let project_id = project["id"].as_str().unwrap();
    let read = client
        .get(format!(
            "{base}/api/v1/projects/{project_id}?verify=token-in-query"
        ))
        .bearer_auth(&token)
        .header("x-request-id", "trace-me-1")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);

    terminate(&server);
    exited(&mut server, Duration::from_secs(20)).await;
    let mut output = String::new();
    std::io::Read::read_to_string(&mut server.stdout.take().unwrap(), &mut output).unwrap();

    let lines: Vec<Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let served = lines
        .iter()
        .find(|line| {
            line["span"]["request_id"] == "trace-me-1" && line["fields"]["message"] == "served"
        })
        .unwrap_or_else(|| panic!("no request line: {output}"));
    let span = &served["span"];
    assert_eq!(span["route"], "/api/v1/projects/{project_id}", "{served}");
    assert_eq!(span["method"], "GET", "{served}");
    assert_eq!(span["organization_id"], organization.as_str(), "{served}");
    assert_eq!(span["principal"], format!("user:{user}"), "{served}");
    assert_eq!(served["fields"]["status"], 200, "{served}");
    assert!(served["fields"]["elapsed_ms"].is_u64(), "{served}");

    // A request without credentials has a line too, with no organization or principal.
    let signup = lines
        .iter()
        .find(|line| {
            line["span"]["route"] == "/api/v1/auth/register"
                && line["fields"]["message"] == "served"
        })
        .unwrap_or_else(|| panic!("no sign-up line: {output}"));
    assert!(signup["span"].get("principal").is_none(), "{signup}");

    for secret in [
        token.as_str(),
        refresh.as_str(),
        "correct horse battery",
        secret_description,
        "token-in-query",
    ] {
        assert!(!output.contains(secret), "the log holds {secret:?}");
    }
}
