//! Billing over HTTP, on SQLite and PostgreSQL: plans and their limits (exact under
//! concurrency), Stripe's signed and idempotent webhook, checkout and portal against a local
//! fake of Stripe that checks what it receives, read-only mode for a lapsed payment, and the
//! platform's override.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use bulkhead_domain::billing::signature::sign;
use bulkhead_domain::billing::{PlanCatalogue, WebhookSecret};
use bulkhead_infra::stripe::StripeSettings;
use bulkhead_server::Config;
use bulkhead_tests::fake_http::{self, Log};
use bulkhead_tests::{
    PASSWORD, Received, Reply, Store, Tenant, TestApp, WEBHOOK_SECRET, eventually, on_both_stores,
    spawn_app_with,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_stores! {
    webhook_signatures_are_verified_before_anything_is_read;
    a_rotated_secret_and_several_signatures_verify;
    checkout_and_portal_go_through_stripe_and_events_apply_once_in_order;
    the_organization_comes_only_from_ids_the_server_stored;
    quotas_hold_exactly_under_concurrency;
    runs_count_against_their_limits;
    a_downgrade_keeps_data_and_blocks_new_creation;
    past_due_beyond_the_grace_period_makes_the_organization_read_only;
    the_shipped_free_plan_limits_a_new_organization;
    events_left_failed_show_in_readiness;
}

/// Plans with small limits on `free`, and `pro` for sale at `price_pro`.
fn small_plans() -> Arc<PlanCatalogue> {
    Arc::new(
        PlanCatalogue::from_json(
            r#"[{"name": "free", "limits": {"projects": 5, "api_keys": 2, "members": 2,
                  "concurrent_runs": 1, "runs_per_month": 2, "agents": 3}},
                {"name": "pro", "title": "Pro", "stripe_price_id": "price_pro",
                 "limits": {"projects": 8}}]"#,
        )
        .unwrap(),
    )
}

async fn app_with(store: Store, adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with(store, |config| {
        config.billing.plans = small_plans();
        adjust(config);
    })
    .await
}

fn event(id: &str, kind: &str, created: i64, object: Value) -> Value {
    json!({ "id": id, "object": "event", "type": kind, "created": created,
            "data": { "object": object } })
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// POSTs `body` (exact bytes) to the webhook with `signature`.
async fn deliver(app: &TestApp, body: &str, signature: Option<String>) -> Reply {
    let mut request = app
        .client
        .post(app.url("/api/v1/webhooks/stripe"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    app.raw(request).await
}

/// Delivers `event`, signed as Stripe would with the test secret; answers the status.
async fn webhook(app: &TestApp, event: &Value) -> String {
    let body = event.to_string();
    let reply = deliver(
        app,
        &body,
        Some(sign(body.as_bytes(), WEBHOOK_SECRET, now())),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["status"].as_str().unwrap().to_owned()
}

async fn subscription(app: &TestApp, owner: &Tenant) -> Value {
    let reply = app.get("/api/v1/billing/subscription", &owner.token).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// Waits until the subscription has `field` = `wanted` (events apply in the background).
async fn settles_to(app: &TestApp, owner: &Tenant, field: &str, wanted: Value) {
    eventually(|| async {
        let now = subscription(app, owner).await;
        if now[field] == wanted {
            Ok(())
        } else {
            Err(format!("{field} is {} not {wanted}", now[field]))
        }
    })
    .await;
}

/// Gives the organization Stripe ids, as a completed checkout would have.
async fn link(app: &TestApp, owner: &Tenant, customer: &str, subscription: &str) {
    app.as_owner(&format!(
        "UPDATE billing_subscriptions SET stripe_customer_id = '{customer}', \
         stripe_subscription_id = '{subscription}' WHERE organization_id = {}",
        app.uuid_literal(&owner.organization_id)
    ))
    .await;
}

async fn stored_events(app: &TestApp) -> i64 {
    let conn = sea_orm::Database::connect(app.owner_url()).await.unwrap();
    use sea_orm::ConnectionTrait;
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT count(*) FROM billing_events",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn webhook_signatures_are_verified_before_anything_is_read(store: Store) {
    let app = app_with(store, |_| {}).await;
    let owner = app.register("ada@example.com").await;
    link(&app, &owner, "cus_a", "sub_a").await;
    let body = event(
        "evt_1",
        "customer.subscription.updated",
        now(),
        json!({ "id": "sub_a", "customer": "cus_a", "status": "canceled" }),
    )
    .to_string();
    let t = now();

    // Tampered, wrong secret, stale, from the future, missing, malformed: 400, nothing kept.
    let tampered = body.replace("canceled", "active");
    let refusals = [
        (
            tampered.as_str(),
            Some(sign(body.as_bytes(), WEBHOOK_SECRET, t)),
        ),
        (body.as_str(), Some(sign(body.as_bytes(), "whsec_wrong", t))),
        (
            body.as_str(),
            Some(sign(body.as_bytes(), WEBHOOK_SECRET, t - 301)),
        ),
        (
            body.as_str(),
            Some(sign(body.as_bytes(), WEBHOOK_SECRET, t + 301)),
        ),
        (body.as_str(), None),
        (body.as_str(), Some("t=1,v1=zz".to_owned())),
    ];
    for (body, signature) in refusals {
        let reply = deliver(&app, body, signature).await;
        reply.assert_problem(400);
        assert_eq!(reply.body["type"], "urn:bulkhead:problem:invalid-signature");
    }
    // Signed but not an event: refused as such, after the signature.
    deliver(&app, "not json", Some(sign(b"not json", WEBHOOK_SECRET, t)))
        .await
        .assert_problem(422);
    assert_eq!(stored_events(&app).await, 0);
    assert_eq!(subscription(&app, &owner).await["status"], "active");

    // Signed right: accepted once, then a replay does nothing.
    let reply = deliver(&app, &body, Some(sign(body.as_bytes(), WEBHOOK_SECRET, t))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "accepted");
    settles_to(&app, &owner, "status", json!("canceled")).await;
    let replay = deliver(
        &app,
        &body,
        Some(sign(body.as_bytes(), WEBHOOK_SECRET, now())),
    )
    .await;
    assert_eq!(replay.body["status"], "duplicate");
    assert_eq!(stored_events(&app).await, 1);

    // The change is in the organization's audit trail, by Stripe.
    let audit = app.audit_events(&owner).await;
    let change = audit
        .iter()
        .find(|e| e["action"] == "subscription.updated")
        .expect("the change is audited");
    assert_eq!(change["actor_type"], "system");
    assert_eq!(change["actor_id"], "stripe");
}

async fn a_rotated_secret_and_several_signatures_verify(store: Store) {
    // Mid-rotation both secrets are configured; Stripe signs with both.
    let app = app_with(store, |config| {
        config.billing.webhook_secrets = vec![
            WebhookSecret::new("whsec_old"),
            WebhookSecret::new("whsec_new"),
        ];
    })
    .await;
    let t = now();
    for (i, secret) in ["whsec_old", "whsec_new"].into_iter().enumerate() {
        let body = event(
            &format!("evt_{i}"),
            "invoice.paid",
            t,
            json!({"id": "in_1"}),
        )
        .to_string();
        let reply = deliver(&app, &body, Some(sign(body.as_bytes(), secret, t))).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        // About nothing this server created.
        assert_eq!(reply.body["status"], "ignored");
    }
    let body = event("evt_both", "invoice.paid", t, json!({"id": "in_2"})).to_string();
    let old = sign(body.as_bytes(), "whsec_old", t);
    let new = sign(body.as_bytes(), "whsec_new", t);
    let v1 = |header: &str| header.split_once("v1=").unwrap().1.to_owned();
    let both = format!("t={t},v1={},v1={}", "ab".repeat(32), v1(&new));
    let reply = deliver(&app, &body, Some(both)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // After the rotation only the new secret is configured: the old one's signature fails.
    let rotated = app
        .another_instance(|config| {
            config.billing.webhook_secrets = vec![WebhookSecret::new("whsec_new")];
        })
        .await;
    let _ = old;
    let body = event("evt_after", "invoice.paid", t, json!({"id": "in_3"})).to_string();
    deliver(&rotated, &body, Some(sign(body.as_bytes(), "whsec_old", t)))
        .await
        .assert_problem(400);
    let reply = deliver(&rotated, &body, Some(sign(body.as_bytes(), "whsec_new", t))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

/// Stripe's three endpoints on a local port, answering as Stripe does; answers its base URL
/// and what it received.
async fn fake_stripe() -> (String, Log) {
    let (port, log) = fake_http::serve(|request, before| {
        let n = before + 1;
        let found = |body: Value| fake_http::json_response("200 OK", &body);
        if request.line.starts_with("POST /v1/customers ") {
            found(json!({ "id": "cus_fake", "object": "customer" }))
        } else if request.line.starts_with("POST /v1/checkout/sessions ") {
            found(
                json!({ "id": format!("cs_fake_{n}"), "object": "checkout.session",
                          "url": format!("https://checkout.stripe.test/cs_fake_{n}") }),
            )
        } else if request
            .line
            .starts_with("POST /v1/billing_portal/sessions ")
        {
            found(json!({ "id": "bps_fake",
                          "url": "https://billing.stripe.test/session/bps_fake" }))
        } else {
            fake_http::json_response(
                "404 Not Found",
                &json!({ "error": { "message": "no such endpoint" } }),
            )
        }
    })
    .await;
    (format!("http://127.0.0.1:{port}/"), log)
}

/// A form field of a request.
fn field(request: &Received, name: &str) -> Option<String> {
    request
        .form()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn with_stripe(config: &mut Config, base: &str) {
    config.stripe = Some(StripeSettings {
        secret_key: "sk_test_fake".into(),
        api_base: base.parse().unwrap(),
    });
}

async fn checkout_and_portal_go_through_stripe_and_events_apply_once_in_order(store: Store) {
    let (base, calls) = fake_stripe().await;
    let app = app_with(store, |config| with_stripe(config, &base)).await;
    let owner = app.register("ada@example.com").await;
    let member = app.member_token(&owner, "bob@example.com", "member").await;

    // Plans are public to members; buying is for billing:manage.
    let plans = app.get("/api/v1/billing/plans", &member.token).await;
    assert_eq!(plans.status, StatusCode::OK, "{}", plans.body);
    let names: Vec<&str> = plans.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["free", "pro", "enterprise"]);
    assert_eq!(plans.body["data"][1]["purchasable"], true);
    assert_eq!(plans.body["data"][0]["limits"]["projects"], 5);
    app.post(
        "/api/v1/billing/checkout",
        Some(&member.token),
        json!({"plan": "pro"}),
    )
    .await
    .assert_problem(403);
    app.get("/api/v1/billing/subscription", &member.token)
        .await
        .assert_problem(403);
    for plan in ["gold", "free", "enterprise"] {
        let reply = app
            .post(
                "/api/v1/billing/checkout",
                Some(&owner.token),
                json!({"plan": plan}),
            )
            .await;
        reply.assert_problem(422);
        assert_eq!(reply.error_fields(), ["plan"]);
    }
    assert!(
        calls.lock().unwrap().is_empty(),
        "nothing reached Stripe yet"
    );

    let checkout = app
        .post(
            "/api/v1/billing/checkout",
            Some(&owner.token),
            json!({"plan": "pro"}),
        )
        .await;
    assert_eq!(checkout.status, StatusCode::CREATED, "{}", checkout.body);
    assert_eq!(
        checkout.body["url"],
        "https://checkout.stripe.test/cs_fake_2"
    );
    {
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert!(
            calls[0].line.starts_with("POST /v1/customers "),
            "{calls:?}"
        );
        assert_eq!(
            calls[0].header("authorization"),
            Some("Bearer sk_test_fake")
        );
        assert_eq!(
            calls[0].header("idempotency-key"),
            Some(format!("bulkhead-customer-{}", owner.organization_id).as_str())
        );
        let session = &calls[1];
        assert!(session.line.starts_with("POST /v1/checkout/sessions "));
        let form = |name: &str| field(session, name);
        assert_eq!(form("mode").as_deref(), Some("subscription"));
        assert_eq!(form("customer").as_deref(), Some("cus_fake"));
        assert_eq!(form("line_items[0][price]").as_deref(), Some("price_pro"));
        assert_eq!(form("line_items[0][quantity]").as_deref(), Some("1"));
        assert_eq!(
            form("client_reference_id"),
            Some(owner.organization_id.clone())
        );
        assert!(
            form("success_url")
                .unwrap()
                .contains("{CHECKOUT_SESSION_ID}")
        );
    }
    // The customer is kept: the portal does not create another.
    let portal = app
        .post("/api/v1/billing/portal", Some(&owner.token), json!({}))
        .await;
    assert_eq!(portal.status, StatusCode::CREATED, "{}", portal.body);
    assert_eq!(
        portal.body["url"],
        "https://billing.stripe.test/session/bps_fake"
    );
    {
        let calls = calls.lock().unwrap();
        assert_eq!(calls.len(), 3, "{calls:?}");
        assert!(
            calls[2]
                .line
                .starts_with("POST /v1/billing_portal/sessions ")
        );
        assert_eq!(field(&calls[2], "customer").as_deref(), Some("cus_fake"));
    }

    // Stripe reports the checkout; the plan is the one the server stored for the session,
    // whatever the metadata says.
    let t = now();
    let completed = event(
        "evt_completed",
        "checkout.session.completed",
        t,
        json!({ "id": "cs_fake_2", "customer": "cus_fake", "subscription": "sub_fake",
                "payment_status": "paid", "metadata": { "plan": "enterprise" } }),
    );
    assert_eq!(webhook(&app, &completed).await, "accepted");
    settles_to(&app, &owner, "plan", json!("pro")).await;
    assert_eq!(subscription(&app, &owner).await["status"], "active");

    // Updates apply in the order Stripe created them, whatever order they arrive in.
    let updated = |id: &str, created: i64, status: &str| {
        event(
            id,
            "customer.subscription.updated",
            created,
            json!({ "id": "sub_fake", "customer": "cus_fake", "status": status,
                    "cancel_at_period_end": true,
                    "items": { "data": [{ "price": { "id": "price_pro" },
                                          "current_period_start": t, "current_period_end": t + 2_592_000 }] } }),
        )
    };
    assert_eq!(
        webhook(&app, &updated("evt_new", t + 20, "trialing")).await,
        "accepted"
    );
    settles_to(&app, &owner, "status", json!("trialing")).await;
    assert_eq!(
        webhook(&app, &updated("evt_old", t + 10, "unpaid")).await,
        "accepted"
    );
    // The older one is applied (marked processed) but changes nothing.
    eventually(|| async {
        let conn = sea_orm::Database::connect(app.owner_url()).await.unwrap();
        use sea_orm::ConnectionTrait;
        let row = conn
            .query_one_raw(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                "SELECT status FROM billing_events WHERE id = 'evt_old'",
            ))
            .await
            .unwrap()
            .unwrap();
        let status: String = row.try_get_by_index(0).unwrap();
        if status == "processed" {
            Ok(())
        } else {
            Err(status)
        }
    })
    .await;
    let now_body = subscription(&app, &owner).await;
    assert_eq!(now_body["status"], "trialing");
    assert_eq!(now_body["cancel_at_period_end"], true);
    assert!(now_body["current_period_end"].is_string(), "{now_body}");
    // A replay is taken once.
    assert_eq!(
        webhook(&app, &updated("evt_new", t + 20, "trialing")).await,
        "duplicate"
    );

    // Invoices are mirrored.
    let paid = event(
        "evt_invoice",
        "invoice.paid",
        t + 30,
        json!({ "id": "in_1", "customer": "cus_fake", "subscription": "sub_fake",
                "status": "paid", "amount_due": 2900, "amount_paid": 2900, "currency": "eur",
                "number": "A-0001" }),
    );
    assert_eq!(webhook(&app, &paid).await, "accepted");
    eventually(|| async {
        let list = app.get("/api/v1/billing/invoices", &owner.token).await;
        if list.body["total"] == 1 {
            Ok(())
        } else {
            Err(format!("{}", list.body))
        }
    })
    .await;
    let list = app.get("/api/v1/billing/invoices", &owner.token).await;
    assert_eq!(list.body["data"][0]["amount_paid"], 2900);
    assert_eq!(list.body["data"][0]["number"], "A-0001");

    // Deleted: back to free, nothing deleted.
    let deleted = event(
        "evt_deleted",
        "customer.subscription.deleted",
        t + 40,
        json!({ "id": "sub_fake", "customer": "cus_fake", "status": "canceled" }),
    );
    assert_eq!(webhook(&app, &deleted).await, "accepted");
    settles_to(&app, &owner, "plan", json!("free")).await;
    assert_eq!(subscription(&app, &owner).await["status"], "canceled");

    let actions = app.audit_actions(&owner).await;
    for action in [
        "subscription.customer_created",
        "subscription.checkout_started",
        "subscription.checkout_completed",
        "subscription.updated",
        "invoice.paid",
        "subscription.canceled",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} missing from {actions:?}"
        );
    }
}

async fn the_organization_comes_only_from_ids_the_server_stored(store: Store) {
    let app = app_with(store, |_| {}).await;
    let a = app.register("ada@example.com").await;
    let b = app.register("bob@example.com").await;
    link(&app, &a, "cus_a", "sub_a").await;

    // About A's subscription, with metadata naming B: only A changes.
    let t = now();
    let spoof = event(
        "evt_spoof",
        "customer.subscription.updated",
        t,
        json!({ "id": "sub_a", "customer": "cus_a", "status": "past_due",
                "metadata": { "organization_id": b.organization_id },
                "items": { "data": [{ "price": { "id": "price_pro" } }] } }),
    );
    assert_eq!(webhook(&app, &spoof).await, "accepted");
    settles_to(&app, &a, "status", json!("past_due")).await;
    assert_eq!(subscription(&app, &a).await["plan"], "pro");
    let untouched = subscription(&app, &b).await;
    assert_eq!(
        (untouched["plan"].as_str(), untouched["status"].as_str()),
        (Some("free"), Some("active"))
    );

    // Ids nobody stored, even with B named everywhere a payload can name it: ignored.
    let stranger = event(
        "evt_stranger",
        "customer.subscription.updated",
        t,
        json!({ "id": "sub_other", "customer": "cus_other", "status": "canceled",
                "metadata": { "organization_id": b.organization_id },
                "client_reference_id": b.organization_id }),
    );
    assert_eq!(webhook(&app, &stranger).await, "ignored");
    // An event type the server does not handle: ignored too.
    let other = event(
        "evt_other",
        "charge.refunded",
        t,
        json!({ "id": "ch_1", "customer": "cus_a" }),
    );
    assert_eq!(webhook(&app, &other).await, "ignored");
    assert_eq!(subscription(&app, &b).await["status"], "active");
    assert_eq!(stored_events(&app).await, 1);
}

/// Twenty creates race for the last of five project slots of `owner`'s organization: exactly
/// one wins, and the rest are told why.
async fn race_for_the_last_slot(app: &TestApp, owner: &Tenant) {
    for i in 0..4 {
        app.create_project(owner, &format!("P{i}")).await;
    }
    let creates = (0..20).map(|i| {
        let token = owner.token.clone();
        async move {
            app.post(
                "/api/v1/projects",
                Some(&token),
                json!({ "name": format!("Race {i}") }),
            )
            .await
        }
    });
    let replies = futures_util::future::join_all(creates).await;
    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(
        created,
        1,
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for refused in replies.iter().filter(|r| r.status != StatusCode::CREATED) {
        refused.assert_problem(402);
        assert_eq!(refused.body["type"], "urn:bulkhead:problem:quota-exceeded");
        assert_eq!(refused.body["quota"], "projects");
        assert_eq!(refused.body["limit"], 5);
        assert_eq!(refused.body["used"], 5);
        assert_eq!(refused.body["plan"], "free");
    }
}

async fn quotas_hold_exactly_under_concurrency(store: Store) {
    let app = app_with(store, |_| {}).await;
    let owner = app.register("ada@example.com").await;
    // A race lost without the lock shows about one time in three: three races, three
    // organizations.
    race_for_the_last_slot(&app, &owner).await;
    for other in ["bea@example.com", "cy@example.com"] {
        let other = app.register(other).await;
        race_for_the_last_slot(&app, &other).await;
    }
    let listed = app.get("/api/v1/projects", &owner.token).await;
    assert_eq!(listed.body["total"], 5);

    // A deleted project frees its slot; restoring it past the limit is refused.
    let first = listed.body["data"][0]["id"].as_str().unwrap().to_owned();
    let deleted = app
        .delete(&format!("/api/v1/projects/{first}"), &owner.token)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    app.create_project(&owner, "Replacement").await;
    app.post(
        &format!("/api/v1/projects/{first}/restore"),
        Some(&owner.token),
        json!({}),
    )
    .await
    .assert_problem(402);

    // API keys: the same, on their own limit.
    app.create_api_key(&owner, &["projects:read"]).await;
    app.create_api_key(&owner, &["projects:read"]).await;
    let third = app
        .post(
            "/api/v1/api-keys",
            Some(&owner.token),
            json!({ "name": "x", "scopes": ["projects:read"] }),
        )
        .await;
    third.assert_problem(402);
    assert_eq!(third.body["quota"], "api_keys");

    // Members: two allowed, the owner is one; an invitation past it is refused.
    app.member_token(&owner, "bob@example.com", "member").await;
    let invite = app.invite(&owner, "dee@example.com", "member").await;
    invite.assert_problem(402);
    assert_eq!(invite.body["quota"], "members");

    let usage = app.get("/api/v1/usage", &owner.token).await;
    assert_eq!(usage.status, StatusCode::OK, "{}", usage.body);
    assert_eq!(usage.body["plan"], "free");
    let line = |quota: &str| {
        usage.body["quotas"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["quota"] == quota)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        line("projects"),
        json!({ "quota": "projects", "used": 5, "limit": 5 })
    );
    assert_eq!(line("api_keys")["used"], 2);
    assert_eq!(line("members")["used"], 2);
    assert_eq!(
        line("tokens_per_month"),
        json!({ "quota": "tokens_per_month", "used": 0, "limit": null })
    );
    assert_eq!(usage.body["quotas"].as_array().unwrap().len(), 8);
}

async fn runs_count_against_their_limits(store: Store) {
    // No worker: runs stay queued, so they are all at once.
    let app = app_with(store, |config| config.runs.concurrency = 0).await;
    let owner = app.register("ada@example.com").await;
    let (_, agent) = app.echo_agent(&owner, "echo").await;
    let path = format!("/api/v1/agents/{}/runs", agent["id"].as_str().unwrap());
    let first = app
        .post(
            &path,
            Some(&owner.token),
            json!({ "input": { "text": "hi" } }),
        )
        .await;
    assert!(first.status.is_success(), "{}", first.body);
    let second = app
        .post(
            &path,
            Some(&owner.token),
            json!({ "input": { "text": "hi" } }),
        )
        .await;
    second.assert_problem(402);
    assert_eq!(second.body["quota"], "concurrent_runs");
    // Cancelled, the first frees its slot; the month allows two runs in all.
    let cancel = app
        .post(
            &format!("/api/v1/runs/{}/cancel", first.body["id"].as_str().unwrap()),
            Some(&owner.token),
            json!({}),
        )
        .await;
    assert!(cancel.status.is_success(), "{}", cancel.body);
    let again = app
        .post(
            &path,
            Some(&owner.token),
            json!({ "input": { "text": "hi" } }),
        )
        .await;
    assert!(again.status.is_success(), "{}", again.body);
    app.post(
        &format!("/api/v1/runs/{}/cancel", again.body["id"].as_str().unwrap()),
        Some(&owner.token),
        json!({}),
    )
    .await;
    let third = app
        .post(
            &path,
            Some(&owner.token),
            json!({ "input": { "text": "hi" } }),
        )
        .await;
    third.assert_problem(402);
    assert_eq!(third.body["quota"], "runs_per_month");
    assert_eq!(third.body["used"], 2);
}

async fn superuser(app: &TestApp) -> String {
    bulkhead_server::create_superuser(&app.owner_url(), "root@example.com", "Root", PASSWORD, 4)
        .await
        .unwrap();
    let reply = app
        .post(
            "/api/v1/admin/auth/login",
            None,
            json!({ "email": "root@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["access_token"].as_str().unwrap().to_owned()
}

async fn a_downgrade_keeps_data_and_blocks_new_creation(store: Store) {
    let app = app_with(store, |_| {}).await;
    let owner = app.register("ada@example.com").await;
    let root = superuser(&app).await;
    let plan_path = format!("/api/v1/admin/organizations/{}/plan", owner.organization_id);

    // Only superusers, only known plans, always with a reason.
    let put = |token: String, body: Value| {
        let app = &app;
        let path = plan_path.clone();
        async move {
            app.send(reqwest::Method::PUT, &path, Some(&token), Some(body))
                .await
        }
    };
    put(
        owner.token.clone(),
        json!({"plan": "pro", "reason": "upgrade me"}),
    )
    .await
    .assert_problem(401);
    put(root.clone(), json!({"plan": "gold", "reason": "contract"}))
        .await
        .assert_problem(422);
    put(root.clone(), json!({"plan": "pro"}))
        .await
        .assert_problem(422);
    let upgraded = put(
        root.clone(),
        json!({"plan": "pro", "reason": "Contract 7 signed"}),
    )
    .await;
    assert_eq!(upgraded.status, StatusCode::OK, "{}", upgraded.body);
    assert_eq!(upgraded.body["plan"], "pro");
    for i in 0..7 {
        app.create_project(&owner, &format!("P{i}")).await;
    }
    let seen = app
        .get(
            &format!(
                "/api/v1/admin/organizations/{}/subscription",
                owner.organization_id
            ),
            &root,
        )
        .await;
    assert_eq!(seen.body["plan"], "pro");

    // Back to free (5 projects): all seven stay, and an eighth is refused.
    let downgraded = put(
        root.clone(),
        json!({"plan": "free", "reason": "Contract 7 ended"}),
    )
    .await;
    assert_eq!(downgraded.status, StatusCode::OK, "{}", downgraded.body);
    assert_eq!(
        app.get("/api/v1/projects", &owner.token).await.body["total"],
        7
    );
    let refused = app
        .post(
            "/api/v1/projects",
            Some(&owner.token),
            json!({"name": "P8"}),
        )
        .await;
    refused.assert_problem(402);
    assert_eq!(refused.body["used"], 7);
    assert_eq!(refused.body["limit"], 5);
    // Editing what exists is no creation.
    let id = app.get("/api/v1/projects", &owner.token).await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let renamed = app
        .patch(
            &format!("/api/v1/projects/{id}"),
            &owner.token,
            json!({"name": "Renamed"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);

    let overrides: Vec<Value> = app
        .audit_events(&owner)
        .await
        .into_iter()
        .filter(|e| e["action"] == "subscription.plan_overridden")
        .collect();
    assert_eq!(overrides.len(), 2);
    assert_eq!(
        overrides
            .iter()
            .filter(|e| e["changes"]["reason"] == "Contract 7 ended")
            .count(),
        1
    );
    assert_eq!(overrides[0]["actor_type"], "superuser");
}

async fn past_due_beyond_the_grace_period_makes_the_organization_read_only(store: Store) {
    let (base, _calls) = fake_stripe().await;
    // No grace at all: past due is read-only at once.
    let app = app_with(store, |config| {
        config.billing.grace = chrono::Duration::zero();
        with_stripe(config, &base);
    })
    .await;
    let owner = app.register("ada@example.com").await;
    let project = app.create_project(&owner, "Apollo").await;
    let key = app
        .api_key_secret(&owner, &["projects:read", "projects:write"])
        .await;
    let member = app.member_token(&owner, "bob@example.com", "member").await;
    link(&app, &owner, "cus_a", "sub_a").await;
    let t = now();
    let status = |id: &str, created: i64, status: &str| {
        event(
            id,
            "customer.subscription.updated",
            created,
            json!({ "id": "sub_a", "customer": "cus_a", "status": status }),
        )
    };
    assert_eq!(
        webhook(&app, &status("evt_due", t, "past_due")).await,
        "accepted"
    );
    settles_to(&app, &owner, "read_only", json!(true)).await;

    // Writes: 402, by users and keys alike, and nothing changes.
    for token in [owner.token.as_str(), key.as_str()] {
        let refused = app
            .post("/api/v1/projects", Some(token), json!({"name": "Gemini"}))
            .await;
        refused.assert_problem(402);
        assert_eq!(
            refused.body["type"],
            "urn:bulkhead:problem:subscription-inactive"
        );
    }
    app.patch(
        &format!("/api/v1/projects/{}", project["id"].as_str().unwrap()),
        &owner.token,
        json!({"name": "Renamed"}),
    )
    .await
    .assert_problem(402);
    // Reads work; so do billing, and signing in.
    let listed = app.get("/api/v1/projects", &owner.token).await;
    assert_eq!(listed.body["total"], 1);
    assert_eq!(listed.body["data"][0]["name"], "Apollo");
    let portal = app
        .post("/api/v1/billing/portal", Some(&owner.token), json!({}))
        .await;
    assert_eq!(portal.status, StatusCode::CREATED, "{}", portal.body);
    app.login("ada@example.com").await;
    // What only takes away stays open: a member may leave.
    let left = app.delete("/api/v1/members/me", &member.token).await;
    assert_eq!(left.status, StatusCode::NO_CONTENT, "{}", left.body);

    // Paid: writable again.
    assert_eq!(
        webhook(&app, &status("evt_paid", t + 1, "active")).await,
        "accepted"
    );
    settles_to(&app, &owner, "read_only", json!(false)).await;
    let created = app
        .post(
            "/api/v1/projects",
            Some(&owner.token),
            json!({"name": "Gemini"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);

    // With a week's grace, past due is only a warning for now.
    let graceful = app
        .another_instance(|config| config.billing.grace = chrono::Duration::days(7))
        .await;
    let b = graceful.register("cy@example.com").await;
    // (The other instance owns no database: behind its back goes through the first.)
    link(&app, &b, "cus_b", "sub_b").await;
    let due = event(
        "evt_b_due",
        "customer.subscription.updated",
        t,
        json!({ "id": "sub_b", "customer": "cus_b", "status": "past_due" }),
    );
    assert_eq!(webhook(&graceful, &due).await, "accepted");
    settles_to(&graceful, &b, "status", json!("past_due")).await;
    let body = subscription(&graceful, &b).await;
    assert_eq!(body["read_only"], false);
    assert!(body["read_only_from"].is_string(), "{body}");
    let created = graceful
        .post("/api/v1/projects", Some(&b.token), json!({"name": "Still"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}

async fn the_shipped_free_plan_limits_a_new_organization(store: Store) {
    let app = spawn_app_with(store, |config| {
        config.billing.plans = Arc::new(PlanCatalogue::default());
    })
    .await;
    let owner = app.register("ada@example.com").await;
    assert_eq!(subscription(&app, &owner).await["plan"], "free");
    for i in 0..3 {
        app.create_project(&owner, &format!("P{i}")).await;
    }
    let refused = app
        .post(
            "/api/v1/projects",
            Some(&owner.token),
            json!({"name": "P3"}),
        )
        .await;
    refused.assert_problem(402);
    assert_eq!(refused.body["limit"], 3);
    // The shipped plans carry no Stripe price: pro cannot be bought until one is configured.
    let reply = app
        .post(
            "/api/v1/billing/checkout",
            Some(&owner.token),
            json!({"plan": "pro"}),
        )
        .await;
    reply.assert_problem(422);
    // With a price but without Stripe's key, buying answers 409.
    let priced = app
        .another_instance(|config| config.billing.plans = small_plans())
        .await;
    priced
        .post(
            "/api/v1/billing/checkout",
            Some(&owner.token),
            json!({"plan": "pro"}),
        )
        .await
        .assert_problem(409);
}

/// The webhook's lookup widens reads of the billing references only: under it the application
/// role still writes nothing but its own organization's rows, and without it sees only those.
#[tokio::test]
async fn the_billing_lookup_reads_every_organization_and_writes_none() {
    use sea_orm::{ConnectionTrait, DatabaseBackend, Statement, TransactionTrait};
    let app = bulkhead_tests::spawn_app(Store::Postgres).await;
    let a = app.register("ada@example.com").await;
    let b = app.register("bob@example.com").await;
    let conn = app.database.as_ref().unwrap().connect_as_app().await;
    async fn count(tx: &sea_orm::DatabaseTransaction, sql: &str) -> i64 {
        tx.query_one_raw(Statement::from_string(DatabaseBackend::Postgres, sql))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap()
    }
    let enter = |lookup: bool| {
        let org = b.organization_id.clone();
        let conn = &conn;
        async move {
            let tx = conn.begin().await.unwrap();
            tx.execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT set_config('app.current_org', $1, true), \
                        set_config('app.billing', $2, true)",
                [org.into(), if lookup { "lookup" } else { "" }.into()],
            ))
            .await
            .unwrap();
            tx
        }
    };
    let tx = enter(false).await;
    assert_eq!(
        count(&tx, "SELECT count(*) FROM billing_subscriptions").await,
        1
    );
    tx.rollback().await.unwrap();

    let tx = enter(true).await;
    assert_eq!(
        count(&tx, "SELECT count(*) FROM billing_subscriptions").await,
        2
    );
    let err = tx
        .execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "UPDATE billing_subscriptions SET plan = 'enterprise' WHERE organization_id = $1::uuid",
            [a.organization_id.clone().into()],
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    tx.rollback().await.unwrap();
    let tx = enter(true).await;
    let err = tx
        .execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "DELETE FROM billing_subscriptions WHERE organization_id = $1::uuid",
            [a.organization_id.clone().into()],
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    tx.rollback().await.unwrap();
    assert_eq!(subscription(&app, &a).await["plan"], "free");
}

async fn events_left_failed_show_in_readiness(store: Store) {
    let app = app_with(store, |_| {}).await;
    let owner = app.register("ada@example.com").await;
    let ready = |app: &TestApp| {
        let url = app.url("/health/ready");
        let client = app.client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let queues = ready(&app).await["queues"].clone();
    assert_eq!(queues["billing_events_failed"], 0, "{queues}");
    assert_eq!(queues["billing_events_pending"], 0, "{queues}");
    // An event whose last attempt failed, as the processor leaves it.
    app.as_owner(&format!(
        "INSERT INTO billing_events (organization_id, id, kind, event_created, payload, status, \
         attempts, available_at, last_error, received_at) \
         VALUES ({org}, 'evt_failed', 'invoice.paid', CURRENT_TIMESTAMP, '{payload}', 'failed', 8, \
         CURRENT_TIMESTAMP, 'the database was down', CURRENT_TIMESTAMP)",
        org = app.uuid_literal(&owner.organization_id),
        payload = event(
            "evt_failed",
            "invoice.paid",
            now(),
            json!({ "id": "in_retried" })
        ),
    ))
    .await;
    let queues = ready(&app).await["queues"].clone();
    assert_eq!(queues["billing_events_failed"], 1, "{queues}");
    assert_eq!(queues["billing_events_pending"], 0, "{queues}");

    // Once what failed is fixed, the operator queues it again and the server applies it.
    let queued = bulkhead_server::retry_billing_events(&app.owner_url())
        .await
        .unwrap();
    assert_eq!(queued, 1);
    eventually(|| async {
        let queues = ready(&app).await["queues"].clone();
        if queues["billing_events_failed"] == 0 && queues["billing_events_pending"] == 0 {
            Ok(())
        } else {
            Err(format!("{queues}"))
        }
    })
    .await;
    let invoices = app.get("/api/v1/billing/invoices", &owner.token).await;
    assert_eq!(invoices.body["total"], 1, "{}", invoices.body);
    assert_eq!(invoices.body["data"][0]["id"], "in_retried");

    // A stored event that cannot be read is failed at once, not claimed again and again.
    app.as_owner(&format!(
        "INSERT INTO billing_events (organization_id, id, kind, event_created, payload, status, \
         attempts, available_at, received_at) \
         VALUES ({org}, 'evt_corrupt', 'invoice.paid', CURRENT_TIMESTAMP, '{{}}', 'pending', 0, \
         CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
        org = app.uuid_literal(&owner.organization_id),
    ))
    .await;
    eventually(|| async {
        let queues = ready(&app).await["queues"].clone();
        if queues["billing_events_failed"] == 1 && queues["billing_events_pending"] == 0 {
            Ok(())
        } else {
            Err(format!("{queues}"))
        }
    })
    .await;
}
