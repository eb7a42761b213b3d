//! Secrets at rest: AES-256-GCM under keys from configuration, each with an id, so that keys
//! rotate (a new key seals, earlier ones still open what they sealed).
//!
//! A sealed value is `bhs1:<key id>:<nonce, hex>:<ciphertext and tag, hex>`. The place a value
//! is kept (`outbox_emails.body`, say) is bound in as associated data, so a sealed value copied
//! to another column does not open there.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use bulkhead_domain::sealed::SealedSecret;
use bulkhead_domain::{DomainError, DomainResult};
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;

const VERSION: &str = "bhs1";
const NONCE_BYTES: usize = 12;
/// The id of a key derived from the JWT signing secret, when no secrets key is configured.
pub const DERIVED_KEY_ID: &str = "jwt";

/// One key: its id and 32 bytes.
#[derive(Clone)]
pub struct SecretKey {
    id: String,
    key: [u8; 32],
}

impl std::fmt::Debug for SecretKey {
    // Never the key itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey").field("id", &self.id).finish()
    }
}

impl SecretKey {
    /// Reads `<id>:<64 hex digits>`, as `BULKHEAD_SECRETS_KEY` holds it. The id is 1 to 32
    /// letters, digits, `-` or `_`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (id, hex_key) = raw
            .split_once(':')
            .ok_or("a secrets key is `<id>:<64 hex digits>`")?;
        let id_ok = (1..=32).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok || id == DERIVED_KEY_ID {
            return Err(format!(
                "a secrets key's id is 1 to 32 letters, digits, - or _ (and not {DERIVED_KEY_ID:?})"
            ));
        }
        let bytes = hex::decode(hex_key.trim())
            .map_err(|_| "a secrets key is 64 hex digits (32 random bytes)".to_owned())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "a secrets key is 64 hex digits (32 random bytes)".to_owned())?;
        Ok(Self {
            id: id.to_owned(),
            key,
        })
    }

    /// A key derived from the JWT signing secret (HKDF-SHA256), for deployments that have not
    /// configured a secrets key: whoever can read it could forge tokens anyway.
    pub fn derived_from(jwt_secret: &[u8]) -> Self {
        let mut key = [0u8; 32];
        // HKDF-SHA256 expands to up to 255 blocks; 32 bytes always fit.
        let _ = Hkdf::<Sha256>::new(Some(b"bulkhead secrets at rest"), jwt_secret)
            .expand(b"bulkhead-secrets-v1", &mut key);
        Self {
            id: DERIVED_KEY_ID.to_owned(),
            key,
        }
    }

    /// The key's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&Key::<Aes256Gcm>::from(self.key))
    }
}

/// The keys that seal and open secrets at rest: the current one seals, every one opens.
#[derive(Clone, Debug)]
pub struct Keyring {
    current: SecretKey,
    previous: Vec<SecretKey>,
}

/// Why a sealed value did not open.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Not in the sealed format.
    #[error("the value is not sealed")]
    Malformed,
    /// Sealed under a key this server does not have.
    #[error("the value is sealed under key {0:?}, which is not configured")]
    UnknownKey(String),
    /// Tampered with, moved, or sealed under another key of the same id.
    #[error("the sealed value does not open")]
    Corrupt,
}

impl Keyring {
    /// Seals with `current`; `previous` still open what they sealed.
    pub fn new(current: SecretKey, previous: Vec<SecretKey>) -> Self {
        Self { current, previous }
    }

    /// A random key for this process only (tools that seal nothing, and tests).
    pub fn ephemeral() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self::new(
            SecretKey {
                id: "ephemeral".into(),
                key,
            },
            Vec::new(),
        )
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> &str {
        self.current.id()
    }

    /// Seals `plaintext`, kept at `place`.
    pub fn seal(&self, place: &str, plaintext: &str) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: place.as_bytes(),
        };
        // AES-GCM fails only beyond 64 GiB of plaintext.
        let sealed = self
            .current
            .cipher()
            .encrypt(&Nonce::from(nonce), payload)
            .unwrap_or_default();
        format!(
            "{VERSION}:{}:{}:{}",
            self.current.id,
            hex::encode(nonce),
            hex::encode(sealed)
        )
    }

    /// Opens a value sealed at `place` by [`Keyring::seal`] under any key of the ring.
    pub fn open(&self, place: &str, sealed: &str) -> Result<String, SealError> {
        let mut parts = sealed.splitn(4, ':');
        let (Some(VERSION), Some(id), Some(nonce), Some(body)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SealError::Malformed);
        };
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or_else(|| SealError::UnknownKey(id.to_owned()))?;
        let nonce: [u8; NONCE_BYTES] = hex::decode(nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or(SealError::Malformed)?;
        let body = hex::decode(body).map_err(|_| SealError::Malformed)?;
        let plain = key
            .cipher()
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &body,
                    aad: place.as_bytes(),
                },
            )
            .map_err(|_| SealError::Corrupt)?;
        String::from_utf8(plain).map_err(|_| SealError::Corrupt)
    }
}

/// Provider credentials and the like are sealed only under a configured key: a key derived
/// from the JWT secret is good enough for short-lived queued mail, not for a tenant's keys to
/// other services, which outlive a rotation of the JWT secret.
impl bulkhead_domain::sealed::Sealer for Keyring {
    fn seal(&self, place: &str, plaintext: &str) -> DomainResult<SealedSecret> {
        if self.current_id() == DERIVED_KEY_ID || self.current_id() == "ephemeral" {
            return Err(DomainError::Conflict(
                "this server has no secrets key configured (BULKHEAD_SECRETS_KEY), so it stores no credentials"
                    .into(),
            ));
        }
        Ok(SealedSecret::from_sealed(Keyring::seal(
            self, place, plaintext,
        )))
    }

    fn open(&self, place: &str, sealed: &SealedSecret) -> DomainResult<String> {
        Keyring::open(self, place, sealed.as_sealed())
            .map_err(|e| DomainError::Internal(format!("a sealed credential: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, byte: u8) -> SecretKey {
        SecretKey::parse(&format!("{id}:{}", hex::encode([byte; 32]))).expect("valid key")
    }

    #[test]
    fn sealed_values_open_only_with_their_key_at_their_place() {
        let ring = Keyring::new(key("k1", 1), Vec::new());
        let sealed = ring.seal("outbox_emails.body", "token bhr_123");
        assert!(!sealed.contains("bhr_123"));
        assert!(sealed.starts_with("bhs1:k1:"));
        assert_eq!(
            ring.open("outbox_emails.body", &sealed).expect("opens"),
            "token bhr_123"
        );
        assert!(matches!(
            ring.open("other.column", &sealed),
            Err(SealError::Corrupt)
        ));
        let mut tampered = sealed.clone();
        let last = tampered.pop().expect("non-empty");
        tampered.push(if last == '0' { '1' } else { '0' });
        assert!(ring.open("outbox_emails.body", &tampered).is_err());
        // Two seals of one value differ (fresh nonces).
        assert_ne!(sealed, ring.seal("outbox_emails.body", "token bhr_123"));
    }

    #[test]
    fn keys_rotate_and_unknown_keys_are_named() {
        let old = Keyring::new(key("k1", 1), Vec::new());
        let sealed = old.seal("p", "secret");
        let rotated = Keyring::new(key("k2", 2), vec![key("k1", 1)]);
        assert_eq!(rotated.open("p", &sealed).expect("old key opens"), "secret");
        assert!(rotated.seal("p", "x").starts_with("bhs1:k2:"));
        let forgotten = Keyring::new(key("k2", 2), Vec::new());
        assert!(matches!(
            forgotten.open("p", &sealed),
            Err(SealError::UnknownKey(id)) if id == "k1"
        ));
        assert!(matches!(
            forgotten.open("p", "plain text"),
            Err(SealError::Malformed)
        ));
    }

    #[test]
    fn keys_are_validated_and_never_printed() {
        assert!(SecretKey::parse("k1:abcd").is_err());
        assert!(SecretKey::parse(&hex::encode([0u8; 32])).is_err());
        assert!(SecretKey::parse(&format!("jwt:{}", hex::encode([0u8; 32]))).is_err());
        let k = key("k1", 7);
        assert!(!format!("{k:?}").contains(&hex::encode([7u8; 32])));
        let derived = SecretKey::derived_from(b"test-secret-test-secret-test-secret-0123");
        assert_eq!(derived.id(), DERIVED_KEY_ID);
        assert_eq!(
            derived.key,
            SecretKey::derived_from(b"test-secret-test-secret-test-secret-0123").key
        );
    }
}
