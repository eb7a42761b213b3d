//! Timestamps in response bodies, written as chrono writes them (RFC 3339, UTC as `Z`, as
//! many fractional digits as the value needs), but formatted once into a string.
//!
//! chrono's own `Serialize` hands serde_json a `Display` value, which serde_json escapes a
//! character at a time as it is written; for a page of twenty projects (forty timestamps)
//! that was an eighth of the server's own instructions per list request.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

/// For `#[serde(serialize_with = ...)]` on a `DateTime<Utc>`.
pub(crate) fn rfc3339<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// For `#[serde(serialize_with = ...)]` on an `Option<DateTime<Utc>>`: `null` when absent.
pub(crate) fn rfc3339_option<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339(at, serializer),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    struct Ours {
        #[serde(serialize_with = "rfc3339")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "rfc3339_option")]
        maybe: Option<DateTime<Utc>>,
    }

    #[derive(Serialize)]
    struct Chronos {
        at: DateTime<Utc>,
        maybe: Option<DateTime<Utc>>,
    }

    #[test]
    fn written_exactly_as_chrono_writes_them() {
        let base = Utc
            .with_ymd_and_hms(2026, 12, 1, 8, 5, 9)
            .single()
            .expect("a valid instant");
        for nanos in [0, 120_000_000, 123_000, 123_456_789, 1] {
            let at = base + chrono::Duration::nanoseconds(nanos);
            for maybe in [Some(at), None] {
                let ours = serde_json::to_string(&Ours { at, maybe }).expect("serializes");
                let chronos = serde_json::to_string(&Chronos { at, maybe }).expect("serializes");
                assert_eq!(ours, chronos);
            }
        }
        let whole = serde_json::to_string(&Ours {
            at: base,
            maybe: None,
        })
        .expect("serializes");
        assert_eq!(whole, r#"{"at":"2026-12-01T08:05:09Z","maybe":null}"#);
    }
}
