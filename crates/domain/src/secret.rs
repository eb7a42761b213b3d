//! Opaque bearer secrets (refresh tokens and, later, reset tokens, invitations and API keys):
//! 256 random bits shown to the client once, stored only as a SHA-256 digest.
//!
//! SHA-256 rather than bcrypt: the secrets are high-entropy, so a slow hash adds nothing, and
//! bcrypt would silently truncate them.

use std::fmt;

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Random bytes in a secret.
const SECRET_BYTES: usize = 32;

/// A secret in the form the client holds: a short prefix naming its kind, then 64 hex digits.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// The SHA-256 of a [`Secret`], in hex: the only form that is stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretDigest(String);

impl Secret {
    /// A fresh secret of the kind named by `prefix` (for example `bhr_` for refresh tokens).
    pub fn generate(prefix: &str) -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!("{prefix}{}", hex::encode(bytes)))
    }

    /// Accepts what a client sent, if it has the shape of a secret of this kind. Anything else
    /// is `None`, so malformed input never reaches storage.
    pub fn parse(prefix: &str, presented: &str) -> Option<Self> {
        let body = presented.strip_prefix(prefix)?;
        (body.len() == SECRET_BYTES * 2
            && body
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(presented.to_owned()))
    }

    /// The digest that is stored and looked up.
    pub fn digest(&self) -> SecretDigest {
        SecretDigest(hex::encode(Sha256::digest(self.0.as_bytes())))
    }

    /// The secret itself, for the one response that hands it to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl SecretDigest {
    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_parse_back_and_differ() {
        let a = Secret::generate("bhr_");
        let b = Secret::generate("bhr_");
        assert_ne!(a, b);
        assert_eq!(Secret::parse("bhr_", a.expose()), Some(a.clone()));
        assert_eq!(a.expose().len(), 4 + 64);
    }

    #[test]
    fn foreign_or_malformed_secrets_are_refused() {
        let a = Secret::generate("bhr_");
        assert_eq!(Secret::parse("bhk_", a.expose()), None);
        assert_eq!(Secret::parse("bhr_", "bhr_short"), None);
        let upper = a.expose().to_uppercase().replace("BHR_", "bhr_");
        assert_eq!(Secret::parse("bhr_", &upper), None);
    }

    #[test]
    fn the_digest_is_sha256_hex_and_never_the_secret() {
        let a = Secret::generate("bhr_");
        let digest = a.digest();
        assert_eq!(digest.as_str().len(), 64);
        assert!(!digest.as_str().contains(&a.expose()[4..]));
        assert_eq!(digest, a.digest());
        assert!(!format!("{a:?}").contains(&a.expose()[4..]));
    }
}
