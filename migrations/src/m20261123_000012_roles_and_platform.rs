//! Custom roles, platform superusers, and suspension by the platform.
//!
//! - `roles` is tenant data. A membership or invitation holding a custom role names it in
//!   `role_id`; on PostgreSQL the foreign key includes the organization, so a membership can
//!   only hold its own organization's roles, and a held role cannot be deleted. `role` then
//!   keeps `viewer`, the least a system role grants, so that anything reading only `role`
//!   errs toward less access (SQLite cannot change the column's CHECK in place).
//! - `bulkhead_enter_tenant` now answers the role and, for a custom role, its permissions, and
//!   refuses suspended organizations. The server calls it once to authenticate a request and
//!   again as the first statement of each unit of work, comparing the two.
//! - `users.is_superuser` can only be set on the owner's connection (`bulkhead
//!   create-superuser`): the app role may neither insert nor update it.
//! - `organizations.settings` keeps each organization's settings, a JSON object, as text.
//! - A transaction naming a superuser in `app.platform_user` may read every organization's
//!   record (and nothing else of a tenant); writing one still needs that organization as the
//!   current tenant.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::m20261123_000005_sessions::MEMBER_OF;
use crate::rls::{self, APP_ROLE};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Roles {
    Table,
    OrganizationId,
    Id,
    Name,
    NameKey,
    Permissions,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    SuspendedAt,
    Settings,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    RoleId,
}

#[derive(DeriveIden)]
enum Invitations {
    Table,
    RoleId,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    IsSuperuser,
}

const TENANT: &str = "id = NULLIF(current_setting('app.current_org', true), '')::uuid";

pub(crate) fn create_function() -> String {
    format!(
        "CREATE FUNCTION bulkhead_enter_tenant(p_org uuid, p_user uuid, p_session uuid, p_deleted boolean DEFAULT false)
           RETURNS TABLE(member_role text, role_permissions text)
           LANGUAGE plpgsql VOLATILE SECURITY INVOKER
         AS $$
         BEGIN
           PERFORM set_config('app.current_org', p_org::text, true),
                   set_config('app.current_user', coalesce(p_user::text, ''), true);
           IF p_user IS NULL THEN
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
              WHERE s.id = p_session AND s.user_id = p_user AND s.organization_id = p_org
                AND s.revoked_at IS NULL AND s.expires_at > now()
           ) THEN
             RETURN;
           END IF;
           RETURN QUERY
             SELECT coalesce(m.role_id::text, m.role::text), r.permissions::text
               FROM memberships m
               LEFT JOIN roles r ON r.organization_id = m.organization_id AND r.id = m.role_id
              WHERE m.organization_id = p_org AND m.user_id = p_user;
         END
         $$;
         REVOKE ALL ON FUNCTION bulkhead_enter_tenant(uuid, uuid, uuid, boolean) FROM PUBLIC;
         GRANT EXECUTE ON FUNCTION bulkhead_enter_tenant(uuid, uuid, uuid, boolean) TO {APP_ROLE};"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Roles::Table)
                    .col(uuid(Roles::OrganizationId))
                    .col(uuid(Roles::Id))
                    .col(string_len(Roles::Name, 64))
                    .col(string_len(Roles::NameKey, 64))
                    .col(text(Roles::Permissions))
                    .col(timestamp_with_time_zone(Roles::CreatedAt))
                    .col(timestamp_with_time_zone(Roles::UpdatedAt))
                    .primary_key(Index::create().col(Roles::OrganizationId).col(Roles::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from_tbl(Roles::Table)
                            .from_col(Roles::OrganizationId)
                            .to_tbl(Organizations::Table)
                            .to_col(Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("roles_name_key_idx")
                    .table(Roles::Table)
                    .col(Roles::OrganizationId)
                    .col(Roles::NameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite alters one thing at a time.
        for (table, column) in [
            (
                Memberships::Table.into_iden(),
                Memberships::RoleId.into_iden(),
            ),
            (
                Invitations::Table.into_iden(),
                Invitations::RoleId.into_iden(),
            ),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(ColumnDef::new(column).uuid().null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .add_column(timestamp_with_time_zone_null(Organizations::SuspendedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .add_column(text(Organizations::Settings).default("{}"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(boolean(Users::IsSuperuser).default(false))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        rls::grant(manager, "roles", "SELECT, INSERT, UPDATE, DELETE").await?;
        rls::isolate(manager, "roles", "organization_id", None).await?;
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "ALTER TABLE memberships ADD CONSTRAINT memberships_role_fk
                   FOREIGN KEY (organization_id, role_id) REFERENCES roles (organization_id, id)
                   ON DELETE RESTRICT;
                 ALTER TABLE invitations ADD CONSTRAINT invitations_role_fk
                   FOREIGN KEY (organization_id, role_id) REFERENCES roles (organization_id, id)
                   ON DELETE RESTRICT;
                 CREATE INDEX memberships_role_id_idx ON memberships (organization_id, role_id)
                   WHERE role_id IS NOT NULL;
                 GRANT UPDATE (role_id) ON memberships TO {APP_ROLE};
                 GRANT UPDATE (suspended_at, settings) ON organizations TO {APP_ROLE};
                 REVOKE INSERT ON users FROM {APP_ROLE};
                 GRANT INSERT (id, email, name, password_hash, created_at, email_verified_at)
                   ON users TO {APP_ROLE};
                 CREATE FUNCTION bulkhead_platform_admin() RETURNS boolean
                   LANGUAGE sql STABLE SECURITY INVOKER
                 AS $$
                   SELECT EXISTS (
                     SELECT 1 FROM users u
                      WHERE u.id = NULLIF(current_setting('app.platform_user', true), '')::uuid
                        AND u.is_superuser
                   )
                 $$;
                 GRANT EXECUTE ON FUNCTION bulkhead_platform_admin() TO {APP_ROLE};
                 DROP POLICY organizations_tenant_isolation ON organizations;
                 CREATE POLICY organizations_tenant_isolation ON organizations AS RESTRICTIVE FOR ALL
                   USING ({TENANT} OR {MEMBER_OF} OR bulkhead_platform_admin())
                   WITH CHECK ({TENANT});
                 DROP FUNCTION bulkhead_enter_tenant(uuid, uuid, uuid, boolean);
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
                .execute_unprepared(&format!(
                    "DROP FUNCTION IF EXISTS bulkhead_enter_tenant(uuid, uuid, uuid, boolean);
                     DROP POLICY IF EXISTS organizations_tenant_isolation ON organizations;
                     CREATE POLICY organizations_tenant_isolation ON organizations AS RESTRICTIVE FOR ALL
                       USING ({TENANT} OR {MEMBER_OF}) WITH CHECK ({TENANT});
                     DROP FUNCTION IF EXISTS bulkhead_platform_admin();
                     GRANT INSERT ON users TO {APP_ROLE};
                     ALTER TABLE memberships DROP CONSTRAINT IF EXISTS memberships_role_fk;
                     ALTER TABLE invitations DROP CONSTRAINT IF EXISTS invitations_role_fk;
                     {}",
                    crate::m20261123_000011_organization_deletion::create_function()
                ))
                .await?;
        }
        for (table, column) in [
            (Users::Table.into_iden(), Users::IsSuperuser.into_iden()),
            (
                Organizations::Table.into_iden(),
                Organizations::Settings.into_iden(),
            ),
            (
                Organizations::Table.into_iden(),
                Organizations::SuspendedAt.into_iden(),
            ),
            (
                Invitations::Table.into_iden(),
                Invitations::RoleId.into_iden(),
            ),
            (
                Memberships::Table.into_iden(),
                Memberships::RoleId.into_iden(),
            ),
        ] {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Roles::Table).if_exists().to_owned())
            .await
    }
}
