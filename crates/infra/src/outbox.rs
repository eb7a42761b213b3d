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
use crate::store::Store;

pub(crate) mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox_emails")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub to_address: String,
        pub subject: String,
        pub body: String,
        pub created_at: DateTimeUtc,
        pub sent_at: Option<DateTimeUtc>,
        pub attempts: i32,
        pub last_error: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

use entity::{Column, Entity};

/// What a delivered email's body is replaced with.
const DELIVERED_BODY: &str = "(delivered; the body is not kept)";

/// Queues `email` inside the caller's transaction, so it is sent if and only if that commits.
pub(crate) async fn enqueue(db: &impl ConnectionTrait, email: &OutgoingEmail) -> DomainResult<()> {
    entity::ActiveModel {
        id: Set(Uuid::now_v7()),
        to_address: Set(email.to.as_str().to_owned()),
        subject: Set(email.subject.clone()),
        body: Set(email.body.clone()),
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

    /// Counts an attempt on one email and records its outcome in `column`.
    async fn record_attempt(&self, id: Uuid, column: Column, outcome: Expr) -> DomainResult<()> {
        Entity::update_many()
            .col_expr(column, outcome)
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
        Entity::find()
            .filter(Column::SentAt.is_null())
            .filter(Column::Attempts.lt(max_attempts))
            .order_by_asc(Column::CreatedAt)
            .limit(limit)
            .all(self.store.connection())
            .await
            .map_err(to_domain)?
            .into_iter()
            .map(|row| {
                Ok(QueuedEmail {
                    id: row.id,
                    email: OutgoingEmail {
                        to: Email::parse(&row.to_address).map_err(corrupt("outbox address"))?,
                        subject: row.subject,
                        body: row.body,
                    },
                    created_at: row.created_at,
                    attempts: row.attempts,
                })
            })
            .collect()
    }

    async fn mark_sent(&self, id: Uuid) -> DomainResult<()> {
        // A delivered body is not needed any more, and it may carry a one-time token: only
        // the digest of a token should stay in the database.
        Entity::update_many()
            .col_expr(Column::Body, Expr::value(DELIVERED_BODY))
            .filter(Column::Id.eq(id))
            .exec(self.store.connection())
            .await
            .map_err(to_domain)?;
        self.record_attempt(id, Column::SentAt, Expr::value(bulkhead_domain::now()))
            .await
    }

    async fn mark_failed(&self, id: Uuid, error: &str) -> DomainResult<()> {
        self.record_attempt(id, Column::LastError, Expr::value(error.to_owned()))
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
