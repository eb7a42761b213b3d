//! Delivering the outbox.

use std::sync::Arc;

use super::port::{Mailer, OutboxRepository};
use crate::error::DomainResult;

/// Attempts after which an email is left in the outbox for an operator to look at.
pub const MAX_ATTEMPTS: i32 = 10;

/// Hands queued emails to the mailer, at least once each.
#[derive(Clone)]
pub struct OutboxService {
    outbox: Arc<dyn OutboxRepository>,
    mailer: Arc<dyn Mailer>,
}

impl OutboxService {
    /// Wires the service.
    pub fn new(outbox: Arc<dyn OutboxRepository>, mailer: Arc<dyn Mailer>) -> Self {
        Self { outbox, mailer }
    }

    /// Sends up to `limit` queued emails. A failure is recorded on its email, which is retried
    /// on a later call, and does not stop the others. Answers how many were sent.
    pub async fn deliver_pending(&self, limit: u64) -> DomainResult<usize> {
        let mut sent = 0;
        for queued in self.outbox.pending(limit, MAX_ATTEMPTS).await? {
            match self.mailer.send(&queued.email).await {
                Ok(()) => {
                    self.outbox.mark_sent(queued.id).await?;
                    sent += 1;
                }
                Err(err) => self.outbox.mark_failed(queued.id, &err.to_string()).await?,
            }
        }
        Ok(sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DomainError;
    use crate::outbox::port::{MockMailer, MockOutboxRepository};
    use crate::outbox::{OutgoingEmail, QueuedEmail};
    use crate::users::Email;

    fn queued(to: &str) -> QueuedEmail {
        QueuedEmail {
            id: uuid::Uuid::now_v7(),
            email: OutgoingEmail {
                to: Email::parse(to).expect("valid"),
                subject: "Hello".into(),
                body: "Hi".into(),
            },
            created_at: crate::now(),
            attempts: 0,
        }
    }

    #[tokio::test]
    async fn a_failed_send_is_recorded_and_does_not_stop_the_rest() {
        let (bad, good) = (queued("bad@example.com"), queued("good@example.com"));
        let (bad_id, good_id) = (bad.id, good.id);
        let mut outbox = MockOutboxRepository::new();
        outbox
            .expect_pending()
            .returning(move |_, _| Ok(vec![bad.clone(), good.clone()]));
        outbox
            .expect_mark_failed()
            .withf(move |id, _| *id == bad_id)
            .times(1)
            .returning(|_, _| Ok(()));
        outbox
            .expect_mark_sent()
            .withf(move |id| *id == good_id)
            .times(1)
            .returning(|_| Ok(()));
        let mut mailer = MockMailer::new();
        mailer.expect_send().returning(|email| {
            if email.to.as_str() == "bad@example.com" {
                Err(DomainError::Unavailable("smtp down".into()))
            } else {
                Ok(())
            }
        });
        let sent = OutboxService::new(Arc::new(outbox), Arc::new(mailer))
            .deliver_pending(10)
            .await
            .expect("delivered");
        assert_eq!(sent, 1);
    }
}
