//! The schema keeps the tenant in every key, read straight from PostgreSQL's catalogue: every
//! tenant table's primary key, unique constraints and unique indexes include
//! `organization_id`, and every foreign key between tenant tables goes through it. That is what
//! keeps one tenant's rows from naming another's, and what lets the schema be distributed by
//! `organization_id` on Citus (`bulkhead citus-plan`). Tables without `organization_id` are
//! global and listed as reference tables (`bulkhead_migrations::REFERENCE_TABLES`), so a new table is a decision, not an accident.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use bulkhead_migrations::{REFERENCE_TABLES, TENANT_TABLES};
use bulkhead_tests::TestDatabase;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};

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

    // The catalogue as `bulkhead citus-plan` reads it: tables, with whether they have
    // organization_id, and foreign keys.
    let catalogue = bulkhead_server::citus::Catalogue::read(&database.owner_url)
        .await
        .unwrap();
    let tables: BTreeMap<String, bool> = catalogue
        .tables
        .iter()
        .map(|(table, tenant)| (table.clone(), *tenant && !is_reference(table)))
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
    for key in &catalogue.foreign_keys {
        let (table, name, target) = (&key.table, &key.name, &key.target);
        let pairs = key.pairs.join(",");
        let tenant = |t: &String| tables.get(t).copied().unwrap_or(false) || t == "organizations";
        if !tenant(table) || !tenant(target) {
            continue;
        }
        let through = if target == "organizations" {
            "organization_id=id"
        } else {
            "organization_id=organization_id"
        };
        if !key.pairs.iter().any(|p| p == through) {
            problems.push(format!(
                "{table}: foreign key {name} to {target} ({pairs}) does not go through the tenant"
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// `bulkhead citus-plan` on the migrated schema, run against stand-ins for Citus's two
/// functions that enforce its rules as documented: a reference table may name only reference
/// tables; a distributed table is keyed by its distribution column in every unique key, names
/// only tables placed before it, and names a distributed table only through the distribution
/// column. Every table but the migrator's is placed exactly once. (No Citus runs here; the
/// stand-ins check order and keys, not Citus itself.)
#[tokio::test]
async fn the_citus_plan_places_every_table_in_an_order_citus_accepts() {
    let database = TestDatabase::create().await;
    let plan = bulkhead_server::citus::Catalogue::read(&database.owner_url)
        .await
        .unwrap()
        .plan()
        .unwrap_or_else(|problems| panic!("{problems:#?}"));
    let owner = database.connect_as_owner().await;
    owner
        .execute_unprepared(
            r#"
            CREATE TABLE citus_placed (tbl regclass PRIMARY KEY, kind text NOT NULL, dist text);
            CREATE FUNCTION create_reference_table(t regclass) RETURNS void LANGUAGE plpgsql AS $$
            DECLARE k record;
            BEGIN
              FOR k IN SELECT confrelid::regclass AS target FROM pg_constraint
                       WHERE conrelid = t AND contype = 'f' AND confrelid <> conrelid LOOP
                IF NOT EXISTS (SELECT 1 FROM citus_placed WHERE tbl = k.target AND kind = 'reference') THEN
                  RAISE EXCEPTION '% names %, which is not a reference table (yet)', t, k.target;
                END IF;
              END LOOP;
              INSERT INTO citus_placed VALUES (t, 'reference', NULL);
            END $$;
            CREATE FUNCTION create_distributed_table(t regclass, col text, colocate_with text DEFAULT 'default')
            RETURNS void LANGUAGE plpgsql AS $$
            DECLARE k record; pairs text[];
            BEGIN
              IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = t AND attname = col) THEN
                RAISE EXCEPTION '% has no column %', t, col;
              END IF;
              IF colocate_with <> 'default' AND NOT EXISTS
                   (SELECT 1 FROM citus_placed WHERE tbl = colocate_with::regclass AND kind = 'distributed') THEN
                RAISE EXCEPTION '% co-located with %, which is not distributed', t, colocate_with;
              END IF;
              IF EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = t AND x.indisunique AND NOT EXISTS
                          (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t AND a.attname = col
                           AND a.attnum = ANY (x.indkey::int2[]))) THEN
                RAISE EXCEPTION '% has a unique key without %', t, col;
              END IF;
              FOR k IN SELECT c.confrelid::regclass AS target, c.conkey, c.confkey FROM pg_constraint c
                       WHERE c.conrelid = t AND c.contype = 'f' AND c.confrelid <> c.conrelid LOOP
                IF NOT EXISTS (SELECT 1 FROM citus_placed WHERE tbl = k.target) THEN
                  RAISE EXCEPTION '% names %, which is not placed yet', t, k.target;
                END IF;
                IF EXISTS (SELECT 1 FROM citus_placed WHERE tbl = k.target AND kind = 'distributed') THEN
                  SELECT array_agg(a.attname || '=' || b.attname) INTO pairs
                  FROM unnest(k.conkey, k.confkey) AS p(s, d)
                  JOIN pg_attribute a ON a.attrelid = t AND a.attnum = p.s
                  JOIN pg_attribute b ON b.attrelid = k.target AND b.attnum = p.d;
                  IF NOT (col || '=' || (SELECT dist FROM citus_placed WHERE tbl = k.target)) = ANY (pairs) THEN
                    RAISE EXCEPTION '% names % without its distribution column', t, k.target;
                  END IF;
                END IF;
              END LOOP;
              INSERT INTO citus_placed VALUES (t, 'distributed', col);
            END $$;
            "#,
        )
        .await
        .unwrap();
    owner
        .execute_unprepared(&plan)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{plan}"));

    let placed = rows(
        &owner,
        "SELECT tbl::text, kind FROM citus_placed ORDER BY 1",
    )
    .await;
    let tables = rows(
        &owner,
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') \
         AND c.relname NOT IN ('seaql_migrations', 'citus_placed') ORDER BY 1",
    )
    .await;
    let placed_names: Vec<&String> = placed.iter().map(|row| &row[0]).collect();
    let table_names: Vec<&String> = tables.iter().map(|row| &row[0]).collect();
    assert_eq!(placed_names, table_names, "{plan}");
    for table in TENANT_TABLES {
        let kind = &placed.iter().find(|row| row[0] == *table).unwrap()[1];
        let expected = if *table == "organizations" || is_reference(table) {
            "reference"
        } else {
            "distributed"
        };
        assert_eq!(kind, expected, "{table}");
    }
}

/// Every tenant table travels with an export or is left out for a stated reason, and the
/// export's order loads each table after every table its foreign keys name.
#[tokio::test]
async fn exports_hold_every_tenant_table_in_an_order_that_loads() {
    use bulkhead_infra::exports::{EXPORTED_TABLES, NOT_EXPORTED};
    let database = TestDatabase::create().await;
    for table in TENANT_TABLES {
        let exported = EXPORTED_TABLES.contains(table);
        let left_out = NOT_EXPORTED.iter().any(|(name, _)| name == table);
        assert!(
            exported != left_out,
            "{table}: exported {exported}, left out {left_out}: pick one"
        );
    }
    let catalogue = bulkhead_server::citus::Catalogue::read(&database.owner_url)
        .await
        .unwrap();
    let position = |table: &str| EXPORTED_TABLES.iter().position(|t| *t == table);
    for key in &catalogue.foreign_keys {
        let (Some(from), Some(to)) = (position(&key.table), position(&key.target)) else {
            continue;
        };
        assert!(
            key.table == key.target || to < from,
            "{} comes before {}, which its key {} names",
            key.table,
            key.target,
            key.name
        );
    }
}
