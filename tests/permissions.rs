//! Role-based access over HTTP, on SQLite and PostgreSQL: every endpoint allows exactly the
//! roles that hold its permission, and every refusal is audited (SECURITY-CASES 6).

#![allow(clippy::unwrap_used)]

use bulkhead_tests::{TestApp, both_stores};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_stores! {
    every_endpoint_allows_exactly_the_roles_that_hold_its_permission;
    every_refusal_is_audited_whichever_module_refuses;
}

/// Who may call what: each row is an operation and the roles that hold its permission; every
/// role outside the row must get 403 and change nothing.
async fn every_endpoint_allows_exactly_the_roles_that_hold_its_permission(app: TestApp) {
    let owner = app.register("owner@example.com").await;
    let mut tokens = vec![("owner", owner.clone())];
    for role in ["admin", "member", "viewer"] {
        tokens.push((
            role,
            app.member_token(&owner, &format!("{role}@example.com"), role)
                .await,
        ));
    }
    let project = app.create_project(&owner, "Matrix").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let everyone: &[&str] = &["owner", "admin", "member", "viewer"];
    let managers: &[&str] = &["owner", "admin"];
    let writers: &[&str] = &["owner", "admin", "member"];
    let mut counter = 0;
    for (role, tenant) in &tokens {
        // Operations that consume something get a fresh target per attempt.
        counter += 1;
        let target = app
            .member_token(&owner, &format!("target{counter}@example.com"), "viewer")
            .await;
        let invitation = app
            .invite(&owner, &format!("inv{counter}@example.com"), "viewer")
            .await;
        let invitation = invitation.body["id"].as_str().unwrap().to_owned();
        let custom_role = app
            .post(
                "/api/v1/roles",
                Some(&owner.token),
                json!({ "name": format!("Role {counter}"), "permissions": ["projects:read"] }),
            )
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let doomed = app
            .create_project(&owner, &format!("Doomed {counter}"))
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let cases: Vec<(Method, String, Option<Value>, &[&str])> = vec![
            (
                Method::GET,
                "/api/v1/organizations/current".into(),
                None,
                everyone,
            ),
            (
                Method::PATCH,
                "/api/v1/organizations/current".into(),
                Some(json!({ "name": "Org" })),
                managers,
            ),
            (Method::GET, "/api/v1/permissions".into(), None, everyone),
            (Method::GET, "/api/v1/roles".into(), None, everyone),
            (
                Method::GET,
                format!("/api/v1/roles/{custom_role}"),
                None,
                everyone,
            ),
            (
                Method::POST,
                "/api/v1/roles".into(),
                Some(json!({ "name": format!("New {counter}"), "permissions": ["projects:read"] })),
                managers,
            ),
            (
                Method::PATCH,
                format!("/api/v1/roles/{custom_role}"),
                Some(json!({ "permissions": ["projects:read", "members:read"] })),
                managers,
            ),
            (
                Method::DELETE,
                format!("/api/v1/roles/{custom_role}"),
                None,
                managers,
            ),
            (Method::GET, "/api/v1/members".into(), None, everyone),
            (
                Method::GET,
                format!("/api/v1/users/{}", target.user_id),
                None,
                everyone,
            ),
            (
                Method::PATCH,
                format!("/api/v1/members/{}", target.user_id),
                Some(json!({ "role": "viewer" })),
                managers,
            ),
            (
                Method::DELETE,
                format!("/api/v1/members/{}", target.user_id),
                None,
                managers,
            ),
            (
                Method::POST,
                "/api/v1/invitations".into(),
                Some(json!({ "email": format!("n{counter}@example.com"), "role": "viewer" })),
                managers,
            ),
            (Method::GET, "/api/v1/invitations".into(), None, managers),
            (
                Method::DELETE,
                format!("/api/v1/invitations/{invitation}"),
                None,
                managers,
            ),
            (Method::GET, "/api/v1/projects".into(), None, everyone),
            (
                Method::GET,
                format!("/api/v1/projects/{project}"),
                None,
                everyone,
            ),
            (
                Method::POST,
                "/api/v1/projects".into(),
                Some(json!({ "name": format!("New {counter}") })),
                writers,
            ),
            (
                Method::PATCH,
                format!("/api/v1/projects/{project}"),
                Some(json!({ "description": "x" })),
                writers,
            ),
            (
                Method::DELETE,
                format!("/api/v1/projects/{doomed}"),
                None,
                managers,
            ),
            (Method::GET, "/api/v1/audit-events".into(), None, managers),
            (Method::GET, "/api/v1/api-keys".into(), None, managers),
            (
                Method::POST,
                "/api/v1/api-keys".into(),
                Some(json!({ "name": "k", "scopes": ["projects:read"] })),
                managers,
            ),
            (
                Method::PATCH,
                "/api/v1/users/me".into(),
                Some(json!({ "name": "Someone" })),
                everyone,
            ),
        ];
        for (method, path, body, allowed) in cases {
            let reply = app
                .send(method.clone(), &path, Some(&tenant.token), body)
                .await;
            if allowed.contains(role) {
                assert!(
                    reply.status.is_success(),
                    "{role} {method} {path}: {} {}",
                    reply.status,
                    reply.body
                );
            } else {
                assert_eq!(
                    reply.status,
                    StatusCode::FORBIDDEN,
                    "{role} {method} {path}: {}",
                    reply.body
                );
            }
        }
    }
}

async fn every_refusal_is_audited_whichever_module_refuses(app: TestApp) {
    let owner = app.register("owner@example.com").await;
    let viewer = app.member_token(&owner, "vera@example.com", "viewer").await;
    let admin = app.member_token(&owner, "adam@example.com", "admin").await;
    let refusals = [
        (
            app.post(
                "/api/v1/roles",
                Some(&viewer.token),
                json!({ "name": "Auditor", "permissions": ["audit:read"] }),
            )
            .await,
            "roles:manage",
        ),
        (
            app.post(
                "/api/v1/invitations",
                Some(&viewer.token),
                json!({ "email": "new@example.com", "role": "member" }),
            )
            .await,
            "members:invite",
        ),
        (
            app.patch(
                &format!("/api/v1/members/{}", admin.user_id),
                &viewer.token,
                json!({ "role": "viewer" }),
            )
            .await,
            "members:manage",
        ),
        (
            app.patch(
                "/api/v1/organizations/current",
                &viewer.token,
                json!({ "name": "Renamed" }),
            )
            .await,
            "organization:update",
        ),
        (
            app.post(
                "/api/v1/api-keys",
                Some(&viewer.token),
                json!({ "name": "ci", "scopes": ["projects:read"] }),
            )
            .await,
            "api_keys:manage",
        ),
        (
            app.post(
                "/api/v1/projects",
                Some(&viewer.token),
                json!({ "name": "Apollo" }),
            )
            .await,
            "projects:write",
        ),
        (
            app.get("/api/v1/audit-events", &viewer.token).await,
            "audit:read",
        ),
        // An owner-only rule, refused to an admin who holds members:manage.
        (
            app.patch(
                &format!("/api/v1/members/{}", owner.user_id),
                &admin.token,
                json!({ "role": "viewer" }),
            )
            .await,
            "members:manage",
        ),
    ];
    for (reply, _) in &refusals {
        reply.assert_problem(403);
    }
    let denied: Vec<(String, String)> = app
        .audit_events(&owner)
        .await
        .iter()
        .filter(|e| e["action"] == "permission.denied")
        .map(|e| {
            (
                e["actor_id"].as_str().unwrap().to_owned(),
                e["resource_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = refusals
        .iter()
        .enumerate()
        .map(|(i, (_, permission))| {
            let actor = if i == refusals.len() - 1 {
                &admin
            } else {
                &viewer
            };
            (actor.user_id.clone(), (*permission).to_owned())
        })
        .collect();
    assert_eq!(denied, expected);
}
