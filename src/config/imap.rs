//! `[community.imap]`: the mailbox a community's mail is read from.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::listen::is_loopback_host;
use super::{Problem, Secret, Span, Tls};

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

/// The checks for one community's `[community.imap]`; `at` is the
/// community's key path, e.g. `community[health]`.
pub(super) fn validate(imap: &ImapConfig, at: &str) -> Vec<Problem> {
    let mut p = Vec::new();
    let mut push =
        |key: String, message: String, fix: &str| p.push(Problem::new(key, message, fix));
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
    p
}
