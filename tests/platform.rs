//! Platform administration over HTTP, on SQLite and PostgreSQL: superusers made by
//! `create-superuser`, the organizations' records, suspension, and audited read-only
//! impersonation, which is a superuser's only way to a tenant's data.

#![allow(clippy::unwrap_used)]

use bulkhead_tests::{PASSWORD, Store, Tenant, TestApp, both_stores, spawn_app};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait};
use serde_json::{Value, json};

both_stores! {
    superusers_sign_in_and_administer_organizations;
    suspension_stops_every_token_key_and_login_until_reactivation;
    impersonation_reads_only_and_every_request_is_recorded_with_the_impersonator;
}

const ROOT: &str = "root@example.com";

/// Makes the superuser as the command does, and signs in: the platform token.
async fn superuser(app: &TestApp) -> (String, String) {
    let (id, created) =
        bulkhead_server::create_superuser(&app.owner_url(), ROOT, "Root", PASSWORD, 4)
            .await
            .unwrap();
    assert!(created);
    let reply = app
        .post(
            "/api/v1/admin/auth/login",
            None,
            json!({ "email": ROOT, "password": PASSWORD }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(reply.body["expires_in"].as_u64().unwrap() <= 900);
    (
        reply.body["access_token"].as_str().unwrap().to_owned(),
        id.to_string(),
    )
}

async fn events(app: &TestApp, owner: &Tenant, action: &str) -> Vec<Value> {
    app.audit_events(owner)
        .await
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

async fn superusers_sign_in_and_administer_organizations(app: TestApp) {
    let a = app.register("ada@example.com").await;
    // An ordinary account is no superuser, whatever its password.
    app.post(
        "/api/v1/admin/auth/login",
        None,
        json!({ "email": a.email, "password": PASSWORD }),
    )
    .await
    .assert_problem(401);
    let (root, _) = superuser(&app).await;
    // Platform tokens and access tokens never pass for each other.
    app.get("/api/v1/projects", &root).await.assert_problem(401);
    app.get("/api/v1/admin/organizations", &a.token)
        .await
        .assert_problem(401);

    let listed = app.get("/api/v1/admin/organizations", &root).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["total"], 1);
    assert_eq!(listed.body["data"][0]["status"], "active");

    let created = app
        .post(
            "/api/v1/admin/organizations",
            Some(&root),
            json!({ "name": "Beta Works", "owner_email": "bea@example.com" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let beta = created.body["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(created.body["owner_invitation"]["role"], "owner");
    let searched = app
        .get("/api/v1/admin/organizations?q=beta&status=active", &root)
        .await;
    assert_eq!(searched.body["total"], 1, "{}", searched.body);
    assert_eq!(searched.body["data"][0]["id"], beta.as_str());
    app.get("/api/v1/admin/organizations?status=gone", &root)
        .await
        .assert_problem(422);
    app.post(
        "/api/v1/admin/organizations",
        Some(&root),
        json!({ "name": " ", "owner_email": "nope" }),
    )
    .await
    .assert_problem(422);
    app.get(
        "/api/v1/admin/organizations/01234567-89ab-7def-8123-456789abcdef",
        &root,
    )
    .await
    .assert_problem(404);
    assert_eq!(
        app.get("/api/v1/admin/organizations", &root).await.body["total"],
        2
    );

    // The invited owner joins with the emailed token and owns the organization.
    let token = app
        .token_from_email("bea@example.com", "invited", "bhi_")
        .await;
    let accepted = app
        .post(
            "/api/v1/invitations/accept",
            None,
            json!({ "token": token, "name": "Bea", "password": PASSWORD }),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["organization_id"], beta.as_str());
    let bea = app.login("bea@example.com").await;
    let me = app.get("/api/v1/auth/me", &bea).await;
    assert_eq!(me.body["role"], "owner", "{}", me.body);
    let trail = app.get("/api/v1/audit-events", &bea).await;
    let first = trail.body["data"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(first["action"], "organization.created");
    assert_eq!(first["actor_type"], "superuser");

    // Once no longer a superuser, the platform token stops at the next request.
    app.as_owner("UPDATE users SET is_superuser = false").await;
    app.get("/api/v1/admin/organizations", &root)
        .await
        .assert_problem(401);
}

async fn suspension_stops_every_token_key_and_login_until_reactivation(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let b = app.register("bob@example.com").await;
    let key = app.api_key_secret(&a, &["projects:read"]).await;
    // b also belongs to a's organization, and is signed in to their own.
    app.add_member(&a, &b, "viewer").await;
    let (root, root_id) = superuser(&app).await;
    let path = format!("/api/v1/admin/organizations/{}", a.organization_id);
    app.post(
        &format!("{path}/suspend"),
        Some(&root),
        json!({ "reason": "" }),
    )
    .await
    .assert_problem(422);
    let suspended = app
        .post(
            &format!("{path}/suspend"),
            Some(&root),
            json!({ "reason": "unpaid invoices" }),
        )
        .await;
    assert_eq!(suspended.status, StatusCode::OK, "{}", suspended.body);
    assert_eq!(suspended.body["status"], "suspended");
    for token in [&a.token, &key] {
        app.get("/api/v1/projects", token).await.assert_problem(401);
    }
    app.post(
        "/api/v1/auth/login",
        None,
        json!({ "email": a.email, "password": PASSWORD }),
    )
    .await
    .assert_problem(401);
    // Nor does a session move into it (it would carry tokens that work nowhere).
    app.post(
        "/api/v1/auth/switch-organization",
        Some(&b.token),
        json!({ "organization_id": a.organization_id }),
    )
    .await
    .assert_problem(404);
    // Refreshing is refused as logging in is (issue F4), and keeps nothing alive: the token
    // is neither spent nor renewed, so it works again once the organization is reactivated.
    let refresh = json!({ "refresh_token": a.refresh_token });
    for _ in 0..2 {
        app.post("/api/v1/auth/refresh", None, refresh.clone())
            .await
            .assert_problem(401);
    }
    assert_eq!(
        app.get("/api/v1/projects", &b.token).await.status,
        StatusCode::OK
    );
    app.post(
        &format!("{path}/suspend"),
        Some(&root),
        json!({ "reason": "again" }),
    )
    .await
    .assert_problem(409);
    let listed = app
        .get("/api/v1/admin/organizations?status=suspended", &root)
        .await;
    assert_eq!(listed.body["total"], 1);

    let reactivated = app
        .post(&format!("{path}/reactivate"), Some(&root), json!({}))
        .await;
    assert_eq!(reactivated.status, StatusCode::OK, "{}", reactivated.body);
    assert_eq!(reactivated.body["status"], "active");
    for token in [&a.token, &key] {
        assert_eq!(
            app.get("/api/v1/projects", token).await.status,
            StatusCode::OK
        );
    }
    let refreshed = app.post("/api/v1/auth/refresh", None, refresh).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    app.post(&format!("{path}/reactivate"), Some(&root), json!({}))
        .await
        .assert_problem(409);
    let suspension = events(&app, &a, "organization.suspended").await;
    assert_eq!(suspension.len(), 1);
    assert_eq!(suspension[0]["actor_type"], "superuser");
    assert_eq!(suspension[0]["actor_id"], root_id.as_str());
    assert_eq!(suspension[0]["changes"]["reason"], "unpaid invoices");
    assert_eq!(events(&app, &a, "organization.reactivated").await.len(), 1);
    let verified = app.get("/api/v1/audit-events/verify", &a.token).await;
    assert_eq!(verified.body["intact"], true, "{}", verified.body);
}

async fn impersonation_reads_only_and_every_request_is_recorded_with_the_impersonator(
    app: TestApp,
) {
    let a = app.register("ada@example.com").await;
    let b = app.register("bob@example.com").await;
    let project = app.create_project(&a, "Apollo").await;
    app.create_project(&b, "Bob's secret").await;
    let (root, root_id) = superuser(&app).await;
    let path = format!(
        "/api/v1/admin/organizations/{}/impersonate",
        a.organization_id
    );
    app.post(&path, Some(&root), json!({}))
        .await
        .assert_problem(422);
    app.post(&path, Some(&a.token), json!({ "reason": "ticket 4711" }))
        .await
        .assert_problem(401);
    let started = app
        .post(&path, Some(&root), json!({ "reason": "ticket 4711" }))
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let token = started.body["access_token"].as_str().unwrap().to_owned();
    let impersonation = started.body["impersonation_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // It reads the one organization's data, and changes nothing.
    let listed = app.get("/api/v1/projects", &token).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["total"], 1);
    assert_eq!(listed.body["data"][0]["id"], project["id"]);
    app.post("/api/v1/projects", Some(&token), json!({ "name": "Mine" }))
        .await
        .assert_problem(403);
    app.delete(
        &format!("/api/v1/projects/{}", project["id"].as_str().unwrap()),
        &token,
    )
    .await
    .assert_problem(403);
    app.post(
        "/api/v1/api-keys",
        Some(&token),
        json!({ "name": "backdoor", "scopes": ["projects:read"] }),
    )
    .await
    .assert_problem(403);

    // The start and every request are in the organization's trail, naming the impersonator.
    let start = events(&app, &a, "impersonation.started").await;
    assert_eq!(start.len(), 1);
    assert_eq!(start[0]["actor_type"], "superuser");
    assert_eq!(start[0]["changes"]["reason"], "ticket 4711");
    assert_eq!(start[0]["resource_id"], impersonation.as_str());
    let requests = events(&app, &a, "impersonation.request").await;
    assert_eq!(requests.len(), 4, "{requests:?}");
    for event in &requests {
        assert_eq!(event["actor_type"], "impersonation");
        assert_eq!(event["actor_id"], impersonation.as_str());
        assert_eq!(event["impersonator_id"], root_id.as_str());
    }
    assert_eq!(requests[0]["changes"]["route"], "GET /api/v1/projects");
    assert_eq!(requests[1]["changes"]["route"], "POST /api/v1/projects");
    // Nothing of it reached the other organization.
    assert!(events(&app, &b, "impersonation.request").await.is_empty());

    // A superuser no more: the impersonation ends at the next request.
    app.as_owner("UPDATE users SET is_superuser = false").await;
    app.get("/api/v1/projects", &token)
        .await
        .assert_problem(401);
}

async fn count(tx: &sea_orm::DatabaseTransaction, table: &str) -> i64 {
    let statement = Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        format!("SELECT count(*) FROM {table}"),
        vec![],
    );
    tx.query_one_raw(statement)
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

/// On PostgreSQL the app role cannot make itself a superuser, and a platform transaction
/// reads the organizations' records and nothing of their data.
#[tokio::test]
async fn the_database_keeps_the_platform_to_organization_records() {
    let app = spawn_app(Store::Postgres).await;
    let a = app.register("ada@example.com").await;
    app.create_project(&a, "Apollo").await;
    app.register("bob@example.com").await;
    let (_, root_id) = superuser(&app).await;
    let conn = app.database.as_ref().unwrap().connect_as_app().await;
    let sql = |text: &str, values: Vec<sea_orm::Value>| {
        Statement::from_sql_and_values(DatabaseBackend::Postgres, text, values)
    };
    for attempt in [
        "UPDATE users SET is_superuser = true".to_owned(),
        "INSERT INTO users (id, email, name, password_hash, created_at, is_superuser) \
         VALUES (gen_random_uuid(), 'eve@example.com', 'Eve', 'x', now(), true)"
            .to_owned(),
    ] {
        let err = conn.execute_raw(sql(&attempt, vec![])).await.unwrap_err();
        assert!(err.to_string().contains("permission denied"), "{err}");
    }
    for (user, organizations) in [(a.user_id.clone(), 1), (root_id.clone(), 2)] {
        let tx = conn.begin().await.unwrap();
        tx.execute_raw(sql(
            "SELECT set_config('app.platform_user', $1, true), set_config('app.current_user', $1, true)",
            vec![user.into()],
        ))
        .await
        .unwrap();
        // A non-superuser sees only the organizations it belongs to; the superuser sees all
        // their records, and no project of any of them.
        assert_eq!(count(&tx, "organizations").await, organizations);
        assert_eq!(count(&tx, "projects").await, 0);
        assert_eq!(
            count(&tx, "memberships").await,
            if organizations == 1 { 1 } else { 0 }
        );
        tx.rollback().await.unwrap();
    }
}
