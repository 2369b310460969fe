//! Parses raw message bytes (mail-parser) into the normalised fields praxis
//! stores. Tolerant: anything with at least one header parses; what does not
//! is reported as unparseable so the caller keeps it raw and holds it.

use mail_parser::{Address, HeaderName, MessageParser, MimeHeaders};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Text kept per post for display and search; the raw message keeps the rest.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;

/// Longest Subject and display name kept (RFC 5322's line limit): a 10 MB
/// Subject is kept whole in the raw message, not in every notice and index.
pub const MAX_HEADER_TEXT_BYTES: usize = 998;

/// Cuts `s` to at most `max` bytes on a character boundary.
fn cap(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// One attached file: its description (stored with the post) and, from
/// the parse, its decoded bytes and their hash (kept once in the
/// attachment store; read from the one parse, not by parsing again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// File name, or "(unnamed)": the same file may have another name in
    /// another post.
    pub name: String,
    /// MIME type, lowercase, e.g. application/pdf.
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the decoded bytes: the file's identity, so a file
    /// posted twice is kept once. Empty in descriptions stored before it.
    #[serde(default)]
    pub sha256: String,
    /// The decoded bytes; not part of the stored description.
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// The fields of a message that praxis stores and decides on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// Message-ID without angle brackets; synthetic when the message has none.
    pub message_id: String,
    /// Whether `message_id` was made up (from the SHA-256).
    pub synthetic_id: bool,
    /// Sender address, lowercase.
    pub from_addr: String,
    /// Sender display name, decoded.
    pub from_name: String,
    /// Subject, decoded (RFC 2047), whitespace folded.
    pub subject: String,
    /// The Date header as Unix seconds, when present and sane.
    pub date: Option<i64>,
    /// In-Reply-To: the first id in it.
    pub in_reply_to: Option<String>,
    /// References, oldest first, without duplicates.
    pub references: Vec<String>,
    /// List-Id without angle brackets.
    pub list_id: Option<String>,
    /// Plain text body (HTML converted when there is no text part).
    pub text: String,
    /// Attachments.
    pub attachments: Vec<Attachment>,
    /// Delivered-To and X-Original-To values, lowercase, in header order.
    pub delivered_to: Vec<String>,
    /// To and Cc addresses, lowercase.
    pub to_cc: Vec<String>,
    /// Auto-Submitted (RFC 3834), lowercase.
    pub auto_submitted: Option<String>,
    /// Precedence, lowercase.
    pub precedence: Option<String>,
    /// X-Autoreply, X-Autorespond or similar present.
    pub x_autoreply: bool,
    /// X-Loop values, lowercase.
    pub x_loop: Vec<String>,
    /// Return-Path, lowercase, without brackets ("" for the null sender).
    pub return_path: Option<String>,
    /// Top-level content type, e.g. multipart/report.
    pub content_type: String,
    /// The report-type parameter of a multipart/report.
    pub report_type: Option<String>,
    /// Authentication-Results header values (RFC 8601), in header order.
    pub auth_results: Vec<String>,
}

/// Why bytes could not be parsed as a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a mail message: {0}")]
pub struct Unparseable(pub String);

/// Hex SHA-256 of raw bytes.
pub fn sha256_hex(raw: &[u8]) -> String {
    hex::encode(Sha256::digest(raw))
}

/// The SHA-256 of raw bytes.
pub fn sha256(raw: &[u8]) -> [u8; 32] {
    Sha256::digest(raw).into()
}

/// The stable id given to a message without a Message-ID.
pub fn synthetic_message_id(raw: &[u8]) -> String {
    synthetic_message_id_of(&sha256(raw))
}

/// [`synthetic_message_id`] from the SHA-256 of the bytes, already made.
pub fn synthetic_message_id_of(sha256: &[u8; 32]) -> String {
    format!("{}@sha256.praxis.invalid", &hex::encode(sha256)[..40])
}

/// Parses a message.
pub fn parse(raw: &[u8]) -> Result<Parsed, Unparseable> {
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Unparseable("empty message".into()));
    }
    // mail-parser 0.11 panics on some malformed MIME trees ("Invalid part ID,
    // could not find multipart", seen in SpamAssassin's corpus): a message
    // that crashes the parser is unparseable, never a crash of praxis.
    let parsed = std::panic::catch_unwind(|| MessageParser::default().parse(raw));
    let msg = match parsed {
        Ok(Some(m)) => m,
        Ok(None) => return Err(Unparseable("mail-parser found no message".into())),
        Err(_) => return Err(Unparseable("the MIME structure crashed the parser".into())),
    };
    if msg.headers().is_empty() {
        return Err(Unparseable("no header lines".into()));
    }
    // A real message has at least one of these; a binary blob or a text file does not.
    let has_mail_header = msg.headers().iter().any(|h| {
        matches!(
            h.name,
            HeaderName::From
                | HeaderName::To
                | HeaderName::Subject
                | HeaderName::Date
                | HeaderName::MessageId
                | HeaderName::Sender
                | HeaderName::ReturnPath
                | HeaderName::Received
                | HeaderName::MimeVersion
                | HeaderName::ContentType
        )
    });
    if !has_mail_header {
        return Err(Unparseable(
            "no From, To, Subject, Date, Message-ID or Received header".into(),
        ));
    }

    let mut p = Parsed::default();
    match msg.message_id().map(clean_id).filter(|s| !s.is_empty()) {
        Some(id) => p.message_id = id,
        None => {
            p.message_id = synthetic_message_id(raw);
            p.synthetic_id = true;
        }
    }
    if let Some(addr) = msg.from().and_then(first_addr) {
        p.from_addr = addr.0;
        p.from_name = addr.1;
    } else if let Some(addr) = msg.sender().and_then(first_addr) {
        p.from_addr = addr.0;
        p.from_name = addr.1;
    }
    p.subject = cap(fold(msg.subject().unwrap_or("")), MAX_HEADER_TEXT_BYTES);
    p.from_name = cap(std::mem::take(&mut p.from_name), MAX_HEADER_TEXT_BYTES);
    p.date = msg
        .date()
        .filter(|d| d.is_valid())
        .map(|d| d.to_timestamp())
        .filter(|t| (0..4_102_444_800).contains(t));
    p.in_reply_to = msg
        .header_raw(HeaderName::InReplyTo)
        .and_then(|v| ids_in(v).into_iter().next());
    let mut refs = Vec::new();
    for (name, value) in msg.headers_raw() {
        if name.eq_ignore_ascii_case("References") {
            for id in ids_in(value) {
                if !refs.contains(&id) {
                    refs.push(id);
                }
            }
        }
    }
    refs.retain(|r| *r != p.message_id);
    p.references = refs;
    p.list_id = msg
        .header_raw(HeaderName::ListId)
        .and_then(|v| {
            ids_in(v)
                .into_iter()
                .next()
                .or_else(|| Some(v.trim().to_ascii_lowercase()))
        })
        .map(|s| s.to_ascii_lowercase());

    // An HTML-only message gets praxis's own conversion (paragraphs, lists,
    // blockquotes as `> `); otherwise the first text part.
    let html_only = !msg.text_body.is_empty()
        && msg.text_body.iter().all(|&i| {
            msg.parts
                .get(i as usize)
                .is_some_and(|part| matches!(part.body, mail_parser::PartType::Html(_)))
        });
    p.text = if html_only {
        msg.body_html(0)
            .map(|h| super::html::to_text(&h))
            .unwrap_or_default()
    } else {
        msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default()
    };
    if p.text.len() > MAX_TEXT_BYTES {
        let mut cut = MAX_TEXT_BYTES;
        while !p.text.is_char_boundary(cut) {
            cut -= 1;
        }
        p.text.truncate(cut);
    }
    p.attachments = msg
        .attachments()
        .map(|a| {
            let (name, content_type) = super::attachments::describe(a);
            let bytes = a.contents().to_vec();
            Attachment {
                name,
                content_type,
                size: bytes.len() as u64,
                sha256: sha256_hex(&bytes),
                bytes,
            }
        })
        .collect();

    for (name, value) in msg.headers_raw() {
        let lname = name.to_ascii_lowercase();
        let v = value.trim();
        match lname.as_str() {
            "delivered-to" | "x-original-to" => {
                p.delivered_to.push(strip_brackets(v).to_ascii_lowercase())
            }
            "auto-submitted" => {
                p.auto_submitted = Some(
                    v.split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase(),
                )
            }
            "precedence" => p.precedence = Some(v.to_ascii_lowercase()),
            "x-autoreply" | "x-autorespond" | "x-autoresponder" | "x-autogenerated" => {
                p.x_autoreply = true
            }
            "x-loop" => p.x_loop.push(strip_brackets(v).to_ascii_lowercase()),
            "authentication-results" => p.auth_results.push(fold(v)),
            "return-path" => p.return_path = Some(strip_brackets(v).to_ascii_lowercase()),
            _ => {}
        }
    }
    for a in [msg.to(), msg.cc()].into_iter().flatten() {
        for addr in a.iter() {
            if let Some(x) = addr.address() {
                p.to_cc.push(x.trim().to_ascii_lowercase());
            }
        }
    }
    if let Some(ct) = msg.content_type() {
        p.content_type = match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_string(),
        }
        .to_ascii_lowercase();
        p.report_type = ct.attribute("report-type").map(|s| s.to_ascii_lowercase());
    } else {
        p.content_type = "text/plain".into();
    }
    Ok(p)
}

fn first_addr(a: &Address<'_>) -> Option<(String, String)> {
    let first = a.first()?;
    let addr = first.address()?.trim().to_ascii_lowercase();
    let name = first.name().map(fold).unwrap_or_default();
    Some((addr, name))
}

/// Whether an Authentication-Results header added by `authserv_id` (the
/// site's own boundary MTA; any other is the sender's word and is ignored)
/// says the message fails DMARC (RFC 8601 `dmarc=fail`).
pub fn dmarc_failed(auth_results: &[String], authserv_id: &str) -> bool {
    dmarc_says(auth_results, authserv_id, "dmarc=fail")
}

/// Whether an Authentication-Results header added by `authserv_id` says the
/// message passed DMARC (`dmarc=pass`): the From is the sender's own.
pub fn dmarc_passed(auth_results: &[String], authserv_id: &str) -> bool {
    dmarc_says(auth_results, authserv_id, "dmarc=pass")
}

/// Whether one of `authserv_id`'s own Authentication-Results headers has a
/// result starting with `result` (lowercase).
fn dmarc_says(auth_results: &[String], authserv_id: &str, result: &str) -> bool {
    auth_results.iter().any(|v| {
        let mut parts = v.split(';');
        let id = parts
            .next()
            .unwrap_or("")
            .split_whitespace()
            .next()
            .unwrap_or("");
        id.eq_ignore_ascii_case(authserv_id)
            && parts.any(|p| p.trim().to_ascii_lowercase().starts_with(result))
    })
}

/// Folds runs of whitespace (including CR/LF) to one space and trims.
pub fn fold(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn strip_brackets(s: &str) -> &str {
    s.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
}

fn clean_id(s: &str) -> String {
    strip_brackets(s).trim().to_string()
}

/// Every `<id>` in a header value; when there are no brackets, the
/// whitespace- or comma-separated words that look like ids.
pub fn ids_in(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        match after.find('>') {
            Some(end) => {
                let id = after[..end].trim();
                if !id.is_empty() && !id.contains(char::is_whitespace) {
                    out.push(id.to_string());
                }
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    if out.is_empty() {
        out = value
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| w.contains('@') && w.len() > 2)
            .map(|w| w.trim_matches(|c| c == '<' || c == '>').to_string())
            .collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIMPLE: &[u8] = b"From: =?UTF-8?Q?Bob_D=C3=A1s?= <Bob@Example.ORG>\r\n\
To: list@example.test\r\n\
Subject: Re: Mobile clinics\r\n\
\x20in flood areas\r\n\
Date: Mon, 23 Nov 2026 10:00:00 +0530\r\n\
Message-ID: <abc@example.org>\r\n\
In-Reply-To: <root@example.org> (Alice's message)\r\n\
References: <root@example.org>,\r\n <mid@example.org> <abc@example.org>\r\n\
Delivered-To: list-request@example.test\r\n\
\r\n\
We ran two boats.\r\n";

    #[test]
    fn fields() {
        let p = parse(SIMPLE).unwrap();
        assert_eq!(p.message_id, "abc@example.org");
        assert!(!p.synthetic_id);
        assert_eq!(p.from_addr, "bob@example.org");
        assert_eq!(p.from_name, "Bob Dás");
        assert_eq!(p.subject, "Re: Mobile clinics in flood areas");
        let utc = chrono::DateTime::parse_from_rfc3339("2026-11-23T04:30:00Z").unwrap();
        assert_eq!(p.date, Some(utc.timestamp()));
        assert_eq!(p.in_reply_to.as_deref(), Some("root@example.org"));
        assert_eq!(
            p.references,
            ["root@example.org", "mid@example.org"],
            "comma-separated, self removed"
        );
        assert_eq!(p.delivered_to, ["list-request@example.test"]);
        assert_eq!(p.to_cc, ["list@example.test"]);
        assert!(p.text.contains("two boats"));
    }

    #[test]
    fn missing_message_id_gets_a_stable_synthetic_one() {
        let raw = b"From: a@b.org\nSubject: x\n\nbody\n";
        let p1 = parse(raw).unwrap();
        let p2 = parse(raw).unwrap();
        assert!(p1.synthetic_id);
        assert_eq!(p1.message_id, p2.message_id);
        assert!(p1.message_id.ends_with("@sha256.praxis.invalid"));
    }

    #[test]
    fn garbage_is_unparseable() {
        assert!(parse(b"").is_err());
        assert!(parse(b"\r\n\r\n").is_err());
        assert!(parse(b"\x00\x01\x02\x03 binary junk without headers").is_err());
        assert!(parse(b"just a line of text\nand another\n").is_err());
    }

    #[test]
    fn html_only_becomes_text() {
        let raw =
            b"From: a@b.org\nSubject: h\nContent-Type: text/html\n\n<p>Hello <b>world</b></p>\n";
        let p = parse(raw).unwrap();
        assert!(
            p.text.contains("Hello") && p.text.contains("world"),
            "{}",
            p.text
        );
        assert!(!p.text.contains("<b>"));
    }

    #[test]
    fn dmarc_verdicts_are_read_only_from_our_own_server() {
        let raw = b"Authentication-Results: mx.example.test; spf=fail smtp.mailfrom=example.org;\n dkim=none; dmarc=fail (p=reject) header.from=example.org\nAuthentication-Results: evil.example.net; dmarc=pass header.from=example.org\nFrom: a@example.org\nSubject: x\n\nx\n";
        let p = parse(raw).unwrap();
        assert_eq!(p.auth_results.len(), 2);
        assert!(dmarc_failed(&p.auth_results, "mx.example.test"));
        assert!(
            !dmarc_failed(&p.auth_results, "evil.example.net"),
            "that one says pass"
        );
        assert!(
            !dmarc_failed(&p.auth_results, "other.example.test"),
            "no header from this server"
        );
        let forged = vec!["mx.example.test.evil.net; dmarc=fail".to_string()];
        assert!(!dmarc_failed(&forged, "mx.example.test"));
        let pass =
            vec!["mx.example.test 1; dkim=pass; dmarc=pass header.from=example.org".to_string()];
        assert!(!dmarc_failed(&pass, "mx.example.test"));
        assert!(dmarc_passed(&pass, "mx.example.test"));
        assert!(!dmarc_passed(&pass, "other.example.test"));
        assert!(!dmarc_passed(&p.auth_results, "mx.example.test"));
        let forged_pass = vec!["mx.example.test.evil.net; dmarc=pass".to_string()];
        assert!(!dmarc_passed(&forged_pass, "mx.example.test"));
    }

    #[test]
    fn ids() {
        assert_eq!(ids_in("<a@b> <c@d>"), ["a@b", "c@d"]);
        assert_eq!(ids_in("a@b, c@d"), ["a@b", "c@d"]);
        assert_eq!(ids_in("<a@b> (comment)"), ["a@b"]);
        assert!(ids_in("").is_empty());
    }
}
