//! The email outbox in SQL, and the mail transports that deliver it.

use async_trait::async_trait;
use bulkhead_domain::outbox::{Mailer, OutboxRepository, OutgoingEmail, QueuedEmail};
use bulkhead_domain::users::Email;
use bulkhead_domain::{DomainError, DomainResult};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

use crate::error::{corrupt, to_domain};
use crate::sealing::Keyring;
use crate::store::Store;

use crate::entities::outbox_emails as entity;

use entity::{Column, Entity};

/// What a delivered email's body is replaced with.
const DELIVERED_BODY: &str = "(delivered; the body is not kept)";

/// Where email bodies are kept, bound into their sealing.
pub const BODY_PLACE: &str = "outbox_emails.body";

/// Queues `email` inside the caller's transaction, so it is sent if and only if that commits.
/// Its body, which may carry a one-time token, is kept sealed under `keyring` until delivery:
/// the database never holds a usable token.
pub(crate) async fn enqueue(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    email: &OutgoingEmail,
) -> DomainResult<()> {
    entity::ActiveModel {
        id: Set(Uuid::now_v7()),
        to_address: Set(email.to.as_str().to_owned()),
        subject: Set(email.subject.clone()),
        body: Set(keyring.seal(BODY_PLACE, &email.body)),
        created_at: Set(bulkhead_domain::now()),
        sent_at: Set(None),
        attempts: Set(0),
        last_error: Set(None),
    }
    .insert(db)
    .await
    .map_err(to_domain)
    .map(|_| ())
}

/// [`OutboxRepository`] on the shared store.
#[derive(Debug, Clone)]
pub struct SqlOutboxRepository {
    store: Store,
}

impl SqlOutboxRepository {
    /// Builds the repository.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Counts an attempt on one email and records its outcome, in one statement.
    async fn record_attempt(&self, id: Uuid, outcome: &[(Column, Expr)]) -> DomainResult<()> {
        let mut update = Entity::update_many();
        for (column, value) in outcome {
            update = update.col_expr(*column, value.clone());
        }
        update
            .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
            .filter(Column::Id.eq(id))
            .exec(self.store.connection())
            .await
            .map_err(to_domain)
            .map(|_| ())
    }
}

#[async_trait]
impl OutboxRepository for SqlOutboxRepository {
    async fn pending(&self, limit: u64, max_attempts: i32) -> DomainResult<Vec<QueuedEmail>> {
        let rows = Entity::find()
            .filter(Column::SentAt.is_null())
            .filter(Column::Attempts.lt(max_attempts))
            .order_by_asc(Column::CreatedAt)
            .limit(limit)
            .all(self.store.connection())
            .await
            .map_err(to_domain)?;
        let mut queued = Vec::with_capacity(rows.len());
        for row in rows {
            let body = match self.store.keyring().open(BODY_PLACE, &row.body) {
                Ok(body) => body,
                Err(err) => {
                    // Sealed under a key this server lacks (rotated away too soon): counted
                    // as a failed attempt, visible to an operator, and not in the way of
                    // the rest.
                    tracing::error!(email = %row.id, error = %err, "an outbox email does not open");
                    self.mark_failed(row.id, &err.to_string()).await?;
                    continue;
                }
            };
            queued.push(QueuedEmail {
                id: row.id,
                email: OutgoingEmail {
                    to: Email::parse(&row.to_address).map_err(corrupt("outbox address"))?,
                    subject: row.subject,
                    body,
                },
                created_at: row.created_at,
                attempts: row.attempts,
            });
        }
        Ok(queued)
    }

    async fn mark_sent(&self, id: Uuid) -> DomainResult<()> {
        // A delivered body is not needed any more, and it may carry a one-time token: only
        // the digest of a token should stay in the database. Dropped in the statement that
        // marks the email sent, so no reader sees one without the other.
        self.record_attempt(
            id,
            &[
                (Column::Body, Expr::value(DELIVERED_BODY)),
                (Column::SentAt, Expr::value(bulkhead_domain::now())),
            ],
        )
        .await
    }

    async fn mark_failed(&self, id: Uuid, error: &str) -> DomainResult<()> {
        self.record_attempt(id, &[(Column::LastError, Expr::value(error.to_owned()))])
            .await
    }
}

/// The default [`Mailer`]: writes each email to the log instead of sending it. For development
/// and tests; the server warns at start that mail is not being delivered.
#[derive(Debug, Clone, Default)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, email: &OutgoingEmail) -> DomainResult<()> {
        tracing::info!(
            to = email.to.as_str(),
            subject = email.subject.as_str(),
            body = email.body.as_str(),
            "email not sent (no SMTP configured); its text follows in this log line"
        );
        Ok(())
    }
}

/// Where and how to reach an SMTP server.
#[derive(Clone)]
pub struct SmtpSettings {
    /// `smtps://user:pass@host:465`, `smtp://user:pass@host:587?tls=required`, ... (lettre's
    /// URL format).
    pub url: String,
    /// The `From` address.
    pub from: String,
}

/// [`Mailer`] over SMTP with lettre.
pub struct SmtpMailer {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl SmtpMailer {
    /// Builds the transport; connects lazily, at the first email.
    pub fn new(settings: &SmtpSettings) -> Result<Self, crate::InfraError> {
        let transport =
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(&settings.url)
                .map_err(|e| crate::InfraError::Config(format!("invalid SMTP URL: {e}")))?
                .build();
        let from = settings
            .from
            .parse()
            .map_err(|e| crate::InfraError::Config(format!("invalid From address: {e}")))?;
        Ok(Self { transport, from })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &OutgoingEmail) -> DomainResult<()> {
        use lettre::AsyncTransport;
        let to = email
            .to
            .as_str()
            .parse()
            .map_err(|e| DomainError::Internal(format!("unusable recipient: {e}")))?;
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(email.body.clone())
            .map_err(|e| DomainError::Internal(format!("cannot build email: {e}")))?;
        self.transport
            .send(message)
            .await
            .map_err(|e| DomainError::Unavailable(format!("SMTP: {e}")))
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    use super::*;

    /// A one-message SMTP server speaking just enough of RFC 5321 for lettre; answers the
    /// transcript it received.
    async fn fake_smtp(listener: TcpListener) -> String {
        let (socket, _) = listener.accept().await.unwrap();
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut transcript = String::new();
        write.write_all(b"220 fake ESMTP\r\n").await.unwrap();
        let mut in_data = false;
        while let Some(line) = lines.next_line().await.unwrap() {
            transcript.push_str(&line);
            transcript.push('\n');
            let reply: &[u8] = if in_data {
                if line != "." {
                    continue;
                }
                in_data = false;
                b"250 queued\r\n"
            } else if line.starts_with("EHLO") {
                b"250 fake\r\n"
            } else if line == "DATA" {
                in_data = true;
                b"354 go ahead\r\n"
            } else if line == "QUIT" {
                write.write_all(b"221 bye\r\n").await.unwrap();
                break;
            } else {
                b"250 ok\r\n"
            };
            write.write_all(reply).await.unwrap();
        }
        transcript
    }

    #[tokio::test]
    async fn the_smtp_mailer_delivers_to_an_smtp_server() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(fake_smtp(listener));
        let mailer = SmtpMailer::new(&SmtpSettings {
            url: format!("smtp://127.0.0.1:{port}"),
            from: "Bulkhead <no-reply@example.com>".into(),
        })
        .unwrap();
        let email = OutgoingEmail {
            to: Email::parse("ada@example.com").unwrap(),
            subject: "Reset your Bulkhead password".into(),
            body: "the link".into(),
        };
        mailer.send(&email).await.unwrap();
        drop(mailer);
        let transcript = server.await.unwrap();
        assert!(
            transcript.contains("MAIL FROM:<no-reply@example.com>"),
            "{transcript}"
        );
        assert!(
            transcript.contains("RCPT TO:<ada@example.com>"),
            "{transcript}"
        );
        assert!(
            transcript.contains("Subject: Reset your Bulkhead password"),
            "{transcript}"
        );
        assert!(transcript.contains("the link"), "{transcript}");
    }

    #[test]
    fn unusable_smtp_settings_are_refused_at_start() {
        let bad_url = SmtpMailer::new(&SmtpSettings {
            url: "not a url".into(),
            from: "a@example.com".into(),
        });
        assert!(bad_url.is_err());
        let bad_from = SmtpMailer::new(&SmtpSettings {
            url: "smtp://127.0.0.1:2525".into(),
            from: "nobody".into(),
        });
        assert!(bad_from.is_err());
    }
}
