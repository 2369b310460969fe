//! Config for outgoing mail: `[delivery]` (retries, pacing, link signing),
//! `[bounce]` (scores, disabling, probes), and each community's
//! `[community.delivery]` (list headers, Reply-To, DMARC, footer, rate) and
//! `[community.dkim]` (signing key).
//!
//! One file so the sender's keys live in one place; the checks here are
//! called from [`super::Config::validate`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{CommunityConfig, Config, Problem, Secret, check_private_file, split_address};

/// A length of time written with a unit: `500ms`, `30s`, `5m`, `4h`, `4d`.
///
/// Durations in the config are words, not bare numbers, so nobody has to
/// guess whether `retry_first = 300` means seconds or minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl Span {
    /// Seconds.
    pub const fn secs(n: u64) -> Span {
        Span(Duration::from_secs(n))
    }

    /// Parses `500ms`, `30s`, `5m`, `4h` or `4d` (a whole number and a unit).
    pub fn parse(s: &str) -> Result<Span, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let bad = || {
            format!("`{s}` is not a duration; write a number and a unit: 500ms, 30s, 5m, 4h or 4d")
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        let d = match unit.trim() {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.saturating_mul(60)),
            "h" => Duration::from_secs(n.saturating_mul(3600)),
            "d" => Duration::from_secs(n.saturating_mul(86_400)),
            _ => return Err(bad()),
        };
        Ok(Span(d))
    }

    /// The duration.
    pub fn duration(self) -> Duration {
        self.0
    }

    /// Whole seconds, rounded up so that a sub-second span is still a delay.
    pub fn whole_secs(self) -> i64 {
        let s = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        i64::try_from(s).unwrap_or(i64::MAX)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        let (n, unit) = if !ms.is_multiple_of(1000) {
            (ms, "ms")
        } else {
            let s = ms / 1000;
            if s != 0 && s.is_multiple_of(86_400) {
                (s / 86_400, "d")
            } else if s != 0 && s.is_multiple_of(3600) {
                (s / 3600, "h")
            } else if s != 0 && s.is_multiple_of(60) {
                (s / 60, "m")
            } else {
                (s, "s")
            }
        };
        write!(f, "{n}{unit}")
    }
}

impl Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Span::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// `[delivery]`: how the sender takes, retries and paces deliveries.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DeliveryConfig {
    /// Wait before the first retry of a temporary failure; doubles each time
    /// (like an MTA's queue: minutes first, so a relay hiccup costs little).
    pub retry_first: Span,
    /// The longest wait between retries, so a long outage is still probed
    /// every few hours rather than every few days.
    pub retry_max: Span,
    /// After this long failing temporarily a delivery fails for good (RFC
    /// 5321 §4.5.4.1 suggests 4–5 days).
    pub give_up_after: Span,
    /// Deliveries taken from the database per query; bounds the sender's memory.
    pub batch: u32,
    /// How often an idle sender looks for new work. The command line and the
    /// daemon share only the database, so a new post is seen at the next poll.
    pub poll: Span,
    /// On shutdown, how long transactions in flight may take to finish;
    /// past it they are abandoned and their deliveries stay pending.
    pub shutdown_grace: Span,
    /// Environment variable holding the key that signs the per-member https
    /// unsubscribe links (needed when a community sets `delivery.base_url`).
    pub link_secret_env: Option<String>,
    /// File (mode 0600) holding that key.
    pub link_secret_file: Option<PathBuf>,
    /// Deliver every copy into this Maildir (relative to the config file)
    /// instead of handing it to `[smtp]`: for `praxis demo`, staging and
    /// trying a template change on real members without mailing them.
    pub maildir: Option<PathBuf>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            retry_first: Span::secs(300),
            retry_max: Span::secs(4 * 3600),
            give_up_after: Span::secs(4 * 86_400),
            batch: 200,
            poll: Span::secs(2),
            shutdown_grace: Span::secs(15),
            link_secret_env: None,
            link_secret_file: None,
            maildir: None,
        }
    }
}

impl DeliveryConfig {
    /// Where the unsubscribe-link key comes from.
    pub fn link_secret(&self) -> Secret {
        Secret {
            env: self.link_secret_env.clone(),
            file: self.link_secret_file.clone(),
        }
    }
}

/// `[bounce]`: how bounces turn into a per-member score, and what the score does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BounceConfig {
    /// Past this score a member's delivery is disabled and the owners told.
    pub threshold: f64,
    /// Score added by a permanent failure (5xx at send time, a failed DSN, giving up).
    pub permanent: f64,
    /// Score added by a temporary one (a "delayed" DSN).
    pub temporary: f64,
    /// Bounces closer together than this count once, so one bad day (a full
    /// mailbox during a busy week) does not disable a member by itself.
    pub interval: Span,
    /// A score whose last bounce is older than this starts again from zero.
    pub stale_after: Span,
    /// Whether disabled members are probed and re-enabled when a probe goes through.
    pub probes: bool,
    /// How long after the last bounce a disabled member is sent a probe.
    pub probe_after: Span,
    /// How long an accepted probe must stay unbounced before the member is re-enabled.
    pub probe_wait: Span,
}

impl Default for BounceConfig {
    fn default() -> Self {
        Self {
            threshold: 5.0,
            permanent: 1.0,
            temporary: 0.5,
            interval: Span::secs(86_400),
            stale_after: Span::secs(7 * 86_400),
            probes: true,
            probe_after: Span::secs(3 * 86_400),
            probe_wait: Span::secs(86_400),
        }
    }
}

/// Where replies to a distributed post go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyTo {
    /// `Reply-To:` the list: replies reach the community (the usual choice
    /// for a community of practice, where responses are the point).
    List,
    /// `Reply-To:` the author: replies are private.
    Author,
    /// No Reply-To is added (the author's own Reply-To, if any, is kept).
    None,
}

/// When the author's From is replaced by the list's (DMARC, RFC 7489).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DmarcMunge {
    /// Always: `Name via Community <list address>`.
    Always,
    /// Never: the author's From is kept (receivers may reject it).
    Never,
    /// When the author's domain publishes p=reject or p=quarantine.
    Auto,
}

/// `[community.delivery]`: how a community's outgoing mail looks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CommunityDelivery {
    /// The subject prefix; unset means `[slug]`, "" means none.
    pub subject_prefix: Option<String>,
    /// Where replies go.
    pub reply_to: ReplyTo,
    /// When the From is rewritten for DMARC.
    pub dmarc: DmarcMunge,
    /// An https base URL: adds a one-click (RFC 8058) unsubscribe link per member.
    pub base_url: Option<String>,
    /// The archive's URL, for List-Archive.
    pub archive_url: Option<String>,
    /// Whether each copy ends with a footer naming the member and how to leave.
    pub footer: bool,
    /// Messages per second for a relay that throttles; 0 means no limit.
    pub rate_limit: f64,
}

impl Default for CommunityDelivery {
    fn default() -> Self {
        Self {
            subject_prefix: None,
            reply_to: ReplyTo::List,
            dmarc: DmarcMunge::Auto,
            base_url: None,
            archive_url: None,
            footer: true,
            rate_limit: 0.0,
        }
    }
}

/// `[community.dkim]`: sign this community's mail (RFC 6376).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimConfig {
    /// The selector: the key is published at `SELECTOR._domainkey.DOMAIN`.
    pub selector: String,
    /// PEM private key (RSA or Ed25519, PKCS#1 or PKCS#8), mode 0600.
    pub key_file: PathBuf,
    /// The signing domain (d=); the list address's domain when unset.
    pub domain: Option<String>,
}

impl CommunityConfig {
    /// The subject prefix in use ("" when none).
    pub fn subject_prefix(&self) -> String {
        match &self.delivery.subject_prefix {
            Some(p) => p.clone(),
            None => format!("[{}]", self.slug),
        }
    }
}

fn valid_domain(d: &str) -> bool {
    split_address(&format!("x@{d}")).is_some()
}

fn valid_selector(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// The checks for every key in this file.
pub(super) fn validate(config: &Config, p: &mut Vec<Problem>) {
    let mut push = |key: String, message: String, fix: &str| {
        p.push(Problem {
            key,
            message,
            fix: fix.to_string(),
        })
    };
    let d = &config.delivery;
    for (key, span) in [
        ("smtp.timeout", config.smtp.timeout),
        ("delivery.retry_first", d.retry_first),
        ("delivery.poll", d.poll),
        ("delivery.give_up_after", d.give_up_after),
    ] {
        if span.0.is_zero() {
            push(
                key.into(),
                "is 0".into(),
                "use a positive duration such as 5m",
            );
        }
    }
    if d.retry_max < d.retry_first {
        push(
            "delivery.retry_max".into(),
            format!(
                "{} is shorter than retry_first ({})",
                d.retry_max, d.retry_first
            ),
            "make retry_max at least retry_first, e.g. 4h",
        );
    }
    if !(1..=10_000).contains(&d.batch) {
        push(
            "delivery.batch".into(),
            format!("{} is out of range", d.batch),
            "use 1 to 10000 (200 is usual)",
        );
    }
    if d.link_secret_env.is_some() && d.link_secret_file.is_some() {
        push(
            "delivery.link_secret_env".into(),
            "both link_secret_env and link_secret_file are set".into(),
            "keep one of them",
        );
    }
    let b = &config.bounce;
    if !(b.threshold.is_finite() && b.threshold > 0.0) {
        push(
            "bounce.threshold".into(),
            format!("{} is not a positive number", b.threshold),
            "use a score such as 5.0",
        );
    }
    for (key, w) in [
        ("bounce.permanent", b.permanent),
        ("bounce.temporary", b.temporary),
    ] {
        if !(w.is_finite() && w >= 0.0) {
            push(
                key.into(),
                format!("{w} is not a number of at least 0"),
                "use a weight such as 1.0 (0 ignores such bounces)",
            );
        }
    }

    let mut wants_links = None;
    for (i, c) in config.communities.iter().enumerate() {
        let at = if c.slug.is_empty() {
            format!("community[{i}]")
        } else {
            format!("community[{}]", c.slug)
        };
        let cd = &c.delivery;
        if let Some(prefix) = &cd.subject_prefix
            && (prefix.chars().any(char::is_control) || prefix.chars().count() > 40)
        {
            push(
                format!("{at}.delivery.subject_prefix"),
                "has control characters or is longer than 40 characters".into(),
                "use a short tag such as \"[health]\", or \"\" for none",
            );
        }
        if let Some(url) = &cd.base_url {
            wants_links.get_or_insert_with(|| format!("{at}.delivery.base_url"));
            if !super::listen::is_public_url(url) {
                push(
                    format!("{at}.delivery.base_url"),
                    format!("`{url}` is not an https URL"),
                    "use the https address of the web front end, e.g. https://lists.example.org",
                );
            }
        }
        if let Some(url) = &cd.archive_url
            && !is_url(url, &["https://", "http://"])
        {
            push(
                format!("{at}.delivery.archive_url"),
                format!("`{url}` is not an http(s) URL"),
                "use the archive's address, e.g. https://lists.example.org/health/",
            );
        }
        if !(cd.rate_limit.is_finite() && cd.rate_limit >= 0.0) {
            push(
                format!("{at}.delivery.rate_limit"),
                format!("{} is not a number of at least 0", cd.rate_limit),
                "use messages per second, e.g. 10, or 0 for no limit",
            );
        }
        if let Some(dkim) = &c.dkim {
            if !valid_selector(&dkim.selector) {
                push(
                    format!("{at}.dkim.selector"),
                    format!("`{}` is not a DKIM selector", dkim.selector),
                    "use letters, digits and dashes, e.g. \"praxis2026\"",
                );
            }
            if let Some(domain) = &dkim.domain
                && !valid_domain(domain)
            {
                push(
                    format!("{at}.dkim.domain"),
                    format!("`{domain}` is not a domain"),
                    "use the domain the key is published under, e.g. example.org",
                );
            }
            if let Err(e) = check_private_file(&config.resolve(&dkim.key_file)) {
                push(
                    format!("{at}.dkim.key_file"),
                    e,
                    "point key_file at a PEM private key readable only by praxis (chmod 600)",
                );
            }
        }
    }
    if let Some(key) = wants_links
        && !d.link_secret().is_configured()
    {
        push(
            "delivery.link_secret_env".into(),
            format!("{key} asks for signed unsubscribe links but no key signs them"),
            "add link_secret_env = \"VAR\" or link_secret_file = \"/path\" to [delivery]",
        );
    }
}

fn is_url(s: &str, schemes: &[&str]) -> bool {
    schemes.iter().any(|scheme| {
        s.strip_prefix(scheme).is_some_and(|rest| {
            let host = rest.split('/').next().unwrap_or("");
            !host.is_empty()
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "<>\"".contains(c))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn spans_read_and_print_with_units() {
        assert_eq!(Span::parse("500ms").unwrap().0, Duration::from_millis(500));
        assert_eq!(Span::parse("30s").unwrap(), Span::secs(30));
        assert_eq!(Span::parse("5m").unwrap(), Span::secs(300));
        assert_eq!(Span::parse("4h").unwrap(), Span::secs(4 * 3600));
        assert_eq!(Span::parse(" 4d ").unwrap(), Span::secs(4 * 86_400));
        for bad in ["", "5", "m", "5 minutes", "-1s", "1.5h"] {
            assert!(Span::parse(bad).is_err(), "{bad}");
        }
        for s in ["500ms", "30s", "5m", "4h", "4d", "0s", "90s"] {
            assert_eq!(Span::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Span::parse("1500ms").unwrap().whole_secs(), 2);
    }

    fn parse(text: &str) -> (Config, Vec<Problem>) {
        Config::parse(text, Path::new("/nonexistent/praxis.toml"), &|_| None)
    }

    #[test]
    fn delivery_defaults_are_an_mta_s() {
        let (c, problems) = parse(
            "[[community]]\nslug = \"health\"\nname = \"H\"\naddress = \"list@example.test\"\n",
        );
        assert!(problems.is_empty(), "{problems:#?}");
        assert_eq!(c.delivery.retry_first, Span::secs(300));
        assert_eq!(c.delivery.give_up_after, Span::secs(4 * 86_400));
        assert_eq!(c.bounce.threshold, 5.0);
        let h = &c.communities[0];
        assert_eq!(h.subject_prefix(), "[health]");
        assert_eq!(h.delivery.reply_to, ReplyTo::List);
        assert_eq!(h.delivery.dmarc, DmarcMunge::Auto);
        assert!(h.dkim.is_none());
    }

    #[test]
    fn delivery_problems_name_their_keys() {
        let text = r#"
[delivery]
retry_first = "10m"
retry_max = "1m"
poll = "soon"
batch = 0

[bounce]
threshold = 0.0
permanent = -1.0

[[community]]
slug = "health"
name = "H"
address = "list@example.test"

[community.delivery]
reply_to = "everyone"
base_url = "http://lists.example.test"
archive_url = "ftp://x"
rate_limit = -2.0
subject_prefx = "[h]"

[community.dkim]
selector = "bad selector"
key_file = "/nonexistent/dkim.pem"
"#;
        let (_, problems) = parse(text);
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        for expected in [
            "delivery.retry_max",
            "delivery.poll",
            "delivery.batch",
            "bounce.threshold",
            "bounce.permanent",
            "community[health].delivery.reply_to",
            "community[health].delivery.base_url",
            "community[health].delivery.archive_url",
            "community[health].delivery.rate_limit",
            "community[health].delivery.subject_prefx",
            "community[health].dkim.selector",
            "community[health].dkim.key_file",
            "delivery.link_secret_env",
        ] {
            assert!(
                keys.contains(&expected),
                "{expected} missing from {keys:#?}"
            );
        }
    }

    #[test]
    fn a_dkim_key_readable_by_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("dkim.pem");
        std::fs::write(&key, "not checked here").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let text = format!(
            "[[community]]\nslug = \"health\"\nname = \"H\"\naddress = \"list@example.test\"\n\
             [community.dkim]\nselector = \"s1\"\nkey_file = \"{}\"\n",
            key.display()
        );
        let (_, problems) = parse(&text);
        let p = problems
            .iter()
            .find(|p| p.key == "community[health].dkim.key_file")
            .expect("a 0644 key is a problem");
        assert!(p.message.contains("chmod 600"), "{}", p.message);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (_, problems) = parse(&text);
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
