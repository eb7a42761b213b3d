//! The application under test: started on a random port over a fresh database, with a
//! client and the requests tests make of it.

use super::*;

/// A running application and a client for it.
pub struct TestApp {
    pub address: String,
    /// The URL the server uses (the app role's, on PostgreSQL).
    pub database_url: String,
    pub client: Client,
    pub store: Store,
    pub database: Option<TestDatabase>,
    pub(crate) sqlite_dir: Option<tempfile::TempDir>,
    /// Where the server stores documents' bytes (`BULKHEAD_STORAGE_URL`).
    pub storage_url: String,
    /// The directory of `storage_url`, when the harness made it: removed with the app.
    pub(crate) _blobs_dir: Option<tempfile::TempDir>,
}

/// Test defaults: cheap bcrypt, a fixed secret, any free port.
pub fn test_config(database_url: String) -> Config {
    let mut config = Config::new(database_url);
    config.bind = "127.0.0.1:0".into();
    config.jwt_secret = Some(JWT_SECRET.into());
    config.bcrypt_cost = 4;
    config.secrets_key = Some(SecretKey::parse(SECRETS_KEY).unwrap());
    // Short leases, so a dead worker's runs come back within a test's patience.
    config.runs.lease = Duration::from_secs(3);
    config.runs.grace = Duration::from_secs(2);
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
    // Tests make more of everything than the shipped free plan allows; tests/billing.rs
    // checks the limits with the shipped plans and with its own.
    config.billing.plans = Arc::new(unlimited_plans());
    config.billing.webhook_secrets = vec![WebhookSecret::new(WEBHOOK_SECRET)];
    // Each app's documents in a directory of its own.
    config.storage_url = std::env::temp_dir()
        .join(format!("bulkhead-blobs-{}", uuid::Uuid::now_v7()))
        .to_string_lossy()
        .into_owned();
    config
}

/// The signing secret of the test configuration's Stripe webhook.
pub const WEBHOOK_SECRET: &str = "whsec_test_bulkhead";

/// The shipped plans with every limit lifted.
pub fn unlimited_plans() -> PlanCatalogue {
    let unlimited = PlanCatalogue::default()
        .plans()
        .iter()
        .map(|plan| Plan {
            limits: PlanLimits::UNLIMITED,
            ..plan.clone()
        })
        .collect();
    PlanCatalogue::new(unlimited).expect("the shipped plans are valid")
}

/// Starts the application on a fresh database of `store`.
pub async fn spawn_app(store: Store) -> TestApp {
    spawn_app_with(store, |_| {}).await
}

/// Starts a server on `url` with the test configuration as `adjust` changes it; answers its
/// base URL and where it stores documents.
async fn start(url: String, adjust: impl FnOnce(&mut Config)) -> (String, String) {
    let mut config = test_config(url);
    adjust(&mut config);
    let storage = config.storage_url.clone();
    let app = Application::build(config).await.unwrap();
    let address = app.base_url();
    tokio::spawn(app.run_until_stopped());
    (address, storage)
}

/// Like [`spawn_app`], with a chance to change the configuration.
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
    let blobs = tempfile::tempdir().unwrap();
    let own = blobs.path().to_string_lossy().into_owned();
    let (address, storage_url) = start(url.clone(), |config| {
        config.storage_url = own;
        adjust(config);
    })
    .await;
    TestApp {
        database,
        sqlite_dir: dir,
        storage_url,
        _blobs_dir: Some(blobs),
        ..TestApp::at(address, url, store)
    }
}

/// Starts the application on a database the caller owns (`url`: the application role's).
pub async fn spawn_app_at(url: String, store: Store) -> TestApp {
    let (address, storage_url) = start(url.clone(), |_| {}).await;
    TestApp {
        storage_url,
        ..TestApp::at(address, url, store)
    }
}

impl TestApp {
    /// The server at `address` on `url`, owning neither its database nor its directory.
    fn at(address: String, url: String, store: Store) -> Self {
        Self {
            address,
            database_url: url,
            client: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            store,
            database: None,
            sqlite_dir: None,
            storage_url: String::new(),
            _blobs_dir: None,
        }
    }

    /// A second server on this one's database, as another instance behind a load balancer
    /// would be. It does not own the database: use `self` for owner access.
    pub async fn another_instance(&self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let shared = self.storage_url.clone();
        let (address, storage_url) = start(self.database_url.clone(), |config| {
            // Instances of one deployment share its blob store.
            config.storage_url = shared;
            adjust(config);
        })
        .await;
        TestApp {
            client: self.client.clone(),
            storage_url,
            ..TestApp::at(address, self.database_url.clone(), self.store)
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

impl TestApp {
    /// Asks `method foreign` and `method missing` (with `body`, if any) as `token`, with one
    /// request id: the foreign row answers 404, byte for byte like the row that never existed.
    pub async fn assert_hidden(
        &self,
        token: &str,
        method: reqwest::Method,
        foreign: &str,
        missing: &str,
        body: Option<&Value>,
    ) {
        let mut replies = Vec::new();
        for path in [foreign, missing] {
            let mut request = self
                .client
                .request(method.clone(), self.url(path))
                .bearer_auth(token)
                .header("x-request-id", "same-id");
            if let Some(body) = body {
                request = request.json(body);
            }
            replies.push(self.raw(request).await);
        }
        replies[0].assert_problem(404);
        assert_eq!(
            replies[0].body, replies[1].body,
            "{method} {foreign}: foreign and missing differ"
        );
    }

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

    /// `by` invites `email` into their organization with `role`.
    pub async fn invite(&self, by: &Tenant, email: &str, role: &str) -> Reply {
        self.post(
            "/api/v1/invitations",
            Some(&by.token),
            json!({ "email": email, "role": role }),
        )
        .await
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

    /// An agent of `tenant` on a new configuration of the built-in `echo` executor: the
    /// configuration and the agent.
    pub async fn echo_agent(&self, tenant: &Tenant, key: &str) -> (Value, Value) {
        let config = self
            .post(
                "/api/v1/agent-configs",
                Some(&tenant.token),
                json!({ "name": format!("{key} config"), "agent_type": "custom", "model": "echo-1" }),
            )
            .await;
        assert_eq!(config.status, StatusCode::CREATED, "{}", config.body);
        let agent = self
            .post(
                "/api/v1/agents",
                Some(&tenant.token),
                json!({ "agent_key": key, "config_id": config.body["id"] }),
            )
            .await;
        assert_eq!(agent.status, StatusCode::CREATED, "{}", agent.body);
        (config.body, agent.body)
    }

    /// Reads `path` until its `status` is `wanted`, for at most 20 seconds, and answers that
    /// body: for what a worker moves a moment after a reply.
    pub async fn settled(&self, path: &str, token: &str, wanted: &str) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let reply = self.get(path, token).await;
            if reply.body["status"] == wanted {
                return reply.body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{path} is {} after 20 s, not {wanted}",
                reply.body
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
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
