//! An LMTP listener (RFC 2033) inside `praxis serve`, for sites whose MTA
//! delivers the list domain straight to praxis (Postfix
//! `lmtp:inet:127.0.0.1:PORT`), the way Mailman 3 receives mail.
//!
//! Commands are parsed by smtp-proto; this file owns the session. After the
//! data, each accepted recipient gets its own reply, given only once the post
//! is committed: 250 when stored (or already stored), 451/452 when the
//! database cannot take it now, so the MTA keeps the message and retries.
//! Loopback or a Unix socket only: LMTP has no authentication.

use std::sync::{Arc, Mutex};

use smtp_proto::request::receiver::{DataReceiver, RequestReceiver};
use smtp_proto::{Error as SmtpError, Request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::warn;

use super::pipeline::{self, Incoming};
use crate::community::{Communities, Community};
use crate::config::{Config, Listen};
use crate::model::Source;
use crate::shutdown::Shutdown;
use crate::store::{Store, StoreError, Stored, now};

/// What the listener needs to know.
#[derive(Clone)]
pub struct LmtpServer {
    /// Communities whose addresses it accepts, resolved once.
    communities: Communities,
    /// The whole config, for what happens after a post is stored.
    config: Arc<Config>,
    /// The database, shared by every connection (writes are serialised).
    store: Arc<Mutex<Store>>,
    /// Largest message accepted, in bytes.
    max_size: usize,
    /// The name in the greeting.
    hostname: String,
}

impl LmtpServer {
    /// A server for these communities over the database at `db`.
    pub fn new(
        config: Arc<Config>,
        communities: Communities,
        db: &crate::config::Database,
        max_size: usize,
    ) -> Result<LmtpServer, StoreError> {
        let store = Store::open_database(db)?;
        Ok(LmtpServer {
            communities,
            config,
            store: Arc::new(Mutex::new(store)),
            max_size,
            hostname: "praxis".into(),
        })
    }

    /// Accepts connections until shutdown.
    pub async fn serve(self, listen: Listen, shutdown: Shutdown) -> anyhow::Result<()> {
        let sd = shutdown.clone();
        crate::shutdown::accept_loop(listen, "LMTP", "lmtp.listen", shutdown, move |sock| {
            let (s, sd) = (self.clone(), sd.clone());
            async move {
                if let Err(e) = s.session(sock, sd).await {
                    warn!("LMTP session ended: {e}");
                }
            }
        })
        .await
    }

    /// One client connection.
    pub async fn session<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut sock: S,
        mut shutdown: Shutdown,
    ) -> std::io::Result<()> {
        sock.write_all(format!("220 {} LMTP praxis ready\r\n", self.hostname).as_bytes())
            .await?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut pending: Vec<u8> = Vec::new();
        let mut receiver = RequestReceiver::default();
        let mut greeted = false;
        let mut mail_from: Option<String> = None;
        let mut rcpts: Vec<(String, Arc<Community>)> = Vec::new();
        loop {
            // Parse every complete command already buffered.
            let mut iter = pending.iter();
            let mut replies = String::new();
            let mut start_data = false;
            let mut quit = false;
            loop {
                match receiver.ingest(&mut iter) {
                    Ok(req) => match req {
                        Request::Lhlo { .. } => {
                            greeted = true;
                            mail_from = None;
                            rcpts.clear();
                            replies.push_str(&format!(
                                "250-{}\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SIZE {}\r\n",
                                self.hostname, self.max_size
                            ));
                        }
                        Request::Ehlo { .. } | Request::Helo { .. } => {
                            replies.push_str("500 5.5.1 This is LMTP: say LHLO\r\n")
                        }
                        Request::Mail { from } => {
                            if !greeted {
                                replies.push_str("503 5.5.1 Say LHLO first\r\n");
                            } else if from.size > self.max_size {
                                replies.push_str("552 5.3.4 Message too big\r\n");
                            } else {
                                mail_from = Some(from.address.to_string());
                                rcpts.clear();
                                replies.push_str("250 2.1.0 Sender ok\r\n");
                            }
                        }
                        Request::Rcpt { to } => {
                            let addr = to.address.to_string();
                            if mail_from.is_none() {
                                replies.push_str("503 5.5.1 MAIL first\r\n");
                            } else if let Some(c) = self.communities.for_rcpt(&addr) {
                                rcpts.push((addr, c.clone()));
                                replies.push_str("250 2.1.5 Recipient ok\r\n");
                            } else {
                                replies.push_str(&format!(
                                    "550 5.1.1 <{addr}>: no community here has this address\r\n"
                                ));
                            }
                        }
                        Request::Data => {
                            if rcpts.is_empty() {
                                replies.push_str("503 5.5.1 No valid recipients\r\n");
                            } else {
                                replies
                                    .push_str("354 Send the message; end with <CRLF>.<CRLF>\r\n");
                                start_data = true;
                                break;
                            }
                        }
                        Request::Rset => {
                            mail_from = None;
                            rcpts.clear();
                            replies.push_str("250 2.0.0 Reset\r\n");
                        }
                        Request::Noop { .. } => replies.push_str("250 2.0.0 Ok\r\n"),
                        Request::Vrfy { .. } => replies.push_str("252 2.5.0 Cannot verify\r\n"),
                        Request::Quit => {
                            replies.push_str("221 2.0.0 Bye\r\n");
                            quit = true;
                            break;
                        }
                        other => replies.push_str(&format!(
                            "502 5.5.1 {} is not implemented\r\n",
                            other.name()
                        )),
                    },
                    Err(SmtpError::NeedsMoreData { .. }) => break,
                    Err(SmtpError::ResponseTooLong) => {
                        replies.push_str("500 5.5.2 Line too long\r\n")
                    }
                    Err(e) => replies.push_str(&format!("501 5.5.2 {e}\r\n")),
                }
            }
            let consumed = pending.len() - iter.as_slice().len();
            pending.drain(..consumed);
            if !replies.is_empty() {
                sock.write_all(replies.as_bytes()).await?;
            }
            if quit {
                return Ok(());
            }
            if start_data {
                let (message, too_big) = self.read_data(&mut sock, &mut pending, &mut buf).await?;
                let replies = self.deliver(message, too_big, &rcpts).await;
                sock.write_all(replies.as_bytes()).await?;
                mail_from = None;
                rcpts.clear();
                continue;
            }
            let n = tokio::select! {
                r = sock.read(&mut buf) => r?,
                _ = shutdown.recv() => {
                    sock.write_all(b"421 4.3.2 Shutting down\r\n").await?;
                    return Ok(());
                }
            };
            if n == 0 {
                return Ok(());
            }
            pending.extend_from_slice(&buf[..n]);
        }
    }

    /// Reads DATA up to the terminating dot; past the size limit the rest is
    /// read and dropped. Returns the message and whether it was too big.
    async fn read_data<S: AsyncRead + Unpin>(
        &self,
        sock: &mut S,
        pending: &mut Vec<u8>,
        buf: &mut [u8],
    ) -> std::io::Result<(Vec<u8>, bool)> {
        let mut data = DataReceiver::new();
        let mut message = Vec::new();
        // Prime the receiver as if after a CRLF, so a stuffed dot on the
        // first line is unstuffed too.
        data.ingest(&mut b"\r\n".iter(), &mut message);
        message.clear();
        let mut too_big = false;
        loop {
            let mut iter = pending.iter();
            let done = data.ingest(&mut iter, &mut message);
            let consumed = pending.len() - iter.as_slice().len();
            pending.drain(..consumed);
            if message.len() > self.max_size {
                too_big = true;
                message.clear();
            }
            if done {
                return Ok((message, too_big));
            }
            let n = sock.read(buf).await?;
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed during DATA",
                ));
            }
            pending.extend_from_slice(&buf[..n]);
        }
    }

    /// Stores the message once per accepted recipient; one reply line each.
    async fn deliver(
        &self,
        message: Vec<u8>,
        too_big: bool,
        rcpts: &[(String, Arc<Community>)],
    ) -> String {
        if too_big {
            return rcpts
                .iter()
                .map(|(r, _)| format!("552 5.3.4 <{r}> Message too big\r\n"))
                .collect();
        }
        let store = self.store.clone();
        let config = self.config.clone();
        let owned = rcpts.to_vec();
        let result = tokio::task::spawn_blocking(move || {
            let rcpts = owned;
            let mut guard = store.lock().expect("store lock");
            let t = now();
            let mut out = String::new();
            for (rcpt, c) in &rcpts {
                let r = (|| {
                    let batch = guard.batch()?;
                    let o = pipeline::ingest(
                        &batch,
                        c,
                        Incoming {
                            raw: &message,
                            source: Source::Lmtp,
                            envelope_to: Some(rcpt),
                            received_at: t,
                        },
                    )?;
                    batch.commit()?;
                    Ok::<_, StoreError>(o)
                })();
                if let Ok(o) = &r
                    && let Err(e) = crate::effects::after_ingest(
                        &mut guard,
                        &config,
                        c,
                        &message,
                        Some(rcpt),
                        o,
                    )
                {
                    crate::effects::log_failure("LMTP: after storing", &e);
                }
                out.push_str(&match r {
                    Ok(o) => match o.stored {
                        Stored::New { post, .. } => {
                            format!("250 2.0.0 <{rcpt}> stored as post {post} ({})\r\n", o.class)
                        }
                        Stored::Duplicate(post) => {
                            format!("250 2.0.0 <{rcpt}> already stored as post {post}\r\n")
                        }
                    },
                    Err(e) if e.is_disk_full() => {
                        warn!("LMTP: {e}");
                        format!("452 4.3.1 <{rcpt}> insufficient storage, try later\r\n")
                    }
                    Err(e) => {
                        warn!("LMTP: cannot store for {rcpt}: {e}");
                        format!("451 4.3.0 <{rcpt}> temporary failure, try later\r\n")
                    }
                });
            }
            out
        })
        .await;
        match result {
            Ok(s) => s,
            Err(e) => {
                warn!("LMTP: storing task failed: {e}");
                rcpts
                    .iter()
                    .map(|(r, _)| format!("451 4.3.0 <{r}> temporary failure, try later\r\n"))
                    .collect()
            }
        }
    }
}
