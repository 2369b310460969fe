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
//! - Values are typed as they are read (time zone, weekdays, dates, digest
//!   schedule, durations): an invalid one is a problem at its key, never a
//!   silent fallback.
//! - `config` imports only downward: the pure modules whose types it holds
//!   (`digest::schedule`, `consolidate::deadline`, `moderation::policy`,
//!   `render`) and `tls`.
//!
//! This file loads: layers, section-by-section deserialisation, problems.
//! Each section's keys and checks are in their own file (`smtp`, `listen`,
//! `community`, `imap`, `policy`, `digest`, `delivery`, ...).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

mod community;
mod database;
mod delivery;
mod digest;
mod imap;
mod listen;
mod policy;
mod secret;
mod smtp;
mod web;

pub use crate::digest::schedule::parse_weekday;
pub use community::CommunityConfig;
pub use database::{DEAD_AFTER_HEARTBEATS, Database, DatabaseConfig, check_url, redact_url};
pub use delivery::{
    BounceConfig, CommunityDelivery, DeliveryConfig, DkimConfig, DmarcMunge, ReplyTo, Span,
};
pub use digest::DigestConfig;
pub use imap::ImapConfig;
pub use listen::{DEFAULT_MAX_SIZE, HttpConfig, Listen, LmtpConfig, parse_listen};
pub use policy::{
    Acknowledge, Administrivia, Attachments, FirstPost, Html, ModeratorNotices, Nonmember,
    PolicyConfig, Queries, Subscription,
};
pub use secret::{Secret, check_private_file, secret_envs, unset_envs};
pub use smtp::{SmtpConfig, Tls};
pub use web::{ArchiveAccess, WebConfig};

/// The config file used when neither `--config` nor `PRAXIS_CONFIG` is given.
pub const DEFAULT_PATH: &str = "config/praxis.toml";

/// The default config, compiled in: what `praxis demo` and the tests start from.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../config/praxis.toml");

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

impl Problem {
    /// A problem at `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Problem {
            key: key.into(),
            message: message.into(),
            fix: fix.into(),
        }
    }
}

/// Separates the message from the fix in a deserialisation error that a
/// section's typed value raises (see [`invalid`]); [`section`] splits them.
const FIX_MARK: char = '\u{1f}';

/// The error a typed value raises when its text is invalid: what is wrong
/// and what to write instead, which [`section`] turns into a [`Problem`]
/// at the value's key.
fn invalid<E: serde::de::Error>(message: impl fmt::Display, fix: &str) -> E {
    E::custom(format!("{message}{FIX_MARK}{fix}"))
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
    /// `[http]`, when praxis serves the web (the archive, members' pages,
    /// one-click unsubscribes) itself.
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
                    let (outgoing, dkim, web) = (take("delivery"), take("dkim"), take("web"));
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
                    if let Some(v) = web {
                        c.web =
                            section(v, &format!("{key}.web"), &mut problems).unwrap_or_default();
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
        // The web's address is every community's link base unless the
        // community names its own (`delivery.base_url`), and its archive is
        // the List-Archive unless one is named.
        if let Some(http) = &config.http {
            let public = http
                .public_url
                .as_deref()
                .map(|u| u.trim_end_matches('/').to_string());
            for c in &mut config.communities {
                if c.delivery.base_url.is_none() {
                    c.delivery.base_url.clone_from(&public);
                }
                if c.delivery.archive_url.is_none()
                    && let Some(base) = &c.delivery.base_url
                {
                    c.delivery.archive_url =
                        Some(format!("{}/c/{}/", base.trim_end_matches('/'), c.slug));
                }
            }
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

    /// Semantic checks over an already deserialised config, section by
    /// section, in file order; each section's file has its own.
    fn validate(&self) -> Vec<Problem> {
        let mut p = database::validate(self);
        p.extend(smtp::validate(&self.smtp));
        p.extend(secret::validate(self));
        p.extend(listen::validate(self));
        p.extend(community::validate(&self.communities));
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
                // toml appends "in `key`" on a second line: the key is already shown.
                let text = e.into_inner().to_string();
                let first = text.lines().next().unwrap_or("");
                let (message, fix) = first
                    .split_once(FIX_MARK)
                    .unwrap_or((first, "use a value of the kind shown in config/praxis.toml"));
                problems.push(Problem::new(full, message, fix));
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
mod tests;
