//! The contract every tenant resource on the kit keeps, checked over HTTP on either store:
//! isolation (another tenant's row is a 404 byte for byte like a missing one, and absent from
//! lists), server-owned fields refused, the round trip, If-Match, soft delete, restore and
//! purge, idempotent creation, one audit record per write with the chain intact, and the
//! permission matrix that each operation's `x-permission` in the OpenAPI document declares.
//! A resource describes itself in a [`Contract`] and runs [`Contract::check`] in its test file.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::str::FromStr;

use bulkhead_domain::{Permission, Role};
use reqwest::Method;

use super::*;

/// What the contract needs to know of a resource.
pub struct Contract {
    /// The collection's path, e.g. `/api/v1/projects`.
    pub collection: &'static str,
    /// The OpenAPI path of one row, e.g. `/api/v1/projects/{project_id}`.
    pub item: &'static str,
    /// The table, for ageing deletions behind the server's back.
    pub table: &'static str,
    /// The audit trail's name of the resource (`project`).
    pub name: &'static str,
    /// A valid create body, different for every `n`, for a tenant whose rows `setup` made.
    pub create: fn(n: usize, fixtures: &Value) -> Value,
    /// A valid partial update, different for every `n`, and a field it changes.
    pub patch: fn(n: usize) -> (Value, &'static str),
    /// Fields only a single row's read carries (a project's `stats`): left out where a read is
    /// compared with what was created.
    pub detail: &'static [&'static str],
    /// Whether each row is private to the member who created it (a conversation): then other
    /// members holding the permission see 404 on it instead of the row, and an empty list.
    pub private: bool,
    /// Makes, once per tenant, the rows its rows point at (an agent's configuration, say),
    /// and answers what `create` needs of them; [`no_fixtures`] if nothing.
    pub setup: Setup,
}

/// What [`Contract::setup`] is.
pub type Setup = for<'a> fn(&'a TestApp, &'a Tenant) -> Pin<Box<dyn Future<Output = Value> + 'a>>;

/// A [`Setup`] for resources that point at nothing.
pub fn no_fixtures<'a>(_: &'a TestApp, _: &'a Tenant) -> Pin<Box<dyn Future<Output = Value> + 'a>> {
    Box::pin(async { Value::Null })
}

/// A tenant of the contract, with the rows its rows need.
struct Party {
    tenant: Tenant,
    fixtures: Value,
}

impl Deref for Party {
    type Target = Tenant;

    fn deref(&self) -> &Tenant {
        &self.tenant
    }
}

/// Fields every row carries that only the server sets, and privileges a client might try to
/// slip into any body.
const SERVER_OWNED: [&str; 10] = [
    "id",
    "organization_id",
    "created_by",
    "created_at",
    "updated_at",
    "version",
    "deleted_at",
    "deleted_by",
    "role",
    "is_superuser",
];

impl Contract {
    /// A single read's body without its [`Contract::detail`].
    fn stored(&self, mut read: Value) -> Value {
        if let Some(fields) = read.as_object_mut() {
            for field in self.detail {
                fields.remove(*field);
            }
        }
        read
    }

    fn path(&self, row: &Value) -> String {
        format!("{}/{}", self.collection, row["id"].as_str().unwrap())
    }

    async fn create(&self, app: &TestApp, tenant: &Party, n: usize) -> Value {
        let reply = app
            .post(
                self.collection,
                Some(&tenant.token),
                (self.create)(n, &tenant.fixtures),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        assert_eq!(
            reply.headers["location"].to_str().unwrap(),
            self.path(&reply.body)
        );
        reply.body
    }

    /// How many `created`, `updated`, `deleted` and `restored` records the organization has.
    async fn writes(&self, app: &TestApp, tenant: &Tenant) -> [u64; 4] {
        let mut counts = [0; 4];
        for (count, verb) in counts
            .iter_mut()
            .zip(["created", "updated", "deleted", "restored"])
        {
            let path = format!("/api/v1/audit-events?limit=1&action={}.{verb}", self.name);
            let reply = app.get(&path, &tenant.token).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            *count = reply.body["total"].as_u64().unwrap();
        }
        counts
    }

    async fn party(&self, app: &TestApp, email: &str) -> Party {
        let tenant = app.register(email).await;
        let fixtures = (self.setup)(app, &tenant).await;
        Party { tenant, fixtures }
    }

    /// Runs every check of the contract against `app`.
    pub async fn check(&self, app: &TestApp) {
        let a = self.party(app, "contract-a@example.com").await;
        let b = self.party(app, "contract-b@example.com").await;
        self.isolation(app, &a, &b).await;
        self.round_trip_and_server_owned_fields(app, &a).await;
        self.if_match(app, &a).await;
        self.delete_restore_and_purge(app, &a, &b).await;
        self.idempotent_creation(app, &a).await;
        self.permission_matrix(app, &a).await;
        for tenant in [&*a, &*b] {
            let verified = app.get("/api/v1/audit-events/verify", &tenant.token).await;
            assert_eq!(verified.body["intact"], true, "{}", verified.body);
        }
    }

    async fn isolation(&self, app: &TestApp, a: &Party, b: &Party) {
        let row = self.create(app, a, 1).await;
        let theirs = self.path(&row);
        let missing = format!("{}/{}", self.collection, uuid::Uuid::now_v7());
        let restore = |path: &str| format!("{path}/restore");
        let cases = [
            (Method::GET, theirs.clone(), missing.clone()),
            (Method::PATCH, theirs.clone(), missing.clone()),
            (Method::DELETE, theirs.clone(), missing.clone()),
            (Method::POST, restore(&theirs), restore(&missing)),
        ];
        for (method, foreign, absent) in cases {
            let body = (method == Method::PATCH).then(|| (self.patch)(1).0);
            app.assert_hidden(&b.token, method, &foreign, &absent, body.as_ref())
                .await;
        }
        for listing in [
            self.collection.to_owned(),
            format!("{}?include_deleted=true", self.collection),
        ] {
            let list = app.get(&listing, &b.token).await;
            assert_eq!(list.status, StatusCode::OK, "{}", list.body);
            assert_eq!(
                (list.body["total"].clone(), list.body["data"].clone()),
                (json!(0), json!([]))
            );
        }
        // Naming the other organization in the query string or a header changes nothing.
        let sneaky = app
            .get(
                &format!("{}?organization_id={}", self.collection, a.organization_id),
                &b.token,
            )
            .await;
        sneaky.assert_problem(422);
        let header = app
            .raw(
                app.client
                    .get(app.url(self.collection))
                    .bearer_auth(&b.token)
                    .header("x-organization-id", &a.organization_id),
            )
            .await;
        assert_eq!(header.body["total"], 0);
        assert_eq!(
            self.stored(app.get(&theirs, &a.token).await.body),
            row,
            "B's attempts changed A's row"
        );
    }

    async fn round_trip_and_server_owned_fields(&self, app: &TestApp, a: &Party) {
        let before = app.get(self.collection, &a.token).await.body["total"].clone();
        for field in SERVER_OWNED {
            let mut body = (self.create)(100, &a.fixtures);
            body[field] = json!("00000000-0000-7000-8000-000000000000");
            let reply = app.post(self.collection, Some(&a.token), body).await;
            reply.assert_problem(422);
            assert_eq!(reply.error_fields(), [field]);
        }
        assert_eq!(
            app.get(self.collection, &a.token).await.body["total"],
            before,
            "a refused create stored something"
        );

        let row = self.create(app, a, 2).await;
        let path = self.path(&row);
        let read = app.get(&path, &a.token).await;
        assert_eq!(read.status, StatusCode::OK);
        assert_eq!(
            self.stored(read.body.clone()),
            row,
            "what was created reads back the same"
        );
        assert_eq!(read.headers["etag"], "\"1\"");
        assert_eq!(row["organization_id"], json!(a.organization_id));
        assert_eq!(row["created_by"], json!(a.user_id));
        for (field, value) in (self.create)(2, &a.fixtures).as_object().unwrap() {
            assert_eq!(&row[field], value, "{field} did not round-trip");
        }
        let listed = app.get(self.collection, &a.token).await;
        assert!(
            listed.body["data"].as_array().unwrap().contains(&row),
            "the list shows the row as read"
        );

        for field in SERVER_OWNED {
            let mut body = (self.patch)(3).0;
            body[field] = json!(7);
            let reply = app.patch(&path, &a.token, body).await;
            reply.assert_problem(422);
            assert_eq!(reply.error_fields(), [field]);
        }
        assert_eq!(
            self.stored(app.get(&path, &a.token).await.body),
            row,
            "a refused patch changed the row"
        );
        let (patch, field) = (self.patch)(3);
        let patched = app.patch(&path, &a.token, patch.clone()).await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
        assert_eq!(patched.body[field], patch[field]);
        assert_eq!(patched.body["version"], 2);
        assert_eq!(patched.headers["etag"], "\"2\"");
        assert_eq!(
            self.stored(app.get(&path, &a.token).await.body),
            patched.body
        );
    }

    async fn if_match(&self, app: &TestApp, a: &Party) {
        let row = self.create(app, a, 4).await;
        let path = self.path(&row);
        let writes_before = self.writes(app, a).await;
        let with = |method: Method, etag: &str, body: Option<Value>| {
            let mut request = app
                .client
                .request(method, app.url(&path))
                .bearer_auth(&a.token)
                .header("if-match", etag);
            if let Some(body) = body {
                request = request.json(&body);
            }
            app.raw(request)
        };
        with(Method::PATCH, "\"7\"", Some((self.patch)(4).0))
            .await
            .assert_problem(412);
        with(Method::DELETE, "\"7\"", None)
            .await
            .assert_problem(412);
        assert_eq!(
            self.stored(app.get(&path, &a.token).await.body),
            row,
            "a stale write changed the row"
        );
        assert_eq!(
            self.writes(app, a).await,
            writes_before,
            "a refused write was audited"
        );
        let fresh = with(Method::PATCH, "\"1\"", Some((self.patch)(5).0)).await;
        assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
        assert_eq!(
            with(Method::DELETE, "\"2\"", None).await.status,
            StatusCode::NO_CONTENT
        );
        let [created, updated, deleted, restored] = writes_before;
        assert_eq!(
            self.writes(app, a).await,
            [created, updated + 1, deleted + 1, restored],
            "one audit record per acknowledged write"
        );
    }

    async fn delete_restore_and_purge(&self, app: &TestApp, a: &Party, b: &Party) {
        let row = self.create(app, a, 6).await;
        let theirs = self.create(app, b, 6).await;
        let path = self.path(&row);
        let [created, updated, deleted, restored] = self.writes(app, a).await;
        assert_eq!(
            app.delete(&path, &a.token).await.status,
            StatusCode::NO_CONTENT
        );
        app.get(&path, &a.token).await.assert_problem(404);
        app.delete(&path, &a.token).await.assert_problem(404);
        let live = app.get(self.collection, &a.token).await;
        assert!(
            !live.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == row["id"])
        );
        let all = app
            .get(
                &format!("{}?include_deleted=true", self.collection),
                &a.token,
            )
            .await;
        assert!(
            all.body["data"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == row["id"] && r["deleted_at"].is_string())
        );

        let back = app
            .post(&format!("{path}/restore"), Some(&a.token), json!({}))
            .await;
        assert_eq!(back.status, StatusCode::OK, "{}", back.body);
        assert_eq!(back.body["deleted_at"], Value::Null);
        assert_eq!(back.body["version"], 3);
        app.post(&format!("{path}/restore"), Some(&a.token), json!({}))
            .await
            .assert_problem(404);
        assert_eq!(
            self.writes(app, a).await,
            [created, updated, deleted + 1, restored + 1],
            "one audit record per write"
        );

        // Purge: only deletions past retention go, each organization's under its own record.
        app.delete(&path, &a.token).await;
        app.delete(&self.path(&theirs), &b.token).await;
        let long_ago = match app.store {
            Store::Postgres => "2001-01-01 00:00:00+00:00",
            // As SQLite's driver writes times.
            Store::Sqlite => "2001-01-01T00:00:00+00:00",
        };
        app.as_owner(&format!(
            "UPDATE {} SET deleted_at = '{long_ago}' WHERE deleted_at IS NOT NULL",
            self.table
        ))
        .await;
        let recent = self.create(app, a, 7).await;
        app.delete(&self.path(&recent), &a.token).await;
        let removed = bulkhead_server::purge(&app.owner_url(), chrono::Duration::days(30))
            .await
            .unwrap();
        assert!(removed >= 2, "purged {removed}");
        let left = app
            .get(
                &format!("{}?include_deleted=true&limit=100", self.collection),
                &a.token,
            )
            .await;
        let ids: Vec<&Value> = left.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r["id"])
            .collect();
        assert!(!ids.contains(&&row["id"]), "the old deletion is gone");
        assert!(ids.contains(&&recent["id"]), "the recent deletion stays");
        for (tenant, gone) in [(a, &row), (b, &theirs)] {
            let events = app.audit_events(tenant).await;
            let purged = events
                .iter()
                .rev()
                .find(|e| e["action"] == format!("{}.purged", self.name))
                .expect("a purge record");
            assert!(
                purged["changes"]["ids"]
                    .as_array()
                    .unwrap()
                    .contains(&gone["id"])
            );
            assert_eq!(purged["actor_type"], "system");
        }
    }

    async fn idempotent_creation(&self, app: &TestApp, a: &Party) {
        let before = app.get(self.collection, &a.token).await.body["total"].clone();
        let body = (self.create)(8, &a.fixtures);
        let first = app
            .post_once(self.collection, &a.token, "contract-key", &body)
            .await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
        let again = app
            .post_once(self.collection, &a.token, "contract-key", &body)
            .await;
        assert_eq!(again.status, StatusCode::CREATED);
        assert_eq!(again.body, first.body);
        assert_eq!(again.headers["idempotent-replayed"], "true");
        let other = app
            .post_once(
                self.collection,
                &a.token,
                "contract-key",
                &(self.create)(9, &a.fixtures),
            )
            .await;
        other.assert_problem(422);
        let after = app.get(self.collection, &a.token).await.body["total"].clone();
        assert_eq!(
            after.as_u64(),
            before.as_u64().map(|n| n + 1),
            "one row for one key"
        );
    }

    /// For each operation of the resource in the OpenAPI document, each role is refused (403)
    /// exactly when it lacks the operation's `x-permission`.
    async fn permission_matrix(&self, app: &TestApp, owner: &Party) {
        let document: Value =
            serde_json::from_str(&bulkhead_api::openapi::json().unwrap()).unwrap();
        let mut operations = Vec::new();
        for path in [
            self.collection.to_owned(),
            self.item.to_owned(),
            format!("{}/restore", self.item),
        ] {
            for (method, operation) in document["paths"][&path].as_object().unwrap() {
                let permission = operation["x-permission"].as_str().unwrap();
                operations.push((
                    path.clone(),
                    method.to_uppercase(),
                    Permission::parse(permission).unwrap(),
                ));
            }
        }
        assert_eq!(operations.len(), 6, "{operations:?}");
        let mut n = 1000;
        for role in ["viewer", "member", "admin"] {
            let token = app
                .member_token(owner, &format!("contract-{role}@example.com"), role)
                .await
                .token;
            let grants = Role::from_str(role).unwrap();
            for (path, method, permission) in &operations {
                // A row of the owner's for each request, so each request may succeed.
                n += 2;
                let row = self.create(app, owner, n).await;
                app.delete(&self.path(&row), &owner.token).await;
                if !path.ends_with("/restore") {
                    app.post(
                        &format!("{}/restore", self.path(&row)),
                        Some(&owner.token),
                        json!({}),
                    )
                    .await;
                }
                let concrete = path.replace(
                    &self.item[self.collection.len()..],
                    &format!("/{}", row["id"].as_str().unwrap()),
                );
                let body = match method.as_str() {
                    "POST" if !path.ends_with("/restore") => {
                        Some((self.create)(n + 1, &owner.fixtures))
                    }
                    "PATCH" => Some((self.patch)(n + 1).0),
                    _ => None,
                };
                let mut request = app
                    .client
                    .request(Method::from_str(method).unwrap(), app.url(&concrete))
                    .bearer_auth(&token);
                if let Some(body) = body {
                    request = request.json(&body);
                }
                let reply = app.raw(request).await;
                if grants.grants(*permission) && self.private && path != self.collection {
                    // Someone else's private row: as if it did not exist.
                    assert_eq!(
                        reply.status,
                        StatusCode::NOT_FOUND,
                        "{role} {method} {path}: {}",
                        reply.body
                    );
                } else if grants.grants(*permission) && self.private && method == "GET" {
                    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                    assert_eq!(reply.body["total"], 0, "{role} lists another's rows");
                } else if grants.grants(*permission) {
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
}
