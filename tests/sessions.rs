//! Sessions over HTTP, on SQLite and PostgreSQL: refresh rotation and reuse detection, logout,
//! listing and revoking sessions, and users of several organizations
//! (SECURITY-CASES 14, 17, 18 and 19).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bulkhead_tests::{PASSWORD, Store, Tenant, TestApp, both_stores, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

both_stores! {
    refresh_rotates_and_the_spent_token_is_refused;
    a_reused_refresh_token_revokes_the_whole_session_and_is_audited;
    concurrent_refreshes_with_one_token_let_exactly_one_succeed;
    logout_stops_access_and_refresh_tokens_at_once;
    logout_all_ends_every_session;
    sessions_are_listed_and_revoked_only_by_their_user;
    tokens_of_one_kind_never_pass_for_another;
    secrets_are_stored_only_as_sha256_digests;
    leaving_the_organization_ends_refresh_too;
    users_of_several_organizations_list_switch_and_choose_at_login;
}

async fn refresh(app: &TestApp, token: &str) -> bulkhead_tests::Reply {
    app.post(
        "/api/v1/auth/refresh",
        None,
        json!({ "refresh_token": token }),
    )
    .await
}

fn str_of<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} missing in {body}"))
}

async fn refresh_rotates_and_the_spent_token_is_refused(app: TestApp) {
    let a = app.register("ada@example.com").await;
    assert!(a.refresh_token.starts_with("bhr_"));
    let first = refresh(&app, &a.refresh_token).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(str_of(&first.body, "session_id"), a.session_id);
    assert_ne!(str_of(&first.body, "refresh_token"), a.refresh_token);
    let access = str_of(&first.body, "access_token");
    assert_eq!(
        app.get("/api/v1/auth/me", access).await.status,
        StatusCode::OK
    );
    // The next refresh spends the new token, and so on.
    let second = refresh(&app, str_of(&first.body, "refresh_token")).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    // Spent tokens are refused.
    refresh(&app, &a.refresh_token).await.assert_problem(401);
}

async fn a_reused_refresh_token_revokes_the_whole_session_and_is_audited(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let rotated = refresh(&app, &a.refresh_token).await;
    assert_eq!(rotated.status, StatusCode::OK);
    let (newest_access, newest_refresh) = (
        str_of(&rotated.body, "access_token"),
        str_of(&rotated.body, "refresh_token"),
    );
    // An attacker replays the first token: refused, and the session is over for everyone,
    // including the legitimate holder of the newest tokens.
    refresh(&app, &a.refresh_token).await.assert_problem(401);
    refresh(&app, newest_refresh).await.assert_problem(401);
    app.get("/api/v1/auth/me", newest_access)
        .await
        .assert_problem(401);
    // A fresh login still works, and its audit trail names the reuse.
    let owner = Tenant {
        token: app.login(&a.email).await,
        ..a
    };
    let events = app.audit_events(&owner).await;
    let reuse = events
        .iter()
        .find(|e| e["action"] == "auth.refresh_token_reused")
        .expect("the reuse is audited");
    assert_eq!(reuse["resource_type"], "session");
    assert_eq!(reuse["resource_id"], owner.session_id.as_str());
}

async fn concurrent_refreshes_with_one_token_let_exactly_one_succeed(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let attempts = (0..8).map(|_| refresh(&app, &a.refresh_token));
    let replies = futures_util::future::join_all(attempts).await;
    let statuses = bulkhead_tests::sorted_statuses(&replies);
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(ok, 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 401),
        "{statuses:?}"
    );
}

async fn logout_stops_access_and_refresh_tokens_at_once(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let other = app.login_session(&a.email).await;
    let reply = app
        .post("/api/v1/auth/logout", Some(&a.token), json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    app.get("/api/v1/auth/me", &a.token)
        .await
        .assert_problem(401);
    app.get("/api/v1/projects", &a.token)
        .await
        .assert_problem(401);
    refresh(&app, &a.refresh_token).await.assert_problem(401);
    // Logging out again with the dead token is refused too.
    app.post("/api/v1/auth/logout", Some(&a.token), json!({}))
        .await
        .assert_problem(401);
    // The user's other session is untouched.
    let other_access = str_of(&other, "access_token");
    assert_eq!(
        app.get("/api/v1/auth/me", other_access).await.status,
        StatusCode::OK
    );
}

async fn logout_all_ends_every_session(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let other = app.login_session(&a.email).await;
    let reply = app
        .post(
            "/api/v1/auth/logout-all",
            Some(str_of(&other, "access_token")),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    for access in [a.token.as_str(), str_of(&other, "access_token")] {
        app.get("/api/v1/auth/me", access).await.assert_problem(401);
    }
    for spare in [a.refresh_token.as_str(), str_of(&other, "refresh_token")] {
        refresh(&app, spare).await.assert_problem(401);
    }
}

async fn sessions_are_listed_and_revoked_only_by_their_user(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let b = app.register("bob@example.com").await;
    let laptop = app.login_session(&a.email).await;
    let listed = app.get("/api/v1/auth/sessions", &a.token).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let sessions = listed.body["data"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{}", listed.body);
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], a.session_id.as_str());
    assert_eq!(current[0]["organization_id"], a.organization_id.as_str());
    assert!(
        !listed.body.to_string().contains("bhr_"),
        "no secret is listed"
    );

    // Another user's session is as unknown as a made-up one, and stays live.
    app.delete(&format!("/api/v1/auth/sessions/{}", b.session_id), &a.token)
        .await
        .assert_problem(404);
    assert_eq!(
        app.get("/api/v1/auth/me", &b.token).await.status,
        StatusCode::OK
    );

    let laptop_id = str_of(&laptop, "session_id");
    let revoked = app
        .delete(&format!("/api/v1/auth/sessions/{laptop_id}"), &a.token)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
    app.get("/api/v1/auth/me", str_of(&laptop, "access_token"))
        .await
        .assert_problem(401);
    refresh(&app, str_of(&laptop, "refresh_token"))
        .await
        .assert_problem(401);
    // Once ended, the session is gone from the list and cannot be ended twice.
    let listed = app.get("/api/v1/auth/sessions", &a.token).await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    app.delete(&format!("/api/v1/auth/sessions/{laptop_id}"), &a.token)
        .await
        .assert_problem(404);
    let actions = app.audit_actions(&a).await;
    assert!(
        actions.contains(&"auth.session_revoked".to_owned()),
        "{actions:?}"
    );
}

async fn tokens_of_one_kind_never_pass_for_another(app: TestApp) {
    let a = app.register("ada@example.com").await;
    // A refresh token as an access token, and an access token as a refresh token.
    app.get("/api/v1/auth/me", &a.refresh_token)
        .await
        .assert_problem(401);
    refresh(&app, &a.token).await.assert_problem(401);
    // Garbage of the right shape, and input that is not a string.
    refresh(&app, &format!("bhr_{}", "0".repeat(64)))
        .await
        .assert_problem(401);
    app.post("/api/v1/auth/refresh", None, json!({ "refresh_token": 7 }))
        .await
        .assert_problem(422);
    app.post(
        "/api/v1/auth/refresh",
        None,
        json!({ "refresh_token": a.refresh_token, "session_id": a.session_id }),
    )
    .await
    .assert_problem(422);
    // The failed attempts spent nothing: the genuine token still works once.
    assert_eq!(refresh(&app, &a.refresh_token).await.status, StatusCode::OK);
}

async fn secrets_are_stored_only_as_sha256_digests(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let next = refresh(&app, &a.refresh_token).await;
    let stored = app.stored_text(&["sessions", "refresh_tokens"]).await;
    for secret in [
        a.refresh_token.as_str(),
        str_of(&next.body, "refresh_token"),
    ] {
        assert!(
            !stored.contains(&secret[4..]),
            "a refresh token is stored in clear"
        );
        let digest = bulkhead_tests::sha256_hex(secret);
        assert!(stored.contains(&digest), "its SHA-256 digest is stored");
    }
}

async fn leaving_the_organization_ends_refresh_too(app: TestApp) {
    let a = app.register("ada@example.com").await;
    app.as_owner("DELETE FROM memberships").await;
    refresh(&app, &a.refresh_token).await.assert_problem(401);
    app.get("/api/v1/auth/me", &a.token)
        .await
        .assert_problem(401);
}

async fn switch(app: &TestApp, token: &str, org: &str) -> bulkhead_tests::Reply {
    app.post(
        "/api/v1/auth/switch-organization",
        Some(token),
        json!({ "organization_id": org }),
    )
    .await
}

async fn users_of_several_organizations_list_switch_and_choose_at_login(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let b = app.register("bob@example.com").await;
    let c = app.register("cy@example.com").await;
    app.add_member(&b, &a, "viewer").await;

    let listed = app.get("/api/v1/auth/organizations", &a.token).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let mut orgs: Vec<_> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["organization"]["id"].as_str().unwrap().to_owned(),
                m["role"].to_string(),
            )
        })
        .collect();
    orgs.sort();
    let mut expected = vec![
        (a.organization_id.clone(), "\"owner\"".to_owned()),
        (b.organization_id.clone(), "\"viewer\"".to_owned()),
    ];
    expected.sort();
    assert_eq!(orgs, expected, "only Ada's own organizations, never C's");

    // Switching to an organization one does not belong to is 404, and changes nothing.
    switch(&app, &a.token, &c.organization_id)
        .await
        .assert_problem(404);
    assert_eq!(
        app.get("/api/v1/auth/me", &a.token).await.status,
        StatusCode::OK
    );

    let moved = switch(&app, &a.token, &b.organization_id).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert_eq!(str_of(&moved.body, "session_id"), a.session_id);
    let in_b = str_of(&moved.body, "access_token");
    let me = app.get("/api/v1/auth/me", in_b).await;
    assert_eq!(me.body["organization"]["id"], b.organization_id.as_str());
    assert_eq!(me.body["role"], "viewer");
    // The session left A: its earlier tokens stop working.
    app.get("/api/v1/auth/me", &a.token)
        .await
        .assert_problem(401);
    refresh(&app, &a.refresh_token).await.assert_problem(401);

    // Login goes to the organization last used, unless the client names one.
    let login = |org: Option<&str>| {
        let mut body = json!({ "email": a.email, "password": PASSWORD });
        if let Some(org) = org {
            body["organization_id"] = json!(org);
        }
        app.post("/api/v1/auth/login", None, body)
    };
    let org_of = |reply: bulkhead_tests::Reply| {
        let app = &app;
        async move {
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            let me = app
                .get("/api/v1/auth/me", str_of(&reply.body, "access_token"))
                .await;
            me.body["organization"]["id"].as_str().unwrap().to_owned()
        }
    };
    let named = org_of(login(Some(&a.organization_id)).await).await;
    assert_eq!(named, a.organization_id);
    let last_used = org_of(login(None).await).await;
    assert_eq!(last_used, a.organization_id);
    // An organization Ada does not belong to: the same 401 as a wrong password.
    let refused = login(Some(&c.organization_id)).await;
    refused.assert_problem(401);
}

#[tokio::test]
async fn idle_sessions_expire() {
    let app = spawn_app_with(Store::Sqlite, |c| {
        c.sessions.idle_timeout = chrono::Duration::seconds(1);
    })
    .await;
    let a = app.register("ada@example.com").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    refresh(&app, &a.refresh_token).await.assert_problem(401);
}

#[tokio::test]
async fn sessions_end_at_their_lifetime_however_active() {
    let app = spawn_app_with(Store::Postgres, |c| {
        c.sessions.lifetime = chrono::Duration::seconds(2);
    })
    .await;
    let a = app.register("ada@example.com").await;
    let next = refresh(&app, &a.refresh_token).await;
    assert_eq!(next.status, StatusCode::OK);
    let access = str_of(&next.body, "access_token").to_owned();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    refresh(&app, str_of(&next.body, "refresh_token"))
        .await
        .assert_problem(401);
    // The access token is refused too, though its own expiry is minutes away.
    app.get("/api/v1/auth/me", &access)
        .await
        .assert_problem(401);
}
