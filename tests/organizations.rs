//! The organization itself over HTTP, on SQLite and PostgreSQL: reading and renaming it, and
//! deleting it, which stops every token until it is restored or purged.

#![allow(clippy::unwrap_used)]

use bulkhead_tests::{PASSWORD, Reply, TestApp, both_stores};
use reqwest::{Method, StatusCode};
use serde_json::json;

both_stores! {
    the_organization_is_read_and_renamed_by_its_admins;
    a_deleted_organization_stops_every_token_until_restored;
}

async fn the_organization_is_read_and_renamed_by_its_admins(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let current = app.get("/api/v1/organizations/current", &a.token).await;
    assert_eq!(current.body["id"], a.organization_id.as_str());
    let renamed = app
        .patch(
            "/api/v1/organizations/current",
            &a.token,
            json!({ "name": "  Engines Ltd " }),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["name"], "Engines Ltd");
    assert_eq!(renamed.body["settings"], json!({}));
    let settings = json!({ "theme": "dark", "ui.locale": "de", "limits": { "seats": 5 } });
    let set = app
        .patch(
            "/api/v1/organizations/current",
            &a.token,
            json!({ "settings": settings }),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(set.body["name"], "Engines Ltd");
    for bad in [
        json!({ "name": "" }),
        json!({ "name": "x", "id": a.organization_id }),
        json!({ "name": "x", "settings": ["theme"] }),
        json!({ "settings": { "bad key": 1 } }),
        json!({ "settings": null }),
        json!({ "settings": { "big": "x".repeat(17 * 1024) } }),
    ] {
        app.patch("/api/v1/organizations/current", &a.token, bad)
            .await
            .assert_problem(422);
    }
    let current = app.get("/api/v1/organizations/current", &a.token).await;
    assert_eq!(current.body["settings"], settings);
    assert_eq!(current.body["name"], "Engines Ltd");
    let events = app.audit_events(&a).await;
    let updates: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "organization.updated")
        .collect();
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[0]["changes"]["after"]["name"], "Engines Ltd");
    assert_eq!(updates[1]["changes"]["after"]["settings"], settings);
    assert!(updates[1]["changes"]["after"].get("name").is_none());
    let me = app
        .patch("/api/v1/users/me", &a.token, json!({ "name": "Ada King" }))
        .await;
    assert_eq!(me.body["name"], "Ada King");
    let permissions = app.get("/api/v1/permissions", &a.token).await;
    let names: Vec<_> = permissions.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "members:invite",
        "roles:manage",
        "billing:manage",
        "api_keys:manage",
    ] {
        assert!(names.contains(&name), "{name}");
    }
}

async fn delete_organization(app: &TestApp, token: &str, confirm: &str) -> Reply {
    app.send(
        Method::DELETE,
        "/api/v1/organizations/current",
        Some(token),
        Some(json!({ "confirm": confirm })),
    )
    .await
}

async fn restore_organization(app: &TestApp, token: &str) -> Reply {
    app.post(
        "/api/v1/organizations/current/restore",
        Some(token),
        json!({}),
    )
    .await
}

async fn a_deleted_organization_stops_every_token_until_restored(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let b = app.register("bob@example.com").await;
    let admin = app.member_token(&a, "adam@example.com", "admin").await;
    let key = app.api_key_secret(&a, &["projects:read"]).await;
    delete_organization(&app, &admin.token, "Org of ada@example.com")
        .await
        .assert_problem(403);
    delete_organization(&app, &a.token, "org of ada@example.com")
        .await
        .assert_problem(422);
    let deleted = delete_organization(&app, &a.token, "Org of ada@example.com").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    // Suspended at once: users' tokens, API keys and logins into it all fail.
    for token in [&a.token, &admin.token, &key] {
        app.get("/api/v1/projects", token).await.assert_problem(401);
    }
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": a.email, "password": PASSWORD, "organization_id": a.organization_id }),
        )
        .await;
    login.assert_problem(401);
    // Nor does a refresh token renew anything there (issue F4).
    app.post(
        "/api/v1/auth/refresh",
        None,
        json!({ "refresh_token": admin.refresh_token }),
    )
    .await
    .assert_problem(401);
    assert_eq!(
        app.get("/api/v1/projects", &b.token).await.status,
        StatusCode::OK
    );
    // Only an owner restores it, with a token of a session in it.
    restore_organization(&app, &admin.token)
        .await
        .assert_problem(403);
    let restored = restore_organization(&app, &a.token).await;
    assert_eq!(restored.status, StatusCode::OK, "{}", restored.body);
    for token in [&a.token, &admin.token, &key] {
        assert_eq!(
            app.get("/api/v1/projects", token).await.status,
            StatusCode::OK
        );
    }
    // Restoring it again: it is live, which is a conflict, not a bad token.
    let again = restore_organization(&app, &a.token).await;
    again.assert_problem(409);
    assert!(
        again.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("not deleted")),
        "{}",
        again.body
    );
    // An admin of it still gets 403: the permission is checked first.
    restore_organization(&app, &admin.token)
        .await
        .assert_problem(403);
    let actions = app.audit_actions(&a).await;
    for action in ["organization.deleted", "organization.restored"] {
        assert!(
            actions.contains(&action.to_owned()),
            "{action}: {actions:?}"
        );
    }
}

#[tokio::test]
async fn deleted_organizations_are_purged_after_the_grace_period() {
    let app = bulkhead_tests::spawn_app_with(bulkhead_tests::Store::Postgres, |c| {
        c.organization_grace = chrono::Duration::zero();
    })
    .await;
    let a = app.register("ada@example.com").await;
    let b = app.register("bob@example.com").await;
    app.create_project(&a, "Apollo").await;
    let deleted = delete_organization(&app, &a.token, "Org of ada@example.com").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    // Past the (zero) grace period: no restore, and the purge removes it with all its data.
    restore_organization(&app, &a.token)
        .await
        .assert_problem(409);
    let purged = bulkhead_server::purge_organizations(&app.owner_url(), chrono::Duration::zero())
        .await
        .unwrap();
    assert_eq!(purged, 1);
    let owner = app.database.as_ref().unwrap().connect_as_owner().await;
    for table in [
        "organizations",
        "projects",
        "memberships",
        "audit_events",
        "sessions",
    ] {
        let sql = format!(
            "SELECT count(*) AS n FROM {table} WHERE {} = '{}'",
            if table == "organizations" {
                "id"
            } else {
                "organization_id"
            },
            a.organization_id
        );
        let row = sea_orm::ConnectionTrait::query_one_raw(
            &owner,
            sea_orm::Statement::from_string(sea_orm::DatabaseBackend::Postgres, sql),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(row.try_get::<i64>("", "n").unwrap(), 0, "{table}");
    }
    assert_eq!(
        app.get("/api/v1/projects", &b.token).await.status,
        StatusCode::OK
    );
    let verify = app.get("/api/v1/audit-events/verify", &b.token).await;
    assert_eq!(verify.body["intact"], true);
}

// Issue F3: the README says every refusal is recorded as `permission.denied`; one refusal of
// each module that decides on a permission.
