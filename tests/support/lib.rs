//! The black-box test harness: `spawn_app` starts the real application on a random port over a
//! fresh database (a SQLite file, or a new PostgreSQL database migrated by the owner and served
//! through the `bulkhead_app` role), and drops that database afterwards.
//!
//! PostgreSQL is found through `BULKHEAD_TEST_DATABASE_URL` (a superuser URL, any database),
//! else `postgres://postgres@127.0.0.1:5432/postgres`. If it cannot be reached, the test fails:
//! PostgreSQL tests never skip.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::time::Duration;

use bulkhead_domain::limits::Limit;
use bulkhead_infra::sealing::{Keyring, SecretKey};
use bulkhead_server::{Application, Config};
use reqwest::{Client, Response, StatusCode};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use url::Url;
use uuid::Uuid;

/// The password of every account [`TestApp::register`] creates.
pub const PASSWORD: &str = "correct horse battery";

/// The statuses of several replies, sorted, to compare races by their outcomes.
pub fn sorted_statuses(replies: &[Reply]) -> Vec<u16> {
    let mut statuses: Vec<u16> = replies.iter().map(|r| r.status.as_u16()).collect();
    statuses.sort_unstable();
    statuses
}

/// SHA-256 of `text`, in hex: how the server stores secrets.
pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// The signing secret of test servers (32+ bytes).
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// Which store a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Sqlite,
    Postgres,
}

/// The superuser URL tests create their databases with.
pub fn admin_url() -> String {
    std::env::var("BULKHEAD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A PostgreSQL database of one test, migrated, dropped on drop.
pub struct TestDatabase {
    pub name: String,
    /// The owner's (superuser's) URL of this database.
    pub owner_url: String,
    /// The application role's URL of this database.
    pub app_url: String,
}

async fn connect_admin(url: &str) -> DatabaseConnection {
    let mut options = sea_orm::ConnectOptions::new(url.to_owned());
    options
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    Database::connect(options).await.unwrap_or_else(|err| {
        panic!(
            "PostgreSQL is not reachable at {url}: {err}. `make test` starts one; otherwise set \
             BULKHEAD_TEST_DATABASE_URL to a superuser URL"
        )
    })
}

impl TestDatabase {
    /// Creates and migrates a fresh database.
    pub async fn create() -> Self {
        let admin = admin_url();
        let name = format!("bulkhead_test_{}", Uuid::now_v7().simple());
        let conn = connect_admin(&admin).await;
        conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        conn.close().await.unwrap();
        let mut owner = Url::parse(&admin).unwrap();
        owner.set_path(&format!("/{name}"));
        let mut app = owner.clone();
        app.set_username(bulkhead_migrations::APP_ROLE).unwrap();
        app.set_password(None).unwrap();
        bulkhead_server::migrate(owner.as_str()).await.unwrap();
        Self {
            name,
            owner_url: owner.to_string(),
            app_url: app.to_string(),
        }
    }

    /// A connection as the application role, for raw-SQL policy tests.
    pub async fn connect_as_app(&self) -> DatabaseConnection {
        connect_admin(&self.app_url).await
    }

    /// A connection to the server's admin database, as the superuser.
    pub async fn connect_admin_server() -> DatabaseConnection {
        connect_admin(&admin_url()).await
    }

    /// A connection as the owner.
    pub async fn connect_as_owner(&self) -> DatabaseConnection {
        connect_admin(&self.owner_url).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async; use a runtime of its own on a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let conn = connect_admin(&admin_url()).await;
                let _ = conn
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
            });
        })
        .join();
    }
}

/// A running application and a client for it.
pub struct TestApp {
    pub address: String,
    /// The URL the server uses (the app role's, on PostgreSQL).
    pub database_url: String,
    pub client: Client,
    pub store: Store,
    pub database: Option<TestDatabase>,
    _sqlite_dir: Option<tempfile::TempDir>,
}

/// Test defaults: cheap bcrypt, a fixed secret, any free port.
pub fn test_config(database_url: String) -> Config {
    let mut config = Config::new(database_url);
    config.bind = "127.0.0.1:0".into();
    config.jwt_secret = Some(JWT_SECRET.into());
    config.bcrypt_cost = 4;
    config.http.workers = 1;
    config.store.acquire_timeout = Duration::from_secs(2);
    // Emails stay in the outbox, where tests read them; delivery drops their bodies.
    // tests/accounts.rs checks delivery with a short interval.
    config.outbox_interval = Duration::from_secs(3600);
    // Tests send bursts from one address; tests/limits.rs sets the limits it checks.
    config.limits = bulkhead_domain::limits::RateLimits {
        auth_per_address: Limit::per_minute(10_000),
        login_failures_per_account: Limit::per_minute(10_000),
        email_per_address: Limit::per_minute(10_000),
        email_per_account: Limit::per_minute(10_000),
        requests_per_principal: Limit::per_minute(100_000),
    };
    config
}

/// Starts the application on a fresh database of `store`.
pub async fn spawn_app(store: Store) -> TestApp {
    spawn_app_with(store, |_| {}).await
}

/// Like [`spawn_app`], with a chance to change the configuration.
/// Starts a server on `url` with the test configuration as `adjust` changes it; answers its
/// base URL.
async fn start(url: String, adjust: impl FnOnce(&mut Config)) -> String {
    let mut config = test_config(url);
    adjust(&mut config);
    let app = Application::build(config).await.unwrap();
    let address = app.base_url();
    tokio::spawn(app.run_until_stopped());
    address
}

pub async fn spawn_app_with(store: Store, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let (url, database, dir) = match store {
        Store::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bulkhead.db").display()
            );
            (url, None, Some(dir))
        }
        Store::Postgres => {
            let database = TestDatabase::create().await;
            (database.app_url.clone(), Some(database), None)
        }
    };
    let address = start(url.clone(), adjust).await;
    TestApp {
        address,
        database_url: url,
        client: Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        store,
        database,
        _sqlite_dir: dir,
    }
}

impl TestApp {
    /// A second server on this one's database, as another instance behind a load balancer
    /// would be. It does not own the database: use `self` for owner access.
    pub async fn another_instance(&self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let address = start(self.database_url.clone(), adjust).await;
        TestApp {
            address,
            database_url: self.database_url.clone(),
            client: self.client.clone(),
            store: self.store,
            database: None,
            _sqlite_dir: None,
        }
    }
}

/// A registered organization: its owner's token and ids.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub token: String,
    pub refresh_token: String,
    pub session_id: String,
    pub organization_id: String,
    pub user_id: String,
    pub email: String,
}

/// A decoded response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    async fn from(response: Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Self {
            status,
            headers,
            body,
        }
    }

    /// The content type, or "".
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts an RFC 9457 body with `status`.
    pub fn assert_problem(&self, status: u16) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status, body: {}",
            self.body
        );
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], status, "body: {}", self.body);
        for key in ["type", "title", "detail"] {
            assert!(
                self.body[key].is_string(),
                "problem without {key}: {}",
                self.body
            );
        }
    }

    /// The fields named by a 422.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Sends `method` to `path`, with a bearer token and a JSON body if given.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::from(request.send().await.unwrap()).await
    }

    /// Creates an API key of `tenant`'s organization with `scopes`, as its owner or admin
    /// would; answers the created key, its one-time `secret` included.
    pub async fn create_api_key(&self, tenant: &Tenant, scopes: &[&str]) -> Value {
        let reply = self
            .post(
                "/api/v1/api-keys",
                Some(&tenant.token),
                json!({ "name": "ci", "scopes": scopes }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }

    /// Like [`TestApp::create_api_key`]; answers only the secret.
    pub async fn api_key_secret(&self, tenant: &Tenant, scopes: &[&str]) -> String {
        self.create_api_key(tenant, scopes).await["secret"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// POSTs `body` to `path` with a bearer token and an `Idempotency-Key`.
    pub async fn post_once(&self, path: &str, token: &str, key: &str, body: &Value) -> Reply {
        self.raw(
            self.client
                .post(self.url(path))
                .bearer_auth(token)
                .header("idempotency-key", key)
                .json(body),
        )
        .await
    }

    /// Sends a prepared request.
    pub async fn raw(&self, request: reqwest::RequestBuilder) -> Reply {
        Reply::from(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.send(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(reqwest::Method::PATCH, path, Some(token), Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Reply {
        self.send(reqwest::Method::DELETE, path, Some(token), None)
            .await
    }

    /// A URL that sees every tenant: the owner's on PostgreSQL, the file on SQLite. For
    /// tampering behind the server's back and for maintenance commands.
    pub fn owner_url(&self) -> String {
        match &self.database {
            Some(database) => database.owner_url.clone(),
            None => self.database_url.clone(),
        }
    }

    /// `id` as an SQL literal of this store (SQLite keeps UUIDs as 16-byte blobs).
    pub fn uuid_literal(&self, id: &str) -> String {
        match self.store {
            Store::Postgres => format!("'{id}'::uuid"),
            Store::Sqlite => format!("X'{}'", id.replace('-', "")),
        }
    }

    /// Makes `member` a member of `owner`'s organization with `role`, behind the server's back
    /// (invitations are not built yet).
    pub async fn add_member(&self, owner: &Tenant, member: &Tenant, role: &str) {
        self.as_owner(&format!(
            "INSERT INTO memberships (organization_id, user_id, role, created_at) \
             VALUES ({}, {}, '{role}', CURRENT_TIMESTAMP)",
            self.uuid_literal(&owner.organization_id),
            self.uuid_literal(&member.user_id)
        ))
        .await;
    }

    /// Registers `email`, makes them a member of `owner`'s organization with `role`, and signs
    /// them in there: their access token in that organization.
    pub async fn member_token(&self, owner: &Tenant, email: &str, role: &str) -> Tenant {
        let member = self.register(email).await;
        self.add_member(owner, &member, role).await;
        let reply = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": email, "password": PASSWORD, "organization_id": owner.organization_id }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "login failed: {}", reply.body);
        Tenant {
            token: reply.body["access_token"].as_str().unwrap().to_owned(),
            refresh_token: reply.body["refresh_token"].as_str().unwrap().to_owned(),
            session_id: reply.body["session_id"].as_str().unwrap().to_owned(),
            organization_id: owner.organization_id.clone(),
            ..member
        }
    }

    /// Runs SQL as the owner, behind the server's back.
    pub async fn as_owner(&self, sql: &str) {
        let conn = connect_admin(&self.owner_url()).await;
        conn.execute_unprepared(sql).await.unwrap();
        conn.close().await.unwrap();
    }

    /// The emails queued for `to`, oldest first, as `{subject, body, sent}`: what the log
    /// mailer of a test server "sent".
    pub async fn emails_to(&self, to: &str) -> Vec<Value> {
        let conn = connect_admin(&self.owner_url()).await;
        let backend = conn.get_database_backend();
        let sql = match backend {
            sea_orm::DatabaseBackend::Postgres => {
                "SELECT subject, body, sent_at IS NOT NULL AS sent FROM outbox_emails \
                 WHERE to_address = $1 ORDER BY created_at, id"
            }
            _ => {
                "SELECT subject, body, sent_at IS NOT NULL AS sent FROM outbox_emails \
                 WHERE to_address = ? ORDER BY created_at, id"
            }
        };
        let rows = conn
            .query_all_raw(sea_orm::Statement::from_sql_and_values(
                backend,
                sql,
                [to.into()],
            ))
            .await
            .unwrap();
        conn.close().await.unwrap();
        // Bodies are sealed at rest under the key the test server derives from its JWT secret;
        // a delivered body is replaced by a note in plain text.
        let keyring = Keyring::new(SecretKey::derived_from(JWT_SECRET.as_bytes()), Vec::new());
        rows.iter()
            .map(|row| {
                let stored = row.try_get::<String>("", "body").unwrap();
                let sent = row.try_get::<bool>("", "sent").unwrap();
                let body = if sent {
                    stored
                } else {
                    keyring
                        .open(bulkhead_infra::outbox::BODY_PLACE, &stored)
                        .unwrap_or_else(|e| panic!("a queued body does not open: {e}"))
                };
                json!({
                    "subject": row.try_get::<String>("", "subject").unwrap(),
                    "body": body,
                    "sent": sent,
                })
            })
            .collect()
    }

    /// The token with `prefix` in the newest email to `to` whose subject contains `subject`.
    /// Requests for an existing account queue their email just after answering, so this waits
    /// for it a moment.
    pub async fn token_from_email(&self, to: &str, subject: &str, prefix: &str) -> String {
        let about = |emails: &[Value]| {
            emails
                .iter()
                .rev()
                .find(|e| e["subject"].as_str().unwrap().contains(subject))
                .cloned()
        };
        eventually(|| async {
            match about(&self.emails_to(to).await) {
                Some(_) => Ok(()),
                None => Err(format!("no email about {subject:?} to {to}")),
            }
        })
        .await;
        let email = about(&self.emails_to(to).await).unwrap();
        let body = email["body"].as_str().unwrap();
        let start = body.find(prefix).unwrap();
        body[start..start + prefix.len() + 64].to_owned()
    }

    /// Everything stored in `tables`, as text, to search for values that must not be there.
    /// On PostgreSQL each row cast to text; on SQLite the raw database files, which also holds
    /// what was deleted but not yet overwritten.
    pub async fn stored_text(&self, tables: &[&str]) -> String {
        match &self.database {
            Some(database) => {
                let conn = connect_admin(&database.owner_url).await;
                let mut text = String::new();
                for table in tables {
                    let rows = conn
                        .query_all_raw(sea_orm::Statement::from_string(
                            sea_orm::DatabaseBackend::Postgres,
                            format!("SELECT t::text AS row FROM {table} t"),
                        ))
                        .await
                        .unwrap();
                    for row in rows {
                        text.push_str(&row.try_get::<String>("", "row").unwrap());
                        text.push('\n');
                    }
                }
                conn.close().await.unwrap();
                text
            }
            None => {
                let dir = self._sqlite_dir.as_ref().unwrap().path();
                let mut text = String::new();
                for entry in std::fs::read_dir(dir).unwrap() {
                    let bytes = std::fs::read(entry.unwrap().path()).unwrap();
                    text.push_str(&String::from_utf8_lossy(&bytes));
                }
                text
            }
        }
    }

    /// The organization's audit events, oldest first, as the owner of `tenant` reads them.
    pub async fn audit_events(&self, tenant: &Tenant) -> Vec<Value> {
        let reply = self
            .get("/api/v1/audit-events?limit=100", &tenant.token)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let mut events = reply.body["data"].as_array().unwrap().clone();
        events.reverse();
        events
    }

    /// The actions of the organization's audit events, oldest first.
    pub async fn audit_actions(&self, tenant: &Tenant) -> Vec<String> {
        self.audit_events(tenant)
            .await
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Signs in as `email` (registered by [`TestApp::register`]) and returns the access token.
    pub async fn login(&self, email: &str) -> String {
        self.login_session(email).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Signs in as `email` and returns the whole token response (a new session).
    pub async fn login_session(&self, email: &str) -> Value {
        let reply = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "login failed: {}", reply.body);
        reply.body
    }

    /// Signs up a new organization whose owner has `email`.
    pub async fn register(&self, email: &str) -> Tenant {
        let reply = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({
                    "email": email,
                    "password": PASSWORD,
                    "name": "Owner",
                    "organization_name": format!("Org of {email}"),
                }),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "register failed: {}",
            reply.body
        );
        Tenant {
            token: reply.body["access_token"].as_str().unwrap().to_owned(),
            refresh_token: reply.body["refresh_token"].as_str().unwrap().to_owned(),
            session_id: reply.body["session_id"].as_str().unwrap().to_owned(),
            organization_id: reply.body["organization"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
            user_id: reply.body["user"]["id"].as_str().unwrap().to_owned(),
            email: email.to_owned(),
        }
    }

    /// Creates a project and returns its body.
    pub async fn create_project(&self, tenant: &Tenant, name: &str) -> Value {
        let reply = self
            .post(
                "/api/v1/projects",
                Some(&tenant.token),
                json!({ "name": name, "description": "first" }),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "create failed: {}",
            reply.body
        );
        reply.body
    }
}

/// Runs each named `async fn(Store)` of the calling file against both stores, as tests in
/// modules `sqlite` and `postgres`: for tests that start their servers themselves.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident;)+) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::Store::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::Store::Postgres).await;
                }
            )+
        }
    };
}

/// Runs each named `async fn(TestApp)` of the calling file against both stores, as tests in
/// modules `sqlite` and `postgres`.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident;)+) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::spawn_app($crate::Store::Sqlite).await).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::spawn_app($crate::Store::Postgres).await).await;
                }
            )+
        }
    };
}

/// Runs `check` every 20 ms until it passes (`Ok`), for at most five seconds, then fails with
/// its last complaint: for what another task or instance does a moment after a reply.
pub async fn eventually<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let Err(complaint) = check().await else {
            return;
        };
        assert!(
            std::time::Instant::now() < deadline,
            "{complaint} after 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Asks `request` until it answers `wanted`, for at most five seconds, and fails on any
/// answer outside `allowed` meanwhile: a change made elsewhere reaches an instance through
/// PostgreSQL's notification, a moment after it commits.
pub async fn settles<F, Fut>(wanted: StatusCode, allowed: &[StatusCode], mut request: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Reply>,
{
    eventually(|| {
        let reply = request();
        async move {
            let reply = reply.await;
            if reply.status == wanted {
                return Ok(());
            }
            assert!(
                allowed.contains(&reply.status),
                "{} before settling: {}",
                reply.status,
                reply.body
            );
            Err(format!("still {}", reply.status))
        }
    })
    .await;
}

/// The medians, in milliseconds, of `rounds` timings of `first` and of `second`, taken in
/// turn, so that any drift of the machine hits both alike. After each `first`, and untimed,
/// `settled` waits for what the server does after that response, so that it cannot slow the
/// next `second` instead; then, as after each `second`, a pause lets the server (and the
/// test's own checks) go quiet, so that each timed request starts alike. A few rounds go
/// first untimed, to warm connections and statements.
pub async fn median_timings<F, S, G, FutF, FutS, FutG>(
    rounds: usize,
    mut first: F,
    mut settled: S,
    mut second: G,
) -> (f64, f64)
where
    F: FnMut() -> FutF,
    S: FnMut() -> FutS,
    G: FnMut() -> FutG,
    FutF: std::future::Future<Output = ()>,
    FutS: std::future::Future<Output = ()>,
    FutG: std::future::Future<Output = ()>,
{
    let median = |mut samples: Vec<f64>| {
        samples.sort_by(f64::total_cmp);
        samples[samples.len() / 2]
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 0..rounds + 5 {
        let started = std::time::Instant::now();
        first().await;
        let first_took = started.elapsed().as_secs_f64() * 1000.0;
        settled().await;
        tokio::time::sleep(Duration::from_millis(25)).await;
        let started = std::time::Instant::now();
        second().await;
        let second_took = started.elapsed().as_secs_f64() * 1000.0;
        tokio::time::sleep(Duration::from_millis(25)).await;
        if round >= 5 {
            a.push(first_took);
            b.push(second_took);
        }
    }
    (median(a), median(b))
}

/// Asserts that two medians (see [`median_timings`]) are no further apart than 1 ms and 15%
/// of the larger: what a client can measure of a difference in the work behind two answers.
pub fn assert_alike_in_time(what: &str, first: f64, second: f64) {
    let allowed = 1.0 + 0.15 * first.max(second);
    assert!(
        (first - second).abs() <= allowed,
        "{what}: medians {first:.2} ms and {second:.2} ms are more than {allowed:.2} ms apart"
    );
}
