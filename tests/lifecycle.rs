//! The lifecycle every resource shares, on SQLite and PostgreSQL: the audit trail and its hash
//! chain, soft delete and restore, purge, and optimistic concurrency with ETag/If-Match.

#![allow(clippy::unwrap_used)]

use bulkhead_tests::{TestApp, both_stores};
use futures_util::future::join_all;
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

both_stores! {
    every_write_and_login_is_audited_with_what_changed;
    audit_list_filters_and_pages;
    tampering_behind_the_servers_back_is_detected;
    concurrent_writes_do_not_fork_the_chain;
    export_streams_every_event_as_json_lines;
    deleted_projects_vanish_until_restored;
    purge_removes_expired_deletions_and_says_so;
    stale_if_match_is_refused_and_changes_nothing;
    exactly_one_of_many_concurrent_patches_with_one_version_wins;
    idempotent_creation;
    refusals_are_audited;
    idempotency_keys_expire_after_a_day;
    the_latest_migrations_roll_back_and_forward_with_their_data;
}

fn actions(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

async fn every_write_and_login_is_audited_with_what_changed(app: TestApp) {
    let a = app.register("a@example.com").await;
    let wrong = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": "a@example.com", "password": "not it at all" }),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    // A failed login records its events after the response (so its timing tells nothing); wait
    // for them, so that the chain's order below is the order of the requests.
    bulkhead_tests::eventually(|| async {
        let actions = app.audit_actions(&a).await;
        if actions.iter().any(|a| a == "auth.login_failed") {
            Ok(())
        } else {
            Err(format!("no auth.login_failed yet in {actions:?}"))
        }
    })
    .await;
    let login = app
        .raw(
            app.client
                .post(app.url("/api/v1/auth/login"))
                .header("x-request-id", "login-1")
                .header("user-agent", "audit-test/1.0")
                .json(&json!({ "email": "a@example.com", "password": "correct horse battery" })),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK);
    let project = app.create_project(&a, "Apollo").await;
    let path = format!("/api/v1/projects/{}", project["id"].as_str().unwrap());
    app.patch(&path, &a.token, json!({ "name": "Apollo 11" }))
        .await;
    app.delete(&path, &a.token).await;
    let restored = app
        .post(&format!("{path}/restore"), Some(&a.token), json!({}))
        .await;
    assert_eq!(restored.status, StatusCode::OK, "{}", restored.body);

    let events = app.audit_events(&a).await;
    assert_eq!(
        actions(&events),
        [
            "organization.created",
            "auth.login_failed",
            "auth.login_succeeded",
            "project.created",
            "project.updated",
            "project.deleted",
            "project.restored",
        ]
    );
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6, 7]);
    for event in &events {
        assert_eq!(event["actor_type"], "user");
        assert_eq!(event["actor_id"], a.user_id.as_str());
        assert_eq!(event["hash"].as_str().unwrap().len(), 64);
    }
    let succeeded = &events[2];
    assert_eq!(succeeded["request_id"], "login-1");
    assert_eq!(succeeded["user_agent"], "audit-test/1.0");
    assert_eq!(succeeded["client_ip"], "127.0.0.1");
    assert_eq!(events[3]["changes"]["after"]["name"], "Apollo");
    assert_eq!(
        events[4]["changes"],
        json!({ "before": { "name": "Apollo" }, "after": { "name": "Apollo 11" } })
    );
    assert_eq!(events[4]["resource_id"], project["id"]);
    assert_eq!(events[5]["changes"]["before"]["name"], "Apollo 11");
    // Nothing recorded carries a secret.
    let text = serde_json::to_string(&events).unwrap();
    assert!(
        !text.contains("$2b$") && !text.contains("correct horse"),
        "{text}"
    );

    let report = app.get("/api/v1/audit-events/verify", &a.token).await;
    assert_eq!(
        report.body,
        json!({ "intact": true, "events_checked": 7, "first_broken": null })
    );

    // Each organization has its own chain.
    let b = app.register("b@example.com").await;
    assert_eq!(
        actions(&app.audit_events(&b).await),
        ["organization.created"]
    );
}

async fn audit_list_filters_and_pages(app: TestApp) {
    let a = app.register("a@example.com").await;
    let first = app.create_project(&a, "one").await;
    app.create_project(&a, "two").await;
    let by_action = app
        .get("/api/v1/audit-events?action=project.created", &a.token)
        .await;
    assert_eq!(by_action.body["total"], 2);
    assert_eq!(
        by_action.body["data"][0]["changes"]["after"]["name"], "two",
        "newest first"
    );
    let by_resource = app
        .get(
            &format!(
                "/api/v1/audit-events?resource_type=project&resource_id={}",
                first["id"].as_str().unwrap()
            ),
            &a.token,
        )
        .await;
    assert_eq!(by_resource.body["total"], 1);
    let by_actor = app
        .get(
            &format!("/api/v1/audit-events?actor_id={}", a.user_id),
            &a.token,
        )
        .await;
    assert_eq!(by_actor.body["total"], 3);
    let future = app
        .get("/api/v1/audit-events?since=2999-01-01T00:00:00Z", &a.token)
        .await;
    assert_eq!(future.body["total"], 0);
    let past = app
        .get("/api/v1/audit-events?until=2000-01-01T00:00:00Z", &a.token)
        .await;
    assert_eq!(past.body["total"], 0);
    let page = app
        .get("/api/v1/audit-events?limit=1&offset=1", &a.token)
        .await;
    assert_eq!(
        (page.body["total"].clone(), page.body["has_more"].clone()),
        (json!(3), json!(true))
    );
    assert_eq!(page.body["data"][0]["seq"], 2);
    for bad in ["since=yesterday", "limit=500", "order=seq"] {
        app.get(&format!("/api/v1/audit-events?{bad}"), &a.token)
            .await
            .assert_problem(422);
    }
}

async fn tampering_behind_the_servers_back_is_detected(app: TestApp) {
    let a = app.register("a@example.com").await;
    app.create_project(&a, "one").await;
    app.create_project(&a, "two").await;
    let intact = app.get("/api/v1/audit-events/verify", &a.token).await;
    assert_eq!(intact.body["intact"], true);
    let events = app.audit_events(&a).await;
    app.as_owner(
        "UPDATE audit_events SET changes = '{\"after\":{\"name\":\"innocent\"}}' WHERE seq = 2",
    )
    .await;
    let report = app.get("/api/v1/audit-events/verify", &a.token).await;
    assert_eq!(report.body["intact"], false);
    assert_eq!(report.body["first_broken"]["seq"], 2);
    assert_eq!(report.body["first_broken"]["id"], events[1]["id"]);
}

async fn concurrent_writes_do_not_fork_the_chain(app: TestApp) {
    let a = app.register("a@example.com").await;
    let b = app.register("b@example.com").await;
    let writes = (0..20).map(|i| {
        let tenant = if i % 2 == 0 { &a } else { &b };
        app.post(
            "/api/v1/projects",
            Some(&tenant.token),
            json!({ "name": format!("p{i}") }),
        )
    });
    for reply in join_all(writes).await {
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    for tenant in [&a, &b] {
        let report = app.get("/api/v1/audit-events/verify", &tenant.token).await;
        assert_eq!(
            report.body,
            json!({ "intact": true, "events_checked": 11, "first_broken": null })
        );
    }
}

async fn export_streams_every_event_as_json_lines(app: TestApp) {
    let a = app.register("a@example.com").await;
    for i in 0..5 {
        app.create_project(&a, &format!("p{i}")).await;
    }
    let response = app
        .client
        .get(app.url("/api/v1/audit-events/export"))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6], "oldest first, nothing missing");
    let anonymous = app
        .raw(app.client.get(app.url("/api/v1/audit-events/export")))
        .await;
    anonymous.assert_problem(401);
}

async fn deleted_projects_vanish_until_restored(app: TestApp) {
    let a = app.register("a@example.com").await;
    let b = app.register("b@example.com").await;
    let project = app.create_project(&a, "Apollo").await;
    let path = format!("/api/v1/projects/{}", project["id"].as_str().unwrap());
    assert_eq!(
        app.delete(&path, &a.token).await.status,
        StatusCode::NO_CONTENT
    );
    app.get(&path, &a.token).await.assert_problem(404);
    app.patch(&path, &a.token, json!({ "name": "x" }))
        .await
        .assert_problem(404);
    app.delete(&path, &a.token).await.assert_problem(404);
    assert_eq!(app.get("/api/v1/projects", &a.token).await.body["total"], 0);

    let with_deleted = app
        .get("/api/v1/projects?include_deleted=true", &a.token)
        .await;
    assert_eq!(with_deleted.body["total"], 1);
    assert!(with_deleted.body["data"][0]["deleted_at"].is_string());
    app.get("/api/v1/projects?include_deleted=yes", &a.token)
        .await
        .assert_problem(422);
    // Another organization can neither see nor restore it.
    assert_eq!(
        app.get("/api/v1/projects?include_deleted=true", &b.token)
            .await
            .body["total"],
        0
    );
    app.post(&format!("{path}/restore"), Some(&b.token), json!({}))
        .await
        .assert_problem(404);

    // Its name is free while it is deleted; restoring then clashes.
    let usurper = app.create_project(&a, "apollo").await;
    app.post(&format!("{path}/restore"), Some(&a.token), json!({}))
        .await
        .assert_problem(409);
    app.delete(
        &format!("/api/v1/projects/{}", usurper["id"].as_str().unwrap()),
        &a.token,
    )
    .await;
    let restored = app
        .post(&format!("{path}/restore"), Some(&a.token), json!({}))
        .await;
    assert_eq!(restored.status, StatusCode::OK, "{}", restored.body);
    assert_eq!(restored.body["deleted_at"], Value::Null);
    assert_eq!(app.get(&path, &a.token).await.body["name"], "Apollo");
    // A live project cannot be restored.
    app.post(&format!("{path}/restore"), Some(&a.token), json!({}))
        .await
        .assert_problem(404);
}

async fn purge_removes_expired_deletions_and_says_so(app: TestApp) {
    let a = app.register("a@example.com").await;
    let b = app.register("b@example.com").await;
    let doomed = app.create_project(&a, "old").await;
    let kept = app.create_project(&a, "recent").await;
    let other = app.create_project(&b, "theirs").await;
    for (tenant, project) in [(&a, &doomed), (&a, &kept), (&b, &other)] {
        app.delete(
            &format!("/api/v1/projects/{}", project["id"].as_str().unwrap()),
            &tenant.token,
        )
        .await;
    }
    // Age two of the deletions past the retention period.
    app.as_owner(&format!(
        "UPDATE projects SET deleted_at = '2001-01-01 00:00:00+00:00' WHERE id IN ('{}', '{}')",
        doomed["id"].as_str().unwrap(),
        other["id"].as_str().unwrap()
    ))
    .await;
    if app.database.is_none() {
        // SQLite stores uuids as blobs; address the rows by name there.
        app.as_owner("UPDATE projects SET deleted_at = '2001-01-01T00:00:00+00:00' WHERE name IN ('old', 'theirs')")
            .await;
    }
    let removed = bulkhead_server::purge(&app.owner_url(), chrono::Duration::days(30))
        .await
        .unwrap();
    assert_eq!(removed, 2);

    let left = app
        .get("/api/v1/projects?include_deleted=true", &a.token)
        .await;
    assert_eq!(left.body["total"], 1);
    assert_eq!(left.body["data"][0]["name"], "recent");
    let events = app.audit_events(&a).await;
    let purged = events.last().unwrap();
    assert_eq!(purged["action"], "project.purged");
    assert_eq!(
        (purged["actor_type"].as_str(), purged["actor_id"].as_str()),
        (Some("system"), Some("purge"))
    );
    assert_eq!(purged["changes"]["ids"], json!([doomed["id"]]));
    for tenant in [&a, &b] {
        assert_eq!(
            app.get("/api/v1/audit-events/verify", &tenant.token)
                .await
                .body["intact"],
            true
        );
    }
}

async fn stale_if_match_is_refused_and_changes_nothing(app: TestApp) {
    let a = app.register("a@example.com").await;
    let project = app.create_project(&a, "Apollo").await;
    let path = format!("/api/v1/projects/{}", project["id"].as_str().unwrap());
    let read = app.get(&path, &a.token).await;
    assert_eq!(read.headers["etag"], "\"1\"");

    let send = |method: reqwest::Method, etag: &str, body: Option<Value>| {
        let mut request = app
            .client
            .request(method, app.url(&path))
            .bearer_auth(&a.token)
            .header("if-match", etag);
        if let Some(body) = body {
            request = request.json(&body);
        }
        app.raw(request)
    };
    let first = send(
        reqwest::Method::PATCH,
        "\"1\"",
        Some(json!({ "name": "Apollo 11" })),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.headers["etag"], "\"2\"");
    assert_eq!(first.body["version"], 2);
    let stale = send(
        reqwest::Method::PATCH,
        "\"1\"",
        Some(json!({ "name": "Apollo 13" })),
    )
    .await;
    stale.assert_problem(412);
    send(
        reqwest::Method::PATCH,
        "garbage",
        Some(json!({ "name": "Apollo 13" })),
    )
    .await
    .assert_problem(412);
    send(reqwest::Method::DELETE, "\"1\"", None)
        .await
        .assert_problem(412);
    let after = app.get(&path, &a.token).await;
    assert_eq!(after.body["name"], "Apollo 11");
    assert_eq!(after.headers["etag"], "\"2\"");
    // Without If-Match the last write wins, and the response still carries the new ETag.
    let blind = app
        .patch(&path, &a.token, json!({ "description": "moon" }))
        .await;
    assert_eq!(blind.headers["etag"], "\"3\"");
    assert_eq!(
        send(reqwest::Method::DELETE, "\"3\"", None).await.status,
        StatusCode::NO_CONTENT
    );
}

async fn exactly_one_of_many_concurrent_patches_with_one_version_wins(app: TestApp) {
    let a = app.register("a@example.com").await;
    let project = app.create_project(&a, "Apollo").await;
    let path = format!("/api/v1/projects/{}", project["id"].as_str().unwrap());
    let patches = (0..100).map(|i| {
        app.raw(
            app.client
                .patch(app.url(&path))
                .bearer_auth(&a.token)
                .header("if-match", "\"1\"")
                .json(&json!({ "description": format!("writer {i}") })),
        )
    });
    let statuses = bulkhead_tests::sorted_statuses(&join_all(patches).await);
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 412).count(),
        99,
        "{statuses:?}"
    );
    let after = app.get(&path, &a.token).await;
    assert_eq!(after.body["version"], 2);
    let updates = app
        .get("/api/v1/audit-events?action=project.updated", &a.token)
        .await;
    assert_eq!(
        updates.body["total"], 1,
        "one audit record per acknowledged write"
    );
}

async fn idempotent_creation(app: TestApp) {
    let a = app.register("a@example.com").await;
    let b = app.register("b@example.com").await;
    let post = async |tenant: &bulkhead_tests::Tenant, key: &str, body: Value| {
        app.post_once("/api/v1/projects", &tenant.token, key, &body)
            .await
    };
    let first = post(&a, "order-1", json!({ "name": "Apollo" })).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let retry = post(&a, "order-1", json!({ "name": "Apollo" })).await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
    assert_eq!(
        retry.body, first.body,
        "the retry replays the first response"
    );
    assert_eq!(retry.headers["location"], first.headers["location"]);
    assert_eq!(retry.headers["etag"], first.headers["etag"]);
    assert_eq!(retry.headers["idempotent-replayed"], "true");
    let other_body = post(&a, "order-1", json!({ "name": "Gemini" })).await;
    other_body.assert_problem(422);
    assert_eq!(other_body.error_fields(), ["Idempotency-Key"]);
    assert_eq!(app.get("/api/v1/projects", &a.token).await.body["total"], 1);
    let created = app
        .get("/api/v1/audit-events?action=project.created", &a.token)
        .await;
    assert_eq!(created.body["total"], 1, "created once, audited once");

    // Keys belong to an organization: B's identical key is B's own.
    let theirs = post(&b, "order-1", json!({ "name": "Apollo" })).await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    assert_ne!(theirs.body["id"], first.body["id"]);

    // A request that failed changed nothing and frees its key.
    let invalid = post(&a, "order-2", json!({ "name": "" })).await;
    invalid.assert_problem(422);
    let fixed = post(&a, "order-2", json!({ "name": "Mercury" })).await;
    assert_eq!(fixed.status, StatusCode::CREATED, "{}", fixed.body);

    post(&a, "bad key with spaces", json!({ "name": "Vostok" }))
        .await
        .assert_problem(422);

    // Concurrent retries of one request create one project.
    let racers = (0..10).map(|_| post(&a, "order-3", json!({ "name": "Skylab" })));
    let replies = join_all(racers).await;
    let ids: std::collections::BTreeSet<String> = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .map(|r| r.body["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "one project for one key");
    assert!(
        replies
            .iter()
            .all(|r| r.status == StatusCode::CREATED || r.status == StatusCode::CONFLICT)
    );
    let skylabs = app.get("/api/v1/projects?q=skylab", &a.token).await;
    assert_eq!(skylabs.body["total"], 1);
}

async fn refusals_are_audited(app: TestApp) {
    let a = app.register("a@example.com").await;
    // Make the owner a viewer (behind the server's back: members are managed in a later issue).
    app.as_owner("UPDATE memberships SET role = 'viewer'").await;
    let viewer = app.login(&a.email).await;
    app.post("/api/v1/projects", Some(&viewer), json!({ "name": "nope" }))
        .await
        .assert_problem(403);
    app.get("/api/v1/audit-events", &viewer)
        .await
        .assert_problem(403);
    app.as_owner("UPDATE memberships SET role = 'owner'").await;
    let owner = app.login(&a.email).await;
    let denied = app
        .get("/api/v1/audit-events?action=permission.denied", &owner)
        .await;
    let refused: Vec<&str> = denied.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource_id"].as_str().unwrap())
        .collect();
    assert_eq!(refused, ["audit:read", "projects:write"], "newest first");
    assert_eq!(
        app.get("/api/v1/projects", &owner).await.body["total"],
        0,
        "the refused write changed nothing"
    );
}

async fn idempotency_keys_expire_after_a_day(app: TestApp) {
    let a = app.register("a@example.com").await;
    let post = async |name: &str| {
        app.post_once(
            "/api/v1/projects",
            &a.token,
            "daily",
            &json!({ "name": name }),
        )
        .await
    };
    assert_eq!(post("first").await.status, StatusCode::CREATED);
    // The same key with another body is refused while the key is remembered...
    post("second").await.assert_problem(422);
    // ...and is a fresh key once it is more than 24 hours old.
    app.as_owner("UPDATE idempotency_keys SET created_at = '2001-01-01 00:00:00+00:00'")
        .await;
    let later = post("second").await;
    assert_eq!(later.status, StatusCode::CREATED, "{}", later.body);
    assert!(later.headers.get("idempotent-replayed").is_none());
    assert_eq!(app.get("/api/v1/projects", &a.token).await.body["total"], 2);
}

/// Idempotency keys stored, counted as the owner.
async fn stored_keys(app: &TestApp) -> i64 {
    let conn = sea_orm::Database::connect(app.owner_url()).await.unwrap();
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT count(*) AS n FROM idempotency_keys",
        ))
        .await
        .unwrap()
        .unwrap();
    conn.close().await.unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

// The migrations of issue 17 (API keys on their creator's authority, idempotency keys per
// principal, sessions under row-level security) undo and redo cleanly, keeping the rows,
// SQLite's rebuilt table included.
async fn the_latest_migrations_roll_back_and_forward_with_their_data(app: TestApp) {
    use sea_orm_migration::MigratorTrait;
    let a = app.register("a@example.com").await;
    let create = async |key: &str, name: &str| {
        app.post_once("/api/v1/projects", &a.token, key, &json!({ "name": name }))
            .await
    };
    assert_eq!(create("k1", "Apollo").await.status, StatusCode::CREATED);
    let owner = sea_orm::Database::connect(app.owner_url()).await.unwrap();
    bulkhead_migrations::Migrator::down(&owner, Some(3))
        .await
        .unwrap();
    assert_eq!(stored_keys(&app).await, 1);
    bulkhead_migrations::Migrator::up(&owner, None)
        .await
        .unwrap();
    owner.close().await.unwrap();
    assert_eq!(stored_keys(&app).await, 1);
    // The server works on the schema as before.
    let fresh = create("k2", "Gemini").await;
    assert_eq!(fresh.status, StatusCode::CREATED, "{}", fresh.body);
    let replay = create("k2", "Gemini").await;
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    assert_eq!(replay.body["id"], fresh.body["id"]);
}
