//! Sessions and their refresh tokens, and the session check on entering a tenant.
//!
//! Sessions belong to a user, like `users`, not to a tenant: a refresh happens before any tenant
//! is known, with the refresh token as the only credential, so these tables are not under
//! row-level security. They hold no tenant data, and tokens are stored only as SHA-256 digests.
//!
//! `bulkhead_enter_tenant` gains the session of the request's access token: a revoked or
//! expired session, or one moved to another organization, yields no role, so its access tokens
//! stop working at the next request, still in the one statement that sets the tenant.
//! Organizations become readable by their members (not only inside the tenant) so that a user
//! can list the organizations they belong to.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::rls::{self, APP_ROLE};

/// The function as this migration defines it (also restored when a later one is rolled back).
pub(crate) fn create_function() -> String {
    format!(
        "CREATE FUNCTION bulkhead_enter_tenant(p_org uuid, p_user uuid, p_session uuid)
               RETURNS text
               LANGUAGE plpgsql VOLATILE SECURITY INVOKER
             AS $$
             DECLARE
               member_role text;
             BEGIN
               PERFORM set_config('app.current_org', p_org::text, true),
                       set_config('app.current_user', coalesce(p_user::text, ''), true);
               IF p_user IS NULL THEN
                 RETURN NULL;
               END IF;
               IF p_session IS NOT NULL AND NOT EXISTS (
                 SELECT 1 FROM sessions s
                  WHERE s.id = p_session AND s.user_id = p_user AND s.organization_id = p_org
                    AND s.revoked_at IS NULL AND s.expires_at > now()
               ) THEN
                 RETURN NULL;
               END IF;
               SELECT m.role INTO member_role FROM memberships m
                 WHERE m.organization_id = p_org AND m.user_id = p_user;
               RETURN member_role;
             END
             $$;
             REVOKE ALL ON FUNCTION bulkhead_enter_tenant(uuid, uuid, uuid) FROM PUBLIC;
             GRANT EXECUTE ON FUNCTION bulkhead_enter_tenant(uuid, uuid, uuid) TO {APP_ROLE};"
    )
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    OrganizationId,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    RevokedAt,
    RevokedReason,
    ClientIp,
    UserAgent,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Digest,
    SessionId,
    CreatedAt,
    SpentAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
}

pub(crate) const MEMBER_OF: &str = "id IN (SELECT m.organization_id FROM memberships m
    WHERE m.user_id = NULLIF(current_setting('app.current_user', true), '')::uuid)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(uuid(Sessions::Id).primary_key())
                    .col(uuid(Sessions::UserId))
                    .col(uuid(Sessions::OrganizationId))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::LastUsedAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Sessions::RevokedAt))
                    .col(string_len_null(Sessions::RevokedReason, 40))
                    .col(string_len_null(Sessions::ClientIp, 64))
                    .col(string_len_null(Sessions::UserAgent, 512))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sessions::Table, Sessions::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sessions_user_id_last_used_at_idx")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .col(Sessions::LastUsedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(string_len(RefreshTokens::Digest, 64).primary_key())
                    .col(uuid(RefreshTokens::SessionId))
                    .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::SpentAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RefreshTokens::Table, RefreshTokens::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("refresh_tokens_session_id_idx")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::SessionId)
                    .to_owned(),
            )
            .await?;

        if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        rls::grant(manager, "sessions", "SELECT, INSERT, UPDATE").await?;
        rls::grant(manager, "refresh_tokens", "SELECT, INSERT, UPDATE").await?;
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "DROP POLICY organizations_tenant_isolation ON organizations;
             CREATE POLICY organizations_tenant_isolation ON organizations AS RESTRICTIVE FOR ALL
               USING (id = NULLIF(current_setting('app.current_org', true), '')::uuid OR {MEMBER_OF})
               WITH CHECK (id = NULLIF(current_setting('app.current_org', true), '')::uuid);
             DROP FUNCTION bulkhead_enter_tenant(uuid, uuid);
             {}",
            create_function()
        ))
        .await
        .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(
                    "DROP FUNCTION IF EXISTS bulkhead_enter_tenant(uuid, uuid, uuid);
                     DROP POLICY IF EXISTS organizations_tenant_isolation ON organizations;
                     CREATE POLICY organizations_tenant_isolation ON organizations AS RESTRICTIVE FOR ALL
                       USING (id = NULLIF(current_setting('app.current_org', true), '')::uuid)
                       WITH CHECK (id = NULLIF(current_setting('app.current_org', true), '')::uuid);",
                )
                .await?;
            manager
                .get_connection()
                .execute_unprepared(&crate::m20261123_000003_enter_tenant::create_function())
                .await?;
        }
        for table in ["refresh_tokens", "sessions"] {
            manager
                .drop_table(
                    Table::drop()
                        .table(Alias::new(table))
                        .if_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
