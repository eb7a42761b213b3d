//! PostgreSQL's own enforcement, tested through the `bulkhead_app` role with raw SQL: even a
//! query that forgets its tenant filter cannot read or write another organization's rows.

#![allow(clippy::unwrap_used)]

use bulkhead_migrations::{APP_ROLE, TENANT_TABLES};
use bulkhead_server::Application;
use bulkhead_tests::{
    Store, Tenant, TestApp, TestDatabase, eventually, spawn_app, spawn_app_with, test_config,
};
use reqwest::StatusCode;
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, RuntimeErr,
    Statement, TransactionTrait,
};
use uuid::Uuid;

fn sql(text: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DatabaseBackend::Postgres, text, values)
}

async fn count(conn: &impl ConnectionTrait, query: &str) -> i64 {
    let row = conn
        .query_one_raw(sql(query, vec![]))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// Waits until exactly `wanted` of the server's backends on this database match `condition`
/// (on pg_stat_activity), for at most five seconds.
async fn until_app_backends(owner: &DatabaseConnection, condition: &str, wanted: i64) {
    let query = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND usename = '{APP_ROLE}' AND {condition}"
    );
    let query = &query;
    eventually(|| async move {
        match count(owner, query).await {
            n if n == wanted => Ok(()),
            n => Err(format!("{n} backends with {condition}, not {wanted}")),
        }
    })
    .await;
}

/// A transaction as the server opens it, with `org` as the tenant.
async fn tenant_tx(conn: &DatabaseConnection, org: &str) -> DatabaseTransaction {
    let tx = conn.begin().await.unwrap();
    tx.execute_raw(sql(
        "SELECT set_config('app.current_org', $1, true)",
        vec![org.into()],
    ))
    .await
    .unwrap();
    tx
}

fn sqlstate(err: &DbErr) -> Option<String> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned()),
        _ => None,
    }
}

async fn two_tenants_with_a_project_each(app: &TestApp) -> (String, String, String) {
    let a = app.register("a@example.com").await;
    let b = app.register("b@example.com").await;
    let project = app.create_project(&a, "A's project").await;
    app.create_project(&b, "B's project").await;
    (
        a.organization_id,
        b.organization_id,
        project["id"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn the_app_role_cannot_bypass_row_level_security() {
    let database = TestDatabase::create().await;
    let owner = database.connect_as_owner().await;
    let role = owner
        .query_one_raw(sql(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = $1",
            vec![APP_ROLE.into()],
        ))
        .await
        .unwrap()
        .unwrap();
    for flag in ["rolsuper", "rolbypassrls", "rolcreaterole", "rolcreatedb"] {
        assert!(
            !role.try_get::<bool>("", flag).unwrap(),
            "{APP_ROLE} has {flag}"
        );
    }
    let owned = count(
        &owner,
        &format!("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = '{APP_ROLE}'"),
    )
    .await;
    assert_eq!(owned, 0, "{APP_ROLE} owns tables");
    for table in TENANT_TABLES {
        let protected = count(
            &owner,
            &format!("SELECT count(*) FROM pg_class WHERE relname = '{table}' AND relrowsecurity AND relforcerowsecurity"),
        )
        .await;
        assert_eq!(
            protected, 1,
            "{table} lacks ENABLE + FORCE ROW LEVEL SECURITY"
        );
        let restrictive = count(
            &owner,
            &format!("SELECT count(*) FROM pg_policies WHERE tablename = '{table}' AND permissive = 'RESTRICTIVE'"),
        )
        .await;
        assert!(
            restrictive >= 1,
            "{table} lacks its restrictive tenant policy"
        );
    }
    // Grants are minimal: organizations and accounts cannot be deleted by the server, and of
    // an account it may change only the name, the password hash and the verification time.
    for (table, privilege) in [("organizations", "DELETE"), ("users", "DELETE")] {
        let granted = count(
            &owner,
            &format!("SELECT count(*) FROM (SELECT has_table_privilege('{APP_ROLE}', '{table}', '{privilege}') AS p) t WHERE p"),
        )
        .await;
        assert_eq!(granted, 0, "{APP_ROLE} may {privilege} on {table}");
    }
    for (column, updatable) in [
        ("email", false),
        ("id", false),
        ("name", true),
        ("password_hash", true),
        ("email_verified_at", true),
    ] {
        let granted = count(
            &owner,
            &format!("SELECT count(*) FROM (SELECT has_column_privilege('{APP_ROLE}', 'users', '{column}', 'UPDATE') AS p) t WHERE p"),
        )
        .await;
        assert_eq!(granted == 1, updatable, "UPDATE of users.{column}");
    }
}

#[tokio::test]
async fn a_user_reads_their_memberships_everywhere_but_deletes_only_in_the_tenant() {
    let app = spawn_app(Store::Postgres).await;
    let a = app.register("a@example.com").await;
    let b = app.register("b@example.com").await;
    app.add_member(&b, &a, "viewer").await;
    let conn = app.database.as_ref().unwrap().connect_as_app().await;
    let tx = conn.begin().await.unwrap();
    tx.execute_raw(sql(
        "SELECT set_config('app.current_org', $1, true), set_config('app.current_user', $2, true)",
        vec![a.organization_id.clone().into(), a.user_id.clone().into()],
    ))
    .await
    .unwrap();
    let mine = format!(
        "SELECT count(*) FROM memberships WHERE user_id = '{}'",
        a.user_id
    );
    assert_eq!(count(&tx, &mine).await, 2, "the login path reads both");
    // A careless delete by user alone still reaches only the current tenant's row.
    let deleted = tx
        .execute_raw(sql(
            "DELETE FROM memberships WHERE user_id = $1::uuid",
            vec![a.user_id.clone().into()],
        ))
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(deleted, 1);
    tx.rollback().await.unwrap();
    let owner = app.database.as_ref().unwrap().connect_as_owner().await;
    assert_eq!(count(&owner, &mine).await, 2);
}

#[tokio::test]
async fn policies_confine_reads_and_writes_to_the_current_organization() {
    let app = spawn_app(Store::Postgres).await;
    let (org_a, org_b, project_a) = two_tenants_with_a_project_each(&app).await;
    let database = app.database.as_ref().unwrap();
    // One connection, so every step below reuses the same session.
    let conn = database.connect_as_app().await;

    // With no tenant set, tenant tables read as empty.
    for table in TENANT_TABLES {
        assert_eq!(
            count(&conn, &format!("SELECT count(*) FROM {table}")).await,
            0,
            "{table}"
        );
    }

    // With B set, a query that forgets its filter still sees only B's rows.
    let tx = tenant_tx(&conn, &org_b).await;
    let rows = tx
        .query_all_raw(sql(
            "SELECT organization_id::text AS org FROM projects",
            vec![],
        ))
        .await
        .unwrap();
    let orgs: Vec<String> = rows.iter().map(|r| r.try_get("", "org").unwrap()).collect();
    assert_eq!(orgs, vec![org_b.clone()]);
    assert_eq!(
        count(
            &tx,
            &format!("SELECT count(*) FROM projects WHERE organization_id = '{org_a}'")
        )
        .await,
        0
    );
    assert_eq!(count(&tx, "SELECT count(*) FROM organizations").await, 1);

    // Updating or deleting A's row under B's setting touches nothing.
    let updated = tx
        .execute_raw(sql(
            "UPDATE projects SET name = 'pwned' WHERE id = $1::uuid",
            vec![project_a.clone().into()],
        ))
        .await
        .unwrap();
    assert_eq!(updated.rows_affected(), 0);
    let deleted = tx
        .execute_raw(sql(
            "DELETE FROM projects WHERE id = $1::uuid",
            vec![project_a.clone().into()],
        ))
        .await
        .unwrap();
    assert_eq!(deleted.rows_affected(), 0);
    tx.commit().await.unwrap();

    // Inserting a row for A under B's setting is refused by the policy (42501).
    let tx = tenant_tx(&conn, &org_b).await;
    let err = tx
        .execute_raw(sql(
            "INSERT INTO projects (organization_id, id, name, created_by, created_at, updated_at)
             SELECT $1::uuid, $2::uuid, 'planted', created_by, now(), now() FROM projects LIMIT 1",
            vec![org_a.clone().into(), Uuid::now_v7().to_string().into()],
        ))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("42501"), "{err}");
    tx.rollback().await.unwrap();

    // The setting was transaction-local: the same connection, afterwards, sees nothing again.
    assert_eq!(count(&conn, "SELECT count(*) FROM projects").await, 0);
    let tx = conn.begin().await.unwrap();
    assert_eq!(count(&tx, "SELECT count(*) FROM projects").await, 0);
    tx.commit().await.unwrap();

    // A's project is intact.
    let tx = tenant_tx(&conn, &org_a).await;
    let name = tx
        .query_one_raw(sql(
            "SELECT name FROM projects WHERE id = $1::uuid",
            vec![project_a.into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<String>("", "name")
        .unwrap();
    assert_eq!(name, "A's project");
}

#[tokio::test]
async fn entering_a_tenant_checks_the_session_and_membership_and_leaves_nothing_set_afterwards() {
    let app = spawn_app(Store::Postgres).await;
    let a = app.register("a@example.com").await;
    let b = app.register("b@example.com").await;
    let conn = app.database.as_ref().unwrap().connect_as_app().await;
    let enter_session = |org: &str, user: &str, session: Option<&str>| {
        sql(
            "SELECT (SELECT member_role FROM bulkhead_enter_tenant($1::uuid, $2::uuid, $3::uuid)) AS role",
            vec![org.into(), user.into(), session.map(str::to_owned).into()],
        )
    };
    let enter = |org: &str, user: &str| enter_session(org, user, None);
    let role = |row: Option<sea_orm::QueryResult>| {
        row.unwrap().try_get::<Option<String>>("", "role").unwrap()
    };
    let tx = conn.begin().await.unwrap();
    assert_eq!(
        role(
            tx.query_one_raw(enter(&a.organization_id, &a.user_id))
                .await
                .unwrap()
        )
        .as_deref(),
        Some("owner")
    );
    // The settings hold for the rest of the transaction: only A's rows.
    assert_eq!(count(&tx, "SELECT count(*) FROM organizations").await, 1);
    tx.commit().await.unwrap();
    // B's user is no member of A: no role, whatever the arguments claim.
    let tx = conn.begin().await.unwrap();
    assert_eq!(
        role(
            tx.query_one_raw(enter(&a.organization_id, &b.user_id))
                .await
                .unwrap()
        ),
        None
    );
    tx.commit().await.unwrap();
    // With a session: only a live session of this user in this organization yields the role.
    let as_session = |tenant: &Tenant, session: &str| {
        enter_session(&tenant.organization_id, &tenant.user_id, Some(session))
    };
    let role_in_tx = |statement| {
        let conn = &conn;
        async move {
            let tx = conn.begin().await.unwrap();
            let found = role(tx.query_one_raw(statement).await.unwrap());
            tx.commit().await.unwrap();
            found
        }
    };
    assert_eq!(
        role_in_tx(as_session(&a, &a.session_id)).await.as_deref(),
        Some("owner")
    );
    assert_eq!(
        role_in_tx(as_session(&a, &b.session_id)).await,
        None,
        "another's session"
    );
    app.as_owner(&format!(
        "UPDATE sessions SET revoked_at = now() WHERE id = '{}'",
        a.session_id
    ))
    .await;
    assert_eq!(
        role_in_tx(as_session(&a, &a.session_id)).await,
        None,
        "a revoked session"
    );
    app.as_owner(&format!(
        "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = '{}'",
        b.session_id
    ))
    .await;
    assert_eq!(
        role_in_tx(as_session(&b, &b.session_id)).await,
        None,
        "an expired session"
    );
    // The settings ended with the transaction: the same connection sees no tenant afterwards.
    assert_eq!(count(&conn, "SELECT count(*) FROM memberships").await, 0);
    assert_eq!(count(&conn, "SELECT count(*) FROM projects").await, 0);
}

#[tokio::test]
async fn the_audit_trail_is_append_only_for_the_server() {
    let app = spawn_app(Store::Postgres).await;
    let a = app.register("a@example.com").await;
    let conn = app.database.as_ref().unwrap().connect_as_app().await;
    let tx = tenant_tx(&conn, &a.organization_id).await;
    assert_eq!(
        count(&tx, "SELECT count(*) FROM audit_events").await,
        1,
        "the app role reads its trail"
    );
    for statement in [
        "UPDATE audit_events SET action = 'rewritten'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let savepoint = tx.begin().await.unwrap();
        let err = savepoint.execute_unprepared(statement).await.unwrap_err();
        assert_eq!(
            sqlstate(&err).as_deref(),
            Some("42501"),
            "{statement}: {err}"
        );
        savepoint.rollback().await.unwrap();
    }
    tx.rollback().await.unwrap();
    let report = app.get("/api/v1/audit-events/verify", &a.token).await;
    assert_eq!(report.body["intact"], true);
}

#[tokio::test]
async fn a_pool_of_one_connection_never_leaks_the_tenant_between_requests() {
    // The server's connections use generic plans (planned once, reused for every tenant), so
    // this also shows that the policies read the tenant when a plan runs, not when it is made.
    let app = spawn_app_with(Store::Postgres, |c| c.store.max_connections = 1).await;
    let a = app.register("a@example.com").await;
    let b = app.register("b@example.com").await;
    let pa = app.create_project(&a, "alpha").await;
    let pb = app.create_project(&b, "bravo").await;
    for (tenant, own, other) in [
        (&a, &pa, &pb),
        (&b, &pb, &pa),
        (&a, &pa, &pb),
        (&b, &pb, &pa),
    ] {
        let list = app.get("/api/v1/projects", &tenant.token).await;
        assert_eq!(list.body["total"], 1);
        assert_eq!(list.body["data"][0]["id"], own["id"]);
        let foreign = app
            .get(
                &format!("/api/v1/projects/{}", other["id"].as_str().unwrap()),
                &tenant.token,
            )
            .await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    }
}

/// A read ends its transaction with a rollback that the driver sends along with the pool's
/// check of the released connection (`OrgTx::finish_read`), after the reply is on its way. With
/// one connection, every write right after a read runs on the connection that read: it must
/// find it out of that read-only transaction, with no tenant set.
#[tokio::test]
async fn reads_leave_their_connection_writable_and_outside_any_transaction() {
    let app = spawn_app_with(Store::Postgres, |c| c.store.max_connections = 1).await;
    let a = app.register("a@example.com").await;
    let b = app.register("b@example.com").await;
    let own = app.create_project(&a, "alpha").await;
    let own = own["id"].as_str().unwrap();
    // A key's scope has no user: its unit of work enters the tenant without a membership.
    let key = app.api_key_secret(&a, &["projects:read"]).await;
    for round in 1..=3 {
        let reply = app.get(&format!("/api/v1/projects/{own}"), &key).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        app.create_project(&b, &format!("bravo by key's turn {round}"))
            .await;
        for path in [
            "/api/v1/projects".to_owned(),
            format!("/api/v1/projects/{own}"),
            format!("/api/v1/projects/{own}/members"),
            "/api/v1/members".to_owned(),
            "/api/v1/roles".to_owned(),
            "/api/v1/invitations".to_owned(),
            "/api/v1/api-keys".to_owned(),
            "/api/v1/audit-events".to_owned(),
            "/api/v1/organizations/current".to_owned(),
            "/api/v1/auth/me".to_owned(),
            "/api/v1/auth/sessions".to_owned(),
            "/api/v1/auth/organizations".to_owned(),
        ] {
            let reply = app.get(&path, &a.token).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        }
        app.create_project(&b, &format!("bravo {round}")).await;
    }
    let list = app.get("/api/v1/projects", &b.token).await;
    assert_eq!(list.body["total"], 6);
    let list = app.get("/api/v1/projects", &a.token).await;
    assert_eq!(list.body["total"], 1);

    let owner = app.database.as_ref().unwrap().connect_as_owner().await;
    // No connection is left in a transaction.
    until_app_backends(&owner, "state LIKE 'idle in transaction%'", 0).await;
}

/// Reads take turns (`BULKHEAD_DB_MAX_READS`), writes do not: with one turn, held by a read
/// that PostgreSQL keeps waiting on a lock, another read waits for the turn and gives up with
/// 503 after the acquire timeout, while a write still runs on a connection of its own. Once
/// the lock is gone, both reads answer.
#[tokio::test]
async fn reads_take_turns_and_writes_do_not_wait_for_them() {
    let app = spawn_app_with(Store::Postgres, |c| {
        c.store.max_connections = 4;
        c.store.max_reads = Some(1);
        c.store.acquire_timeout = std::time::Duration::from_millis(500);
    })
    .await;
    let a = app.register("a@example.com").await;
    let project = app.create_project(&a, "alpha").await;
    let path = format!("/api/v1/projects/{}", project["id"].as_str().unwrap());

    let database = app.database.as_ref().unwrap();
    let (locker, owner) = (
        database.connect_as_owner().await,
        database.connect_as_owner().await,
    );
    let lock = locker.begin().await.unwrap();
    lock.execute_unprepared("LOCK TABLE projects IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let held = app.get(&path, &a.token);
    let meanwhile = async {
        // The read holding the turn waits on the lock.
        until_app_backends(&owner, "wait_event_type = 'Lock'", 1).await;
        let turnless = app.get("/api/v1/members", &a.token).await;
        turnless.assert_problem(503);
        // A write: it must not wait for a read's turn.
        app.api_key_secret(&a, &["projects:read"]).await;
        lock.rollback().await.unwrap();
    };
    let (held, ()) = tokio::join!(held, meanwhile);
    assert_eq!(held.status, StatusCode::OK, "{}", held.body);
    let members = app.get("/api/v1/members", &a.token).await;
    assert_eq!(members.status, StatusCode::OK, "{}", members.body);
}

/// The server's sessions plan each prepared statement once (see `Store::connect`).
#[tokio::test]
async fn the_servers_sessions_use_generic_plans() {
    let database = TestDatabase::create().await;
    let store = bulkhead_infra::Store::connect(&database.app_url, &Default::default())
        .await
        .unwrap();
    let row = store
        .connection()
        .query_one_raw(sql(
            "SELECT current_setting('plan_cache_mode') AS mode",
            vec![],
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.try_get::<String>("", "mode").unwrap(),
        "force_generic_plan"
    );
}

/// The check behind `serve`'s warning: migrated by a superuser, `tsvector @@ tsquery` is
/// LEAKPROOF and search can use its index; unmarked (a restore, a migration by another role),
/// the store says so.
#[tokio::test]
async fn the_store_knows_whether_search_can_use_its_index() {
    let database = TestDatabase::create().await;
    let store = bulkhead_infra::Store::connect(&database.app_url, &Default::default())
        .await
        .unwrap();
    assert!(store.search_uses_index().await.unwrap());
    database
        .connect_as_owner()
        .await
        .execute_unprepared(
            "ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) NOT LEAKPROOF",
        )
        .await
        .unwrap();
    assert!(!store.search_uses_index().await.unwrap());
}

async fn build_error(url: String) -> String {
    match Application::build(test_config(url)).await {
        Ok(_) => panic!("the server started with an unsafe role"),
        Err(err) => err.to_string(),
    }
}

#[tokio::test]
async fn serve_refuses_roles_that_would_bypass_row_level_security() {
    let database = TestDatabase::create().await;
    let superuser = build_error(database.owner_url.clone()).await;
    assert!(superuser.contains("superuser"), "{superuser}");

    let owner = database.connect_as_owner().await;
    let role = format!("bulkhead_test_role_{}", Uuid::now_v7().simple());
    let mut url = url::Url::parse(&database.app_url).unwrap();
    url.set_username(&role).unwrap();
    owner
        .execute_unprepared(&format!(
            "CREATE ROLE {role} LOGIN BYPASSRLS; GRANT {APP_ROLE} TO {role};"
        ))
        .await
        .unwrap();
    let bypass = build_error(url.to_string()).await;
    owner
        .execute_unprepared(&format!(
            "ALTER ROLE {role} NOBYPASSRLS; ALTER TABLE projects OWNER TO {role};"
        ))
        .await
        .unwrap();
    let owns = build_error(url.to_string()).await;
    owner
        .execute_unprepared(&format!(
            "ALTER TABLE projects OWNER TO CURRENT_USER; REVOKE {APP_ROLE} FROM {role}; DROP ROLE {role};"
        ))
        .await
        .unwrap();
    assert!(bypass.contains("BYPASSRLS"), "{bypass}");
    assert!(owns.contains("owns tables (projects)"), "{owns}");

    owner
        .execute_unprepared("ALTER TABLE projects NO FORCE ROW LEVEL SECURITY")
        .await
        .unwrap();
    let unforced = build_error(database.app_url.clone()).await;
    assert!(
        unforced.contains("without forced row-level security: projects"),
        "{unforced}"
    );
}

#[tokio::test]
async fn backends_killed_mid_write_lose_nothing_acknowledged_and_leave_nothing_half_done() {
    let app = spawn_app(Store::Postgres).await;
    let a = app.register("a@example.com").await;
    let database = app.database.as_ref().unwrap();
    let killer_conn = TestDatabase::connect_admin_server().await;
    let name = database.name.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_killing = stop.clone();
    // Keep terminating the server's backends while it writes.
    let killer = tokio::spawn(async move {
        let mut kills = 0u32;
        while !stop_killing.load(std::sync::atomic::Ordering::Relaxed) {
            let killed = killer_conn
                .query_all_raw(sql(
                    // One backend at a time, and only one that is inside a transaction or a
                    // statement: killed mid-write, not while idle in the pool.
                    "SELECT pg_terminate_backend(pid) FROM (
                       SELECT pid FROM pg_stat_activity
                       WHERE datname = $1 AND usename = 'bulkhead_app' AND state <> 'idle'
                       LIMIT 1) busy",
                    vec![name.clone().into()],
                ))
                .await
                .map(|rows| rows.len() as u32)
                .unwrap_or(0);
            kills += killed;
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        kills
    });
    let writes = (0..60).map(|i| {
        app.post(
            "/api/v1/projects",
            Some(&a.token),
            serde_json::json!({ "name": format!("p{i}") }),
        )
    });
    let replies = futures_util::future::join_all(writes).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let kills = killer.await.unwrap();

    let acknowledged: Vec<&str> = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .map(|r| r.body["id"].as_str().unwrap())
        .collect();
    for reply in &replies {
        // A write whose backend died is refused as unavailable or internal, never half-acknowledged.
        assert!(
            reply.status == StatusCode::CREATED || reply.status.is_server_error(),
            "{}: {}",
            reply.status,
            reply.body
        );
    }
    assert!(
        kills > 0,
        "no backend was terminated; the test proved nothing"
    );
    assert!(
        !acknowledged.is_empty(),
        "no write succeeded; the test proved nothing"
    );

    // Every acknowledged project is there, and every project there has its audit record.
    let list = app.get("/api/v1/projects?limit=100", &a.token).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let stored: std::collections::BTreeSet<&str> = list.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    for id in &acknowledged {
        assert!(stored.contains(id), "acknowledged project {id} is missing");
    }
    let created = app
        .get(
            "/api/v1/audit-events?action=project.created&limit=100",
            &a.token,
        )
        .await;
    let audited: std::collections::BTreeSet<&str> = created.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        stored, audited,
        "a project without its audit record, or the reverse"
    );
    let report = app.get("/api/v1/audit-events/verify", &a.token).await;
    assert_eq!(report.body["intact"], true, "{}", report.body);
}

/// The tables of `public` that have an `organization_id` column, read from the catalogue.
async fn tables_with_an_organization(owner: &DatabaseConnection) -> Vec<String> {
    owner
        .query_all_raw(sql(
            "SELECT c.relname::text AS name FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_attribute a ON a.attrelid = c.oid
              WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
                AND a.attname = 'organization_id' AND NOT a.attisdropped
              ORDER BY 1",
            vec![],
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get::<String>("", "name").unwrap())
        .collect()
}

// Issue F7: not a hand-kept list. Every table that names an organization is under forced
// row-level security with a restrictive policy, the app role owns nothing, and the server's
// own list of tenant tables (which it checks at start) misses none of them.
#[tokio::test]
async fn every_table_naming_an_organization_is_under_forced_row_level_security() {
    let database = TestDatabase::create().await;
    let owner = database.connect_as_owner().await;
    let tables = tables_with_an_organization(&owner).await;
    assert!(tables.len() >= 10, "{tables:?}");
    assert!(tables.iter().any(|t| t == "sessions"), "{tables:?}");
    for table in &tables {
        let forced = count(
            &owner,
            &format!(
                "SELECT count(*) FROM pg_class WHERE oid = 'public.{table}'::regclass \
                 AND relrowsecurity AND relforcerowsecurity"
            ),
        )
        .await;
        assert_eq!(
            forced, 1,
            "{table} is not under ENABLE + FORCE ROW LEVEL SECURITY"
        );
        let restrictive = count(
            &owner,
            &format!(
                "SELECT count(*) FROM pg_policy WHERE polrelid = 'public.{table}'::regclass \
                 AND NOT polpermissive AND polcmd = '*'"
            ),
        )
        .await;
        assert!(
            restrictive >= 1,
            "{table} has no restrictive policy for all commands"
        );
        assert!(
            TENANT_TABLES.contains(&table.as_str()),
            "{table} is missing from TENANT_TABLES, which the server checks at start"
        );
    }
    let owned = count(
        &owner,
        &format!(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = '{APP_ROLE}'"
        ),
    )
    .await;
    assert_eq!(owned, 0, "{APP_ROLE} owns something in public");
}

// Issue F7: sessions are tenant rows. With nothing set the app role reads none; a tenant sees
// its own organization's; a user sees their own everywhere; a refresh token opens its own
// session and no other.
#[tokio::test]
async fn sessions_are_visible_only_to_their_user_their_organization_or_their_token() {
    let app = spawn_app(Store::Postgres).await;
    let a = app.register("a@example.com").await;
    let b = app.register("b@example.com").await;
    app.add_member(&b, &a, "viewer").await;
    app.login("a@example.com").await;
    let conn = app.database.as_ref().unwrap().connect_as_app().await;
    assert_eq!(count(&conn, "SELECT count(*) FROM sessions").await, 0);
    let in_b = tenant_tx(&conn, &b.organization_id).await;
    let orgs = in_b
        .query_all_raw(sql(
            "SELECT DISTINCT organization_id::text AS org FROM sessions",
            vec![],
        ))
        .await
        .unwrap();
    assert_eq!(orgs.len(), 1);
    assert_eq!(
        orgs[0].try_get::<String>("", "org").unwrap(),
        b.organization_id
    );
    in_b.rollback().await.unwrap();
    let as_a = conn.begin().await.unwrap();
    as_a.execute_raw(sql(
        "SELECT set_config('app.current_user', $1, true)",
        vec![a.user_id.clone().into()],
    ))
    .await
    .unwrap();
    let users = count(
        &as_a,
        &format!(
            "SELECT count(*) FROM sessions WHERE user_id <> '{}'",
            a.user_id
        ),
    )
    .await;
    assert_eq!(users, 0, "another user's session is visible to a");
    assert!(count(&as_a, "SELECT count(*) FROM sessions").await >= 2);
    as_a.rollback().await.unwrap();
    let by_token = conn.begin().await.unwrap();
    by_token
        .execute_raw(sql(
            "SELECT set_config('app.refresh_digest', $1, true)",
            vec![bulkhead_tests::sha256_hex(&b.refresh_token).into()],
        ))
        .await
        .unwrap();
    let opened = by_token
        .query_all_raw(sql("SELECT id::text AS id FROM sessions", vec![]))
        .await
        .unwrap();
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].try_get::<String>("", "id").unwrap(), b.session_id);
    // Writing a session into another organization is refused by the policy.
    let refused = by_token
        .execute_raw(sql(
            "UPDATE sessions SET organization_id = $1::uuid",
            vec![a.organization_id.clone().into()],
        ))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&refused).as_deref(), Some("42501"));
}

// Issue F1 in the database: the first statement of a key's unit of work answers its
// creator's grant while the key is live, and nothing once it is revoked.
#[tokio::test]
async fn entering_a_tenant_with_a_key_reads_its_creators_grant_while_it_is_live() {
    let app = spawn_app(Store::Postgres).await;
    let a = app.register("a@example.com").await;
    let key = app.create_api_key(&a, &["projects:read"]).await;
    let key_id = key["id"].as_str().unwrap().to_owned();
    let conn = app.database.as_ref().unwrap().connect_as_app().await;
    let enter = "SELECT member_role, current_setting('app.current_user', true) AS acting \
                 FROM bulkhead_enter_tenant($1::uuid, NULL, NULL, false, $2::uuid)";
    let row = conn
        .query_one_raw(sql(
            enter,
            vec![a.organization_id.clone().into(), key_id.clone().into()],
        ))
        .await
        .unwrap()
        .expect("a live key of a member admits");
    assert_eq!(row.try_get::<String>("", "member_role").unwrap(), "owner");
    assert_eq!(
        row.try_get::<String>("", "acting").unwrap(),
        "",
        "a key is not its creator"
    );
    let revoked = app
        .delete(&format!("/api/v1/api-keys/{key_id}"), &a.token)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let gone = conn
        .query_one_raw(sql(
            enter,
            vec![a.organization_id.clone().into(), key_id.into()],
        ))
        .await
        .unwrap();
    assert!(gone.is_none(), "a revoked key still admits");
}

// The migration helper for new tenant tables: what it creates is isolated like every other
// tenant table, by PostgreSQL itself.
#[tokio::test]
async fn a_table_made_by_the_tenant_table_helper_is_isolated_by_postgresql() {
    use sea_orm_migration::prelude::{Alias, ForeignKeyAction, SchemaManager};
    use sea_orm_migration::schema::{string_len, uuid_null};

    let app = spawn_app(Store::Postgres).await;
    let (org_a, org_b, project_a) = two_tenants_with_a_project_each(&app).await;
    let database = app.database.as_ref().unwrap();
    let owner = database.connect_as_owner().await;
    bulkhead_migrations::TenantTable::new("kit_notes")
        .column(string_len(Alias::new("title"), 200))
        .column(uuid_null(Alias::new("project_id")))
        .references("project_id", "projects", ForeignKeyAction::Cascade)
        .unique_live("lower_title", "lower(title)")
        .sorted_by("title")
        .create(&SchemaManager::new(&owner))
        .await
        .unwrap();
    assert_eq!(
        count(
            &owner,
            "SELECT count(*) FROM pg_class WHERE oid = 'public.kit_notes'::regclass \
             AND relrowsecurity AND relforcerowsecurity"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &owner,
            "SELECT count(*) FROM pg_policy WHERE polrelid = 'public.kit_notes'::regclass \
             AND NOT polpermissive AND polcmd = '*'"
        )
        .await,
        1
    );
    let user_b: String = owner
        .query_one_raw(sql(
            "SELECT user_id::text AS id FROM memberships WHERE organization_id = $1::uuid",
            vec![org_b.clone().into()],
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "id")
        .unwrap();

    let app_conn = database.connect_as_app().await;
    let insert = |org: &str, title: &str, project: Option<&str>| {
        sql(
            "INSERT INTO kit_notes (organization_id, id, created_by, created_at, updated_at, title, project_id) \
             VALUES ($1::uuid, $2::uuid, $3::uuid, now(), now(), $4, $5::uuid)",
            vec![
                org.into(),
                Uuid::now_v7().to_string().into(),
                user_b.clone().into(),
                title.into(),
                project.map(str::to_owned).into(),
            ],
        )
    };
    // B's note may not point at A's project: the foreign key carries the organization.
    let tx = tenant_tx(&app_conn, &org_b).await;
    let crossing = tx
        .execute_raw(insert(&org_b, "mine", Some(&project_a)))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&crossing).as_deref(), Some("23503"), "{crossing}");
    tx.rollback().await.unwrap();
    // Nor may B's transaction write a row of A's: the policy refuses it.
    let tx = tenant_tx(&app_conn, &org_b).await;
    let foreign = tx
        .execute_raw(insert(&org_a, "theirs", None))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&foreign).as_deref(), Some("42501"), "{foreign}");
    tx.rollback().await.unwrap();
    // B's own row is fine, once per title among live rows, and A does not see it.
    let tx = tenant_tx(&app_conn, &org_b).await;
    tx.execute_raw(insert(&org_b, "Plan", None)).await.unwrap();
    let twice = tx
        .execute_raw(insert(&org_b, "PLAN", None))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&twice).as_deref(), Some("23505"), "{twice}");
    tx.rollback().await.unwrap();
    let tx = tenant_tx(&app_conn, &org_b).await;
    tx.execute_raw(insert(&org_b, "Plan", None)).await.unwrap();
    tx.commit().await.unwrap();
    let tx = tenant_tx(&app_conn, &org_a).await;
    assert_eq!(count(&tx, "SELECT count(*) FROM kit_notes").await, 0);
    tx.rollback().await.unwrap();
    assert_eq!(count(&owner, "SELECT count(*) FROM kit_notes").await, 1);
}
