//! `bulkhead citus-plan`: the statements that distribute a migrated schema on Citus by
//! `organization_id`, read from the database's own catalogue so that every table is placed and
//! none is forgotten. Tenant tables become distributed tables, co-located; global tables
//! (`bulkhead_migrations::REFERENCE_TABLES`) and the organizations themselves become reference
//! tables; the migrator's bookkeeping stays on the coordinator. Statements come in dependency
//! order: a table after every table its foreign keys name, as Citus requires.

use std::collections::{BTreeMap, BTreeSet};

use bulkhead_migrations::REFERENCE_TABLES;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

use crate::startup::StartupError;

/// The column tenant tables are distributed by.
const TENANT_COLUMN: &str = "organization_id";
/// Tables left on the coordinator: nothing names them and every node need not see them.
const COORDINATOR_ONLY: &[&str] = &["seaql_migrations"];
/// Why the organizations table, tenant-keyed by its own id, is a reference table.
const ORGANIZATIONS: &str = "one row per tenant, read by every request's checks; as a reference \
    table every distributed table keeps its foreign key to it, and so do the reference tables \
    (sessions) that name an organization";

/// How a table is placed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Placement {
    Reference(String),
    Distributed,
    Coordinator,
}

/// A foreign key, as the catalogue has it.
#[derive(Debug, Clone)]
pub struct ForeignKey {
    pub table: String,
    pub name: String,
    pub target: String,
    /// Its column pairs, `column=target_column`.
    pub pairs: Vec<String>,
}

/// What the plan is made from: the public tables (with whether they have `organization_id`),
/// their foreign keys, and their triggers (`table`, `trigger`).
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub tables: BTreeMap<String, bool>,
    pub foreign_keys: Vec<ForeignKey>,
    pub triggers: Vec<(String, String)>,
}

impl Catalogue {
    /// Reads the catalogue of the database `url` (any role may read it; the owner is usual).
    pub async fn read(url: &str) -> Result<Self, StartupError> {
        let store =
            bulkhead_infra::Store::connect(url, &bulkhead_infra::StoreOptions::default()).await?;
        if !store.is_postgres() {
            return Err(StartupError::Config(
                "citus-plan reads a PostgreSQL database's catalogue; this URL is not PostgreSQL"
                    .into(),
            ));
        }
        let conn = store.connection();
        let rows = |sql: &'static str| async move {
            let rows = conn
                .query_all_raw(Statement::from_string(DatabaseBackend::Postgres, sql))
                .await
                .map_err(|e| StartupError::Config(format!("cannot read the catalogue: {e}")))?;
            rows.iter()
                .map(|row| {
                    (0..3)
                        .map(|i| row.try_get_by_index::<String>(i))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| StartupError::Config(format!("catalogue row: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let tables = rows(
            "SELECT c.relname::text, \
                    CASE WHEN EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid \
                         AND a.attname = 'organization_id' AND NOT a.attisdropped) \
                         THEN 'tenant' ELSE 'global' END, '' \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1",
        )
        .await?
        .into_iter()
        .map(|row| (row[0].clone(), row[1] == "tenant"))
        .collect();
        let foreign_keys = rows(
            "SELECT src.relname::text || ' ' || c.conname::text, dst.relname::text, \
                    (SELECT string_agg(a.attname::text || '=' || b.attname::text, ',' ORDER BY k.n) \
                     FROM unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(s, d, n) \
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.s \
                     JOIN pg_attribute b ON b.attrelid = c.confrelid AND b.attnum = k.d) \
             FROM pg_constraint c \
             JOIN pg_class src ON src.oid = c.conrelid \
             JOIN pg_class dst ON dst.oid = c.confrelid \
             JOIN pg_namespace n ON n.oid = src.relnamespace \
             WHERE n.nspname = 'public' AND c.contype = 'f' ORDER BY 1",
        )
        .await?
        .into_iter()
        .map(|row| {
            let (table, name) = row[0].split_once(' ').unwrap_or((&row[0], ""));
            ForeignKey {
                table: table.to_owned(),
                name: name.to_owned(),
                target: row[1].clone(),
                pairs: row[2].split(',').map(str::to_owned).collect(),
            }
        })
        .collect();
        let triggers = rows(
            "SELECT c.relname::text, t.tgname::text, '' FROM pg_trigger t \
             JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND NOT t.tgisinternal ORDER BY 1, 2",
        )
        .await?
        .into_iter()
        .map(|row| (row[0].clone(), row[1].clone()))
        .collect();
        Ok(Self {
            tables,
            foreign_keys,
            triggers,
        })
    }

    fn placement(&self, table: &str, tenant: bool) -> Result<Placement, String> {
        if COORDINATOR_ONLY.contains(&table) {
            return Ok(Placement::Coordinator);
        }
        if table == "organizations" {
            return Ok(Placement::Reference(ORGANIZATIONS.into()));
        }
        if let Some((_, reason)) = REFERENCE_TABLES.iter().find(|(name, _)| *name == table) {
            return Ok(Placement::Reference((*reason).into()));
        }
        if tenant {
            return Ok(Placement::Distributed);
        }
        Err(format!(
            "{table} has no organization_id and is not a reference table (bulkhead_migrations::REFERENCE_TABLES)"
        ))
    }

    /// The plan as SQL, or every reason Citus would refuse the schema.
    pub fn plan(&self) -> Result<String, Vec<String>> {
        let mut problems = Vec::new();
        let mut placed = BTreeMap::new();
        for (table, tenant) in &self.tables {
            match self.placement(table, *tenant) {
                Ok(placement) => {
                    placed.insert(table.clone(), placement);
                }
                Err(problem) => problems.push(problem),
            }
        }
        let mut after: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for key in &self.foreign_keys {
            let (Some(from), Some(to)) = (placed.get(&key.table), placed.get(&key.target)) else {
                continue;
            };
            let refused = match (from, to) {
                (_, Placement::Coordinator) | (Placement::Coordinator, _) => {
                    Some("a key to or from a table left on the coordinator")
                }
                (Placement::Reference(_), Placement::Distributed) => {
                    Some("a reference table cannot name a distributed table")
                }
                (Placement::Distributed, Placement::Distributed)
                    if !key
                        .pairs
                        .iter()
                        .any(|p| p == &format!("{TENANT_COLUMN}={TENANT_COLUMN}")) =>
                {
                    Some("a key between distributed tables must pair organization_id")
                }
                _ => None,
            };
            if let Some(why) = refused {
                problems.push(format!(
                    "{}.{} → {}: {why}",
                    key.table, key.name, key.target
                ));
            }
            if key.table != key.target {
                after
                    .entry(key.table.as_str())
                    .or_default()
                    .insert(key.target.as_str());
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }

        // Reference tables first (a distributed table may name them, never the reverse), each
        // group in dependency order, ties by name.
        let group = |wanted: fn(&Placement) -> bool| -> Result<Vec<String>, Vec<String>> {
            let mut left: BTreeSet<&str> = placed
                .iter()
                .filter(|(_, p)| wanted(p))
                .map(|(t, _)| t.as_str())
                .collect();
            let mut order = Vec::new();
            while !left.is_empty() {
                let ready: Vec<&str> = left
                    .iter()
                    .copied()
                    .filter(|t| {
                        after
                            .get(t)
                            .is_none_or(|targets| targets.iter().all(|x| !left.contains(x)))
                    })
                    .collect();
                if ready.is_empty() {
                    return Err(vec![format!("foreign keys form a cycle among {left:?}")]);
                }
                for table in ready {
                    left.remove(table);
                    order.push(table.to_owned());
                }
            }
            Ok(order)
        };
        let references = group(|p| matches!(p, Placement::Reference(_)))?;
        let distributed = group(|p| matches!(p, Placement::Distributed))?;

        let mut sql = String::from(
            "-- Bulkhead on Citus: tenant tables distributed by organization_id and co-located,\n\
             -- global tables as reference tables (bulkhead citus-plan).\n\
             -- Run on the coordinator as the schema's owner, after `bulkhead migrate` and before\n\
             -- the data grows: each call moves the table's existing rows.\n\n\
             -- Reference tables: copied to every node.\n",
        );
        for table in &references {
            if let Some(Placement::Reference(reason)) = placed.get(table) {
                sql.push_str(&format!("-- {table}: {reason}\n"));
            }
            sql.push_str(&format!("SELECT create_reference_table('{table}');\n"));
        }
        sql.push_str("\n-- Distributed tables: one tenant's rows on one node, joined locally.\n");
        let anchor = distributed.first().cloned().unwrap_or_default();
        for table in &distributed {
            if *table == anchor {
                sql.push_str(&format!(
                    "SELECT create_distributed_table('{table}', '{TENANT_COLUMN}');\n"
                ));
            } else {
                sql.push_str(&format!(
                    "SELECT create_distributed_table('{table}', '{TENANT_COLUMN}', colocate_with => '{anchor}');\n"
                ));
            }
        }
        let coordinator: Vec<&str> = placed
            .iter()
            .filter(|(_, p)| **p == Placement::Coordinator)
            .map(|(t, _)| t.as_str())
            .collect();
        sql.push_str(&format!(
            "\n-- Left on the coordinator: {}.\n",
            coordinator.join(", ")
        ));
        let distributed_triggers: Vec<String> = self
            .triggers
            .iter()
            .filter(|(table, _)| placed.get(table) == Some(&Placement::Distributed))
            .map(|(table, trigger)| format!("{table}.{trigger}"))
            .collect();
        if !distributed_triggers.is_empty() {
            sql.push_str(&format!(
                "-- Review before running: triggers on distributed tables ({}). Citus keeps them\n\
                 -- only with citus.enable_unsafe_triggers, and they fire on the node that holds the\n\
                 -- shard: a NOTIFY there does not reach servers listening on the coordinator.\n",
                distributed_triggers.join(", ")
            ));
        }
        Ok(sql)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(table: &str, target: &str, pairs: &[&str]) -> ForeignKey {
        ForeignKey {
            table: table.into(),
            name: format!("{table}_{target}_fkey"),
            target: target.into(),
            pairs: pairs.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    fn catalogue(tables: &[(&str, bool)], foreign_keys: Vec<ForeignKey>) -> Catalogue {
        Catalogue {
            tables: tables.iter().map(|(t, o)| ((*t).to_owned(), *o)).collect(),
            foreign_keys,
            triggers: Vec::new(),
        }
    }

    #[test]
    fn tables_come_after_what_they_name_and_colocate_with_the_first() {
        let plan = catalogue(
            &[
                ("organizations", false),
                ("users", false),
                ("projects", true),
                ("agent_configs", true),
                ("seaql_migrations", false),
            ],
            vec![
                key("projects", "organizations", &["organization_id=id"]),
                key("projects", "users", &["created_by=id"]),
                key(
                    "agent_configs",
                    "projects",
                    &["organization_id=organization_id", "project_id=id"],
                ),
            ],
        )
        .plan()
        .unwrap_or_else(|problems| panic!("{problems:?}"));
        let statements: Vec<&str> = plan.lines().filter(|l| l.starts_with("SELECT")).collect();
        assert_eq!(
            statements,
            [
                "SELECT create_reference_table('organizations');",
                "SELECT create_reference_table('users');",
                "SELECT create_distributed_table('projects', 'organization_id');",
                "SELECT create_distributed_table('agent_configs', 'organization_id', colocate_with => 'projects');",
            ]
        );
        assert!(plan.contains("-- Left on the coordinator: seaql_migrations."));
    }

    #[test]
    fn what_citus_refuses_is_reported_not_planned() {
        let problems = catalogue(
            &[
                ("users", false),
                ("projects", true),
                ("notes", true),
                ("stray", false),
            ],
            vec![
                key("users", "projects", &["favourite=id"]),
                key("notes", "projects", &["project_id=id"]),
            ],
        )
        .plan()
        .unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].starts_with("stray has no organization_id"));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("cannot name a distributed table"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p.contains("must pair organization_id"))
        );
    }
}
