//! SIGTERM on the real binary: the run worker stops claiming, a run that finishes within the
//! grace period is stored as finished, one that does not is handed back to the queue (not left
//! `running`, not counted as an attempt), and the process exits 0.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{call, echo_agent, exited, free_port, ready, serve, status_of, terminate};
use serde_json::{Value, json};

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

    terminate(&server);
    let exit = exited(&mut server, Duration::from_secs(20)).await;
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

/// What one write under shutdown came to.
#[derive(Debug, Default)]
struct Outcomes {
    /// Ids of the projects the server answered 201 for, and whether the answer came after
    /// the signal.
    acknowledged: Vec<(String, bool)>,
    /// Clean refusals: 503 problem+json.
    refused: usize,
    /// Connections refused or closed.
    dropped: usize,
    /// Anything else, which fails the test.
    unexpected: Vec<String>,
}

/// Writes projects as fast as it can until told to stop.
async fn write_projects(
    client: reqwest::Client,
    url: String,
    token: String,
    writer: usize,
    signalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Outcomes {
    use std::sync::atomic::Ordering;
    let mut outcomes = Outcomes::default();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let sent = client
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({ "name": format!("w{writer}-{n}") }))
            .send()
            .await;
        let after_signal = signalled.load(Ordering::Relaxed);
        let response = match sent {
            Ok(response) => response,
            Err(_) => {
                outcomes.dropped += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let status = response.status().as_u16();
        let problem = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
        match (status, response.json::<Value>().await) {
            (201, Ok(body)) => outcomes
                .acknowledged
                .push((body["id"].as_str().unwrap().to_owned(), after_signal)),
            (503, Ok(_)) if problem => outcomes.refused += 1,
            // The body cut off with the connection: the write was not acknowledged.
            (_, Err(_)) => outcomes.dropped += 1,
            (status, Ok(body)) => outcomes.unexpected.push(format!("{status} {body}")),
        }
    }
    outcomes
}

/// SIGTERM in the middle of a stream of writes: readiness turns 503 at once while writes go on
/// being served for the drain delay, an open event stream ends with a retry hint, the process
/// exits 0, and afterwards the stored projects are exactly the acknowledged ones, each with its
/// audit record: every refusal was clean and nothing was half done.
#[tokio::test]
async fn sigterm_under_writes_keeps_every_acknowledged_write_and_nothing_else() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}/drain.db?mode=rwc", dir.path().display());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    // No worker: the run below stays queued, so its event stream stays open.
    let settings = [
        "--shutdown-delay-secs",
        "1",
        "--run-concurrency",
        "0",
        "--requests-per-minute",
        "1000000",
    ];
    let mut server = serve(&database, port, &settings);
    ready(&client, &base).await;
    let (token, runs) = echo_agent(&client, &base, "drain@example.com").await;
    let run = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/api/v1{runs}"),
        Some(&token),
        Some(json!({ "input": { "text": "hi" } })),
    )
    .await;
    let stream = client
        .get(format!(
            "{base}/api/v1/runs/{}/events",
            run["id"].as_str().unwrap()
        ))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);

    let signalled = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..6)
        .map(|writer| {
            tokio::spawn(write_projects(
                client.clone(),
                format!("{base}/api/v1/projects"),
                token.clone(),
                writer,
                signalled.clone(),
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    terminate(&server);
    signalled.store(true, Ordering::Relaxed);

    // Readiness turns at once, while the instance still serves.
    let prober = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_millis(900);
    let not_ready = loop {
        let reply = prober
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .unwrap();
        if reply.status() == 503 {
            break reply.json::<Value>().await.unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "readiness still {}",
            reply.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(not_ready["type"], "urn:bulkhead:problem:shutting-down");
    let streamed = tokio::time::timeout(Duration::from_secs(5), stream.text())
        .await
        .expect("the event stream was not closed")
        .unwrap();
    assert!(
        streamed.contains("\nretry: 1000\n") || streamed.starts_with("retry: 1000\n"),
        "no retry hint: {streamed:?}"
    );

    let exit = exited(&mut server, Duration::from_secs(20)).await;
    assert!(exit.success(), "exit {exit:?}");
    stop.store(true, Ordering::Relaxed);
    let mut all = Outcomes::default();
    for writer in writers {
        let outcome = writer.await.unwrap();
        all.acknowledged.extend(outcome.acknowledged);
        all.refused += outcome.refused;
        all.dropped += outcome.dropped;
        all.unexpected.extend(outcome.unexpected);
    }
    assert!(all.unexpected.is_empty(), "{:?}", all.unexpected);
    assert!(
        all.acknowledged.iter().any(|(_, after)| *after),
        "nothing was served during the drain delay"
    );

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut reader = serve(&database, port, &["--run-concurrency", "0"]);
    ready(&client, &base).await;
    let mut stored = std::collections::BTreeSet::new();
    loop {
        let page = call(
            &client,
            reqwest::Method::GET,
            format!("{base}/api/v1/projects?limit=100&offset={}", stored.len()),
            Some(&token),
            None,
        )
        .await;
        let ids = page["data"].as_array().unwrap();
        stored.extend(ids.iter().map(|p| p["id"].as_str().unwrap().to_owned()));
        if ids.is_empty() || page["has_more"] != true {
            break;
        }
    }
    let audited = call(
        &client,
        reqwest::Method::GET,
        format!("{base}/api/v1/audit-events?action=project.created&limit=1"),
        Some(&token),
        None,
    )
    .await;
    reader.kill().unwrap();
    let _ = reader.wait();
    let acknowledged: std::collections::BTreeSet<_> =
        all.acknowledged.into_iter().map(|(id, _)| id).collect();
    assert_eq!(
        stored, acknowledged,
        "stored and acknowledged differ ({} refused, {} dropped)",
        all.refused, all.dropped
    );
    assert_eq!(audited["total"], stored.len(), "{audited}");
}
