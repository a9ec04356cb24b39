//! Calls Kith makes to other servers for a workspace (webhooks): only to public addresses,
//! unless an admin allowed a host by name (`outbound_hosts`). The check holds at delivery as
//! well as when a URL is saved: the client resolves names itself and drops private addresses,
//! so a name that later resolves to `127.0.0.1` (DNS rebinding) reaches nothing, and redirects
//! are not followed.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, TransactionTrait,
};

use super::model::outbound_host;
use crate::i18n::{Text, text};
use crate::ids::WorkspaceId;

/// Hosts an admin may allow, at most.
pub const MAX_ALLOWED_HOSTS: usize = 50;

/// Whether `ip` is an address on the public internet: not loopback, private, link-local,
/// shared (CGNAT), multicast, unspecified or reserved, in IPv4 or IPv6 (IPv4-mapped IPv6
/// addresses are judged as the IPv4 address they carry).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (b == 18 || b == 19)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0xdb8
                || first == 0x64 && v6.segments()[1] == 0xff9b)
        }
    }
}

/// A host as an admin writes it in the allow list: a DNS name or an IP address, compared
/// without case; no scheme, port or path.
pub fn parse_host(entry: &str) -> Result<String, Text> {
    let host = entry.trim().to_ascii_lowercase();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() {
        return Ok(bare.to_owned());
    }
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(valid_label) {
        return Err(text!("api-access-not-a-host", entry = entry));
    }
    Ok(host)
}

/// The host of a URL as the allow list names it (IPv6 without brackets).
pub fn url_host(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// Checks a URL to be called for a workspace: `http` or `https`, a host, no credentials in it,
/// and every address it resolves to public unless its host is allowed. The message says what
/// is wrong, for the admin who typed it.
pub async fn check_url(url: &str, allowed: &[String]) -> Result<reqwest::Url, Text> {
    if url.len() > 2048 {
        return Err(text!("api-access-url-too-long"));
    }
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| text!("api-access-not-a-url", error = e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(text!("api-access-url-scheme"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(text!("api-access-url-credentials"));
    }
    let host = url_host(&parsed);
    if host.is_empty() {
        return Err(text!("api-access-url-no-host"));
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    check_host(&host, port, allowed).await?;
    Ok(parsed)
}

/// How long a check waits for a name to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Checks a host to be connected to for a workspace: every address it resolves to is public,
/// unless the host is allowed.
pub async fn check_host(host: &str, port: u16, allowed: &[String]) -> Result<(), Text> {
    if allowed.iter().any(|a| a == host) {
        return Ok(());
    }
    resolve_checked(host, port, allowed).await.map(drop)
}

/// The addresses of a host that a workspace may connect to: all of them public, or the host
/// allowed. Connecting to these (not resolving the name again) leaves no window for a name
/// that resolves to a public address when checked and a private one when used. A refusal
/// is written for the admin who set the host up.
pub async fn resolve_checked(
    host: &str,
    port: u16,
    allowed: &[String],
) -> Result<Vec<SocketAddr>, Text> {
    let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| {
                text!(
                    "api-access-resolve-timeout",
                    host = host,
                    seconds = RESOLVE_TIMEOUT.as_secs()
                )
            })?
            .map_err(|e| {
                text!(
                    "api-access-resolve-failed",
                    host = host,
                    error = e.to_string()
                )
            })?
            .collect(),
    };
    if addresses.is_empty() {
        return Err(text!("api-access-no-address", host = host));
    }
    if allowed.iter().any(|a| a == host) {
        return Ok(addresses);
    }
    if let Some(private) = addresses.iter().find(|a| !is_public(a.ip())) {
        return Err(text!(
            "api-access-private-host",
            host = host,
            address = private.ip().to_string()
        ));
    }
    Ok(addresses)
}

/// The hosts a workspace's admins allowed outbound calls to reach although they are private.
pub async fn allowed_hosts(
    db: &impl ConnectionTrait,
    workspace: WorkspaceId,
) -> Result<Vec<String>, DbErr> {
    let mut hosts: Vec<String> = outbound_host::Entity::find()
        .filter(outbound_host::Column::WorkspaceId.eq(workspace.0))
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.host)
        .collect();
    hosts.sort();
    Ok(hosts)
}

/// Replaces a workspace's allow list (entries already checked by [`parse_host`]), in one
/// transaction.
pub async fn set_allowed_hosts(
    db: &DatabaseConnection,
    workspace: WorkspaceId,
    hosts: &[String],
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    outbound_host::Entity::delete_many()
        .filter(outbound_host::Column::WorkspaceId.eq(workspace.0))
        .exec(&txn)
        .await?;
    if !hosts.is_empty() {
        outbound_host::Entity::insert_many(hosts.iter().map(|host| outbound_host::ActiveModel {
            workspace_id: Set(workspace.0),
            host: Set(host.clone()),
        }))
        .exec_without_returning(&txn)
        .await?;
    }
    txn.commit().await
}

/// Resolves names to their public addresses only.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let public: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The two HTTP clients of outbound calls: one that reaches public addresses only, and one for
/// the hosts an admin allowed. Neither follows redirects or uses a proxy.
#[derive(Clone)]
pub struct Outbound {
    public: reqwest::Client,
    allowed: reqwest::Client,
}

/// How long an outbound call may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);

impl Outbound {
    pub fn new() -> Result<Outbound, reqwest::Error> {
        let builder = || {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .timeout(TIMEOUT)
                .connect_timeout(Duration::from_secs(5))
                .pool_max_idle_per_host(64)
                .user_agent(concat!("Kith/", env!("CARGO_PKG_VERSION")))
        };
        Ok(Outbound {
            public: builder()
                .dns_resolver(std::sync::Arc::new(PublicOnly))
                .build()?,
            allowed: builder().build()?,
        })
    }

    /// The client for `url`: the open one when its host is allowed; else the public-only one,
    /// or none when the URL names a private address literally (the resolver never sees it).
    pub fn client_for(&self, url: &reqwest::Url, allowed: &[String]) -> Option<&reqwest::Client> {
        let host = url_host(url);
        if allowed.contains(&host) {
            return Some(&self.allowed);
        }
        match host.parse::<IpAddr>() {
            Ok(ip) if !is_public(ip) => None,
            _ => Some(&self.public),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = private.parse().expect("an address");
            assert!(!is_public(ip), "{private} must not count as public");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = public.parse().expect("an address");
            assert!(is_public(ip), "{public} is public");
        }
    }

    #[test]
    fn allowed_hosts_are_bare_names_or_addresses() {
        assert_eq!(
            parse_host(" Hooks.Example.COM "),
            Ok("hooks.example.com".into())
        );
        assert_eq!(parse_host("[::1]"), Ok("::1".into()));
        assert_eq!(parse_host("127.0.0.1"), Ok("127.0.0.1".into()));
        for bad in [
            "",
            "http://x.com",
            "x.com:80",
            "x.com/path",
            "-x.com",
            "a..b",
            "a b",
        ] {
            assert!(parse_host(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[tokio::test]
    async fn urls_to_private_addresses_need_the_host_allowed() {
        let none: Vec<String> = Vec::new();
        for bad in [
            "ftp://example.com/",
            "http://user:pw@example.com/",
            "http://127.0.0.1:9/hook",
            "http://[::1]/hook",
            "http://localhost/hook",
            "http://169.254.169.254/latest/meta-data",
            "not a url",
        ] {
            assert!(
                check_url(bad, &none).await.is_err(),
                "{bad} must be refused"
            );
        }
        let allowed = vec!["127.0.0.1".to_owned()];
        assert!(check_url("http://127.0.0.1:9/hook", &allowed).await.is_ok());
        let outbound = Outbound::new().expect("clients");
        let url = reqwest::Url::parse("http://127.0.0.1:9/").expect("a url");
        assert!(outbound.client_for(&url, &none).is_none());
        assert!(outbound.client_for(&url, &allowed).is_some());
    }
}
