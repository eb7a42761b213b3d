//! Which provider URLs the server may call on a tenant's behalf. A provider URL is a request
//! the server makes to an address a tenant chose, so it must not become a way into the
//! deployment's own network (cloud metadata at 169.254.169.254, the database, an admin port):
//! a URL must fall under the operator's allowlist, and its host must resolve only to public
//! addresses unless the operator allowed internal ones. The check runs when a configuration is
//! saved and again, through [`ProviderUrlPolicy::resolve`], right before each connection, so a
//! name re-pointed after saving (DNS rebinding) is caught.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_trait::async_trait;
use bulkhead_domain::agent_configs::{EndpointPolicy, ProviderUrl};
use bulkhead_domain::{DomainError, DomainResult};
use ipnet::IpNet;
use url::{Host, Url};

/// How long a lookup may take before the URL is refused.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// Ranges that are not the public internet: loopback, private, link-local, shared (CGNAT),
/// unspecified, multicast, reserved, benchmarking, documentation, and their IPv6 kin.
const INTERNAL: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
    "2001:db8::/32",
];

/// Whether `ip` is outside the public internet. IPv4 addresses mapped into IPv6 (and NAT64's
/// well-known prefix) are judged as the IPv4 address they carry.
pub fn is_internal(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => {
            let octets = v6.octets();
            if let Some(v4) = v6.to_ipv4_mapped() {
                IpAddr::V4(v4)
            } else if octets[..12] == [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0] {
                IpAddr::V4([octets[12], octets[13], octets[14], octets[15]].into())
            } else {
                ip
            }
        }
        v4 => v4,
    };
    INTERNAL
        .iter()
        .filter_map(|range| range.parse::<IpNet>().ok())
        .any(|range| range.contains(&ip))
}

/// The operator's allowlist of provider URLs, and whether internal addresses are allowed.
#[derive(Debug, Clone)]
pub struct ProviderUrlPolicy {
    allowed: Vec<Url>,
    allow_internal: bool,
}

impl ProviderUrlPolicy {
    /// A policy allowing URLs under `allowed` (scheme, host and port equal, path under the
    /// allowed path), resolving to public addresses only unless `allow_internal`.
    pub fn new(allowed: Vec<Url>, allow_internal: bool) -> Self {
        Self {
            allowed,
            allow_internal,
        }
    }

    fn listed(&self, url: &Url) -> bool {
        self.allowed.iter().any(|allowed| {
            let base = allowed.path().trim_end_matches('/');
            let path = url.path();
            allowed.scheme() == url.scheme()
                && allowed.host() == url.host()
                && allowed.port_or_known_default() == url.port_or_known_default()
                && (path == base || path.starts_with(base) && path[base.len()..].starts_with('/'))
        })
    }

    /// The addresses to connect to for `url`, all of them admitted: the check to run right
    /// before connecting, whose answer the connection must use (not a second lookup).
    pub async fn resolve(&self, url: &ProviderUrl) -> DomainResult<Vec<SocketAddr>> {
        let url = url.url();
        let refused =
            |code: &'static str, message: String| DomainError::invalid("base_url", code, message);
        if !self.listed(url) {
            let allowed: Vec<&str> = self.allowed.iter().map(Url::as_str).collect();
            return Err(refused(
                "not_allowed",
                if allowed.is_empty() {
                    "this deployment allows no provider URLs (BULKHEAD_PROVIDER_BASE_URLS is empty)"
                        .into()
                } else {
                    format!(
                        "base_url must start with one of the provider URLs this deployment allows: {}",
                        allowed.join(", ")
                    )
                },
            ));
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let addresses: Vec<SocketAddr> = match url.host() {
            Some(Host::Ipv4(ip)) => vec![SocketAddr::new(ip.into(), port)],
            Some(Host::Ipv6(ip)) => vec![SocketAddr::new(ip.into(), port)],
            Some(Host::Domain(name)) => {
                match tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((name, port)))
                    .await
                {
                    Ok(Ok(found)) => found.collect(),
                    _ => Vec::new(),
                }
            }
            None => Vec::new(),
        };
        if addresses.is_empty() {
            return Err(refused(
                "unresolvable",
                "base_url's host does not resolve".into(),
            ));
        }
        if !self.allow_internal && addresses.iter().any(|a| is_internal(a.ip())) {
            return Err(refused(
                "internal_address",
                "base_url resolves to a loopback, private, link-local or otherwise internal address"
                    .into(),
            ));
        }
        Ok(addresses)
    }
}

#[async_trait]
impl EndpointPolicy for ProviderUrlPolicy {
    async fn admit(&self, url: &ProviderUrl) -> DomainResult<()> {
        self.resolve(url).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(raw: &str) -> ProviderUrl {
        ProviderUrl::parse(raw).expect("valid")
    }

    #[test]
    fn internal_ranges_are_recognized_in_every_spelling() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.31.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(is_internal(internal.parse().expect("valid")), "{internal}");
        }
        for public in ["1.1.1.1", "93.184.216.34", "2606:4700::1111"] {
            assert!(!is_internal(public.parse().expect("valid")), "{public}");
        }
    }

    #[tokio::test]
    async fn urls_must_be_listed_and_public() {
        let policy = ProviderUrlPolicy::new(
            vec![
                Url::parse("https://llm.example.com/v1").expect("valid"),
                Url::parse("http://127.0.0.1:9000").expect("valid"),
            ],
            false,
        );
        for unlisted in [
            "https://llm.example.com/v10",
            "https://llm.example.com",
            "http://llm.example.com/v1",
            "https://llm.example.com:8443/v1",
            "https://evil.example.com/v1",
        ] {
            let err = policy.admit(&url(unlisted)).await;
            assert!(
                matches!(&err, Err(DomainError::Validation(e)) if e[0].code == "not_allowed"),
                "{unlisted}: {err:?}"
            );
        }
        let err = policy.admit(&url("http://127.0.0.1:9000/v1")).await;
        assert!(
            matches!(&err, Err(DomainError::Validation(e)) if e[0].code == "internal_address"),
            "{err:?}"
        );
        let lenient = ProviderUrlPolicy::new(
            vec![Url::parse("http://127.0.0.1:9000").expect("valid")],
            true,
        );
        lenient
            .admit(&url("http://127.0.0.1:9000/v1"))
            .await
            .expect("allowed explicitly");
        let localhost = ProviderUrlPolicy::new(
            vec![Url::parse("http://localhost:9000").expect("valid")],
            false,
        );
        let err = localhost.admit(&url("http://localhost:9000/v1")).await;
        assert!(
            matches!(&err, Err(DomainError::Validation(e)) if e[0].code == "internal_address"),
            "a name resolving to loopback is refused: {err:?}"
        );
    }
}
