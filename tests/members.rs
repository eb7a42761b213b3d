//! Members over HTTP, on SQLite and PostgreSQL: roles and their changes, the last owner, the
//! member list, and project maintainers (SECURITY-CASES 1 and 6).

#![allow(clippy::unwrap_used)]

use bulkhead_tests::{TestApp, both_stores, sorted_statuses};
use reqwest::StatusCode;
use serde_json::json;

both_stores! {
    roles_change_and_take_effect_on_the_next_request;
    the_last_owner_stays;
    members_are_listed_searched_and_found_only_in_their_organization;
    project_maintainers_edit_without_the_organization_permission;
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
    let b_invite = app.invite(&b, "z@example.com", "viewer").await;
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
