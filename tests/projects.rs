//! Projects over HTTP, on SQLite and PostgreSQL: the kit's contract, and what is projects' own
//! (unique names, search and sort, the totals kept by triggers).

#![allow(clippy::unwrap_used)]

use bulkhead_tests::contract::{Contract, no_fixtures};
use bulkhead_tests::{TestApp, both_stores};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

both_stores! {
    projects_keep_the_resource_contract;
    projects_round_trip;
    names_are_unique_per_organization_ignoring_case;
    list_parameters_are_validated_not_clamped;
    search_sort_and_pagination;
    totals_follow_every_change_by_any_writer;
}

fn new_project(n: usize, _: &Value) -> Value {
    json!({ "name": format!("Project {n}"), "description": format!("About {n}") })
}

fn rename(n: usize) -> (Value, &'static str) {
    (json!({ "name": format!("Renamed {n}") }), "name")
}

async fn projects_keep_the_resource_contract(app: TestApp) {
    Contract {
        collection: "/api/v1/projects",
        item: "/api/v1/projects/{project_id}",
        table: "projects",
        name: "project",
        create: new_project,
        patch: rename,
        detail: &["stats"],
        private: false,
        setup: no_fixtures,
    }
    .check(&app)
    .await;
}

async fn projects_round_trip(app: TestApp) {
    let a = app.register("owner@example.com").await;
    let created = app
        .post(
            "/api/v1/projects",
            Some(&a.token),
            json!({ "name": "  Apollo  ", "description": "Moon" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.body["name"], "Apollo");
    assert_eq!(created.body["organization_id"], a.organization_id.as_str());
    assert_eq!(created.body["created_by"], a.user_id.as_str());
    assert_eq!(
        created.headers["location"].to_str().unwrap(),
        format!("/api/v1/projects/{id}")
    );
    let path = format!("/api/v1/projects/{id}");

    let mut fetched = app.get(&path, &a.token).await.body;
    // A single project's read carries its work, counted.
    let stats = fetched.as_object_mut().unwrap().remove("stats").unwrap();
    assert_eq!(
        stats,
        json!({ "sessions_by_status": {}, "artifacts_awaiting_review": 0 })
    );
    assert_eq!(fetched, created.body);

    let renamed = app
        .patch(&path, &a.token, json!({ "name": "Apollo 11" }))
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["name"], "Apollo 11");
    assert_eq!(
        renamed.body["description"], "Moon",
        "absent fields must stay"
    );
    // Rows are read by position: every field, the two timestamps apart now, must come back
    // from both read paths as the write answered it.
    assert_ne!(renamed.body["updated_at"], renamed.body["created_at"]);
    assert_eq!(renamed.body["created_at"], created.body["created_at"]);
    let mut fetched = app.get(&path, &a.token).await.body;
    fetched.as_object_mut().unwrap().remove("stats");
    assert_eq!(fetched, renamed.body);
    let listed = app.get("/api/v1/projects", &a.token).await;
    assert_eq!(listed.body["data"], json!([renamed.body]));

    let cleared = app
        .patch(&path, &a.token, json!({ "description": null }))
        .await;
    assert_eq!(cleared.body["description"], json!(null));
    assert_eq!(cleared.body["name"], "Apollo 11");

    let null_name = app.patch(&path, &a.token, json!({ "name": null })).await;
    null_name.assert_problem(422);
    assert_eq!(null_name.error_fields(), ["name"]);

    let too_long = app
        .patch(&path, &a.token, json!({ "name": "x".repeat(201) }))
        .await;
    too_long.assert_problem(422);
    assert_eq!(app.get(&path, &a.token).await.body["name"], "Apollo 11");

    let deleted = app.delete(&path, &a.token).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    app.get(&path, &a.token).await.assert_problem(404);
    let with_deleted = app
        .get("/api/v1/projects?include_deleted=true", &a.token)
        .await;
    assert_eq!(with_deleted.body["total"], 1);
    assert!(
        with_deleted.body["data"][0]["deleted_at"].is_string(),
        "{}",
        with_deleted.body
    );
    app.delete(&path, &a.token).await.assert_problem(404);
}

async fn names_are_unique_per_organization_ignoring_case(app: TestApp) {
    let a = app.register("a@example.com").await;
    let b = app.register("b@example.com").await;
    app.create_project(&a, "Apollo").await;
    let clash = app
        .post(
            "/api/v1/projects",
            Some(&a.token),
            json!({ "name": "APOLLO" }),
        )
        .await;
    clash.assert_problem(409);
    // The message is fixed: it says nothing about the clashing row.
    assert_eq!(
        clash.body["detail"],
        "a project with this name already exists"
    );
    // Another organization may use the name.
    app.create_project(&b, "apollo").await;
    // Renaming onto a taken name clashes too.
    let gemini = app.create_project(&a, "Gemini").await;
    let rename = app
        .patch(
            &format!("/api/v1/projects/{}", gemini["id"].as_str().unwrap()),
            &a.token,
            json!({ "name": "apollo" }),
        )
        .await;
    rename.assert_problem(409);
    assert_eq!(app.get("/api/v1/projects", &a.token).await.body["total"], 2);
}

async fn list_parameters_are_validated_not_clamped(app: TestApp) {
    let a = app.register("a@example.com").await;
    for (query, field) in [
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("limit=-5", "limit"),
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
        ("sort=password_hash", "sort"),
        ("sort=-organization_id", "sort"),
        ("unknown=1", "unknown"),
    ] {
        let reply = app
            .get(&format!("/api/v1/projects?{query}"), &a.token)
            .await;
        reply.assert_problem(422);
        assert_eq!(reply.error_fields(), [field], "for {query}");
    }
    let ok = app
        .get("/api/v1/projects?limit=100&offset=0&sort=-name", &a.token)
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body["limit"], 100);
}

async fn search_sort_and_pagination(app: TestApp) {
    let a = app.register("a@example.com").await;
    for name in ["Charlie", "alpha", "Bravo", "50% off", "under_score"] {
        app.create_project(&a, name).await;
    }
    let names = |reply: &bulkhead_tests::Reply| -> Vec<String> {
        reply.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let page = app
        .get("/api/v1/projects?sort=name&limit=2", &a.token)
        .await;
    assert_eq!(names(&page), ["50% off", "Bravo"]);
    assert_eq!(
        (page.body["total"].clone(), page.body["has_more"].clone()),
        (json!(5), json!(true))
    );
    let last = app
        .get("/api/v1/projects?sort=name&limit=2&offset=4", &a.token)
        .await;
    assert_eq!(names(&last), ["under_score"]);
    assert_eq!(last.body["has_more"], false);

    let newest = app.get("/api/v1/projects?limit=1", &a.token).await;
    assert_eq!(
        names(&newest),
        ["under_score"],
        "default order is newest first"
    );

    let search = app.get("/api/v1/projects?q=ALPH", &a.token).await;
    assert_eq!(names(&search), ["alpha"]);
    // Wildcards in the search are literal.
    let percent = app.get("/api/v1/projects?q=%25", &a.token).await;
    assert_eq!(names(&percent), ["50% off"]);
    let underscore = app.get("/api/v1/projects?q=_", &a.token).await;
    assert_eq!(names(&underscore), ["under_score"]);
}

/// The unfiltered total comes from a count the database keeps (migration 14); it must agree
/// with the rows whoever writes them: the server, concurrent requests, the purge, or SQL.
async fn totals_follow_every_change_by_any_writer(app: TestApp) {
    let a = app.register("a@example.com").await;
    let b = app.register("b@example.com").await;
    let totals = |token: String| {
        let app = &app;
        async move {
            let mut seen = Vec::new();
            for query in ["", "?include_deleted=true", "?offset=1000", "?q=p"] {
                let reply = app.get(&format!("/api/v1/projects{query}"), &token).await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                seen.push(reply.body["total"].as_u64().unwrap());
            }
            seen
        }
    };
    assert_eq!(totals(a.token.clone()).await, [0, 0, 0, 0]);

    let created = futures_util::future::join_all((0..12).map(|n| {
        app.post(
            "/api/v1/projects",
            Some(&a.token),
            json!({ "name": format!("p{n}") }),
        )
    }))
    .await;
    assert!(created.iter().all(|r| r.status == StatusCode::CREATED));
    app.create_project(&b, "theirs").await;
    assert_eq!(totals(a.token.clone()).await, [12, 12, 12, 12]);
    assert_eq!(totals(b.token.clone()).await, [1, 1, 1, 0]);

    let ids: Vec<String> = created
        .iter()
        .map(|r| r.body["id"].as_str().unwrap().to_owned())
        .collect();
    for id in &ids[..3] {
        let gone = app
            .delete(&format!("/api/v1/projects/{id}"), &a.token)
            .await;
        assert_eq!(gone.status, StatusCode::NO_CONTENT);
    }
    assert_eq!(totals(a.token.clone()).await, [9, 12, 9, 9]);
    // Editing a project, deleted or not, changes no count.
    let renamed = app
        .patch(
            &format!("/api/v1/projects/{}", ids[4]),
            &a.token,
            json!({ "name": "renamed" }),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    let restored = app
        .post(
            &format!("/api/v1/projects/{}/restore", ids[0]),
            Some(&a.token),
            json!({}),
        )
        .await;
    assert_eq!(restored.status, StatusCode::OK, "{}", restored.body);
    assert_eq!(totals(a.token.clone()).await, [10, 12, 10, 9]);

    // Behind the server's back: a row written and one removed directly in SQL, and the purge.
    app.as_owner(&format!(
        "INSERT INTO projects (organization_id, id, name, created_by, created_at, updated_at, version) \
         VALUES ({}, {}, 'p-sql', {}, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)",
        app.uuid_literal(&a.organization_id),
        app.uuid_literal(&Uuid::now_v7().to_string()),
        app.uuid_literal(&a.user_id),
    ))
    .await;
    app.as_owner(&format!(
        "DELETE FROM projects WHERE id = {}",
        app.uuid_literal(&ids[5])
    ))
    .await;
    assert_eq!(totals(a.token.clone()).await, [10, 12, 10, 9]);
    app.as_owner(&format!(
        "UPDATE projects SET deleted_at = '2001-01-01T00:00:00+00:00' WHERE id IN ({}, {})",
        app.uuid_literal(&ids[1]),
        app.uuid_literal(&ids[2])
    ))
    .await;
    let removed = bulkhead_server::purge(&app.owner_url(), chrono::Duration::days(30))
        .await
        .unwrap();
    assert_eq!(removed, 2);
    assert_eq!(totals(a.token.clone()).await, [10, 10, 10, 9]);
    assert_eq!(totals(b.token.clone()).await, [1, 1, 1, 0]);
}
