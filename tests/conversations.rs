//! Conversations over HTTP, on both stores: the resource contract (as private rows), privacy
//! inside the organization, messages with gapless sequence numbers, replies run by the worker
//! and streamed as events, what a message posted while a reply runs does, and the cross-tenant
//! contract on every route. On PostgreSQL, the privacy policies are checked straight in SQL.

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bulkhead_tests::contract::Contract;
use bulkhead_tests::{Store, Tenant, TestApp, both_stores, spawn_app_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

both_stores! {
    conversations_keep_the_resource_contract;
    a_conversation_is_its_owners_alone;
    replies_run_stream_and_append_the_assistants_message;
    a_busy_conversation_follows_on_busy;
    concurrent_posts_get_gapless_sequence_numbers;
    messages_are_validated_and_append_only;
    references_must_be_live_and_local;
    every_route_hides_other_tenants;
    replies_draw_on_the_knowledge_base;
}

fn new_conversation(n: usize, fixtures: &Value) -> Value {
    json!({
        "title": format!("Conversation {n}"),
        "agent_config_id": fixtures["config"]["id"],
        "project_id": fixtures["project"]["id"],
        "context": { "topic": format!("topic {n}") },
    })
}

fn rename(n: usize) -> (Value, &'static str) {
    (json!({ "title": format!("Renamed {n}") }), "title")
}

fn fixtures<'a>(app: &'a TestApp, tenant: &'a Tenant) -> Pin<Box<dyn Future<Output = Value> + 'a>> {
    Box::pin(async move {
        let (config, _) = app.echo_agent(tenant, "contract-echo").await;
        let project = app.create_project(tenant, "Contract project").await;
        json!({ "config": config, "project": project })
    })
}

async fn conversations_keep_the_resource_contract(app: TestApp) {
    Contract {
        collection: "/api/v1/conversations",
        item: "/api/v1/conversations/{conversation_id}",
        table: "conversations",
        name: "conversation",
        create: new_conversation,
        patch: rename,
        detail: &[],
        private: true,
        setup: fixtures,
    }
    .check(&app)
    .await;
}

fn path_of(conversation: &Value) -> String {
    format!(
        "/api/v1/conversations/{}",
        conversation["id"].as_str().unwrap()
    )
}

async fn create(app: &TestApp, tenant: &Tenant, body: Value) -> Value {
    let reply = app
        .post("/api/v1/conversations", Some(&tenant.token), body)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

/// A conversation of `tenant` whose replies come from the `echo` executor.
async fn echo_conversation(app: &TestApp, tenant: &Tenant, title: &str) -> Value {
    echo_conversation_of(app, tenant, tenant, title).await
}

/// A conversation of `tenant` on an `echo` configuration that `configurer` made.
async fn echo_conversation_of(
    app: &TestApp,
    configurer: &Tenant,
    tenant: &Tenant,
    title: &str,
) -> Value {
    let (config, _) = app
        .echo_agent(configurer, &format!("echo-{}", Uuid::now_v7()))
        .await;
    create(
        app,
        tenant,
        json!({ "title": title, "agent_config_id": config["id"] }),
    )
    .await
}

async fn post(
    app: &TestApp,
    tenant: &Tenant,
    conversation: &Value,
    body: Value,
) -> bulkhead_tests::Reply {
    app.post(
        &format!("{}/messages", path_of(conversation)),
        Some(&tenant.token),
        body,
    )
    .await
}

async fn messages(app: &TestApp, tenant: &Tenant, conversation: &Value) -> Vec<Value> {
    let reply = app
        .get(
            &format!("{}/messages", path_of(conversation)),
            &tenant.token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["data"].as_array().unwrap().clone()
}

/// Waits until the conversation holds `count` live messages, and answers them.
async fn until_messages(
    app: &TestApp,
    tenant: &Tenant,
    conversation: &Value,
    count: usize,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found = messages(app, tenant, conversation).await;
        if found.len() >= count {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} messages after 20 s, not {count}: {found:?}",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_conversation_is_its_owners_alone(app: TestApp) {
    let owner = app.register("owner@example.com").await;
    let author = app
        .member_token(&owner, "author@example.com", "member")
        .await;
    let conversation = echo_conversation_of(&app, &owner, &author, "My plans").await;
    let path = path_of(&conversation);
    let posted = post(
        &app,
        &author,
        &conversation,
        json!({ "content": "private words" }),
    )
    .await;
    assert_eq!(posted.status, StatusCode::ACCEPTED, "{}", posted.body);
    let run = posted.body["run"].clone();
    let message = format!(
        "{path}/messages/{}",
        posted.body["message"]["id"].as_str().unwrap()
    );
    until_messages(&app, &author, &conversation, 2).await;

    let missing = format!("/api/v1/conversations/{}", Uuid::now_v7());
    let missing_message = format!("{path}/messages/{}", Uuid::now_v7());
    let colleague = app
        .member_token(&owner, "colleague@example.com", "member")
        .await;
    let admin = app.member_token(&owner, "admin@example.com", "admin").await;
    for other in [&colleague, &admin, &owner] {
        for (method, theirs, absent, body) in [
            (Method::GET, path.clone(), missing.clone(), None),
            (
                Method::PATCH,
                path.clone(),
                missing.clone(),
                Some(json!({ "title": "Mine" })),
            ),
            (Method::DELETE, path.clone(), missing.clone(), None),
            (
                Method::POST,
                format!("{path}/restore"),
                format!("{missing}/restore"),
                None,
            ),
            (
                Method::GET,
                format!("{path}/messages"),
                format!("{missing}/messages"),
                None,
            ),
            (
                Method::POST,
                format!("{path}/messages"),
                format!("{missing}/messages"),
                Some(json!({ "content": "hello?" })),
            ),
            (Method::GET, message.clone(), missing_message.clone(), None),
            (
                Method::DELETE,
                message.clone(),
                missing_message.clone(),
                None,
            ),
            (
                Method::GET,
                format!("{path}/events"),
                format!("{missing}/events"),
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/runs/{}", run["id"].as_str().unwrap()),
                format!("/api/v1/runs/{}", Uuid::now_v7()),
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/runs/{}/events", run["id"].as_str().unwrap()),
                format!("/api/v1/runs/{}/events", Uuid::now_v7()),
                None,
            ),
        ] {
            app.assert_hidden(&other.token, method, &theirs, &absent, body.as_ref())
                .await;
        }
        // Its stream, too, is refused before it starts.
        let stream = app
            .raw(
                app.client
                    .get(app.url(&format!("{path}/events")))
                    .bearer_auth(&other.token)
                    .header("accept", "text/event-stream"),
            )
            .await;
        stream.assert_problem(404);
        let listed = app
            .get("/api/v1/conversations?include_deleted=true", &other.token)
            .await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        assert_eq!(listed.body["total"], 0, "{}", listed.body);
    }
    // Nothing they tried changed it.
    let mine = app.get(&path, &author.token).await;
    assert_eq!(mine.status, StatusCode::OK);
    assert_eq!(mine.body["title"], "My plans");
    assert_eq!(mine.body["message_count"], 2);

    // Keys have no conversations; viewers may not hold any.
    let key = app
        .api_key_secret(&owner, &["agents:read", "agents:run", "projects:read"])
        .await;
    let by_key = app.get("/api/v1/conversations", &key).await;
    by_key.assert_problem(403);
    let viewer = app
        .member_token(&owner, "viewer@example.com", "viewer")
        .await;
    app.get("/api/v1/conversations", &viewer.token)
        .await
        .assert_problem(403);
    let scopes = app
        .post(
            "/api/v1/api-keys",
            Some(&owner.token),
            json!({ "name": "chatty", "scopes": ["conversations:use"] }),
        )
        .await;
    scopes.assert_problem(422);
    // The trail names the writes, never the words.
    let events = app.audit_events(&owner).await;
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "conversation_message.created"),
        "{events:?}"
    );
    assert!(
        !serde_json::to_string(&events)
            .unwrap()
            .contains("private words")
    );
    assert!(!serde_json::to_string(&events).unwrap().contains("My plans"));
}

async fn replies_run_stream_and_append_the_assistants_message(app: TestApp) {
    let a = app.register("chat@example.com").await;
    let conversation = echo_conversation(&app, &a, "Echo chamber").await;
    let path = path_of(&conversation);
    // Connected before the reply: the stream follows it live.
    let mut stream = app
        .client
        .get(app.url(&format!("{path}/events")))
        .bearer_auth(&a.token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let posted = post(
        &app,
        &a,
        &conversation,
        json!({ "content": "hello there", "metadata": { "client": "web" } }),
    )
    .await;
    assert_eq!(posted.status, StatusCode::ACCEPTED, "{}", posted.body);
    let message = &posted.body["message"];
    assert_eq!(message["seq"], 1);
    assert_eq!(message["role"], "user");
    assert_eq!(message["metadata"], json!({ "client": "web" }));
    let run = &posted.body["run"];
    assert_eq!(run["status"], "queued");
    assert_eq!(run["agent_id"], Value::Null);
    assert_eq!(run["conversation_id"], conversation["id"]);
    assert_eq!(message["run_id"], run["id"]);
    assert_eq!(
        posted.headers["location"].to_str().unwrap(),
        format!("{path}/messages/{}", message["id"].as_str().unwrap())
    );

    let mut seen = String::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        while !seen.contains("\"role\":\"assistant\"") {
            let chunk = stream.chunk().await.unwrap().expect("the stream goes on");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("the reply arrives on the stream");
    assert!(seen.contains("event: delta"), "{seen}");
    assert!(seen.contains("event: reply"), "{seen}");
    drop(stream);

    let all = until_messages(&app, &a, &conversation, 2).await;
    let reply = &all[1];
    assert_eq!(reply["seq"], 2);
    assert_eq!(reply["role"], "assistant");
    assert_eq!(reply["content"], "echo: hello there");
    assert_eq!(reply["metadata"]["run_id"], run["id"]);
    assert_eq!(reply["metadata"]["sources"], json!([]));
    let done = app
        .settled(
            &format!("/api/v1/runs/{}", run["id"].as_str().unwrap()),
            &a.token,
            "succeeded",
        )
        .await;
    assert_eq!(
        done["input"]["messages"],
        json!([{ "role": "user", "content": "hello there" }])
    );

    // The JSON page of events: gapless, in order, the message first and the reply last.
    let events = app.get(&format!("{path}/events"), &a.token).await;
    let events = events.body["data"].as_array().unwrap().clone();
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    let kinds: Vec<String> = events
        .iter()
        .map(|e| match e["kind"].as_str().unwrap() {
            "reply" => format!("reply:{}", e["data"]["status"].as_str().unwrap()),
            "message" => format!("message:{}", e["data"]["role"].as_str().unwrap()),
            other => other.to_owned(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "message:user",
            "reply:queued",
            "reply:running",
            "delta",
            "reply:succeeded",
            "message:assistant"
        ]
    );
    let conversation = app.get(&path, &a.token).await.body;
    assert_eq!(conversation["message_count"], 2);
    assert_eq!(conversation["reply_run_id"], run["id"]);
    assert!(conversation["last_message_at"].is_string());
    assert_eq!(conversation["version"], 1, "messages do not make versions");

    // The second reply reads the conversation so far.
    let again = post(&app, &a, &conversation, json!({ "content": "and again" })).await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    until_messages(&app, &a, &conversation, 4).await;
    let second = app
        .get(
            &format!("/api/v1/runs/{}", again.body["run"]["id"].as_str().unwrap()),
            &a.token,
        )
        .await;
    assert_eq!(
        second.body["input"]["messages"],
        json!([
            { "role": "user", "content": "hello there" },
            { "role": "assistant", "content": "echo: hello there" },
            { "role": "user", "content": "and again" },
        ])
    );
    // Replies are runs: they count toward the month's runs.
    let usage = app.get("/api/v1/usage", &a.token).await;
    let runs = usage.body["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["quota"] == "runs_per_month")
        .map(|l| l["used"].clone());
    assert_eq!(runs, Some(json!(2)), "{}", usage.body);

    // Without an agent configuration nobody replies: 201, no run.
    let notebook = create(&app, &a, json!({ "title": "Notebook" })).await;
    let noted = post(&app, &a, &notebook, json!({ "content": "note to self" })).await;
    assert_eq!(noted.status, StatusCode::CREATED, "{}", noted.body);
    assert_eq!(noted.body["run"], Value::Null);
}

async fn a_busy_conversation_follows_on_busy(app: TestApp) {
    let a = app.register("busy@example.com").await;
    let conversation = echo_conversation(&app, &a, "Busy").await;
    let slow = json!({ "content": "think hard", "metadata": { "delay_ms": 1500 } });
    let first = post(&app, &a, &conversation, slow.clone()).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);

    // Reject (the default): 409, and nothing stored.
    let refused = post(
        &app,
        &a,
        &conversation,
        json!({ "content": "are you there?" }),
    )
    .await;
    refused.assert_problem(409);
    let explicit = post(
        &app,
        &a,
        &conversation,
        json!({ "content": "hello?", "on_busy": "reject" }),
    )
    .await;
    explicit.assert_problem(409);
    assert_eq!(messages(&app, &a, &conversation).await.len(), 1);
    post(
        &app,
        &a,
        &conversation,
        json!({ "content": "x", "on_busy": "later" }),
    )
    .await
    .assert_problem(422);

    // Enqueue: stored, waiting, and answered once the running reply ends.
    let queued = post(
        &app,
        &a,
        &conversation,
        json!({ "content": "second", "on_busy": "enqueue" }),
    )
    .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.body);
    assert_eq!(queued.body["run"], Value::Null);
    assert_eq!(queued.body["message"]["awaiting_reply"], true);
    let all = until_messages(&app, &a, &conversation, 4).await;
    let roles: Vec<(&str, &str)> = all
        .iter()
        .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        [
            ("user", "think hard"),
            ("user", "second"),
            ("assistant", "echo: think hard"),
            ("assistant", "echo: second"),
        ]
    );
    assert_eq!(all[1]["awaiting_reply"], false);
    assert!(
        all[1]["run_id"].is_string(),
        "the waiting message names its reply"
    );

    // Interrupt: the running reply is cancelled, and the new message answered.
    let slow_again = post(&app, &a, &conversation, slow).await;
    assert_eq!(
        slow_again.status,
        StatusCode::ACCEPTED,
        "{}",
        slow_again.body
    );
    let interrupting = post(
        &app,
        &a,
        &conversation,
        json!({ "content": "never mind", "on_busy": "interrupt" }),
    )
    .await;
    assert_eq!(
        interrupting.status,
        StatusCode::ACCEPTED,
        "{}",
        interrupting.body
    );
    let cancelled = app
        .settled(
            &format!(
                "/api/v1/runs/{}",
                slow_again.body["run"]["id"].as_str().unwrap()
            ),
            &a.token,
            "cancelled",
        )
        .await;
    assert_eq!(cancelled["error"], "cancelled");
    let all = until_messages(&app, &a, &conversation, 7).await;
    assert_eq!(all.len(), 7, "{all:?}");
    assert_eq!(all[6]["content"], "echo: never mind");
    // The interrupted reply wrote nothing.
    assert!(
        !all.iter()
            .any(|m| m["content"] == "echo: think hard" && m["seq"].as_i64().unwrap() > 4)
    );
    // Cancelling a reply through its run also frees the conversation.
    let third = post(
        &app,
        &a,
        &conversation,
        json!({ "content": "slowly", "metadata": { "delay_ms": 5000 } }),
    )
    .await;
    let run = format!("/api/v1/runs/{}", third.body["run"]["id"].as_str().unwrap());
    let stop = app
        .post(&format!("{run}/cancel"), Some(&a.token), json!({}))
        .await;
    assert_eq!(stop.status, StatusCode::OK, "{}", stop.body);
    let free = post(
        &app,
        &a,
        &conversation,
        json!({ "content": "after the cancel" }),
    )
    .await;
    assert_eq!(free.status, StatusCode::ACCEPTED, "{}", free.body);
}

async fn concurrent_posts_get_gapless_sequence_numbers(app: TestApp) {
    let a = app.register("many@example.com").await;
    let notebook = create(&app, &a, json!({ "title": "Busy notebook" })).await;
    let posts = (0..50).map(|n| {
        let (app, a, notebook) = (&app, &a, &notebook);
        async move { post(app, a, notebook, json!({ "content": format!("note {n}") })).await }
    });
    let replies = futures_util::future::join_all(posts).await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let mut seqs: Vec<i64> = replies
        .iter()
        .map(|r| r.body["message"]["seq"].as_i64().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
    let stored = messages(&app, &a, &notebook).await;
    let stored: Vec<i64> = stored.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(stored, (1..=50).collect::<Vec<_>>());
    assert_eq!(
        app.get(&path_of(&notebook), &a.token).await.body["message_count"],
        50
    );
    // Paging by sequence number.
    let page = app
        .get(
            &format!("{}/messages?after=45&limit=3", path_of(&notebook)),
            &a.token,
        )
        .await;
    let page: Vec<i64> = page.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(page, [46, 47, 48]);
}

async fn messages_are_validated_and_append_only(app: TestApp) {
    let a = app.register("strict@example.com").await;
    let notebook = create(&app, &a, json!({ "title": "Strict" })).await;
    let path = path_of(&notebook);
    let multiline = post(
        &app,
        &a,
        &notebook,
        json!({ "content": "line one\nline two" }),
    )
    .await;
    assert_eq!(multiline.status, StatusCode::CREATED, "{}", multiline.body);
    for (body, field) in [
        (json!({ "content": "   " }), "content"),
        (json!({ "content": "x".repeat(32 * 1024 + 1) }), "content"),
        (json!({ "content": "a\u{0}b" }), "content"),
        (json!({ "content": "hi", "role": "assistant" }), "role"),
        (json!({ "content": "hi", "metadata": [1] }), "metadata"),
        (
            json!({ "content": "hi", "metadata": { "x": "y".repeat(4096) } }),
            "metadata",
        ),
        (json!({ "content": "hi", "seq": 7 }), "seq"),
    ] {
        let reply = post(&app, &a, &notebook, body).await;
        reply.assert_problem(422);
        assert_eq!(reply.error_fields(), [field], "{}", reply.body);
    }
    assert_eq!(
        messages(&app, &a, &notebook).await.len(),
        1,
        "refusals stored nothing"
    );
    for query in ["after=-1", "limit=0", "limit=101", "after=x"] {
        app.get(&format!("{path}/messages?{query}"), &a.token)
            .await
            .assert_problem(422);
    }
    // Append-only apart from deletion: no PATCH or PUT of a message.
    let message = format!(
        "{path}/messages/{}",
        multiline.body["message"]["id"].as_str().unwrap()
    );
    for method in [Method::PATCH, Method::PUT] {
        let reply = app
            .raw(
                app.client
                    .request(method, app.url(&message))
                    .bearer_auth(&a.token)
                    .json(&json!({ "content": "edited" })),
            )
            .await;
        reply.assert_problem(405);
    }
    let read = app.get(&message, &a.token).await;
    assert_eq!(read.body["content"], "line one\nline two");
    assert_eq!(
        app.delete(&message, &a.token).await.status,
        StatusCode::NO_CONTENT
    );
    app.get(&message, &a.token).await.assert_problem(404);
    app.delete(&message, &a.token).await.assert_problem(404);
    assert_eq!(app.get(&path, &a.token).await.body["message_count"], 0);
    // A deleted message's number is never reused.
    let next = post(&app, &a, &notebook, json!({ "content": "after" })).await;
    assert_eq!(next.body["message"]["seq"], 2);
    assert!(
        app.audit_actions(&a)
            .await
            .contains(&"conversation_message.deleted".to_owned())
    );
    // A deleted conversation takes no messages.
    assert_eq!(
        app.delete(&path, &a.token).await.status,
        StatusCode::NO_CONTENT
    );
    post(&app, &a, &notebook, json!({ "content": "late" }))
        .await
        .assert_problem(404);
    // Only title and archived change; archived conversations filter.
    let other = create(&app, &a, json!({ "title": "Archive me" })).await;
    for (body, field) in [
        (json!({ "message_count": 9 }), "message_count"),
        (json!({ "agent_config_id": null }), "agent_config_id"),
        (json!({ "title": null }), "title"),
    ] {
        let reply = app.patch(&path_of(&other), &a.token, body).await;
        reply.assert_problem(422);
        assert_eq!(reply.error_fields(), [field], "{}", reply.body);
    }
    let archived = app
        .patch(&path_of(&other), &a.token, json!({ "archived": true }))
        .await;
    assert_eq!(archived.body["archived"], true);
    let only = app
        .get("/api/v1/conversations?archived=true", &a.token)
        .await;
    assert_eq!(only.body["total"], 1);
    assert_eq!(only.body["data"][0]["id"], other["id"]);
    let active = app
        .get("/api/v1/conversations?archived=false", &a.token)
        .await;
    assert_eq!(active.body["total"], 0);
    let found = app.get("/api/v1/conversations?q=ARCHIVE", &a.token).await;
    assert_eq!(found.body["total"], 1);
}

async fn references_must_be_live_and_local(app: TestApp) {
    let a = app.register("refs-a@example.com").await;
    let b = app.register("refs-b@example.com").await;
    let (theirs, _) = app.echo_agent(&b, "theirs").await;
    let their_project = app.create_project(&b, "Theirs").await;
    for (body, field) in [
        (
            json!({ "title": "t", "agent_config_id": theirs["id"] }),
            "agent_config_id",
        ),
        (
            json!({ "title": "t", "agent_config_id": Uuid::now_v7() }),
            "agent_config_id",
        ),
        (
            json!({ "title": "t", "project_id": their_project["id"] }),
            "project_id",
        ),
        (json!({ "title": "" }), "title"),
        (json!({ "title": "t", "context": "text" }), "context"),
        (
            json!({ "title": "t", "context": { "x": "y".repeat(16 * 1024) } }),
            "context",
        ),
    ] {
        let reply = app
            .post("/api/v1/conversations", Some(&a.token), body)
            .await;
        reply.assert_problem(422);
        assert_eq!(reply.error_fields(), [field], "{}", reply.body);
    }
    assert_eq!(
        app.get("/api/v1/conversations", &a.token).await.body["total"],
        0
    );
    // A configuration deactivated later: the message is stored, the reply refused with 409.
    let (mine, _) = app.echo_agent(&a, "mine").await;
    let conversation = create(
        &app,
        &a,
        json!({ "title": "Soon idle", "agent_config_id": mine["id"] }),
    )
    .await;
    let deactivated = app
        .post(
            &format!(
                "/api/v1/agent-configs/{}/deactivate",
                mine["id"].as_str().unwrap()
            ),
            Some(&a.token),
            json!({}),
        )
        .await;
    assert_eq!(deactivated.status, StatusCode::OK, "{}", deactivated.body);
    let refused = post(&app, &a, &conversation, json!({ "content": "anyone?" })).await;
    refused.assert_problem(409);
    assert!(
        messages(&app, &a, &conversation).await.is_empty(),
        "a refused post stores nothing"
    );
    let filtered = app
        .get(
            &format!(
                "/api/v1/conversations?agent_config_id={}",
                mine["id"].as_str().unwrap()
            ),
            &a.token,
        )
        .await;
    assert_eq!(filtered.body["total"], 1);
}

async fn every_route_hides_other_tenants(app: TestApp) {
    let a = app.register("hide-a@example.com").await;
    let b = app.register("hide-b@example.com").await;
    let conversation = echo_conversation(&app, &a, "A's").await;
    let path = path_of(&conversation);
    let posted = post(&app, &a, &conversation, json!({ "content": "for A only" })).await;
    let message = format!(
        "{path}/messages/{}",
        posted.body["message"]["id"].as_str().unwrap()
    );
    let missing = format!("/api/v1/conversations/{}", Uuid::now_v7());
    for (method, theirs, absent, body) in [
        (
            Method::GET,
            format!("{path}/messages"),
            format!("{missing}/messages"),
            None,
        ),
        (
            Method::POST,
            format!("{path}/messages"),
            format!("{missing}/messages"),
            Some(json!({ "content": "hi" })),
        ),
        (
            Method::GET,
            message.clone(),
            format!("{path}/messages/{}", Uuid::now_v7()),
            None,
        ),
        (
            Method::DELETE,
            message.clone(),
            format!("{path}/messages/{}", Uuid::now_v7()),
            None,
        ),
        (
            Method::GET,
            format!("{path}/events"),
            format!("{missing}/events"),
            None,
        ),
        (
            Method::GET,
            format!(
                "/api/v1/runs/{}",
                posted.body["run"]["id"].as_str().unwrap()
            ),
            format!("/api/v1/runs/{}", Uuid::now_v7()),
            None,
        ),
    ] {
        app.assert_hidden(&b.token, method, &theirs, &absent, body.as_ref())
            .await;
    }
    assert_eq!(
        messages(&app, &a, &conversation).await[0]["content"],
        "for A only"
    );
}

async fn upload(app: &TestApp, tenant: &Tenant, text: &str, name: &str) -> Value {
    let reply = app
        .raw(
            app.client
                .post(app.url("/api/v1/documents"))
                .bearer_auth(&tenant.token)
                .multipart(
                    reqwest::multipart::Form::new().part(
                        "file",
                        reqwest::multipart::Part::bytes(text.as_bytes().to_vec())
                            .file_name(name.to_owned())
                            .mime_str("text/plain")
                            .unwrap(),
                    ),
                ),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let path = format!("/api/v1/documents/{}", reply.body["id"].as_str().unwrap());
    app.settled(&path, &tenant.token, "ready").await
}

async fn replies_draw_on_the_knowledge_base(app: TestApp) {
    let a = app.register("kb@example.com").await;
    let b = app.register("kb-other@example.com").await;
    let policy = upload(
        &app,
        &a,
        "Refunds: customers may return any item within 30 days for a full refund.",
        "policy.txt",
    )
    .await;
    upload(&app, &a, "The cafeteria opens at eight.", "cafeteria.txt").await;
    let theirs = upload(&app, &b, "Refunds at B take 90 days.", "b.txt").await;
    // Only live documents of the organization may be named.
    for ids in [json!([theirs["id"]]), json!([Uuid::now_v7()])] {
        let reply = app
            .post(
                "/api/v1/agent-configs",
                Some(&a.token),
                json!({ "name": format!("KB {}", Uuid::now_v7()), "agent_type": "custom", "model": "echo-1", "knowledge_document_ids": ids }),
            )
            .await;
        reply.assert_problem(422);
        assert_eq!(
            reply.error_fields(),
            ["knowledge_document_ids"],
            "{}",
            reply.body
        );
    }
    let config = app
        .post(
            "/api/v1/agent-configs",
            Some(&a.token),
            json!({ "name": "Support", "agent_type": "custom", "model": "echo-1", "knowledge_document_ids": [policy["id"]] }),
        )
        .await;
    assert_eq!(config.status, StatusCode::CREATED, "{}", config.body);
    assert_eq!(config.body["knowledge_document_ids"], json!([policy["id"]]));
    let conversation = create(
        &app,
        &a,
        json!({ "title": "Support chat", "agent_config_id": config.body["id"] }),
    )
    .await;
    let posted = post(
        &app,
        &a,
        &conversation,
        json!({ "content": "How long do refunds take?" }),
    )
    .await;
    assert_eq!(posted.status, StatusCode::ACCEPTED, "{}", posted.body);
    let all = until_messages(&app, &a, &conversation, 2).await;
    let sources = &all[1]["metadata"]["sources"];
    assert_eq!(
        sources,
        &json!([{ "document_id": policy["id"], "title": "policy.txt", "chunk": 1 }]),
        "{}",
        all[1]
    );
    let run = app
        .get(
            &format!(
                "/api/v1/runs/{}",
                posted.body["run"]["id"].as_str().unwrap()
            ),
            &a.token,
        )
        .await;
    let knowledge = run.body["input"]["knowledge"].as_array().unwrap().clone();
    assert_eq!(knowledge.len(), 1, "only the named document: {knowledge:?}");
    assert!(
        knowledge[0]["content"]
            .as_str()
            .unwrap()
            .contains("30 days")
    );
    // A deleted document stops answering.
    app.delete(
        &format!("/api/v1/documents/{}", policy["id"].as_str().unwrap()),
        &a.token,
    )
    .await;
    post(
        &app,
        &a,
        &conversation,
        json!({ "content": "And refunds again?" }),
    )
    .await;
    let all = until_messages(&app, &a, &conversation, 4).await;
    assert_eq!(all[3]["metadata"]["sources"], json!([]));
}

mod privacy_in_sql {
    use super::*;

    /// Straight in SQL as the application role, with the organization set: another member sees
    /// none of a member's conversation, messages or events, and cannot write into them; the
    /// owner sees them; a purge transaction sees only deleted conversations.
    #[tokio::test]
    async fn the_policies_confine_conversations_to_their_owner() {
        use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait};
        let app = spawn_app_with(Store::Postgres, |_| {}).await;
        let owner = app.register("sql-owner@example.com").await;
        let author = app
            .member_token(&owner, "sql-author@example.com", "member")
            .await;
        let conversation = echo_conversation_of(&app, &owner, &author, "Secret").await;
        post(&app, &author, &conversation, json!({ "content": "secret" })).await;
        until_messages(&app, &author, &conversation, 2).await;
        let conn = app.database.as_ref().unwrap().connect_as_app().await;
        let enter = |user: String, purge: bool| {
            let (conn, org) = (&conn, owner.organization_id.clone());
            async move {
                let tx = conn.begin().await.unwrap();
                tx.execute_raw(Statement::from_sql_and_values(
                    DatabaseBackend::Postgres,
                    "SELECT set_config('app.current_org', $1, true), \
                            set_config('app.current_user', $2, true), \
                            set_config('app.purge', $3, true)",
                    [
                        org.into(),
                        user.into(),
                        if purge { "on" } else { "" }.into(),
                    ],
                ))
                .await
                .unwrap();
                tx
            }
        };
        async fn count(tx: &sea_orm::DatabaseTransaction, table: &str) -> i64 {
            tx.query_one_raw(Statement::from_string(
                DatabaseBackend::Postgres,
                format!("SELECT count(*) FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap()
        }
        let tables = [
            "conversations",
            "conversation_messages",
            "conversation_events",
        ];
        let tx = enter(author.user_id.clone(), false).await;
        for table in tables {
            assert!(count(&tx, table).await > 0, "the owner sees {table}");
        }
        tx.rollback().await.unwrap();
        for other in [owner.user_id.clone(), String::new()] {
            let tx = enter(other, false).await;
            for table in tables {
                assert_eq!(count(&tx, table).await, 0, "{table} leaks");
            }
            tx.rollback().await.unwrap();
        }
        // Writing into another's conversation is refused by the policies, not just unseen.
        let tx = enter(owner.user_id.clone(), false).await;
        let err = tx
            .execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "INSERT INTO conversation_messages (organization_id, id, conversation_id, seq, role, \
                 content, metadata, awaiting_reply, created_at) \
                 VALUES ($1::uuid, gen_random_uuid(), $2::uuid, 99, 'user', 'x', '{}', false, now())",
                [owner.organization_id.clone().into(), conversation["id"].as_str().unwrap().into()],
            ))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("row-level security"), "{err}");
        tx.rollback().await.unwrap();
        // The purge sees deleted conversations of every member, and no live one.
        let tx = enter(String::new(), true).await;
        assert_eq!(count(&tx, "conversations").await, 0);
        tx.rollback().await.unwrap();
        app.delete(&path_of(&conversation), &author.token).await;
        let tx = enter(String::new(), true).await;
        assert_eq!(count(&tx, "conversations").await, 1);
        tx.rollback().await.unwrap();
    }

    /// The organization's export carries none of a member's conversation: not its rows, not
    /// the reply runs whose input holds its words, and the export still loads in order.
    #[tokio::test]
    async fn an_export_leaves_private_conversations_behind() {
        let app = spawn_app_with(Store::Postgres, |_| {}).await;
        let owner = app.register("export-owner@example.com").await;
        let author = app
            .member_token(&owner, "export-author@example.com", "member")
            .await;
        let conversation = echo_conversation_of(&app, &owner, &author, "Exported?").await;
        post(
            &app,
            &author,
            &conversation,
            json!({ "content": "secret words" }),
        )
        .await;
        until_messages(&app, &author, &conversation, 2).await;
        let reply = app
            .client
            .get(app.url("/api/v1/organizations/current/export"))
            .bearer_auth(&owner.token)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::OK);
        let bytes = reply.bytes().await.unwrap().to_vec();
        let decoded = bulkhead_domain::exports::decode(bytes.as_slice()).unwrap();
        assert!(decoded.rows.iter().any(|r| r.table == "agent_configs"));
        for row in &decoded.rows {
            assert!(!row.table.starts_with("conversation"), "{}", row.table);
            assert!(!row.row.to_string().contains("secret words"), "{row:?}");
            assert!(
                row.row.get("conversation_id").is_none_or(Value::is_null),
                "{row:?}"
            );
        }
    }
}
