//! Tenant export and import on PostgreSQL: every row an organization owns, read in one
//! snapshot as each table's own JSON (`to_jsonb`), and loaded back with
//! `jsonb_populate_record`, so the rows arrive column for column, ids kept.

use std::collections::{BTreeMap, VecDeque};

use async_trait::async_trait;
use bulkhead_domain::audit::{AuditEntry, AuditEvent};
use bulkhead_domain::exports::{Decoded, ExportCursor, ExportRow, TenantExporter};
use bulkhead_domain::{DomainError, DomainResult, OrganizationId, SystemTask, TenantScope};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde_json::Value;

use crate::error::to_domain;
use crate::store::Store;
use crate::tx::OrgTx;

/// What an export holds, in load order (every table after the tables its keys name): the
/// members' and creators' user records first (without credentials), then the organization,
/// then its tables.
pub const EXPORTED_TABLES: &[&str] = &[
    "users",
    "organizations",
    "roles",
    "memberships",
    "projects",
    "project_members",
    "api_keys",
    "invitations",
    "audit_events",
    "audit_heads",
    "agent_configs",
    "agent_config_versions",
    "agents",
    "agent_runs",
    "run_events",
    "run_queue",
    "work_sessions",
    "work_artifacts",
    "work_checkpoints",
    "work_session_events",
];

/// Tenant tables an export leaves out, each for a reason (tests/schema.rs checks that every
/// tenant table is exported or listed here).
pub const NOT_EXPORTED: &[(&str, &str)] = &[
    (
        "sessions",
        "sign-ins belong to the deployment that issued them; people sign in again",
    ),
    (
        "idempotency_keys",
        "replays of requests made to the old deployment",
    ),
    (
        "project_counts",
        "kept by triggers from the projects as they are loaded",
    ),
    (
        "billing_subscriptions",
        "the subscription is with this deployment's Stripe account; the loaded organization \
         starts on free (a trigger adds the row) and subscribes again",
    ),
    (
        "billing_checkout_sessions",
        "checkouts in this deployment's Stripe account",
    ),
    (
        "billing_invoices",
        "mirrored from this deployment's Stripe account",
    ),
    ("billing_events", "Stripe's events to this deployment"),
    (
        "usage_counters",
        "this deployment's metering; the loaded organization starts its month again",
    ),
    (
        "conversations",
        "private to the member who holds each one: the organization's export does not carry \
         them, nor the reply runs that hold their words",
    ),
    (
        "conversation_messages",
        "the words of members' private conversations",
    ),
    (
        "conversation_events",
        "the events of members' private conversations",
    ),
    (
        "documents",
        "their files are in this deployment's blob store, which an export of rows does not \
         carry; an export that named them would load documents without bytes",
    ),
    ("document_queue", "this deployment's extraction work"),
    (
        "document_chunks",
        "derived from the documents' files, which stay behind with them",
    ),
];

/// Columns of user records an export never holds.
const USER_SECRETS: &[&str] = &["password_hash", "is_superuser"];
/// The columns an import writes of a user record (the round-trip test compares the rest).
const USER_COLUMNS: &str = "id, email, name, password_hash, created_at, email_verified_at";

/// Rows per fetch.
const BATCH: usize = 500;

/// Exports through PostgreSQL; on SQLite an export is refused (409).
pub struct SqlTenantExporter {
    store: Store,
}

impl SqlTenantExporter {
    /// An exporter over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

fn needs_postgres(store: &Store) -> DomainResult<()> {
    if store.is_postgres() {
        Ok(())
    } else {
        Err(DomainError::Conflict(
            "export and import need the PostgreSQL store".into(),
        ))
    }
}

#[async_trait]
impl TenantExporter for SqlTenantExporter {
    async fn open(
        &self,
        scope: &TenantScope,
        entry: AuditEntry,
    ) -> DomainResult<Box<dyn ExportCursor>> {
        needs_postgres(&self.store)?;
        let tx = OrgTx::begin(&self.store, scope).await?;
        tx.audit(scope, entry).await?;
        tx.commit().await?;
        let tx = OrgTx::begin_snapshot(&self.store, scope).await?;
        let org = scope.organization_id().as_uuid();
        let users = user_references(&tx, org).await?;
        Ok(Box::new(PgCursor {
            tx,
            org,
            users,
            tables: EXPORTED_TABLES.iter().copied().collect(),
            open: None,
        }))
    }
}

/// The user ids an organization's rows name, as a subquery: every column of an exported table
/// with a foreign key to `users`, read from the catalogue so that a new one is never missed.
async fn user_references(tx: &OrgTx, org: uuid::Uuid) -> DomainResult<String> {
    let rows = tx
        .query_all_raw(Statement::from_string(
            DatabaseBackend::Postgres,
            "SELECT src.relname::text, a.attname::text FROM pg_constraint c \
             JOIN pg_class src ON src.oid = c.conrelid \
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
             WHERE c.contype = 'f' AND c.confrelid = 'users'::regclass \
             AND array_length(c.conkey, 1) = 1 ORDER BY 1, 2",
        ))
        .await
        .map_err(to_domain)?;
    let mut parts = Vec::new();
    for row in rows {
        let table: String = row.try_get_by_index(0).map_err(to_domain)?;
        let column: String = row.try_get_by_index(1).map_err(to_domain)?;
        if EXPORTED_TABLES.contains(&table.as_str()) {
            parts.push(format!(
                "SELECT \"{column}\" FROM \"{table}\" WHERE organization_id = '{org}'"
            ));
        }
    }
    Ok(parts.join(" UNION "))
}

/// The snapshot and where the reading is.
struct PgCursor {
    tx: OrgTx,
    org: uuid::Uuid,
    users: String,
    tables: VecDeque<&'static str>,
    /// The table whose cursor is open.
    open: Option<&'static str>,
}

impl PgCursor {
    fn select(&self, table: &str) -> String {
        let org = self.org;
        match table {
            "users" => {
                let hidden: String = USER_SECRETS.iter().map(|c| format!(" - '{c}'")).collect();
                let named = if self.users.is_empty() {
                    "SELECT NULL::uuid".to_owned()
                } else {
                    self.users.clone()
                };
                format!(
                    "SELECT to_jsonb(t){hidden} FROM users t WHERE t.id IN ({named}) ORDER BY t.id"
                )
            }
            "organizations" => {
                format!("SELECT to_jsonb(t) FROM organizations t WHERE t.id = '{org}'")
            }
            "audit_events" => format!(
                "SELECT to_jsonb(t) FROM audit_events t WHERE t.organization_id = '{org}' ORDER BY t.seq"
            ),
            // A conversation's replies carry its words as their input: private, like it.
            "agent_runs" => format!(
                "SELECT to_jsonb(t) FROM agent_runs t WHERE t.organization_id = '{org}' \
                 AND t.conversation_id IS NULL"
            ),
            "run_events" | "run_queue" => format!(
                "SELECT to_jsonb(t) FROM \"{table}\" t WHERE t.organization_id = '{org}' \
                 AND t.run_id IN (SELECT r.id FROM agent_runs r WHERE r.organization_id = '{org}' \
                 AND r.conversation_id IS NULL)"
            ),
            _ => format!("SELECT to_jsonb(t) FROM \"{table}\" t WHERE t.organization_id = '{org}'"),
        }
    }
}

#[async_trait]
impl ExportCursor for PgCursor {
    async fn next_rows(&mut self) -> DomainResult<Option<Vec<ExportRow>>> {
        loop {
            let table = match self.open {
                Some(table) => table,
                None => {
                    let Some(table) = self.tables.pop_front() else {
                        return Ok(None);
                    };
                    let declare = format!(
                        "DECLARE export_rows NO SCROLL CURSOR FOR {}",
                        self.select(table)
                    );
                    self.tx
                        .execute_unprepared(&declare)
                        .await
                        .map_err(to_domain)?;
                    self.open = Some(table);
                    table
                }
            };
            let rows = self
                .tx
                .query_all_raw(Statement::from_string(
                    DatabaseBackend::Postgres,
                    format!("FETCH FORWARD {BATCH} FROM export_rows"),
                ))
                .await
                .map_err(to_domain)?;
            if rows.is_empty() {
                self.tx
                    .execute_unprepared("CLOSE export_rows")
                    .await
                    .map_err(to_domain)?;
                self.open = None;
                continue;
            }
            return rows
                .iter()
                .map(|row| {
                    Ok(ExportRow {
                        table: table.to_owned(),
                        row: row.try_get_by_index::<Value>(0).map_err(to_domain)?,
                    })
                })
                .collect::<DomainResult<Vec<_>>>()
                .map(Some);
        }
    }
}

/// What an import loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The organization it loaded into.
    pub organization_id: OrganizationId,
    /// Rows per table.
    pub counts: BTreeMap<String, u64>,
    /// Users already present (same id and email), kept as they were.
    pub users_kept: u64,
}

fn refused(message: impl Into<String>) -> DomainError {
    DomainError::invalid("export", "unloadable", message)
}

/// Loads a checked export (see [`bulkhead_domain::exports::decode`]) into this database, as
/// the organization `into` (its own id when `None`), in one transaction: every row with its
/// ids. Its audit chain is checked link by link first; under a new id it is sealed again link
/// by link (the organization's id is part of every digest), and in either case an
/// `organization.imported` event, naming where it came from, is appended. Users that already
/// exist (same id and email) are kept; new ones get no usable password (they reset it by
/// email). Refused when the organization exists here, or on SQLite.
pub async fn import(
    store: &Store,
    decoded: Decoded,
    into: Option<OrganizationId>,
    unusable_password_hash: &str,
) -> DomainResult<Imported> {
    needs_postgres(store)?;
    let from = decoded.header.organization_id;
    let target = into.unwrap_or(from);
    let mut rows = decoded.rows;
    check_chain(&rows, from)?;
    if target != from {
        rekey(&mut rows, from, target)?;
    }

    let scope = TenantScope::system(target, SystemTask::Import);
    let tx = OrgTx::begin_for_new_tenant(store, &scope).await?;
    let exists = tx
        .query_one_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            "SELECT 1 FROM organizations WHERE id = $1",
            [target.as_uuid().into()],
        ))
        .await
        .map_err(to_domain)?;
    if exists.is_some() {
        return Err(DomainError::Conflict(format!(
            "organization {target} already exists in this database"
        )));
    }
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut users_kept = 0;
    for mut row in rows {
        let table = EXPORTED_TABLES
            .iter()
            .copied()
            .find(|t| *t == row.table)
            .ok_or_else(|| refused(format!("unknown table {}", row.table)))?;
        let sql = if table == "users" {
            if let Value::Object(fields) = &mut row.row {
                fields.insert("password_hash".into(), unusable_password_hash.into());
            }
            // The application role may not write is_superuser (nor may an import): it stays
            // false.
            format!(
                "INSERT INTO users ({USER_COLUMNS}) SELECT {USER_COLUMNS} \
                 FROM jsonb_populate_record(NULL::users, $1::jsonb) ON CONFLICT (id) DO NOTHING"
            )
        } else {
            format!(
                "INSERT INTO \"{table}\" SELECT * FROM jsonb_populate_record(NULL::\"{table}\", $1::jsonb)"
            )
        };
        let inserted = tx
            .execute_raw(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                sql,
                [row.row.clone().into()],
            ))
            .await
            .map_err(|e| refused(format!("a {table} row cannot be loaded: {e}")))?;
        if table == "users" && inserted.rows_affected() == 0 {
            let same = tx
                .query_one_raw(Statement::from_sql_and_values(
                    DatabaseBackend::Postgres,
                    "SELECT 1 FROM users WHERE id = ($1::jsonb->>'id')::uuid AND email = $1::jsonb->>'email'",
                    [row.row.clone().into()],
                ))
                .await
                .map_err(to_domain)?;
            if same.is_none() {
                return Err(refused(format!(
                    "user {} exists here with another email",
                    row.row["id"]
                )));
            }
            users_kept += 1;
        }
        *counts.entry(table.to_owned()).or_default() += 1;
    }
    let details = serde_json::json!({
        "from_organization_id": from,
        "schema": decoded.header.schema,
        "exported_at": decoded.header.exported_at,
        "rows": counts,
    });
    tx.audit(
        &scope,
        AuditEntry::event(
            "organization.imported",
            "organization",
            Some(target.to_string()),
            details,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Imported {
        organization_id: target,
        counts,
        users_kept,
    })
}

/// An exported audit row as the event it stores. `changes` is kept as JSON text (see
/// `crate::audit`): read like the trail reads it.
fn event_of(row: &Value) -> DomainResult<AuditEvent> {
    let mut row = row.clone();
    if let Some(Value::String(text)) = row.get("changes") {
        let parsed = serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()));
        row["changes"] = parsed;
    }
    serde_json::from_value::<AuditEvent>(row)
        .map_err(|e| refused(format!("an audit event cannot be read: {e}")))
}

/// The audit events of an export, in order, as the chain they claim to be.
fn audit_events(rows: &[ExportRow]) -> DomainResult<Vec<AuditEvent>> {
    rows.iter()
        .filter(|row| row.table == "audit_events")
        .map(|row| event_of(&row.row))
        .collect()
}

/// Every link of the exported chain: in order, linked, each hashing to its digest, all of
/// `org`, and the head pointing at the last.
fn check_chain(rows: &[ExportRow], org: OrganizationId) -> DomainResult<()> {
    let mut prev = String::new();
    let events = audit_events(rows)?;
    for (n, event) in events.iter().enumerate() {
        let intact = event.seq == n as i64 + 1
            && event.prev_hash == prev
            && event.hash == event.compute_hash()
            && event.organization_id == org;
        if !intact {
            return Err(refused(format!(
                "the audit chain is broken at event {}",
                event.seq
            )));
        }
        prev = event.hash.clone();
    }
    let head = rows.iter().find(|row| row.table == "audit_heads");
    let head_intact = match head {
        Some(head) => {
            head.row["last_seq"] == events.len() as i64 && head.row["last_hash"] == prev.as_str()
        }
        None => events.is_empty(),
    };
    if !head_intact {
        return Err(refused("the audit chain's head does not match its events"));
    }
    Ok(())
}

/// Moves every row from organization `from` to `to`, sealing the audit chain again.
fn rekey(rows: &mut [ExportRow], from: OrganizationId, to: OrganizationId) -> DomainResult<()> {
    let (from, to) = (from.to_string(), to.to_string());
    for row in rows.iter_mut() {
        let key = if row.table == "organizations" {
            "id"
        } else {
            "organization_id"
        };
        if let Some(field) = row.row.get_mut(key)
            && field.as_str() == Some(from.as_str())
        {
            *field = Value::String(to.clone());
        }
    }
    let mut prev = String::new();
    for row in rows.iter_mut().filter(|row| row.table == "audit_events") {
        let mut event = event_of(&row.row)?;
        event.prev_hash = prev;
        event.hash = event.compute_hash();
        row.row["prev_hash"] = Value::String(event.prev_hash.clone());
        row.row["hash"] = Value::String(event.hash.clone());
        prev = event.hash;
    }
    if let Some(head) = rows.iter_mut().find(|row| row.table == "audit_heads") {
        head.row["last_hash"] = Value::String(prev);
    }
    Ok(())
}
