//! Sessions under forced row-level security.
//!
//! A session carries `organization_id`, so with no tenant set the app role must read none of
//! them. A transaction sees a session when it acts for the session's user
//! (`app.current_user`: listing, ending and switching one's own sessions, in every
//! organization), inside the session's organization (`app.current_org`: ending the sessions
//! of a demoted or removed member), or when it presents the session's refresh token
//! (`app.refresh_digest`, the SHA-256 of a token only its holder knows: the refresh path,
//! which knows nothing else yet, and only reads until it has entered the session's tenant as
//! its user). Refresh tokens name a session, not a tenant, and stay outside the policies.

use sea_orm_migration::prelude::*;

use crate::rls::{self, APP_ROLE};

#[derive(DeriveMigrationName)]
pub struct Migration;

const WRITABLE: &str = "user_id = NULLIF(current_setting('app.current_user', true), '')::uuid
    OR organization_id = NULLIF(current_setting('app.current_org', true), '')::uuid";

const BY_TOKEN: &str = "id = (SELECT t.session_id FROM refresh_tokens t
    WHERE t.digest = NULLIF(current_setting('app.refresh_digest', true), ''))";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = format!(
            "ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
             ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
             CREATE POLICY sessions_tenant_isolation ON sessions AS RESTRICTIVE FOR ALL
               USING ({WRITABLE} OR {BY_TOKEN}) WITH CHECK ({WRITABLE});
             CREATE POLICY sessions_app_access ON sessions AS PERMISSIVE FOR ALL TO {APP_ROLE}
               USING (true) WITH CHECK (true);"
        );
        rls::on_postgres(manager, &sql).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        rls::on_postgres(
            manager,
            "DROP POLICY IF EXISTS sessions_app_access ON sessions;
             DROP POLICY IF EXISTS sessions_tenant_isolation ON sessions;
             ALTER TABLE sessions NO FORCE ROW LEVEL SECURITY;
             ALTER TABLE sessions DISABLE ROW LEVEL SECURITY;",
        )
        .await
    }
}
