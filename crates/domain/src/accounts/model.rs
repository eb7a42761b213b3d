//! Single-use account tokens and the emails that carry them.

use chrono::{DateTime, Duration, Utc};

use crate::ids::UserId;
use crate::outbox::OutgoingEmail;
use crate::secret::{Secret, SecretDigest};
use crate::users::User;

/// What a token lets its holder do once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// Set a new password without the old one (`POST /auth/reset-password`).
    PasswordReset,
    /// Prove that the user reads mail at the account's address (`POST /auth/verify-email`).
    EmailVerification,
}

impl TokenPurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::EmailVerification => "email_verification",
        }
    }

    /// The prefix of the secret, so that a token of one kind is never accepted as another.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::PasswordReset => "bhp_",
            Self::EmailVerification => "bhv_",
        }
    }

    /// How long a token stays usable.
    pub fn lifetime(self) -> Duration {
        match self {
            Self::PasswordReset => Duration::minutes(30),
            Self::EmailVerification => Duration::days(2),
        }
    }
}

/// A token to store (as a digest only) for one user and purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountToken {
    /// Whose.
    pub user_id: UserId,
    /// For what.
    pub purpose: TokenPurpose,
    /// SHA-256 of the secret.
    pub digest: SecretDigest,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// How account emails are written, and whether unverified users may sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSettings {
    /// Where the client application lives; links in emails point there.
    pub public_url: String,
    /// Refuse logins of users who have not verified their email.
    pub require_verified_email: bool,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            require_verified_email: false,
        }
    }
}

/// A fresh token for `user` and the email that carries its secret.
pub fn token_email(
    user: &User,
    purpose: TokenPurpose,
    settings: &AccountSettings,
) -> (AccountToken, OutgoingEmail) {
    let secret = Secret::generate(purpose.prefix());
    let now = crate::now();
    let token = AccountToken {
        user_id: user.id,
        purpose,
        digest: secret.digest(),
        created_at: now,
        expires_at: now + purpose.lifetime(),
    };
    let base = settings.public_url.trim_end_matches('/');
    let (subject, body) = match purpose {
        TokenPurpose::PasswordReset => (
            "Reset your Bulkhead password",
            format!(
                "Hello {},\n\nSomeone asked to reset the password of this account. If it was you, \
                 open this link within 30 minutes:\n\n{base}/reset-password?token={}\n\n\
                 Or send the token to POST /api/v1/auth/reset-password:\n\n{}\n\n\
                 If it was not you, ignore this email; your password is unchanged.\n",
                user.name.as_str(),
                secret.expose(),
                secret.expose(),
            ),
        ),
        TokenPurpose::EmailVerification => (
            "Confirm your email for Bulkhead",
            format!(
                "Hello {},\n\nConfirm that this is your address by opening this link within \
                 two days:\n\n{base}/verify-email?token={}\n\n\
                 Or send the token to POST /api/v1/auth/verify-email:\n\n{}\n",
                user.name.as_str(),
                secret.expose(),
                secret.expose(),
            ),
        ),
    };
    let email = OutgoingEmail {
        to: user.email.clone(),
        subject: subject.to_owned(),
        body,
    };
    (token, email)
}
