//! The user entity and its value types.

use std::fmt;

use chrono::{DateTime, Utc};
use unicode_normalization::UnicodeNormalization;
use unicode_security::MixedScript;
use validator::ValidateEmail;

use crate::error::{DomainError, DomainResult};
use crate::ids::UserId;
use crate::text::bounded;

/// A normalized (trimmed, lower-cased) email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// The longest address accepted (RFC 5321's path limit).
    pub const MAX_LEN: usize = 254;

    /// Validates an email address and normalizes it, so that one mailbox is one account:
    /// Unicode NFKC, the local part lower-cased (`+tags` stay, as distinct addresses), the
    /// domain mapped by IDNA (UTS 46: lower-cased, and `xn--` labels read as the Unicode they
    /// stand for). A domain label mixing scripts (a Cyrillic `а` in `exаmple.com`) is refused
    /// as confusable. Surrounding white space is an error, as the OpenAPI document's
    /// `format: email` says, not something to trim.
    pub fn parse(raw: &str) -> DomainResult<Self> {
        let invalid =
            || DomainError::invalid("email", "format", "email must be a valid email address");
        let normalized: String = raw.nfkc().collect();
        let (local, domain) = normalized.rsplit_once('@').ok_or_else(invalid)?;
        let ascii = idna::domain_to_ascii(domain).map_err(|_| invalid())?;
        let (domain, mapped) = idna::domain_to_unicode(&ascii);
        mapped.map_err(|_| invalid())?;
        if domain.split('.').any(|label| !label.is_single_script()) {
            return Err(DomainError::invalid(
                "email",
                "confusable",
                "the email's domain mixes scripts (for example a Cyrillic letter among Latin \
                 ones); type it in one script",
            ));
        }
        let value = format!("{}@{domain}", local.to_lowercase());
        if value.len() > Self::MAX_LEN || !value.validate_email() {
            return Err(invalid());
        }
        Ok(Self(value))
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's display name, 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    /// The longest name accepted, in characters.
    pub const MAX_CHARS: usize = 200;

    /// Validates a display name.
    pub fn parse(raw: &str) -> DomainResult<Self> {
        bounded("name", raw, 1, Self::MAX_CHARS).map(Self)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password in plain text, checked against the password rules. Never printed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// The shortest password accepted, in characters.
    pub const MIN_CHARS: usize = 8;
    /// The longest password accepted, in characters.
    pub const MAX_CHARS: usize = 64;
    /// The longest password accepted, in UTF-8 bytes. bcrypt reads at most 72 bytes and the
    /// non-truncating API rejects 72 or more, so 71 is the most that can be hashed whole.
    pub const MAX_BYTES: usize = 71;

    /// Checks a new password. `field` names the input in errors (`password`, `new_password`).
    /// Longer passwords are rejected, never truncated.
    pub fn parse(field: &str, raw: &str) -> DomainResult<Self> {
        let chars = raw.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars) {
            return Err(DomainError::invalid(
                field,
                "length",
                format!(
                    "{field} must be between {} and {} characters",
                    Self::MIN_CHARS,
                    Self::MAX_CHARS
                ),
            ));
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(DomainError::invalid(
                field,
                "bytes",
                format!("{field} must be at most {} bytes in UTF-8", Self::MAX_BYTES),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The plain text, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Validates a new password for the account with `email`: the rules of [`Password::parse`],
    /// and not the email itself (ignoring case and surrounding spaces).
    pub fn parse_new(field: &str, raw: &str, email: &Email) -> DomainResult<Self> {
        let password = Self::parse(field, raw)?;
        if raw.trim().eq_ignore_ascii_case(email.as_str()) {
            return Err(DomainError::invalid(
                field,
                "equals_email",
                format!("{field} must not be the email"),
            ));
        }
        Ok(password)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A stored password hash (bcrypt's modular crypt format). Never sent to clients.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a hash produced by a hasher or read from storage.
    pub fn new(hash: String) -> Self {
        Self(hash)
    }

    /// The hash text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A user account as shown to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The account's id.
    pub id: UserId,
    /// The normalized email, unique across all accounts.
    pub email: Email,
    /// The display name.
    pub name: UserName,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When the user proved they read mail at `email`, if they have.
    pub email_verified_at: Option<DateTime<Utc>>,
}

/// A user with the password hash, as needed to check a login.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    /// The account.
    pub user: User,
    /// Its password hash.
    pub password_hash: PasswordHash,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalized_and_checked() {
        assert_eq!(
            Email::parse("Ada@Example.COM").ok().map(|e| e.0),
            Some("ada@example.com".to_owned())
        );
        assert!(Email::parse(" ada@example.com").is_err());
        assert!(Email::parse("ada@example.com\n").is_err());
        assert!(Email::parse("not-an-email").is_err());
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn one_mailbox_is_one_address_and_confusable_domains_are_refused() {
        let parsed = |raw: &str| Email::parse(raw).map(|e| e.0);
        // Fullwidth letters (NFKC) and an upper-case or punycode domain (IDNA) are the same
        // mailbox as their plain spelling.
        assert_eq!(
            parsed("ｕｓｅｒ@ＥＸＡＭＰＬＥ.com").ok().as_deref(),
            Some("user@example.com")
        );
        assert_eq!(
            parsed("user@BÜCHER.de").ok().as_deref(),
            Some("user@bücher.de")
        );
        assert_eq!(
            parsed("user@xn--bcher-kva.de").ok().as_deref(),
            Some("user@bücher.de")
        );
        // Sub-addresses stay distinct.
        assert_eq!(
            parsed("user+billing@example.com").ok().as_deref(),
            Some("user+billing@example.com")
        );
        // A Cyrillic а among Latin letters.
        match Email::parse("user@ex\u{0430}mple.com") {
            Err(DomainError::Validation(errors)) => assert_eq!(errors[0].code, "confusable"),
            other => panic!("expected a confusable-domain error, got {other:?}"),
        }
        // Its punycode spelling is the same domain, and as confusable.
        let punycode = idna::domain_to_ascii("ex\u{0430}mple.com").expect("valid IDNA");
        assert!(Email::parse(&format!("user@{punycode}")).is_err());
        // A domain wholly in one script other than Latin is a domain like any other.
        assert!(Email::parse("user@пример.рф").is_ok());
        assert!(Email::parse("user@exa mple.com").is_err());
    }

    #[test]
    fn password_limit_counts_utf8_bytes_not_characters() {
        assert!(Password::parse("password", "short").is_err());
        assert!(Password::parse("password", &"a".repeat(64)).is_ok());
        assert!(Password::parse("password", &"a".repeat(65)).is_err());
        // 36 characters but 72 bytes: within the character limit, beyond bcrypt's.
        let err = Password::parse("password", &"é".repeat(36)).err();
        assert!(
            matches!(err, Some(DomainError::Validation(ref e)) if e[0].code == "bytes"),
            "{err:?}"
        );
        assert!(Password::parse("password", &"é".repeat(35)).is_ok());
    }

    #[test]
    fn secrets_are_not_printed() {
        let password = Password::parse("password", "correct horse").expect("valid");
        assert!(!format!("{password:?}").contains("horse"));
        assert!(!format!("{:?}", PasswordHash::new("$2b$secret".into())).contains("secret"));
    }
}
