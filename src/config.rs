//! TOML configuration: defaults, then the file, then `PRAXIS_*` environment
//! variables; `check` reports every problem at once, each with its key path.
//!
//! Invariants:
//! - No secret is ever read into `Config`: the file names an environment
//!   variable (`*_env`) or a file (`*_file`), resolved only when needed by
//!   [`Secret::resolve`].
//! - An unknown key is a problem, never silently ignored.
//! - Each section is deserialised on its own, so one bad value does not hide
//!   the problems in the others.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::digest::schedule::Schedule;

mod delivery;
pub use delivery::{
    BounceConfig, CommunityDelivery, DeliveryConfig, DkimConfig, DmarcMunge, ReplyTo, Span,
};

/// The config file used when neither `--config` nor `PRAXIS_CONFIG` is given.
pub const DEFAULT_PATH: &str = "config/praxis.toml";

/// The default config, compiled in: what `praxis demo` and the tests start from.
pub const EMBEDDED_DEFAULT: &str = include_str!("../config/praxis.toml");

/// Environment variables that override one key each (the third layer).
const ENV_OVERRIDES: &[(&str, &str, &str)] = &[
    ("PRAXIS_DATABASE_PATH", "database", "path"),
    ("PRAXIS_SMTP_HOST", "smtp", "host"),
    ("PRAXIS_SMTP_PORT", "smtp", "port"),
    ("PRAXIS_SMTP_TLS", "smtp", "tls"),
    ("PRAXIS_SMTP_CA_FILE", "smtp", "ca_file"),
    ("PRAXIS_SMTP_USERNAME", "smtp", "username"),
    ("PRAXIS_SMTP_CONNECTIONS", "smtp", "connections"),
    ("PRAXIS_LMTP_LISTEN", "lmtp", "listen"),
];

/// One problem found in a config, with where it is and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The key path, e.g. `community[health].policy.first_post`.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// What to write instead.
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (fix: {})", self.key, self.message, self.fix)
    }
}

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error(
        "cannot read config file {path}: {source}; pass --config PATH, set PRAXIS_CONFIG, or copy config/praxis.toml from the praxis source"
    )]
    Read {
        /// The path tried.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file was read but has problems.
    #[error("{} in {}:\n{}\nrun `praxis check` after fixing them", plural(problems.len(), "config problem"), path.display(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The config file.
        path: PathBuf,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Transport security for a client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// Plain text: allowed only to loopback addresses for IMAP.
    #[default]
    None,
    /// Plain connection upgraded with STARTTLS.
    Starttls,
    /// TLS from the first byte.
    Tls,
}

/// Where a secret comes from: an environment variable or a file, never inline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secret {
    /// The name of the environment variable holding it.
    pub env: Option<String>,
    /// A file whose first line is it.
    pub file: Option<PathBuf>,
}

impl Secret {
    /// Whether a source is configured at all.
    pub fn is_configured(&self) -> bool {
        self.env.is_some() || self.file.is_some()
    }

    /// Reads the secret now. `key` names the config key in errors; the
    /// value never appears in an error.
    pub fn resolve(&self, key: &str) -> Result<Option<String>, String> {
        if let Some(var) = &self.env {
            return match std::env::var(var) {
                Ok(v) => Ok(Some(v)),
                Err(_) => Err(format!(
                    "{key}_env names the environment variable {var}, which is not set; export it before starting praxis"
                )),
            };
        }
        if let Some(path) = &self.file {
            check_private_file(path).map_err(|e| format!("{key}_file: {e}"))?;
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("{key}_file: cannot read {}: {e}", path.display()))?;
            return Ok(Some(text.lines().next().unwrap_or("").to_string()));
        }
        Ok(None)
    }
}

/// Refuses a secret file that other users can read.
pub fn check_private_file(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta =
            std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "{} is readable by other users (mode {:o}); run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            ));
        }
    }
    Ok(())
}

/// `[database]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// The SQLite file, relative to the config file's folder.
    pub path: PathBuf,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            path: "praxis.db".into(),
        }
    }
}

/// `[smtp]`: the relay everything is sent through.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SmtpConfig {
    /// Relay host name or address.
    pub host: String,
    /// Relay port.
    pub port: u16,
    /// Transport security to the relay.
    pub tls: Tls,
    /// Login name, when the relay wants authentication.
    pub username: Option<String>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// File holding the password (mode 0600).
    pub password_file: Option<PathBuf>,
    /// A PEM file of certificates trusted beside the system's roots when
    /// `tls` is `starttls` or `tls`: the CA of an internal relay (or its
    /// own certificate), so a private relay needs no system-wide change.
    /// Relative to the config file's folder.
    pub ca_file: Option<PathBuf>,
    /// Concurrent SMTP connections.
    pub connections: u32,
    /// How long one SMTP command may take before the connection counts as
    /// failed (and the delivery is retried).
    pub timeout: Span,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 25,
            tls: Tls::None,
            username: None,
            password_env: None,
            password_file: None,
            ca_file: None,
            connections: 4,
            timeout: Span::secs(60),
        }
    }
}

impl SmtpConfig {
    /// Where the relay password comes from.
    pub fn password(&self) -> Secret {
        Secret {
            env: self.password_env.clone(),
            file: self.password_file.clone(),
        }
    }
}

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
            .unwrap_or(crate::ingest::lmtp::DEFAULT_MAX_SIZE)
    }
}

/// `[http]`: the one-click unsubscribe endpoint (RFC 8058), listening on
/// loopback behind the https front end that `delivery.base_url` names.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// `127.0.0.1:8025`-style loopback address, or `unix:/path`: TLS and the
    /// public name belong to the front end (nginx, Caddy) that proxies
    /// `BASE_URL/unsubscribe/...` here.
    pub listen: String,
}

/// `[community.imap]`: the mailbox a community's mail is read from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ImapConfig {
    /// Server host name or address.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Transport security; plain only to loopback.
    pub tls: Tls,
    /// Login name.
    pub username: String,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// File holding the password (mode 0600).
    pub password_file: Option<PathBuf>,
    /// The folder watched.
    pub folder: String,
    /// A PEM file of certificates trusted beside the system's roots (a
    /// private CA, or the server's own certificate), for a mail server
    /// whose certificate no public CA signed. Relative to the config
    /// file's folder.
    pub ca_file: Option<PathBuf>,
    /// After a message is stored, move it to this folder (else it is only
    /// flagged \Seen). Never deleted either way.
    pub move_to: Option<String>,
    /// How often to look for new mail when the server has no IDLE.
    pub poll: Span,
    /// How long one IDLE lasts before it is renewed (RFC 2177: under 29 minutes).
    pub idle_renew: Span,
}

impl Default for ImapConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 993,
            tls: Tls::Tls,
            username: String::new(),
            password_env: None,
            password_file: None,
            folder: "INBOX".into(),
            ca_file: None,
            move_to: None,
            poll: Span::secs(60),
            idle_renew: Span::secs(25 * 60),
        }
    }
}

impl ImapConfig {
    /// Where the IMAP password comes from.
    pub fn password(&self) -> Secret {
        Secret {
            env: self.password_env.clone(),
            file: self.password_file.clone(),
        }
    }
}

/// First-post moderation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FirstPost {
    /// A new member's first post waits for a moderator.
    Hold,
    /// New members post freely.
    Accept,
}

/// What happens to a nonmember's post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Nonmember {
    /// Held for a moderator.
    Hold,
    /// Refused with a notice.
    Reject,
    /// Dropped silently (kept in the database).
    Discard,
}

/// What happens to attachments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Attachments {
    /// Passed through.
    Allow,
    /// Removed from what is distributed (kept in the raw post).
    Strip,
    /// The post is held.
    Hold,
}

/// How new members join by mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subscription {
    /// Confirming by mail is enough.
    Confirm,
    /// After confirming, a moderator approves (`praxis members set --status active`).
    Approve,
}

/// How moderators hear about held posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeratorNotices {
    /// A notice for every hold.
    Each,
    /// One summary a day of what is waiting.
    Daily,
    /// None: moderators watch `praxis queue`.
    None,
}

/// `[community.policy]`: the posting policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyConfig {
    /// First-post moderation.
    pub first_post: FirstPost,
    /// Nonmembers' posts.
    pub nonmember: Nonmember,
    /// Hold everything.
    pub emergency: bool,
    /// Largest post accepted without a hold, in KB.
    pub max_size_kb: u64,
    /// Attachment policy.
    pub attachments: Attachments,
    /// How new members join by mail.
    pub subscription: Subscription,
    /// Hold posts that fail DMARC, as judged by the Authentication-Results
    /// header this server (authserv-id) adds, e.g. OpenDMARC at the MTA.
    /// Unset: no DMARC check.
    pub dmarc_authserv_id: Option<String>,
    /// How moderators hear about held posts.
    pub moderator_notices: ModeratorNotices,
    /// Automatic replies (acknowledgements, rejections, command replies,
    /// confirmations) one address gets per hour; past it, its mail is still
    /// stored and handled but answered no more, so a forged sender or a
    /// vacation responder cannot turn the list into a mail cannon. 0: no limit.
    pub sender_rate: u32,
    /// Messages from one address per hour past which each further post is
    /// held as `rate-limited`: no acknowledgement, no notice per post, one
    /// flood notice to the moderators. Nothing is dropped. 0: no limit.
    pub sender_flood: u32,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            first_post: FirstPost::Hold,
            nonmember: Nonmember::Hold,
            emergency: false,
            max_size_kb: 5120,
            attachments: Attachments::Allow,
            subscription: Subscription::Confirm,
            dmarc_authserv_id: None,
            moderator_notices: ModeratorNotices::Each,
            sender_rate: 10,
            sender_flood: 30,
        }
    }
}

/// `[community.digest]`: when digests go out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DigestConfig {
    /// `daily HH:MM`, `weekly DAY HH:MM` or a cron expression, in the community's time zone.
    pub schedule: String,
    /// Send early once this many posts have accrued.
    pub max_posts: u32,
    /// Send early once the accrued posts pass this many KB (raw size), so a
    /// busy day's digest stays a readable size. None: no size threshold.
    pub max_kb: Option<u32>,
}

impl Default for DigestConfig {
    fn default() -> Self {
        Self {
            schedule: "daily 07:00".into(),
            max_posts: 50,
            max_kb: None,
        }
    }
}

/// `[[community]]`: one list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct CommunityConfig {
    /// Short name used on the command line and in the subject prefix.
    pub slug: String,
    /// Full name shown to people.
    pub name: String,
    /// The list's posting address.
    pub address: String,
    /// IANA time zone for deadlines and schedules.
    pub timezone: String,
    /// Working days a query has before its Consolidated Reply is due.
    pub reply_within_working_days: u32,
    /// Moderators are reminded when a query has this many working days left
    /// (0: only when overdue), and again once it is overdue.
    pub remind_working_days_before: u32,
    /// Days that are not working days.
    pub weekend: Vec<String>,
    /// Dates (YYYY-MM-DD) that are not working days.
    pub holidays: Vec<String>,
    /// The IMAP mailbox, when the community is fed over IMAP.
    pub imap: Option<ImapConfig>,
    /// The posting policy.
    pub policy: PolicyConfig,
    /// The digest schedule.
    pub digest: DigestConfig,
    /// A folder whose files replace built-in templates at the same path
    /// (`notices/reject.hbs`, `digest/digest.html.hbs`, ...), relative to the
    /// config file's folder.
    pub templates: Option<PathBuf>,
    /// How outgoing mail looks: prefix, Reply-To, DMARC, footer, links, rate.
    pub delivery: CommunityDelivery,
    /// DKIM signing, when a key is configured.
    pub dkim: Option<DkimConfig>,
}

impl Default for CommunityConfig {
    fn default() -> Self {
        Self {
            slug: String::new(),
            name: String::new(),
            address: String::new(),
            timezone: "UTC".into(),
            reply_within_working_days: 10,
            remind_working_days_before: 2,
            weekend: vec!["sat".into(), "sun".into()],
            holidays: Vec::new(),
            imap: None,
            policy: PolicyConfig::default(),
            digest: DigestConfig::default(),
            templates: None,
            delivery: CommunityDelivery::default(),
            dkim: None,
        }
    }
}

impl CommunityConfig {
    /// The community's time zone; UTC when the name is invalid (which `check` reports).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::UTC)
    }

    /// The local part and domain of the list address.
    pub fn address_parts(&self) -> Option<(&str, &str)> {
        split_address(&self.address)
    }

    /// A community's template overrides: (template name, text) for every file
    /// in its `templates` folder, or the problems found (unknown files,
    /// unreadable files, templates that do not compile).
    pub fn template_overrides(&self) -> Result<Vec<(String, String)>, Vec<Problem>> {
        let c = self;
        let Some(dir) = c.templates.clone() else {
            return Ok(Vec::new());
        };
        let key = format!("community[{}].templates", c.slug);
        let problem = |message: String, fix: &str| Problem {
            key: key.clone(),
            message,
            fix: fix.to_string(),
        };
        if !dir.is_dir() {
            return Err(vec![problem(
                format!("{} is not a folder", dir.display()),
                "create it, or remove the key to use the built-in templates",
            )]);
        }
        let mut files = Vec::new();
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            let entries = std::fs::read_dir(&d).map_err(|e| {
                vec![problem(
                    format!("cannot read {}: {e}", d.display()),
                    "check its permissions",
                )]
            })?;
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "hbs") {
                    files.push(p);
                }
            }
        }
        files.sort();
        let known: Vec<&str> = crate::render::BUILT_IN.iter().map(|(_, f)| *f).collect();
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for f in files {
            let rel = f
                .strip_prefix(&dir)
                .unwrap_or(&f)
                .to_string_lossy()
                .replace('\\', "/");
            let Some(name) = crate::render::name_for_file(&rel) else {
                problems.push(problem(
                    format!("{rel} does not replace any template"),
                    &format!("name it as one of: {}", known.join(", ")),
                ));
                continue;
            };
            match std::fs::read_to_string(&f) {
                Ok(text) => match crate::render::validate(name, &text) {
                    Ok(()) => out.push((name.to_string(), text)),
                    Err(e) => problems.push(problem(
                        format!("{rel}: {}", e.detail),
                        "correct the handlebars syntax",
                    )),
                },
                Err(e) => problems.push(problem(
                    format!("cannot read {rel}: {e}"),
                    "check its permissions",
                )),
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }

    /// The templates a community's mail is written with: the built-ins with
    /// its overrides. A folder that became invalid since `check` falls back
    /// to the built-ins, with a warning.
    pub fn templates(&self) -> crate::render::Templates {
        let c = self;
        match self
            .template_overrides()
            .map(|o| crate::render::Templates::with_overrides(&o))
        {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                tracing::warn!("community {}: {e}; using the built-in templates", c.slug);
                crate::render::Templates::new()
            }
            Err(problems) => {
                for p in problems {
                    tracing::warn!("{p}; using the built-in templates");
                }
                crate::render::Templates::new()
            }
        }
    }

    /// A community's override of one template, if it has a valid one.
    pub fn template_override(&self, name: &str) -> Option<String> {
        self.template_overrides()
            .ok()?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
    }
}

/// A whole configuration.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Config {
    /// The config file this came from (empty for the embedded default).
    #[serde(skip)]
    pub path: PathBuf,
    /// `[database]`.
    pub database: DatabaseConfig,
    /// `[smtp]`.
    pub smtp: SmtpConfig,
    /// `[lmtp]`, when praxis listens for LMTP.
    pub lmtp: Option<LmtpConfig>,
    /// `[http]`, when praxis receives one-click unsubscribes itself.
    pub http: Option<HttpConfig>,
    /// `[moderators]`: login name → the name the audit log records for
    /// decisions made from that login (when `--as` is not given).
    pub moderators: BTreeMap<String, String>,
    /// `[delivery]`: retries and pacing of outgoing mail.
    pub delivery: DeliveryConfig,
    /// `[bounce]`: bounce scores and what they do.
    pub bounce: BounceConfig,
    /// Every `[[community]]`, in file order.
    #[serde(rename = "community")]
    pub communities: Vec<CommunityConfig>,
}

impl Config {
    /// Every secret file the config refers to, with the key naming it: the
    /// SMTP and IMAP password files, the link secret, the DKIM keys (checked
    /// with their other settings) and the token key beside the database
    /// (`<db>.secret`, which praxis creates mode 0600).
    pub fn key_files(&self) -> Vec<(String, PathBuf)> {
        let mut files = Vec::new();
        if let Some(f) = &self.smtp.password_file {
            files.push(("smtp.password_file".to_string(), self.resolve(f)));
        }
        if let Some(f) = &self.delivery.link_secret_file {
            files.push(("delivery.link_secret_file".to_string(), self.resolve(f)));
        }
        for c in &self.communities {
            if let Some(f) = c.imap.as_ref().and_then(|i| i.password_file.as_ref()) {
                files.push((
                    format!("community[{}].imap.password_file", c.slug),
                    self.resolve(f),
                ));
            }
        }
        let mut token = self.database_path().into_os_string();
        token.push(".secret");
        files.push(("database.path".to_string(), PathBuf::from(token)));
        files
    }

    /// Reads and checks a config file; any problem is an error listing them all.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let (config, problems) = Self::load_unchecked(path)?;
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    /// Reads a config file and returns it with every problem found.
    pub fn load_unchecked(path: &Path) -> Result<(Config, Vec<Problem>), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let env = |k: &str| std::env::var(k).ok();
        Ok(Self::parse(&text, path, &env))
    }

    /// Parses config text. `path` is where it came from (relative paths in it
    /// are resolved against its folder); `env` supplies the third layer.
    pub fn parse(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> (Config, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut config = Config {
            path: path.to_path_buf(),
            ..Config::default()
        };
        let mut root: toml::Table = match text.parse() {
            Ok(t) => t,
            Err(e) => {
                problems.push(Problem {
                    key: "(file)".into(),
                    message: format!("not valid TOML: {}", e.to_string().trim()),
                    fix: "correct the syntax at the line shown".into(),
                });
                return (config, problems);
            }
        };
        apply_env(&mut root, env, &mut problems);

        for key in root.keys() {
            if ![
                "database",
                "smtp",
                "lmtp",
                "http",
                "delivery",
                "bounce",
                "moderators",
                "community",
            ]
            .contains(&key.as_str())
            {
                problems.push(unknown_key(key));
            }
        }
        if let Some(v) = root.remove("database") {
            config.database = section(v, "database", &mut problems).unwrap_or_default();
        }
        if let Some(v) = root.remove("smtp") {
            config.smtp = section(v, "smtp", &mut problems).unwrap_or_default();
        }
        if let Some(v) = root.remove("lmtp") {
            config.lmtp = section(v, "lmtp", &mut problems);
        }
        if let Some(v) = root.remove("http") {
            config.http = section(v, "http", &mut problems);
        }
        if let Some(v) = root.remove("delivery") {
            config.delivery = section(v, "delivery", &mut problems).unwrap_or_default();
        }
        if let Some(v) = root.remove("bounce") {
            config.bounce = section(v, "bounce", &mut problems).unwrap_or_default();
        }
        if let Some(v) = root.remove("moderators") {
            config.moderators = section(v, "moderators", &mut problems).unwrap_or_default();
        }
        match root.remove("community") {
            Some(toml::Value::Array(items)) => {
                for (i, item) in items.into_iter().enumerate() {
                    let label = item
                        .get("slug")
                        .and_then(|s| s.as_str())
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| i.to_string());
                    let key = format!("community[{label}]");
                    // Sub-tables on their own, so a bad value in one hides nothing else.
                    let mut item = item;
                    let mut take = |name: &str| item.as_table_mut().and_then(|t| t.remove(name));
                    let (imap, policy, digest) = (take("imap"), take("policy"), take("digest"));
                    let (outgoing, dkim) = (take("delivery"), take("dkim"));
                    let Some(mut c) = section::<CommunityConfig>(item, &key, &mut problems) else {
                        continue;
                    };
                    if let Some(v) = imap {
                        c.imap = section(v, &format!("{key}.imap"), &mut problems);
                    }
                    if let Some(v) = policy {
                        c.policy =
                            section(v, &format!("{key}.policy"), &mut problems).unwrap_or_default();
                    }
                    if let Some(v) = digest {
                        c.digest =
                            section(v, &format!("{key}.digest"), &mut problems).unwrap_or_default();
                    }
                    if let Some(v) = outgoing {
                        c.delivery = section(v, &format!("{key}.delivery"), &mut problems)
                            .unwrap_or_default();
                    }
                    if let Some(v) = dkim {
                        c.dkim = section(v, &format!("{key}.dkim"), &mut problems);
                    }
                    if let Some(t) = c.templates.take() {
                        c.templates = Some(config.resolve(&t));
                    }
                    // Secret files, like every path here, are relative to the config's folder.
                    if let Some(imap) = c.imap.as_mut()
                        && let Some(f) = imap.password_file.take()
                    {
                        imap.password_file = Some(config.resolve(&f));
                    }
                    if let Some(imap) = c.imap.as_mut()
                        && let Some(f) = imap.ca_file.take()
                    {
                        imap.ca_file = Some(config.resolve(&f));
                    }
                    config.communities.push(c);
                }
            }
            Some(_) => problems.push(Problem {
                key: "community".into(),
                message: "must be an array of tables".into(),
                fix: "write each community as a [[community]] section".into(),
            }),
            None => {}
        }
        if let Some(f) = config.smtp.password_file.take() {
            config.smtp.password_file = Some(config.resolve(&f));
        }
        if let Some(f) = config.smtp.ca_file.take() {
            config.smtp.ca_file = Some(config.resolve(&f));
        }
        if let Some(f) = config.delivery.link_secret_file.take() {
            config.delivery.link_secret_file = Some(config.resolve(&f));
        }
        problems.extend(config.validate());
        (config, problems)
    }

    /// The database file, resolved against the config file's folder.
    pub fn database_path(&self) -> PathBuf {
        self.resolve(&self.database.path)
    }

    /// Resolves a path from the config against the config file's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            return p.to_path_buf();
        }
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }

    /// The community with this slug, or an error naming the known ones.
    pub fn community(&self, slug: &str) -> Result<&CommunityConfig, String> {
        self.communities
            .iter()
            .find(|c| c.slug == slug)
            .ok_or_else(|| {
                let known: Vec<&str> = self.communities.iter().map(|c| c.slug.as_str()).collect();
                format!(
                    "community `{slug}` is not in {}; known: {}",
                    if self.path.as_os_str().is_empty() {
                        "the config".to_string()
                    } else {
                        self.path.display().to_string()
                    },
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )
            })
    }

    /// Semantic checks over an already deserialised config.
    fn validate(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        let mut push = |key: String, message: String, fix: &str| {
            p.push(Problem {
                key,
                message,
                fix: fix.to_string(),
            })
        };

        if self.database.path.as_os_str().is_empty() {
            push(
                "database.path".into(),
                "is empty".into(),
                "name the SQLite file, e.g. path = \"praxis.db\"",
            );
        }
        if self.smtp.host.trim().is_empty() {
            push(
                "smtp.host".into(),
                "is empty".into(),
                "name the relay, e.g. host = \"127.0.0.1\"",
            );
        }
        if self.smtp.port == 0 {
            push(
                "smtp.port".into(),
                "is 0".into(),
                "use the relay's port, e.g. 25 or 587",
            );
        }
        if !(1..=64).contains(&self.smtp.connections) {
            push(
                "smtp.connections".into(),
                format!("{} is out of range", self.smtp.connections),
                "use 1 to 64",
            );
        }
        if self.smtp.password_env.is_some() && self.smtp.password_file.is_some() {
            push(
                "smtp.password_env".into(),
                "both password_env and password_file are set".into(),
                "keep one of them",
            );
        }
        if self.smtp.username.is_some() && !self.smtp.password().is_configured() {
            push(
                "smtp.username".into(),
                "a username is set but no password source".into(),
                "add password_env = \"VAR\" or password_file = \"/path\"",
            );
        }
        // Extra trust anchors are read as the TLS client will read them: a
        // file that passes here is the file the handshake uses.
        if let Some(f) = &self.smtp.ca_file
            && let Err(e) = crate::tls::read_ca_file(f)
        {
            push(
                "smtp.ca_file".into(),
                e,
                "point smtp.ca_file at a readable PEM file holding the certificate of the CA that signed the relay's certificate, or remove the key to trust only the system's roots",
            );
        }
        if self.smtp.ca_file.is_some() && self.smtp.tls == Tls::None {
            push(
                "smtp.ca_file".into(),
                "is set but smtp.tls is \"none\": the file would be unused and the relay spoken to in clear".into(),
                "set smtp.tls = \"starttls\" or \"tls\", or remove ca_file",
            );
        }
        // Every file-based secret: the daemon refuses to start, and `check`
        // fails, while another user can read one.
        for (key, path) in self.key_files() {
            if path.exists()
                && let Err(e) = check_private_file(&path)
            {
                push(
                    key,
                    e,
                    "make the file readable only by the user praxis runs as (chmod 600 FILE)",
                );
            }
        }
        if let Some(lmtp) = &self.lmtp
            && let Err(e) = parse_listen(&lmtp.listen)
        {
            push("lmtp.listen".into(), e, "use 127.0.0.1:PORT or unix:/path");
        }
        if let Some(http) = &self.http {
            if let Err(e) = parse_listen(&http.listen) {
                push(
                    "http.listen".into(),
                    e,
                    "use 127.0.0.1:PORT or unix:/path, behind your https front end",
                );
            }
            if !self.delivery.link_secret().is_configured() {
                push(
                    "http".into(),
                    "the one-click endpoint has no key to check links with".into(),
                    "set delivery.link_secret_env or delivery.link_secret_file",
                );
            }
        }

        if self.communities.is_empty() {
            push(
                "community".into(),
                "no community is configured".into(),
                "add a [[community]] section with slug, name and address",
            );
        }
        let mut slugs = HashSet::new();
        let mut addresses = HashSet::new();
        for (i, c) in self.communities.iter().enumerate() {
            let at = if c.slug.is_empty() {
                format!("community[{i}]")
            } else {
                format!("community[{}]", c.slug)
            };
            if !valid_slug(&c.slug) {
                push(
                    format!("{at}.slug"),
                    format!("`{}` is not a valid slug", c.slug),
                    "use lowercase letters, digits and dashes, starting with a letter or digit",
                );
            } else if !slugs.insert(c.slug.clone()) {
                push(
                    format!("{at}.slug"),
                    format!("`{}` is used by two communities", c.slug),
                    "give each community its own slug",
                );
            }
            if c.name.trim().is_empty() {
                push(
                    format!("{at}.name"),
                    "is empty".into(),
                    "give the community a name people recognise",
                );
            }
            match split_address(&c.address) {
                None => push(
                    format!("{at}.address"),
                    format!("`{}` is not an email address", c.address),
                    "write it as local@domain, e.g. list@example.org",
                ),
                Some(_) => {
                    if !addresses.insert(c.address.to_ascii_lowercase()) {
                        push(
                            format!("{at}.address"),
                            format!("`{}` is used by two communities", c.address),
                            "give each community its own address",
                        );
                    }
                }
            }
            if c.timezone.parse::<chrono_tz::Tz>().is_err() {
                push(
                    format!("{at}.timezone"),
                    format!("`{}` is not an IANA time zone", c.timezone),
                    "use a name like Asia/Kolkata, Europe/Paris or UTC",
                );
            }
            if !(1..=365).contains(&c.reply_within_working_days) {
                push(
                    format!("{at}.reply_within_working_days"),
                    format!("{} is out of range", c.reply_within_working_days),
                    "use 1 to 365 (10 is usual)",
                );
            }
            let mut days = HashSet::new();
            for d in &c.weekend {
                match parse_weekday(d) {
                    Some(w) => {
                        days.insert(w);
                    }
                    None => push(
                        format!("{at}.weekend"),
                        format!("`{d}` is not a day of the week"),
                        "use mon, tue, wed, thu, fri, sat or sun",
                    ),
                }
            }
            if days.len() == 7 {
                push(
                    format!("{at}.weekend"),
                    "every day is a weekend day".into(),
                    "leave at least one working day",
                );
            }
            for h in &c.holidays {
                if chrono::NaiveDate::parse_from_str(h, "%Y-%m-%d").is_err() {
                    push(
                        format!("{at}.holidays"),
                        format!("`{h}` is not a date"),
                        "write dates as YYYY-MM-DD",
                    );
                }
            }
            if let Some(imap) = &c.imap {
                if imap.host.trim().is_empty() {
                    push(
                        format!("{at}.imap.host"),
                        "is empty".into(),
                        "name the IMAP server",
                    );
                } else if imap.tls == Tls::None && !is_loopback_host(&imap.host) {
                    push(
                        format!("{at}.imap.tls"),
                        format!(
                            "plain IMAP to `{}` would send the password in clear",
                            imap.host
                        ),
                        "use tls = \"tls\" or \"starttls\"; plain is allowed only to loopback",
                    );
                }
                if imap.port == 0 {
                    push(
                        format!("{at}.imap.port"),
                        "is 0".into(),
                        "use the server's port, e.g. 993",
                    );
                }
                if imap.username.trim().is_empty() {
                    push(
                        format!("{at}.imap.username"),
                        "is empty".into(),
                        "use the mailbox's login, usually the list address",
                    );
                }
                match (&imap.password_env, &imap.password_file) {
                    (None, None) => push(
                        format!("{at}.imap.password_env"),
                        "no password source".into(),
                        "add password_env = \"VAR\" or password_file = \"/path\"",
                    ),
                    (Some(_), Some(_)) => push(
                        format!("{at}.imap.password_env"),
                        "both password_env and password_file are set".into(),
                        "keep one of them",
                    ),
                    _ => {}
                }
                if imap.idle_renew.0 > std::time::Duration::from_secs(29 * 60)
                    || imap.idle_renew.0 < std::time::Duration::from_secs(10)
                {
                    push(
                        format!("{at}.imap.idle_renew"),
                        "is outside 10s to 29m".into(),
                        "servers drop an IDLE after 30 minutes (RFC 2177); use e.g. \"25m\"",
                    );
                }
                if imap.poll.0 < std::time::Duration::from_secs(1) {
                    push(
                        format!("{at}.imap.poll"),
                        "is under a second".into(),
                        "use e.g. \"60s\"",
                    );
                }
                if imap
                    .move_to
                    .as_deref()
                    .is_some_and(|m| m.trim().is_empty() || m == imap.folder)
                {
                    push(
                        format!("{at}.imap.move_to"),
                        "is empty or the watched folder itself".into(),
                        "name another folder, e.g. \"Archive\", or remove the key",
                    );
                }
                if let Some(f) = &imap.ca_file
                    && let Err(e) = crate::tls::read_ca_file(f)
                {
                    push(
                        format!("{at}.imap.ca_file"),
                        e,
                        "point ca_file at a readable PEM file holding the certificate of the CA that signed the IMAP server's certificate, or remove the key to trust only the system's roots",
                    );
                }
                if imap.ca_file.is_some() && imap.tls == Tls::None {
                    push(
                        format!("{at}.imap.ca_file"),
                        "is set but tls is \"none\": the file would be unused".into(),
                        "set tls = \"tls\" or \"starttls\", or remove ca_file",
                    );
                }
                if imap.folder.trim().is_empty() {
                    push(
                        format!("{at}.imap.folder"),
                        "is empty".into(),
                        "name the folder, usually INBOX",
                    );
                }
            }
            if c.policy.sender_rate > 1000 {
                push(
                    format!("{at}.policy.sender_rate"),
                    format!(
                        "{} replies an hour is no limit at all",
                        c.policy.sender_rate
                    ),
                    "use 1 to 1000 (default 10), or 0 for no limit",
                );
            }
            if c.policy.sender_flood != 0
                && (c.policy.sender_flood < 2 || c.policy.sender_flood > 100_000)
            {
                push(
                    format!("{at}.policy.sender_flood"),
                    format!("{} is out of range", c.policy.sender_flood),
                    "use 2 to 100000 messages an hour (default 30), or 0 for no limit",
                );
            }
            if c.policy.max_size_kb == 0 {
                push(
                    format!("{at}.policy.max_size_kb"),
                    "is 0, which would hold every post".into(),
                    "use a size in KB, e.g. 5120",
                );
            }
            if let Err(e) = Schedule::parse(&c.digest.schedule) {
                push(
                    format!("{at}.digest.schedule"),
                    e,
                    "use \"daily 07:00\", \"weekly mon 07:00\" or a cron expression such as \"0 7 * * 1-5\"",
                );
            }
            if let Err(problems) = c.template_overrides() {
                for pr in problems {
                    push(pr.key, pr.message, &pr.fix);
                }
            }
            if c.digest.max_posts == 0 {
                push(
                    format!("{at}.digest.max_posts"),
                    "is 0".into(),
                    "use the number of posts that triggers an early digest, e.g. 50",
                );
            }
            if c.digest.max_kb == Some(0) {
                push(
                    format!("{at}.digest.max_kb"),
                    "is 0".into(),
                    "use the accrued size in KB that triggers an early digest, e.g. 200, or leave it out",
                );
            }
        }
        delivery::validate(self, &mut p);
        p
    }
}

/// Deserialises one section, recording unknown keys and type errors under
/// `key`. A value of the wrong type is reported, removed (its default takes
/// its place) and the section read again, so every bad value is reported.
fn section<T: DeserializeOwned>(
    mut value: toml::Value,
    key: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    // Bounded: each round removes one key.
    for _ in 0..64 {
        let mut unknown = Vec::new();
        let mut record = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
        let de = serde_ignored::Deserializer::new(value.clone(), &mut record);
        let result: Result<T, _> = serde_path_to_error::deserialize(de);
        match result {
            Ok(v) => {
                for u in unknown {
                    problems.push(unknown_key(&format!("{key}.{u}")));
                }
                return Some(v);
            }
            Err(e) => {
                let path = e.path().to_string();
                let full = if path == "." || path.is_empty() {
                    key.to_string()
                } else {
                    format!("{key}.{path}")
                };
                let segments: Vec<String> = e
                    .path()
                    .iter()
                    .filter_map(|s| match s {
                        serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                        _ => None,
                    })
                    .collect();
                problems.push(Problem {
                    key: full,
                    // toml appends "in `key`" on a second line: the key is already shown.
                    message: e
                        .into_inner()
                        .to_string()
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_string(),
                    fix: "use a value of the kind shown in config/praxis.toml".into(),
                });
                if !remove_path(&mut value, &segments) {
                    return None;
                }
            }
        }
    }
    None
}

/// Removes the key at `path` from nested tables; false when there is none.
fn remove_path(value: &mut toml::Value, path: &[String]) -> bool {
    match path {
        [] => false,
        [last] => value
            .as_table_mut()
            .is_some_and(|t| t.remove(last).is_some()),
        [first, rest @ ..] => value
            .as_table_mut()
            .and_then(|t| t.get_mut(first))
            .is_some_and(|v| remove_path(v, rest)),
    }
}

fn unknown_key(key: &str) -> Problem {
    Problem {
        key: key.to_string(),
        message: "unknown key".into(),
        fix: "check the spelling against config/praxis.toml, or remove it".into(),
    }
}

/// Applies `PRAXIS_*` overrides to the parsed file.
fn apply_env(
    root: &mut toml::Table,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) {
    for (var, table, key) in ENV_OVERRIDES {
        let Some(raw) = env(var) else { continue };
        let value = match (*table, *key) {
            ("smtp", "port") | ("smtp", "connections") => match raw.trim().parse::<i64>() {
                Ok(n) => toml::Value::Integer(n),
                Err(_) => {
                    problems.push(Problem {
                        key: format!("{table}.{key}"),
                        message: format!("{var}=`{raw}` is not a number"),
                        fix: format!("set {var} to a whole number or unset it"),
                    });
                    continue;
                }
            },
            _ => toml::Value::String(raw),
        };
        let entry = root
            .entry(table.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(t) = entry {
            t.insert(key.to_string(), value);
        }
    }
}

/// Splits `local@domain`, refusing anything that is not one plain address.
pub fn split_address(addr: &str) -> Option<(&str, &str)> {
    let (local, domain) = addr.rsplit_once('@')?;
    let ok_local = !local.is_empty()
        && !local.contains('@')
        && local
            .chars()
            .all(|c| c.is_ascii_graphic() && !"<>()[]\\,;:\"".contains(c));
    let ok_domain = !domain.is_empty()
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    (ok_local && ok_domain).then_some((local, domain))
}

fn valid_slug(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.len() <= 40
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A weekday from `mon`, `monday`, `Mon`, ...
pub fn parse_weekday(s: &str) -> Option<chrono::Weekday> {
    let lower = s.trim().to_ascii_lowercase();
    if lower.len() < 3 {
        return None;
    }
    let all = [
        ("monday", chrono::Weekday::Mon),
        ("tuesday", chrono::Weekday::Tue),
        ("wednesday", chrono::Weekday::Wed),
        ("thursday", chrono::Weekday::Thu),
        ("friday", chrono::Weekday::Fri),
        ("saturday", chrono::Weekday::Sat),
        ("sunday", chrono::Weekday::Sun),
    ];
    all.iter()
        .find(|(name, _)| name.starts_with(&lower))
        .map(|(_, d)| *d)
}

fn is_loopback_host(host: &str) -> bool {
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

/// Every key path → value of a config, for `praxis check --json` and debugging.
pub fn flatten(config: &Config) -> BTreeMap<String, serde_json::Value> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, serde_json::Value>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&p, v, out);
                }
            }
            _ => {
                out.insert(prefix.to_string(), v.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Ok(v) = serde_json::to_value(config) {
        walk("", &v, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn parse(text: &str) -> (Config, Vec<Problem>) {
        Config::parse(text, Path::new("/etc/praxis/praxis.toml"), &no_env)
    }

    const MINIMAL: &str = r#"
[[community]]
slug = "health"
name = "Health"
address = "list@example.test"
"#;

    #[test]
    fn embedded_default_is_clean() {
        let (c, problems) = parse(EMBEDDED_DEFAULT);
        assert!(problems.is_empty(), "{problems:#?}");
        assert_eq!(c.communities.len(), 2);
    }

    #[test]
    fn defaults_fill_what_the_file_omits() {
        let (c, problems) = parse(MINIMAL);
        assert!(problems.is_empty(), "{problems:#?}");
        let h = &c.communities[0];
        assert_eq!(h.reply_within_working_days, 10);
        assert_eq!(h.digest.schedule, "daily 07:00");
        assert_eq!(h.policy.first_post, FirstPost::Hold);
        assert_eq!(c.smtp.connections, 4);
        assert_eq!(
            c.database_path(),
            PathBuf::from("/etc/praxis/praxis.db"),
            "relative to the config file's folder"
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let text = r#"
[smtp]
hots = "x"
connections = 0

[[community]]
slug = "health"
name = "Health"
address = "not-an-address"
timezone = "Mars/Olympus"
weekend = ["sat", "funday"]
holidays = ["25/12/2026"]

[community.policy]
first_post = "maybe"
max_sise_kb = 10

[community.digest]
schedule = "sometimes"

[[community]]
slug = "health"
name = "Other"
address = "other@example.test"

[community.imap]
host = "imap.example.org"
tls = "none"
username = "other@example.test"
"#;
        let (_, problems) = parse(text);
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        for expected in [
            "smtp.hots",
            "smtp.connections",
            "community[health].address",
            "community[health].timezone",
            "community[health].weekend",
            "community[health].holidays",
            "community[health].policy.first_post",
            "community[health].policy.max_sise_kb",
            "community[health].slug",
            "community[health].imap.tls",
            "community[health].imap.password_env",
        ] {
            assert!(
                keys.contains(&expected),
                "{expected} missing from {keys:#?}"
            );
        }
    }

    #[test]
    fn one_bad_section_does_not_hide_another() {
        let text = r#"
[smtp]
port = "twenty-five"

[[community]]
slug = "health"
name = "Health"
addres = "list@example.test"
"#;
        let (_, problems) = parse(text);
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"smtp.port"), "{keys:?}");
        assert!(keys.contains(&"community[health].addres"), "{keys:?}");
        assert!(keys.contains(&"community[health].address"), "{keys:?}");
    }

    #[test]
    fn ca_files_resolve_against_the_config_folder_and_must_exist() {
        let text = format!(
            "[smtp]\ntls = \"starttls\"\nca_file = \"relay-ca.pem\"\n{MINIMAL}\n\
             [community.imap]\nusername = \"list@example.test\"\n\
             password_env = \"X\"\nca_file = \"/nowhere/imap-ca.pem\"\n"
        );
        let (c, problems) = parse(&text);
        assert_eq!(
            c.smtp.ca_file.as_deref(),
            Some(Path::new("/etc/praxis/relay-ca.pem"))
        );
        let imap = c.communities[0].imap.as_ref().unwrap();
        assert_eq!(
            imap.ca_file.as_deref(),
            Some(Path::new("/nowhere/imap-ca.pem"))
        );
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["smtp.ca_file", "community[health].imap.ca_file"],
            "{problems:#?}"
        );
        assert!(problems[0].message.contains("/etc/praxis/relay-ca.pem"));
        // The environment layer sets it too; without TLS it would be unused.
        let env = |k: &str| (k == "PRAXIS_SMTP_CA_FILE").then(|| "/etc/ssl/relay.pem".to_string());
        let (c, problems) = Config::parse(MINIMAL, Path::new("praxis.toml"), &env);
        assert_eq!(c.smtp.ca_file, Some(PathBuf::from("/etc/ssl/relay.pem")));
        assert!(
            problems
                .iter()
                .any(|p| p.key == "smtp.ca_file" && p.message.contains("smtp.tls is \"none\"")),
            "{problems:#?}"
        );
    }

    #[test]
    fn environment_overrides_the_file() {
        let env = |k: &str| match k {
            "PRAXIS_SMTP_PORT" => Some("2525".to_string()),
            "PRAXIS_DATABASE_PATH" => Some("/var/lib/praxis/p.db".to_string()),
            _ => None,
        };
        let (c, problems) = Config::parse(MINIMAL, Path::new("praxis.toml"), &env);
        assert!(problems.is_empty(), "{problems:#?}");
        assert_eq!(c.smtp.port, 2525);
        assert_eq!(c.database_path(), PathBuf::from("/var/lib/praxis/p.db"));

        let bad = |k: &str| (k == "PRAXIS_SMTP_PORT").then(|| "x".to_string());
        let (_, problems) = Config::parse(MINIMAL, Path::new("praxis.toml"), &bad);
        assert_eq!(problems[0].key, "smtp.port");
    }

    #[test]
    fn lmtp_listen_is_loopback_or_unix() {
        assert!(parse_listen("127.0.0.1:8024").is_ok());
        assert!(parse_listen("[::1]:8024").is_ok());
        assert_eq!(
            parse_listen("unix:/run/praxis.sock").unwrap(),
            Listen::Unix("/run/praxis.sock".into())
        );
        assert!(parse_listen("0.0.0.0:8024").is_err());
        assert!(parse_listen("10.1.2.3:24").is_err());
        assert!(parse_listen("unix:").is_err());
    }

    #[test]
    fn addresses() {
        assert_eq!(
            split_address("list@example.test"),
            Some(("list", "example.test"))
        );
        for bad in [
            "",
            "list",
            "@x.org",
            "a@",
            "a b@x.org",
            "a@x..org",
            "<a@x.org>",
        ] {
            assert_eq!(split_address(bad), None, "{bad}");
        }
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let (_, problems) = parse("[smtp\nhost = 1");
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].message.contains("line 1"),
            "{}",
            problems[0].message
        );
    }
}
