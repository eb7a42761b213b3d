//! Invitations over HTTP, on SQLite and PostgreSQL: who may invite, what accepting creates, and
//! that a bad or spent invitation changes nothing (SECURITY-CASES 1 and 5).

#![allow(clippy::unwrap_used)]

use bulkhead_tests::{PASSWORD, Reply, TestApp, both_stores};
use reqwest::StatusCode;
use serde_json::{Value, json};

both_stores! {
    invitations_make_accounts_and_memberships_once;
    existing_accounts_join_with_the_token_alone;
    bad_invitations_change_nothing;
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
    let invited = app.invite(&a, "Grace@example.com", "member").await;
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
    app.invite(&a, &b.email, "viewer").await;
    let token = app
        .token_from_email(&b.email, "You are invited", "bhi_")
        .await;
    let accepted = accept(&app, &token, json!({})).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["account_created"], false);
    let orgs = app.get("/api/v1/auth/organizations", &b.token).await;
    assert_eq!(orgs.body["data"].as_array().unwrap().len(), 2);
    // Inviting a member again is a conflict.
    app.invite(&a, &b.email, "member").await.assert_problem(409);
}

async fn bad_invitations_change_nothing(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let admin = app.member_token(&a, "adam@example.com", "admin").await;
    let member = app.member_token(&a, "mia@example.com", "member").await;
    // Nobody invites above their own role; members do not invite at all.
    app.invite(&admin, "x@example.com", "owner")
        .await
        .assert_problem(403);
    app.invite(&member, "x@example.com", "viewer")
        .await
        .assert_problem(403);
    assert_eq!(
        app.invite(&admin, "x@example.com", "admin").await.status,
        StatusCode::CREATED
    );
    // A revoked invitation's token does nothing.
    let revocable = app.invite(&a, "rex@example.com", "viewer").await;
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
    let other = app.invite(&a, "olga@example.com", "viewer").await;
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
