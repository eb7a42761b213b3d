//! Brute-force defence and rate limits over HTTP (SECURITY-CASES 10 and 11): per-account
//! lockout, per-address limits, the per-principal request limit, trusted proxies, and limits
//! that hold across server instances.

#![allow(clippy::unwrap_used)]

use bulkhead_domain::limits::{Limit, RateLimits};
use bulkhead_server::Config;
use bulkhead_tests::{PASSWORD, Reply, Store, TestApp, on_both_stores, spawn_app_with};
use reqwest::StatusCode;
use serde_json::json;

on_both_stores! {
    accounts_lock_after_repeated_failures_from_any_address;
    one_address_cannot_try_many_accounts;
    each_principal_has_a_request_budget;
    email_endpoints_are_limited_per_recipient;
}

/// Trusts the test client (127.0.0.1) as a proxy, so tests choose the client address with
/// `X-Forwarded-For`, and sets `limits`.
fn behind_proxy(limits: RateLimits) -> impl FnOnce(&mut Config) {
    move |c| {
        c.http.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.limits = limits;
    }
}

fn roomy() -> RateLimits {
    RateLimits {
        auth_per_address: Limit::per_minute(1000),
        login_failures_per_account: Limit::per_minute(1000),
        email_per_address: Limit::per_minute(1000),
        email_per_account: Limit::per_minute(1000),
        requests_per_principal: Limit::per_minute(1000),
    }
}

async fn login_from(app: &TestApp, address: &str, email: &str, password: &str) -> Reply {
    app.raw(
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", address)
            .json(&json!({ "email": email, "password": password })),
    )
    .await
}

fn assert_limited(reply: &Reply) {
    reply.assert_problem(429);
    let retry_after: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
}

async fn accounts_lock_after_repeated_failures_from_any_address(store: Store) {
    let limits = RateLimits {
        login_failures_per_account: Limit {
            max: 3,
            window_secs: 900,
        },
        ..roomy()
    };
    inside_one_window(900, 10).await;
    let app = spawn_app_with(store, behind_proxy(limits)).await;
    let a = app.register("ada@example.com").await;
    for (i, address) in ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
        .iter()
        .enumerate()
    {
        let reply = login_from(&app, address, &a.email, "wrong password").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // Locked now, even for the right password and from a fresh address.
    let locked = login_from(&app, "198.51.100.9", &a.email, PASSWORD).await;
    assert_limited(&locked);
    // Unknown emails lock the same way, so a lockout reveals nothing.
    for _ in 0..3 {
        login_from(&app, "203.0.113.4", "ghost@example.com", "wrong password").await;
    }
    assert_limited(&login_from(&app, "203.0.113.4", "ghost@example.com", "whatever").await);
    // Every failure and the lockout are in the account's audit trail; sessions still work.
    let actions = app.audit_actions(&a).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "auth.login_failed").count(),
        3,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "auth.login_locked").count(),
        1,
        "{actions:?}"
    );
}

/// Limit windows are fixed (aligned to multiples of their length): waits, when fewer than
/// `margin` seconds of the current `window`-second window are left, for the next one, so that
/// every count a test makes lands in one window.
async fn inside_one_window(window: i64, margin: i64) {
    let into = chrono::Utc::now().timestamp() % window;
    if into > window - margin {
        tokio::time::sleep(std::time::Duration::from_secs((window - into + 1) as u64)).await;
    }
}

async fn one_address_cannot_try_many_accounts(store: Store) {
    let limits = RateLimits {
        auth_per_address: Limit::per_minute(4),
        ..roomy()
    };
    inside_one_window(60, 10).await;
    let app = spawn_app_with(store, behind_proxy(limits)).await;
    for i in 0..4 {
        let reply = login_from(
            &app,
            "203.0.113.50",
            &format!("user{i}@example.com"),
            "guess",
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    assert_limited(&login_from(&app, "203.0.113.50", "user9@example.com", "guess").await);
    // Another address is not affected, and refresh shares the per-address budget.
    let other = login_from(&app, "198.51.100.50", "user9@example.com", "guess").await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED);
    let refresh = app
        .raw(
            app.client
                .post(app.url("/api/v1/auth/refresh"))
                .header("x-forwarded-for", "203.0.113.50")
                .json(&json!({ "refresh_token": "bhr_x" })),
        )
        .await;
    assert_limited(&refresh);
}

async fn each_principal_has_a_request_budget(store: Store) {
    let limits = RateLimits {
        requests_per_principal: Limit::per_minute(5),
        ..roomy()
    };
    inside_one_window(60, 10).await;
    let app = spawn_app_with(store, |c| c.limits = limits).await;
    let a = app.register("ada@example.com").await;
    let b = app.register("bob@example.com").await;
    for _ in 0..5 {
        assert_eq!(
            app.get("/api/v1/projects", &a.token).await.status,
            StatusCode::OK
        );
    }
    assert_limited(&app.get("/api/v1/projects", &a.token).await);
    // The budget is per principal: Bob is unaffected.
    assert_eq!(
        app.get("/api/v1/projects", &b.token).await.status,
        StatusCode::OK
    );
}

async fn email_endpoints_are_limited_per_recipient(store: Store) {
    let limits = RateLimits {
        email_per_account: Limit {
            max: 2,
            window_secs: 3600,
        },
        ..roomy()
    };
    let app = spawn_app_with(store, |c| c.limits = limits).await;
    let a = app.register("ada@example.com").await;
    for _ in 0..2 {
        let reply = app
            .post(
                "/api/v1/auth/forgot-password",
                None,
                json!({ "email": a.email }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED);
    }
    let third = app
        .post(
            "/api/v1/auth/forgot-password",
            None,
            json!({ "email": a.email }),
        )
        .await;
    assert_limited(&third);
    // Unknown recipients are limited alike.
    for _ in 0..2 {
        app.post(
            "/api/v1/auth/forgot-password",
            None,
            json!({ "email": "ghost@example.com" }),
        )
        .await;
    }
    assert_limited(
        &app.post(
            "/api/v1/auth/forgot-password",
            None,
            json!({ "email": "ghost@example.com" }),
        )
        .await,
    );
    // Verification email plus two resets: nothing more was queued.
    assert_eq!(app.emails_to(&a.email).await.len(), 3);
}

#[tokio::test]
async fn lockouts_and_budgets_hold_across_instances() {
    let limits = RateLimits {
        login_failures_per_account: Limit {
            max: 2,
            window_secs: 900,
        },
        requests_per_principal: Limit {
            max: 6,
            window_secs: 3600,
        },
        ..roomy()
    };
    // Every hour boundary is a quarter-hour one; with a minute's window this test failed
    // whenever a minute ended during it.
    inside_one_window(900, 30).await;
    let first = spawn_app_with(Store::Postgres, |c| c.limits = limits).await;
    let second = first.another_instance(|c| c.limits = limits).await;
    let a = first.register("ada@example.com").await;
    // One failure on each instance locks the account on both.
    for app in [&first, &second] {
        let reply = login_from(app, "203.0.113.1", &a.email, "wrong password").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    assert_limited(&login_from(&first, "203.0.113.1", &a.email, PASSWORD).await);
    assert_limited(&login_from(&second, "203.0.113.1", &a.email, PASSWORD).await);
    // The request budget is shared too, once the counters are flushed (twice a second).
    for _ in 0..3 {
        assert_eq!(
            first.get("/api/v1/projects", &a.token).await.status,
            StatusCode::OK
        );
        assert_eq!(
            second.get("/api/v1/projects", &a.token).await.status,
            StatusCode::OK
        );
    }
    // Each instance must flush its own counts and then, on a later flush, read the other's:
    // two flush periods at least, given five here so that a loaded machine (the whole suite
    // runs in parallel) does not make it flaky.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_limited(&first.get("/api/v1/projects", &a.token).await);
    assert_limited(&second.get("/api/v1/projects", &a.token).await);
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let limits = RateLimits {
        auth_per_address: Limit::per_minute(2),
        ..roomy()
    };
    inside_one_window(60, 10).await;
    // No trusted proxy: the header is the client's own words and is ignored, so every
    // "address" below is really 127.0.0.1.
    let app = spawn_app_with(Store::Sqlite, |c| c.limits = limits).await;
    for address in ["203.0.113.1", "203.0.113.2"] {
        let reply = login_from(&app, address, "ada@example.com", "guess").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    assert_limited(&login_from(&app, "203.0.113.3", "ada@example.com", "guess").await);

    // Behind a trusted proxy: the rightmost untrusted address counts, whatever the client
    // prepended.
    let app = spawn_app_with(Store::Sqlite, behind_proxy(limits)).await;
    for spoofed in ["10.0.0.1, 203.0.113.7", "10.0.0.2, 203.0.113.7"] {
        let reply = login_from(&app, spoofed, "ada@example.com", "guess").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    assert_limited(&login_from(&app, "10.0.0.3, 203.0.113.7", "ada@example.com", "guess").await);
    let elsewhere = login_from(&app, "203.0.113.8", "ada@example.com", "guess").await;
    assert_eq!(elsewhere.status, StatusCode::UNAUTHORIZED);
}
