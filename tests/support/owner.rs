//! What tests do behind the server's back, as the database's owner: SQL the API would refuse,
//! the outbox's queued emails, and everything stored in a table, to look for what must not be
//! there.

use super::*;
use crate::database::connect_admin;

impl TestApp {
    /// A URL that sees every tenant: the owner's on PostgreSQL, the file on SQLite. For
    /// tampering behind the server's back and for maintenance commands.
    pub fn owner_url(&self) -> String {
        match &self.database {
            Some(database) => database.owner_url.clone(),
            None => self.database_url.clone(),
        }
    }

    /// `id` as an SQL literal of this store (SQLite keeps UUIDs as 16-byte blobs).
    pub fn uuid_literal(&self, id: &str) -> String {
        match self.store {
            Store::Postgres => format!("'{id}'::uuid"),
            Store::Sqlite => format!("X'{}'", id.replace('-', "")),
        }
    }

    /// Makes `member` a member of `owner`'s organization with `role`, behind the server's back
    /// (invitations are not built yet).
    pub async fn add_member(&self, owner: &Tenant, member: &Tenant, role: &str) {
        self.as_owner(&format!(
            "INSERT INTO memberships (organization_id, user_id, role, created_at) \
             VALUES ({}, {}, '{role}', CURRENT_TIMESTAMP)",
            self.uuid_literal(&owner.organization_id),
            self.uuid_literal(&member.user_id)
        ))
        .await;
    }

    /// Runs SQL as the owner, behind the server's back.
    pub async fn as_owner(&self, sql: &str) {
        let conn = connect_admin(&self.owner_url()).await;
        conn.execute_unprepared(sql).await.unwrap();
        conn.close().await.unwrap();
    }

    /// The emails queued for `to`, oldest first, as `{subject, body, sent}`: what the log
    /// mailer of a test server "sent".
    pub async fn emails_to(&self, to: &str) -> Vec<Value> {
        let conn = connect_admin(&self.owner_url()).await;
        let backend = conn.get_database_backend();
        let sql = match backend {
            sea_orm::DatabaseBackend::Postgres => {
                "SELECT subject, body, sent_at IS NOT NULL AS sent FROM outbox_emails \
                 WHERE to_address = $1 ORDER BY created_at, id"
            }
            _ => {
                "SELECT subject, body, sent_at IS NOT NULL AS sent FROM outbox_emails \
                 WHERE to_address = ? ORDER BY created_at, id"
            }
        };
        let rows = conn
            .query_all_raw(sea_orm::Statement::from_sql_and_values(
                backend,
                sql,
                [to.into()],
            ))
            .await
            .unwrap();
        conn.close().await.unwrap();
        // Bodies are sealed at rest under the test server's key; a delivered body is replaced
        // by a note in plain text.
        let keyring = test_keyring();
        rows.iter()
            .map(|row| {
                let stored = row.try_get::<String>("", "body").unwrap();
                let sent = row.try_get::<bool>("", "sent").unwrap();
                let body = if sent {
                    stored
                } else {
                    keyring
                        .open(bulkhead_infra::outbox::BODY_PLACE, &stored)
                        .unwrap_or_else(|e| panic!("a queued body does not open: {e}"))
                };
                json!({
                    "subject": row.try_get::<String>("", "subject").unwrap(),
                    "body": body,
                    "sent": sent,
                })
            })
            .collect()
    }

    /// The token with `prefix` in the newest email to `to` whose subject contains `subject`.
    /// Requests for an existing account queue their email just after answering, so this waits
    /// for it a moment.
    pub async fn token_from_email(&self, to: &str, subject: &str, prefix: &str) -> String {
        let about = |emails: &[Value]| {
            emails
                .iter()
                .rev()
                .find(|e| e["subject"].as_str().unwrap().contains(subject))
                .cloned()
        };
        eventually(|| async {
            match about(&self.emails_to(to).await) {
                Some(_) => Ok(()),
                None => Err(format!("no email about {subject:?} to {to}")),
            }
        })
        .await;
        let email = about(&self.emails_to(to).await).unwrap();
        let body = email["body"].as_str().unwrap();
        let start = body.find(prefix).unwrap();
        body[start..start + prefix.len() + 64].to_owned()
    }

    /// Everything stored in `tables`, as text, to search for values that must not be there.
    /// On PostgreSQL each row cast to text; on SQLite the raw database files, which also holds
    /// what was deleted but not yet overwritten.
    pub async fn stored_text(&self, tables: &[&str]) -> String {
        match &self.database {
            Some(database) => {
                let conn = connect_admin(&database.owner_url).await;
                let mut text = String::new();
                for table in tables {
                    let rows = conn
                        .query_all_raw(sea_orm::Statement::from_string(
                            sea_orm::DatabaseBackend::Postgres,
                            format!("SELECT t::text AS row FROM {table} t"),
                        ))
                        .await
                        .unwrap();
                    for row in rows {
                        text.push_str(&row.try_get::<String>("", "row").unwrap());
                        text.push('\n');
                    }
                }
                conn.close().await.unwrap();
                text
            }
            None => {
                let dir = self.sqlite_dir.as_ref().unwrap().path();
                let mut text = String::new();
                for entry in std::fs::read_dir(dir).unwrap() {
                    let bytes = std::fs::read(entry.unwrap().path()).unwrap();
                    text.push_str(&String::from_utf8_lossy(&bytes));
                }
                text
            }
        }
    }
}
