//! JWT access tokens: HS256 only, typed, with issuer, audience and times checked.

use std::time::Duration;

use bulkhead_domain::auth::{AccessToken, PlatformToken, TokenCodec, TokenSubject};
use bulkhead_domain::{
    DomainError, DomainResult, ImpersonationId, OrganizationId, SessionId, UserId,
};
use std::collections::HashMap;

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::InfraError;

/// The `typ` header of access tokens (RFC 9068), so no other JWT passes for one.
const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// The `typ` header of platform tokens, which no access-token check accepts.
const PLATFORM_TOKEN_TYPE: &str = "platform+jwt";
/// The longest a platform token lives: superusers sign in again rather than refresh.
const PLATFORM_TTL_SECS: u64 = 900;
/// Accepted clock difference between issuer and verifier.
const LEEWAY_SECS: u64 = 5;
/// The shortest signing secret accepted: HS256 needs 256 bits.
pub const MIN_SECRET_BYTES: usize = 32;

/// One HMAC key and the id (`kid`) that names it in token headers.
#[derive(Clone)]
pub struct JwtKey {
    /// The key id.
    pub id: String,
    /// The secret, at least [`MIN_SECRET_BYTES`] long.
    pub secret: Vec<u8>,
}

/// What the codec needs to know.
#[derive(Clone)]
pub struct JwtSettings {
    /// The key new tokens are signed with.
    pub signing: JwtKey,
    /// Earlier keys whose tokens are still accepted, so that the signing key can be rotated
    /// without signing everyone out. Tokens name their key in `kid`; any other `kid` is refused.
    pub previous: Vec<JwtKey>,
    /// `iss`.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    /// Lifetime of access tokens.
    pub ttl: Duration,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: Uuid,
    /// The organization; absent from a platform administrator's token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    org: Option<Uuid>,
    /// The session (revoking it stops the token at the next request), or the impersonation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<Uuid>,
    iat: u64,
    nbf: u64,
    exp: u64,
}

/// [`TokenCodec`] with jsonwebtoken.
pub struct JwtCodec {
    encoding: EncodingKey,
    /// Verification keys by `kid`: the signing key and the previous ones, from configuration
    /// only (never from a URL or a key in the token).
    decoding: HashMap<String, DecodingKey>,
    validation: Validation,
    settings: JwtSettings,
}

impl JwtCodec {
    /// Builds the codec; refuses a secret shorter than [`MIN_SECRET_BYTES`], an empty key id,
    /// and two keys with one id.
    pub fn new(settings: JwtSettings) -> Result<Self, InfraError> {
        let mut decoding = HashMap::new();
        for key in std::iter::once(&settings.signing).chain(&settings.previous) {
            if key.secret.len() < MIN_SECRET_BYTES {
                return Err(InfraError::Config(format!(
                    "the JWT secret of key {:?} must be at least {MIN_SECRET_BYTES} bytes, got {}",
                    key.id,
                    key.secret.len()
                )));
            }
            if key.id.is_empty() {
                return Err(InfraError::Config("a JWT key id must not be empty".into()));
            }
            if decoding
                .insert(key.id.clone(), DecodingKey::from_secret(&key.secret))
                .is_some()
            {
                return Err(InfraError::Config(format!(
                    "two JWT keys share the id {:?}",
                    key.id
                )));
            }
        }
        // Validation::default() would skip nbf, iss and aud and allow 60 s of leeway.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "sub", "iss", "aud"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        Ok(Self {
            encoding: EncodingKey::from_secret(&settings.signing.secret),
            decoding,
            validation,
            settings,
        })
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn sign(
        &self,
        typ: &str,
        sub: Uuid,
        org: Option<Uuid>,
        sid: Option<Uuid>,
        ttl: u64,
    ) -> DomainResult<AccessToken> {
        let now = Self::now();
        let claims = Claims {
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
            sub,
            org,
            sid,
            iat: now,
            nbf: now,
            exp: now + ttl,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(typ.to_owned());
        header.kid = Some(self.settings.signing.id.clone());
        let token = encode(&header, &claims, &self.encoding)
            .map_err(|e| DomainError::Internal(format!("cannot sign token: {e}")))?;
        Ok(AccessToken {
            token,
            expires_in: ttl,
        })
    }

    /// The claims of a token of type `typ`, after every check; any failure is unauthorized.
    fn open(&self, token: &str, typ: &str) -> DomainResult<Claims> {
        let header = decode_header(token).map_err(|_| DomainError::Unauthorized)?;
        // Every bearer token is tried as a platform token before an access token; refusing a
        // token of the other type here, before its signature is checked, keeps that first try
        // from costing a second verification. Nothing is accepted on this unverified header:
        // the verified one is checked again below.
        if header.typ.as_deref() != Some(typ) {
            return Err(DomainError::Unauthorized);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.decoding.get(kid))
            .ok_or(DomainError::Unauthorized)?;
        let data = decode::<Claims>(token, key, &self.validation)
            .map_err(|_| DomainError::Unauthorized)?;
        if data.header.typ.as_deref() != Some(typ) {
            return Err(DomainError::Unauthorized);
        }
        let claims = data.claims;
        // jsonwebtoken does not check iat; a token from the future is forged or from a broken clock.
        if claims.iat > Self::now() + LEEWAY_SECS {
            return Err(DomainError::Unauthorized);
        }
        Ok(claims)
    }
}

impl TokenCodec for JwtCodec {
    fn issue(&self, subject: &TokenSubject) -> DomainResult<AccessToken> {
        self.sign(
            ACCESS_TOKEN_TYPE,
            subject.user_id.as_uuid(),
            Some(subject.organization_id.as_uuid()),
            Some(subject.session_id.as_uuid()),
            self.settings.ttl.as_secs(),
        )
    }

    fn verify(&self, token: &str) -> DomainResult<TokenSubject> {
        let claims = self.open(token, ACCESS_TOKEN_TYPE)?;
        let (Some(org), Some(sid)) = (claims.org, claims.sid) else {
            return Err(DomainError::Unauthorized);
        };
        Ok(TokenSubject {
            user_id: UserId::from_uuid(claims.sub),
            organization_id: OrganizationId::from_uuid(org),
            session_id: SessionId::from_uuid(sid),
        })
    }

    fn issue_platform(&self, subject: &PlatformToken) -> DomainResult<AccessToken> {
        let ttl = self.settings.ttl.as_secs().min(PLATFORM_TTL_SECS);
        match *subject {
            PlatformToken::Admin { superuser } => {
                self.sign(PLATFORM_TOKEN_TYPE, superuser.as_uuid(), None, None, ttl)
            }
            PlatformToken::Impersonation {
                superuser,
                organization_id,
                id,
            } => self.sign(
                PLATFORM_TOKEN_TYPE,
                superuser.as_uuid(),
                Some(organization_id.as_uuid()),
                Some(id.as_uuid()),
                ttl,
            ),
        }
    }

    fn verify_platform(&self, token: &str) -> DomainResult<PlatformToken> {
        let claims = self.open(token, PLATFORM_TOKEN_TYPE)?;
        let superuser = UserId::from_uuid(claims.sub);
        match (claims.org, claims.sid) {
            (None, None) => Ok(PlatformToken::Admin { superuser }),
            (Some(org), Some(id)) => Ok(PlatformToken::Impersonation {
                superuser,
                organization_id: OrganizationId::from_uuid(org),
                id: ImpersonationId::from_uuid(id),
            }),
            _ => Err(DomainError::Unauthorized),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, secret: &[u8]) -> JwtKey {
        JwtKey {
            id: id.into(),
            secret: secret.to_vec(),
        }
    }

    fn settings() -> JwtSettings {
        JwtSettings {
            signing: key("k1", b"0123456789abcdef0123456789abcdef"),
            previous: Vec::new(),
            issuer: "bulkhead".into(),
            audience: "bulkhead-api".into(),
            ttl: Duration::from_secs(900),
        }
    }

    fn subject() -> TokenSubject {
        TokenSubject {
            user_id: UserId::new(),
            organization_id: OrganizationId::new(),
            session_id: SessionId::new(),
        }
    }

    fn sign(header: &Header, claims: &serde_json::Value, secret: &[u8]) -> String {
        encode(header, claims, &EncodingKey::from_secret(secret)).expect("signs")
    }

    fn claims(now: u64) -> serde_json::Value {
        serde_json::json!({
            "iss": "bulkhead", "aud": "bulkhead-api", "sub": Uuid::now_v7(), "org": Uuid::now_v7(),
            "sid": Uuid::now_v7(), "iat": now, "nbf": now, "exp": now + 600,
        })
    }

    fn typed_header() -> Header {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(ACCESS_TOKEN_TYPE.into());
        header.kid = Some("k1".into());
        header
    }

    #[test]
    fn round_trips() {
        let codec = JwtCodec::new(settings()).expect("valid settings");
        let subject = subject();
        let token = codec.issue(&subject).expect("issued");
        assert_eq!(codec.verify(&token.token).expect("verifies"), subject);
        assert_eq!(token.expires_in, 900);
    }

    #[test]
    fn platform_and_access_tokens_never_pass_for_each_other() {
        let codec = JwtCodec::new(settings()).expect("valid settings");
        let admin = PlatformToken::Admin {
            superuser: UserId::new(),
        };
        let impersonation = PlatformToken::Impersonation {
            superuser: UserId::new(),
            organization_id: OrganizationId::new(),
            id: ImpersonationId::new(),
        };
        for subject in [admin, impersonation] {
            let token = codec.issue_platform(&subject).expect("issued");
            assert_eq!(codec.verify_platform(&token.token).ok(), Some(subject));
            assert!(codec.verify(&token.token).is_err());
            assert!(token.expires_in <= PLATFORM_TTL_SECS);
        }
        let access = codec.issue(&subject()).expect("issued");
        assert!(codec.verify_platform(&access.token).is_err());
    }

    #[test]
    fn refuses_short_secrets_empty_ids_and_duplicate_ids() {
        let short = JwtSettings {
            signing: key("k1", &[b'x'; 31]),
            ..settings()
        };
        assert!(JwtCodec::new(short).is_err());
        let short_previous = JwtSettings {
            previous: vec![key("k0", &[b'x'; 31])],
            ..settings()
        };
        assert!(JwtCodec::new(short_previous).is_err());
        let duplicate = JwtSettings {
            previous: vec![key("k1", &[b'y'; 32])],
            ..settings()
        };
        assert!(JwtCodec::new(duplicate).is_err());
        let unnamed = JwtSettings {
            signing: key("", &[b'x'; 32]),
            ..settings()
        };
        assert!(JwtCodec::new(unnamed).is_err());
    }

    #[test]
    fn rotated_keys_keep_earlier_tokens_valid_until_dropped() {
        let old = JwtCodec::new(settings()).expect("valid");
        let token = old.issue(&subject()).expect("issued").token;
        let rotated = JwtCodec::new(JwtSettings {
            signing: key("k2", &[b'n'; 32]),
            previous: vec![key("k1", b"0123456789abcdef0123456789abcdef")],
            ..settings()
        })
        .expect("valid");
        assert!(
            rotated.verify(&token).is_ok(),
            "a token of the previous key still verifies"
        );
        let fresh = rotated.issue(&subject()).expect("issued").token;
        assert_eq!(
            decode_header(&fresh).expect("header").kid.as_deref(),
            Some("k2")
        );
        assert!(
            old.verify(&fresh).is_err(),
            "the old codec does not know k2"
        );
        let dropped = JwtCodec::new(JwtSettings {
            signing: key("k2", &[b'n'; 32]),
            ..settings()
        })
        .expect("valid");
        assert!(
            dropped.verify(&token).is_err(),
            "once dropped, the old key's tokens fail"
        );
        // A token naming k2 but signed with k1's secret fails: the kid picks the key.
        let mut header = typed_header();
        header.kid = Some("k2".into());
        let forged = sign(
            &header,
            &claims(JwtCodec::now()),
            b"0123456789abcdef0123456789abcdef",
        );
        assert!(rotated.verify(&forged).is_err());
    }

    #[test]
    fn rejects_tampered_foreign_and_malformed_tokens() {
        let codec = JwtCodec::new(settings()).expect("valid settings");
        let now = JwtCodec::now();
        let secret = settings().signing.secret;
        let good = sign(&typed_header(), &claims(now), &secret);
        assert!(codec.verify(&good).is_ok());

        let mut tampered = good.clone();
        tampered.pop();
        tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
        let other_key = sign(
            &typed_header(),
            &claims(now),
            b"another secret of at least 32 bytes!",
        );
        let mut no_typ = typed_header();
        no_typ.typ = Some("JWT".into());
        let mut unknown_kid = typed_header();
        unknown_kid.kid = Some("k9".into());
        let mut hs512 = typed_header();
        hs512.alg = Algorithm::HS512;
        let alg_none = format!(
            "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0Iiwia2lkIjoiazEifQ.{}.",
            good.split('.').nth(1).expect("payload")
        );
        let with = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut c = claims(now);
            f(&mut c);
            sign(&typed_header(), &c, &secret)
        };
        let cases = [
            ("tampered signature", tampered),
            ("other key", other_key),
            ("wrong typ", sign(&no_typ, &claims(now), &secret)),
            ("unknown kid", sign(&unknown_kid, &claims(now), &secret)),
            ("other algorithm", sign(&hs512, &claims(now), &secret)),
            ("alg none", alg_none),
            ("wrong iss", with(&|c| c["iss"] = "evil".into())),
            ("wrong aud", with(&|c| c["aud"] = "other-api".into())),
            ("expired", with(&|c| c["exp"] = (now - 60).into())),
            (
                "nbf in the future",
                with(&|c| c["nbf"] = (now + 120).into()),
            ),
            (
                "iat in the future",
                with(&|c| c["iat"] = (now + 120).into()),
            ),
            (
                "missing exp",
                with(&|c| drop(c.as_object_mut().and_then(|o| o.remove("exp")))),
            ),
            (
                "missing sub",
                with(&|c| drop(c.as_object_mut().and_then(|o| o.remove("sub")))),
            ),
            (
                "missing session",
                with(&|c| drop(c.as_object_mut().and_then(|o| o.remove("sid")))),
            ),
            ("garbage", "not.a.jwt".into()),
            ("empty", String::new()),
        ];
        for (name, token) in cases {
            assert!(
                matches!(codec.verify(&token), Err(DomainError::Unauthorized)),
                "{name} was accepted"
            );
        }
    }
}
