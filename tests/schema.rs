//! The schema keeps the tenant in every key, read straight from PostgreSQL's catalogue: every
//! tenant table's primary key, unique constraints and unique indexes include
//! `organization_id`, and every foreign key between tenant tables goes through it. That is what
//! keeps one tenant's rows from naming another's, and what lets the schema be distributed by
//! `organization_id` on Citus (`bulkhead citus-plan`). Tables without `organization_id` are
//! global and listed here as reference tables, so a new table is a decision, not an accident.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use bulkhead_migrations::TENANT_TABLES;
use bulkhead_tests::TestDatabase;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};

/// Global tables, keyed without the tenant, each for a reason: on Citus they are reference
/// tables (or stay on the coordinator), never distributed.
const REFERENCE_TABLES: &[(&str, &str)] = &[
    ("seaql_migrations", "the migrator's bookkeeping"),
    ("users", "a person belongs to any number of organizations"),
    (
        "account_tokens",
        "a user's email verification and reset tokens, found by digest",
    ),
    (
        "refresh_tokens",
        "found by digest before any tenant is known",
    ),
    (
        "rate_limits",
        "counted per client address or account, across organizations",
    ),
    (
        "outbox_emails",
        "mail to people, sent by one process for every organization",
    ),
    (
        "sessions",
        "a sign-in session moves between its user's organizations (switch-organization keeps \
         it), so its key cannot hold one; it has organization_id and row-level security for the \
         organization it is in now",
    ),
];

fn is_reference(table: &str) -> bool {
    REFERENCE_TABLES.iter().any(|(name, _)| *name == table)
}

async fn rows(conn: &DatabaseConnection, query: &str) -> Vec<Vec<String>> {
    conn.query_all_raw(Statement::from_string(DatabaseBackend::Postgres, query))
        .await
        .unwrap()
        .iter()
        .map(|row| {
            (0..)
                .map_while(|i| row.try_get_by_index::<String>(i).ok())
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn every_key_of_a_tenant_table_includes_the_tenant() {
    let database = TestDatabase::create().await;
    let owner = database.connect_as_owner().await;

    let tables: BTreeMap<String, bool> = rows(
        &owner,
        "SELECT c.relname::text, \
                CASE WHEN EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid \
                     AND a.attname = 'organization_id' AND NOT a.attisdropped) \
                     THEN 'tenant' ELSE 'global' END \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1",
    )
    .await
    .into_iter()
    .map(|row| (row[0].clone(), row[1] == "tenant" && !is_reference(&row[0])))
    .collect();
    assert!(tables.len() > 20, "{tables:?}");

    let listed: BTreeSet<&str> = TENANT_TABLES.iter().copied().collect();
    for (table, tenant) in &tables {
        if *tenant {
            assert!(
                listed.contains(table.as_str()),
                "{table} has organization_id but is not in TENANT_TABLES (so nothing checks its row-level security)"
            );
        } else {
            assert!(
                is_reference(table) || table == "organizations",
                "{table} has no organization_id and is not listed as a reference table"
            );
        }
    }
    for table in TENANT_TABLES {
        assert!(tables.contains_key(*table), "{table} is listed but missing");
    }

    // Keys: the primary key and every unique constraint or index, with their columns, of every
    // tenant table (the organizations table is keyed by the tenant's own id).
    let keys = rows(
        &owner,
        "SELECT t.relname::text, i.relname::text, \
                CASE WHEN x.indisprimary THEN 'primary' ELSE 'unique' END, \
                COALESCE(( \
                  SELECT string_agg(a.attname::text, ',' ORDER BY k.n) \
                  FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) \
                  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum), '') \
         FROM pg_index x \
         JOIN pg_class t ON t.oid = x.indrelid \
         JOIN pg_class i ON i.oid = x.indexrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = 'public' AND x.indisunique ORDER BY 1, 2",
    )
    .await;
    let mut problems = Vec::new();
    for key in &keys {
        let (table, index, kind, columns) = (&key[0], &key[1], &key[2], &key[3]);
        if !tables.get(table).copied().unwrap_or(false) {
            continue;
        }
        if !columns.split(',').any(|c| c == "organization_id") {
            problems.push(format!(
                "{table}: {kind} key {index} ({columns}) leaves out organization_id"
            ));
        }
    }

    // Foreign keys from a tenant table to another: both sides pair organization_id with
    // organization_id (a key to the organizations table pairs it with its id).
    let foreign = rows(
        &owner,
        "SELECT src.relname::text, c.conname::text, dst.relname::text, \
                (SELECT string_agg(a.attname::text || '=' || b.attname::text, ',' ORDER BY k.n) \
                 FROM unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(s, d, n) \
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.s \
                 JOIN pg_attribute b ON b.attrelid = c.confrelid AND b.attnum = k.d) \
         FROM pg_constraint c \
         JOIN pg_class src ON src.oid = c.conrelid \
         JOIN pg_class dst ON dst.oid = c.confrelid \
         JOIN pg_namespace n ON n.oid = src.relnamespace \
         WHERE n.nspname = 'public' AND c.contype = 'f' ORDER BY 1, 2",
    )
    .await;
    for key in &foreign {
        let (table, name, target, pairs) = (&key[0], &key[1], &key[2], &key[3]);
        let tenant = |t: &String| tables.get(t).copied().unwrap_or(false) || t == "organizations";
        if !tenant(table) || !tenant(target) {
            continue;
        }
        let through = if target == "organizations" {
            "organization_id=id"
        } else {
            "organization_id=organization_id"
        };
        if !pairs.split(',').any(|p| p == through) {
            problems.push(format!(
                "{table}: foreign key {name} to {target} ({pairs}) does not go through the tenant"
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
