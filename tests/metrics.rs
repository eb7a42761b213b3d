//! `/metrics`, read with a Prometheus text-format parser: requests by route template (never
//! the raw path), method and status, latency histograms, the database pools, the queues and
//! the process's memory, on an address of its own and nowhere on the API's.

#![allow(clippy::unwrap_used)]

use bulkhead_server::Application;
use bulkhead_tests::{TestDatabase, test_config};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn metrics_are_served_apart_from_the_api_by_route_template() {
    let database = TestDatabase::create().await;
    let mut config = test_config(database.app_url.clone());
    config.metrics_bind = Some("127.0.0.1:0".into());
    let app = Application::build(config).await.unwrap();
    let base = app.base_url();
    let metrics = app.metrics_url().unwrap();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();

    let registered: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({
            "email": "metrics@example.com", "password": bulkhead_tests::PASSWORD,
            "name": "M", "organization_name": "Metrics"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = registered["access_token"].as_str().unwrap();
    let mut asked = Vec::new();
    for _ in 0..3 {
        let id = uuid::Uuid::now_v7();
        asked.push(id.to_string());
        let missing = client
            .get(format!("{base}/api/v1/projects/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }
    let stray = uuid::Uuid::now_v7().to_string();
    asked.push(stray.clone());
    let nowhere = client
        .get(format!("{base}/no/such/{stray}"))
        .send()
        .await
        .unwrap();
    assert_eq!(nowhere.status(), StatusCode::NOT_FOUND);
    // Not on the API's address.
    let api = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(api.status(), StatusCode::NOT_FOUND);

    let reply = client.get(&metrics).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    assert!(
        reply.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = reply.text().await.unwrap();
    let samples = parse(&text);

    let find = |name: &str, labels: &[(&str, &str)]| -> f64 {
        samples
            .iter()
            .find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
            .and_then(|s| s["value"].as_f64())
            .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
    };
    let projects = [
        ("route", "/api/v1/projects/{project_id}"),
        ("method", "GET"),
        ("status", "404"),
    ];
    assert_eq!(find("bulkhead_http_requests_total", &projects), 3.0);
    assert_eq!(
        find(
            "bulkhead_http_requests_total",
            &[("route", "/api/v1/auth/register"), ("status", "201")],
        ),
        1.0
    );
    // Every path no route matches is one series, the API's own /metrics included.
    assert_eq!(
        find(
            "bulkhead_http_requests_total",
            &[("route", "unmatched"), ("status", "404")],
        ),
        2.0
    );
    // No series is keyed by a raw path.
    for sample in &samples {
        if let Some(route) = sample["labels"]["route"].as_str() {
            assert!(
                !asked.iter().any(|id| route.contains(id.as_str())),
                "a raw path as a label: {route}"
            );
        }
    }
    let latency = [
        ("route", "/api/v1/projects/{project_id}"),
        ("method", "GET"),
    ];
    assert_eq!(
        find("bulkhead_http_request_duration_seconds_count", &latency),
        3.0
    );
    let mut inf = latency.to_vec();
    inf.push(("le", "+Inf"));
    assert_eq!(
        find("bulkhead_http_request_duration_seconds_bucket", &inf),
        3.0
    );
    assert!(find("bulkhead_db_pool_max_connections", &[]) >= 1.0);
    assert!(find("bulkhead_db_pool_connections", &[("state", "idle")]) >= 0.0);
    // Every request above began at least one unit of work, each after waiting for a connection.
    assert!(
        find(
            "bulkhead_db_pool_wait_seconds_count",
            &[("for", "connection")]
        ) >= 4.0
    );
    assert!(
        find(
            "bulkhead_db_pool_wait_seconds_bucket",
            &[("for", "connection"), ("le", "+Inf")]
        ) >= 4.0
    );
    assert_eq!(find("bulkhead_run_queue_runs", &[("state", "queued")]), 0.0);
    assert_eq!(find("bulkhead_run_queue_runs", &[("state", "leased")]), 0.0);
    assert_eq!(
        find("bulkhead_billing_events", &[("status", "pending")]),
        0.0
    );
    assert_eq!(
        find("bulkhead_billing_events", &[("status", "failed")]),
        0.0
    );
    // The welcome email waits in the outbox or has gone out: a figure either way.
    assert!(find("bulkhead_outbox_pending_emails", &[]) >= 0.0);
    assert!(find("process_resident_memory_bytes", &[]) > 1e6);
}

/// The samples of `text` as the Prometheus project's own parser reads them (its Python
/// client, through scripts/prometheus-parse.sh); fails on text it rejects.
fn parse(text: &str) -> Vec<Value> {
    use std::io::Write;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/prometheus-parse.sh"
    );
    let mut parser = std::process::Command::new(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("scripts/prometheus-parse.sh runs");
    parser
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = parser.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the Prometheus parser rejects /metrics: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}
