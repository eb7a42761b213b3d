//! Extractors that turn requests into typed input or into a clear problem: JSON bodies,
//! query strings, path ids and the bearer token.

use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use bulkhead_domain::{DomainError, RequestMeta, TenantScope};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::problem::ApiError;
use crate::request_id;

/// A JSON body. Wrong media type is 415, too large 413, malformed JSON 400, and well-formed
/// JSON of the wrong shape (unknown or missing fields, wrong types) 422 naming the field.
pub(crate) struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type = req.content_type().to_ascii_lowercase();
        let is_json = content_type == "application/json" || content_type.ends_with("+json");
        let body = web::Bytes::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType);
            }
            let bytes = body.await.map_err(|err| {
                if err.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::MalformedJson("the request body could not be read".into())
                }
            })?;
            if crate::idempotency::requested(&req) {
                req.extensions_mut()
                    .insert(crate::idempotency::digest(&bytes));
            }
            parse_json(&bytes).map(Json)
        })
    }
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body is an object. serde would also fill a struct from an array, by position, so
    // `[]` or `["name"]` must be refused before it gets the chance.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Ok(_) => ApiError::invalid("", "type", "the body must be a JSON object"),
                Err(e) => ApiError::MalformedJson(e.to_string()),
            },
        );
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        json_error(&path, &inner)
    })?;
    // Trailing garbage after the value is malformed JSON, not something to ignore.
    deserializer
        .end()
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    Ok(value)
}

fn json_error(path: &str, err: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Data => {
            let message = strip_position(&err.to_string());
            // For unknown and missing fields serde names the field only in the message.
            // The path already ends with an unknown field's name, but not with a missing one's.
            let field = match (message.starts_with("missing field"), path) {
                (true, "." | "") => backticked(&message).unwrap_or_default(),
                (true, path) => format!("{path}.{}", backticked(&message).unwrap_or_default()),
                (false, path) => path.to_owned(),
            };
            let code = if message.starts_with("unknown field") {
                "unknown_field"
            } else if message.starts_with("missing field") {
                "required"
            } else {
                "type"
            };
            ApiError::invalid(&field, code, message)
        }
        Category::Syntax | Category::Eof | Category::Io => ApiError::MalformedJson(err.to_string()),
    }
}

fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(message[start..end].to_owned())
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// Path segments that do not parse (a non-UUID id) name no resource: 404.
pub(crate) fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into())
}

/// Query strings that do not fit (unknown or repeated parameters) are 422.
pub(crate) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _| {
        let message = err.to_string();
        let message = message
            .strip_prefix("Query deserialize error: ")
            .unwrap_or(&message)
            .to_owned();
        let field = backticked(&message).unwrap_or_else(|| "query".into());
        ApiError::invalid(&field, "query", message).into()
    })
}

/// Parses an optional integer query parameter, naming it when it is not one.
pub(crate) fn int_param(field: &str, raw: Option<&str>) -> Result<Option<i64>, ApiError> {
    raw.map(|value| {
        value
            .parse::<i64>()
            .map_err(|_| ApiError::invalid(field, "type", format!("{field} must be an integer")))
    })
    .transpose()
}

/// The tenant scope of an authenticated request: a valid `Authorization: Bearer` access token
/// whose user is still a member of its organization. Anything else is 401.
pub(crate) struct Auth(pub TenantScope);

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let named = req.clone();
        with_bearer(req, |state, token, meta| async move {
            let scope = state.authenticator.authenticate(&token, meta).await?;
            request_id::record_principal(
                &named,
                Some(scope.organization_id().to_string()),
                &scope.principal(),
            );
            Ok(Auth(scope))
        })
    }
}

/// Runs `authenticate` on the request's bearer token, once the request has been read.
fn with_bearer<T, F, Fut>(
    req: &HttpRequest,
    authenticate: F,
) -> LocalBoxFuture<'static, Result<T, ApiError>>
where
    T: 'static,
    F: FnOnce(web::Data<AppState>, String, RequestMeta) -> Fut + 'static,
    Fut: std::future::Future<Output = Result<T, ApiError>> + 'static,
{
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let token = bearer_token(req);
    let meta = request_meta(req);
    Box::pin(async move {
        let state =
            state.ok_or_else(|| DomainError::Internal("application state missing".into()))?;
        authenticate(state, token?, meta).await
    })
}

/// A platform superuser, from a platform token (`POST /admin/auth/login`).
pub(crate) struct PlatformAuth(pub bulkhead_domain::platform::PlatformScope);

impl FromRequest for PlatformAuth {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let named = req.clone();
        with_bearer(req, |state, token, meta| async move {
            let scope = state.platform.authenticate(&token, meta).await?;
            request_id::record_principal(&named, None, &format!("user:{}", scope.superuser()));
            Ok(PlatformAuth(scope))
        })
    }
}

/// The proxies whose `X-Forwarded-For` header is believed.
pub(crate) struct TrustedProxies(pub Vec<ipnet::IpNet>);

/// The client's address: the peer's, unless the peer is a trusted proxy, in which case the
/// nearest address in `X-Forwarded-For` that is not itself a trusted proxy. A client can write
/// anything into the header, so only what trusted proxies appended (the right end) counts.
pub(crate) fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let trusted = req
        .app_data::<web::Data<TrustedProxies>>()
        .map(|t| t.0.as_slice())
        .unwrap_or_default();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let entries: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    // From the right: each trusted proxy appended the address it received from. The first
    // address that is not a trusted proxy is the client; anything further left, or anything
    // that does not parse, was written by the client and proves nothing.
    for entry in entries.into_iter().rev() {
        match entry.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => continue,
            Ok(ip) => return Some(ip),
            Err(_) => break,
        }
    }
    Some(peer)
}

/// Where the request came from, for the audit trail.
pub(crate) fn request_meta(req: &HttpRequest) -> RequestMeta {
    RequestMeta {
        request_id: crate::request_id::current(),
        client_ip: client_ip(req).map(|ip| ip.to_string()),
        user_agent: req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(512).collect()),
        route: Some(
            format!("{} {}", req.method(), req.path())
                .chars()
                .take(512)
                .collect(),
        ),
    }
}

/// The version a client expects, from `If-Match: "<version>"`. No header, or `*`, expects
/// none; a value that cannot be one of our ETags can never match (412).
pub(crate) fn if_match(req: &HttpRequest) -> Result<Option<i64>, ApiError> {
    let Some(value) = req.headers().get(actix_web::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let value = value.to_str().map(str::trim).unwrap_or("");
    if value == "*" {
        return Ok(None);
    }
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse::<i64>().ok())
        .map(Some)
        .ok_or(ApiError::Domain(DomainError::PreconditionFailed))
}

/// The strong ETag of a versioned resource.
pub(crate) fn etag(version: i64) -> (actix_web::http::header::HeaderName, String) {
    (actix_web::http::header::ETAG, format!("\"{version}\""))
}

/// Parses an optional boolean query parameter (`true` or `false`).
pub(crate) fn bool_param(field: &str, raw: Option<&str>) -> Result<bool, ApiError> {
    match raw {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::invalid(
            field,
            "type",
            format!("{field} must be true or false"),
        )),
    }
}

/// Exactly one `Authorization` header, of the Bearer scheme, with a non-empty token. Tokens
/// in the query string are never looked at.
fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    let unauthorized = || ApiError::Domain(DomainError::Unauthorized);
    let mut values = req.headers().get_all(AUTHORIZATION);
    let value = values.next().ok_or_else(unauthorized)?;
    if values.next().is_some() {
        return Err(unauthorized());
    }
    let value = value.to_str().map_err(|_| unauthorized())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(unauthorized)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer")
        || token.is_empty()
        || token.contains(char::is_whitespace)
    {
        return Err(unauthorized());
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        nested: Option<Nested>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Nested {
        count: u8,
    }

    fn field_of(err: ApiError) -> (String, String) {
        match err {
            ApiError::Domain(DomainError::Validation(errors)) => {
                (errors[0].field.clone(), errors[0].code.to_owned())
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn json_shape_errors_name_the_field() {
        let unknown =
            parse_json::<Body>(br#"{"name":"a","organization_id":"x"}"#).expect_err("rejected");
        assert_eq!(
            field_of(unknown),
            ("organization_id".into(), "unknown_field".into())
        );
        let missing = parse_json::<Body>(br#"{}"#).expect_err("rejected");
        assert_eq!(field_of(missing), ("name".into(), "required".into()));
        let wrong_type = parse_json::<Body>(br#"{"name":5}"#).expect_err("rejected");
        assert_eq!(field_of(wrong_type), ("name".into(), "type".into()));
        let nested =
            parse_json::<Body>(br#"{"name":"a","nested":{"count":100000000000000000000}}"#)
                .expect_err("rejected");
        assert_eq!(field_of(nested).0, "nested.count");
    }

    #[test]
    fn bodies_must_be_objects_not_arrays_or_scalars() {
        for body in [&b"[]"[..], b"[\"a\", null]", b" \"a\"", b"null", b"5"] {
            let err = parse_json::<Body>(body).expect_err("rejected");
            assert_eq!(
                field_of(err),
                (String::new(), "type".to_owned()),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(matches!(
            parse_json::<Body>(b"[1,"),
            Err(ApiError::MalformedJson(_))
        ));
        assert!(matches!(
            parse_json::<Body>(b""),
            Err(ApiError::MalformedJson(_))
        ));
    }

    #[test]
    fn malformed_json_is_a_bad_request() {
        for body in [
            &b"{"[..],
            b"{\"name\":\"a\"} trailing",
            b"\xff\xfe",
            b"{\"name\":\"\xff\"}",
        ] {
            assert!(
                matches!(parse_json::<Body>(body), Err(ApiError::MalformedJson(_))),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn deep_nesting_is_rejected_without_recursing() {
        let mut body = b"{\"name\":".to_vec();
        body.extend([b'['; 100_000]);
        let err = parse_json::<Body>(&body).expect_err("rejected");
        assert_eq!(field_of(err).0, "name");
    }

    #[test]
    fn if_match_takes_our_etags_or_a_wildcard() {
        let with = |value: &str| {
            TestRequest::default()
                .insert_header(("if-match", value))
                .to_http_request()
        };
        assert_eq!(if_match(&with("\"3\"")).ok(), Some(Some(3)));
        assert_eq!(if_match(&with("*")).ok(), Some(None));
        assert_eq!(
            if_match(&TestRequest::default().to_http_request()).ok(),
            Some(None)
        );
        for bad in ["3", "W/\"3\"", "\"x\"", ""] {
            assert!(
                matches!(
                    if_match(&with(bad)),
                    Err(ApiError::Domain(DomainError::PreconditionFailed))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bearer_token_is_strict() {
        let ok = TestRequest::default()
            .insert_header((AUTHORIZATION, "Bearer abc.def"))
            .to_http_request();
        assert_eq!(bearer_token(&ok).ok().as_deref(), Some("abc.def"));
        for value in [
            "",
            "Bearer",
            "Bearer ",
            "Basic abc",
            "Token abc",
            "Bearer a b",
            "bearerabc",
        ] {
            let req = TestRequest::default()
                .insert_header((AUTHORIZATION, value))
                .to_http_request();
            assert!(bearer_token(&req).is_err(), "{value:?} was accepted");
        }
        let doubled = TestRequest::default()
            .append_header((AUTHORIZATION, "Bearer a"))
            .append_header((AUTHORIZATION, "Bearer a"))
            .to_http_request();
        assert!(bearer_token(&doubled).is_err());
        let none = TestRequest::with_uri("/x?access_token=abc").to_http_request();
        assert!(bearer_token(&none).is_err());
    }
}
