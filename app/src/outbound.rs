//! Requests Clink makes to addresses its users choose (sale webhooks): only to the public
//! internet. A creator's URL must never reach the cloud metadata service, the database, or
//! anything else on the operator's network.
//!
//! The rule is applied where the connection is made, not only when the URL is saved: the host
//! is resolved at send time by a resolver that drops every non-public address, so a name that
//! resolves to a public address when saved and to 127.0.0.1 later (DNS rebinding) still gets
//! nowhere. An IP literal in the URL never reaches a resolver, so it is checked separately.
//! Redirects are not followed. Operators of a self-hosted setup can allow private targets.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether outbound requests may go to private addresses (`CLINK_WEBHOOK_ALLOW_PRIVATE`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    pub allow_private: bool,
}

/// Ports of services that live on private networks, refused even on public hosts: a webhook
/// is HTTP, and these speak something else.
const REFUSED_PORTS: &[u16] =
    &[22, 23, 25, 53, 110, 143, 389, 465, 587, 1433, 1521, 2375, 2379, 3306, 5432, 5672, 6379, 9042, 9200, 11211, 27017];

/// Why a URL can't be used, in words for the creator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    #[error("Enter a full URL, like https://example.com/clink.")]
    Malformed,
    #[error("Webhook URLs must use https.")]
    NotHttps,
    #[error("That address is on a private network; webhooks go to public addresses only.")]
    Private,
    #[error("That port isn't used for web requests.")]
    Port,
}

/// Checks a URL a user gave: scheme, host, port, and (for an IP literal) its address.
pub fn check_url(raw: &str, policy: OutboundPolicy) -> Result<url::Url, UrlRefused> {
    let url = url::Url::parse(raw.trim()).map_err(|_| UrlRefused::Malformed)?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_private => {}
        "http" => return Err(UrlRefused::NotHttps),
        _ => return Err(UrlRefused::Malformed),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefused::Malformed);
    }
    let port = url.port_or_known_default().ok_or(UrlRefused::Malformed)?;
    if !policy.allow_private && REFUSED_PORTS.contains(&port) {
        return Err(UrlRefused::Port);
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) if !policy.allow_private && !is_public(IpAddr::V4(ip)) => Err(UrlRefused::Private),
        Some(url::Host::Ipv6(ip)) if !policy.allow_private && !is_public(IpAddr::V6(ip)) => Err(UrlRefused::Private),
        Some(url::Host::Domain(name)) if !policy.allow_private && is_local_name(name) => Err(UrlRefused::Private),
        Some(_) => Ok(url),
        None => Err(UrlRefused::Malformed),
    }
}

/// Names that never mean the public internet.
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost") || name.ends_with(".local") || name.ends_with(".internal") || !name.contains('.')
}

/// Whether an address is on the public internet: not loopback, private (RFC 1918), shared
/// (RFC 6598), link-local (the cloud metadata service lives at 169.254.169.254), unique-local,
/// multicast, broadcast, documentation, benchmarking or reserved; and the same for IPv4
/// addresses carried inside IPv6 (mapped, compatible, NAT64, 6to4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4
    // address the packet may end up at.
    if segments[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return ip.to_ipv4().is_some_and(is_public_v4);
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(Ipv4Addr::new((segments[6] >> 8) as u8, segments[6] as u8, (segments[7] >> 8) as u8, segments[7] as u8));
    }
    if segments[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::new((segments[1] >> 8) as u8, segments[1] as u8, (segments[2] >> 8) as u8, segments[2] as u8));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (segments[0] & 0xffc0) == 0xfe80 // link local fe80::/10
        || (segments[0] & 0xffc0) == 0xfec0 // site local (deprecated) fec0::/10
        || (segments[0] == 0x2001 && segments[1] == 0x0db8)) // documentation
}

/// Resolves names with the system resolver and keeps only public addresses.
#[derive(Debug, Clone, Copy)]
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.iter().copied().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> =
                    if found.is_empty() { "no address".into() } else { Box::new(PrivateAddress) };
                return Err(err);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// The resolver's refusal, recognised by `describe`.
#[derive(Debug, thiserror::Error)]
#[error("the host resolves only to private addresses")]
struct PrivateAddress;

/// The HTTP client for outbound requests under `policy`: public addresses only (unless allowed
/// otherwise), no redirects, no proxy from the environment, a 10-second limit.
pub fn client(policy: OutboundPolicy) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent("Clink-Webhooks/1");
    if !policy.allow_private {
        builder = builder.dns_resolver(Arc::new(PublicOnly));
    }
    builder.build().expect("a TLS backend is compiled in")
}

/// A short category of a failed request, fit to show the person who owns the URL (never the
/// raw error, which can describe the operator's network).
pub fn describe(err: &reqwest::Error) -> &'static str {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if e.is::<PrivateAddress>() {
            return "refused: private address";
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused",
                std::io::ErrorKind::TimedOut => return "timed out",
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => return "connection reset",
                _ => {}
            }
        }
        source = e.source();
    }
    if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_redirect() {
        "redirect not followed"
    } else {
        "request failed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str) -> Option<UrlRefused> {
        check_url(url, OutboundPolicy::default()).err()
    }

    #[test]
    fn only_public_https_urls_pass() {
        assert_eq!(refused("https://hooks.example.com/clink"), None);
        assert_eq!(refused("https://93.184.216.34/hook"), None);
        assert_eq!(refused("https://[2606:2800:220:1:248:1893:25c8:1946]/hook"), None);
        for private in [
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.5/",
            "https://172.16.0.1/",
            "https://192.168.1.1/",
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:a9fe:a9fe]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[64:ff9b::a00:1]/",
            "https://[2002:c0a8:101::1]/",
            "https://0.0.0.0/",
            "https://100.64.0.1/",
            "https://localhost/",
            "https://db.internal/",
            "https://printer.local/",
            "https://intranet/",
        ] {
            assert_eq!(refused(private), Some(UrlRefused::Private), "{private}");
        }
        assert_eq!(refused("http://hooks.example.com/"), Some(UrlRefused::NotHttps));
        assert_eq!(refused("https://hooks.example.com:5432/"), Some(UrlRefused::Port));
        assert_eq!(refused("https://hooks.example.com:6379/"), Some(UrlRefused::Port));
        assert_eq!(refused("ftp://hooks.example.com/"), Some(UrlRefused::Malformed));
        assert_eq!(refused("https://user:pw@hooks.example.com/"), Some(UrlRefused::Malformed));
        assert_eq!(refused("not a url"), Some(UrlRefused::Malformed));
        // A self-hosted operator may allow their own network.
        assert!(check_url("http://127.0.0.1:8080/hook", OutboundPolicy { allow_private: true }).is_ok());
    }

    #[tokio::test]
    async fn the_resolver_drops_private_answers() {
        let err = PublicOnly.resolve("localhost".parse().unwrap()).await.err().expect("localhost is refused");
        assert!(err.to_string().contains("private"), "{err}");
    }
}
