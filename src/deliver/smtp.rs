//! One SMTP transaction per copy over lettre's SMTP client, on a connection
//! each sender worker keeps open between messages.
//!
//! Why not lettre's pooled `AsyncSmtpTransport`: its `send_raw` reports a
//! failure without saying which command failed, so a 5xx to MAIL FROM or to
//! the login (the relay refusing *us*) would look like a 5xx to RCPT (the
//! recipient refusing the copy), fail every delivery of a fan-out for good
//! and raise every member's bounce score. Driving the commands here keeps
//! the stage: only RCPT (or a mailbox status at end of data) is the
//! recipient's fault. The workers' connections are the pool: at most
//! `smtp.connections` of them, reused, closed when idle. lettre's client does
//! not pipeline (RFC 2920), so neither does this.

use std::error::Error as _;
use std::time::Duration;

use lettre::Address;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Quit, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::{Response, Severity};

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::config::{SmtpConfig, Tls};

/// Where copies go, and how to log in.
pub(crate) struct Relay {
    /// Host name or address.
    host: String,
    /// Port.
    port: u16,
    /// Transport security.
    tls: Tls,
    /// TLS settings (the host name to verify).
    params: Option<TlsParameters>,
    /// Login, when configured.
    credentials: Option<Credentials>,
    /// Our EHLO name.
    hello: ClientId,
    /// Per-command time limit.
    timeout: Duration,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// The relay accepted the copy.
    Sent,
    /// Try again later. `relay`: the relay or the connection failed, not
    /// this recipient (so the sender pauses, and no bounce is counted).
    Temporary {
        /// The reply or fault.
        error: String,
        /// Whether the relay rather than the recipient is at fault.
        relay: bool,
    },
    /// Refused for good; `bounce` when the refusal is about the recipient.
    Permanent {
        /// The server's reply.
        error: String,
        /// Whether it counts towards the member's bounce score.
        bounce: bool,
    },
}

/// A connection kept between transactions.
pub(crate) struct Conn {
    /// lettre's client.
    inner: AsyncSmtpConnection,
    /// Whether a transaction already ran on it (a reused connection may
    /// have been closed by the server while idle).
    used: bool,
}

/// The SMTP stage a reply came at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Mail,
    Rcpt,
    Data,
    EndOfData,
}

/// A failed command: a negative reply, or a broken connection.
enum Failure {
    Reply {
        code: String,
        text: String,
        permanent: bool,
    },
    Broken(String),
}

impl Relay {
    /// The relay in `[smtp]`; `password` already resolved.
    pub(crate) fn new(cfg: &SmtpConfig, password: Option<String>) -> Result<Relay, String> {
        let params = match cfg.tls {
            Tls::None => None,
            Tls::Starttls | Tls::Tls => Some(
                TlsParameters::new(cfg.host.clone())
                    .map_err(|e| format!("TLS settings for smtp.host {}: {e}", cfg.host))?,
            ),
        };
        let credentials = match (&cfg.username, password) {
            (Some(u), Some(p)) => Some(Credentials::new(u.clone(), p)),
            (Some(_), None) => {
                return Err("smtp.username is set but no password was found; set smtp.password_env or smtp.password_file".into());
            }
            _ => None,
        };
        Ok(Relay {
            host: cfg.host.clone(),
            port: cfg.port,
            tls: cfg.tls,
            params,
            credentials,
            hello: ClientId::default(),
            timeout: cfg.timeout.duration(),
        })
    }

    /// `host:port`, for messages.
    pub(crate) fn name(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, String> {
        let fut = async {
            // Our own socket, for TCP_NODELAY: lettre writes the end-of-data
            // dot separately from the message, and Nagle's algorithm would
            // hold it back until the relay's delayed ACK (40 ms a message).
            let tcp = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| e.to_string())?;
            tcp.set_nodelay(true).map_err(|e| e.to_string())?;
            let stream: Box<dyn AsyncTokioStream> = match self.tls {
                Tls::Tls => Box::new(TlsTcp(tls_wrap(tcp, &self.host).await?)),
                Tls::None | Tls::Starttls => Box::new(tcp),
            };
            let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
                .await
                .map_err(|e| describe(&e))?;
            if let (Tls::Starttls, Some(p)) = (&self.tls, &self.params) {
                conn.starttls(p.clone(), &self.hello)
                    .await
                    .map_err(|e| format!("STARTTLS failed: {}", describe(&e)))?;
            }
            if let Some(c) = &self.credentials {
                conn.auth(&[Mechanism::Plain, Mechanism::Login], c)
                    .await
                    .map_err(|e| format!("login refused: {}", describe(&e)))?;
            }
            Ok::<_, String>(conn)
        };
        match tokio::time::timeout(self.timeout * 2, fut).await {
            Ok(r) => r.map_err(|e| format!("cannot connect to the relay {}: {e}", self.name())),
            Err(_) => Err(format!(
                "cannot connect to the relay {}: no answer within {:?}",
                self.name(),
                self.timeout * 2
            )),
        }
    }

    /// Sends one copy from `from` to `to` on `slot`'s connection (opening
    /// one when there is none, and once more when a reused one turns out
    /// closed before the transaction began).
    pub(crate) async fn transact(
        &self,
        slot: &mut Option<Conn>,
        from: &str,
        to: &str,
        message: &[u8],
    ) -> Attempt {
        let (Ok(from_addr), Ok(to_addr)) = (from.parse::<Address>(), to.parse::<Address>()) else {
            return Attempt::Permanent {
                error: format!("`{to}` (or the return path `{from}`) is not a deliverable address"),
                bounce: false,
            };
        };
        for round in 0..2 {
            if slot.is_none() {
                match self.connect().await {
                    Ok(inner) => *slot = Some(Conn { inner, used: false }),
                    Err(error) => return Attempt::Temporary { error, relay: true },
                }
            }
            let conn = slot.as_mut().expect("connected above");
            let reused = conn.used;
            conn.used = true;
            match self
                .run(&mut conn.inner, &from_addr, &to_addr, message)
                .await
            {
                Ok(()) => return Attempt::Sent,
                Err((stage, Failure::Broken(e))) => {
                    if let Some(mut c) = slot.take() {
                        c.inner.abort().await;
                    }
                    if reused && stage == Stage::Mail && round == 0 {
                        continue; // the server closed an idle connection: reconnect once
                    }
                    return Attempt::Temporary {
                        error: format!("connection to {} lost at {stage:?}: {e}", self.name()),
                        relay: true,
                    };
                }
                Err((
                    stage,
                    Failure::Reply {
                        code,
                        text,
                        permanent,
                    },
                )) => {
                    // Leave the connection clean for the next copy.
                    let reset = tokio::time::timeout(self.timeout, conn.inner.command(Rset)).await;
                    if !matches!(reset, Ok(Ok(_)))
                        && let Some(mut c) = slot.take()
                    {
                        c.inner.abort().await;
                    }
                    let error = format!("{code} {text}").trim().to_string();
                    return classify(stage, permanent, error, &code, &text);
                }
            }
        }
        Attempt::Temporary {
            error: format!("connection to {} keeps closing", self.name()),
            relay: true,
        }
    }

    async fn run(
        &self,
        conn: &mut AsyncSmtpConnection,
        from: &Address,
        to: &Address,
        message: &[u8],
    ) -> Result<(), (Stage, Failure)> {
        let mut params = Vec::new();
        if !message.is_ascii() {
            if !conn.server_info().supports_feature(Extension::EightBitMime) {
                return Err((
                    Stage::Mail,
                    Failure::Reply {
                        code: String::new(),
                        text: format!(
                            "the relay {} does not accept 8-bit messages (no 8BITMIME)",
                            self.name()
                        ),
                        permanent: false,
                    },
                ));
            }
            params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        self.step(
            Stage::Mail,
            conn.command(Mail::new(Some(from.clone()), params)),
        )
        .await?;
        self.step(Stage::Rcpt, conn.command(Rcpt::new(to.clone(), vec![])))
            .await?;
        self.step(Stage::Data, conn.command(Data)).await?;
        self.step(Stage::EndOfData, conn.message(message)).await?;
        Ok(())
    }

    async fn step(
        &self,
        stage: Stage,
        fut: impl Future<Output = Result<Response, lettre::transport::smtp::Error>>,
    ) -> Result<Response, (Stage, Failure)> {
        match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => Err((
                stage,
                Failure::Broken(format!("no reply within {:?}", self.timeout)),
            )),
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => match e.status() {
                Some(code) => Err((
                    stage,
                    Failure::Reply {
                        code: code.to_string(),
                        text: e.source().map(|s| s.to_string()).unwrap_or_default(),
                        permanent: code.severity == Severity::PermanentNegativeCompletion,
                    },
                )),
                None => Err((stage, Failure::Broken(describe(&e)))),
            },
        }
    }

    /// Ends a connection politely.
    pub(crate) async fn close(&self, slot: &mut Option<Conn>) {
        if let Some(mut c) = slot.take() {
            let _ = tokio::time::timeout(self.timeout, c.inner.command(Quit)).await;
            c.inner.abort().await;
        }
    }
}

/// TLS from the first byte (`smtp.tls = "tls"`), over our own socket.
#[derive(Debug)]
struct TlsTcp(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncRead for TlsTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsTcp {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

/// The TLS handshake for implicit TLS, verifying `host` against the system's roots.
async fn tls_wrap(
    tcp: TcpStream,
    host: &str,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        roots.add(cert).ok();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("`{host}` is not a valid server name for TLS: {e}"))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake failed: {e}"))
}

/// Whose fault a negative reply is, by the stage it came at.
fn classify(stage: Stage, permanent: bool, error: String, code: &str, text: &str) -> Attempt {
    if !permanent {
        // 4xx to RCPT is about the recipient; anything else is the relay's state.
        return Attempt::Temporary {
            error,
            relay: stage == Stage::Mail || code.is_empty(),
        };
    }
    match stage {
        // The relay refuses our return path: retrying is right, bouncing is not.
        Stage::Mail => Attempt::Temporary { error, relay: true },
        Stage::Rcpt => Attempt::Permanent {
            error,
            bounce: true,
        },
        // At DATA or end of data the refusal is about the message, unless the
        // enhanced status names the mailbox (5.1.x address, 5.2.x mailbox).
        Stage::Data | Stage::EndOfData => {
            let t = text.trim_start();
            let mailbox = t.starts_with("5.1.") || t.starts_with("5.2.");
            Attempt::Permanent {
                error,
                bounce: mailbox,
            }
        }
    }
}

/// lettre's error with its cause, on one line.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        src = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_recipient_s_refusals_bounce() {
        let p = |stage, text: &str| classify(stage, true, format!("550 {text}"), "550", text);
        assert_eq!(
            p(Stage::Rcpt, "5.1.1 no such user"),
            Attempt::Permanent {
                error: "550 5.1.1 no such user".into(),
                bounce: true
            }
        );
        assert!(matches!(
            p(Stage::Mail, "5.7.1 sender refused"),
            Attempt::Temporary { relay: true, .. }
        ));
        assert!(matches!(
            p(Stage::EndOfData, "5.7.1 spam"),
            Attempt::Permanent { bounce: false, .. }
        ));
        assert!(matches!(
            p(Stage::EndOfData, "5.2.2 mailbox full"),
            Attempt::Permanent { bounce: true, .. }
        ));
        assert!(matches!(
            classify(Stage::Rcpt, false, "451 later".into(), "451", "later"),
            Attempt::Temporary { relay: false, .. }
        ));
        assert!(matches!(
            classify(Stage::Data, false, "451 later".into(), "451", "later"),
            Attempt::Temporary { relay: false, .. }
        ));
    }
}
