//! API keys act on their creator's authority.
//!
//! `bulkhead_enter_tenant` gains `p_key`: for a request made with an API key, the first
//! statement of each unit of work checks that the key is still live (not revoked, not expired)
//! and answers what its creator holds in the organization right now, which the server
//! intersects with the key's scopes. A removed creator yields no row, so the key stops at the
//! next statement; a demoted one narrows it. `app.current_user` stays empty for a key: it is
//! not its creator, and reads nothing private to them.

use sea_orm_migration::prelude::*;

use crate::rls::{self, APP_ROLE};

#[derive(DeriveMigrationName)]
pub struct Migration;

pub(crate) fn create_function() -> String {
    format!(
        "CREATE FUNCTION bulkhead_enter_tenant(p_org uuid, p_user uuid, p_session uuid,
                                               p_deleted boolean DEFAULT false, p_key uuid DEFAULT NULL)
           RETURNS TABLE(member_role text, role_permissions text)
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
             SELECT coalesce(m.role_id::text, m.role::text), r.permissions::text
               FROM memberships m
               LEFT JOIN roles r ON r.organization_id = m.organization_id AND r.id = m.role_id
              WHERE m.organization_id = p_org AND m.user_id = v_member;
         END
         $$;
         REVOKE ALL ON FUNCTION bulkhead_enter_tenant(uuid, uuid, uuid, boolean, uuid) FROM PUBLIC;
         GRANT EXECUTE ON FUNCTION bulkhead_enter_tenant(uuid, uuid, uuid, boolean, uuid) TO {APP_ROLE};"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = format!(
            "DROP FUNCTION bulkhead_enter_tenant(uuid, uuid, uuid, boolean);
             {}",
            create_function()
        );
        rls::on_postgres(manager, &sql).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = format!(
            "DROP FUNCTION IF EXISTS bulkhead_enter_tenant(uuid, uuid, uuid, boolean, uuid);
             {}",
            crate::m20261123_000012_roles_and_platform::create_function()
        );
        rls::on_postgres(manager, &sql).await
    }
}
