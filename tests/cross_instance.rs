//! Two servers on one PostgreSQL database behind a round-robin client, as behind a load
//! balancer: each request goes to the next server. Sessions, grants, the audit chain, the
//! request budget and run execution must behave as on one server.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bulkhead_domain::limits::Limit;
use bulkhead_tests::{Store, TestApp, spawn_app_with};
use reqwest::StatusCode;
use serde_json::json;

/// The servers and the turn of the next request.
struct Balanced {
    servers: [TestApp; 2],
    turn: AtomicUsize,
}

impl Balanced {
    /// The server the next request goes to.
    fn next(&self) -> &TestApp {
        &self.servers[self.turn.fetch_add(1, Ordering::Relaxed) % 2]
    }
}

/// The request budget of the test: roomy for everything before its last step.
const BUDGET: u32 = 150;

#[tokio::test]
async fn two_servers_behind_a_round_robin_client_act_as_one() {
    // The budget is counted per hour: stay inside one hour.
    let into = chrono::Utc::now().timestamp() % 3600;
    if into > 3600 - 60 {
        tokio::time::sleep(Duration::from_secs((3600 - into + 1) as u64)).await;
    }
    let limited = |config: &mut bulkhead_server::Config| {
        config.limits.requests_per_principal = Limit {
            max: BUDGET,
            window_secs: 3600,
        };
    };
    // Only the second server runs a worker: a run started on the first is executed there.
    let first = spawn_app_with(Store::Postgres, |config| {
        limited(config);
        config.runs.concurrency = 0;
    })
    .await;
    let second = first.another_instance(limited).await;
    let lb = Balanced {
        servers: [first, second],
        turn: AtomicUsize::new(0),
    };

    // Sessions: signed up on one, refreshed on the other, and a replayed refresh token (on
    // either) ends the session everywhere.
    let a = lb.next().register("ada@example.com").await;
    let refreshed = lb
        .next()
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": a.refresh_token }),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let token = refreshed.body["access_token"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let me = lb.next().get("/api/v1/auth/me", &token).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    }
    lb.next()
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": a.refresh_token }),
        )
        .await
        .assert_problem(401);
    for _ in 0..2 {
        lb.next()
            .get("/api/v1/auth/me", &token)
            .await
            .assert_problem(401);
    }
    let owner = lb.next().login("ada@example.com").await;
    let a = a_with(&a, &owner);

    // Grants: a member demoted through one server is demoted on both at once.
    let member = lb.next().member_token(&a, "mia@example.com", "admin").await;
    for _ in 0..2 {
        let listed = lb.next().get("/api/v1/audit-events", &member.token).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    }
    let demoted = lb
        .next()
        .patch(
            &format!("/api/v1/members/{}", member.user_id),
            &owner,
            json!({ "role": "viewer" }),
        )
        .await;
    assert_eq!(demoted.status, StatusCode::OK, "{}", demoted.body);
    // A downgrade ends the member's sessions: the old token is refused on both at once, and a
    // new sign-in holds the lesser role on both.
    for _ in 0..2 {
        lb.next()
            .get("/api/v1/audit-events", &member.token)
            .await
            .assert_problem(401);
    }
    let viewer = lb.next().login("mia@example.com").await;
    for _ in 0..2 {
        lb.next()
            .get("/api/v1/audit-events", &viewer)
            .await
            .assert_problem(403);
        let listed = lb.next().get("/api/v1/projects", &viewer).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    }

    // The audit chain: writes spread over both servers at once leave one intact chain.
    let creates = (0..12).map(|i| {
        lb.next().post(
            "/api/v1/projects",
            Some(&owner),
            json!({ "name": format!("p{i}") }),
        )
    });
    for reply in futures_util::future::join_all(creates).await {
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    for _ in 0..2 {
        let report = lb.next().get("/api/v1/audit-events/verify", &owner).await;
        assert_eq!(report.body["intact"], true, "{}", report.body);
    }

    // Runs: started on the server without a worker, executed by the other, read on both.
    let (_, agent) = lb.servers[0].echo_agent(&a, "helper").await;
    let run = lb.servers[0]
        .post(
            &format!("/api/v1/agents/{}/runs", agent["id"].as_str().unwrap()),
            Some(&owner),
            json!({ "input": { "text": "hello" } }),
        )
        .await;
    assert_eq!(run.status, StatusCode::ACCEPTED, "{}", run.body);
    let path = format!("/api/v1/runs/{}", run.body["id"].as_str().unwrap());
    let done = lb.servers[0].settled(&path, &owner, "succeeded").await;
    for _ in 0..2 {
        let read = lb.next().get(&path, &owner).await;
        assert_eq!(read.body["status"], "succeeded", "{}", read.body);
        assert_eq!(read.body["output"], done["output"]);
    }

    // The request budget is one across both servers: spent alternately, each server alone
    // has seen about half of it, yet once the counts are flushed (twice a second) and read
    // back, both refuse. (Within one flush interval a burst may pass the budget: the shared
    // count is that much behind.)
    for _ in 0..BUDGET {
        let reply = lb.next().get("/api/v1/projects", &owner).await;
        assert!(
            [StatusCode::OK, StatusCode::TOO_MANY_REQUESTS].contains(&reply.status),
            "{}",
            reply.body
        );
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for _ in 0..2 {
        lb.next()
            .get("/api/v1/projects", &owner)
            .await
            .assert_problem(429);
    }
}

/// `tenant` acting with `token` (a later session of the same owner).
fn a_with(tenant: &bulkhead_tests::Tenant, token: &str) -> bulkhead_tests::Tenant {
    bulkhead_tests::Tenant {
        token: token.to_owned(),
        ..tenant.clone()
    }
}
