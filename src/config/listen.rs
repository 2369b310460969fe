//! `[lmtp]` and `[http]`: what praxis listens on, and the loopback rule
//! (praxis listens only on loopback or a Unix socket; plain IMAP only to
//! loopback).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Config, Problem};

/// Default largest message accepted over LMTP, in bytes.
pub const DEFAULT_MAX_SIZE: usize = 50 * 1024 * 1024;

/// `[lmtp]`: an LMTP listener the MTA delivers list mail to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LmtpConfig {
    /// `127.0.0.1:8024`-style loopback address, or `unix:/path`.
    pub listen: String,
    /// Largest message accepted, in KB (default 51200: 50 MB); larger ones get 552.
    #[serde(default)]
    pub max_message_kb: Option<u64>,
}

impl LmtpConfig {
    /// The size limit in bytes.
    pub fn max_size(&self) -> usize {
        self.max_message_kb
            .map(|k| (k as usize).saturating_mul(1024))
            .unwrap_or(DEFAULT_MAX_SIZE)
    }
}

/// `[http]`: the web (archive, members' pages, one-click unsubscribe),
/// listening on loopback behind the https front end that `public_url` names.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// `127.0.0.1:8025`-style loopback address, or `unix:/path`: TLS and the
    /// public name belong to the front end (nginx, Caddy) that proxies here.
    pub listen: String,
    /// The address people reach the web at (`https://lists.example.org`):
    /// the start of every link praxis mails (member pages, the archive,
    /// attachments, unsubscribe), and the origin forms must come from. A
    /// community's `delivery.base_url` overrides it for that community.
    #[serde(default)]
    pub public_url: Option<String>,
}

/// Whether `url` may be the web's public address: https, or plain http to
/// a loopback host (a test or a demo on this machine).
pub fn is_public_url(url: &str) -> bool {
    let rest = if let Some(r) = url.strip_prefix("https://") {
        r
    } else if let Some(r) = url.strip_prefix("http://") {
        let host = r.split('/').next().unwrap_or("");
        let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
        if !is_loopback_host(host) {
            return false;
        }
        r
    } else {
        return false;
    };
    let host = rest.split('/').next().unwrap_or("");
    !host.is_empty() && !url.contains(char::is_whitespace) && !url.contains(['?', '#'])
}

/// Whether a host name or address is this machine's loopback.
pub(super) fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// Where the LMTP listener binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A loopback TCP address.
    Tcp(SocketAddr),
    /// A Unix socket path.
    Unix(PathBuf),
}

/// Parses `lmtp.listen`: a loopback socket address or `unix:/path`.
pub fn parse_listen(s: &str) -> Result<Listen, String> {
    if let Some(path) = s.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("`unix:` needs a socket path".into());
        }
        return Ok(Listen::Unix(PathBuf::from(path)));
    }
    let addr: SocketAddr = s
        .parse()
        .map_err(|_| format!("`{s}` is not an address:port"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "`{s}` is not a loopback address; praxis listens only on loopback or a Unix socket (LMTP has no authentication; put a TLS front end before HTTP)"
        ));
    }
    Ok(Listen::Tcp(addr))
}

/// The checks for `[lmtp]` and `[http]`.
pub(super) fn validate(config: &Config) -> Vec<Problem> {
    let mut p = Vec::new();
    if let Some(lmtp) = &config.lmtp
        && let Err(e) = parse_listen(&lmtp.listen)
    {
        p.push(Problem::new(
            "lmtp.listen",
            e,
            "use 127.0.0.1:PORT or unix:/path",
        ));
    }
    if let Some(http) = &config.http {
        if let Err(e) = parse_listen(&http.listen) {
            p.push(Problem::new(
                "http.listen",
                e,
                "use 127.0.0.1:PORT or unix:/path, behind your https front end",
            ));
        }
        if !config.delivery.link_secret().is_configured() {
            p.push(Problem::new(
                "http",
                "the web has no key to sign and check links, sessions and forms with",
                "set delivery.link_secret_env or delivery.link_secret_file",
            ));
        }
        if let Some(url) = &http.public_url
            && !is_public_url(url)
        {
            p.push(Problem::new(
                "http.public_url",
                format!("`{url}` is not an https URL"),
                "use the https address of the web front end, e.g. https://lists.example.org (plain http only to a loopback host)",
            ));
        }
    }
    p
}
