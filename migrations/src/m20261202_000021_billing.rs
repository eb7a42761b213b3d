//! Billing: each organization's one subscription, the checkouts the server started, the
//! invoices mirrored from Stripe, monthly usage counters, and Stripe's events.
//!
//! Every organization has exactly one subscription row: a trigger adds it, on `free`, with the
//! organization, and this migration adds it for the organizations that exist.
//!
//! A webhook names Stripe's ids, never (trustworthily) the organization, so the server must
//! find the organization from the ids it stored before any tenant is set: a transaction that
//! sets `app.billing = 'lookup'` may read (never write) every organization's subscription and
//! checkout rows. The ids are unique per organization only (every key of a tenant table holds
//! the tenant); the lookup answers an organization only when exactly one holds the id.
//!
//! `billing_event_ids` remembers every event id received, with no tenant (an event about
//! nothing this server created has none), so a replay is recognized; `billing_events` queues
//! the events to apply, per organization, claimed like runs (`app.queue = 'billing'` reads
//! every organization's).
//!
//! `bulkhead_enter_tenant` also answers `read_only`: the organization's subscription has been
//! owed past its grace period, and the server refuses its writes (but billing's).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, integer, string_len, text, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid,
};

use crate::rls::{self, APP_ROLE};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Lets the webhook's lookup read every organization's billing references.
const LOOKUP: &str = "current_setting('app.billing', true) = 'lookup'";
/// Lets a processor find every organization's due events.
const CLAIMING: &str = "current_setting('app.queue', true) = 'billing'";

fn organization_key(table: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from_tbl(Alias::new(table))
        .from_col("organization_id")
        .to_tbl("organizations")
        .to_col("id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

fn create_function() -> String {
    format!(
        "CREATE FUNCTION bulkhead_enter_tenant(p_org uuid, p_user uuid, p_session uuid,
                                               p_deleted boolean DEFAULT false, p_key uuid DEFAULT NULL)
           RETURNS TABLE(member_role text, role_permissions text, read_only boolean)
           LANGUAGE plpgsql VOLATILE SECURITY INVOKER
         AS $$
         DECLARE
           v_member uuid := p_user;
         BEGIN
           PERFORM set_config('app.current_org', p_org::text, true),
                   set_config('app.current_user', coalesce(p_user::text, ''), true);
           IF p_key IS NOT NULL THEN
             IF p_user IS NOT NULL THEN
               RETURN;
             END IF;
             SELECT k.created_by INTO v_member FROM api_keys k
              WHERE k.organization_id = p_org AND k.id = p_key AND k.revoked_at IS NULL
                AND (k.expires_at IS NULL OR k.expires_at > now());
           END IF;
           IF v_member IS NULL THEN
             RETURN;
           END IF;
           IF NOT EXISTS (
             SELECT 1 FROM organizations o
              WHERE o.id = p_org AND (o.deleted_at IS NOT NULL) = p_deleted
                AND o.suspended_at IS NULL
           ) THEN
             RETURN;
           END IF;
           IF p_session IS NOT NULL AND NOT EXISTS (
             SELECT 1 FROM sessions s
              WHERE s.id = p_session AND s.user_id = v_member AND s.organization_id = p_org
                AND s.revoked_at IS NULL AND s.expires_at > now()
           ) THEN
             RETURN;
           END IF;
           RETURN QUERY
             SELECT coalesce(m.role_id::text, m.role::text), r.permissions::text,
                    EXISTS (SELECT 1 FROM billing_subscriptions b
                             WHERE b.organization_id = p_org AND b.read_only_from <= now())
               FROM memberships m
               LEFT JOIN roles r ON r.organization_id = m.organization_id AND r.id = m.role_id
              WHERE m.organization_id = p_org AND m.user_id = v_member;
         END
         $$;
         REVOKE ALL ON FUNCTION bulkhead_enter_tenant(uuid, uuid, uuid, boolean, uuid) FROM PUBLIC;
         GRANT EXECUTE ON FUNCTION bulkhead_enter_tenant(uuid, uuid, uuid, boolean, uuid) TO {APP_ROLE};"
    )
}

const POSTGRES_TRIGGER: &str = "
CREATE FUNCTION bulkhead_subscribe_new_organization() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO billing_subscriptions (organization_id, plan, status, version, updated_at)
    VALUES (NEW.id, 'free', 'active', 1, now());
  RETURN NULL;
END $$;
CREATE TRIGGER organizations_subscribe AFTER INSERT ON organizations
  FOR EACH ROW EXECUTE FUNCTION bulkhead_subscribe_new_organization();
";

const SQLITE_TRIGGER: &str = "
CREATE TRIGGER organizations_subscribe AFTER INSERT ON organizations
BEGIN
  INSERT INTO billing_subscriptions (organization_id, plan, status, version, updated_at)
    VALUES (NEW.id, 'free', 'active', 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
END;
";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("billing_subscriptions")
                    .col(uuid(Alias::new("organization_id")).primary_key())
                    .col(string_len(Alias::new("plan"), 40))
                    .col(string_len(Alias::new("status"), 20))
                    .col(timestamp_with_time_zone_null(Alias::new(
                        "current_period_start",
                    )))
                    .col(timestamp_with_time_zone_null(Alias::new(
                        "current_period_end",
                    )))
                    .col(boolean(Alias::new("cancel_at_period_end")).default(false))
                    .col(text_null(Alias::new("stripe_customer_id")))
                    .col(text_null(Alias::new("stripe_subscription_id")))
                    .col(timestamp_with_time_zone_null(Alias::new(
                        "delinquent_since",
                    )))
                    .col(timestamp_with_time_zone_null(Alias::new("read_only_from")))
                    .col(timestamp_with_time_zone_null(Alias::new("event_at")))
                    .col(big_integer(Alias::new("version")))
                    .col(timestamp_with_time_zone(Alias::new("updated_at")))
                    .foreign_key(&mut organization_key("billing_subscriptions"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("billing_checkout_sessions")
                    .col(uuid(Alias::new("organization_id")))
                    .col(text(Alias::new("id")))
                    .col(string_len(Alias::new("plan"), 40))
                    .col(timestamp_with_time_zone(Alias::new("created_at")))
                    .primary_key(Index::create().col("organization_id").col("id"))
                    .foreign_key(&mut organization_key("billing_checkout_sessions"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("billing_invoices")
                    .col(uuid(Alias::new("organization_id")))
                    .col(text(Alias::new("id")))
                    .col(text_null(Alias::new("number")))
                    .col(string_len(Alias::new("status"), 40))
                    .col(big_integer(Alias::new("amount_due")))
                    .col(big_integer(Alias::new("amount_paid")))
                    .col(string_len(Alias::new("currency"), 10))
                    .col(text_null(Alias::new("hosted_invoice_url")))
                    .col(timestamp_with_time_zone_null(Alias::new("period_start")))
                    .col(timestamp_with_time_zone_null(Alias::new("period_end")))
                    .col(timestamp_with_time_zone(Alias::new("event_at")))
                    .col(timestamp_with_time_zone(Alias::new("created_at")))
                    .primary_key(Index::create().col("organization_id").col("id"))
                    .foreign_key(&mut organization_key("billing_invoices"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("usage_counters")
                    .col(uuid(Alias::new("organization_id")))
                    .col(string_len(Alias::new("period"), 7))
                    .col(string_len(Alias::new("metric"), 40))
                    .col(big_integer(Alias::new("value")).default(0))
                    .primary_key(
                        Index::create()
                            .col("organization_id")
                            .col("period")
                            .col("metric"),
                    )
                    .foreign_key(&mut organization_key("usage_counters"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("billing_event_ids")
                    .col(text(Alias::new("id")).primary_key())
                    .col(timestamp_with_time_zone(Alias::new("received_at")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("billing_events")
                    .col(uuid(Alias::new("organization_id")))
                    .col(text(Alias::new("id")))
                    .col(text(Alias::new("kind")))
                    .col(timestamp_with_time_zone(Alias::new("event_created")))
                    .col(text(Alias::new("payload")))
                    .col(string_len(Alias::new("status"), 20))
                    .col(integer(Alias::new("attempts")).default(0))
                    .col(timestamp_with_time_zone(Alias::new("available_at")))
                    .col(text_null(Alias::new("last_error")))
                    .col(timestamp_with_time_zone(Alias::new("received_at")))
                    .col(timestamp_with_time_zone_null(Alias::new("processed_at")))
                    .primary_key(Index::create().col("organization_id").col("id"))
                    .foreign_key(&mut organization_key("billing_events"))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX billing_subscriptions_customer_idx \
               ON billing_subscriptions (stripe_customer_id);
             CREATE INDEX billing_subscriptions_subscription_idx \
               ON billing_subscriptions (stripe_subscription_id);
             CREATE INDEX billing_checkout_sessions_id_idx ON billing_checkout_sessions (id);
             CREATE INDEX billing_invoices_newest_idx \
               ON billing_invoices (organization_id, created_at DESC, id);
             CREATE INDEX billing_events_due_idx ON billing_events (available_at) \
               WHERE status = 'pending';",
        )
        .await?;
        let now = match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "now()",
            _ => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        };
        db.execute_unprepared(&format!(
            "INSERT INTO billing_subscriptions (organization_id, plan, status, version, updated_at) \
             SELECT id, 'free', 'active', 1, {now} FROM organizations"
        ))
        .await?;

        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            db.execute_unprepared(POSTGRES_TRIGGER).await?;
            rls::grant(manager, "billing_subscriptions", "SELECT, INSERT, UPDATE").await?;
            rls::isolate(
                manager,
                "billing_subscriptions",
                "organization_id",
                Some(LOOKUP),
            )
            .await?;
            rls::grant(manager, "billing_checkout_sessions", "SELECT, INSERT").await?;
            rls::isolate(
                manager,
                "billing_checkout_sessions",
                "organization_id",
                Some(LOOKUP),
            )
            .await?;
            rls::grant(manager, "billing_invoices", "SELECT, INSERT, UPDATE").await?;
            rls::isolate(manager, "billing_invoices", "organization_id", None).await?;
            rls::grant(manager, "usage_counters", "SELECT, INSERT, UPDATE").await?;
            rls::isolate(manager, "usage_counters", "organization_id", None).await?;
            rls::grant(manager, "billing_events", "SELECT, INSERT, UPDATE").await?;
            rls::isolate(manager, "billing_events", "organization_id", Some(CLAIMING)).await?;
            rls::grant(manager, "billing_event_ids", "SELECT, INSERT").await?;
            let sql = format!(
                "DROP FUNCTION bulkhead_enter_tenant(uuid, uuid, uuid, boolean, uuid);
                 {}",
                create_function()
            );
            rls::on_postgres(manager, &sql).await?;
        } else {
            db.execute_unprepared(SQLITE_TRIGGER).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            let sql = format!(
                "DROP FUNCTION IF EXISTS bulkhead_enter_tenant(uuid, uuid, uuid, boolean, uuid);
                 {}
                 DROP TRIGGER IF EXISTS organizations_subscribe ON organizations;
                 DROP FUNCTION IF EXISTS bulkhead_subscribe_new_organization();",
                crate::m20261201_000015_key_authority::create_function()
            );
            rls::on_postgres(manager, &sql).await?;
        } else {
            db.execute_unprepared("DROP TRIGGER IF EXISTS organizations_subscribe")
                .await?;
        }
        for table in [
            "billing_events",
            "billing_event_ids",
            "usage_counters",
            "billing_invoices",
            "billing_checkout_sessions",
            "billing_subscriptions",
        ] {
            manager
                .drop_table(Table::drop().table(Alias::new(table)).to_owned())
                .await?;
        }
        Ok(())
    }
}
