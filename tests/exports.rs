//! Tenant export and import: an organization's every row leaves as NDJSON with a manifest
//! (owners only), and `bulkhead import` loads it into another database with its ids, where its
//! API key, its audit chain and its data work as before; or into the same database under a new
//! id. Another organization's rows never travel with it.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use bulkhead_domain::OrganizationId;
use bulkhead_domain::exports::{Decoded, decode};
use bulkhead_infra::exports::EXPORTED_TABLES;
use bulkhead_tests::{Store, Tenant, TestApp, TestDatabase, spawn_app, spawn_app_at};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use serde_json::{Value, json};

/// An organization with a bit of everything, and its API key's secret.
async fn populated(app: &TestApp) -> (Tenant, String) {
    let a = app.register("ada@example.com").await;
    app.member_token(&a, "mia@example.com", "member").await;
    app.invite(&a, "pending@example.com", "viewer").await;
    let role = app
        .post(
            "/api/v1/roles",
            Some(&a.token),
            json!({ "name": "Reader", "permissions": ["projects:read"] }),
        )
        .await;
    assert_eq!(role.status, StatusCode::CREATED, "{}", role.body);
    let settings = app
        .patch(
            "/api/v1/organizations/current",
            &a.token,
            json!({ "settings": { "theme": "dark" } }),
        )
        .await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.body);
    let project = app.create_project(&a, "Apollo").await;
    let gone = app.create_project(&a, "Gemini").await;
    app.delete(
        &format!("/api/v1/projects/{}", gone["id"].as_str().unwrap()),
        &a.token,
    )
    .await;
    let (_, agent) = app.echo_agent(&a, "helper").await;
    let run = app
        .post(
            &format!("/api/v1/agents/{}/runs", agent["id"].as_str().unwrap()),
            Some(&a.token),
            json!({ "input": { "text": "hello" } }),
        )
        .await;
    assert_eq!(run.status, StatusCode::ACCEPTED, "{}", run.body);
    app.settled(
        &format!("/api/v1/runs/{}", run.body["id"].as_str().unwrap()),
        &a.token,
        "succeeded",
    )
    .await;
    let session = app
        .post(
            &format!(
                "/api/v1/projects/{}/work-sessions",
                project["id"].as_str().unwrap()
            ),
            Some(&a.token),
            json!({
                "task_type": "research",
                "task_intent": "Compare vendors",
                "task_parameters": { "scope": "quick" },
            }),
        )
        .await;
    assert_eq!(session.status, StatusCode::CREATED, "{}", session.body);
    let key = app
        .api_key_secret(&a, &["projects:read", "audit:read"])
        .await;
    (a, key)
}

async fn exported(app: &TestApp, token: &str) -> (Vec<u8>, Decoded) {
    let reply = app
        .client
        .get(app.url("/api/v1/organizations/current/export"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    assert_eq!(reply.headers()["content-type"], "application/x-ndjson");
    let bytes = reply.bytes().await.unwrap().to_vec();
    let decoded = decode(bytes.as_slice()).unwrap();
    (bytes, decoded)
}

/// Every row of `table` that belongs to `org`, as JSON, sorted; user records without their
/// credentials.
async fn rows_of(conn: &DatabaseConnection, table: &str, org: &str) -> Vec<Value> {
    let sql = match table {
        "users" => format!(
            "SELECT to_jsonb(u) - 'password_hash' - 'is_superuser' FROM users u WHERE u.id IN \
             (SELECT user_id FROM memberships WHERE organization_id = '{org}')"
        ),
        "organizations" => format!("SELECT to_jsonb(t) FROM organizations t WHERE id = '{org}'"),
        _ => format!("SELECT to_jsonb(t) FROM \"{table}\" t WHERE organization_id = '{org}'"),
    };
    let mut rows: Vec<Value> = conn
        .query_all_raw(Statement::from_string(DatabaseBackend::Postgres, sql))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<Value>(0).unwrap())
        .collect();
    rows.sort_by_key(Value::to_string);
    rows
}

#[tokio::test]
async fn an_organization_moves_to_another_database_with_every_row() {
    let source = spawn_app(Store::Postgres).await;
    let (a, key) = populated(&source).await;
    let b = source.register("bob@example.com").await;
    source.create_project(&b, "Bob's").await;

    let (bytes, decoded) = exported(&source, &a.token).await;
    assert_eq!(
        decoded.header.organization_id.to_string(),
        a.organization_id
    );
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(
        !text.contains(&b.organization_id),
        "another tenant's rows left with it"
    );
    assert!(
        !text.contains("password_hash") && !text.contains("$2b$"),
        "credentials left"
    );
    for table in [
        "projects",
        "memberships",
        "roles",
        "api_keys",
        "invitations",
        "agents",
        "agent_runs",
        "run_events",
        "work_sessions",
        "audit_events",
    ] {
        assert!(
            decoded.manifest.counts.get(table).copied().unwrap_or(0) > 0,
            "no {table}"
        );
    }
    let actions = source.audit_actions(&a).await;
    assert!(
        actions.contains(&"organization.exported".to_owned()),
        "{actions:?}"
    );

    // Into a fresh database, through the application role as the server would connect.
    let target = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.ndjson");
    std::fs::write(&file, &bytes).unwrap();
    let imported = bulkhead_server::import_organization(&target.app_url, &file, None)
        .await
        .unwrap();
    assert_eq!(imported.organization_id.to_string(), a.organization_id);
    assert_eq!(imported.counts, decoded.manifest.counts);

    let (from, to) = (
        source.database.as_ref().unwrap().connect_as_owner().await,
        target.connect_as_owner().await,
    );
    let mut compared = 0;
    for table in EXPORTED_TABLES.iter().chain(["project_counts"].iter()) {
        let (before, mut after) = (
            rows_of(&from, table, &a.organization_id).await,
            rows_of(&to, table, &a.organization_id).await,
        );
        match *table {
            // The import is the one event the target has more: the last link.
            "audit_events" => {
                let last = after
                    .iter()
                    .position(|e| e["action"] == "organization.imported")
                    .expect("the import is audited");
                let event = after.remove(last);
                assert_eq!(event["actor_type"], "system");
                assert_eq!(event["actor_id"], "import");
                assert_eq!(event["seq"], json!(before.len() + 1));
            }
            "audit_heads" => {
                assert_eq!(
                    after[0]["last_seq"],
                    json!(before[0]["last_seq"].as_i64().unwrap() + 1)
                );
                continue;
            }
            _ => {}
        }
        assert_eq!(before, after, "{table} differs");
        compared += before.len();
    }
    assert!(compared > 30, "{compared} rows compared");

    // The moved organization works there: its API key reads its projects and its intact chain.
    let moved = spawn_app_at(target.app_url.clone(), Store::Postgres).await;
    let projects = moved.get("/api/v1/projects", &key).await;
    assert_eq!(projects.status, StatusCode::OK, "{}", projects.body);
    assert_eq!(projects.body["total"], 1, "{}", projects.body);
    let verified = moved.get("/api/v1/audit-events/verify", &key).await;
    assert_eq!(verified.body["intact"], true, "{}", verified.body);
    // People come without passwords: they set new ones by email.
    moved
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": "ada@example.com", "password": bulkhead_tests::PASSWORD }),
        )
        .await
        .assert_problem(401);

    // Once there, not twice.
    let again = bulkhead_server::import_organization(&target.app_url, &file, None).await;
    assert!(format!("{}", again.unwrap_err()).contains("already exists"));

    // A file cut short, or changed, is refused before anything is loaded.
    let cut = dir.path().join("cut.ndjson");
    std::fs::write(&cut, &bytes[..bytes.len() - 20]).unwrap();
    let changed = dir.path().join("changed.ndjson");
    std::fs::write(&changed, text.replace("Apollo", "Apollx")).unwrap();
    let fresh = TestDatabase::create().await;
    for bad in [&cut, &changed] {
        let refused = bulkhead_server::import_organization(&fresh.app_url, bad, None).await;
        assert!(refused.is_err(), "{}", bad.display());
    }
    let empty = fresh.connect_as_owner().await;
    assert!(
        rows_of(&empty, "projects", &a.organization_id)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn an_export_loads_beside_its_original_under_a_new_id() {
    let app = spawn_app(Store::Postgres).await;
    let (a, _) = populated(&app).await;
    let (bytes, decoded) = exported(&app, &a.token).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.ndjson");
    std::fs::write(&file, &bytes).unwrap();
    let copy = OrganizationId::new();
    let imported = bulkhead_server::import_organization(&app.owner_url(), &file, Some(copy))
        .await
        .unwrap();
    assert_eq!(imported.organization_id, copy);
    assert_eq!(imported.users_kept, decoded.manifest.counts["users"]);

    let conn = app.database.as_ref().unwrap().connect_as_owner().await;
    let rekeyed = |rows: Vec<Value>, key: &str| -> Vec<Value> {
        let mut rows: Vec<Value> = rows
            .into_iter()
            .map(|mut row| {
                row[key] = json!("ORG");
                for field in ["hash", "prev_hash", "last_hash"] {
                    if row.get(field).is_some() {
                        row[field] = json!("HASH");
                    }
                }
                row
            })
            .collect();
        rows.sort_by_key(Value::to_string);
        rows
    };
    let mut counts = BTreeMap::new();
    for table in [
        "projects",
        "memberships",
        "roles",
        "agents",
        "agent_runs",
        "run_events",
        "work_sessions",
        "organizations",
    ] {
        let key = if table == "organizations" {
            "id"
        } else {
            "organization_id"
        };
        let original = rekeyed(rows_of(&conn, table, &a.organization_id).await, key);
        let copied = rekeyed(rows_of(&conn, table, &copy.to_string()).await, key);
        assert_eq!(original, copied, "{table}");
        counts.insert(table, copied.len());
    }
    assert!(
        counts["projects"] == 2 && counts["run_events"] > 0,
        "{counts:?}"
    );
    // The copy's chain was sealed again under its id, and records where it came from.
    let events = rows_of(&conn, "audit_events", &copy.to_string()).await;
    let imported_event = events
        .iter()
        .find(|e| e["action"] == "organization.imported")
        .unwrap();
    let details: Value = serde_json::from_str(imported_event["changes"].as_str().unwrap()).unwrap();
    assert_eq!(details["from_organization_id"], a.organization_id.as_str());
}

#[tokio::test]
async fn only_owners_export_and_never_with_a_key() {
    let app = spawn_app(Store::Postgres).await;
    let a = app.register("ada@example.com").await;
    let admin = app.member_token(&a, "adam@example.com", "admin").await;
    let path = "/api/v1/organizations/current/export";
    app.get(path, &admin.token).await.assert_problem(403);
    let key = app
        .api_key_secret(&a, &["projects:read", "audit:read"])
        .await;
    app.get(path, &key).await.assert_problem(403);
    let refused = app
        .post(
            "/api/v1/api-keys",
            Some(&a.token),
            json!({ "name": "x", "scopes": ["organization:export"] }),
        )
        .await;
    refused.assert_problem(422);
    app.raw(app.client.get(app.url(path)))
        .await
        .assert_problem(401);
    let (_, decoded) = exported(&app, &a.token).await;
    assert_eq!(decoded.manifest.counts["organizations"], 1);

    // On SQLite there is no export: a clear 409, not a broken file.
    let sqlite = spawn_app(Store::Sqlite).await;
    let s = sqlite.register("sue@example.com").await;
    let reply = sqlite.get(path, &s.token).await;
    reply.assert_problem(409);
    assert!(
        reply.body["detail"]
            .as_str()
            .unwrap()
            .contains("PostgreSQL")
    );
}
