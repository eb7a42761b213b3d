//! The HTTP conventions of DESIGN.md: problem+json for every error, request ids, limits,
//! health, documentation, and 503 (then recovery) when PostgreSQL goes away.

#![allow(clippy::unwrap_used)]

use bulkhead_tests::{
    OwnedPostgres, Store, TestApp, spawn_app, spawn_app_at, spawn_app_with, within,
};
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::json;

async fn sqlite_app() -> TestApp {
    spawn_app(Store::Sqlite).await
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = sqlite_app().await;
    let unknown = app.raw(app.client.get(app.url("/api/v1/nope"))).await;
    unknown.assert_problem(404);
    let wrong_method = app.raw(app.client.put(app.url("/api/v1/projects"))).await;
    wrong_method.assert_problem(405);
    assert_eq!(wrong_method.headers["allow"], "GET, POST");
    let a = app.register("a@example.com").await;
    let not_uuid = app.get("/api/v1/projects/not-a-uuid", &a.token).await;
    not_uuid.assert_problem(404);
}

#[tokio::test]
async fn bodies_that_are_not_json_or_too_large_are_rejected() {
    let app = spawn_app_with(Store::Sqlite, |c| c.http.body_limit = 4096).await;
    let a = app.register("a@example.com").await;
    let url = app.url("/api/v1/projects");
    let malformed = app
        .raw(
            app.client
                .post(&url)
                .bearer_auth(&a.token)
                .header("content-type", "application/json")
                .body("{\"name\": "),
        )
        .await;
    malformed.assert_problem(400);
    let invalid_utf8 = app
        .raw(
            app.client
                .post(&url)
                .bearer_auth(&a.token)
                .header("content-type", "application/json")
                .body(b"{\"name\": \"\xff\"}".to_vec()),
        )
        .await;
    invalid_utf8.assert_problem(400);
    let form = app
        .raw(
            app.client
                .post(&url)
                .bearer_auth(&a.token)
                .header("content-type", "text/plain")
                .body("{\"name\": \"x\"}"),
        )
        .await;
    form.assert_problem(415);
    let huge = app
        .post(
            "/api/v1/projects",
            Some(&a.token),
            json!({ "name": "x", "description": "d".repeat(10_000) }),
        )
        .await;
    huge.assert_problem(413);
    for not_an_object in ["[]", "[\"x\"]", "\"x\"", "null"] {
        let reply = app
            .raw(
                app.client
                    .post(&url)
                    .bearer_auth(&a.token)
                    .header("content-type", "application/json")
                    .body(not_an_object),
            )
            .await;
        reply.assert_problem(422);
    }
    let big_number = app
        .post("/api/v1/projects", Some(&a.token), json!({ "name": 1e308 }))
        .await;
    big_number.assert_problem(422);
    assert_eq!(app.get("/api/v1/projects", &a.token).await.body["total"], 0);
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated_and_appear_in_errors() {
    let app = sqlite_app().await;
    let echoed = app
        .raw(
            app.client
                .get(app.url("/api/v1/nope"))
                .header("x-request-id", "client-id-42"),
        )
        .await;
    assert_eq!(echoed.headers["x-request-id"], "client-id-42");
    assert_eq!(echoed.body["request_id"], "client-id-42");
    // An unsafe id is replaced, not echoed into logs and headers.
    let replaced = app
        .raw(
            app.client
                .get(app.url("/health"))
                .header("x-request-id", "bad id\twith spaces"),
        )
        .await;
    let generated = replaced.headers["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(generated).is_ok(), "{generated}");
}

#[tokio::test]
async fn health_openapi_and_docs_are_served() {
    let app = sqlite_app().await;
    let live = app.raw(app.client.get(app.url("/health"))).await;
    assert_eq!(
        (live.status, live.body.clone()),
        (StatusCode::OK, json!({ "status": "ok" }))
    );
    let ready = app.raw(app.client.get(app.url("/health/ready"))).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["status"], "ready");
    assert_eq!(ready.body["database"]["status"], "ok", "{}", ready.body);
    assert_eq!(ready.body["queues"]["runs_queued"], 0, "{}", ready.body);
    assert!(
        ready.body["queues"]["outbox_pending"].is_i64(),
        "{}",
        ready.body
    );
    let openapi = app.raw(app.client.get(app.url("/openapi.json"))).await;
    assert_eq!(openapi.status, StatusCode::OK);
    assert!(openapi.body["paths"]["/api/v1/projects/{project_id}"].is_object());
    let docs = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(
        docs.text().await.unwrap().contains("swagger"),
        "no Swagger UI at /docs/"
    );
    let redirect = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(redirect.status(), StatusCode::PERMANENT_REDIRECT);
}

#[tokio::test]
async fn postgres_outage_answers_503_and_the_server_recovers() {
    let app = spawn_app(Store::Postgres).await;
    let a = app.register("a@example.com").await;
    let database = app.database.as_ref().unwrap();
    let owner = bulkhead_tests::TestDatabase::connect_admin_server().await;
    owner
        .execute_unprepared(&format!(
            "ALTER DATABASE \"{0}\" ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{0}';",
            database.name
        ))
        .await
        .unwrap();

    let started = std::time::Instant::now();
    let down = app.get("/api/v1/projects", &a.token).await;
    down.assert_problem(503);
    assert!(down.headers.contains_key("retry-after"));
    let detail = down.body["detail"].as_str().unwrap();
    assert!(
        !detail.contains("postgres") && !detail.contains("SQL"),
        "leaks internals: {detail}"
    );
    let not_ready = app.raw(app.client.get(app.url("/health/ready"))).await;
    not_ready.assert_problem(503);
    // Bounded by the acquire timeout, not sqlx's 30 s default. Generous, as this is no benchmark.
    assert!(started.elapsed() < std::time::Duration::from_secs(20));

    owner
        .execute_unprepared(&format!(
            "ALTER DATABASE \"{}\" ALLOW_CONNECTIONS true",
            database.name
        ))
        .await
        .unwrap();
    let back = app.get("/api/v1/projects", &a.token).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.body);
    assert_eq!(
        app.raw(app.client.get(app.url("/health/ready")))
            .await
            .status,
        StatusCode::OK
    );
}

/// The PostgreSQL server itself stops (a test-owned cluster, `pg_ctl stop -m fast`) and starts
/// again: while it is down reads, writes and readiness answer 503 problem+json, a refused write
/// leaves nothing behind, and within seconds of its return everything succeeds, with no
/// restart of the application.
#[tokio::test]
async fn a_stopped_postgres_answers_503_and_its_return_needs_no_restart() {
    let cluster = OwnedPostgres::start();
    let url = cluster.migrated("bulkhead").await;
    let app = spawn_app_at(url, Store::Postgres).await;
    let a = app.register("a@example.com").await;
    app.create_project(&a, "before").await;

    cluster.stop();
    let read = app.get("/api/v1/projects", &a.token).await;
    read.assert_problem(503);
    assert!(read.headers.contains_key("retry-after"));
    app.post(
        "/api/v1/projects",
        Some(&a.token),
        json!({ "name": "during" }),
    )
    .await
    .assert_problem(503);
    app.raw(app.client.get(app.url("/health/ready")))
        .await
        .assert_problem(503);

    cluster.resume();
    within(std::time::Duration::from_secs(10), || async {
        let reply = app.get("/api/v1/projects", &a.token).await;
        if reply.status == StatusCode::OK {
            Ok(())
        } else {
            Err(format!("still {}: {}", reply.status, reply.body))
        }
    })
    .await;
    let listed = app.get("/api/v1/projects", &a.token).await;
    let names: Vec<_> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["before"], "the refused write left something behind");
    app.create_project(&a, "after").await;
    let ready = app.raw(app.client.get(app.url("/health/ready"))).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
}

/// PostgreSQL ending the server's pooled connections (a restart, a failover, an administrator)
/// costs no request: a unit of work whose first statement finds its connection gone moves to
/// another before anything ran on it.
#[tokio::test]
async fn connections_postgres_ended_are_replaced_without_failing_a_request() {
    let app = spawn_app(Store::Postgres).await;
    let a = app.register("a@example.com").await;
    let database = app.database.as_ref().unwrap();
    let admin = bulkhead_tests::TestDatabase::connect_admin_server().await;
    for _ in 0..3 {
        // Warm the pool with several connections, then end them all.
        let warm = (0..8).map(|_| app.get("/api/v1/projects", &a.token));
        for reply in futures_util::future::join_all(warm).await {
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        }
        admin
            .execute_unprepared(&format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{}' AND pid <> pg_backend_pid()",
                database.name
            ))
            .await
            .unwrap();
        let replies = (0..8).map(|_| app.get("/api/v1/projects", &a.token));
        for reply in futures_util::future::join_all(replies).await {
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        }
    }
}

#[tokio::test]
async fn the_default_body_limit_is_one_mebibyte() {
    let app = sqlite_app().await;
    let a = app.register("a@example.com").await;
    let just_over = json!({ "name": "x", "description": "d".repeat(1024 * 1024) });
    app.post("/api/v1/projects", Some(&a.token), just_over)
        .await
        .assert_problem(413);
    // Under the limit the body is read, and judged on its content instead.
    let under = json!({ "name": "x", "description": "d".repeat(1000 * 1000) });
    app.post("/api/v1/projects", Some(&a.token), under)
        .await
        .assert_problem(422);
}

/// Sends raw bytes and returns the status line of the answer (actix answers these before any
/// application code runs, so they carry no problem body).
async fn raw_status_line(address: &str, request: Vec<u8>, pause: std::time::Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream.write_all(&request).await.unwrap();
    tokio::time::sleep(pause).await;
    let mut buffer = vec![0u8; 256];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut buffer))
        .await
        .expect("the server answers")
        .unwrap_or(0);
    String::from_utf8_lossy(&buffer[..read])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn oversized_headers_get_431() {
    let app = sqlite_app().await;
    let mut request = b"GET /health HTTP/1.1\r\nHost: x\r\nx-padding: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 200_000));
    request.extend(b"\r\n\r\n");
    let status = raw_status_line(&app.address, request, std::time::Duration::ZERO).await;
    assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large");
}

#[tokio::test]
async fn slow_clients_time_out() {
    let app = spawn_app_with(Store::Sqlite, |c| {
        c.http.client_request_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    // Half a request head, then nothing.
    let status = raw_status_line(
        &app.address,
        b"GET /health HTTP/1.1\r\nHost: x\r\n".to_vec(),
        std::time::Duration::from_millis(50),
    )
    .await;
    assert_eq!(status, "HTTP/1.1 408 Request Timeout");
}

#[tokio::test]
async fn error_bodies_carry_no_internals() {
    let app = sqlite_app().await;
    let a = app.register("a@example.com").await;
    let replies = [
        app.raw(app.client.put(app.url("/api/v1/projects/xyz")))
            .await,
        app.post("/api/v1/projects", Some(&a.token), json!({ "name": 5 }))
            .await,
        app.raw(
            app.client
                .post(app.url("/api/v1/projects"))
                .bearer_auth(&a.token)
                .header("content-type", "application/json")
                .body("{\"name\": [[[[[[["),
        )
        .await,
        app.get("/api/v1/projects?limit=1e99", &a.token).await,
    ];
    for reply in replies {
        assert!(reply.status.is_client_error(), "{}", reply.status);
        assert_eq!(reply.content_type(), "application/problem+json");
        let text = reply.body.to_string().to_lowercase();
        for leak in [
            "select ", "sqlx", "sea_orm", "panicked", "/src/", ".rs:", "stack",
        ] {
            assert!(!text.contains(leak), "{leak} in {text}");
        }
    }
}

#[tokio::test]
async fn a_client_that_disconnects_mid_request_gets_all_or_nothing() {
    use tokio::io::AsyncWriteExt;
    for store in [Store::Sqlite, Store::Postgres] {
        let app = spawn_app(store).await;
        let a = app.register("a@example.com").await;
        for i in 0..10 {
            let body = format!("{{\"name\":\"dropped {i}\"}}");
            let request = format!(
                "POST /api/v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                a.token,
                body.len()
            );
            let host = app.address.trim_start_matches("http://").to_owned();
            let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
            stream.write_all(request.as_bytes()).await.unwrap();
            drop(stream);
        }
        // Let the server finish whatever it started.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let projects = app.get("/api/v1/projects?limit=100", &a.token).await;
        let created = app
            .get(
                "/api/v1/audit-events?action=project.created&limit=100",
                &a.token,
            )
            .await;
        // Every project that exists has its audit record, and no record lacks its project.
        assert_eq!(projects.body["total"], created.body["total"], "{store:?}");
        let report = app.get("/api/v1/audit-events/verify", &a.token).await;
        assert_eq!(report.body["intact"], true);
    }
}

#[tokio::test]
async fn concurrent_creates_of_one_name_give_one_201_and_409s_never_500() {
    for store in [Store::Sqlite, Store::Postgres] {
        let app = spawn_app(store).await;
        let a = app.register("a@example.com").await;
        let attempts = (0..10).map(|_| {
            app.post(
                "/api/v1/projects",
                Some(&a.token),
                json!({ "name": "Same" }),
            )
        });
        let statuses =
            bulkhead_tests::sorted_statuses(&futures_util::future::join_all(attempts).await);
        assert_eq!(
            statuses,
            [201, 409, 409, 409, 409, 409, 409, 409, 409, 409],
            "{store:?}"
        );
    }
}

/// Asserts the headers every response carries (issue F6).
fn assert_security_headers(reply: &bulkhead_tests::Reply, what: &str) {
    for (name, value) in [
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("content-security-policy", "frame-ancestors 'none'"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(
            reply.headers.get(name).and_then(|v| v.to_str().ok()),
            Some(value),
            "{what}: {name}"
        );
    }
}

#[tokio::test]
async fn every_response_forbids_caching_sniffing_and_framing() {
    let app = sqlite_app().await;
    let registered = app
        .raw(
            app.client
                .post(app.url("/api/v1/auth/register"))
                .json(&json!({
                    "email": "ada@example.com", "password": "correct horse battery",
                    "name": "Ada", "organization_name": "Engines"
                })),
        )
        .await;
    assert_eq!(registered.status, StatusCode::CREATED);
    assert_security_headers(&registered, "a token response");
    let token = registered.body["access_token"].as_str().unwrap();
    assert_security_headers(&app.get("/api/v1/projects", token).await, "tenant data");
    assert_security_headers(
        &app.raw(app.client.get(app.url("/api/v1/nope"))).await,
        "a 404 problem",
    );
    assert_security_headers(
        &app.raw(app.client.put(app.url("/api/v1/projects"))).await,
        "a 405 from actix",
    );
    assert_security_headers(
        &app.raw(app.client.get(app.url("/docs/"))).await,
        "the docs",
    );
    assert_security_headers(
        &app.raw(app.client.get(app.url("/openapi.json"))).await,
        "the document",
    );
    // Plain http: no HSTS, which would pin a development host to https.
    assert!(
        registered
            .headers
            .get("strict-transport-security")
            .is_none()
    );
    // CORS is closed unless origins are named: no preflight or response grants a page
    // elsewhere anything.
    let preflight = app
        .raw(
            app.client
                .request(reqwest::Method::OPTIONS, app.url("/api/v1/projects"))
                .header("origin", "https://evil.example")
                .header("access-control-request-method", "GET"),
        )
        .await;
    assert!(
        preflight
            .headers
            .get("access-control-allow-origin")
            .is_none()
    );
    let cross = app
        .raw(
            app.client
                .get(app.url("/api/v1/projects"))
                .bearer_auth(token)
                .header("origin", "https://evil.example"),
        )
        .await;
    assert!(cross.headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn cors_allows_exactly_the_named_origins_and_https_pins_transport() {
    let app = spawn_app_with(Store::Sqlite, |c| {
        c.http.cors_origins = vec!["https://app.example.com".into()];
        c.accounts.public_url = "https://app.example.com".into();
    })
    .await;
    let a = app.register("ada@example.com").await;
    let preflight = app
        .raw(
            app.client
                .request(reqwest::Method::OPTIONS, app.url("/api/v1/projects"))
                .header("origin", "https://app.example.com")
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization, content-type",
                ),
        )
        .await;
    assert!(preflight.status.is_success(), "{}", preflight.status);
    assert_eq!(
        preflight.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(
        preflight
            .headers
            .get("access-control-allow-credentials")
            .is_none(),
        "bearer tokens need no credentials mode"
    );
    let allowed = app
        .raw(
            app.client
                .get(app.url("/api/v1/projects"))
                .bearer_auth(&a.token)
                .header("origin", "https://app.example.com"),
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    // A look-alike origin gets no grant, and the request is served or refused as without CORS.
    for other in [
        "https://app.example.com.evil.example",
        "http://app.example.com",
    ] {
        let refused = app
            .raw(
                app.client
                    .get(app.url("/api/v1/projects"))
                    .bearer_auth(&a.token)
                    .header("origin", other),
            )
            .await;
        assert!(
            refused.headers.get("access-control-allow-origin").is_none(),
            "{other}"
        );
    }
    assert_eq!(
        allowed.headers["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    assert_security_headers(&allowed, "a CORS response");
}
