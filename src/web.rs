//! The one-click unsubscribe endpoint (RFC 8058) inside `praxis serve`:
//! the https links in List-Unsubscribe and the footer land here, through the
//! front end (nginx, Caddy) that terminates TLS for `delivery.base_url`.
//!
//! - `POST …/unsubscribe/SLUG/ADDRESS/TOKEN` with the body
//!   `List-Unsubscribe=One-Click` (what mail providers send): the member
//!   leaves at once. The HMAC token is the proof; nothing else is asked.
//! - `GET` of the same link (a person clicking the footer link, or a link
//!   scanner prefetching it) changes nothing: it shows a page with one
//!   button that makes the POST.
//! - A bad token gets 403, anything else 404 or 405; requests are small and
//!   bounded (8 KB of head, 4 KB of body), one per connection.
//!
//! HTTP/1.1 heads are parsed by httparse; this file owns the rest. Loopback
//! or a Unix socket only, like the LMTP listener.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::warn;

use crate::community::Communities;
use crate::config::Listen;
use crate::deliver::links::{LinkKey, verify_unsubscribe};
use crate::shutdown::Shutdown;
use crate::store::Store;

/// Largest request head read.
const MAX_HEAD: usize = 8 * 1024;
/// Largest request body read.
const MAX_BODY: usize = 4 * 1024;
/// A client gets this long to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The endpoint, shared by every connection.
#[derive(Clone)]
pub struct WebServer {
    /// The communities, resolved once: each one's name and templates.
    communities: Communities,
    /// The key the links were signed with.
    key: LinkKey,
    /// The database (writes are serialised, and rare).
    store: Arc<Mutex<Store>>,
}

/// What a request comes to.
#[derive(Debug, PartialEq, Eq)]
struct Reply {
    /// The status line's code and reason.
    status: (u16, &'static str),
    /// The content type of `body`.
    content_type: &'static str,
    /// The body.
    body: String,
}

impl Reply {
    fn text(status: (u16, &'static str), body: impl Into<String>) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }

    fn html(title: &str, paragraph: &str, form: bool) -> Reply {
        let button = if form {
            "<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
             <button type=\"submit\">Unsubscribe</button></form>"
        } else {
            ""
        };
        Reply {
            status: (200, "OK"),
            content_type: "text/html; charset=utf-8",
            body: format!(
                "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
                 <body><h1>{t}</h1><p>{paragraph}</p>{button}</body></html>\n",
                t = escape(title)
            ),
        }
    }
}

/// HTML-escapes text.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Decodes `%XX` escapes; `None` when they do not make UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The (slug, address, token) of `…/unsubscribe/SLUG/ADDRESS/TOKEN`, under
/// whatever prefix the front end keeps.
fn unsubscribe_target(path: &str) -> Option<(String, String, String)> {
    let path = path.split(['?', '#']).next()?;
    let parts: Vec<&str> = path.trim_end_matches('/').rsplitn(5, '/').collect();
    match parts.as_slice() {
        [token, address, slug, "unsubscribe", ..] => Some((
            percent_decode(slug)?,
            percent_decode(address)?,
            (*token).to_string(),
        )),
        _ => None,
    }
}

impl WebServer {
    /// The endpoint over the database at `db`, checking links with `key`.
    pub fn new(
        communities: Communities,
        db: &std::path::Path,
        key: LinkKey,
    ) -> Result<WebServer, crate::store::StoreError> {
        Ok(WebServer {
            communities,
            key,
            store: Arc::new(Mutex::new(Store::open(db)?)),
        })
    }

    /// Accepts connections until shutdown.
    pub async fn serve(self, listen: Listen, shutdown: Shutdown) -> anyhow::Result<()> {
        crate::shutdown::accept_loop(listen, "HTTP", "http.listen", shutdown, move |sock| {
            self.clone().session(sock)
        })
        .await
    }

    /// One request, one reply, then the connection closes.
    async fn session<S: AsyncRead + AsyncWrite + Unpin>(self, mut sock: S) {
        let reply = match tokio::time::timeout(READ_TIMEOUT, read_request(&mut sock)).await {
            Ok(Ok((method, path, body))) => {
                let this = self.clone();
                tokio::task::spawn_blocking(move || this.handle(&method, &path, &body))
                    .await
                    .unwrap_or_else(|_| {
                        Reply::text((500, "Internal Server Error"), "something failed\n")
                    })
            }
            Ok(Err(reply)) => reply,
            Err(_) => Reply::text((408, "Request Timeout"), "request timed out\n"),
        };
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
             X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
            reply.status.0,
            reply.status.1,
            reply.content_type,
            reply.body.len()
        );
        let _ = sock.write_all(head.as_bytes()).await;
        let _ = sock.write_all(reply.body.as_bytes()).await;
        let _ = sock.shutdown().await;
    }

    /// Answers a parsed request.
    fn handle(&self, method: &str, path: &str, body: &[u8]) -> Reply {
        let not_found = || Reply::text((404, "Not Found"), "not found\n");
        let Some((slug, address, token)) = unsubscribe_target(path) else {
            return not_found();
        };
        let Ok(c) = self.communities.by_slug(&slug) else {
            return not_found();
        };
        if !verify_unsubscribe(&self.key, &slug, &address, &token) {
            return Reply::text(
                (403, "Forbidden"),
                "this unsubscribe link is not valid; use the link in a recent message, or write to the list's -request address\n",
            );
        }
        match method {
            "GET" | "HEAD" => Reply::html(
                &format!("Leave {}?", c.name()),
                &format!(
                    "{} will receive no more mail from {}.",
                    escape(&address),
                    escape(c.name())
                ),
                true,
            ),
            "POST" => {
                // RFC 8058 §3.1: the POST carries List-Unsubscribe=One-Click.
                let form = String::from_utf8_lossy(body);
                if !form.contains("List-Unsubscribe=One-Click") {
                    return Reply::text(
                        (400, "Bad Request"),
                        "expected the form field List-Unsubscribe=One-Click (RFC 8058)\n",
                    );
                }
                let mut store = match self.store.lock() {
                    Ok(s) => s,
                    Err(p) => p.into_inner(),
                };
                match crate::effects::one_click_unsubscribe(&mut store, c, &address) {
                    Ok(left) => Reply::html(
                        &format!("You have left {}", c.name()),
                        &if left {
                            format!("{} is unsubscribed.", escape(&address))
                        } else {
                            format!("{} is not a member.", escape(&address))
                        },
                        false,
                    ),
                    Err(e) => {
                        warn!(community = %slug, "one-click unsubscribe failed: {e}");
                        Reply::text(
                            (503, "Service Unavailable"),
                            "could not record the unsubscribe now; please try again\n",
                        )
                    }
                }
            }
            _ => Reply::text((405, "Method Not Allowed"), "use GET or POST\n"),
        }
    }
}

/// Reads one request: (method, path, body), or the error reply.
async fn read_request<S: AsyncRead + Unpin>(
    sock: &mut S,
) -> Result<(String, String, Vec<u8>), Reply> {
    let too_big = || Reply::text((413, "Content Too Large"), "request too large\n");
    let bad = || Reply::text((400, "Bad Request"), "bad request\n");
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = sock.read(&mut chunk).await.map_err(|_| bad())?;
        if n == 0 {
            return Err(bad());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let method = req.method.unwrap_or_default().to_string();
                let path = req.path.unwrap_or_default().to_string();
                let length = req
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                    .map(|h| {
                        std::str::from_utf8(h.value)
                            .ok()
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .ok_or_else(bad)
                    })
                    .transpose()?
                    .unwrap_or(0);
                if length > MAX_BODY {
                    return Err(too_big());
                }
                let mut body = buf[head_len..].to_vec();
                while body.len() < length {
                    let n = sock.read(&mut chunk).await.map_err(|_| bad())?;
                    if n == 0 {
                        return Err(bad());
                    }
                    body.extend_from_slice(&chunk[..n]);
                }
                body.truncate(length);
                return Ok((method, path, body));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => continue,
            Ok(httparse::Status::Partial) => return Err(too_big()),
            Err(_) => return Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_is_the_last_four_segments_under_any_prefix() {
        assert_eq!(
            unsubscribe_target("/unsubscribe/health/o%27brien%2Bx@example.org/abc"),
            Some((
                "health".into(),
                "o'brien+x@example.org".into(),
                "abc".into()
            ))
        );
        assert_eq!(
            unsubscribe_target("/lists/unsubscribe/health/a@example.org/abc/?utm=1"),
            Some(("health".into(), "a@example.org".into(), "abc".into()))
        );
        assert_eq!(unsubscribe_target("/health/a@example.org/abc"), None);
        assert_eq!(unsubscribe_target("/unsubscribe/health/%ZZ/abc"), None);
        assert_eq!(unsubscribe_target("/"), None);
    }

    #[test]
    fn pages_escape_what_they_show() {
        let r = Reply::html("Leave <b>?", "x&y", true);
        assert!(r.body.contains("<title>Leave &lt;b&gt;?</title>"));
        assert!(r.body.contains("method=\"post\""));
    }
}
