//! `[database]`: the SQLite file, or the PostgreSQL server that several
//! nodes share.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Problem;
use super::Span;
use super::secret::Secret;

/// Where the database is, as the config says: the one thing every process
/// of an install is told, so they all share it. Shown (Display, Debug)
/// without any password.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file (the embedded default).
    Sqlite(PathBuf),
    /// A PostgreSQL server, for installs of several nodes.
    Postgres {
        /// `postgres://user@host:port/database`, without its password.
        url: String,
        /// The password, read from `password_env`/`password_file`.
        password: Option<String>,
    },
}

impl Database {
    /// The SQLite file, if that is the engine.
    pub fn sqlite_path(&self) -> Option<&std::path::Path> {
        match self {
            Database::Sqlite(p) => Some(p),
            Database::Postgres { .. } => None,
        }
    }
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(p) => write!(f, "{}", p.display()),
            Database::Postgres { url, .. } => f.write_str(&redact_url(url)),
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Database({self})")
    }
}

/// `[database]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// The SQLite file, relative to the config file's folder (unused with
    /// `url`).
    pub path: PathBuf,
    /// A PostgreSQL server instead of the file:
    /// `postgres://user@host:port/database`, without a password.
    pub url: Option<String>,
    /// The environment variable holding the PostgreSQL password.
    pub password_env: Option<String>,
    /// A file (mode 0600) whose first line is the PostgreSQL password.
    pub password_file: Option<PathBuf>,
    /// How often each `praxis serve` node writes its heartbeat; a node
    /// silent for [`DEAD_AFTER_HEARTBEATS`] of them is taken as dead by the
    /// others, which let go of its delivery claims and leases (1s to 30s).
    pub heartbeat: Span,
}

/// Heartbeats a node may miss before the other nodes take it as dead.
pub const DEAD_AFTER_HEARTBEATS: u32 = 3;

/// The longest heartbeat: `praxis status` takes a node silent for 90
/// seconds as stopped.
const HEARTBEAT_MAX: std::time::Duration = std::time::Duration::from_secs(30);

impl DatabaseConfig {
    /// How long a node may stay silent before the others take it as dead.
    pub fn dead_after(&self) -> std::time::Duration {
        self.heartbeat.0 * DEAD_AFTER_HEARTBEATS
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            path: "praxis.db".into(),
            url: None,
            password_env: None,
            password_file: None,
            heartbeat: Span::secs(10),
        }
    }
}

impl DatabaseConfig {
    /// Where the PostgreSQL password comes from.
    pub fn password(&self) -> Secret {
        Secret {
            env: self.password_env.clone(),
            file: self.password_file.clone(),
        }
    }
}

impl super::Config {
    /// Where the database is: the PostgreSQL server of `database.url`
    /// (its password read now), else the SQLite file.
    pub fn database(&self) -> Result<Database, String> {
        match &self.database.url {
            Some(url) => Ok(Database::Postgres {
                url: url.clone(),
                password: self.database.password().resolve("database.password")?,
            }),
            None => Ok(Database::Sqlite(self.database_path())),
        }
    }
}

/// The checks for `[database]`, and the link secret every node shares.
pub(super) fn validate(config: &super::Config) -> Vec<Problem> {
    let d = &config.database;
    let mut p = Vec::new();
    if d.url.is_some() && !config.delivery.link_secret().is_configured() {
        // Without it each node would make its own key beside a file that
        // is not there, and one node's links would fail on another.
        p.push(Problem::new(
            "delivery.link_secret_env",
            "database.url is set but no link secret: every node must sign and check links with the same key",
            "set delivery.link_secret_env = \"VAR\" or delivery.link_secret_file = \"/path\", the same on every node",
        ));
    }
    if d.path.as_os_str().is_empty() {
        p.push(Problem::new(
            "database.path",
            "is empty",
            "name the SQLite file, e.g. path = \"praxis.db\"",
        ));
    }
    if d.heartbeat.0 < std::time::Duration::from_secs(1) || d.heartbeat.0 > HEARTBEAT_MAX {
        p.push(Problem::new(
            "database.heartbeat",
            format!("{} is outside 1s to 30s", d.heartbeat),
            "write heartbeat = \"10s\" (the default): a node silent for three heartbeats is taken as dead",
        ));
    }
    if d.password_env.is_some() && d.password_file.is_some() {
        p.push(Problem::new(
            "database.password_env",
            "both password_env and password_file are set",
            "keep one of them",
        ));
    }
    match &d.url {
        None if d.password().is_configured() => p.push(Problem::new(
            "database.password_env",
            "a password is set but no url",
            "add url = \"postgres://user@host:port/database\", or remove the password",
        )),
        None => {}
        Some(url) => {
            if let Err((message, fix)) = check_url(url) {
                p.push(Problem::new("database.url", message, fix));
            }
        }
    }
    p
}

/// Whether `url` can name a PostgreSQL database: a `postgres://` URL
/// holding no password (that comes from `password_env`/`password_file`).
/// Err: what is wrong, and the fix, for `[database] url` and for
/// `praxis db copy --to`.
pub fn check_url(url: &str) -> Result<(), (String, &'static str)> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"));
    match rest {
        None => Err((
            format!("`{}` is not a PostgreSQL URL", redact_url(url)),
            "write url = \"postgres://user@host:port/database\"",
        )),
        // user:password@host: a colon before the (last) @.
        Some(rest)
            if rest
                .rsplit_once('@')
                .is_some_and(|(user, _)| user.contains(':')) =>
        {
            Err((
                "holds a password".to_string(),
                "remove it from the URL and set password_env = \"VAR\" or password_file = \"/path\"",
            ))
        }
        Some(_) => Ok(()),
    }
}

/// A database URL without its password, for messages and `status`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..s + 3], &userinfo[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
