//! API keys over HTTP, on SQLite and PostgreSQL (SECURITY-CASES 19 and 20).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bulkhead_tests::{PASSWORD, Tenant, TestApp, both_stores};
use reqwest::StatusCode;
use serde_json::{Value, json};

both_stores! {
    a_key_acts_in_its_organization_with_its_scopes_only;
    wrong_revoked_and_expired_keys_are_unauthorized_at_once;
    keys_never_reach_another_organization;
    only_admins_and_owners_manage_keys_and_keys_manage_nothing;
    secrets_are_shown_once_and_stored_only_as_digests;
    invalid_key_requests_change_nothing;
    a_key_holds_only_what_its_creator_still_holds;
    a_departing_creator_takes_their_keys_along;
    an_idempotency_key_belongs_to_its_principal_and_is_authorized_first;
    key_scopes_are_every_permission_not_only_a_persons;
}

async fn create_key(app: &TestApp, owner: &Tenant, scopes: &[&str]) -> Value {
    app.create_api_key(owner, scopes).await
}

async fn create_key_with(app: &TestApp, owner: &Tenant, body: Value) -> Value {
    let reply = app.post("/api/v1/api-keys", Some(&owner.token), body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

fn secret(key: &Value) -> &str {
    key["secret"].as_str().unwrap()
}

async fn a_key_acts_in_its_organization_with_its_scopes_only(app: TestApp) {
    let a = app.register("ada@example.com").await;
    app.create_project(&a, "Apollo").await;
    let reader = create_key(&app, &a, &["projects:read"]).await;
    assert!(secret(&reader).starts_with(&format!("bhk_{}_", reader["prefix"].as_str().unwrap())));
    assert_eq!(reader["scopes"], json!(["projects:read"]));

    let listed = app.get("/api/v1/projects", secret(&reader)).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["total"], 1);
    // Reading is all it may do.
    app.post(
        "/api/v1/projects",
        Some(secret(&reader)),
        json!({ "name": "Gemini" }),
    )
    .await
    .assert_problem(403);
    app.get("/api/v1/audit-events", secret(&reader))
        .await
        .assert_problem(403);

    // A writer creates, on behalf of the key's creator, and the audit trail names the key.
    let writer = create_key(&app, &a, &["projects:read", "projects:write"]).await;
    let created = app
        .post(
            "/api/v1/projects",
            Some(secret(&writer)),
            json!({ "name": "Gemini" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["created_by"], a.user_id.as_str());
    let events = app.audit_events(&a).await;
    let by_key = events
        .iter()
        .find(|e| e["action"] == "project.created" && e["actor_type"] == "api_key")
        .expect("the key is the recorded actor");
    assert_eq!(by_key["actor_id"], writer["id"]);
}

async fn wrong_revoked_and_expired_keys_are_unauthorized_at_once(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let key = create_key(&app, &a, &["projects:read"]).await;
    let good = secret(&key).to_owned();
    assert_eq!(
        app.get("/api/v1/projects", &good).await.status,
        StatusCode::OK
    );
    // The right prefix with a wrong secret, a truncated key, a key-shaped stranger.
    let last = good.chars().last().unwrap();
    let flipped = format!(
        "{}{}",
        &good[..good.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    let prefix_only = format!("bhk_{}_", key["prefix"].as_str().unwrap());
    let stranger = format!("bhk_{}_{}", "0".repeat(16), "0".repeat(64));
    for bad in [&flipped, &good[..good.len() - 1], &prefix_only, &stranger] {
        app.get("/api/v1/projects", bad).await.assert_problem(401);
    }
    // Revoked: refused on the very next request.
    let revoked = app
        .delete(
            &format!("/api/v1/api-keys/{}", key["id"].as_str().unwrap()),
            &a.token,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
    app.get("/api/v1/projects", &good).await.assert_problem(401);
    let listed = app.get("/api/v1/api-keys", &a.token).await;
    assert_eq!(listed.body["total"], 0, "{}", listed.body);
    // Expired: refused once its time has passed.
    let expires_at = (chrono::Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339();
    let brief = create_key_with(
        &app,
        &a,
        json!({ "name": "brief", "scopes": ["projects:read"], "expires_at": expires_at }),
    )
    .await;
    assert_eq!(
        app.get("/api/v1/projects", secret(&brief)).await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(2000)).await;
    app.get("/api/v1/projects", secret(&brief))
        .await
        .assert_problem(401);
}

async fn keys_never_reach_another_organization(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let b = app.register("bob@example.com").await;
    let project_b = app.create_project(&b, "B's").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key_a = create_key(
        &app,
        &a,
        &["projects:read", "projects:write", "projects:delete"],
    )
    .await;
    let key = secret(&key_a);
    let path = format!("/api/v1/projects/{project_b}");
    app.get(&path, key).await.assert_problem(404);
    app.patch(&path, key, json!({ "name": "taken" }))
        .await
        .assert_problem(404);
    app.delete(&path, key).await.assert_problem(404);
    let listed = app.get("/api/v1/projects", key).await;
    assert_eq!(listed.body["total"], 0);
    // B cannot see or revoke A's key either.
    let key_path = format!("/api/v1/api-keys/{}", key_a["id"].as_str().unwrap());
    app.delete(&key_path, &b.token).await.assert_problem(404);
    assert_eq!(app.get("/api/v1/api-keys", &b.token).await.body["total"], 0);
    assert_eq!(
        app.get("/api/v1/projects", key).await.status,
        StatusCode::OK
    );
    assert_eq!(app.get(&path, &b.token).await.body["name"], "B's");
}

async fn only_admins_and_owners_manage_keys_and_keys_manage_nothing(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let m = app.register("mia@example.com").await;
    app.add_member(&a, &m, "member").await;
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": m.email, "password": PASSWORD, "organization_id": a.organization_id }),
        )
        .await;
    let member = login.body["access_token"].as_str().unwrap();
    app.post(
        "/api/v1/api-keys",
        Some(member),
        json!({ "name": "mine", "scopes": ["projects:read"] }),
    )
    .await
    .assert_problem(403);
    app.get("/api/v1/api-keys", member)
        .await
        .assert_problem(403);

    let key = create_key(&app, &a, &["projects:read", "audit:read"]).await;
    let key_secret = secret(&key);
    // A key cannot make keys, list them, or use a person's endpoints.
    for reply in [
        app.post(
            "/api/v1/api-keys",
            Some(key_secret),
            json!({ "name": "child", "scopes": ["projects:read"] }),
        )
        .await,
        app.get("/api/v1/api-keys", key_secret).await,
        app.get("/api/v1/auth/sessions", key_secret).await,
        app.post("/api/v1/auth/logout", Some(key_secret), json!({}))
            .await,
        app.get("/api/v1/auth/me", key_secret).await,
    ] {
        reply.assert_problem(403);
    }
    // Nor can anyone grant a key the right to manage keys.
    app.post(
        "/api/v1/api-keys",
        Some(&a.token),
        json!({ "name": "root", "scopes": ["api_keys:manage"] }),
    )
    .await
    .assert_problem(422);
}

async fn secrets_are_shown_once_and_stored_only_as_digests(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let key = create_key(&app, &a, &["projects:read"]).await;
    let key_secret = secret(&key);
    let body_of_secret = &key_secret[key_secret.rfind('_').unwrap() + 1..];
    let listed = app.get("/api/v1/api-keys", &a.token).await;
    assert_eq!(listed.body["total"], 1);
    assert_eq!(listed.body["data"][0]["id"], key["id"]);
    assert!(listed.body["data"][0].get("secret").is_none());
    assert!(!listed.body.to_string().contains(body_of_secret));
    let events = app.audit_events(&a).await;
    assert!(
        !serde_json::to_string(&events)
            .unwrap()
            .contains(body_of_secret)
    );
    let stored = app.stored_text(&["api_keys", "audit_events"]).await;
    assert!(
        !stored.contains(body_of_secret),
        "the secret is stored in clear"
    );
    let digest = bulkhead_tests::sha256_hex(key_secret);
    assert!(stored.contains(&digest), "its SHA-256 digest is stored");
}

async fn invalid_key_requests_change_nothing(app: TestApp) {
    let a = app.register("ada@example.com").await;
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    for (body, field) in [
        (json!({ "name": "", "scopes": ["projects:read"] }), "name"),
        (json!({ "name": "x", "scopes": [] }), "scopes"),
        (
            json!({ "name": "x", "scopes": ["projects:*"] }),
            "scopes[0]",
        ),
        (
            json!({ "name": "x", "scopes": ["projects:read"], "expires_at": past }),
            "expires_at",
        ),
        (
            json!({ "name": "x", "scopes": ["projects:read"], "organization_id": a.organization_id }),
            "organization_id",
        ),
    ] {
        let reply = app.post("/api/v1/api-keys", Some(&a.token), body).await;
        reply.assert_problem(422);
        let fields: Vec<_> = reply.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            fields.iter().any(|f| f.starts_with(field)),
            "{field}: {}",
            reply.body
        );
    }
    assert_eq!(app.get("/api/v1/api-keys", &a.token).await.body["total"], 0);
    app.delete(
        &format!("/api/v1/api-keys/{}", uuid::Uuid::now_v7()),
        &a.token,
    )
    .await
    .assert_problem(404);
}

/// The keys `creator` made, by revocation reason, as the audit trail recorded them.
async fn revocations(app: &TestApp, owner: &Tenant) -> Vec<(String, String)> {
    app.audit_events(owner)
        .await
        .iter()
        .filter(|e| e["action"] == "api_key.revoked")
        .map(|e| {
            (
                e["resource_id"].as_str().unwrap().to_owned(),
                e["changes"]["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

// SECURITY-CASES 17 and 20; issue F1: a key acts on its creator's authority.
async fn a_key_holds_only_what_its_creator_still_holds(app: TestApp) {
    let owner = app.register("olga@example.com").await;
    let admin = app.member_token(&owner, "ada@example.com", "admin").await;
    let key = create_key(&app, &admin, &["projects:read", "projects:write"]).await;
    let key_secret = secret(&key).to_owned();
    let created = app
        .post(
            "/api/v1/projects",
            Some(&key_secret),
            json!({ "name": "Apollo" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);

    // Demoted to viewer: the key narrows at once to what a viewer may do.
    let demoted = app
        .patch(
            &format!("/api/v1/members/{}", admin.user_id),
            &owner.token,
            json!({ "role": "viewer" }),
        )
        .await;
    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.body);
    app.post(
        "/api/v1/projects",
        Some(&key_secret),
        json!({ "name": "Gemini" }),
    )
    .await
    .assert_problem(403);
    assert_eq!(
        app.get("/api/v1/projects", &key_secret).await.body["total"],
        1
    );
    // Promoted again: the key's own scopes are still its ceiling, and they are back.
    app.patch(
        &format!("/api/v1/members/{}", admin.user_id),
        &owner.token,
        json!({ "role": "admin" }),
    )
    .await;
    let again = app
        .post(
            "/api/v1/projects",
            Some(&key_secret),
            json!({ "name": "Gemini" }),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    app.delete(
        &format!("/api/v1/projects/{}", again.body["id"].as_str().unwrap()),
        &key_secret,
    )
    .await
    .assert_problem(403);

    // Removed: the key is revoked with the membership, and says so in the audit trail.
    let removed = app
        .delete(&format!("/api/v1/members/{}", admin.user_id), &owner.token)
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.body);
    app.get("/api/v1/projects", &key_secret)
        .await
        .assert_problem(401);
    app.post(
        "/api/v1/projects",
        Some(&key_secret),
        json!({ "name": "Skylab" }),
    )
    .await
    .assert_problem(401);
    assert_eq!(
        revocations(&app, &owner).await,
        [(
            key["id"].as_str().unwrap().to_owned(),
            "creator_removed".to_owned()
        )]
    );
    let listed = app.get("/api/v1/api-keys", &owner.token).await;
    assert_eq!(listed.body["total"], 0, "{}", listed.body);
    // Nothing was created in the removed creator's name after the removal.
    assert_eq!(
        app.get("/api/v1/projects", &owner.token).await.body["total"],
        2
    );
}

async fn a_departing_creator_takes_their_keys_along(app: TestApp) {
    let owner = app.register("olga@example.com").await;
    let admin = app.member_token(&owner, "ada@example.com", "admin").await;
    let first = create_key(&app, &admin, &["projects:read"]).await;
    let second = create_key(&app, &admin, &["projects:read"]).await;
    let owners_key = create_key(&app, &owner, &["projects:read"]).await;
    let left = app.delete("/api/v1/members/me", &admin.token).await;
    assert_eq!(left.status, StatusCode::NO_CONTENT, "{}", left.body);
    for key in [&first, &second] {
        app.get("/api/v1/projects", secret(key))
            .await
            .assert_problem(401);
    }
    // Only the leaver's keys go; an owner mints new ones as needed.
    assert_eq!(
        app.get("/api/v1/projects", secret(&owners_key))
            .await
            .status,
        StatusCode::OK
    );
    let mut revoked = revocations(&app, &owner).await;
    revoked.sort();
    let mut expected = vec![
        (
            first["id"].as_str().unwrap().to_owned(),
            "creator_left".to_owned(),
        ),
        (
            second["id"].as_str().unwrap().to_owned(),
            "creator_left".to_owned(),
        ),
    ];
    expected.sort();
    assert_eq!(revoked, expected);
}

// Issue F2: an Idempotency-Key replay is no way around authorization, nor an oracle.
async fn an_idempotency_key_belongs_to_its_principal_and_is_authorized_first(app: TestApp) {
    let owner = app.register("olga@example.com").await;
    let reader = create_key(&app, &owner, &["organization:read"]).await;
    let writer = create_key(&app, &owner, &["projects:read", "projects:write"]).await;
    let post = async |token: String, key: &str, name: &str| {
        app.post_once("/api/v1/projects", &token, key, &json!({ "name": name }))
            .await
    };
    let first = post(owner.token.clone(), "order-1", "Apollo").await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    // Without projects:write: 403 whether or not the key was used, and no stored body.
    for key in ["order-1", "never-used"] {
        let refused = post(secret(&reader).to_owned(), key, "Apollo").await;
        refused.assert_problem(403);
        assert!(!refused.body.to_string().contains("Apollo"));
    }
    // Another principal with the right to write: the same key is a different key, so its
    // own request runs (with the owner's key it would be a 422 for another body).
    let other = post(secret(&writer).to_owned(), "order-1", "Gemini").await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.body);
    assert_ne!(other.body["id"], first.body["id"]);
    assert!(other.headers.get("idempotent-replayed").is_none());
    // The owner's retry still replays the owner's response.
    let retry = post(owner.token.clone(), "order-1", "Apollo").await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.body["id"], first.body["id"]);
    assert_eq!(retry.headers["idempotent-replayed"], "true");
    assert_eq!(
        app.get("/api/v1/projects", &owner.token).await.body["total"],
        2
    );
    // Each refusal is on the record.
    let denied = app
        .audit_events(&owner)
        .await
        .iter()
        .filter(|e| e["action"] == "permission.denied" && e["actor_type"] == "api_key")
        .count();
    assert_eq!(denied, 2);
}

// Issue 18: key scopes come from the permission catalogue, so a new resource's permissions
// are scopes at once; only the person-only ones are refused.
async fn key_scopes_are_every_permission_not_only_a_persons(app: TestApp) {
    let owner = app.register("olga@example.com").await;
    let catalogue = app.get("/api/v1/permissions", &owner.token).await;
    let for_keys: Vec<String> = catalogue.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["api_keys"] == true)
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    let person_only: Vec<String> = catalogue.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["api_keys"] == false)
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        person_only,
        [
            "organization:delete",
            "organization:export",
            "members:invite",
            "members:manage",
            "roles:manage",
            "api_keys:manage",
            "billing:manage",
            "conversations:use"
        ]
    );
    let scopes: Vec<&str> = for_keys.iter().map(String::as_str).collect();
    let key = create_key(&app, &owner, &scopes).await;
    assert_eq!(key["scopes"], json!(scopes));
    // A scope beyond projects works as any other.
    let members = app.get("/api/v1/members", secret(&key)).await;
    assert_eq!(members.status, StatusCode::OK, "{}", members.body);
    for refused in &person_only {
        let reply = app
            .post(
                "/api/v1/api-keys",
                Some(&owner.token),
                json!({ "name": "x", "scopes": [refused] }),
            )
            .await;
        reply.assert_problem(422);
        assert_eq!(reply.body["errors"][0]["field"], "scopes[0]");
        assert_eq!(reply.body["errors"][0]["code"], "not_grantable");
    }
}
