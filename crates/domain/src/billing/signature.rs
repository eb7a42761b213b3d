//! Stripe's webhook signature, checked exactly as Stripe signs: `Stripe-Signature:
//! t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` (several `v1` while Stripe rolls a
//! secret), compared in constant time, within a tolerance of the signing time.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{DomainError, DomainResult};

/// A webhook signing secret (`whsec_...`), kept out of logs.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// Wraps a configured secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// How far the signing time may be from now: Stripe's own libraries' default.
pub const TOLERANCE_SECS: i64 = 300;

/// Verifies `header` over `body` against any of `secrets` (several during a rotation), at
/// `now`. Fails with [`DomainError::InvalidSignature`] for a missing or malformed header, a
/// stale or future timestamp, or no matching signature.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[WebhookSecret],
    now: DateTime<Utc>,
) -> DomainResult<()> {
    let bad = |why: &str| DomainError::InvalidSignature(why.to_owned());
    let header = header.ok_or_else(|| bad("the Stripe-Signature header is missing"))?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => {
                if let Ok(bytes) = hex::decode(value) {
                    signatures.push(bytes);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or_else(|| bad("the signature has no timestamp"))?;
    if signatures.is_empty() {
        return Err(bad("the signature has no v1 value"));
    }
    if (now.timestamp() - timestamp).abs() > TOLERANCE_SECS {
        return Err(bad("the signature's timestamp is outside the tolerance"));
    }
    if secrets.is_empty() {
        return Err(bad("no webhook secret is configured"));
    }
    for secret in secrets {
        for signature in &signatures {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.0.as_bytes())
                .map_err(|e| DomainError::Internal(format!("hmac key: {e}")))?;
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(body);
            // `verify_slice` compares in constant time.
            if mac.verify_slice(signature).is_ok() {
                return Ok(());
            }
        }
    }
    Err(bad("no signature matches"))
}

/// The `Stripe-Signature` header Stripe would send for `body` at `timestamp` under `secret`:
/// for tests, and for clients that replay events to a server.
pub fn sign(body: &[u8], secret: &str, timestamp: i64) -> String {
    // An HMAC takes a key of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid"}"#;

    fn secrets(values: &[&str]) -> Vec<WebhookSecret> {
        values.iter().map(|s| WebhookSecret::new(*s)).collect()
    }

    fn at(t: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(t, 0).expect("a valid time")
    }

    #[test]
    fn a_valid_signature_verifies() {
        let header = sign(BODY, "whsec_a", 1_000_000);
        verify(Some(&header), BODY, &secrets(&["whsec_a"]), at(1_000_100)).expect("valid");
    }

    #[test]
    fn tampering_a_wrong_secret_or_a_stale_time_fail() {
        let header = sign(BODY, "whsec_a", 1_000_000);
        let refused = |header: Option<&str>, body: &[u8], keys: &[&str], now: i64| {
            matches!(
                verify(header, body, &secrets(keys), at(now)),
                Err(DomainError::InvalidSignature(_))
            )
        };
        assert!(refused(
            Some(&header),
            b"{\"id\":\"evt_2\"}",
            &["whsec_a"],
            1_000_000
        ));
        assert!(refused(Some(&header), BODY, &["whsec_b"], 1_000_000));
        assert!(refused(Some(&header), BODY, &["whsec_a"], 1_000_301));
        assert!(refused(Some(&header), BODY, &["whsec_a"], 999_699));
        assert!(refused(None, BODY, &["whsec_a"], 1_000_000));
        assert!(refused(Some("t=1000000"), BODY, &["whsec_a"], 1_000_000));
        assert!(refused(Some("v1=00"), BODY, &["whsec_a"], 1_000_000));
        assert!(refused(Some(&header), BODY, &[], 1_000_000));
        // The timestamp is signed too: moving it breaks the signature.
        let moved = header.replace("t=1000000", "t=1000200");
        assert!(refused(Some(&moved), BODY, &["whsec_a"], 1_000_200));
    }

    #[test]
    fn any_v1_and_any_configured_secret_may_match() {
        let good = sign(BODY, "whsec_new", 1_000_000);
        let v1 = good.split_once(",v1=").map(|(_, v)| v).expect("v1");
        let header = format!("t=1000000,v1={},v1={v1},v0=abc", "00".repeat(32));
        // During a rotation both the old and the new secret are configured.
        verify(
            Some(&header),
            BODY,
            &secrets(&["whsec_old", "whsec_new"]),
            at(1_000_000),
        )
        .expect("the second v1 matches the second secret");
    }
}
