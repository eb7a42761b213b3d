//! Headers every response carries, and CORS for the browser origins an operator names.

use actix_cors::Cors;
use actix_web::http::header::{self, HeaderName};
use actix_web::http::{Method, header::HeaderValue};
use actix_web::middleware::{Condition, DefaultHeaders};

/// A year, the usual HSTS lifetime once HTTPS is settled.
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Security headers for every response, unless a handler set its own:
/// - `Cache-Control: no-store`, since nearly every response carries tenant data, a token or a
///   key; intermediaries and browsers keep none of it.
/// - `X-Content-Type-Options: nosniff`, so a browser never reads JSON or a download as HTML.
/// - `X-Frame-Options: DENY` and CSP `frame-ancestors 'none'`: no page of ours (the docs
///   included) can be framed for clickjacking.
/// - `Referrer-Policy: no-referrer`: URLs with ids do not leak to other sites.
/// - `Strict-Transport-Security` when `hsts` (the public URL is https).
pub(crate) fn security(hsts: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((header::CACHE_CONTROL, "no-store"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"))
        .add((header::REFERRER_POLICY, "no-referrer"));
    if hsts {
        headers.add((header::STRICT_TRANSPORT_SECURITY, HSTS))
    } else {
        headers
    }
}

/// CORS for exactly `origins`; with none, no CORS middleware at all, so browsers refuse every
/// cross-origin read. Credentials (cookies) are never allowed: the API authenticates with
/// bearer tokens, which a page sends explicitly. A same-origin request, or one from an origin
/// not named, is served as usual without CORS headers rather than refused, so the docs page and
/// non-browser clients that send `Origin` keep working.
pub(crate) fn cors(origins: &[String]) -> Condition<Cors> {
    let mut cors = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::ACCEPT,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("idempotent-replayed"),
        ])
        .block_on_origin_mismatch(false)
        .max_age(600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    Condition::new(!origins.is_empty(), cors)
}

/// Checks an origin for `BULKHEAD_CORS_ORIGINS`: `scheme://host[:port]`, nothing else, and
/// never `*`. Answers the origin as browsers send it.
pub fn parse_origin(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw == "*" {
        return Err("CORS origins are matched exactly; `*` is not accepted".into());
    }
    let (scheme, rest) = raw
        .split_once("://")
        .ok_or_else(|| format!("{raw:?} is not an origin (scheme://host[:port])"))?;
    let valid = matches!(scheme, "http" | "https")
        && !rest.is_empty()
        && !rest.contains(['/', '?', '#', '*', '@'])
        && HeaderValue::from_str(raw).is_ok();
    if valid {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(format!("{raw:?} is not an origin (scheme://host[:port])"))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_origin;

    #[test]
    fn origins_are_exact_and_never_wildcards() {
        assert_eq!(
            parse_origin("https://App.example.com:8443").as_deref(),
            Ok("https://app.example.com:8443")
        );
        for bad in [
            "*",
            "https://*.example.com",
            "app.example.com",
            "https://app.example.com/",
            "ftp://app.example.com",
            "https://user@app.example.com",
            "https://",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}
