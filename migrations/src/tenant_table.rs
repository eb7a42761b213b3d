//! The one way to create a tenant table, so that every resource's table is isolated the same:
//! `(organization_id, id)` as primary key, the lifecycle columns the kit's adapter reads,
//! foreign keys that carry the organization (a row can only point at a row of its own
//! organization), the indexes a live list and the purge use, and on PostgreSQL the grants and
//! forced row-level security. Add the table to [`crate::TENANT_TABLES`] too: a test holds every
//! table with an `organization_id` to that list and to forced RLS.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};

use crate::rls;

/// A tenant table to create; see the module's documentation.
pub struct TenantTable {
    name: &'static str,
    columns: Vec<ColumnDef>,
    references: Vec<(&'static str, &'static str, ForeignKeyAction)>,
    unique_live: Vec<(&'static str, &'static str)>,
    sorted_by: Vec<&'static str>,
}

impl TenantTable {
    /// A table named `name` with the lifecycle columns and nothing else yet.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            columns: Vec::new(),
            references: Vec::new(),
            unique_live: Vec::new(),
            sorted_by: Vec::new(),
        }
    }

    /// One of the resource's own columns.
    pub fn column(mut self, column: ColumnDef) -> Self {
        self.columns.push(column);
        self
    }

    /// `column` names a row of tenant table `table` of the same organization: the foreign key
    /// is `(organization_id, column)` to `table (organization_id, id)`, so it cannot point
    /// across tenants. A NULL `column` points nowhere. `on_delete` is what purging the row
    /// pointed at does to this one (`Cascade` or `Restrict`; `SetNull` would clear the
    /// organization too, so it is refused).
    pub fn references(
        mut self,
        column: &'static str,
        table: &'static str,
        on_delete: ForeignKeyAction,
    ) -> Self {
        self.references.push((column, table, on_delete));
        self
    }

    /// `expression` (`lower(name)`, say) is unique among the live rows of an organization; the
    /// index is named `<table>_<suffix>_key`. A deleted row's value is free again, and a
    /// restore that would clash is refused by the index.
    pub fn unique_live(mut self, suffix: &'static str, expression: &'static str) -> Self {
        self.unique_live.push((suffix, expression));
        self
    }

    /// Lists of live rows may be sorted by `column`: an index serves the page in that order.
    /// `created_at` always has one.
    pub fn sorted_by(mut self, column: &'static str) -> Self {
        self.sorted_by.push(column);
        self
    }

    /// The statement that creates the table, without its indexes and policies.
    pub fn statement(&self) -> Result<TableCreateStatement, DbErr> {
        let table = Alias::new(self.name);
        let mut create = Table::create();
        create
            .table(table.clone())
            .col(uuid(Alias::new("organization_id")))
            .col(uuid(Alias::new("id")))
            .col(uuid(Alias::new("created_by")))
            .col(timestamp_with_time_zone(Alias::new("created_at")))
            .col(timestamp_with_time_zone(Alias::new("updated_at")))
            .col(big_integer(Alias::new("version")).default(1))
            .col(timestamp_with_time_zone_null(Alias::new("deleted_at")))
            .col(uuid_null(Alias::new("deleted_by")));
        for column in &self.columns {
            create.col(column.clone());
        }
        create
            .primary_key(Index::create().col("organization_id").col("id"))
            .foreign_key(
                ForeignKey::create()
                    .from(table.clone(), "organization_id")
                    .to("organizations", "id")
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .foreign_key(
                ForeignKey::create()
                    .from(table.clone(), "created_by")
                    .to("users", "id"),
            );
        for (column, target, on_delete) in &self.references {
            if matches!(
                on_delete,
                ForeignKeyAction::SetNull | ForeignKeyAction::SetDefault
            ) {
                return Err(DbErr::Migration(format!(
                    "{}.{column}: a reference within the tenant can cascade or restrict, not clear",
                    self.name
                )));
            }
            create.foreign_key(
                ForeignKey::create()
                    .from_tbl(table.clone())
                    .from_col("organization_id")
                    .from_col(*column)
                    .to_tbl(*target)
                    .to_col("organization_id")
                    .to_col("id")
                    .on_delete(*on_delete),
            );
        }
        Ok(create.to_owned())
    }

    /// The index statements: live rows in list order, deleted rows for the purge, the unique
    /// expressions among live rows.
    pub fn indexes(&self) -> Vec<String> {
        let name = self.name;
        let mut indexes: Vec<String> = std::iter::once(&"created_at")
            .chain(&self.sorted_by)
            .map(|column| {
                format!(
                    "CREATE INDEX {name}_live_by_{column}_idx ON {name} \
                     (organization_id, {column}, id) WHERE deleted_at IS NULL"
                )
            })
            .collect();
        indexes.push(format!(
            "CREATE INDEX {name}_deleted_idx ON {name} (organization_id, deleted_at) \
             WHERE deleted_at IS NOT NULL"
        ));
        for (suffix, expression) in &self.unique_live {
            indexes.push(format!(
                "CREATE UNIQUE INDEX {name}_{suffix}_key ON {name} \
                 (organization_id, {expression}) WHERE deleted_at IS NULL"
            ));
        }
        for (column, ..) in &self.references {
            indexes.push(format!(
                "CREATE INDEX {name}_{column}_idx ON {name} (organization_id, {column})"
            ));
        }
        indexes
    }

    /// Creates the table, its indexes, and on PostgreSQL its grants and forced row-level
    /// security.
    pub async fn create(self, manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        manager.create_table(self.statement()?).await?;
        let db = manager.get_connection();
        for index in self.indexes() {
            db.execute_unprepared(&index).await?;
        }
        if manager.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            rls::grant(manager, self.name, "SELECT, INSERT, UPDATE, DELETE").await?;
            rls::isolate(manager, self.name, "organization_id", None).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sea_orm_migration::prelude::*;
    use sea_orm_migration::schema::{string_len, uuid_null};

    use super::TenantTable;

    fn notes() -> TenantTable {
        TenantTable::new("notes")
            .column(string_len(Alias::new("title"), 200))
            .column(uuid_null(Alias::new("project_id")))
            .references("project_id", "projects", ForeignKeyAction::Cascade)
            .unique_live("lower_title", "lower(title)")
            .sorted_by("title")
    }

    #[test]
    fn keys_include_the_organization() {
        let sql = notes()
            .statement()
            .expect("valid")
            .to_string(PostgresQueryBuilder);
        assert!(
            sql.contains(r#"PRIMARY KEY ("organization_id", "id")"#),
            "{sql}"
        );
        assert!(
            sql.contains(r#"FOREIGN KEY ("organization_id", "project_id") REFERENCES "projects" ("organization_id", "id") ON DELETE CASCADE"#),
            "{sql}"
        );
        assert!(
            sql.contains(r#"FOREIGN KEY ("organization_id") REFERENCES "organizations" ("id") ON DELETE CASCADE"#),
            "{sql}"
        );
        for column in ["version", "deleted_at", "deleted_by", "created_by", "title"] {
            assert!(sql.contains(&format!("\"{column}\"")), "{column}: {sql}");
        }
    }

    #[test]
    fn unique_fields_are_unique_among_live_rows_of_one_organization() {
        let indexes = notes().indexes();
        assert!(indexes.contains(
            &"CREATE UNIQUE INDEX notes_lower_title_key ON notes (organization_id, lower(title)) WHERE deleted_at IS NULL".to_owned()
        ));
        assert!(
            indexes
                .iter()
                .any(|i| i.contains("notes_live_by_title_idx"))
        );
    }

    #[test]
    fn a_reference_cannot_clear_the_organization() {
        let clearing = TenantTable::new("notes").references(
            "project_id",
            "projects",
            ForeignKeyAction::SetNull,
        );
        assert!(clearing.statement().is_err());
    }
}
