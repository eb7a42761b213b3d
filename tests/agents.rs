//! Agent configurations and agents over HTTP, on both stores: the resource contract for each,
//! and what is their own (versions, activation, the sealed credential, provider URL policy,
//! pausing, references between them and to projects).

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::pin::Pin;

use bulkhead_tests::contract::{Contract, no_fixtures};
use bulkhead_tests::{Store, Tenant, TestApp, both_stores, test_keyring};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use uuid::Uuid;

both_stores! {
    agent_configs_keep_the_resource_contract;
    agents_keep_the_resource_contract;
    behaviour_changes_make_numbered_versions;
    names_are_unique_and_references_must_be_live_and_local;
    activation_filters_and_the_tool_catalogue;
    credentials_are_sealed_write_only_and_never_audited;
    rotating_the_secrets_key_seals_everything_again;
    provider_urls_follow_the_operator_policy;
    agents_follow_their_configuration;
    pausing_and_server_owned_status;
    every_extra_route_hides_other_tenants;
}

fn new_config(n: usize, _: &Value) -> Value {
    json!({
        "name": format!("Config {n}"),
        "agent_type": "custom",
        "provider": "echo",
        "model": format!("echo-{n}"),
        "temperature": 0.5,
        "max_tokens": 256,
        "system_prompt": "Answer briefly.\nCite sources.",
        "tools": ["calculator"],
    })
}

fn rename_config(n: usize) -> (Value, &'static str) {
    (json!({ "name": format!("Renamed {n}") }), "name")
}

async fn create_config(app: &TestApp, tenant: &Tenant, name: &str) -> Value {
    let reply = app
        .post(
            "/api/v1/agent-configs",
            Some(&tenant.token),
            json!({ "name": name, "agent_type": "rfp", "model": "echo-1" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

fn config_of_tenant<'a>(
    app: &'a TestApp,
    tenant: &'a Tenant,
) -> Pin<Box<dyn Future<Output = Value> + 'a>> {
    Box::pin(async move { create_config(app, tenant, "Contract config").await })
}

fn new_agent(n: usize, config: &Value) -> Value {
    json!({
        "agent_key": format!("agent-{n}"),
        "name": format!("Agent {n}"),
        "config_id": config["id"],
        "configuration": { "greeting": format!("hello {n}") },
    })
}

fn rename_agent(n: usize) -> (Value, &'static str) {
    (json!({ "name": format!("Renamed {n}") }), "name")
}

async fn create_agent(app: &TestApp, tenant: &Tenant, key: &str, config: &Value) -> Value {
    let reply = app
        .post(
            "/api/v1/agents",
            Some(&tenant.token),
            json!({ "agent_key": key, "config_id": config["id"] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

fn path(collection: &str, row: &Value) -> String {
    format!("{collection}/{}", row["id"].as_str().unwrap())
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> bulkhead_tests::Reply {
    app.raw(app.client.put(app.url(path)).bearer_auth(token).json(&body))
        .await
}

/// The one stored credential, as sealed text, read behind the server's back.
async fn stored_credential(app: &TestApp) -> String {
    let conn = Database::connect(&app.owner_url()).await.unwrap();
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT credential FROM agent_configs WHERE credential IS NOT NULL",
        ))
        .await
        .unwrap()
        .unwrap();
    conn.close().await.unwrap();
    row.try_get_by_index::<String>(0).unwrap()
}

async fn agent_configs_keep_the_resource_contract(app: TestApp) {
    Contract {
        collection: "/api/v1/agent-configs",
        item: "/api/v1/agent-configs/{config_id}",
        table: "agent_configs",
        name: "agent_config",
        create: new_config,
        patch: rename_config,
        detail: &[],
        private: false,
        setup: no_fixtures,
    }
    .check(&app)
    .await;
}

async fn agents_keep_the_resource_contract(app: TestApp) {
    Contract {
        collection: "/api/v1/agents",
        item: "/api/v1/agents/{agent_id}",
        table: "agents",
        name: "agent",
        create: new_agent,
        patch: rename_agent,
        detail: &[],
        private: false,
        setup: config_of_tenant,
    }
    .check(&app)
    .await;
}

async fn behaviour_changes_make_numbered_versions(app: TestApp) {
    let a = app.register("versions@example.com").await;
    let config = create_config(&app, &a, "Versioned").await;
    let item = path("/api/v1/agent-configs", &config);
    assert_eq!(config["behaviour_version"], 1);

    // A rename is no change of behaviour; a prompt and a tool are.
    let renamed = app
        .patch(&item, &a.token, json!({ "name": "Versioned 2" }))
        .await;
    assert_eq!(renamed.body["behaviour_version"], 1);
    let changed = app
        .patch(
            &item,
            &a.token,
            json!({ "system_prompt": "Be brief.", "tools": ["notes", "calculator"] }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.body["behaviour_version"], 2);
    assert_eq!(changed.body["tools"], json!(["notes", "calculator"]));
    let same = app
        .patch(&item, &a.token, json!({ "model": "echo-1" }))
        .await;
    assert_eq!(
        same.body["behaviour_version"], 2,
        "the same model is no new version"
    );
    app.patch(&item, &a.token, json!({ "temperature": 1.5 }))
        .await;

    let versions = app.get(&format!("{item}/versions"), &a.token).await;
    assert_eq!(versions.status, StatusCode::OK, "{}", versions.body);
    let data = versions.body["data"].as_array().unwrap();
    let numbers: Vec<i64> = data.iter().map(|v| v["number"].as_i64().unwrap()).collect();
    assert_eq!(
        numbers,
        [3, 2, 1],
        "newest first, one per change of behaviour"
    );
    assert_eq!(data[2]["settings"]["system_prompt"], "");
    assert_eq!(data[1]["settings"]["system_prompt"], "Be brief.");
    assert_eq!(data[0]["settings"]["temperature"], 1.5);
    assert_eq!(data[0]["created_by"], json!(a.user_id));

    // Versions are immutable, even to the application's own database role.
    if app.store == Store::Postgres {
        let conn = Database::connect(&app.database_url).await.unwrap();
        let refused = conn
            .execute_unprepared("UPDATE agent_config_versions SET settings = '{}'")
            .await;
        assert!(refused.is_err(), "the app role may not rewrite versions");
        conn.close().await.unwrap();
    }

    // A deleted configuration's versions are gone from view with it.
    app.delete(&item, &a.token).await;
    app.get(&format!("{item}/versions"), &a.token)
        .await
        .assert_problem(404);
}

async fn names_are_unique_and_references_must_be_live_and_local(app: TestApp) {
    let a = app.register("names@example.com").await;
    let b = app.register("names-b@example.com").await;
    create_config(&app, &a, "Writer").await;
    let clash = app
        .post(
            "/api/v1/agent-configs",
            Some(&a.token),
            json!({ "name": "WRITER", "agent_type": "hr", "model": "m" }),
        )
        .await;
    clash.assert_problem(409);
    // Another organization may use the name.
    create_config(&app, &b, "Writer").await;

    let theirs = app.create_project(&b, "Theirs").await;
    let mine = app.create_project(&a, "Mine").await;
    let gone = app.create_project(&a, "Gone").await;
    app.delete(&path("/api/v1/projects", &gone), &a.token).await;
    for (project, expected) in [
        (&theirs["id"], StatusCode::UNPROCESSABLE_ENTITY),
        (&gone["id"], StatusCode::UNPROCESSABLE_ENTITY),
        (&json!(Uuid::now_v7()), StatusCode::UNPROCESSABLE_ENTITY),
        (&mine["id"], StatusCode::CREATED),
    ] {
        let reply = app
            .post(
                "/api/v1/agent-configs",
                Some(&a.token),
                json!({
                    "name": format!("For {project}"),
                    "agent_type": "jira",
                    "model": "m",
                    "project_id": project,
                }),
            )
            .await;
        assert_eq!(reply.status, expected, "{project}: {}", reply.body);
        if expected == StatusCode::UNPROCESSABLE_ENTITY {
            assert_eq!(reply.error_fields(), ["project_id"]);
        }
    }
    let listed = app
        .get(
            &format!(
                "/api/v1/agent-configs?project_id={}",
                mine["id"].as_str().unwrap()
            ),
            &a.token,
        )
        .await;
    assert_eq!(listed.body["total"], 1, "{}", listed.body);

    // Bad input is reported together, and nothing is stored.
    let before = app.get("/api/v1/agent-configs", &a.token).await.body["total"].clone();
    let bad = app
        .post(
            "/api/v1/agent-configs",
            Some(&a.token),
            json!({
                "name": " ",
                "agent_type": "custom",
                "model": "m",
                "temperature": 3,
                "max_tokens": 0,
                "provider": "openai_compatible",
            }),
        )
        .await;
    bad.assert_problem(422);
    assert_eq!(
        bad.error_fields(),
        ["name", "temperature", "max_tokens"],
        "{}",
        bad.body
    );
    let unknown_tool = app
        .post(
            "/api/v1/agent-configs",
            Some(&a.token),
            json!({ "name": "T", "agent_type": "custom", "model": "m", "tools": ["shell"] }),
        )
        .await;
    unknown_tool.assert_problem(422);
    assert_eq!(
        app.get("/api/v1/agent-configs", &a.token).await.body["total"],
        before
    );
}

async fn activation_filters_and_the_tool_catalogue(app: TestApp) {
    let a = app.register("activation@example.com").await;
    let config = create_config(&app, &a, "Switchable").await;
    let other = app
        .post(
            "/api/v1/agent-configs",
            Some(&a.token),
            json!({ "name": "Finance", "agent_type": "finance", "model": "m" }),
        )
        .await
        .body;
    let item = path("/api/v1/agent-configs", &config);
    let off = app
        .post(&format!("{item}/deactivate"), Some(&a.token), json!({}))
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    assert_eq!(off.body["active"], false);
    assert_eq!(off.headers["etag"], "\"2\"");
    // Deactivating again writes nothing.
    let again = app
        .post(&format!("{item}/deactivate"), Some(&a.token), json!({}))
        .await;
    assert_eq!(again.body["version"], 2);

    let ids = |reply: &bulkhead_tests::Reply| -> Vec<Value> {
        reply.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect()
    };
    let active = app.get("/api/v1/agent-configs", &a.token).await;
    assert_eq!(ids(&active), [other["id"].clone()]);
    let all = app
        .get(
            "/api/v1/agent-configs?include_inactive=true&sort=name",
            &a.token,
        )
        .await;
    assert_eq!(ids(&all), [other["id"].clone(), config["id"].clone()]);
    let finance = app
        .get("/api/v1/agent-configs?agent_type=finance", &a.token)
        .await;
    assert_eq!(ids(&finance), [other["id"].clone()]);
    app.get("/api/v1/agent-configs?agent_type=robot", &a.token)
        .await
        .assert_problem(422);

    let on = app
        .post(&format!("{item}/activate"), Some(&a.token), json!({}))
        .await;
    assert_eq!(on.body["active"], true);
    let stale = app
        .raw(
            app.client
                .post(app.url(&format!("{item}/deactivate")))
                .bearer_auth(&a.token)
                .header("if-match", "\"1\""),
        )
        .await;
    stale.assert_problem(412);
    let actions = app.audit_actions(&a).await;
    assert!(actions.contains(&"agent_config.deactivated".to_owned()));
    assert!(actions.contains(&"agent_config.activated".to_owned()));

    let viewer = app
        .member_token(&a, "activation-viewer@example.com", "viewer")
        .await;
    let tools = app.get("/api/v1/agent-tools", &viewer.token).await;
    assert_eq!(tools.status, StatusCode::OK, "{}", tools.body);
    let names: Vec<&str> = tools.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"calculator") && names.contains(&"document_search"));
    app.post(
        &format!("{item}/deactivate"),
        Some(&viewer.token),
        json!({}),
    )
    .await
    .assert_problem(403);
    let member = app
        .member_token(&a, "activation-member@example.com", "member")
        .await;
    app.post(
        "/api/v1/agent-configs",
        Some(&member.token),
        json!({ "name": "Nope", "agent_type": "hr", "model": "m" }),
    )
    .await
    .assert_problem(403);
}

async fn credentials_are_sealed_write_only_and_never_audited(app: TestApp) {
    let a = app.register("credential@example.com").await;
    let config = create_config(&app, &a, "Keyed").await;
    let item = path("/api/v1/agent-configs", &config);
    let key = "sk-live-0123456789abcdefSECRET";
    let stored = put(
        &app,
        &format!("{item}/credential"),
        &a.token,
        json!({ "api_key": key }),
    )
    .await;
    assert_eq!(stored.status, StatusCode::NO_CONTENT, "{}", stored.body);
    let read = app.get(&item, &a.token).await;
    assert_eq!(read.body["has_credential"], true);
    assert!(read.body["credential_changed_at"].is_string());
    assert!(!read.body.to_string().contains(key));
    for listing in [
        "/api/v1/agent-configs".to_owned(),
        format!("{item}/versions"),
        "/api/v1/audit-events?limit=100".to_owned(),
    ] {
        let reply = app.get(&listing, &a.token).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(
            !reply.body.to_string().contains(key),
            "{listing} shows the key"
        );
    }
    assert!(
        app.audit_actions(&a)
            .await
            .contains(&"agent_config.credential_set".to_owned())
    );
    let everything = app
        .stored_text(&["agent_configs", "agent_config_versions", "audit_events"])
        .await;
    assert!(!everything.contains(key), "the key is stored in clear");

    // Sealed under the configured key, for this configuration only.
    let sealed = stored_credential(&app).await;
    assert!(sealed.starts_with("bhs1:test-key:"), "{sealed}");
    let place = format!(
        "agent_configs.credential:{}",
        config["id"].as_str().unwrap()
    );
    assert_eq!(test_keyring().open(&place, &sealed).unwrap(), key);
    assert!(
        test_keyring()
            .open("agent_configs.credential:other", &sealed)
            .is_err()
    );

    // Bad keys and other callers change nothing.
    put(
        &app,
        &format!("{item}/credential"),
        &a.token,
        json!({ "api_key": "has space" }),
    )
    .await
    .assert_problem(422);
    put(
        &app,
        &format!("{item}/credential"),
        &a.token,
        json!({ "api_key": key, "x": 1 }),
    )
    .await
    .assert_problem(422);
    let member = app
        .member_token(&a, "credential-member@example.com", "member")
        .await;
    put(
        &app,
        &format!("{item}/credential"),
        &member.token,
        json!({ "api_key": "sk-2" }),
    )
    .await
    .assert_problem(403);

    let removed = app.delete(&format!("{item}/credential"), &a.token).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&item, &a.token).await.body["has_credential"], false);
    let version = app.get(&item, &a.token).await.body["version"].clone();
    // Removing none writes nothing.
    app.delete(&format!("{item}/credential"), &a.token).await;
    assert_eq!(app.get(&item, &a.token).await.body["version"], version);

    // A server without a secrets key of its own stores no credential at all.
    let keyless = app
        .another_instance(|config| config.secrets_key = None)
        .await;
    let refused = put(
        &keyless,
        &format!("{item}/credential"),
        &a.token,
        json!({ "api_key": key }),
    )
    .await;
    refused.assert_problem(409);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("BULKHEAD_SECRETS_KEY"),
        "{}",
        refused.body
    );
    assert_eq!(app.get(&item, &a.token).await.body["has_credential"], false);
}

async fn provider_urls_follow_the_operator_policy(app: TestApp) {
    let strict = app
        .another_instance(|config| {
            config.provider_base_urls = vec!["http://127.0.0.1:9/v1".parse().unwrap()];
        })
        .await;
    let a = strict.register("urls@example.com").await;
    let create = |url: &str| {
        json!({
            "name": format!("Provider {url}"),
            "agent_type": "custom",
            "provider": "openai_compatible",
            "model": "m",
            "base_url": url,
        })
    };
    for (url, code) in [
        ("http://127.0.0.1:9/v1", "internal_address"),
        ("http://127.0.0.1:9/v2", "not_allowed"),
        ("http://169.254.169.254/latest", "not_allowed"),
        ("http://user:pw@127.0.0.1:9/v1", "format"),
    ] {
        let reply = strict
            .post("/api/v1/agent-configs", Some(&a.token), create(url))
            .await;
        reply.assert_problem(422);
        assert_eq!(
            reply.body["errors"][0]["code"], code,
            "{url}: {}",
            reply.body
        );
    }
    let echo_with_url = strict
        .post(
            "/api/v1/agent-configs",
            Some(&a.token),
            json!({ "name": "E", "agent_type": "hr", "model": "m", "base_url": "http://127.0.0.1:9/v1" }),
        )
        .await;
    echo_with_url.assert_problem(422);
    assert_eq!(
        strict.get("/api/v1/agent-configs", &a.token).await.body["total"],
        0
    );

    let lenient = strict
        .another_instance(|config| {
            config.provider_base_urls = vec!["http://127.0.0.1:9/v1".parse().unwrap()];
            config.provider_allow_internal = true;
        })
        .await;
    let allowed = lenient
        .post(
            "/api/v1/agent-configs",
            Some(&a.token),
            create("http://127.0.0.1:9/v1/"),
        )
        .await;
    assert_eq!(allowed.status, StatusCode::CREATED, "{}", allowed.body);
    assert_eq!(allowed.body["base_url"], "http://127.0.0.1:9/v1");
    // Switching back to echo needs the URL cleared; the strict server refuses the URL again.
    let item = path("/api/v1/agent-configs", &allowed.body);
    lenient
        .patch(&item, &a.token, json!({ "provider": "echo" }))
        .await
        .assert_problem(422);
    let echo = lenient
        .patch(
            &item,
            &a.token,
            json!({ "provider": "echo", "base_url": null }),
        )
        .await;
    assert_eq!(echo.status, StatusCode::OK, "{}", echo.body);
    strict
        .patch(
            &item,
            &a.token,
            json!({ "provider": "openai_compatible", "base_url": "http://127.0.0.1:9/v1" }),
        )
        .await
        .assert_problem(422);
}

async fn agents_follow_their_configuration(app: TestApp) {
    let a = app.register("follow@example.com").await;
    let b = app.register("follow-b@example.com").await;
    let config = create_config(&app, &a, "Base").await;
    let spare = create_config(&app, &a, "Spare").await;
    let theirs = create_config(&app, &b, "Theirs").await;
    let agent = create_agent(&app, &a, "Writer", &config).await;
    assert_eq!(agent["status"], "idle");
    assert_eq!(agent["configuration"], json!({}));

    // Keys are unique among live agents regardless of case, per organization.
    app.post(
        "/api/v1/agents",
        Some(&a.token),
        json!({ "agent_key": "WRITER", "config_id": config["id"] }),
    )
    .await
    .assert_problem(409);
    create_agent(&app, &b, "writer", &theirs).await;

    // Another organization's configuration, or a missing one, is no configuration.
    for config_id in [theirs["id"].clone(), json!(Uuid::now_v7())] {
        let reply = app
            .post(
                "/api/v1/agents",
                Some(&a.token),
                json!({ "agent_key": "other", "config_id": config_id }),
            )
            .await;
        reply.assert_problem(422);
        assert_eq!(reply.error_fields(), ["config_id"]);
        let moved = app
            .patch(
                &path("/api/v1/agents", &agent),
                &a.token,
                json!({ "config_id": config_id }),
            )
            .await;
        moved.assert_problem(422);
    }
    let big = app
        .post(
            "/api/v1/agents",
            Some(&a.token),
            json!({ "agent_key": "big", "config_id": config["id"], "configuration": { "x": "y".repeat(17_000) } }),
        )
        .await;
    big.assert_problem(422);
    assert_eq!(big.error_fields(), ["configuration"]);

    // A configuration in use cannot be deleted; once its agents move, it can, and then no
    // agent may use it or come back to it.
    let config_item = path("/api/v1/agent-configs", &config);
    app.delete(&config_item, &a.token).await.assert_problem(409);
    let spare_agent = create_agent(&app, &a, "spare-agent", &spare).await;
    let moved = app
        .patch(
            &path("/api/v1/agents", &agent),
            &a.token,
            json!({ "config_id": spare["id"] }),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let filtered = app
        .get(
            &format!("/api/v1/agents?config_id={}", spare["id"].as_str().unwrap()),
            &a.token,
        )
        .await;
    assert_eq!(filtered.body["total"], 2);
    let by_type = app.get("/api/v1/agents?agent_type=rfp", &a.token).await;
    assert_eq!(by_type.body["total"], 2, "{}", by_type.body);
    let none_of_type = app.get("/api/v1/agents?agent_type=hr", &a.token).await;
    assert_eq!(none_of_type.body["total"], 0);

    let parked = create_agent(&app, &a, "parked", &config).await;
    app.delete(&path("/api/v1/agents", &parked), &a.token).await;
    assert_eq!(
        app.delete(&config_item, &a.token).await.status,
        StatusCode::NO_CONTENT
    );
    app.post(
        "/api/v1/agents",
        Some(&a.token),
        json!({ "agent_key": "late", "config_id": config["id"] }),
    )
    .await
    .assert_problem(422);
    let back = app
        .post(
            &format!("{}/restore", path("/api/v1/agents", &parked)),
            Some(&a.token),
            json!({}),
        )
        .await;
    back.assert_problem(422);
    assert_eq!(back.error_fields(), ["config_id"]);
    let _ = spare_agent;
}

async fn pausing_and_server_owned_status(app: TestApp) {
    let a = app.register("pause@example.com").await;
    let config = create_config(&app, &a, "Pausable").await;
    let sent_status = app
        .post(
            "/api/v1/agents",
            Some(&a.token),
            json!({ "agent_key": "k", "config_id": config["id"], "status": "busy" }),
        )
        .await;
    sent_status.assert_problem(422);
    assert_eq!(sent_status.error_fields(), ["status"]);
    let agent = create_agent(&app, &a, "k", &config).await;
    let item = path("/api/v1/agents", &agent);
    app.patch(&item, &a.token, json!({ "status": "paused" }))
        .await
        .assert_problem(422);

    app.post(&format!("{item}/resume"), Some(&a.token), json!({}))
        .await
        .assert_problem(409);
    let paused = app
        .post(&format!("{item}/pause"), Some(&a.token), json!({}))
        .await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);
    assert_eq!(paused.body["status"], "paused");
    app.post(&format!("{item}/pause"), Some(&a.token), json!({}))
        .await
        .assert_problem(409);
    let listed = app.get("/api/v1/agents?status=paused", &a.token).await;
    assert_eq!(listed.body["total"], 1);
    app.get("/api/v1/agents?status=sleeping", &a.token)
        .await
        .assert_problem(422);
    let viewer = app
        .member_token(&a, "pause-viewer@example.com", "viewer")
        .await;
    app.post(&format!("{item}/resume"), Some(&viewer.token), json!({}))
        .await
        .assert_problem(403);
    let resumed = app
        .post(&format!("{item}/resume"), Some(&a.token), json!({}))
        .await;
    assert_eq!(resumed.body["status"], "idle");
    let events = app.audit_events(&a).await;
    let paused_event = events
        .iter()
        .find(|e| e["action"] == "agent.paused")
        .expect("a pause record");
    assert_eq!(paused_event["changes"]["before"]["status"], "idle");
    assert_eq!(paused_event["changes"]["after"]["status"], "paused");
    assert!(events.iter().any(|e| e["action"] == "agent.resumed"));
}

async fn every_extra_route_hides_other_tenants(app: TestApp) {
    let a = app.register("extra-a@example.com").await;
    let b = app.register("extra-b@example.com").await;
    let config = create_config(&app, &a, "Hidden").await;
    let agent = create_agent(&app, &a, "hidden", &config).await;
    let config_item = path("/api/v1/agent-configs", &config);
    let agent_item = path("/api/v1/agents", &agent);
    let missing_config = format!("/api/v1/agent-configs/{}", Uuid::now_v7());
    let missing_agent = format!("/api/v1/agents/{}", Uuid::now_v7());
    let cases = [
        (
            Method::POST,
            &config_item,
            &missing_config,
            "/activate",
            None,
        ),
        (
            Method::POST,
            &config_item,
            &missing_config,
            "/deactivate",
            None,
        ),
        (
            Method::PUT,
            &config_item,
            &missing_config,
            "/credential",
            Some(json!({ "api_key": "sk-b" })),
        ),
        (
            Method::DELETE,
            &config_item,
            &missing_config,
            "/credential",
            None,
        ),
        (
            Method::GET,
            &config_item,
            &missing_config,
            "/versions",
            None,
        ),
        (Method::POST, &agent_item, &missing_agent, "/pause", None),
        (Method::POST, &agent_item, &missing_agent, "/resume", None),
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
    assert_eq!(app.get(&config_item, &a.token).await.body, {
        let mut unchanged = config.clone();
        unchanged["version"] = json!(1);
        unchanged
    });
    assert_eq!(app.get(&agent_item, &a.token).await.body, agent);
}

async fn rotating_the_secrets_key_seals_everything_again(app: TestApp) {
    let a = app.register("rotation@example.com").await;
    let config = create_config(&app, &a, "Rotated").await;
    let item = path("/api/v1/agent-configs", &config);
    let stored = put(
        &app,
        &format!("{item}/credential"),
        &a.token,
        json!({ "api_key": "sk-rotate-me" }),
    )
    .await;
    assert_eq!(stored.status, StatusCode::NO_CONTENT);
    assert!(stored_credential(&app).await.starts_with("bhs1:test-key:"));

    let next = bulkhead_infra::sealing::SecretKey::parse(&format!("next-key:{}", "22".repeat(32)))
        .unwrap();
    let old = bulkhead_infra::sealing::SecretKey::parse(bulkhead_tests::SECRETS_KEY).unwrap();
    let rotation = bulkhead_server::rotate_secrets(
        &app.owner_url(),
        next.clone(),
        vec![old.clone()],
        Some(bulkhead_tests::JWT_SECRET),
    )
    .await
    .unwrap();
    assert_eq!(rotation.credentials, 1);
    assert!(
        rotation.emails >= 1,
        "the sign-up's verification email: {rotation:?}"
    );
    let resealed = stored_credential(&app).await;
    assert!(resealed.starts_with("bhs1:next-key:"), "{resealed}");
    let place = format!(
        "agent_configs.credential:{}",
        config["id"].as_str().unwrap()
    );
    let new_ring = bulkhead_infra::sealing::Keyring::new(next.clone(), Vec::new());
    assert_eq!(new_ring.open(&place, &resealed).unwrap(), "sk-rotate-me");
    let old_ring = bulkhead_infra::sealing::Keyring::new(old.clone(), Vec::new());
    assert!(
        old_ring.open(&place, &resealed).is_err(),
        "the old key is no longer needed"
    );

    let events = app.audit_events(&a).await;
    let record = events
        .iter()
        .find(|e| e["action"] == "agent_config.credentials_resealed")
        .expect("a record of the rotation");
    assert_eq!(record["actor_id"], "rotate-secrets");
    assert_eq!(record["changes"]["count"], 1);
    assert!(!record.to_string().contains("sk-rotate-me"));
    // Nothing is left under an earlier key, so a second rotation has nothing to do.
    let again = bulkhead_server::rotate_secrets(&app.owner_url(), next, vec![old], None)
        .await
        .unwrap();
    assert_eq!((again.credentials, again.emails), (0, 0));
    assert_eq!(app.get(&item, &a.token).await.body["has_credential"], true);
}
