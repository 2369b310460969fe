//! `[smtp]`: the relay everything is sent through, and the transport
//! security ([`Tls`]) it shares with `[community.imap]`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Problem, Secret, Span};

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

/// The checks for `[smtp]`.
pub(super) fn validate(smtp: &SmtpConfig) -> Vec<Problem> {
    let mut p = Vec::new();
    if smtp.host.trim().is_empty() {
        p.push(Problem::new(
            "smtp.host",
            "is empty",
            "name the relay, e.g. host = \"127.0.0.1\"",
        ));
    }
    if smtp.port == 0 {
        p.push(Problem::new(
            "smtp.port",
            "is 0",
            "use the relay's port, e.g. 25 or 587",
        ));
    }
    if !(1..=64).contains(&smtp.connections) {
        p.push(Problem::new(
            "smtp.connections",
            format!("{} is out of range", smtp.connections),
            "use 1 to 64",
        ));
    }
    if smtp.password_env.is_some() && smtp.password_file.is_some() {
        p.push(Problem::new(
            "smtp.password_env",
            "both password_env and password_file are set",
            "keep one of them",
        ));
    }
    if smtp.username.is_some() && !smtp.password().is_configured() {
        p.push(Problem::new(
            "smtp.username",
            "a username is set but no password source",
            "add password_env = \"VAR\" or password_file = \"/path\"",
        ));
    }
    // Extra trust anchors are read as the TLS client will read them: a
    // file that passes here is the file the handshake uses.
    if let Some(f) = &smtp.ca_file
        && let Err(e) = crate::tls::read_ca_file(f)
    {
        p.push(Problem::new(
            "smtp.ca_file",
            e,
            "point smtp.ca_file at a readable PEM file holding the certificate of the CA that signed the relay's certificate, or remove the key to trust only the system's roots",
        ));
    }
    if smtp.ca_file.is_some() && smtp.tls == Tls::None {
        p.push(Problem::new(
            "smtp.ca_file",
            "is set but smtp.tls is \"none\": the file would be unused and the relay spoken to in clear",
            "set smtp.tls = \"starttls\" or \"tls\", or remove ca_file",
        ));
    }
    p
}
