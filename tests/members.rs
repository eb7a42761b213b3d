//! Organizations, members, invitations and role-based access over HTTP, on SQLite and
//! PostgreSQL (SECURITY-CASES 1, 5 and 6).

#![allow(clippy::unwrap_used)]

use bulkhead_tests::{PASSWORD, Reply, Tenant, TestApp, both_stores, sorted_statuses};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

both_stores! {
    invitations_make_accounts_and_memberships_once;
    existing_accounts_join_with_the_token_alone;
    bad_invitations_change_nothing;
    roles_change_and_take_effect_on_the_next_request;
    the_last_owner_stays;
    members_are_listed_searched_and_found_only_in_their_organization;
    every_endpoint_allows_exactly_the_roles_that_hold_its_permission;
    the_organization_is_read_and_renamed_by_its_admins;
    project_maintainers_edit_without_the_organization_permission;
    a_deleted_organization_stops_every_token_until_restored;
    every_refusal_is_audited_whichever_module_refuses;
}

async fn invite(app: &TestApp, by: &Tenant, email: &str, role: &str) -> Reply {
    app.post(
        "/api/v1/invitations",
        Some(&by.token),
        json!({ "email": email, "role": role }),
    )
    .await
}

async fn accept(app: &TestApp, token: &str, extra: Value) -> Reply {
    let mut body = json!({ "token": token });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    app.post("/api/v1/invitations/accept", None, body).await
}

async fn invitations_make_accounts_and_memberships_once(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let invited = invite(&app, &a, "Grace@example.com", "member").await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    assert_eq!(invited.body["email"], "grace@example.com");
    let listed = app.get("/api/v1/invitations", &a.token).await;
    assert_eq!(listed.body["total"], 1);
    assert!(
        !listed.body.to_string().contains("bhi_"),
        "no token is listed"
    );

    let token = app
        .token_from_email("grace@example.com", "You are invited", "bhi_")
        .await;
    // A new account needs a name and an acceptable password; a failed attempt keeps the token.
    accept(&app, &token, json!({})).await.assert_problem(422);
    accept(
        &app,
        &token,
        json!({ "name": "Grace", "password": "grace@example.com" }),
    )
    .await
    .assert_problem(422);
    let accepted = accept(
        &app,
        &token,
        json!({ "name": "Grace", "password": PASSWORD }),
    )
    .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["account_created"], true);
    assert_eq!(accepted.body["role"], "member");
    accept(
        &app,
        &token,
        json!({ "name": "Grace", "password": PASSWORD }),
    )
    .await
    .assert_problem(422);

    let login = app.login("grace@example.com").await;
    let me = app.get("/api/v1/auth/me", &login).await;
    assert_eq!(me.body["organization"]["id"], a.organization_id.as_str());
    assert_eq!(me.body["role"], "member");
    assert_eq!(me.body["user"]["email_verified"], true);
    assert_eq!(
        app.get("/api/v1/invitations", &a.token).await.body["total"],
        0
    );
    let actions = app.audit_actions(&a).await;
    for action in ["invitation.created", "member.joined"] {
        assert!(
            actions.contains(&action.to_owned()),
            "{action}: {actions:?}"
        );
    }
    // An invitation token is no access token.
    app.get("/api/v1/auth/me", &token).await.assert_problem(401);
}

async fn existing_accounts_join_with_the_token_alone(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let b = app.register("bob@example.com").await;
    invite(&app, &a, &b.email, "viewer").await;
    let token = app
        .token_from_email(&b.email, "You are invited", "bhi_")
        .await;
    let accepted = accept(&app, &token, json!({})).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["account_created"], false);
    let orgs = app.get("/api/v1/auth/organizations", &b.token).await;
    assert_eq!(orgs.body["data"].as_array().unwrap().len(), 2);
    // Inviting a member again is a conflict.
    invite(&app, &a, &b.email, "member")
        .await
        .assert_problem(409);
}

async fn bad_invitations_change_nothing(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let admin = app.member_token(&a, "adam@example.com", "admin").await;
    let member = app.member_token(&a, "mia@example.com", "member").await;
    // Nobody invites above their own role; members do not invite at all.
    invite(&app, &admin, "x@example.com", "owner")
        .await
        .assert_problem(403);
    invite(&app, &member, "x@example.com", "viewer")
        .await
        .assert_problem(403);
    assert_eq!(
        invite(&app, &admin, "x@example.com", "admin").await.status,
        StatusCode::CREATED
    );
    // A revoked invitation's token does nothing.
    let revocable = invite(&app, &a, "rex@example.com", "viewer").await;
    let token = app
        .token_from_email("rex@example.com", "You are invited", "bhi_")
        .await;
    let path = format!(
        "/api/v1/invitations/{}",
        revocable.body["id"].as_str().unwrap()
    );
    assert_eq!(
        app.delete(&path, &a.token).await.status,
        StatusCode::NO_CONTENT
    );
    accept(&app, &token, json!({ "name": "Rex", "password": PASSWORD }))
        .await
        .assert_problem(422);
    app.delete(&path, &a.token).await.assert_problem(404);
    // Strangers and garbage.
    for token in [format!("bhi_{}", "0".repeat(64)), "nope".into()] {
        accept(&app, &token, json!({ "name": "X", "password": PASSWORD }))
            .await
            .assert_problem(422);
    }
    // Mass assignment of a role on acceptance fails loudly.
    let other = invite(&app, &a, "olga@example.com", "viewer").await;
    assert_eq!(other.status, StatusCode::CREATED);
    let token = app
        .token_from_email("olga@example.com", "You are invited", "bhi_")
        .await;
    accept(
        &app,
        &token,
        json!({ "name": "Olga", "password": PASSWORD, "role": "owner" }),
    )
    .await
    .assert_problem(422);
    let members = app.get("/api/v1/members", &a.token).await;
    assert_eq!(members.body["total"], 3, "{}", members.body);
}

async fn roles_change_and_take_effect_on_the_next_request(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let m = app.member_token(&a, "mia@example.com", "member").await;
    app.get("/api/v1/audit-events", &m.token)
        .await
        .assert_problem(403);
    let path = format!("/api/v1/members/{}", m.user_id);
    let promoted = app.patch(&path, &a.token, json!({ "role": "admin" })).await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.body);
    assert_eq!(promoted.body["role"], "admin");
    // The same token carries the new role on the next request: tokens name no role.
    let token = m.token.as_str();
    assert_eq!(
        app.get("/api/v1/audit-events", token).await.status,
        StatusCode::OK
    );
    // Nobody changes their own role, and admins cannot make owners.
    app.patch(
        &format!("/api/v1/members/{}", a.user_id),
        &a.token,
        json!({ "role": "admin" }),
    )
    .await
    .assert_problem(422);
    app.patch(&path, token, json!({ "role": "owner" }))
        .await
        .assert_problem(422);
    let v = app.member_token(&a, "vic@example.com", "viewer").await;
    app.patch(
        &format!("/api/v1/members/{}", v.user_id),
        token,
        json!({ "role": "owner" }),
    )
    .await
    .assert_problem(403);
    // Removal: the removed member's tokens stop working.
    let removed = app
        .delete(&format!("/api/v1/members/{}", v.user_id), token)
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    app.get("/api/v1/projects", &v.token)
        .await
        .assert_problem(401);
    let actions = app.audit_actions(&a).await;
    for action in ["member.role_changed", "member.removed"] {
        assert!(
            actions.contains(&action.to_owned()),
            "{action}: {actions:?}"
        );
    }
    // A downgrade ends the member's sessions here: the access token and the refresh token
    // issued under the higher role both stop at once (SECURITY-CASES 17).
    let demoted = app
        .patch(&path, &a.token, json!({ "role": "viewer" }))
        .await;
    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.body);
    app.get("/api/v1/projects", &m.token)
        .await
        .assert_problem(401);
    app.post(
        "/api/v1/auth/refresh",
        None,
        json!({ "refresh_token": m.refresh_token }),
    )
    .await
    .assert_problem(401);
    let again = app.login(&m.email).await;
    let me = app.get("/api/v1/auth/me", &again).await;
    assert_eq!(me.body["role"], "viewer", "{}", me.body);
    let events = app.audit_events(&a).await;
    let last = events
        .iter()
        .rev()
        .find(|e| e["action"] == "member.role_changed")
        .unwrap();
    assert_eq!(last["changes"]["sessions_ended"], true);
}

async fn the_last_owner_stays(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let admin = app.member_token(&a, "adam@example.com", "admin").await;
    // The only owner cannot leave; an admin cannot remove or demote an owner.
    app.delete("/api/v1/members/me", &a.token)
        .await
        .assert_problem(409);
    app.delete(&format!("/api/v1/members/{}", a.user_id), &admin.token)
        .await
        .assert_problem(403);
    // With a second owner, the first may leave; then the second is the last.
    let b = app.member_token(&a, "bea@example.com", "admin").await;
    let promote = app
        .patch(
            &format!("/api/v1/members/{}", b.user_id),
            &a.token,
            json!({ "role": "owner" }),
        )
        .await;
    assert_eq!(promote.status, StatusCode::OK, "{}", promote.body);
    let b_token = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": b.refresh_token }),
        )
        .await
        .body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let left = app.delete("/api/v1/members/me", &a.token).await;
    assert_eq!(left.status, StatusCode::NO_CONTENT, "{}", left.body);
    app.delete("/api/v1/members/me", &b_token)
        .await
        .assert_problem(409);
    let admin_leaves = app.delete("/api/v1/members/me", &admin.token).await;
    assert_eq!(admin_leaves.status, StatusCode::NO_CONTENT);
}

async fn members_are_listed_searched_and_found_only_in_their_organization(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let b = app.register("bob@example.com").await;
    app.member_token(&a, "grace@example.com", "viewer").await;
    app.member_token(&a, "linus@example.com", "member").await;
    let all = app.get("/api/v1/members?limit=2", &a.token).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(
        (all.body["total"].clone(), all.body["has_more"].clone()),
        (json!(3), json!(true))
    );
    let found = app.get("/api/v1/members?q=GRACE", &a.token).await;
    assert_eq!(found.body["total"], 1);
    assert_eq!(found.body["data"][0]["user"]["email"], "grace@example.com");
    let by_role = app.get("/api/v1/members?role=member", &a.token).await;
    assert_eq!(
        by_role.body["data"][0]["user"]["email"],
        "linus@example.com"
    );
    // Registration leaves the address unconfirmed until the emailed link is used.
    assert_eq!(by_role.body["data"][0]["status"], "unverified");
    assert!(by_role.body["data"][0]["joined_at"].is_string());
    let wildcard = app.get("/api/v1/members?q=%25", &a.token).await;
    assert_eq!(wildcard.body["total"], 0, "LIKE wildcards are literal");
    app.get("/api/v1/members?limit=101", &a.token)
        .await
        .assert_problem(422);
    // Another organization's user: 404 everywhere, exactly like a stranger.
    let unknown = uuid::Uuid::now_v7().to_string();
    for id in [&b.user_id, &unknown] {
        let user_path = format!("/api/v1/users/{id}");
        let member_path = format!("/api/v1/members/{id}");
        let replies = [
            app.get(&user_path, &a.token).await,
            app.patch(&member_path, &a.token, json!({ "role": "viewer" }))
                .await,
            app.delete(&member_path, &a.token).await,
        ];
        for reply in &replies {
            reply.assert_problem(404);
        }
    }
    let mine = app
        .get(&format!("/api/v1/users/{}", a.user_id), &a.token)
        .await;
    assert_eq!(mine.body["role"], "owner");
    // Bob's organization is untouched.
    assert_eq!(app.get("/api/v1/members", &b.token).await.body["total"], 1);
    let b_invite = invite(&app, &b, "z@example.com", "viewer").await;
    let path = format!(
        "/api/v1/invitations/{}",
        b_invite.body["id"].as_str().unwrap()
    );
    app.delete(&path, &a.token).await.assert_problem(404);
    assert_eq!(
        app.get("/api/v1/invitations", &b.token).await.body["total"],
        1
    );
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
        let invitation = invite(&app, &owner, &format!("inv{counter}@example.com"), "viewer").await;
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

#[tokio::test]
async fn two_owners_demoting_each_other_at_once_leave_one_owner() {
    let app = bulkhead_tests::spawn_app(bulkhead_tests::Store::Postgres).await;
    for round in 0..5 {
        let a = app.register(&format!("a{round}@example.com")).await;
        let b = app
            .member_token(&a, &format!("b{round}@example.com"), "owner")
            .await;
        let (path_a, path_b) = (
            format!("/api/v1/members/{}", a.user_id),
            format!("/api/v1/members/{}", b.user_id),
        );
        let (by_a, by_b) = tokio::join!(
            app.patch(&path_b, &a.token, json!({ "role": "admin" })),
            app.patch(&path_a, &b.token, json!({ "role": "admin" })),
        );
        let statuses = sorted_statuses(&[by_a, by_b]);
        assert_eq!(statuses[0], 200, "round {round}: {statuses:?}");
        assert!(
            statuses[1] == 409 || statuses[1] == 401,
            "round {round}: {statuses:?}"
        );
        let owners = app
            .get("/api/v1/members?role=owner", &app.login(&a.email).await)
            .await;
        let owners = if owners.status == StatusCode::OK {
            owners
        } else {
            app.get("/api/v1/members?role=owner", &app.login(&b.email).await)
                .await
        };
        assert_eq!(owners.body["total"], 1, "round {round}: {}", owners.body);
    }
}

async fn project_maintainers_edit_without_the_organization_permission(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let b = app.register("bob@example.com").await;
    let project = app.create_project(&a, "Apollo").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let viewer = app.member_token(&a, "vic@example.com", "viewer").await;
    let other = app.member_token(&a, "wes@example.com", "viewer").await;
    let path = format!("/api/v1/projects/{project}");
    let members = format!("{path}/members");
    app.patch(&path, &viewer.token, json!({ "description": "mine" }))
        .await
        .assert_problem(403);
    let added = app
        .post(
            &members,
            Some(&a.token),
            json!({ "user_id": viewer.user_id, "role": "maintainer" }),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    // A maintaining viewer edits the project and manages its members.
    let edited = app
        .patch(&path, &viewer.token, json!({ "description": "mine" }))
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
    let contributor = app
        .post(
            &members,
            Some(&viewer.token),
            json!({ "user_id": other.user_id, "role": "contributor" }),
        )
        .await;
    assert_eq!(
        contributor.status,
        StatusCode::CREATED,
        "{}",
        contributor.body
    );
    app.patch(&path, &other.token, json!({ "description": "theirs" }))
        .await
        .assert_problem(403);
    let listed = app.get(&members, &other.token).await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 2);
    // Only members of the organization can join, and ids of another organization are unknown.
    app.post(
        &members,
        Some(&a.token),
        json!({ "user_id": b.user_id, "role": "contributor" }),
    )
    .await
    .assert_problem(422);
    let b_project = app.create_project(&b, "B's").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let foreign = format!("/api/v1/projects/{b_project}/members");
    app.get(&foreign, &a.token).await.assert_problem(404);
    app.post(
        &foreign,
        Some(&a.token),
        json!({ "user_id": a.user_id, "role": "maintainer" }),
    )
    .await
    .assert_problem(404);
    app.get(&members, &b.token).await.assert_problem(404);
    app.delete(&format!("{foreign}/{}", b.user_id), &a.token)
        .await
        .assert_problem(404);
    // Leaving the organization leaves its projects.
    let removed = app
        .delete(&format!("/api/v1/members/{}", other.user_id), &a.token)
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    let listed = app.get(&members, &a.token).await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    let gone = app
        .delete(&format!("{members}/{}", viewer.user_id), &a.token)
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    app.patch(&path, &viewer.token, json!({ "description": "again" }))
        .await
        .assert_problem(403);
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
