//! One SMTP transaction per copy, on a connection each sender worker keeps
//! open between messages: our own small client, because a fan-out spends
//! its time in round trips and lettre's client cannot pipeline.
//!
//! With ESMTP PIPELINING (RFC 2920) advertised, MAIL FROM, RCPT TO and DATA
//! go in one write and their three replies are read together; the body
//! follows the 354. Two round trips a copy instead of four. When the worker
//! already has its next copy, that copy's MAIL FROM, RCPT TO and DATA follow
//! this copy's end of data in the same write (message content may open a
//! group, RFC 2920 3.1), so a fan-out takes one round trip a copy. A
//! connection with an envelope sent ahead is only ever continued with that
//! envelope's copy; anything else drops it (a relay discards a message whose
//! connection closes before its end of data). Without PIPELINING, each
//! command waits for its reply, as RFC 5321 wants.
//!
//! Every reply is kept with the command it answers, so the stage of a
//! failure is known: only RCPT (or a mailbox status at end of data) is the
//! recipient's fault. A 5xx to MAIL FROM or to the login (the relay refusing
//! *us*) must not fail every delivery of a fan-out for good and raise every
//! member's bounce score — see [`classify`]. In a pipelined group the
//! first failure decides: MAIL refused makes the RCPT and DATA replies
//! (503, "need MAIL first") consequences, not verdicts on the recipient.
//!
//! Connection set-up is as before: TCP with `TCP_NODELAY`, TLS from the first
//! byte (`smtp.tls = "tls"`) or STARTTLS, EHLO, then AUTH PLAIN or LOGIN
//! when `smtp.username` is set (PLAIN preferred, as the relay offers). The
//! relay's certificate must chain to a system root or to a certificate in
//! `smtp.ca_file` (see [`crate::tls`]); a refused one names that key.
//!
//! Long because the client, its reply classification and the tests that
//! drive it against a scripted relay belong together; the code is ~900.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
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
    /// The certificates of `smtp.ca_file`, read and checked when the relay
    /// is made: the file that passed is the one the handshake trusts.
    ca_certs: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// Whom the TLS handshake trusts (system roots plus `ca_certs`), built
    /// at the first handshake, then kept: reading the system store costs
    /// milliseconds, and a relay that offers no STARTTLS (or a sender that
    /// has nothing to send) never needs it. Before, it was built when the
    /// sender started, delaying the first copy.
    trust: std::sync::OnceLock<Result<Arc<rustls::ClientConfig>, String>>,
    /// Login name and password, when configured.
    credentials: Option<(String, String)>,
    /// Our EHLO name (this host's name, as lettre used).
    hello: String,
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

/// The socket, plain or TLS.
enum Stream {
    /// Plain TCP (or before STARTTLS).
    Plain(TcpStream),
    /// TLS, from the first byte or after STARTTLS.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// Only while STARTTLS swaps the two.
    Gone,
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Gone => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Gone => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            Stream::Gone => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
            Stream::Gone => false,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// A connection kept between transactions.
pub(crate) struct Conn {
    /// The socket.
    stream: Stream,
    /// Bytes read and not yet parsed into replies.
    buf: Vec<u8>,
    /// Where the unparsed bytes in `buf` start.
    start: usize,
    /// What the relay's EHLO advertised.
    caps: Caps,
    /// Whether a transaction already ran on it (a reused connection may
    /// have been closed by the server while idle).
    used: bool,
    /// The envelope (MAIL FROM, RCPT TO, DATA) sent ahead after the last
    /// copy's end of data, whose three replies are still to be read: the
    /// next transaction must be for exactly this envelope.
    ahead: Option<String>,
    /// Per-read and per-write time limit.
    timeout: Duration,
}

/// The EHLO keywords the client acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Caps {
    /// PIPELINING (RFC 2920): send the envelope in one write.
    pipelining: bool,
    /// 8BITMIME: 8-bit bodies may be sent with BODY=8BITMIME.
    eight_bit: bool,
    /// STARTTLS offered.
    starttls: bool,
    /// AUTH PLAIN offered.
    plain: bool,
    /// AUTH LOGIN offered.
    login: bool,
}

impl Caps {
    /// From the lines of a 250 reply to EHLO (the first names the server).
    fn parse(reply: &Reply) -> Caps {
        let mut caps = Caps::default();
        for line in reply.text.lines().skip(1) {
            let mut words = line.split_whitespace();
            let Some(key) = words.next() else { continue };
            match key.to_ascii_uppercase().as_str() {
                "PIPELINING" => caps.pipelining = true,
                "8BITMIME" => caps.eight_bit = true,
                "STARTTLS" => caps.starttls = true,
                "AUTH" => {
                    for m in words {
                        match m.to_ascii_uppercase().as_str() {
                            "PLAIN" => caps.plain = true,
                            "LOGIN" => caps.login = true,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        caps
    }
}

/// One server reply.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reply {
    /// The three-digit code.
    code: u16,
    /// The text after the code, lines joined with `\n` (the enhanced status
    /// code, when there is one, starts it).
    text: String,
}

impl Reply {
    fn positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    fn permanent(&self) -> bool {
        self.code >= 500
    }

    /// `550 5.1.1 no such user`, on one line (only the text when there
    /// was no reply, code 0).
    fn line(&self) -> String {
        let text = self.text.replace('\n', " / ");
        if self.code == 0 {
            text
        } else {
            format!("{} {text}", self.code).trim().to_string()
        }
    }
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
    Reply(Reply),
    Broken(String),
}

impl Conn {
    /// Whether an envelope was sent ahead on it, waiting for its copy.
    pub(crate) fn sent_ahead(&self) -> bool {
        self.ahead.is_some()
    }

    /// Reads one complete reply (all its lines).
    async fn reply(&mut self) -> Result<Reply, String> {
        loop {
            if let Some(r) = self.parse()? {
                return Ok(r);
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let mut chunk = [0u8; 4096];
            let n = match tokio::time::timeout(self.timeout, self.stream.read(&mut chunk)).await {
                Err(_) => return Err(format!("no reply within {:?}", self.timeout)),
                Ok(Err(e)) => return Err(e.to_string()),
                Ok(Ok(0)) => return Err("the relay closed the connection".into()),
                Ok(Ok(n)) => n,
            };
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// A complete reply from the buffer, if one is there: lines of a
    /// three-digit code, `-` (more lines follow) or a space, and text.
    fn parse(&mut self) -> Result<Option<Reply>, String> {
        let mut at = self.start;
        let mut text = String::new();
        loop {
            let Some(nl) = self.buf[at..].iter().position(|&b| b == b'\n') else {
                return Ok(None);
            };
            let line = &self.buf[at..at + nl];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            at += nl + 1;
            let code = line
                .get(..3)
                .filter(|c| c.iter().all(u8::is_ascii_digit))
                .and_then(|c| std::str::from_utf8(c).ok()?.parse::<u16>().ok())
                .ok_or_else(|| {
                    format!(
                        "unreadable reply from the relay: {:?}",
                        String::from_utf8_lossy(line)
                    )
                })?;
            let more = line.get(3) == Some(&b'-');
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(String::from_utf8_lossy(line.get(4..).unwrap_or_default()).trim());
            if !more {
                self.start = at;
                if self.start == self.buf.len() {
                    self.buf.clear();
                    self.start = 0;
                }
                return Ok(Some(Reply { code, text }));
            }
        }
    }

    /// Writes `bytes` in full and flushes.
    async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        let fut = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => Err(format!("could not write within {:?}", self.timeout)),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Writes `parts` in order and in full, in one vectored write when the
    /// socket takes it, and flushes.
    async fn send_parts(&mut self, parts: &[&[u8]]) -> Result<(), String> {
        let fut = async {
            let mut slices: Vec<std::io::IoSlice<'_>> =
                parts.iter().map(|p| std::io::IoSlice::new(p)).collect();
            let mut bufs = &mut slices[..];
            std::io::IoSlice::advance_slices(&mut bufs, 0);
            while !bufs.is_empty() {
                let n = self.stream.write_vectored(bufs).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::WriteZero.into());
                }
                std::io::IoSlice::advance_slices(&mut bufs, n);
            }
            self.stream.flush().await
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Err(_) => Err(format!("could not write within {:?}", self.timeout)),
            Ok(Err(e)) => Err(e.to_string()),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Sends one command line and reads its reply.
    async fn command(&mut self, line: &str) -> Result<Reply, String> {
        self.send(format!("{line}\r\n").as_bytes()).await?;
        self.reply().await
    }

    /// EHLO; records what the relay offers.
    async fn ehlo(&mut self, hello: &str) -> Result<(), String> {
        let r = self.command(&format!("EHLO {hello}")).await?;
        if r.code != 250 {
            return Err(format!("EHLO refused: {}", r.line()));
        }
        self.caps = Caps::parse(&r);
        Ok(())
    }
}

impl Relay {
    /// The relay in `[smtp]`; `password` already resolved.
    pub(crate) fn new(cfg: &SmtpConfig, password: Option<String>) -> Result<Relay, String> {
        let mut ca_certs = Vec::new();
        if cfg.tls != Tls::None {
            rustls::pki_types::ServerName::try_from(cfg.host.clone()).map_err(|e| {
                format!(
                    "TLS settings for smtp.host {}: not a valid server name ({e})",
                    cfg.host
                )
            })?;
            // A bad file is refused now, not at the first handshake.
            if let Some(path) = &cfg.ca_file {
                ca_certs =
                    crate::tls::read_ca_file(path).map_err(|e| format!("smtp.ca_file: {e}"))?;
            }
        }
        let credentials = match (&cfg.username, password) {
            (Some(u), Some(p)) => Some((u.clone(), p)),
            (Some(_), None) => {
                return Err("smtp.username is set but no password was found; set smtp.password_env or smtp.password_file".into());
            }
            _ => None,
        };
        Ok(Relay {
            host: cfg.host.clone(),
            port: cfg.port,
            tls: cfg.tls,
            ca_certs,
            trust: std::sync::OnceLock::new(),
            credentials,
            hello: hello_name(),
            timeout: cfg.timeout.duration(),
        })
    }

    /// `host:port`, for messages.
    pub(crate) fn name(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The TLS handshake (implicit TLS or after STARTTLS), verifying the
    /// relay's certificate for `smtp.host` against the system's roots and
    /// `smtp.ca_file`.
    async fn tls_wrap(
        &self,
        tcp: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
        if self.tls == Tls::None {
            return Err("TLS: no trust settings (smtp.tls is \"none\")".into());
        }
        let trust = self
            .trust
            .get_or_init(|| crate::tls::client_config_trusting(&self.ca_certs))
            .clone()?;
        let name = rustls::pki_types::ServerName::try_from(self.host.clone())
            .map_err(|e| format!("`{}` is not a valid server name for TLS: {e}", self.host))?;
        tokio_rustls::TlsConnector::from(trust)
            .connect(name, tcp)
            .await
            .map_err(|e| {
                format!(
                    "TLS handshake failed: {}",
                    crate::tls::explain(&e, &self.name(), "smtp.ca_file")
                )
            })
    }

    async fn connect(&self) -> Result<Conn, String> {
        let fut = async {
            // TCP_NODELAY: the body and its end-of-data dot go out at once,
            // not after the relay's delayed ACK (40 ms a message).
            let tcp = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| e.to_string())?;
            tcp.set_nodelay(true).map_err(|e| e.to_string())?;
            let stream = match self.tls {
                Tls::Tls => Stream::Tls(Box::new(self.tls_wrap(tcp).await?)),
                Tls::None | Tls::Starttls => Stream::Plain(tcp),
            };
            let mut conn = Conn {
                stream,
                buf: Vec::with_capacity(4096),
                start: 0,
                caps: Caps::default(),
                used: false,
                ahead: None,
                timeout: self.timeout,
            };
            let greeting = conn.reply().await?;
            if greeting.code != 220 {
                return Err(format!(
                    "the relay refused the session: {}",
                    greeting.line()
                ));
            }
            conn.ehlo(&self.hello).await?;
            if self.tls == Tls::Starttls {
                if !conn.caps.starttls {
                    return Err(
                        "STARTTLS failed: the relay does not offer STARTTLS (set smtp.tls = \"none\" or \"tls\")"
                            .into(),
                    );
                }
                let r = conn.command("STARTTLS").await?;
                if r.code != 220 {
                    return Err(format!("STARTTLS failed: {}", r.line()));
                }
                let Stream::Plain(tcp) = std::mem::replace(&mut conn.stream, Stream::Gone) else {
                    return Err("STARTTLS failed: the session is already encrypted".into());
                };
                conn.stream = Stream::Tls(Box::new(
                    self.tls_wrap(tcp)
                        .await
                        .map_err(|e| format!("STARTTLS failed: {e}"))?,
                ));
                conn.buf.clear();
                conn.start = 0;
                conn.ehlo(&self.hello).await?;
            }
            if let Some((user, pass)) = &self.credentials {
                self.login(&mut conn, user, pass)
                    .await
                    .map_err(|e| format!("login refused: {e}"))?;
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

    /// AUTH PLAIN (RFC 4616) or LOGIN, whichever the relay offers, PLAIN
    /// first. 235 is success; any other 2xx is taken as success too (some
    /// relays, smtp-sink among them, answer 250).
    async fn login(&self, conn: &mut Conn, user: &str, pass: &str) -> Result<(), String> {
        let done = |r: &Reply| (200..300).contains(&r.code);
        let r = if conn.caps.plain || !conn.caps.login {
            let token = base64(format!("\0{user}\0{pass}").as_bytes());
            conn.command(&format!("AUTH PLAIN {token}")).await?
        } else {
            let mut r = conn.command("AUTH LOGIN").await?;
            for answer in [user, pass] {
                if done(&r) {
                    break;
                }
                if r.code != 334 {
                    return Err(r.line());
                }
                r = conn.command(&base64(answer.as_bytes())).await?;
            }
            r
        };
        if done(&r) { Ok(()) } else { Err(r.line()) }
    }

    /// Sends one copy from `from` to `to` on `slot`'s connection (opening
    /// one when there is none, and once more when a reused one turns out
    /// closed before the transaction began).
    #[cfg(test)]
    pub(crate) async fn transact(
        &self,
        slot: &mut Option<Conn>,
        from: &str,
        to: &str,
        message: &[u8],
    ) -> Attempt {
        self.transact_then(slot, from, to, message, None).await
    }

    /// [`Relay::transact`], sending `next`'s envelope (return path,
    /// recipient, copy) right after this copy's end of data when the relay
    /// pipelines: the caller sends `next` on this connection next.
    pub(crate) async fn transact_then(
        &self,
        slot: &mut Option<Conn>,
        from: &str,
        to: &str,
        message: &[u8],
        next: Option<(&str, &str, &[u8])>,
    ) -> Attempt {
        // A connection waiting for another envelope's copy is given up.
        if slot.as_ref().is_some_and(|c| {
            c.ahead
                .as_ref()
                .is_some_and(|a| Some(a) != envelope(c.caps, from, to, message).ok().as_ref())
        }) {
            *slot = None;
        }
        if !plain_address(from) || !plain_address(to) {
            return Attempt::Permanent {
                error: format!("`{to}` (or the return path `{from}`) is not a deliverable address"),
                bounce: false,
            };
        }
        for round in 0..2 {
            if slot.is_none() {
                match self.connect().await {
                    Ok(conn) => *slot = Some(conn),
                    Err(error) => return Attempt::Temporary { error, relay: true },
                }
            }
            let conn = slot.as_mut().expect("connected above");
            let reused = conn.used;
            conn.used = true;
            match self.run(conn, from, to, message, next).await {
                Ok(()) => return Attempt::Sent,
                Err((stage, Failure::Broken(e))) => {
                    *slot = None;
                    if reused && stage == Stage::Mail && round == 0 {
                        continue; // the server closed an idle connection: reconnect once
                    }
                    return Attempt::Temporary {
                        error: format!("connection to {} lost at {stage:?}: {e}", self.name()),
                        relay: true,
                    };
                }
                Err((stage, Failure::Reply(r))) => {
                    // Leave the connection clean for the next copy; a
                    // refused end of data already did, and the next
                    // envelope may have followed it.
                    if conn.ahead.is_none() {
                        let reset = conn.command("RSET").await;
                        if !matches!(reset, Ok(ref r) if r.code == 250) {
                            *slot = None;
                        }
                    }
                    let permanent = r.permanent();
                    return classify(stage, permanent, r.line(), &r.code.to_string(), &r.text);
                }
            }
        }
        Attempt::Temporary {
            error: format!("connection to {} keeps closing", self.name()),
            relay: true,
        }
    }

    /// One transaction: the envelope (pipelined when offered, or already
    /// sent ahead), then the body, followed by `next`'s envelope when the
    /// relay pipelines.
    async fn run(
        &self,
        conn: &mut Conn,
        from: &str,
        to: &str,
        message: &[u8],
        next: Option<(&str, &str, &[u8])>,
    ) -> Result<(), (Stage, Failure)> {
        let group = match envelope(conn.caps, from, to, message) {
            Ok(g) => g,
            Err(why) => {
                return Err((
                    Stage::Mail,
                    Failure::Reply(Reply {
                        code: 0,
                        text: format!("the relay {} {why}", self.name()),
                    }),
                ));
            }
        };
        let broken = |stage| move |e: String| (stage, Failure::Broken(e));
        // Each stage's reply; a read that failed after a refusal does not
        // hide the refusal (a relay may answer 421 and hang up).
        let (m, r, d) = if conn.caps.pipelining {
            // Sent ahead after the last copy (checked by the caller), or now.
            if conn.ahead.take().is_none() {
                conn.send(group.as_bytes())
                    .await
                    .map_err(broken(Stage::Mail))?;
            }
            let m = conn.reply().await;
            let r = match &m {
                Ok(_) => conn.reply().await,
                Err(e) => Err(e.clone()),
            };
            let d = match &r {
                Ok(_) => conn.reply().await,
                Err(e) => Err(e.clone()),
            };
            (m, Some(r), Some(d))
        } else {
            let mut lines = group.split("\r\n");
            let (mail, rcpt) = (
                lines.next().unwrap_or_default(),
                lines.next().unwrap_or_default(),
            );
            let m = conn.command(mail).await;
            if !matches!(&m, Ok(m) if m.positive()) {
                (m, None, None)
            } else {
                let r = conn.command(rcpt).await;
                if !matches!(&r, Ok(r) if r.positive()) {
                    (m, Some(r), None)
                } else {
                    let d = conn.command("DATA").await;
                    (m, Some(r), Some(d))
                }
            }
        };
        let data_open = matches!(&d, Some(Ok(d)) if d.code == 354);
        let refused =
            matches!(&m, Ok(m) if !m.positive()) || matches!(&r, Some(Ok(r)) if !r.positive());
        if data_open && refused {
            // A relay that opened DATA though the envelope failed: end the
            // empty message so the session stays in step.
            conn.send(b".\r\n").await.map_err(broken(Stage::Data))?;
            conn.reply().await.map_err(broken(Stage::Data))?;
        }
        // The first refusal decides whose fault it is; before any refusal,
        // a failed read is a broken connection.
        let m = m.map_err(broken(Stage::Mail))?;
        if !m.positive() {
            return Err((Stage::Mail, Failure::Reply(m)));
        }
        let r = r.transpose().map_err(broken(Stage::Rcpt))?;
        if let Some(r) = r.filter(|r| !r.positive()) {
            return Err((Stage::Rcpt, Failure::Reply(r)));
        }
        let d = d.transpose().map_err(broken(Stage::Data))?;
        match d {
            Some(d) if d.code == 354 => {}
            Some(d) => return Err((Stage::Data, Failure::Reply(d))),
            None => return Err((Stage::Data, Failure::Broken("no reply to DATA".into()))),
        }
        // The next copy's envelope rides behind this end of data.
        let ahead = next
            .filter(|_| conn.caps.pipelining)
            .filter(|(f, t, _)| plain_address(f) && plain_address(t))
            .and_then(|(f, t, m)| envelope(conn.caps, f, t, m).ok());
        let (body, end) = framed(message);
        let after = ahead.as_deref().unwrap_or_default().as_bytes();
        conn.send_parts(&[&body, end, after])
            .await
            .map_err(broken(Stage::EndOfData))?;
        conn.ahead = ahead;
        let end = conn.reply().await.map_err(broken(Stage::EndOfData))?;
        if end.positive() {
            Ok(())
        } else {
            Err((Stage::EndOfData, Failure::Reply(end)))
        }
    }

    /// Ends a connection politely.
    pub(crate) async fn close(&self, slot: &mut Option<Conn>) {
        if let Some(mut c) = slot.take() {
            if c.ahead.is_some() {
                // An envelope sent ahead is waiting for its copy: QUIT would
                // be taken for message text. Closing drops the message.
                let _ = c.stream.shutdown().await;
                return;
            }
            let _ = tokio::time::timeout(self.timeout, c.command("QUIT")).await;
            let _ = c.stream.shutdown().await;
        }
    }
}

/// MAIL FROM, RCPT TO and DATA for one copy, each line ending in CRLF, as
/// one pipelined group sends them; an error when the copy has 8-bit bytes
/// and the relay did not offer 8BITMIME.
fn envelope(caps: Caps, from: &str, to: &str, message: &[u8]) -> Result<String, String> {
    let body = if message.is_ascii() {
        ""
    } else if caps.eight_bit {
        " BODY=8BITMIME"
    } else {
        return Err("does not accept 8-bit messages (no 8BITMIME)".into());
    };
    Ok(format!(
        "MAIL FROM:<{from}>{body}\r\nRCPT TO:<{to}>\r\nDATA\r\n"
    ))
}

/// The message as DATA sends it, in two pieces: the message itself and the
/// end of data when no line needs a dot doubled and every line ends in
/// CRLF (a composed copy, always), so the copy is sent without copying it;
/// otherwise [`dot_stuff`]'s copy and nothing. Either way, the two joined
/// are `dot_stuff(message)`.
fn framed(message: &[u8]) -> (std::borrow::Cow<'_, [u8]>, &'static [u8]) {
    let clean = message.first() != Some(&b'.')
        && memchr::memchr_iter(b'\n', message)
            .all(|i| i > 0 && message[i - 1] == b'\r' && message.get(i + 1) != Some(&b'.'));
    if !clean {
        return (std::borrow::Cow::Owned(dot_stuff(message)), b"");
    }
    let end: &'static [u8] = if message.is_empty() || message.ends_with(b"\r\n") {
        b".\r\n"
    } else {
        b"\r\n.\r\n"
    };
    (std::borrow::Cow::Borrowed(message), end)
}

/// The message with lines starting with a dot doubled (RFC 5321 4.5.2),
/// every line ending in CRLF, and the end-of-data line appended.
fn dot_stuff(message: &[u8]) -> Vec<u8> {
    // Line by line (memchr finds the ends), copying whole lines: a byte at
    // a time was a tenth of the sender's CPU in a fan-out.
    let mut out = Vec::with_capacity(message.len() + message.len() / 32 + 8);
    let mut start = 0;
    while start < message.len() {
        let end = memchr::memchr(b'\n', &message[start..]).map(|i| start + i);
        let line = &message[start..end.unwrap_or(message.len())];
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        if end.is_some() {
            if !line.ends_with(b"\r") {
                out.push(b'\r');
            }
            out.push(b'\n');
        }
        start = end.map_or(message.len(), |e| e + 1);
    }
    if !message.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// One plain address for an SMTP path: no brackets, spaces or controls.
fn plain_address(s: &str) -> bool {
    crate::config::split_address(s).is_some()
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>'))
}

/// This host's name for EHLO, or `localhost` when it has none usable.
fn hello_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into memory we own.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let name = if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        String::new()
    };
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        name
    } else {
        "localhost".into()
    }
}

/// Standard base64 with padding (AUTH arguments).
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Whose fault a negative reply is, by the stage it came at.
fn classify(stage: Stage, permanent: bool, error: String, code: &str, text: &str) -> Attempt {
    // Code 0: no reply at all (a local refusal, like no 8BITMIME).
    let code = if code == "0" { "" } else { code };
    if code == "421" {
        // The relay is closing the session, whatever the command.
        return Attempt::Temporary { error, relay: true };
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
        assert!(matches!(
            classify(Stage::Mail, false, "no 8BITMIME".into(), "0", "no 8BITMIME"),
            Attempt::Temporary { relay: true, .. }
        ));
        assert!(matches!(
            classify(Stage::Rcpt, false, "421 closing".into(), "421", "closing"),
            Attempt::Temporary { relay: true, .. }
        ));
    }

    fn conn_reading(bytes: &[u8]) -> Conn {
        // A parser check only: the socket is never touched.
        Conn {
            stream: Stream::Gone,
            buf: bytes.to_vec(),
            start: 0,
            caps: Caps::default(),
            used: false,
            ahead: None,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn pipelined_replies_are_read_one_by_one_with_their_status() {
        let mut c = conn_reading(
            b"250 2.1.0 Ok\r\n550 5.1.1 <x@y>: Recipient address rejected\r\n554 5.5.1 Error: no valid recipients\r\n250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n25",
        );
        let m = c.parse().unwrap().unwrap();
        assert_eq!((m.code, m.text.as_str()), (250, "2.1.0 Ok"));
        let r = c.parse().unwrap().unwrap();
        assert_eq!(r.code, 550);
        assert!(r.text.starts_with("5.1.1 "), "{r:?}");
        assert!(r.permanent());
        let d = c.parse().unwrap().unwrap();
        assert_eq!(d.code, 554);
        let ehlo = c.parse().unwrap().unwrap();
        let caps = Caps::parse(&ehlo);
        assert!(caps.pipelining && caps.eight_bit && !caps.starttls);
        assert_eq!(c.parse().unwrap(), None, "half a reply waits for more");
    }

    /// A scripted relay on loopback: answers each expected input with its
    /// reply, and fails the test when the client's bytes differ.
    async fn scripted(
        script: Vec<(&'static str, &'static str)>,
    ) -> (u16, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            sock.write_all(b"220 fake ESMTP\r\n").await.unwrap();
            let mut got = Vec::new();
            for (expect, reply) in script {
                // Read until the expected bytes are all there: a client that
                // waited for a reply in the middle of a group would hang here.
                while got.len() < expect.len() {
                    let mut b = [0u8; 4096];
                    let n = sock.read(&mut b).await.unwrap();
                    assert!(
                        n > 0,
                        "client closed; had {:?}",
                        String::from_utf8_lossy(&got)
                    );
                    got.extend_from_slice(&b[..n]);
                }
                let line = String::from_utf8_lossy(&got[..expect.len()]).to_string();
                assert_eq!(line, expect);
                got.drain(..expect.len());
                sock.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        (port, task)
    }

    fn relay_at(port: u16) -> Relay {
        relay(port)
    }

    fn relay(port: u16) -> Relay {
        let cfg = SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            timeout: crate::config::Span::secs(5),
            ..SmtpConfig::default()
        };
        Relay::new(&cfg, None).unwrap()
    }

    #[tokio::test]
    async fn the_next_envelope_follows_the_end_of_data_and_only_its_copy_continues() {
        let hello = hello_name();
        let ehlo_line: &'static str = Box::leak(format!("EHLO {hello}\r\n").into_boxed_str());
        let (port, server) = scripted(vec![
            (ehlo_line, "250-fake\r\n250-PIPELINING\r\n250 8BITMIME\r\n"),
            (
                "MAIL FROM:<r@example.test>\r\nRCPT TO:<a@x.org>\r\nDATA\r\n",
                "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n",
            ),
            // a's end of data and b's envelope in one write.
            (
                "a\r\n.\r\nMAIL FROM:<r@example.test>\r\nRCPT TO:<b@x.org>\r\nDATA\r\n",
                "250 2.0.0 queued\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n",
            ),
            // b refused at end of data: no RSET, c's envelope is already there.
            (
                "b\r\n.\r\nMAIL FROM:<r@example.test>\r\nRCPT TO:<c@x.org>\r\nDATA\r\n",
                "552 5.2.2 mailbox full\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n",
            ),
            (
                "c\r\n.\r\nMAIL FROM:<r@example.test>\r\nRCPT TO:<d@x.org>\r\nDATA\r\n",
                "250 2.0.0 queued\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n",
            ),
        ])
        .await;
        let relay = relay_at(port);
        let mut slot = None;
        let from = "r@example.test";
        let a = relay
            .transact_then(
                &mut slot,
                from,
                "a@x.org",
                b"a",
                Some((from, "b@x.org", b"b")),
            )
            .await;
        assert_eq!(a, Attempt::Sent);
        assert!(slot.as_ref().is_some_and(Conn::sent_ahead));
        let b = relay
            .transact_then(
                &mut slot,
                from,
                "b@x.org",
                b"b",
                Some((from, "c@x.org", b"c")),
            )
            .await;
        assert!(matches!(b, Attempt::Permanent { .. }), "{b:?}");
        let c = relay
            .transact_then(
                &mut slot,
                from,
                "c@x.org",
                b"c",
                Some((from, "d@x.org", b"d")),
            )
            .await;
        assert_eq!(c, Attempt::Sent);
        // The connection waits for d's copy: closing it sends no QUIT (the
        // relay would take it for message text) and drops d's envelope.
        relay.close(&mut slot).await;
        assert!(slot.is_none());
        server.await.unwrap();

        // A connection waiting for another copy is not used for this one.
        let (port, server) = scripted(vec![
            (ehlo_line, "250-fake\r\n250-PIPELINING\r\n250 8BITMIME\r\n"),
            (
                "MAIL FROM:<r@example.test>\r\nRCPT TO:<a@x.org>\r\nDATA\r\n",
                "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n",
            ),
            (
                "a\r\n.\r\nMAIL FROM:<r@example.test>\r\nRCPT TO:<b@x.org>\r\nDATA\r\n",
                "250 2.0.0 queued\r\n",
            ),
        ])
        .await;
        let relay2 = relay_at(port);
        let mut slot = None;
        let a = relay2
            .transact_then(
                &mut slot,
                from,
                "a@x.org",
                b"a",
                Some((from, "b@x.org", b"b")),
            )
            .await;
        assert_eq!(a, Attempt::Sent);
        server.await.unwrap();
        let other = relay2.transact(&mut slot, from, "z@x.org", b"z").await;
        assert!(
            matches!(other, Attempt::Temporary { relay: true, .. }),
            "dropped and reconnected (nobody listens now): {other:?}"
        );
    }

    #[tokio::test]
    async fn the_envelope_goes_in_one_group_and_a_refused_sender_bounces_nobody() {
        let hello = hello_name();
        let ehlo_line: &'static str = Box::leak(format!("EHLO {hello}\r\n").into_boxed_str());
        let (port, server) = scripted(vec![
            (ehlo_line, "250-fake\r\n250-PIPELINING\r\n250 8BITMIME\r\n"),
            (
                "MAIL FROM:<list-bounces+a=x.org@example.test>\r\nRCPT TO:<a@x.org>\r\nDATA\r\n",
                "553 5.7.1 sender refused\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n",
            ),
            ("RSET\r\n", "250 2.0.0 Ok\r\n"),
            (
                "MAIL FROM:<list-bounces+b=x.org@example.test>\r\nRCPT TO:<b@x.org>\r\nDATA\r\n",
                "250 2.1.0 Ok\r\n550 5.1.1 <b@x.org>: no such user\r\n554 5.5.1 no valid recipients\r\n",
            ),
            ("RSET\r\n", "250 2.0.0 Ok\r\n"),
            (
                "MAIL FROM:<list-bounces+c=x.org@example.test>\r\nRCPT TO:<c@x.org>\r\nDATA\r\n",
                "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n",
            ),
            ("Subject: hi\r\n\r\n..dot\r\n.\r\n", "250 2.0.0 queued\r\n"),
            ("QUIT\r\n", "221 bye\r\n"),
        ])
        .await;
        let relay = relay(port);
        let mut slot = None;
        let a = relay
            .transact(
                &mut slot,
                "list-bounces+a=x.org@example.test",
                "a@x.org",
                b"Subject: hi\r\n\r\nx",
            )
            .await;
        assert!(
            matches!(&a, Attempt::Temporary { relay: true, error } if error.contains("sender refused")),
            "a refused return path is the relay's business: {a:?}"
        );
        let b = relay
            .transact(
                &mut slot,
                "list-bounces+b=x.org@example.test",
                "b@x.org",
                b"Subject: hi\r\n\r\nx",
            )
            .await;
        assert_eq!(
            b,
            Attempt::Permanent {
                error: "550 5.1.1 <b@x.org>: no such user".into(),
                bounce: true
            },
            "the RCPT refusal decides, not the DATA that followed it"
        );
        let c = relay
            .transact(
                &mut slot,
                "list-bounces+c=x.org@example.test",
                "c@x.org",
                b"Subject: hi\r\n\r\n.dot",
            )
            .await;
        assert_eq!(c, Attempt::Sent);
        relay.close(&mut slot).await;
        server.await.unwrap();
    }

    #[tokio::test]
    async fn without_pipelining_each_command_waits_and_a_4xx_to_rcpt_is_the_recipient_s() {
        let hello = hello_name();
        let ehlo_line: &'static str = Box::leak(format!("EHLO {hello}\r\n").into_boxed_str());
        let (port, server) = scripted(vec![
            (ehlo_line, "250-fake\r\n250 8BITMIME\r\n"),
            ("MAIL FROM:<r@example.test>\r\n", "250 Ok\r\n"),
            ("RCPT TO:<a@x.org>\r\n", "450 4.2.0 greylisted\r\n"),
            ("RSET\r\n", "250 Ok\r\n"),
            ("MAIL FROM:<r@example.test> BODY=8BITMIME\r\n", "250 Ok\r\n"),
            ("RCPT TO:<a@x.org>\r\n", "250 Ok\r\n"),
            ("DATA\r\n", "354 go\r\n"),
            ("caf\u{e9}\r\n.\r\n", "250 Ok\r\n"),
        ])
        .await;
        let relay = relay(port);
        let mut slot = None;
        let a = relay
            .transact(&mut slot, "r@example.test", "a@x.org", b"x")
            .await;
        assert!(
            matches!(a, Attempt::Temporary { relay: false, .. }),
            "{a:?}"
        );
        let b = relay
            .transact(&mut slot, "r@example.test", "a@x.org", "café".as_bytes())
            .await;
        assert_eq!(b, Attempt::Sent);
        server.await.unwrap();
        let c = relay
            .transact(&mut slot, "r@example.test", "a@x.org", b"x")
            .await;
        assert!(
            matches!(&c, Attempt::Temporary { relay: true, .. }),
            "the relay went away: {c:?}"
        );
    }

    #[tokio::test]
    async fn login_uses_what_the_relay_offers_and_a_refusal_is_the_relay_s_fault() {
        let hello = hello_name();
        let ehlo_line: &'static str = Box::leak(format!("EHLO {hello}\r\n").into_boxed_str());
        let (port, server) = scripted(vec![
            (ehlo_line, "250-fake\r\n250 AUTH LOGIN\r\n"),
            ("AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n"),
            ("dXNlcg==\r\n", "334 UGFzc3dvcmQ6\r\n"),
            ("cGFzcw==\r\n", "535 5.7.8 bad credentials\r\n"),
        ])
        .await;
        let cfg = SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            username: Some("user".into()),
            timeout: crate::config::Span::secs(5),
            ..SmtpConfig::default()
        };
        let relay = Relay::new(&cfg, Some("pass".into())).unwrap();
        let mut slot = None;
        let a = relay
            .transact(&mut slot, "r@example.test", "a@x.org", b"x")
            .await;
        assert!(
            matches!(&a, Attempt::Temporary { relay: true, error } if error.contains("login refused: 535 5.7.8")),
            "{a:?}"
        );
        server.await.unwrap();
    }

    #[test]
    fn auth_keywords_are_read() {
        let caps = Caps::parse(&Reply {
            code: 250,
            text: "mx\nAUTH LOGIN PLAIN\nSTARTTLS".into(),
        });
        assert!(caps.plain && caps.login && caps.starttls && !caps.pipelining);
    }

    #[test]
    fn the_body_is_dot_stuffed_and_terminated() {
        assert_eq!(
            dot_stuff(b".hidden\r\nline\n..two\r\nend"),
            b"..hidden\r\nline\r\n...two\r\nend\r\n.\r\n".to_vec()
        );
        assert_eq!(dot_stuff(b"x\r\n"), b"x\r\n.\r\n".to_vec());
        let (body, end) = framed(b"Subject: a\r\n\r\nline");
        assert!(
            matches!(body, std::borrow::Cow::Borrowed(_)),
            "sent as it is"
        );
        assert_eq!(end, b"\r\n.\r\n");
    }

    proptest::proptest! {
        /// Line-wise stuffing agrees with the rule applied a byte at a time.
        #[test]
        fn dot_stuffing_agrees_with_the_bytewise_rule(
            message in proptest::collection::vec(
                proptest::sample::select(b".\r\nab".to_vec()), 0..200),
        ) {
            let mut want = Vec::new();
            let (mut at_line_start, mut prev) = (true, 0u8);
            for &b in &message {
                if at_line_start && b == b'.' {
                    want.push(b'.');
                }
                if b == b'\n' && prev != b'\r' {
                    want.push(b'\r');
                }
                want.push(b);
                at_line_start = b == b'\n';
                prev = b;
            }
            if !message.is_empty() && !want.ends_with(b"\r\n") {
                want.extend_from_slice(b"\r\n");
            }
            want.extend_from_slice(b".\r\n");
            proptest::prop_assert_eq!(dot_stuff(&message), want.clone());
            let (body, end) = framed(&message);
            proptest::prop_assert_eq!([&body[..], end].concat(), want);
        }
    }

    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
        assert_eq!(base64(b"\0user\0pass"), "AHVzZXIAcGFzcw==");
    }
}
