//! Runs over HTTP, on both stores: queued by people and keys, executed once by the in-process
//! worker with the `echo` executor, followed as events (JSON and Server-Sent Events),
//! cancelled, timed out, retried after a dead worker, summed up as metrics, and invisible to
//! other tenants. Two servers on one PostgreSQL database share the queue.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::Duration;

use bulkhead_tests::{Store, Tenant, TestApp, both_stores, spawn_app_with, within};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

both_stores! {
    a_run_is_queued_executed_once_and_traced_to_its_settings;
    failures_cancellations_and_time_limits_end_runs_for_good;
    runs_start_only_on_live_unpaused_active_agents;
    events_stream_as_server_sent_events_and_resume;
    runs_page_by_keyset_and_add_up_to_metrics;
    every_run_route_hides_other_tenants;
    a_dead_workers_run_is_retried_then_failed;
}

fn runs_of(agent: &Value) -> String {
    format!("/api/v1/agents/{}/runs", agent["id"].as_str().unwrap())
}

fn run_path(run: &Value) -> String {
    format!("/api/v1/runs/{}", run["id"].as_str().unwrap())
}

async fn start(app: &TestApp, tenant: &Tenant, agent: &Value, input: Value) -> Value {
    let reply = app
        .post(
            &runs_of(agent),
            Some(&tenant.token),
            json!({ "input": input }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    assert_eq!(
        reply.headers["location"].to_str().unwrap(),
        run_path(&reply.body)
    );
    reply.body
}

/// Waits until the run has the status `wanted`, and answers it.
async fn settled(app: &TestApp, tenant: &Tenant, run: &Value, wanted: &str) -> Value {
    app.settled(&run_path(run), &tenant.token, wanted).await
}

async fn event_page(app: &TestApp, tenant: &Tenant, run: &Value, after: i64) -> Vec<Value> {
    let reply = app
        .get(
            &format!("{}/events?after={after}", run_path(run)),
            &tenant.token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"].as_array().unwrap().clone()
}

async fn a_run_is_queued_executed_once_and_traced_to_its_settings(app: TestApp) {
    let a = app.register("runs@example.com").await;
    let (config, agent) = app.echo_agent(&a, "echoer").await;
    // A change of behaviour before the run: the run records the version it ran with.
    app.patch(
        &format!("/api/v1/agent-configs/{}", config["id"].as_str().unwrap()),
        &a.token,
        json!({ "system_prompt": "Echo." }),
    )
    .await;
    let queued = start(&app, &a, &agent, json!({ "prompt": "hello" })).await;
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["config_version"], 2);
    assert_eq!(queued["created_by"], json!(a.user_id));
    assert_eq!(queued["attempt"], 0);
    let done = settled(&app, &a, &queued, "succeeded").await;
    assert_eq!(done["output"], json!({ "echo": { "prompt": "hello" } }));
    assert_eq!(done["attempt"], 1);
    assert!(done["duration_ms"].as_i64().unwrap() >= 0);
    assert!(done["started_at"].is_string() && done["finished_at"].is_string());

    let events = event_page(&app, &a, &queued, 0).await;
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "gapless");
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["data"]["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("status", "queued"),
            ("status", "running"),
            ("output_delta", ""),
            ("status", "succeeded")
        ]
    );
    assert_eq!(event_page(&app, &a, &queued, 3).await.len(), 1);

    // An API key with agents:run starts runs as its creator, and is named on them.
    let key = app.api_key_secret(&a, &["agents:run", "agents:read"]).await;
    let by_key = app
        .post(&runs_of(&agent), Some(&key), json!({ "input": {} }))
        .await;
    assert_eq!(by_key.status, StatusCode::ACCEPTED, "{}", by_key.body);
    assert!(by_key.body["api_key_id"].is_string());
    assert_eq!(by_key.body["created_by"], json!(a.user_id));

    // Retrying with the same Idempotency-Key starts nothing new.
    let first = app
        .post_once(
            &runs_of(&agent),
            &a.token,
            "run-key",
            &json!({ "input": { "n": 1 } }),
        )
        .await;
    let again = app
        .post_once(
            &runs_of(&agent),
            &a.token,
            "run-key",
            &json!({ "input": { "n": 1 } }),
        )
        .await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(again.body["id"], first.body["id"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");

    let actions = app.audit_actions(&a).await;
    for action in [
        "agent_run.queued",
        "agent_run.started",
        "agent_run.succeeded",
    ] {
        assert!(
            actions.contains(&action.to_owned()),
            "{action}: {actions:?}"
        );
    }
    let started = app.audit_events(&a).await;
    let by_system = started
        .iter()
        .find(|e| e["action"] == "agent_run.started")
        .unwrap();
    assert_eq!(by_system["actor_type"], "system");
    assert_eq!(by_system["actor_id"], "runs");
    let verified = app.get("/api/v1/audit-events/verify", &a.token).await;
    assert_eq!(verified.body["intact"], true, "{}", verified.body);
}

async fn failures_cancellations_and_time_limits_end_runs_for_good(app: TestApp) {
    let a = app.register("endings@example.com").await;
    let (_, agent) = app.echo_agent(&a, "ender").await;
    let failing = start(&app, &a, &agent, json!({ "fail": "no luck" })).await;
    let failed = settled(&app, &a, &failing, "failed").await;
    assert_eq!(failed["error"], "no luck");
    app.post(
        &format!("{}/cancel", run_path(&failing)),
        Some(&a.token),
        json!({}),
    )
    .await
    .assert_problem(409);

    let slow = start(&app, &a, &agent, json!({ "delay_ms": 60_000 })).await;
    settled(&app, &a, &slow, "running").await;
    let agent_path = format!("/api/v1/agents/{}", agent["id"].as_str().unwrap());
    let busy = app.get(&agent_path, &a.token).await;
    assert_eq!(busy.body["status"], "busy", "{}", busy.body);
    assert_eq!(
        busy.body["version"], agent["version"],
        "runtime status is no new version"
    );
    let cancelled = app
        .post(
            &format!("{}/cancel", run_path(&slow)),
            Some(&a.token),
            json!({}),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    app.post(
        &format!("{}/cancel", run_path(&slow)),
        Some(&a.token),
        json!({}),
    )
    .await
    .assert_problem(409);
    // The worker lets go of it (the lease renewal tells it), and the run stays cancelled.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = app.get(&run_path(&slow), &a.token).await;
    assert_eq!(later.body["status"], "cancelled");
    assert_eq!(app.get(&agent_path, &a.token).await.body["status"], "idle");
    let events = event_page(&app, &a, &slow, 0).await;
    assert_eq!(events.last().unwrap()["data"]["status"], "cancelled");

    // A run cancelled whether or not a worker has picked it up yet.
    let second = app.echo_agent(&a, "second").await.1;
    let queued = start(&app, &a, &second, json!({ "delay_ms": 60_000 })).await;
    let cancel_early = app
        .post(
            &format!("{}/cancel", run_path(&queued)),
            Some(&a.token),
            json!({}),
        )
        .await;
    assert_eq!(cancel_early.body["status"], "cancelled");

    let viewer = app
        .member_token(&a, "endings-viewer@example.com", "viewer")
        .await;
    app.post(
        &runs_of(&agent),
        Some(&viewer.token),
        json!({ "input": {} }),
    )
    .await
    .assert_problem(403);
    assert_eq!(
        app.get(&run_path(&queued), &viewer.token).await.status,
        StatusCode::OK
    );
}

mod limits {
    use super::*;

    bulkhead_tests::on_both_stores! {
        runs_past_the_time_limit_time_out;
    }

    async fn runs_past_the_time_limit_time_out(store: Store) {
        let app =
            spawn_app_with(store, |config| config.runs.timeout = Duration::from_secs(1)).await;
        let a = app.register("timeout@example.com").await;
        let (_, slow) = app.echo_agent(&a, "slowpoke").await;
        let run = start(&app, &a, &slow, json!({ "delay_ms": 30_000 })).await;
        let ended = settled(&app, &a, &run, "timed_out").await;
        assert!(
            ended["error"].as_str().unwrap().contains("time limit"),
            "{ended}"
        );
        assert!(ended["duration_ms"].as_i64().unwrap() >= 1000, "{ended}");
    }
}

async fn runs_start_only_on_live_unpaused_active_agents(app: TestApp) {
    let a = app.register("guards@example.com").await;
    let (config, agent) = app.echo_agent(&a, "guarded").await;
    let agent_path = format!("/api/v1/agents/{}", agent["id"].as_str().unwrap());
    let config_path = format!("/api/v1/agent-configs/{}", config["id"].as_str().unwrap());

    for (body, field) in [
        (json!({ "input": [1, 2] }), "input"),
        (json!({ "input": "text" }), "input"),
        (json!({}), "input"),
        (json!({ "input": {}, "status": "running" }), "status"),
    ] {
        let reply = app.post(&runs_of(&agent), Some(&a.token), body).await;
        reply.assert_problem(422);
        assert_eq!(reply.error_fields(), [field], "{}", reply.body);
    }
    let huge = app
        .post(
            &runs_of(&agent),
            Some(&a.token),
            json!({ "input": { "text": "x".repeat(300 * 1024) } }),
        )
        .await;
    huge.assert_problem(422);

    app.post(&format!("{agent_path}/pause"), Some(&a.token), json!({}))
        .await;
    app.post(&runs_of(&agent), Some(&a.token), json!({ "input": {} }))
        .await
        .assert_problem(409);
    app.post(&format!("{agent_path}/resume"), Some(&a.token), json!({}))
        .await;
    app.post(
        &format!("{config_path}/deactivate"),
        Some(&a.token),
        json!({}),
    )
    .await;
    app.post(&runs_of(&agent), Some(&a.token), json!({ "input": {} }))
        .await
        .assert_problem(409);
    app.post(
        &format!("{config_path}/activate"),
        Some(&a.token),
        json!({}),
    )
    .await;
    let run = start(&app, &a, &agent, json!({})).await;
    settled(&app, &a, &run, "succeeded").await;
    assert_eq!(
        app.get(&runs_of(&agent), &a.token).await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "refused starts stored nothing"
    );

    // A deleted agent starts nothing, lists nothing, and its runs stay readable.
    app.delete(&agent_path, &a.token).await;
    app.post(&runs_of(&agent), Some(&a.token), json!({ "input": {} }))
        .await
        .assert_problem(404);
    app.get(&runs_of(&agent), &a.token)
        .await
        .assert_problem(404);
    let kept = app.get(&run_path(&run), &a.token).await;
    assert_eq!(kept.status, StatusCode::OK);
    assert_eq!(kept.body["status"], "succeeded");
}

/// Reads an SSE body into (id, event, data) triples, and whether keep-alives came.
fn parse_sse(body: &str) -> Vec<(i64, String, Value)> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty() && !block.starts_with(':'))
        .map(|block| {
            let mut id = 0;
            let mut event = String::new();
            let mut data = Value::Null;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse().unwrap();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    event = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(v).unwrap();
                }
            }
            (id, event, data)
        })
        .collect()
}

async fn events_stream_as_server_sent_events_and_resume(app: TestApp) {
    let a = app.register("sse@example.com").await;
    let (_, agent) = app.echo_agent(&a, "streamer").await;
    let run = start(&app, &a, &agent, json!({ "delay_ms": 300 })).await;
    let events = format!("{}/events", run_path(&run));
    // Connected before the run ends: the stream follows it live and ends after its terminal
    // status.
    let stream = app
        .client
        .get(app.url(&events))
        .bearer_auth(&a.token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(
        stream.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let body = tokio::time::timeout(Duration::from_secs(20), stream.text())
        .await
        .expect("the stream ends after the terminal status")
        .unwrap();
    let parsed = parse_sse(&body);
    let ids: Vec<i64> = parsed.iter().map(|(id, ..)| *id).collect();
    assert_eq!(ids, (1..=ids.len() as i64).collect::<Vec<_>>(), "{body}");
    let (_, last_event, last_data) = parsed.last().unwrap();
    assert_eq!(last_event, "status");
    assert_eq!(last_data["status"], "succeeded");
    assert!(parsed.iter().any(|(_, e, _)| e == "output_delta"));

    // Resuming after an id gives only what came after it.
    let resumed = app
        .raw(
            app.client
                .get(app.url(&events))
                .bearer_auth(&a.token)
                .header("accept", "text/event-stream")
                .header("last-event-id", "2"),
        )
        .await;
    assert_eq!(resumed.status, StatusCode::OK);
    let resumed_ids: Vec<i64> = parse_sse(resumed.body.as_str().unwrap_or_default())
        .iter()
        .map(|(id, ..)| *id)
        .collect();
    assert_eq!(resumed_ids, ids[2..].to_vec());
    let bad = app
        .raw(
            app.client
                .get(app.url(&events))
                .bearer_auth(&a.token)
                .header("accept", "text/event-stream")
                .header("last-event-id", "seven"),
        )
        .await;
    bad.assert_problem(422);
    app.get(&format!("{events}?after=-1"), &a.token)
        .await
        .assert_problem(422);
    app.get(&format!("{events}?limit=501"), &a.token)
        .await
        .assert_problem(422);
}

async fn runs_page_by_keyset_and_add_up_to_metrics(app: TestApp) {
    let a = app.register("metrics@example.com").await;
    let (_, agent) = app.echo_agent(&a, "counted").await;
    let mut started = Vec::new();
    for n in 0..4 {
        started.push(start(&app, &a, &agent, json!({ "n": n })).await);
    }
    let failing = start(&app, &a, &agent, json!({ "fail": "x" })).await;
    for run in &started {
        settled(&app, &a, run, "succeeded").await;
    }
    settled(&app, &a, &failing, "failed").await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("{}?limit=2&cursor={c}", runs_of(&agent)),
            None => format!("{}?limit=2", runs_of(&agent)),
        };
        let page = app.get(&path, &a.token).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for run in page.body["data"].as_array().unwrap() {
            seen.push(run["id"].as_str().unwrap().to_owned());
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => {
                assert_eq!(page.body["has_more"], false);
                break;
            }
        }
    }
    let mut expected: Vec<String> = started
        .iter()
        .chain([&failing])
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    expected.reverse();
    assert_eq!(seen, expected, "newest first, each once");
    let failed_only = app
        .get(&format!("{}?status=failed", runs_of(&agent)), &a.token)
        .await;
    assert_eq!(failed_only.body["data"].as_array().unwrap().len(), 1);
    let future = app
        .get(
            &format!("{}?since=2999-01-01T00:00:00Z", runs_of(&agent)),
            &a.token,
        )
        .await;
    assert_eq!(future.body["data"], json!([]));
    app.get(&format!("{}?since=yesterday", runs_of(&agent)), &a.token)
        .await
        .assert_problem(422);

    let metrics_path = format!("/api/v1/agents/{}/metrics", agent["id"].as_str().unwrap());
    let metrics = app.get(&metrics_path, &a.token).await;
    assert_eq!(metrics.status, StatusCode::OK, "{}", metrics.body);
    assert_eq!(metrics.body["runs_total"], 5);
    assert_eq!(
        metrics.body["by_status"],
        json!({ "failed": 1, "succeeded": 4 })
    );
    assert_eq!(metrics.body["success_rate"], 0.8);
    assert!(metrics.body["duration_ms"]["p50"].is_i64());
    assert!(
        metrics.body["duration_ms"]["p95"].as_i64() <= metrics.body["duration_ms"]["max"].as_i64()
    );
    assert!(metrics.body["last_run_at"].is_string());
    let empty = app
        .get(
            &format!("{metrics_path}?until=2000-01-01T00:00:00Z"),
            &a.token,
        )
        .await;
    assert_eq!(empty.body["runs_total"], 0);
    assert_eq!(empty.body["success_rate"], Value::Null);
    app.get(
        &format!("{metrics_path}?since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z"),
        &a.token,
    )
    .await
    .assert_problem(422);
}

async fn every_run_route_hides_other_tenants(app: TestApp) {
    let a = app.register("run-owner@example.com").await;
    let b = app.register("run-other@example.com").await;
    let (_, agent) = app.echo_agent(&a, "private").await;
    let run = start(&app, &a, &agent, json!({ "delay_ms": 60_000 })).await;
    let theirs_run = run_path(&run);
    let missing_run = format!("/api/v1/runs/{}", Uuid::now_v7());
    let theirs_agent = format!("/api/v1/agents/{}", agent["id"].as_str().unwrap());
    let missing_agent = format!("/api/v1/agents/{}", Uuid::now_v7());
    let cases = [
        (Method::GET, &theirs_run, &missing_run, "", None),
        (Method::POST, &theirs_run, &missing_run, "/cancel", None),
        (Method::GET, &theirs_run, &missing_run, "/events", None),
        (Method::GET, &theirs_agent, &missing_agent, "/runs", None),
        (
            Method::POST,
            &theirs_agent,
            &missing_agent,
            "/runs",
            Some(json!({ "input": {} })),
        ),
        (Method::GET, &theirs_agent, &missing_agent, "/metrics", None),
    ];
    for (method, theirs, missing, suffix, body) in cases {
        app.assert_hidden(
            &b.token,
            method,
            &format!("{theirs}{suffix}"),
            &format!("{missing}{suffix}"),
            body.as_ref(),
        )
        .await;
    }
    // The stream, too, is a 404 before it starts.
    let stream = app
        .raw(
            app.client
                .get(app.url(&format!("{theirs_run}/events")))
                .bearer_auth(&b.token)
                .header("accept", "text/event-stream"),
        )
        .await;
    stream.assert_problem(404);
    let still = app.get(&theirs_run, &a.token).await;
    assert_ne!(still.body["status"], "cancelled", "B cancelled A's run");
    app.post(&format!("{theirs_run}/cancel"), Some(&a.token), json!({}))
        .await;
}

async fn a_dead_workers_run_is_retried_then_failed(app: TestApp) {
    let a = app.register("dead@example.com").await;
    let (_, agent) = app.echo_agent(&a, "survivor").await;
    let run = start(&app, &a, &agent, json!({ "delay_ms": 60_000 })).await;
    settled(&app, &a, &run, "running").await;
    // Its worker "dies": the lease is taken from under it by a worker that no longer exists,
    // and has run out.
    let id = app.uuid_literal(run["id"].as_str().unwrap());
    let ghost = app.uuid_literal(&Uuid::now_v7().to_string());
    let expired = match app.store {
        Store::Postgres => "now() - interval '1 minute'".to_owned(),
        Store::Sqlite => "'2001-01-01T00:00:00+00:00'".to_owned(),
    };
    app.as_owner(&format!(
        "UPDATE run_queue SET lease_owner = {ghost}, lease_expires_at = {expired} WHERE run_id = {id}"
    ))
    .await;
    // The live worker learns at its next renewal that the run is not its own any more and
    // stops; the reaper queues the run again, and it runs a second time.
    within(Duration::from_secs(20), || async {
        let events = event_page(&app, &a, &run, 0).await;
        let retried = events
            .iter()
            .any(|e| e["data"]["status"] == "running" && e["data"]["attempt"] == 2);
        if retried {
            Ok(())
        } else {
            Err(format!("not retried: {events:?}"))
        }
    })
    .await;
    let retried = app.get(&run_path(&run), &a.token).await;
    assert_eq!(retried.body["attempt"], 2);
    assert_eq!(retried.body["status"], "running");

    // Out of attempts (3 by default), the run fails and never stays running.
    for _ in 0..2 {
        let attempt_before = app.get(&run_path(&run), &a.token).await.body["attempt"].clone();
        app.as_owner(&format!(
            "UPDATE run_queue SET lease_owner = {ghost}, lease_expires_at = {expired} WHERE run_id = {id}"
        ))
        .await;
        within(Duration::from_secs(20), || async {
            let now = app.get(&run_path(&run), &a.token).await.body;
            if now["status"] == "failed" || now["attempt"] != attempt_before {
                Ok(())
            } else {
                Err(format!("still {now}"))
            }
        })
        .await;
    }
    let failed = settled(&app, &a, &run, "failed").await;
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("no attempts left"),
        "{failed}"
    );
}

/// Two servers on one PostgreSQL database share the queue: each of 500 runs executes exactly
/// once.
#[tokio::test]
async fn two_servers_execute_each_run_exactly_once() {
    let app = spawn_app_with(Store::Postgres, |config| {
        config.runs.per_organization = 8;
        config.runs.concurrency = 4;
    })
    .await;
    let other = app
        .another_instance(|config| {
            config.runs.per_organization = 8;
            config.runs.concurrency = 4;
        })
        .await;
    let a = app.register("shared-queue@example.com").await;
    let (_, agent) = app.echo_agent(&a, "busy").await;
    let mut ids = Vec::new();
    for n in 0..500 {
        // Queued through both servers.
        let via = if n % 2 == 0 { &app } else { &other };
        ids.push(start(via, &a, &agent, json!({ "n": n })).await["id"].clone());
    }
    let metrics = format!("/api/v1/agents/{}/metrics", agent["id"].as_str().unwrap());
    within(Duration::from_secs(150), || async {
        let now = app.get(&metrics, &a.token).await.body;
        if now["by_status"]["succeeded"] == 500 {
            Ok(())
        } else {
            Err(format!("so far {}", now["by_status"]))
        }
    })
    .await;
    let mut started = Vec::new();
    let mut offset = 0;
    loop {
        let page = app
            .get(
                &format!("/api/v1/audit-events?action=agent_run.started&limit=100&offset={offset}"),
                &a.token,
            )
            .await;
        let events = page.body["data"].as_array().unwrap().clone();
        if events.is_empty() {
            break;
        }
        offset += events.len();
        started.extend(events.into_iter().map(|e| e["resource_id"].clone()));
    }
    let distinct: HashSet<String> = started.iter().map(|v| v.to_string()).collect();
    assert_eq!(started.len(), 500, "one start per run");
    assert_eq!(distinct.len(), 500);
    for id in &ids {
        let run = app
            .get(&format!("/api/v1/runs/{}", id.as_str().unwrap()), &a.token)
            .await;
        assert_eq!(run.body["attempt"], 1, "{}", run.body);
    }
}

/// A client streaming from instance B sees, live, a run that instance A executes: the events
/// reach B through PostgreSQL's NOTIFY, not by B's own work.
#[tokio::test]
async fn a_stream_on_one_server_follows_a_run_another_executes() {
    let executor = spawn_app_with(Store::Postgres, |_| {}).await;
    let reader = executor
        .another_instance(|config| config.runs.concurrency = 0)
        .await;
    let a = executor.register("fan-out@example.com").await;
    let (_, agent) = executor.echo_agent(&a, "far-away").await;
    let run = start(&reader, &a, &agent, json!({ "delay_ms": 500 })).await;
    let began = std::time::Instant::now();
    let body = tokio::time::timeout(
        Duration::from_secs(20),
        reader
            .client
            .get(reader.url(&format!("{}/events", run_path(&run))))
            .bearer_auth(&a.token)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap()
            .text(),
    )
    .await
    .expect("the stream ends")
    .unwrap();
    let events = parse_sse(&body);
    assert_eq!(events.last().unwrap().2["status"], "succeeded", "{body}");
    // Well under the streams' two-second fallback look: a notification woke it.
    assert!(began.elapsed() < Duration::from_secs(10));
}

/// One organization's backlog does not hold back another's run: a worker leases at most
/// `per_organization` runs of one organization at a time.
#[tokio::test]
async fn one_tenants_backlog_does_not_starve_another() {
    let app = spawn_app_with(Store::Postgres, |config| {
        config.runs.concurrency = 4;
        config.runs.per_organization = 2;
    })
    .await;
    let busy = app.register("backlog@example.com").await;
    let quiet = app.register("quiet@example.com").await;
    let (_, busy_agent) = app.echo_agent(&busy, "backlogged").await;
    let (_, quiet_agent) = app.echo_agent(&quiet, "patient").await;
    let mut backlog = Vec::new();
    for _ in 0..6 {
        backlog.push(start(&app, &busy, &busy_agent, json!({ "delay_ms": 3000 })).await);
    }
    let quiet_run = start(&app, &quiet, &quiet_agent, json!({})).await;
    settled(&app, &quiet, &quiet_run, "succeeded").await;
    let mut running = 0;
    let mut queued = 0;
    for run in &backlog {
        match app.get(&run_path(run), &busy.token).await.body["status"].as_str() {
            Some("running") => running += 1,
            Some("queued") => queued += 1,
            _ => {}
        }
    }
    assert!(
        running <= 2,
        "{running} of one organization's runs ran at once"
    );
    assert!(
        queued >= 3,
        "the backlog was still waiting ({queued} queued)"
    );
    for run in &backlog {
        app.post(
            &format!("{}/cancel", run_path(run)),
            Some(&busy.token),
            json!({}),
        )
        .await;
    }
}

/// A chat-completions service on a local port: it answers the first request 429 with
/// `Retry-After: 1`, then streams "Hel", "lo" and the usage.
async fn fake_provider() -> (u16, bulkhead_tests::fake_http::Log) {
    bulkhead_tests::fake_http::serve(|_, before| {
        if before == 0 {
            return "HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned();
        }
        let chunk = |content: &str| {
            format!(
                "data: {}\n\n",
                json!({ "choices": [{ "delta": { "content": content } }] })
            )
        };
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{}{}data: {}\n\ndata: [DONE]\n\n",
            chunk("Hel"),
            chunk("lo"),
            json!({ "choices": [], "usage": { "prompt_tokens": 12, "completion_tokens": 5 } })
        )
    })
    .await
}

mod providers {
    use super::*;

    bulkhead_tests::on_both_stores! {
        openai_compatible_runs_stream_from_the_provider_with_the_sealed_key;
    }

    async fn openai_compatible_runs_stream_from_the_provider_with_the_sealed_key(store: Store) {
        let (port, seen) = fake_provider().await;
        let base = format!("http://127.0.0.1:{port}/v1");
        let app = spawn_app_with(store, |config| {
            config.provider_base_urls = vec![base.parse().unwrap()];
            config.provider_allow_internal = true;
        })
        .await;
        let a = app.register("provider@example.com").await;
        let config = app
            .post(
                "/api/v1/agent-configs",
                Some(&a.token),
                json!({
                    "name": "Model",
                    "agent_type": "documentation",
                    "provider": "openai_compatible",
                    "model": "tiny-1",
                    "temperature": 0.2,
                    "max_tokens": 64,
                    "system_prompt": "Be brief.",
                    "base_url": base,
                }),
            )
            .await;
        assert_eq!(config.status, StatusCode::CREATED, "{}", config.body);
        let config_path = format!(
            "/api/v1/agent-configs/{}",
            config.body["id"].as_str().unwrap()
        );
        let stored = app
            .raw(
                app.client
                    .put(app.url(&format!("{config_path}/credential")))
                    .bearer_auth(&a.token)
                    .json(&json!({ "api_key": "sk-fake-123" })),
            )
            .await;
        assert_eq!(stored.status, StatusCode::NO_CONTENT);
        let agent = app
            .post(
                "/api/v1/agents",
                Some(&a.token),
                json!({ "agent_key": "writer", "config_id": config.body["id"] }),
            )
            .await
            .body;
        let run = start(&app, &a, &agent, json!({ "prompt": "Say hello" })).await;
        let done = settled(&app, &a, &run, "succeeded").await;
        assert_eq!(done["output"], json!({ "text": "Hello" }));
        assert_eq!(
            (done["tokens_in"].clone(), done["tokens_out"].clone()),
            (json!(12), json!(5))
        );
        // The tokens count toward the organization's month.
        let usage = app.get("/api/v1/usage", &a.token).await;
        let used = |quota: &str| {
            usage.body["quotas"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["quota"] == quota)
                .map(|l| l["used"].clone())
        };
        assert_eq!(used("tokens_per_month"), Some(json!(17)), "{}", usage.body);
        assert_eq!(used("runs_per_month"), Some(json!(1)), "{}", usage.body);

        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 2, "one 429, then the retry: {seen:?}");
        let call = &seen[1];
        let body = call.json();
        assert_eq!(call.line, "POST /v1/chat/completions HTTP/1.1");
        assert!(
            call.headers
                .contains(&("authorization".into(), "Bearer sk-fake-123".into())),
            "{:?}",
            call.headers
        );
        assert_eq!(body["model"], "tiny-1");
        assert_eq!(body["stream"], true);
        assert_eq!(body["max_tokens"], 64);
        assert_eq!(body["temperature"], 0.2);
        assert_eq!(
            body["messages"],
            json!([
                { "role": "system", "content": "Be brief." },
                { "role": "user", "content": "Say hello" }
            ])
        );
        let events = event_page(&app, &a, &run, 0).await;
        let deltas: Vec<&str> = events
            .iter()
            .filter(|e| e["kind"] == "output_delta")
            .map(|e| e["data"]["text"].as_str().unwrap())
            .collect();
        assert_eq!(deltas, ["Hel", "lo"]);
        assert!(
            events
                .iter()
                .any(|e| e["kind"] == "log"
                    && e["data"]["message"].as_str().unwrap().contains("429")),
            "the retry is logged"
        );

        // A server whose policy does not admit internal addresses refuses to connect, even for
        // a configuration saved where the policy did: the check runs again right before each
        // connection. Here the only worker is the strict server's.
        let strict_only = spawn_app_with(store, |config| {
            config.provider_base_urls = vec![base.parse().unwrap()];
            config.provider_allow_internal = false;
        })
        .await;
        let lenient_reader = strict_only
            .another_instance(|config| {
                config.provider_base_urls = vec![base.parse().unwrap()];
                config.provider_allow_internal = true;
                config.runs.concurrency = 0;
            })
            .await;
        let b = lenient_reader.register("rebinding@example.com").await;
        let saved = lenient_reader
            .post(
                "/api/v1/agent-configs",
                Some(&b.token),
                json!({ "name": "M", "agent_type": "hr", "provider": "openai_compatible", "model": "m", "base_url": base }),
            )
            .await;
        assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.body);
        let agent_b = lenient_reader
            .post(
                "/api/v1/agents",
                Some(&b.token),
                json!({ "agent_key": "k", "config_id": saved.body["id"] }),
            )
            .await
            .body;
        let refused = start(&lenient_reader, &b, &agent_b, json!({ "prompt": "hi" })).await;
        let failed = settled(&strict_only, &b, &refused, "failed").await;
        assert!(
            failed["error"]
                .as_str()
                .unwrap()
                .contains("internal address"),
            "{failed}"
        );
    }
}
