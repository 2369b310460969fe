//! An IMAP client for the list mailbox: connect (TLS, STARTTLS or plain to
//! loopback), select, fetch by UID above a checkpoint, flag \Seen, IDLE.
//!
//! This file owns the protocol; deciding what to store is the pipeline's job.

use std::fmt;
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::{Client, Session};
use futures::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::{ImapConfig, Tls};

/// How long to wait for a TCP connection or a TLS handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Why an IMAP operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// The server could not be reached.
    #[error("cannot connect to {server}: {source}")]
    Connect {
        /// host:port.
        server: String,
        /// The network error.
        source: std::io::Error,
    },
    /// TLS failed.
    #[error("TLS with {server} failed: {detail}")]
    Tls {
        /// host:port.
        server: String,
        /// What went wrong.
        detail: String,
    },
    /// The server refused the login.
    #[error(
        "{server} refused the login for {username}: {detail}; check imap.username and the password"
    )]
    Login {
        /// host:port.
        server: String,
        /// The login name (never the password).
        username: String,
        /// The server's answer.
        detail: String,
    },
    /// Any other protocol or network error.
    #[error("IMAP: {0}")]
    Protocol(#[from] async_imap::error::Error),
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
}

/// The byte stream under an IMAP session: TCP, or TLS over TCP.
pub trait ImapIo: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> ImapIo for T {}

type Io = Box<dyn ImapIo>;

/// The state of a selected folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selected {
    /// UIDVALIDITY: when it changes, every UID is new (RFC 4549).
    pub uidvalidity: u32,
    /// The UID the next message will get, if the server said.
    pub uid_next: Option<u32>,
    /// Messages in the folder.
    pub exists: u32,
}

/// One message fetched by UID.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Its UID.
    pub uid: u32,
    /// The message, byte for byte.
    pub raw: Vec<u8>,
}

/// What an IDLE wait ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The server announced a change.
    Changed,
    /// The wait timed out (re-issue IDLE).
    Timeout,
}

/// A logged-in IMAP session.
pub struct ImapClient {
    /// The session; `None` only while IDLE owns it.
    session: Option<Session<Io>>,
    /// Whether the server announced IDLE.
    idle: bool,
    /// host:port, for messages.
    server: String,
}

impl ImapClient {
    /// Connects and logs in as configured.
    pub async fn connect(cfg: &ImapConfig, password: &str) -> Result<ImapClient, ImapError> {
        let server = format!("{}:{}", cfg.host, cfg.port);
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((cfg.host.as_str(), cfg.port)),
        )
        .await
        .map_err(|_| ImapError::Connect {
            server: server.clone(),
            source: std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"),
        })?
        .map_err(|source| ImapError::Connect {
            server: server.clone(),
            source,
        })?;
        tcp.set_nodelay(true).ok();
        let client: Client<Io> = match cfg.tls {
            Tls::None => {
                let mut c = Client::new(Box::new(tcp) as Io);
                read_greeting(&mut c).await?;
                c
            }
            Tls::Tls => {
                let tls = tls_wrap(tcp, &cfg.host, &server, cfg.ca_file.as_deref()).await?;
                let mut c = Client::new(Box::new(tls) as Io);
                read_greeting(&mut c).await?;
                c
            }
            Tls::Starttls => {
                let mut c = Client::new(tcp);
                read_greeting(&mut c).await?;
                c.run_command_and_check_ok("STARTTLS", None).await?;
                let tcp = c.into_inner();
                let tls = tls_wrap(tcp, &cfg.host, &server, cfg.ca_file.as_deref()).await?;
                Client::new(Box::new(tls) as Io)
            }
        };
        let mut session = client
            .login(&cfg.username, password)
            .await
            .map_err(|(e, _)| ImapError::Login {
                server: server.clone(),
                username: cfg.username.clone(),
                detail: e.to_string(),
            })?;
        let caps = session.capabilities().await?;
        let idle = caps.has_str("IDLE");
        Ok(ImapClient {
            session: Some(session),
            idle,
            server,
        })
    }

    /// Whether the server supports IDLE (RFC 2177).
    pub fn supports_idle(&self) -> bool {
        self.idle
    }

    /// The server, as host:port.
    pub fn server(&self) -> &str {
        &self.server
    }

    fn session(&mut self) -> Result<&mut Session<Io>, ImapError> {
        self.session.as_mut().ok_or(ImapError::Closed)
    }

    /// Selects a folder (read-write, so \Seen can be set).
    pub async fn select(&mut self, folder: &str) -> Result<Selected, ImapError> {
        let mb = self.session()?.select(folder).await?;
        Ok(Selected {
            uidvalidity: mb.uid_validity.unwrap_or(0),
            uid_next: mb.uid_next,
            exists: mb.exists,
        })
    }

    /// Fetches up to `max` messages whose UID is above `last_uid`, oldest first.
    pub async fn fetch_after(
        &mut self,
        last_uid: u32,
        max: usize,
    ) -> Result<Vec<Fetched>, ImapError> {
        let session = self.session()?;
        // UID SEARCH first: `UID FETCH n:*` always returns the newest message
        // even when its UID is below n (RFC 3501 §6.4.8).
        let mut uids: Vec<u32> = session
            .uid_search(format!("UID {}:*", last_uid.saturating_add(1)))
            .await?
            .into_iter()
            .filter(|u| *u > last_uid)
            .collect();
        uids.sort_unstable();
        uids.truncate(max);
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let set = uid_set(&uids);
        let fetches: Vec<_> = session
            .uid_fetch(&set, "(UID BODY.PEEK[])")
            .await?
            .try_collect()
            .await?;
        let mut out: Vec<Fetched> = fetches
            .iter()
            .filter_map(|f| {
                Some(Fetched {
                    uid: f.uid?,
                    raw: f.body()?.to_vec(),
                })
            })
            .filter(|f| f.uid > last_uid)
            .collect();
        out.sort_by_key(|f| f.uid);
        Ok(out)
    }

    /// Sets \Seen on these UIDs.
    pub async fn mark_seen(&mut self, uids: &[u32]) -> Result<(), ImapError> {
        if uids.is_empty() {
            return Ok(());
        }
        let set = uid_set(uids);
        let session = self.session()?;
        let _: Vec<_> = session
            .uid_store(&set, "+FLAGS.SILENT (\\Seen)")
            .await?
            .try_collect()
            .await?;
        Ok(())
    }

    /// Moves these UIDs to `folder` (RFC 6851 MOVE), creating it if missing.
    pub async fn move_to(&mut self, uids: &[u32], folder: &str) -> Result<(), ImapError> {
        if uids.is_empty() {
            return Ok(());
        }
        let set = uid_set(uids);
        let session = self.session()?;
        // CREATE fails when the folder exists; that is fine.
        let _ = session.create(folder).await;
        session.uid_mv(&set, folder).await?;
        Ok(())
    }

    /// Waits in IDLE until the server announces a change or `timeout` passes.
    pub async fn idle(&mut self, timeout: Duration) -> Result<Woken, ImapError> {
        let session = self.session.take().ok_or(ImapError::Closed)?;
        let mut handle = session.idle();
        handle.init().await?;
        let (wait, _stop) = handle.wait_with_timeout(timeout);
        let result = wait.await;
        let session = handle.done().await?;
        self.session = Some(session);
        match result? {
            IdleResponse::NewData(_) => Ok(Woken::Changed),
            IdleResponse::Timeout => Ok(Woken::Timeout),
            IdleResponse::ManualInterrupt => Ok(Woken::Changed),
        }
    }

    /// Says LOGOUT and closes.
    pub async fn logout(mut self) -> Result<(), ImapError> {
        if let Some(mut s) = self.session.take() {
            s.logout().await?;
        }
        Ok(())
    }
}

/// `1:3,7,9:10` from sorted UIDs.
pub fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

async fn read_greeting<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug>(
    c: &mut Client<T>,
) -> Result<(), ImapError> {
    match c.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(ImapError::Closed),
        Err(e) => Err(ImapError::Protocol(e.into())),
    }
}

/// The TLS handshake, verifying the server's certificate for `host`
/// against the system's roots and `imap.ca_file` (see [`crate::tls`]).
async fn tls_wrap(
    tcp: TcpStream,
    host: &str,
    server: &str,
    ca_file: Option<&std::path::Path>,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ImapError> {
    let tls_err = |detail: String| ImapError::Tls {
        server: server.to_string(),
        detail,
    };
    let config =
        crate::tls::client_config(ca_file).map_err(|e| tls_err(format!("imap.ca_file: {e}")))?;
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| tls_err(format!("`{host}` is not a valid server name: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
        .await
        .map_err(|_| tls_err("handshake timed out".into()))?
        .map_err(|e| tls_err(crate::tls::explain(&e, server, "imap.ca_file")))
}

#[cfg(test)]
mod tests {
    use super::uid_set;

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[3, 1, 2, 2]), "1:3");
    }
}
