//! Work sessions over HTTP, on both stores: the full flow (create, start, checkpoint,
//! approve, artifact, review, completed) executed by the in-process worker with the `echo`
//! executor; the reject paths; the state machine's refusals; reviewers and four eyes; a
//! project's deletion hiding its work; concurrent reviews of one artifact; and every route
//! hiding other tenants.

#![allow(clippy::unwrap_used)]

use bulkhead_tests::{Store, Tenant, TestApp, both_stores, spawn_app_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

both_stores! {
    a_session_stops_at_its_checkpoint_and_completes_with_a_reviewed_report;
    rejections_fail_sessions_and_end_reviews_for_good;
    sessions_start_once_and_cancel_with_their_run;
    bad_sessions_are_refused_and_change_nothing;
    reviewers_are_the_review_permission_or_the_projects_maintainers;
    a_deleted_project_hides_its_work;
    of_concurrent_reviews_exactly_one_wins;
    every_work_route_hides_other_tenants;
}

fn sessions_of(project: &Value) -> String {
    format!(
        "/api/v1/projects/{}/work-sessions",
        project["id"].as_str().unwrap()
    )
}

fn path_of(kind: &str, row: &Value) -> String {
    format!("/api/v1/{kind}/{}", row["id"].as_str().unwrap())
}

/// A new session on `project` by `tenant`.
async fn new_session(
    app: &TestApp,
    tenant: &Tenant,
    project: &Value,
    agent: Option<&Value>,
    checkpoint: bool,
) -> Value {
    let mut body = json!({
        "task_type": "research",
        "task_intent": "Compare the three shortlisted vendors",
        "task_parameters": { "scope": "quick", "depth": "overview" },
        "checkpoint": checkpoint,
    });
    if let Some(agent) = agent {
        body["agent_id"] = agent["id"].clone();
    }
    let reply = app
        .post(&sessions_of(project), Some(&tenant.token), body)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["status"], "pending");
    assert_eq!(
        reply.headers["location"].to_str().unwrap(),
        path_of("work-sessions", &reply.body)
    );
    reply.body
}

async fn start(app: &TestApp, tenant: &Tenant, session: &Value) -> Value {
    let reply = app
        .post(
            &format!("{}/start", path_of("work-sessions", session)),
            Some(&tenant.token),
            json!(null),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// Waits until the session has the status `wanted`, and answers it.
async fn settled(app: &TestApp, tenant: &Tenant, session: &Value, wanted: &str) -> Value {
    app.settled(&path_of("work-sessions", session), &tenant.token, wanted)
        .await
}

async fn only(app: &TestApp, tenant: &Tenant, session: &Value, what: &str) -> Value {
    let reply = app
        .get(
            &format!("{}/{what}", path_of("work-sessions", session)),
            &tenant.token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["total"], 1, "{}", reply.body);
    reply.body["data"][0].clone()
}

async fn decide(app: &TestApp, tenant: &Tenant, path: &str, body: Value) -> bulkhead_tests::Reply {
    app.post(path, Some(&tenant.token), body).await
}

async fn a_session_stops_at_its_checkpoint_and_completes_with_a_reviewed_report(app: TestApp) {
    let owner = app.register("work-owner@example.com").await;
    let project = app.create_project(&owner, "Vendors").await;
    let agent = app.echo_agent(&owner, "researcher").await.1;
    let session = new_session(&app, &owner, &project, Some(&agent), true).await;

    let started = start(&app, &owner, &session).await;
    assert_eq!(started["status"], "running");
    assert_eq!(started["started_by"], owner.user_id.as_str());
    let first_run = started["run_id"].as_str().unwrap().to_owned();

    let waiting = settled(&app, &owner, &session, "awaiting_review").await;
    let checkpoint = only(&app, &owner, &session, "checkpoints").await;
    assert_eq!(checkpoint["status"], "open");
    assert!(
        checkpoint["title"]
            .as_str()
            .unwrap()
            .contains("shortlisted")
    );
    assert_eq!(checkpoint["details"]["task_type"], "research");
    // Nothing is produced before the checkpoint is decided.
    let none = app
        .get(
            &format!("{}/artifacts", path_of("work-sessions", &session)),
            &owner.token,
        )
        .await;
    assert_eq!(none.body["total"], 0, "{}", none.body);
    let run = app
        .get(&format!("/api/v1/runs/{first_run}"), &owner.token)
        .await;
    assert_eq!(run.body["status"], "succeeded", "{}", run.body);
    assert_eq!(run.body["input"]["task"]["work_session_id"], session["id"]);
    assert_eq!(waiting["run_id"], first_run.as_str());

    let resolved = decide(
        &app,
        &owner,
        &format!("{}/resolve", path_of("checkpoints", &checkpoint)),
        json!({ "decision": "approve", "feedback": "go ahead" }),
    )
    .await;
    assert_eq!(resolved.status, StatusCode::OK, "{}", resolved.body);
    assert_eq!(resolved.body["status"], "approved");
    assert_eq!(resolved.body["resolved_by"], owner.user_id.as_str());
    let again = decide(
        &app,
        &owner,
        &format!("{}/resolve", path_of("checkpoints", &checkpoint)),
        json!({ "decision": "approve" }),
    )
    .await;
    again.assert_problem(409);

    let done = settled(&app, &owner, &session, "completed").await;
    assert_ne!(
        done["run_id"],
        first_run.as_str(),
        "the work went on in a new run"
    );
    assert!(done["finished_at"].is_string());
    let artifact = only(&app, &owner, &session, "artifacts").await;
    assert_eq!(artifact["artifact_type"], "report");
    assert_eq!(artifact["review_status"], "pending_review");
    assert_eq!(
        artifact["content"]["task_intent"],
        "Compare the three shortlisted vendors"
    );
    assert_eq!(artifact["content"]["resumed_from"], checkpoint["id"]);

    let stats = app.get(&path_of("projects", &project), &owner.token).await;
    assert_eq!(stats.body["stats"]["sessions_by_status"]["completed"], 1);
    assert_eq!(stats.body["stats"]["artifacts_awaiting_review"], 1);

    let review_path = format!("{}/review", path_of("artifacts", &artifact));
    let stale = app
        .raw(
            app.client
                .post(app.url(&review_path))
                .bearer_auth(&owner.token)
                .header("if-match", "\"7\"")
                .json(&json!({ "decision": "approve" })),
        )
        .await;
    stale.assert_problem(412);
    let reviewed = decide(&app, &owner, &review_path, json!({ "decision": "approve" })).await;
    assert_eq!(reviewed.status, StatusCode::OK, "{}", reviewed.body);
    assert_eq!(reviewed.body["review_status"], "approved");
    assert_eq!(reviewed.body["reviewed_by"], owner.user_id.as_str());
    assert!(reviewed.body["reviewed_at"].is_string());
    let stats = app.get(&path_of("projects", &project), &owner.token).await;
    assert_eq!(stats.body["stats"]["artifacts_awaiting_review"], 0);

    // The events tell the whole story, in order, as JSON and as a finished stream.
    let events = app
        .get(
            &format!("{}/events", path_of("work-sessions", &session)),
            &owner.token,
        )
        .await;
    let story: Vec<String> = events.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| match e["kind"].as_str().unwrap() {
            "status" => e["data"]["status"].as_str().unwrap().to_owned(),
            other => other.to_owned(),
        })
        .collect();
    assert_eq!(
        story,
        [
            "pending",
            "running",
            "checkpoint_opened",
            "awaiting_review",
            "checkpoint_resolved",
            "running",
            "artifact_created",
            "completed"
        ]
    );
    let stream = app
        .raw(
            app.client
                .get(app.url(&format!("{}/events", path_of("work-sessions", &session))))
                .bearer_auth(&owner.token)
                .header("accept", "text/event-stream")
                .header("last-event-id", "6"),
        )
        .await;
    assert_eq!(stream.status, StatusCode::OK);
    let text = stream.body.as_str().unwrap_or_default().to_owned();
    assert!(
        text.starts_with("id: 7\nevent: artifact_created\n")
            && text.contains("id: 8\nevent: status\n"),
        "{text}"
    );

    let actions = app.audit_actions(&owner).await;
    for action in [
        "work_session.created",
        "work_session.started",
        "checkpoint.resolved",
        "work_session.completed",
        "artifact.reviewed",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    let completed = app
        .audit_events(&owner)
        .await
        .into_iter()
        .find(|e| e["action"] == "work_session.completed")
        .unwrap();
    assert_eq!(completed["actor_type"], "system", "{completed}");
}

async fn rejections_fail_sessions_and_end_reviews_for_good(app: TestApp) {
    let owner = app.register("work-reject@example.com").await;
    let project = app.create_project(&owner, "Rejects").await;
    let agent = app.echo_agent(&owner, "rejected").await.1;

    let stopped = new_session(&app, &owner, &project, Some(&agent), true).await;
    start(&app, &owner, &stopped).await;
    settled(&app, &owner, &stopped, "awaiting_review").await;
    let checkpoint = only(&app, &owner, &stopped, "checkpoints").await;
    let rejected = decide(
        &app,
        &owner,
        &format!("{}/resolve", path_of("checkpoints", &checkpoint)),
        json!({ "decision": "reject", "feedback": "wrong vendors" }),
    )
    .await;
    assert_eq!(rejected.status, StatusCode::OK, "{}", rejected.body);
    let failed = app
        .get(&path_of("work-sessions", &stopped), &owner.token)
        .await;
    assert_eq!(failed.body["status"], "failed", "{}", failed.body);
    assert_eq!(failed.body["failure_reason"], "wrong vendors");
    assert!(
        app.audit_actions(&owner)
            .await
            .iter()
            .any(|a| a == "work_session.failed")
    );

    let plain = new_session(&app, &owner, &project, Some(&agent), false).await;
    start(&app, &owner, &plain).await;
    settled(&app, &owner, &plain, "completed").await;
    let artifact = only(&app, &owner, &plain, "artifacts").await;
    let review = format!("{}/review", path_of("artifacts", &artifact));
    let bare = decide(&app, &owner, &review, json!({ "decision": "reject" })).await;
    bare.assert_problem(422);
    assert_eq!(bare.body["errors"][0]["field"], "feedback", "{}", bare.body);
    let unchanged = app
        .get(&path_of("artifacts", &artifact), &owner.token)
        .await;
    assert_eq!(unchanged.body["review_status"], "pending_review");
    assert_eq!(unchanged.body["version"], artifact["version"]);
    let odd = decide(&app, &owner, &review, json!({ "decision": "maybe" })).await;
    odd.assert_problem(422);
    let sneaky = decide(
        &app,
        &owner,
        &review,
        json!({ "decision": "approve", "review_status": "approved" }),
    )
    .await;
    sneaky.assert_problem(422);
    let no = decide(
        &app,
        &owner,
        &review,
        json!({ "decision": "reject", "feedback": "too thin" }),
    )
    .await;
    assert_eq!(no.status, StatusCode::OK, "{}", no.body);
    assert_eq!(no.body["review_status"], "rejected");
    assert_eq!(no.body["review_feedback"], "too thin");
    let late = decide(&app, &owner, &review, json!({ "decision": "approve" })).await;
    late.assert_problem(409);
}

async fn sessions_start_once_and_cancel_with_their_run(app: TestApp) {
    let owner = app.register("work-start@example.com").await;
    let project = app.create_project(&owner, "Starts").await;
    let agent = app.echo_agent(&owner, "starter").await.1;

    let session = new_session(&app, &owner, &project, Some(&agent), true).await;
    let start_path = format!("{}/start", path_of("work-sessions", &session));
    let first = app
        .post_once(&start_path, &owner.token, "start-1", &json!(null))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let replay = app
        .post_once(&start_path, &owner.token, "start-1", &json!(null))
        .await;
    assert_eq!(replay.status, StatusCode::OK, "{}", replay.body);
    assert_eq!(replay.body["run_id"], first.body["run_id"]);
    let twice = app.post(&start_path, Some(&owner.token), json!(null)).await;
    twice.assert_problem(409);

    settled(&app, &owner, &session, "awaiting_review").await;
    let cancel_path = format!("{}/cancel", path_of("work-sessions", &session));
    let cancelled = app
        .post(&cancel_path, Some(&owner.token), json!(null))
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    app.post(&cancel_path, Some(&owner.token), json!(null))
        .await
        .assert_problem(409);
    // The checkpoint of a cancelled session can no longer be decided.
    let checkpoint = only(&app, &owner, &session, "checkpoints").await;
    decide(
        &app,
        &owner,
        &format!("{}/resolve", path_of("checkpoints", &checkpoint)),
        json!({ "decision": "approve" }),
    )
    .await
    .assert_problem(409);

    // A session without an agent, or with a paused one, does not start, and stays pending.
    let without = new_session(&app, &owner, &project, None, false).await;
    app.post(
        &format!("{}/start", path_of("work-sessions", &without)),
        Some(&owner.token),
        json!(null),
    )
    .await
    .assert_problem(409);
    let paused = app
        .post(
            &format!("/api/v1/agents/{}/pause", agent["id"].as_str().unwrap()),
            Some(&owner.token),
            json!(null),
        )
        .await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);
    let waiting = new_session(&app, &owner, &project, Some(&agent), false).await;
    app.post(
        &format!("{}/start", path_of("work-sessions", &waiting)),
        Some(&owner.token),
        json!(null),
    )
    .await
    .assert_problem(409);
    for session in [&without, &waiting] {
        let still = app
            .get(&path_of("work-sessions", session), &owner.token)
            .await;
        assert_eq!(
            still.body["status"], "pending",
            "a refused start changes nothing"
        );
        assert_eq!(still.body["version"], 1);
    }
}

/// With no worker, a started session's run stays queued: cancelling the session cancels it,
/// and cancelling such a run directly cancels its session.
async fn cancellations_carry_between_a_session_and_its_run(store: Store) {
    let app = spawn_app_with(store, |config| config.runs.concurrency = 0).await;
    let owner = app.register("work-cancel@example.com").await;
    let project = app.create_project(&owner, "Cancels").await;
    let agent = app.echo_agent(&owner, "idle").await.1;

    let session = new_session(&app, &owner, &project, Some(&agent), false).await;
    let started = start(&app, &owner, &session).await;
    let run = format!("/api/v1/runs/{}", started["run_id"].as_str().unwrap());
    assert_eq!(app.get(&run, &owner.token).await.body["status"], "queued");
    // Readiness reports the queue's backlog, across organizations.
    let ready = app.raw(app.client.get(app.url("/health/ready"))).await;
    assert_eq!(ready.body["queues"]["runs_queued"], 1, "{}", ready.body);
    assert_eq!(ready.body["queues"]["runs_leased"], 0, "{}", ready.body);
    let cancelled = app
        .post(
            &format!("{}/cancel", path_of("work-sessions", &session)),
            Some(&owner.token),
            json!(null),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert!(cancelled.body["finished_at"].is_string());
    assert_eq!(
        app.get(&run, &owner.token).await.body["status"],
        "cancelled"
    );

    let other = new_session(&app, &owner, &project, Some(&agent), false).await;
    let started = start(&app, &owner, &other).await;
    let run = format!("/api/v1/runs/{}", started["run_id"].as_str().unwrap());
    let direct = app
        .post(&format!("{run}/cancel"), Some(&owner.token), json!(null))
        .await;
    assert_eq!(direct.status, StatusCode::OK, "{}", direct.body);
    let session = app
        .get(&path_of("work-sessions", &other), &owner.token)
        .await;
    assert_eq!(session.body["status"], "cancelled", "{}", session.body);
    assert_eq!(session.body["failure_reason"], "its run was cancelled");
    let actions = app.audit_actions(&owner).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "work_session.cancelled")
            .count(),
        2,
        "{actions:?}"
    );
}

#[tokio::test]
async fn cancellations_carry_between_a_session_and_its_run_on_postgres() {
    cancellations_carry_between_a_session_and_its_run(Store::Postgres).await;
}

#[tokio::test]
async fn cancellations_carry_between_a_session_and_its_run_on_sqlite() {
    cancellations_carry_between_a_session_and_its_run(Store::Sqlite).await;
}

async fn bad_sessions_are_refused_and_change_nothing(app: TestApp) {
    let owner = app.register("work-bad@example.com").await;
    let project = app.create_project(&owner, "Bad").await;
    let path = sessions_of(&project);
    let cases = [
        json!({ "task_type": "research", "task_intent": "x", "task_parameters": { "audience": "cfo" } }),
        json!({ "task_type": "research", "task_intent": "x", "task_parameters": { "scope": "vast" } }),
        json!({ "task_type": "analysis", "task_intent": "x", "task_parameters": { "data_refs": "a.csv" } }),
        json!({ "task_type": "poetry", "task_intent": "x" }),
        json!({ "task_type": "research", "task_intent": "" }),
        json!({ "task_type": "research", "task_intent": "y".repeat(2001) }),
        json!({ "task_type": "research", "task_intent": "x", "status": "completed" }),
        json!({ "task_type": "research", "task_intent": "x", "organization_id": Uuid::now_v7() }),
        json!({ "task_type": "research", "task_intent": "x", "agent_id": Uuid::now_v7() }),
    ];
    for body in cases {
        let reply = app.post(&path, Some(&owner.token), body.clone()).await;
        reply.assert_problem(422);
        assert!(reply.body["errors"].is_array(), "{body}: {}", reply.body);
    }
    let missing = format!("/api/v1/projects/{}/work-sessions", Uuid::now_v7());
    app.post(
        &missing,
        Some(&owner.token),
        json!({ "task_type": "research", "task_intent": "x" }),
    )
    .await
    .assert_problem(404);
    app.get(&missing, &owner.token).await.assert_problem(404);
    let listed = app.get("/api/v1/work-sessions", &owner.token).await;
    assert_eq!(listed.body["total"], 0, "{}", listed.body);
    for query in [
        "status=done",
        "task_type=x",
        "since=yesterday",
        "limit=101",
        "sort=title",
    ] {
        app.get(&format!("/api/v1/work-sessions?{query}"), &owner.token)
            .await
            .assert_problem(422);
    }
    // Parameters of each type are taken as they are.
    for (task_type, parameters) in [
        (
            "content_creation",
            json!({ "format": "blog post", "audience": "CFOs", "length": "short" }),
        ),
        (
            "analysis",
            json!({ "question": "Why did churn rise?", "data_refs": ["q3.csv"] }),
        ),
    ] {
        let reply = app
            .post(
                &path,
                Some(&owner.token),
                json!({ "task_type": task_type, "task_intent": "Do it", "task_parameters": parameters }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        assert_eq!(reply.body["task_parameters"], parameters);
    }
    let filtered = app
        .get(
            &format!(
                "/api/v1/work-sessions?task_type=analysis&project_id={}",
                project["id"].as_str().unwrap()
            ),
            &owner.token,
        )
        .await;
    assert_eq!(filtered.body["total"], 1, "{}", filtered.body);
}

async fn reviewers_are_the_review_permission_or_the_projects_maintainers(app: TestApp) {
    let owner = app.register("work-four-eyes@example.com").await;
    let viewer = app
        .member_token(&owner, "work-viewer@example.com", "viewer")
        .await;
    let member = app
        .member_token(&owner, "work-member@example.com", "member")
        .await;
    let admin = app
        .member_token(&owner, "work-admin@example.com", "admin")
        .await;
    let project = app.create_project(&owner, "Reviews").await;
    let agent = app.echo_agent(&owner, "reviewed").await.1;

    // Viewers read work, members create and start it.
    app.post(
        &sessions_of(&project),
        Some(&viewer.token),
        json!({ "task_type": "research", "task_intent": "x" }),
    )
    .await
    .assert_problem(403);
    let session = new_session(&app, &member, &project, Some(&agent), false).await;
    start(&app, &member, &session).await;
    settled(&app, &viewer, &session, "completed").await;
    let artifact = only(&app, &viewer, &session, "artifacts").await;
    let review = format!("{}/review", path_of("artifacts", &artifact));

    let refused = decide(&app, &member, &review, json!({ "decision": "approve" })).await;
    refused.assert_problem(403);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("work:review")
    );
    // A maintainer of the project reviews its work without work:review.
    let made = app
        .post(
            &format!("{}/members", path_of("projects", &project)),
            Some(&owner.token),
            json!({ "user_id": member.user_id, "role": "maintainer" }),
        )
        .await;
    assert!(made.status.is_success(), "{}", made.body);

    // Four eyes: with the setting on, whoever started the session may not approve its work,
    // maintainer or not; someone else may.
    let on = app
        .patch(
            "/api/v1/organizations/current",
            &owner.token,
            json!({ "settings": { "work.independent_review": true } }),
        )
        .await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.body);
    let own = decide(&app, &member, &review, json!({ "decision": "approve" })).await;
    own.assert_problem(403);
    assert!(
        own.body["type"].as_str().unwrap().ends_with("not-allowed"),
        "{}",
        own.body
    );
    let unchanged = app
        .get(&path_of("artifacts", &artifact), &owner.token)
        .await;
    assert_eq!(unchanged.body["review_status"], "pending_review");
    let approved = decide(&app, &admin, &review, json!({ "decision": "approve" })).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.body);

    // With the setting off, the maintainer who started the next session approves its work.
    app.patch(
        "/api/v1/organizations/current",
        &owner.token,
        json!({ "settings": {} }),
    )
    .await;
    let next = new_session(&app, &member, &project, Some(&agent), false).await;
    start(&app, &member, &next).await;
    settled(&app, &member, &next, "completed").await;
    let artifact = only(&app, &member, &next, "artifacts").await;
    let mine = decide(
        &app,
        &member,
        &format!("{}/review", path_of("artifacts", &artifact)),
        json!({ "decision": "approve" }),
    )
    .await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
}

async fn a_deleted_project_hides_its_work(app: TestApp) {
    let owner = app.register("work-hidden@example.com").await;
    let project = app.create_project(&owner, "Doomed").await;
    let keep = app.create_project(&owner, "Kept").await;
    let agent = app.echo_agent(&owner, "hider").await.1;
    let session = new_session(&app, &owner, &project, Some(&agent), false).await;
    start(&app, &owner, &session).await;
    settled(&app, &owner, &session, "completed").await;
    let artifact = only(&app, &owner, &session, "artifacts").await;
    new_session(&app, &owner, &keep, Some(&agent), false).await;

    let deleted = app
        .delete(&path_of("projects", &project), &owner.token)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    for path in [
        path_of("work-sessions", &session),
        format!("{}/events", path_of("work-sessions", &session)),
        format!("{}/artifacts", path_of("work-sessions", &session)),
        path_of("artifacts", &artifact),
        sessions_of(&project),
    ] {
        app.get(&path, &owner.token).await.assert_problem(404);
    }
    let listed = app.get("/api/v1/work-sessions", &owner.token).await;
    assert_eq!(listed.body["total"], 1, "{}", listed.body);
    assert_eq!(listed.body["data"][0]["project_id"], keep["id"]);

    let restored = app
        .post(
            &format!("{}/restore", path_of("projects", &project)),
            Some(&owner.token),
            json!(null),
        )
        .await;
    assert_eq!(restored.status, StatusCode::OK, "{}", restored.body);
    let back = app
        .get(&path_of("work-sessions", &session), &owner.token)
        .await;
    assert_eq!(back.body["status"], "completed");

    // Purging the project removes its work with it (the keys cascade; a key that did not
    // would make the purge fail).
    app.delete(&path_of("projects", &project), &owner.token)
        .await;
    // Each store's own timestamp text.
    let long_ago = if app.database.is_some() {
        "2001-01-01 00:00:00+00:00"
    } else {
        "2001-01-01T00:00:00+00:00"
    };
    app.as_owner(&format!(
        "UPDATE projects SET deleted_at = '{long_ago}' WHERE id = {}",
        app.uuid_literal(project["id"].as_str().unwrap())
    ))
    .await;
    let removed = bulkhead_server::purge(&app.owner_url(), chrono::Duration::days(30))
        .await
        .unwrap();
    assert_eq!(removed, 1);
    app.get(&path_of("work-sessions", &session), &owner.token)
        .await
        .assert_problem(404);
    let listed = app.get("/api/v1/work-sessions", &owner.token).await;
    assert_eq!(listed.body["total"], 1, "{}", listed.body);
}

async fn of_concurrent_reviews_exactly_one_wins(app: TestApp) {
    let owner = app.register("work-race@example.com").await;
    let project = app.create_project(&owner, "Race").await;
    let agent = app.echo_agent(&owner, "racer").await.1;
    let session = new_session(&app, &owner, &project, Some(&agent), false).await;
    start(&app, &owner, &session).await;
    settled(&app, &owner, &session, "completed").await;
    let artifact = only(&app, &owner, &session, "artifacts").await;
    let review = format!("{}/review", path_of("artifacts", &artifact));
    let replies = futures_util::future::join_all((0..12).map(|n| {
        let body = if n % 2 == 0 {
            json!({ "decision": "approve" })
        } else {
            json!({ "decision": "reject", "feedback": format!("no {n}") })
        };
        app.post(&review, Some(&owner.token), body)
    }))
    .await;
    let won: Vec<_> = replies
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .collect();
    assert_eq!(
        won.len(),
        1,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for reply in &replies {
        assert!(
            reply.status == StatusCode::OK || reply.status == StatusCode::CONFLICT,
            "{}",
            reply.body
        );
    }
    let stored = app
        .get(&path_of("artifacts", &artifact), &owner.token)
        .await;
    assert_eq!(stored.body["review_status"], won[0].body["review_status"]);
    let reviews = app
        .audit_actions(&owner)
        .await
        .into_iter()
        .filter(|a| a == "artifact.reviewed")
        .count();
    assert_eq!(reviews, 1);
}

async fn every_work_route_hides_other_tenants(app: TestApp) {
    let a = app.register("work-a@example.com").await;
    let b = app.register("work-b@example.com").await;
    let project = app.create_project(&a, "Private").await;
    let agent = app.echo_agent(&a, "private").await.1;
    let session = new_session(&app, &a, &project, Some(&agent), true).await;
    start(&app, &a, &session).await;
    settled(&app, &a, &session, "awaiting_review").await;
    let checkpoint = only(&app, &a, &session, "checkpoints").await;
    let done = new_session(&app, &a, &project, Some(&agent), false).await;
    start(&app, &a, &done).await;
    settled(&app, &a, &done, "completed").await;
    let artifact = only(&app, &a, &done, "artifacts").await;

    let missing = Uuid::now_v7();
    let theirs_session = path_of("work-sessions", &session);
    let missing_session = format!("/api/v1/work-sessions/{missing}");
    let theirs_project = path_of("projects", &project);
    let missing_project = format!("/api/v1/projects/{missing}");
    let theirs_artifact = path_of("artifacts", &artifact);
    let missing_artifact = format!("/api/v1/artifacts/{missing}");
    let theirs_checkpoint = path_of("checkpoints", &checkpoint);
    let missing_checkpoint = format!("/api/v1/checkpoints/{missing}");
    let create = json!({ "task_type": "research", "task_intent": "x" });
    let decision = json!({ "decision": "approve" });
    let cases: [(Method, &String, &String, &str, Option<&Value>); 13] = [
        (Method::GET, &theirs_session, &missing_session, "", None),
        (
            Method::POST,
            &theirs_session,
            &missing_session,
            "/start",
            None,
        ),
        (
            Method::POST,
            &theirs_session,
            &missing_session,
            "/cancel",
            None,
        ),
        (
            Method::GET,
            &theirs_session,
            &missing_session,
            "/events",
            None,
        ),
        (
            Method::GET,
            &theirs_session,
            &missing_session,
            "/artifacts",
            None,
        ),
        (
            Method::GET,
            &theirs_session,
            &missing_session,
            "/checkpoints",
            None,
        ),
        (
            Method::GET,
            &theirs_project,
            &missing_project,
            "/work-sessions",
            None,
        ),
        (
            Method::POST,
            &theirs_project,
            &missing_project,
            "/work-sessions",
            Some(&create),
        ),
        (Method::GET, &theirs_artifact, &missing_artifact, "", None),
        (
            Method::POST,
            &theirs_artifact,
            &missing_artifact,
            "/review",
            Some(&decision),
        ),
        (
            Method::GET,
            &theirs_checkpoint,
            &missing_checkpoint,
            "",
            None,
        ),
        (
            Method::POST,
            &theirs_checkpoint,
            &missing_checkpoint,
            "/resolve",
            Some(&decision),
        ),
        (Method::GET, &theirs_project, &missing_project, "", None),
    ];
    for (method, theirs, missing, suffix, body) in cases {
        app.assert_hidden(
            &b.token,
            method,
            &format!("{theirs}{suffix}"),
            &format!("{missing}{suffix}"),
            body,
        )
        .await;
    }
    let listed = app.get("/api/v1/work-sessions", &b.token).await;
    assert_eq!(listed.body["total"], 0, "{}", listed.body);
    // B's agent cannot be given to A's session, nor A's agent to B's.
    let b_project = app.create_project(&b, "Theirs").await;
    let foreign_agent = app
        .post(
            &sessions_of(&b_project),
            Some(&b.token),
            json!({ "task_type": "research", "task_intent": "x", "agent_id": agent["id"] }),
        )
        .await;
    foreign_agent.assert_problem(422);
    // Nothing of A's changed.
    let still = app.get(&theirs_session, &a.token).await;
    assert_eq!(still.body["status"], "awaiting_review");
    let still = app.get(&theirs_artifact, &a.token).await;
    assert_eq!(still.body["review_status"], "pending_review");
}

/// Two servers on one PostgreSQL database: a session started on one is executed by the
/// other's worker too, and its events reach a stream on either.
#[tokio::test]
async fn a_session_started_on_one_instance_is_followed_on_another() {
    let app = spawn_app_with(Store::Postgres, |_| {}).await;
    let other = app
        .another_instance(|config| config.runs.concurrency = 0)
        .await;
    let owner = app.register("work-twins@example.com").await;
    let project = app.create_project(&owner, "Twins").await;
    let agent = app.echo_agent(&owner, "twin").await.1;
    let session = new_session(&other, &owner, &project, Some(&agent), false).await;
    start(&other, &owner, &session).await;
    let stream = other
        .raw(
            other
                .client
                .get(other.url(&format!("{}/events", path_of("work-sessions", &session))))
                .bearer_auth(&owner.token)
                .header("accept", "text/event-stream"),
        )
        .await;
    let text = stream.body.as_str().unwrap_or_default().to_owned();
    assert!(text.contains("event: artifact_created"), "{text}");
    assert!(text.contains("\"status\":\"completed\""), "{text}");
}
