//! Custom roles over HTTP, on SQLite and PostgreSQL: nobody creates, edits, grants or deletes
//! a role holding a permission they lack; a role's holders get its current permissions on
//! their next request; a held role cannot be deleted.

#![allow(clippy::unwrap_used)]

use bulkhead_tests::{Tenant, TestApp, both_stores};
use reqwest::StatusCode;
use serde_json::{Value, json};

both_stores! {
    custom_roles_grant_exactly_their_permissions_and_changes_apply_on_the_next_request;
    nobody_creates_or_grants_a_role_with_a_permission_they_lack;
    held_and_system_roles_cannot_be_deleted_or_changed;
    roles_are_confined_to_their_organization;
}

async fn create_role(app: &TestApp, by: &Tenant, name: &str, permissions: &[&str]) -> Value {
    let reply = app
        .post(
            "/api/v1/roles",
            Some(&by.token),
            json!({ "name": name, "permissions": permissions }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

async fn custom_roles_grant_exactly_their_permissions_and_changes_apply_on_the_next_request(
    app: TestApp,
) {
    let a = app.register("ada@example.com").await;
    let m = app.member_token(&a, "mia@example.com", "viewer").await;
    let auditor = create_role(&app, &a, "Auditor", &["audit:read", "projects:read"]).await;
    let id = auditor["id"].as_str().unwrap();
    assert_eq!(auditor["system"], false);
    assert_eq!(
        auditor["permissions"],
        json!(["projects:read", "audit:read"])
    );

    let listed = app.get("/api/v1/roles", &m.token).await;
    let names: Vec<_> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["owner", "admin", "member", "viewer", "Auditor"]);

    app.get("/api/v1/audit-events", &m.token)
        .await
        .assert_problem(403);
    let path = format!("/api/v1/members/{}", m.user_id);
    let granted = app.patch(&path, &a.token, json!({ "role": id })).await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);
    assert_eq!(granted.body["role"], id);
    // The new role takes away some of the viewer's permissions, so the member's sessions
    // ended; signed in again, they hold exactly the custom role's permissions.
    app.get("/api/v1/auth/me", &m.token)
        .await
        .assert_problem(401);
    let m = bulkhead_tests::Tenant {
        token: app.login(&m.email).await,
        ..m
    };
    let me = app.get("/api/v1/auth/me", &m.token).await;
    assert_eq!(me.body["role"], id);
    assert_eq!(
        me.body["permissions"],
        json!(["projects:read", "audit:read"])
    );
    assert_eq!(
        app.get("/api/v1/audit-events", &m.token).await.status,
        StatusCode::OK
    );
    app.get("/api/v1/members", &m.token)
        .await
        .assert_problem(403);
    let filtered = app
        .get(&format!("/api/v1/members?role={id}"), &a.token)
        .await;
    assert_eq!(filtered.body["total"], 1, "{}", filtered.body);

    // Adding a permission reaches its holders on their next request, same token.
    let widened = app
        .patch(
            &format!("/api/v1/roles/{id}"),
            &a.token,
            json!({ "permissions": ["projects:read", "audit:read", "members:read"] }),
        )
        .await;
    assert_eq!(widened.status, StatusCode::OK, "{}", widened.body);
    assert_eq!(
        app.get("/api/v1/members", &m.token).await.status,
        StatusCode::OK
    );
    // Taking one away downgrades every holder: their sessions here end, and a new sign-in
    // holds exactly what is left.
    let narrowed = app
        .patch(
            &format!("/api/v1/roles/{id}"),
            &a.token,
            json!({ "permissions": ["projects:read", "members:read"] }),
        )
        .await;
    assert_eq!(narrowed.status, StatusCode::OK, "{}", narrowed.body);
    app.get("/api/v1/members", &m.token)
        .await
        .assert_problem(401);
    let token = app.login(&m.email).await;
    app.get("/api/v1/audit-events", &token)
        .await
        .assert_problem(403);
    assert_eq!(
        app.get("/api/v1/members", &token).await.status,
        StatusCode::OK
    );
    let actions = app.audit_actions(&a).await;
    for action in ["role.created", "member.role_changed", "role.updated"] {
        assert!(
            actions.contains(&action.to_owned()),
            "{action}: {actions:?}"
        );
    }

    // Invitations can offer a custom role; accepting gives exactly it.
    let invited = app
        .post(
            "/api/v1/invitations",
            Some(&a.token),
            json!({ "email": "ivy@example.com", "role": id }),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    let token = app
        .token_from_email("ivy@example.com", "invited", "bhi_")
        .await;
    let accepted = app
        .post(
            "/api/v1/invitations/accept",
            None,
            json!({ "token": token, "name": "Ivy", "password": bulkhead_tests::PASSWORD }),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["role"], id);
}

async fn nobody_creates_or_grants_a_role_with_a_permission_they_lack(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let admin = app.member_token(&a, "adam@example.com", "admin").await;
    let m = app.member_token(&a, "mia@example.com", "member").await;
    // Admins lack billing:manage and organization:delete.
    let reply = app
        .post(
            "/api/v1/roles",
            Some(&admin.token),
            json!({ "name": "Billing", "permissions": ["billing:manage"] }),
        )
        .await;
    reply.assert_problem(403);
    app.post(
        "/api/v1/roles",
        Some(&m.token),
        json!({ "name": "Reader", "permissions": ["projects:read"] }),
    )
    .await
    .assert_problem(403);
    // Bad input: 422 with every field named, and nothing stored.
    let bad = app
        .post(
            "/api/v1/roles",
            Some(&a.token),
            json!({ "name": "Admin", "permissions": ["projects:*"] }),
        )
        .await;
    bad.assert_problem(422);
    let mut fields = bad.error_fields();
    fields.sort();
    assert_eq!(fields, ["name", "permissions"]);
    // The owner's role with billing cannot be granted, edited or deleted by an admin.
    let billing = create_role(&app, &a, "Billing", &["billing:manage", "projects:read"]).await;
    let id = billing["id"].as_str().unwrap();
    let path = format!("/api/v1/members/{}", m.user_id);
    app.patch(&path, &admin.token, json!({ "role": id }))
        .await
        .assert_problem(403);
    app.patch(
        &format!("/api/v1/roles/{id}"),
        &admin.token,
        json!({ "name": "Money" }),
    )
    .await
    .assert_problem(403);
    app.delete(&format!("/api/v1/roles/{id}"), &admin.token)
        .await
        .assert_problem(403);
    app.post(
        "/api/v1/invitations",
        Some(&admin.token),
        json!({ "email": "eve@example.com", "role": id }),
    )
    .await
    .assert_problem(403);
    // Unknown roles are a 422 on the body, not a 404.
    app.patch(
        &path,
        &a.token,
        json!({ "role": "01234567-89ab-7def-8123-456789abcdef" }),
    )
    .await
    .assert_problem(422);
    app.patch(&path, &a.token, json!({ "role": "superuser" }))
        .await
        .assert_problem(422);
    // Granting is decided by permissions alone: a recruiter who may invite, but not read
    // the roles, invites to a role within their own permissions.
    let reader = create_role(&app, &a, "Reader", &["projects:read"]).await;
    let recruiter = create_role(&app, &a, "Recruiter", &["members:invite", "projects:read"]).await;
    let r = app.member_token(&a, "rita@example.com", "viewer").await;
    let r_path = format!("/api/v1/members/{}", r.user_id);
    app.patch(&r_path, &a.token, json!({ "role": recruiter["id"] }))
        .await;
    let r_token = app.login(&r.email).await;
    let invited = app
        .post(
            "/api/v1/invitations",
            Some(&r_token),
            json!({ "email": "ray@example.com", "role": reader["id"] }),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    app.post(
        "/api/v1/invitations",
        Some(&r_token),
        json!({ "email": "roy@example.com", "role": "viewer" }),
    )
    .await
    .assert_problem(403);
    let roles = app.get("/api/v1/roles", &a.token).await;
    assert_eq!(roles.body["data"].as_array().unwrap().len(), 7);
    let members = app.get("/api/v1/members?role=member", &a.token).await;
    assert_eq!(members.body["total"], 1, "{}", members.body);
}

async fn held_and_system_roles_cannot_be_deleted_or_changed(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let m = app.member_token(&a, "mia@example.com", "member").await;
    let role = create_role(&app, &a, "Support", &["projects:read", "members:read"]).await;
    let id = role["id"].as_str().unwrap();
    let path = format!("/api/v1/roles/{id}");
    // Names are unique per organization, ignoring case.
    app.post(
        "/api/v1/roles",
        Some(&a.token),
        json!({ "name": "support", "permissions": [] }),
    )
    .await
    .assert_problem(409);
    let member = format!("/api/v1/members/{}", m.user_id);
    assert_eq!(
        app.patch(&member, &a.token, json!({ "role": id }))
            .await
            .status,
        StatusCode::OK
    );
    app.delete(&path, &a.token).await.assert_problem(409);
    assert_eq!(app.get(&path, &a.token).await.status, StatusCode::OK);
    for system in ["owner", "viewer"] {
        app.delete(&format!("/api/v1/roles/{system}"), &a.token)
            .await
            .assert_problem(409);
        app.patch(
            &format!("/api/v1/roles/{system}"),
            &a.token,
            json!({ "permissions": [] }),
        )
        .await
        .assert_problem(409);
    }
    assert_eq!(
        app.get("/api/v1/roles/admin", &a.token).await.body["system"],
        true
    );
    // Once nobody holds it, it goes.
    app.patch(&member, &a.token, json!({ "role": "viewer" }))
        .await;
    assert_eq!(
        app.delete(&path, &a.token).await.status,
        StatusCode::NO_CONTENT
    );
    app.get(&path, &a.token).await.assert_problem(404);
    assert!(
        app.audit_actions(&a)
            .await
            .contains(&"role.deleted".to_owned())
    );
}

async fn roles_are_confined_to_their_organization(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let b = app.register("bob@example.com").await;
    let bm = app.member_token(&b, "mia@example.com", "member").await;
    let role = create_role(&app, &a, "Auditor", &["audit:read"]).await;
    let id = role["id"].as_str().unwrap();
    let path = format!("/api/v1/roles/{id}");
    app.get(&path, &b.token).await.assert_problem(404);
    app.patch(&path, &b.token, json!({ "name": "Mine" }))
        .await
        .assert_problem(404);
    app.delete(&path, &b.token).await.assert_problem(404);
    // Another organization's role cannot be granted: it names no role here.
    app.patch(
        &format!("/api/v1/members/{}", bm.user_id),
        &b.token,
        json!({ "role": id }),
    )
    .await
    .assert_problem(422);
    app.get("/api/v1/roles/not-a-role", &a.token)
        .await
        .assert_problem(404);
    assert_eq!(app.get(&path, &a.token).await.body["name"], "Auditor");
}

/// Each server process caches what members hold. A change made through another process, or
/// directly in the database, reaches it through PostgreSQL's notification. Every unit of work
/// also reads the grant again, so a request is never served with a permission taken away
/// (it is refused), and the cache corrects itself; the notification makes even the first
/// request after a change see it. Each step waits a moment for the notification first.
#[tokio::test]
async fn every_instance_follows_role_changes_made_elsewhere() {
    let notified = || tokio::time::sleep(std::time::Duration::from_millis(300));
    let first = bulkhead_tests::spawn_app(bulkhead_tests::Store::Postgres).await;
    let second = first.another_instance(|_| {}).await;
    let a = first.register("ada@example.com").await;
    let m = first.member_token(&a, "mia@example.com", "member").await;
    let audit = "/api/v1/audit-events";
    let me = "/api/v1/auth/me";
    // The second instance now holds mia's grant as a member.
    second.get(audit, &m.token).await.assert_problem(403);

    // Promoted through the first instance: the second's very next request knows it. (From a
    // stale cache, /auth/me would still say "member", as its unit of work lets a promoted
    // member through with the permissions the request was authorized with.)
    let path = format!("/api/v1/members/{}", m.user_id);
    let promoted = first
        .patch(&path, &a.token, json!({ "role": "admin" }))
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    notified().await;
    let current = second.get(me, &m.token).await;
    assert_eq!(current.body["role"], "admin", "{}", current.body);
    assert_eq!(second.get(audit, &m.token).await.status, StatusCode::OK);

    // Demoted behind both servers' backs (no session ends): a viewer at once. (From a stale
    // cache the tenant statement would refuse the request: 401.)
    first
        .as_owner(&format!(
            "UPDATE memberships SET role = 'viewer' WHERE user_id = '{}'",
            m.user_id
        ))
        .await;
    notified().await;
    let listed = second.get("/api/v1/projects", &m.token).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    second.get(audit, &m.token).await.assert_problem(403);

    // A custom role widened through the first instance reaches its holder on the second.
    let r = first.member_token(&a, "rex@example.com", "viewer").await;
    let reader = create_role(&first, &a, "Reader", &["projects:read"]).await;
    let id = reader["id"].as_str().unwrap();
    let granted = first
        .patch(
            &format!("/api/v1/members/{}", r.user_id),
            &a.token,
            json!({ "role": id }),
        )
        .await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);
    let r_token = first.login(&r.email).await;
    let before = second.get(me, &r_token).await;
    assert_eq!(before.body["permissions"], json!(["projects:read"]));
    let widened = first
        .patch(
            &format!("/api/v1/roles/{id}"),
            &a.token,
            json!({ "permissions": ["projects:read", "audit:read"] }),
        )
        .await;
    assert_eq!(widened.status, StatusCode::OK, "{}", widened.body);
    notified().await;
    let after = second.get(me, &r_token).await;
    assert_eq!(
        after.body["permissions"],
        json!(["projects:read", "audit:read"])
    );

    // Signed out on the first instance: the second refuses the token at once, /auth/me too.
    let out = first
        .post("/api/v1/auth/logout", Some(&r_token), json!({}))
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.body);
    second.get(audit, &r_token).await.assert_problem(401);
    second.get(me, &r_token).await.assert_problem(401);
}
