//! Documents over HTTP, on both stores: multipart uploads streamed to the blob store and
//! checked (size, type against bytes, file name), downloads, background extraction of every
//! accepted type into searchable chunks, the plan's storage limit, deletion and the purge of
//! the bytes, permissions and the cross-tenant contract on every route; and the S3 adapter
//! against a real S3-compatible server (moto, from PyPI) that the test starts.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bulkhead_domain::billing::PlanCatalogue;
use bulkhead_tests::{Reply, Store, Tenant, TestApp, both_stores, spawn_app_with};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

both_stores! {
    an_upload_streams_in_and_downloads_as_it_was;
    every_accepted_type_is_extracted_and_searchable;
    every_route_hides_other_tenants;
    permissions_follow_the_roles;
}

mod limited {
    use super::*;

    bulkhead_tests::on_both_stores! {
        refused_uploads_keep_nothing;
        storage_counts_against_the_plan;
    }
}

fn file(bytes: &[u8], name: &str, mime: &str) -> Part {
    Part::bytes(bytes.to_vec())
        .file_name(name.to_owned())
        .mime_str(mime)
        .unwrap()
}

async fn upload_form(app: &TestApp, tenant: &Tenant, form: Form) -> Reply {
    app.raw(
        app.client
            .post(app.url("/api/v1/documents"))
            .bearer_auth(&tenant.token)
            .multipart(form),
    )
    .await
}

async fn upload(app: &TestApp, tenant: &Tenant, bytes: &[u8], name: &str, mime: &str) -> Value {
    let reply = upload_form(
        app,
        tenant,
        Form::new().part("file", file(bytes, name, mime)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

fn path_of(document: &Value) -> String {
    format!("/api/v1/documents/{}", document["id"].as_str().unwrap())
}

/// Waits until the document's text is indexed (or failed), and answers it.
async fn processed(app: &TestApp, tenant: &Tenant, document: &Value, wanted: &str) -> Value {
    app.settled(&path_of(document), &tenant.token, wanted).await
}

/// The files under a storage directory, relative to it.
fn stored_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(
                    path.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    found.sort();
    found
}

fn storage_of(app: &TestApp) -> PathBuf {
    PathBuf::from(&app.storage_url)
}

async fn an_upload_streams_in_and_downloads_as_it_was(app: TestApp) {
    let a = app.register("docs@example.com").await;
    let text = "Quarterly planning notes.\nRevenue grew in the north.\n".repeat(2000);
    let document = upload(
        &app,
        &a,
        text.as_bytes(),
        "../../etc/plans.txt",
        "text/plain",
    )
    .await;
    assert_eq!(document["filename"], "plans.txt", "the path is gone");
    assert_eq!(document["title"], "plans.txt");
    assert_eq!(document["content_type"], "text/plain");
    assert_eq!(document["size_bytes"], text.len());
    assert_eq!(
        document["sha256"],
        hex::encode(Sha256::digest(text.as_bytes()))
    );
    assert_eq!(document["status"], "uploaded");
    assert_eq!(document["created_by"], json!(a.user_id));
    // The bytes live under a key made of ids only.
    let files = stored_files(&storage_of(&app));
    assert_eq!(
        files,
        [format!(
            "organizations/{}/documents/{}",
            a.organization_id,
            document["id"].as_str().unwrap()
        )]
    );

    let download = app
        .client
        .get(app.url(&format!("{}/content", path_of(&document))))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    let headers = download.headers().clone();
    assert_eq!(headers["content-type"], "text/plain");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        headers["content-disposition"],
        "attachment; filename=\"plans.txt\""
    );
    assert_eq!(headers["content-length"], text.len().to_string().as_str());
    assert_eq!(download.bytes().await.unwrap(), text.as_bytes());

    let ready = processed(&app, &a, &document, "ready").await;
    assert!(ready["chunk_count"].as_i64().unwrap() > 50, "{ready}");
    let found = app
        .get("/api/v1/documents/search?q=revenue%20north", &a.token)
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    let hits = found.body["data"].as_array().unwrap();
    assert_eq!(hits.len(), 10, "the default limit");
    assert_eq!(hits[0]["document_id"], document["id"]);
    assert!(hits[0]["content"].as_str().unwrap().contains("Revenue"));
    assert!(hits[0]["rank"].as_f64().unwrap() > 0.0);

    // A title and a project; lists filter by both and by type.
    let project = app.create_project(&a, "Finance").await;
    let titled = upload_form(
        &app,
        &a,
        Form::new()
            .text("title", "Budget 2027")
            .text("project_id", project["id"].as_str().unwrap().to_owned())
            .part(
                "file",
                file(b"{\"budget\": 12}", "budget.json", "application/json"),
            ),
    )
    .await;
    assert_eq!(titled.status, StatusCode::CREATED, "{}", titled.body);
    assert_eq!(titled.body["title"], "Budget 2027");
    assert_eq!(titled.body["project_id"], project["id"]);
    assert_eq!(
        titled.headers["location"].to_str().unwrap(),
        path_of(&titled.body)
    );
    let in_project = app
        .get(
            &format!(
                "/api/v1/documents?project_id={}",
                project["id"].as_str().unwrap()
            ),
            &a.token,
        )
        .await;
    assert_eq!(in_project.body["total"], 1);
    let json_only = app
        .get("/api/v1/documents?content_type=application/json", &a.token)
        .await;
    assert_eq!(json_only.body["total"], 1);
    let renamed = app
        .patch(
            &path_of(&titled.body),
            &a.token,
            json!({ "title": "Budget" }),
        )
        .await;
    assert_eq!(renamed.body["title"], "Budget");
    assert_eq!(renamed.body["version"], 2);

    // Deleted: gone from lists and searches, restorable; the purge removes row and bytes.
    assert_eq!(
        app.delete(&path_of(&document), &a.token).await.status,
        StatusCode::NO_CONTENT
    );
    app.get(&format!("{}/content", path_of(&document)), &a.token)
        .await
        .assert_problem(404);
    let gone = app
        .get("/api/v1/documents/search?q=revenue", &a.token)
        .await;
    assert_eq!(gone.body["data"], json!([]));
    assert_eq!(storage_used(&app, &a).await, (text.len() + 14) as i64);
    let long_ago = match app.store {
        Store::Postgres => "2001-01-01 00:00:00+00:00",
        Store::Sqlite => "2001-01-01T00:00:00+00:00",
    };
    app.as_owner(&format!(
        "UPDATE documents SET deleted_at = '{long_ago}' WHERE deleted_at IS NOT NULL"
    ))
    .await;
    bulkhead_server::purge(&app.owner_url(), chrono::Duration::days(30))
        .await
        .unwrap();
    assert_eq!(
        storage_used(&app, &a).await,
        14,
        "the purged bytes no longer count"
    );
    let swept =
        bulkhead_server::sweep_blobs(&app.owner_url(), &app.storage_url, chrono::Duration::zero())
            .await
            .unwrap();
    assert_eq!(swept, 1);
    let files = stored_files(&storage_of(&app));
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with(titled.body["id"].as_str().unwrap()));
}

/// The organization's stored bytes, as `/usage` reports them.
async fn storage_used(app: &TestApp, tenant: &Tenant) -> i64 {
    let usage = app.get("/api/v1/usage", &tenant.token).await;
    usage.body["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["quota"] == "storage_bytes")
        .map(|l| l["used"].as_i64().unwrap())
        .unwrap()
}

/// A one-page PDF whose page says `text`, with a correct cross-reference table.
fn pdf(text: &str) -> Vec<u8> {
    let stream = format!("BT /F1 24 Tf 72 700 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
         /Resources << /Font << /F1 5 0 R >> >> >>"
            .to_owned(),
        format!(
            "<< /Length {} >>\nstream\n{stream}\nendstream",
            stream.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (n, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", n + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

async fn every_accepted_type_is_extracted_and_searchable(app: TestApp) {
    let a = app.register("types@example.com").await;
    let cases: [(&str, &str, Vec<u8>); 6] = [
        ("a.txt", "text/plain", b"plain walrus text".to_vec()),
        (
            "b.md",
            "text/markdown",
            b"# Heading\n\nmarkdown narwhal *body*".to_vec(),
        ),
        ("c.csv", "text/csv", b"animal,count\nplatypus,3\n".to_vec()),
        (
            "d.json",
            "application/json",
            br#"{"animal": "axolotl"}"#.to_vec(),
        ),
        (
            "e.html",
            "text/html",
            b"<html><head><title>t</title></head><body><p>html <b>okapi</b> page</p></body></html>"
                .to_vec(),
        ),
        ("f.pdf", "application/pdf", pdf("Quarterly pangolin report")),
    ];
    let mut documents = Vec::new();
    for (name, mime, bytes) in &cases {
        documents.push(upload(&app, &a, bytes, name, mime).await);
    }
    for (document, word) in documents.iter().zip([
        "walrus", "narwhal", "platypus", "axolotl", "okapi", "pangolin",
    ]) {
        let ready = processed(&app, &a, document, "ready").await;
        assert!(ready["chunk_count"].as_i64().unwrap() >= 1, "{ready}");
        let found = app
            .get(&format!("/api/v1/documents/search?q={word}"), &a.token)
            .await;
        let hits = found.body["data"].as_array().unwrap();
        assert_eq!(hits.len(), 1, "{word}: {}", found.body);
        assert_eq!(hits[0]["document_id"], document["id"], "{word}");
        assert!(
            hits[0]["content"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains(word),
            "{word}: {}",
            hits[0]
        );
    }
    // HTML's tags are not text.
    let tags = app
        .get("/api/v1/documents/search?q=html%20title%20b", &a.token)
        .await;
    assert!(
        tags.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| !h["content"].as_str().unwrap().contains("<b>"))
    );
    // A file that claims to be a PDF and breaks after its header: stored, then failed.
    let broken = upload(
        &app,
        &a,
        b"%PDF-1.7\nthis is not really a pdf",
        "g.pdf",
        "application/pdf",
    )
    .await;
    let failed = processed(&app, &a, &broken, "failed").await;
    assert!(failed["error"].is_string(), "{failed}");
    // Text is decoded as it is read: characters cut between the pieces read are whole in
    // its chunks, and bytes that are not UTF-8 past the checked head fail the document.
    let long = format!("{} ocelot", "señor niño café ".repeat(20_000));
    let long = upload(&app, &a, long.as_bytes(), "long.txt", "text/plain").await;
    let long = processed(&app, &a, &long, "ready").await;
    assert!(long["chunk_count"].as_i64().unwrap() > 300, "{long}");
    let found = app.get("/api/v1/documents/search?q=ocelot", &a.token).await;
    assert_eq!(
        found.body["data"][0]["document_id"], long["id"],
        "{}",
        found.body
    );
    let hits = app.get("/api/v1/documents/search?q=niño", &a.token).await;
    let hits = hits.body["data"].as_array().unwrap();
    assert_eq!(hits.len(), 10, "{hits:?}");
    assert!(
        hits.iter().all(|h| h["content"]
            .as_str()
            .unwrap()
            .split(' ')
            .all(|word| ["señor", "niño", "café"].contains(&word))),
        "{hits:?}"
    );
    let mut bad = "plain words ".repeat(20_000).into_bytes();
    bad.extend_from_slice(&[0xff, 0xfe]);
    let bad = upload(&app, &a, &bad, "bad.txt", "text/plain").await;
    let bad = processed(&app, &a, &bad, "failed").await;
    assert_eq!(bad["error"], "the text is not UTF-8", "{bad}");
    assert_eq!(bad["chunk_count"], 0, "{bad}");
    // Search input is words, never query syntax.
    for q in [
        "walrus OR narwhal",
        "\"walrus",
        "walrus*",
        "NEAR(walrus narwhal)",
        "' OR 1=1 --",
    ] {
        let reply = app
            .raw(
                app.client
                    .get(app.url("/api/v1/documents/search"))
                    .query(&[("q", q)])
                    .bearer_auth(&a.token),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{q}: {}", reply.body);
    }
    for query in [
        "q=",
        "q=x&limit=0",
        "q=x&limit=51",
        "limit=5",
        &format!("q={}", "x".repeat(201)),
    ] {
        app.get(&format!("/api/v1/documents/search?{query}"), &a.token)
            .await
            .assert_problem(422);
    }
}

async fn refused_uploads_keep_nothing(store: Store) {
    let app = spawn_app_with(store, |config| config.max_upload_bytes = 4096).await;
    let a = app.register("refused@example.com").await;
    let big = vec![b'a'; 5000];
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    let cases: Vec<(Form, u16)> = vec![
        (
            Form::new().part("file", file(&big, "big.txt", "text/plain")),
            413,
        ),
        (
            Form::new().part("file", file(png, "img.txt", "text/plain")),
            415,
        ),
        (
            Form::new().part("file", file(b"just text", "fake.pdf", "application/pdf")),
            415,
        ),
        (
            Form::new().part("file", file(png, "img.png", "image/png")),
            415,
        ),
        (
            Form::new().part(
                "file",
                file(
                    b"MZ\x90\0\x03\0\0\0",
                    "tool.exe",
                    "application/octet-stream",
                ),
            ),
            415,
        ),
        (
            Form::new().part("file", file(b"hello", "a.json", "application/json")),
            415,
        ),
        (
            Form::new().part("file", file(b"", "empty.txt", "text/plain")),
            422,
        ),
        (Form::new().text("title", "no file"), 422),
        (
            Form::new()
                .part("file", file(b"ok", "a.txt", "text/plain"))
                .text("organization_id", a.organization_id.clone()),
            422,
        ),
        (
            Form::new()
                .text("title", "x".repeat(201))
                .part("file", file(b"ok", "a.txt", "text/plain")),
            422,
        ),
        (
            Form::new()
                .part("file", file(b"ok", "a.txt", "text/plain"))
                .text("title", "x".repeat(201)),
            422,
        ),
        (
            Form::new()
                .part("file", file(b"ok", "a.txt", "text/plain"))
                .text("project_id", Uuid::now_v7().to_string()),
            422,
        ),
    ];
    for (n, (form, status)) in cases.into_iter().enumerate() {
        let reply = upload_form(&app, &a, form).await;
        reply.assert_problem(status);
        assert_eq!(
            app.get("/api/v1/documents?include_deleted=true", &a.token)
                .await
                .body["total"],
            0,
            "case {n} stored a document"
        );
        assert_eq!(
            stored_files(&storage_of(&app)),
            Vec::<String>::new(),
            "case {n} kept bytes"
        );
    }
    // Not multipart at all.
    let json_body = app
        .post("/api/v1/documents", Some(&a.token), json!({ "file": "x" }))
        .await;
    json_body.assert_problem(415);
    // Exactly the limit passes.
    upload(&app, &a, &vec![b'a'; 4096], "limit.txt", "text/plain").await;
}

async fn every_route_hides_other_tenants(app: TestApp) {
    let a = app.register("hide-a@example.com").await;
    let b = app.register("hide-b@example.com").await;
    let document = upload(&app, &a, b"secret hippo plans", "a.txt", "text/plain").await;
    processed(&app, &a, &document, "ready").await;
    let theirs = path_of(&document);
    let missing = format!("/api/v1/documents/{}", Uuid::now_v7());
    for (method, foreign, absent, body) in [
        (Method::GET, theirs.clone(), missing.clone(), None),
        (
            Method::PATCH,
            theirs.clone(),
            missing.clone(),
            Some(json!({ "title": "Mine" })),
        ),
        (Method::DELETE, theirs.clone(), missing.clone(), None),
        (
            Method::POST,
            format!("{theirs}/restore"),
            format!("{missing}/restore"),
            None,
        ),
        (
            Method::GET,
            format!("{theirs}/content"),
            format!("{missing}/content"),
            None,
        ),
    ] {
        app.assert_hidden(&b.token, method, &foreign, &absent, body.as_ref())
            .await;
    }
    for listing in [
        "/api/v1/documents",
        "/api/v1/documents?include_deleted=true",
    ] {
        assert_eq!(app.get(listing, &b.token).await.body["total"], 0);
    }
    let search = app.get("/api/v1/documents/search?q=hippo", &b.token).await;
    assert_eq!(search.body["data"], json!([]));
    let mine = app.get(&theirs, &a.token).await;
    assert_eq!(mine.body["title"], "a.txt");
    assert_eq!(mine.body["deleted_at"], Value::Null);
}

async fn permissions_follow_the_roles(app: TestApp) {
    let owner = app.register("roles@example.com").await;
    let document = upload(&app, &owner, b"shared giraffe notes", "n.txt", "text/plain").await;
    processed(&app, &owner, &document, "ready").await;
    let viewer = app
        .member_token(&owner, "viewer@example.com", "viewer")
        .await;
    let member = app
        .member_token(&owner, "member@example.com", "member")
        .await;
    assert_eq!(
        app.get(&path_of(&document), &viewer.token).await.status,
        StatusCode::OK
    );
    let found = app
        .get("/api/v1/documents/search?q=giraffe", &viewer.token)
        .await;
    assert_eq!(found.body["data"].as_array().unwrap().len(), 1);
    upload_form(
        &app,
        &viewer,
        Form::new().part("file", file(b"x", "x.txt", "text/plain")),
    )
    .await
    .assert_problem(403);
    upload(&app, &member, b"member notes", "m.txt", "text/plain").await;
    app.delete(&path_of(&document), &member.token)
        .await
        .assert_problem(403);
    // A key with documents:read reads; without documents:write it cannot upload.
    let key = app.api_key_secret(&owner, &["documents:read"]).await;
    let listed = app.get("/api/v1/documents", &key).await;
    assert_eq!(listed.body["total"], 2);
    let by_key = app
        .raw(
            app.client
                .post(app.url("/api/v1/documents"))
                .bearer_auth(&key)
                .multipart(Form::new().part("file", file(b"x", "x.txt", "text/plain"))),
        )
        .await;
    by_key.assert_problem(403);
}

/// Storage counts against the plan: a plan of 100 bytes takes 60, then refuses 60 more.
async fn storage_counts_against_the_plan(store: Store) {
    let small = spawn_app_with(store, |config| {
        config.billing.plans = Arc::new(
            PlanCatalogue::from_json(r#"[{"name": "free", "limits": {"storage_bytes": 100}}]"#)
                .unwrap(),
        );
    })
    .await;
    let tight = small.register("tight@example.com").await;
    upload(&small, &tight, &[b'x'; 60], "a.txt", "text/plain").await;
    let over = upload_form(
        &small,
        &tight,
        Form::new().part("file", file(&[b'y'; 60], "b.txt", "text/plain")),
    )
    .await;
    over.assert_problem(402);
    assert_eq!(over.body["quota"], "storage_bytes");
    assert_eq!(over.body["used"], 60);
    assert_eq!(
        stored_files(&storage_of(&small)).len(),
        1,
        "the refused bytes are gone"
    );
}

/// The S3 adapter against moto's S3 server, started here from a virtualenv it installs on
/// first use (PyPI): upload, extraction (read back from S3), download, and the purge's sweep.
#[tokio::test]
async fn documents_live_in_an_s3_compatible_bucket() {
    let moto = bulkhead_tests::moto::start().await;
    let bucket = format!("bulkhead-{}", Uuid::now_v7().simple());
    moto.create_bucket(&bucket).await;
    let url = format!(
        "s3://test:test@{bucket}?endpoint=http://127.0.0.1:{}&region=us-east-1&allow_http=true",
        moto.port
    );
    let app = spawn_app_with(Store::Postgres, |config| config.storage_url = url.clone()).await;
    let a = app.register("s3@example.com").await;
    let text = "S3 stored capybara facts. ".repeat(250_000);
    let document = upload(&app, &a, text.as_bytes(), "big.txt", "text/plain").await;
    assert_eq!(
        document["size_bytes"],
        text.len(),
        "a multipart upload of several parts"
    );
    let keys = moto.list(&bucket).await;
    assert_eq!(
        keys,
        [format!(
            "organizations/{}/documents/{}",
            a.organization_id,
            document["id"].as_str().unwrap()
        )]
    );
    let download = app
        .client
        .get(app.url(&format!("{}/content", path_of(&document))))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    let bytes = download.bytes().await.unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(&bytes)),
        document["sha256"].as_str().unwrap()
    );
    processed(&app, &a, &document, "ready").await;
    let found = app
        .get("/api/v1/documents/search?q=capybara", &a.token)
        .await;
    assert_eq!(found.body["data"][0]["document_id"], document["id"]);
    app.delete(&path_of(&document), &a.token).await;
    app.as_owner("UPDATE documents SET deleted_at = '2001-01-01 00:00:00+00:00'")
        .await;
    bulkhead_server::purge(&app.owner_url(), chrono::Duration::days(30))
        .await
        .unwrap();
    let swept = bulkhead_server::sweep_blobs(&app.owner_url(), &url, chrono::Duration::zero())
        .await
        .unwrap();
    assert_eq!(swept, 1);
    assert!(moto.list(&bucket).await.is_empty());
}

/// As the application role, under row-level security, a search reaches its chunks through the
/// organization's full-text index: the text condition is one of the index's conditions, not a
/// filter over every chunk of the organization (PostgreSQL refuses that until `@@` is
/// LEAKPROOF, which migration 24 makes it).
#[tokio::test]
async fn search_uses_its_index_under_row_level_security() {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait};
    let app = spawn_app_with(Store::Postgres, |_| {}).await;
    let a = app.register("search-index@example.com").await;
    // Five thousand chunks of one document, a rare word in a few: through the index the search
    // reads those few, without it every chunk of the organization.
    let document = Uuid::now_v7();
    app.as_owner(&format!(
        "INSERT INTO documents (organization_id, id, created_by, created_at, updated_at, version, \
           title, filename, content_type, size_bytes, sha256, status, chunk_count) \
         VALUES ('{org}', '{document}', '{user}', now(), now(), 1, 'Report', 'report.txt', \
           'text/plain', 0, repeat('0', 64), 'ready', 5000); \
         INSERT INTO document_chunks (organization_id, document_id, seq, content) \
           SELECT '{org}', '{document}', i, \
                  CASE WHEN i % 1000 = 0 THEN 'quarterly revenue' ELSE repeat('costs held steady ', 50) END \
             FROM generate_series(1, 5000) i; \
         ANALYZE document_chunks;",
        org = a.organization_id,
        user = a.user_id,
    ))
    .await;
    let conn = app.database.as_ref().unwrap().connect_as_app().await;
    let tx = conn.begin().await.unwrap();
    tx.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT set_config('app.current_org', $1, true)",
        [a.organization_id.clone().into()],
    ))
    .await
    .unwrap();
    // Leaves the planner two ways: the index with the text condition, or without it.
    tx.execute_unprepared("SET LOCAL enable_seqscan = off")
        .await
        .unwrap();
    let rows = tx
        .query_all_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            format!(
                "EXPLAIN SELECT c.seq FROM document_chunks c \
                 WHERE c.organization_id = '{}'::uuid \
                   AND c.tsv @@ to_tsquery('english', 'quarterly & revenue')",
                Uuid::parse_str(&a.organization_id).unwrap()
            ),
        ))
        .await
        .unwrap();
    let plan = rows
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    tx.rollback().await.unwrap();
    assert!(
        plan.lines()
            .any(|line| line.contains("Index Cond") && line.contains("tsv @@")),
        "{plan}"
    );
}
