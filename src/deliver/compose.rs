//! Building outgoing messages with mail-builder, never by concatenating input:
//! the list headers (RFC 2369, 2919, 8058), the subject prefix, the Reply-To
//! policy, DMARC From rewriting (RFC 7489) and each member's footer.
//!
//! Two stages. At queue time [`post_message`] turns an approved post into
//! the community's copy (list headers, prefix, Reply-To; the original body
//! untouched) which the outbox stores. At send time [`Prepared`] reads that
//! stored copy once per message, and [`Prepared::personalise`] builds each
//! recipient's copy: their List-Unsubscribe, their footer, and the From
//! rewritten when DMARC needs it. Every text taken from a post passes
//! through [`header_text`] or an address check before it reaches a header.
//!
//! Long because the two stages share their header rules; splitting them
//! would put the rules in two places.

use std::borrow::Cow;
use std::ops::Range;

use std::sync::OnceLock;

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::url::URL;
use mail_builder::headers::{Header, HeaderType};
use mail_builder::mime::{BodyPart, MimePart};
use mail_parser::{MessageParser, MimeHeaders, PartType};

use super::links::{LinkKey, me_url, percent_encode, unsubscribe_url};
use super::splice::TextBody;
use super::verp::{owner_address, request_address};
use crate::config::{Attachments, CommunityConfig, Html, ReplyTo, split_address};
use crate::model::OutboxKind;

/// Why a message could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    /// The post's bytes are not a message mail-parser can read.
    #[error("post {0} cannot be parsed as a message; it is kept raw but cannot be distributed")]
    Unparseable(String),
    /// The post has no usable From address.
    #[error("post {0} has no valid From address, so it cannot be attributed; reject it instead")]
    NoAuthor(String),
    /// Writing the message failed (only on an I/O error writing to memory).
    #[error("cannot write the message: {0}")]
    Write(String),
}

/// A built message: its subject (for `praxis outbox`) and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The subject as sent.
    pub subject: String,
    /// The whole message.
    pub message: Vec<u8>,
}

/// Headers each copy is signed over (DKIM `h=`); RFC 8058 wants both
/// List-Unsubscribe headers covered.
pub const SIGNED_HEADERS: &[&str] = &[
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "To",
    "Cc",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Id",
    "List-Help",
    "List-Post",
    "List-Subscribe",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Archive",
];

/// Text fit for a header: control characters (CR and LF above all, which
/// would start a new header) become spaces, runs of space collapse.
pub fn header_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// An address fit for a header, lowercased domain; `None` if it is not one plain address.
pub fn clean_address(s: &str) -> Option<String> {
    let (local, domain) = split_address(s.trim())?;
    Some(format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// A Message-ID without its brackets, fit for a header.
fn clean_id(s: &str) -> Option<String> {
    let id = s.trim().trim_start_matches('<').trim_end_matches('>');
    (!id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '<' && c != '>'))
    .then(|| id.to_string())
}

/// A Message-ID in the community's domain standing in for a stored id that
/// cannot be written as one: the same stored id always gives the same one.
fn stand_in_id(stored: &str, cfg: &CommunityConfig) -> String {
    use sha2::{Digest, Sha256};
    let domain = cfg.address_parts().map(|(_, d)| d).unwrap_or("localhost");
    let hash = Sha256::digest(stored.as_bytes());
    format!("praxis.post.{}@{domain}", hex::encode(&hash[..12]))
}

/// Reply markers mail clients put before a subject, in several languages.
const REPLY_MARKERS: &[&str] = &["re", "aw", "sv", "antw", "odp", "vs"];

/// Strips leading reply markers (`Re:`, `RE[2]:`, `Aw:` …); true if there were any.
fn strip_reply_markers(mut s: &str) -> (bool, &str) {
    let mut found = false;
    loop {
        let t = s.trim_start();
        let Some(colon) = t.find(':') else {
            return (found, t);
        };
        let head = &t[..colon];
        let word = head.split('[').next().unwrap_or("").trim();
        let counter_ok = head.find('[').is_none_or(|i| {
            head.ends_with(']')
                && head[i + 1..head.len() - 1]
                    .chars()
                    .all(|c| c.is_ascii_digit())
        });
        if REPLY_MARKERS.iter().any(|m| m.eq_ignore_ascii_case(word)) && counter_ok {
            found = true;
            s = &t[colon + 1..];
        } else {
            return (found, t);
        }
    }
}

/// The subject with the community's prefix once, in front: `[health] Re: x`
/// for a reply to `[health] x`, never `Re: [health] [health] x`.
pub fn prefixed_subject(subject: &str, prefix: &str) -> String {
    let prefix = header_text(prefix);
    let mut s = header_text(subject);
    if prefix.is_empty() {
        return s;
    }
    let lower_prefix = prefix.to_lowercase();
    while let Some(i) = s.to_lowercase().find(&lower_prefix) {
        // Lowercasing can change byte lengths outside ASCII; only cut on boundaries.
        let end = i + prefix.len();
        if !(s.is_char_boundary(i) && s.is_char_boundary(end)) {
            break;
        }
        s.replace_range(i..end, " ");
        s = header_text(&s);
    }
    let (reply, rest) = strip_reply_markers(&s);
    let rest = rest.trim();
    let rest = if rest.is_empty() {
        "(no subject)"
    } else {
        rest
    };
    if reply {
        format!("{prefix} Re: {rest}")
    } else {
        format!("{prefix} {rest}")
    }
}

/// `list.example.org`: the List-Id label (RFC 2919) from the list address.
pub fn list_id(cfg: &CommunityConfig) -> String {
    cfg.address.to_ascii_lowercase().replace('@', ".")
}

/// The list headers every copy of a community's mail carries (all but
/// List-Unsubscribe, which is per member): List-Id, List-Post, List-Help,
/// List-Subscribe, List-Archive when configured, Precedence and X-Loop.
pub fn list_headers(cfg: &CommunityConfig) -> Vec<(&'static str, HeaderType<'static>)> {
    let request = request_address(&cfg.address);
    let mut h: Vec<(&'static str, HeaderType<'static>)> = vec![
        (
            "List-Id",
            Address::new_address(Some(header_text(&cfg.name)), list_id(cfg)).into(),
        ),
        (
            "List-Post",
            URL::new(format!("mailto:{}", cfg.address)).into(),
        ),
        (
            "List-Help",
            URL::new(format!("mailto:{request}?subject=help")).into(),
        ),
        (
            "List-Subscribe",
            URL::new(format!("mailto:{request}?subject=subscribe")).into(),
        ),
    ];
    if let Some(archive) = &cfg.delivery.archive_url {
        h.push(("List-Archive", URL::new(archive.clone()).into()));
    }
    h.push(("Precedence", Raw::new("list").into()));
    h.push(("X-Loop", Raw::new(cfg.address.to_ascii_lowercase()).into()));
    h
}

/// An author: display name (may be empty) and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// Display name, cleaned.
    pub name: Option<String>,
    /// Address, checked.
    pub address: String,
}

impl Author {
    fn to_address(&self) -> Address<'static> {
        Address::new_address(self.name.clone(), self.address.clone())
    }

    /// The domain of the address.
    pub fn domain(&self) -> &str {
        self.address.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

fn addresses(list: Option<&mail_parser::Address<'_>>) -> Vec<Author> {
    let Some(list) = list else { return Vec::new() };
    list.iter()
        .filter_map(|a| {
            let address = clean_address(a.address.as_deref()?)?;
            let name = a.name.as_deref().map(header_text).filter(|n| !n.is_empty());
            Some(Author { name, address })
        })
        .collect()
}

fn address_list(list: &[Author]) -> Address<'static> {
    Address::new_list(list.iter().map(Author::to_address).collect())
}

fn community_address(cfg: &CommunityConfig) -> Address<'static> {
    Address::new_address(
        Some(header_text(&cfg.name)),
        cfg.address.to_ascii_lowercase(),
    )
}

/// Rebuilds a parsed Content-Type with the builder (values cleaned).
fn content_type(ct: Option<&mail_parser::ContentType<'_>>) -> ContentType<'static> {
    let Some(ct) = ct else {
        return ContentType::new("text/plain").attribute("charset", "us-ascii");
    };
    let token = |s: &str| {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(*c))
            .collect::<String>()
            .to_ascii_lowercase()
    };
    let main = token(ct.ctype());
    let sub = ct.subtype().map(token).unwrap_or_default();
    let mut out = ContentType::new(if main.is_empty() || sub.is_empty() {
        "application/octet-stream".to_string()
    } else {
        format!("{main}/{sub}")
    });
    for a in ct.attributes().unwrap_or_default() {
        let name = token(&a.name);
        if !name.is_empty() {
            out = out.attribute(name, header_text(&a.value));
        }
    }
    out
}

/// The transfer encoding of an entity, from a closed set.
fn transfer_encoding(cte: Option<&str>) -> &'static str {
    match cte.map(|c| c.trim().to_ascii_lowercase()).as_deref() {
        Some("quoted-printable") => "quoted-printable",
        Some("base64") => "base64",
        Some("8bit") => "8bit",
        Some("binary") => "binary",
        _ => "7bit",
    }
}

/// `b` written with `subject` as its Subject field: plain ASCII folded,
/// never encoded words (see `mail::header`).
fn write_subject(b: MessageBuilder<'_>, subject: &str) -> Result<Vec<u8>, ComposeError> {
    crate::mail::header::write_with_subject(b, subject)
        .map_err(|e| ComposeError::Write(e.to_string()))
}

/// The community's copy of an approved post, as the outbox stores it: the
/// author's From, To and Cc, Date, Message-ID and threading headers kept; the
/// subject prefixed; Reply-To per policy; the list headers added; the body
/// byte for byte. `message_id` is the stored one (synthetic when the post had
/// none); `label` names the post in errors.
pub fn post_message(
    raw: &[u8],
    message_id: &str,
    cfg: &CommunityConfig,
    label: &str,
) -> Result<Built, ComposeError> {
    post_message_titled(raw, message_id, cfg, label, None)
}

/// [`post_message`] under another subject than the author's: a reply to a
/// digest ("Re: … Digest, Vol 1, Issue 2") goes out under its thread's.
pub fn post_message_titled(
    raw: &[u8],
    message_id: &str,
    cfg: &CommunityConfig,
    label: &str,
    subject: Option<&str>,
) -> Result<Built, ComposeError> {
    let parsed = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| ComposeError::Unparseable(label.to_string()))?;
    let author = addresses(parsed.from())
        .into_iter()
        .next()
        .ok_or_else(|| ComposeError::NoAuthor(label.to_string()))?;
    let subject = prefixed_subject(
        subject.or(parsed.subject()).unwrap_or(""),
        &cfg.subject_prefix(),
    );

    let mut b = MessageBuilder::new().from(author.to_address());
    let to = addresses(parsed.to());
    b = if to.is_empty() {
        b.to(community_address(cfg))
    } else {
        b.to(address_list(&to))
    };
    let cc = addresses(parsed.cc());
    if !cc.is_empty() {
        b = b.cc(address_list(&cc));
    }
    b = b.header("Subject", crate::mail::header::placeholder());
    // The author's Date, time zone kept, written anew from its parsed fields.
    b = match parsed.date() {
        Some(d) if d.is_valid() => b.header("Date", Raw::new(d.to_rfc822())),
        _ => b.date(mail_builder::headers::date::Date::now()),
    };
    // A stored id unfit for a header (spaces, 8-bit) still gives one of the
    // community's own, stable for the post: never mail-builder's, which
    // names the machine.
    let id = clean_id(message_id).unwrap_or_else(|| stand_in_id(message_id, cfg));
    b = b.message_id(MessageId::new(id));
    let ids = |v: &mail_parser::HeaderValue<'_>| -> Vec<String> {
        v.as_text_list()
            .map(|l| l.iter().filter_map(|s| clean_id(s)).collect())
            .or_else(|| {
                v.as_text()
                    .map(|s| s.split_whitespace().filter_map(clean_id).collect())
            })
            .unwrap_or_default()
    };
    let in_reply_to = ids(parsed.in_reply_to());
    if !in_reply_to.is_empty() {
        b = b.in_reply_to(MessageId::new_list(in_reply_to.into_iter()));
    }
    let references = ids(parsed.references());
    if !references.is_empty() {
        b = b.references(MessageId::new_list(references.into_iter()));
    }
    match cfg.delivery.reply_to {
        ReplyTo::List => b = b.reply_to(community_address(cfg)),
        ReplyTo::Author => b = b.reply_to(author.to_address()),
        ReplyTo::None => {
            let own = addresses(parsed.reply_to());
            if !own.is_empty() {
                b = b.reply_to(address_list(&own));
            }
        }
    }
    for (name, value) in list_headers(cfg) {
        b = b.header(name, value);
    }
    let root = parsed.root_part();
    let body = raw
        .get(root.raw_body_offset() as usize..root.raw_end_offset() as usize)
        .unwrap_or_default();
    let html = cfg.policy.html;
    let has_html = parsed
        .parts
        .iter()
        .any(|p| matches!(p.body, PartType::Html(_)));
    let strip = cfg.policy.attachments == Attachments::Strip;
    let rebuild = (has_html && html != Html::Pass) || (strip && !parsed.attachments.is_empty());
    b = match policed(&parsed, 0, raw, html, strip).filter(|_| rebuild) {
        Some(part) => b.body(part),
        None => b.body(
            MimePart::new(
                content_type(root.content_type()),
                BodyPart::Binary(body.into()),
            )
            .transfer_encoding(transfer_encoding(root.content_transfer_encoding())),
        ),
    };
    let message = write_subject(b, &subject)?;
    Ok(Built { subject, message })
}

/// The header fields a digested post keeps: those an each-post copy carries
/// from the author's message. Trace fields (Received, Return-Path,
/// Delivered-To), authentication results and the author's own X- fields
/// name machines and addresses members never see in each-post mail.
const DIGEST_FIELDS: &[&[u8]] = &[
    b"from",
    b"to",
    b"cc",
    b"date",
    b"subject",
    b"message-id",
    b"in-reply-to",
    b"references",
];

/// A stored post as a MIME digest carries it: the header fields an
/// each-post copy keeps, as written (ids, From, Date, Subject), its body
/// with members' HTML cleaned by ammonia (or made text under `policy.html =
/// "text"`), as digests promise whatever the each-post policy; files kept.
/// The body's bytes unchanged when there is no HTML or it cannot be parsed.
pub fn digest_entity(raw: &[u8], cfg: &CommunityConfig) -> Vec<u8> {
    let Some(parsed) = MessageParser::default().parse(raw) else {
        return raw.to_vec();
    };
    let offset = parsed.root_part().raw_body_offset() as usize;
    let html = match cfg.policy.html {
        Html::Text => Html::Text,
        Html::Sanitise | Html::Pass => Html::Sanitise,
    };
    let rebuilt = parsed
        .parts
        .iter()
        .any(|p| matches!(p.body, PartType::Html(_)))
        .then(|| policed(&parsed, 0, raw, html, false))
        .flatten();
    let head = raw.get(..offset).unwrap_or_default();
    let mut out = Vec::with_capacity(raw.len());
    let mut keep = true;
    for line in head.split_inclusive(|b| *b == b'\n') {
        let bare = line.strip_suffix(b"\n").unwrap_or(line);
        let bare = bare.strip_suffix(b"\r").unwrap_or(bare);
        if bare.is_empty() {
            break;
        }
        if !matches!(bare[0], b' ' | b'\t') {
            let name = bare.split(|b| *b == b':').next().unwrap_or_default();
            let name = name.trim_ascii().to_ascii_lowercase();
            let mime = name.starts_with(b"content-") || name == b"mime-version";
            keep = DIGEST_FIELDS.contains(&name.as_slice()) || (mime && rebuilt.is_none());
        }
        if keep {
            out.extend_from_slice(bare);
            out.extend_from_slice(b"\r\n");
        }
    }
    match rebuilt {
        Some(part) => {
            out.extend_from_slice(b"MIME-Version: 1.0\r\n");
            let mark = out.len();
            if part.write_part(&mut out).is_err() {
                out.truncate(mark);
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(raw.get(offset..).unwrap_or_default());
            }
        }
        None => {
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(raw.get(offset..).unwrap_or_default());
        }
    }
    out
}

/// Part `id` of a post rebuilt for the `html` policy (`sanitise` or
/// `text`, see `config::Html`) and, with `strip` (`attachments = "strip"`),
/// without its attachments (kept in the store for digests' and replies'
/// links): HTML parts cleaned by ammonia or made text/plain, a
/// multipart/alternative reduced to its text under `text`, every other part
/// byte for byte.
fn policed(
    msg: &mail_parser::Message<'_>,
    id: u32,
    raw: &[u8],
    html: Html,
    strip: bool,
) -> Option<MimePart<'static>> {
    let part = msg.part(id)?;
    if strip && id != 0 && msg.attachments.contains(&id) {
        return None;
    }
    let utf8 = |t: &'static str| ContentType::new(t).attribute("charset", "utf-8");
    match &part.body {
        PartType::Html(text) if html != Html::Pass => Some(match html {
            Html::Text => MimePart::new(
                utf8("text/plain"),
                BodyPart::Text(crate::mail::html::to_text(text).into()),
            ),
            Html::Sanitise | Html::Pass => MimePart::new(
                utf8("text/html"),
                BodyPart::Text(crate::mail::html::sanitise(text).into()),
            ),
        }),
        PartType::Multipart(ids) => {
            let ct = part.content_type();
            let alternative = ct.is_some_and(|c| {
                c.subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("alternative"))
            });
            if html == Html::Text && alternative {
                let is = |i: &&u32, html: bool| {
                    msg.part(**i).is_some_and(|p| match &p.body {
                        PartType::Text(_) => !html,
                        PartType::Html(_) => html,
                        _ => false,
                    })
                };
                let pick = ids
                    .iter()
                    .find(|i| is(i, false))
                    .or_else(|| ids.iter().find(|i| is(i, true)));
                if let Some(i) = pick {
                    return policed(msg, *i, raw, html, strip);
                }
            }
            let children: Vec<MimePart<'static>> = ids
                .iter()
                .filter_map(|i| policed(msg, *i, raw, html, strip))
                .collect();
            let mut ct = content_type(ct);
            ct.attributes.retain(|(k, _)| k != "boundary");
            Some(MimePart::new(ct, BodyPart::Multipart(children)))
        }
        _ => {
            let bytes =
                raw.get(part.raw_header_offset() as usize..part.raw_end_offset() as usize)?;
            Some(MimePart::raw(BodyPart::Binary(
                raw_entity(bytes).into_owned().into(),
            )))
        }
    }
}

/// A notice from the list's owners: the owners' "member disabled" mail,
/// or a probe to a disabled member.
pub fn notice_message(
    cfg: &CommunityConfig,
    to: &str,
    subject: &str,
    text: &str,
) -> Result<Built, ComposeError> {
    notice_message_reply_to(cfg, to, subject, text, None)
}

/// A notice whose replies go to `reply_to` (a confirmation address).
pub fn notice_message_reply_to(
    cfg: &CommunityConfig,
    to: &str,
    subject: &str,
    text: &str,
    reply_to: Option<&str>,
) -> Result<Built, ComposeError> {
    notice_in_thread(cfg, to, subject, text, reply_to, None)
}

/// A notice whose replies go to `reply_to` and, with `parent` (a post's
/// Message-ID), carry it in their References, so a reply to the list joins
/// that post's thread: an invitation to answer a query.
pub fn notice_in_thread(
    cfg: &CommunityConfig,
    to: &str,
    subject: &str,
    text: &str,
    reply_to: Option<&str>,
    parent: Option<&str>,
) -> Result<Built, ComposeError> {
    let subject = prefixed_subject(subject, &cfg.subject_prefix());
    let domain = cfg.address_parts().map(|(_, d)| d).unwrap_or("localhost");
    let b = MessageBuilder::new()
        .from(Address::new_address(
            Some(header_text(&format!("{} owners", cfg.name))),
            owner_address(&cfg.address),
        ))
        .to(to.to_string())
        .header("Subject", crate::mail::header::placeholder())
        .message_id(MessageId::new(format!(
            "praxis.{}.{}@{domain}",
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default(),
            rand::random::<u32>()
        )))
        .header("Auto-Submitted", Raw::new("auto-generated"))
        .header("X-Loop", Raw::new(cfg.address.to_ascii_lowercase()))
        .text_body(text.to_string());
    let b = match reply_to {
        Some(r) => b.reply_to(Address::new_address(None::<String>, r.to_string())),
        None => b,
    };
    let b = match parent.map(|p| p.trim_matches(|c| c == '<' || c == '>')) {
        Some(p) if !p.is_empty() => b
            .in_reply_to(MessageId::new(p.to_string()))
            .references(MessageId::new(p.to_string())),
        _ => b,
    };
    let message = write_subject(b, &subject)?;
    Ok(Built { subject, message })
}

/// How a stored body gets the footer.
#[derive(Debug, Clone)]
enum StoredBody {
    /// text/plain: decoded, the footer appended, encoded again (the text
    /// itself once per message: see `splice`).
    Text(TextBody),
    /// multipart/mixed: its parts (byte ranges, headers included), the footer
    /// added as one more part.
    Mixed(Vec<Range<usize>>, ContentType<'static>),
    /// Anything else: kept whole as the first part of a multipart/mixed.
    Entity {
        content_type: ContentType<'static>,
        encoding: &'static str,
        body: Range<usize>,
    },
}

/// A stored outbox message read once, ready for per-recipient copies.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// What the message is: only list mail gets footers and unsubscribe headers.
    kind: OutboxKind,
    /// The stored bytes (bodies are sliced from them).
    raw: Vec<u8>,
    /// Top-level headers as stored, unfolded; the Content-* and MIME-Version
    /// headers are rebuilt with the body.
    headers: Vec<(String, String)>,
    /// The From as stored (for DMARC decisions).
    author: Option<Author>,
    /// The Reply-To addresses as stored.
    reply_to: Vec<Author>,
    /// The body.
    body: StoredBody,
    /// Whether From is rewritten to the list (decided once per message).
    munge: bool,
    /// What every copy for the community shares, written at the first copy
    /// (`None` inside when the builder would add a Message-ID or Date of
    /// its own to each copy, so each copy is written whole): writing the
    /// same header block 20,000 times was a tenth of a fan-out's CPU.
    common: OnceLock<Option<Common>>,
}

/// The bytes every copy of one message to one community shares, written
/// once: the header block around the recipient's List-Unsubscribe and the
/// footer's fixed text. A copy made from it is byte for byte the copy
/// [`Prepared::personalise`] writes whole (a test compares them).
#[derive(Debug, Clone)]
struct Common {
    /// The community it was made for (slug, name, address, base URL):
    /// another community's copy is written whole, not from these bytes.
    key: (String, String, String, Option<String>),
    /// The fields before List-Unsubscribe: the stored ones with the Subject
    /// in place, and From and Reply-To when rewritten.
    before: Vec<u8>,
    /// The fields after List-Unsubscribe: Archived-At and MIME-Version.
    after: Vec<u8>,
    /// List-Unsubscribe's mailto URL (the same for every member).
    mailto: String,
    /// The footer's fixed text around the recipient's address.
    footer: FooterText,
}

/// The fixed text of a member's footer, around their address and links.
#[derive(Debug, Clone)]
struct FooterText {
    /// Up to the recipient's address.
    head: String,
    /// From the recipient's address to the end of the leaving sentence.
    leave: String,
}

impl FooterText {
    fn new(cfg: &CommunityConfig) -> FooterText {
        let request = request_address(&cfg.address);
        FooterText {
            head: format!(
                "-- \n{} <{}>\nYou receive this as a member: ",
                header_text(&cfg.name),
                cfg.address.to_ascii_lowercase()
            ),
            leave: format!("\nTo leave, email {request} with the subject \"unsubscribe\""),
        }
    }

    /// The footer for `recipient` with their one-click link `url` and their
    /// own page `me`, when the community has a link base.
    fn with(&self, recipient: &str, url: Option<&str>, me: Option<&str>) -> String {
        let mut f = String::with_capacity(self.head.len() + self.leave.len() + 256);
        f.push_str(&self.head);
        f.push_str(recipient);
        f.push_str(&self.leave);
        match url {
            Some(url) => {
                f.push_str(",\nor open ");
                f.push_str(url);
                f.push('\n');
            }
            None => f.push_str(".\n"),
        }
        if let Some(me) = me {
            f.push_str("Your delivery mode, name and place, or leaving: ");
            f.push_str(me);
            f.push('\n');
        }
        f
    }
}

/// Writes one header field as mail-builder's `write_to` does.
fn write_field(out: &mut Vec<u8>, name: &str, value: &HeaderType<'_>) -> std::io::Result<()> {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    value.write_header(&mut *out, name.len() + 2)?;
    Ok(())
}

/// The mailto URL that unsubscribes from `cfg` (the same for every member).
fn unsubscribe_mailto(cfg: &CommunityConfig) -> String {
    format!(
        "mailto:{}?subject=unsubscribe",
        request_address(&cfg.address)
    )
}

/// List-Unsubscribe (RFC 2369) with `mailto` and the member's one-click
/// `url`, and List-Unsubscribe-Post (RFC 8058) when there is that URL: the
/// same fields whether a copy is written whole or from its shared head.
fn unsubscribe_fields(
    mailto: String,
    url: Option<&str>,
) -> Vec<(&'static str, HeaderType<'static>)> {
    let mut targets = vec![mailto];
    targets.extend(url.map(str::to_string));
    let mut fields = vec![(
        "List-Unsubscribe",
        URL::new_list(targets.into_iter()).into(),
    )];
    if url.is_some() {
        fields.push((
            "List-Unsubscribe-Post",
            Raw::new("List-Unsubscribe=One-Click").into(),
        ));
    }
    fields
}

/// Which community a [`Common`] was made for.
fn common_key(cfg: &CommunityConfig) -> (String, String, String, Option<String>) {
    (
        cfg.slug.clone(),
        cfg.name.clone(),
        cfg.address.clone(),
        cfg.delivery.base_url.clone(),
    )
}

/// Whether `cfg` is the community `key` was made for.
fn common_fits(key: &(String, String, String, Option<String>), cfg: &CommunityConfig) -> bool {
    key.0 == cfg.slug && key.1 == cfg.name && key.2 == cfg.address && key.3 == cfg.delivery.base_url
}

/// What one recipient's copy needs besides the message.
#[derive(Debug, Clone, Copy)]
pub struct Personal<'a> {
    /// The recipient.
    pub recipient: &'a str,
    /// The community.
    pub community: &'a CommunityConfig,
    /// The key for the https unsubscribe link, when the community has a base URL.
    pub link_key: Option<&'a LinkKey>,
}

impl Prepared {
    /// Reads a stored message of `kind`.
    pub fn new(kind: OutboxKind, raw: Vec<u8>) -> Result<Prepared, ComposeError> {
        let parsed = MessageParser::default()
            .parse(&raw)
            .ok_or_else(|| ComposeError::Unparseable("stored in the outbox".into()))?;
        // Names as written (mail-parser would canonicalise List-Id to List-ID).
        let headers = parsed
            .headers()
            .iter()
            .filter_map(|h| {
                let field = raw.get(h.offset_field() as usize..h.offset_start() as usize)?;
                let name = std::str::from_utf8(field).ok()?.split(':').next()?.trim();
                let value = raw.get(h.offset_start() as usize..h.offset_end() as usize)?;
                Some((name.to_string(), unfold(std::str::from_utf8(value).ok()?)))
            })
            .filter(|(name, _)| {
                !(name.eq_ignore_ascii_case("Content-Type")
                    || name.eq_ignore_ascii_case("Content-Transfer-Encoding")
                    || name.eq_ignore_ascii_case("MIME-Version"))
            })
            .collect();
        let author = addresses(parsed.from()).into_iter().next();
        let reply_to = addresses(parsed.reply_to());
        let root = parsed.root_part();
        let ct = root.content_type();
        let is_type = |t: &str, s: &str| {
            ct.is_some_and(|c| {
                c.ctype().eq_ignore_ascii_case(t)
                    && c.subtype().is_some_and(|x| x.eq_ignore_ascii_case(s))
            })
        };
        let attachment = root
            .content_disposition()
            .is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"));
        let body = if (ct.is_none() || is_type("text", "plain")) && !attachment {
            StoredBody::Text(TextBody::new(
                root.text_contents().unwrap_or_default().to_string(),
            ))
        } else if is_type("multipart", "mixed")
            && let Some(ids) = root.sub_parts()
        {
            let ranges = ids
                .iter()
                .filter_map(|id| parsed.part(*id))
                .map(|p| p.raw_header_offset() as usize..p.raw_end_offset() as usize)
                .collect();
            let mut ct = content_type(ct);
            ct.attributes.retain(|(k, _)| k != "boundary");
            StoredBody::Mixed(ranges, ct)
        } else {
            StoredBody::Entity {
                content_type: content_type(ct),
                encoding: transfer_encoding(root.content_transfer_encoding()),
                body: root.raw_body_offset() as usize..root.raw_end_offset() as usize,
            }
        };
        drop(parsed);
        Ok(Prepared {
            kind,
            raw,
            headers,
            author,
            reply_to,
            body,
            munge: false,
            common: OnceLock::new(),
        })
    }

    /// The stored Message-ID, without its angle brackets.
    fn message_id(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Message-ID"))
            .map(|(_, v)| v.trim().trim_start_matches('<').trim_end_matches('>'))
            .filter(|v| !v.is_empty())
    }

    /// What the message is.
    pub fn kind(&self) -> OutboxKind {
        self.kind
    }

    /// The stored From.
    pub fn author(&self) -> Option<&Author> {
        self.author.as_ref()
    }

    /// Rewrites From to the list in every copy (DMARC mitigation).
    pub fn set_munge(&mut self, munge: bool) {
        self.munge = munge;
        self.common = OnceLock::new();
    }

    /// Whether From is rewritten.
    pub fn munged(&self) -> bool {
        self.munge
    }

    /// One recipient's copy.
    pub fn personalise(&self, p: &Personal<'_>) -> Result<Vec<u8>, ComposeError> {
        if self.kind == OutboxKind::Notice {
            return Ok(self.raw.clone());
        }
        let common = self
            .common
            .get_or_init(|| self.common_for(p.community))
            .as_ref()
            .filter(|c| common_fits(&c.key, p.community));
        match common {
            Some(c) => self.personalise_from(c, p),
            None => self.personalise_whole(p),
        }
    }

    /// The stored header fields as every copy has them, the Subject as a
    /// placeholder (returned beside), From and Reply-To rewritten when
    /// the message is munged.
    fn stored_head(&self, cfg: &CommunityConfig) -> (MessageBuilder<'static>, Option<&String>) {
        let mut b = MessageBuilder::new();
        let munge = self.munge && self.author.is_some();
        // The stored Subject is header text already (plain or encoded
        // words): folded again here, as mail-builder's Raw would not.
        let mut subject = None;
        for (name, value) in &self.headers {
            let replaced = munge
                && (name.eq_ignore_ascii_case("From") || name.eq_ignore_ascii_case("Reply-To"));
            if name.eq_ignore_ascii_case("Subject") && subject.is_none() {
                subject = Some(value);
                b = b.header("Subject", crate::mail::header::placeholder());
            } else if !replaced {
                b = b.header(name.clone(), Raw::new(value.clone()));
            }
        }
        if munge && let Some(author) = &self.author {
            let who = author
                .name
                .clone()
                .unwrap_or_else(|| author.address.replacen('@', " at ", 1));
            b = b.from(Address::new_address(
                Some(header_text(&format!("{who} via {}", cfg.name))),
                cfg.address.to_ascii_lowercase(),
            ));
            let list = cfg.address.to_ascii_lowercase();
            let mut reply: Vec<Author> = self
                .reply_to
                .iter()
                .filter(|a| a.address != list)
                .cloned()
                .collect();
            if reply.is_empty() {
                reply.push(author.clone());
            }
            if self.reply_to.iter().any(|a| a.address == list) {
                reply.push(Author {
                    name: Some(header_text(&cfg.name)),
                    address: list,
                });
            }
            b = b.reply_to(address_list(&reply));
        }
        (b, subject)
    }

    /// RFC 5064's Archived-At: where this post is archived, for each-post
    /// copies of a community with a link base.
    fn archived_at(&self, cfg: &CommunityConfig) -> Option<HeaderType<'static>> {
        if self.kind != OutboxKind::Post
            || self
                .headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("Archived-At"))
        {
            return None;
        }
        let base = cfg.delivery.base_url.as_ref()?;
        let id = self.message_id()?;
        Some(
            URL::new(format!(
                "{}/c/{}/m/{}",
                base.trim_end_matches('/'),
                cfg.slug,
                percent_encode(id)
            ))
            .into(),
        )
    }

    /// The recipient's one-click unsubscribe URL and own page, when the
    /// community has a link base and a key.
    fn links(&self, p: &Personal<'_>) -> (Option<String>, Option<String>) {
        let cfg = p.community;
        match (&cfg.delivery.base_url, p.link_key) {
            (Some(base), Some(key)) => (
                Some(unsubscribe_url(base, key, &cfg.slug, p.recipient)),
                Some(me_url(base, key, &cfg.slug, p.recipient)),
            ),
            _ => (None, None),
        }
    }

    /// What every copy to `cfg` shares, or `None` when mail-builder would
    /// give each copy a Message-ID or Date of its own (no stored field of
    /// that exact name) or the bytes cannot be written.
    fn common_for(&self, cfg: &CommunityConfig) -> Option<Common> {
        let (b, subject) = self.stored_head(cfg);
        let named = |n: &str| b.headers.iter().any(|(name, _)| name == n);
        if !named("Date") || !named("Message-ID") {
            return None;
        }
        let mut before = Vec::with_capacity(2048);
        for (name, value) in &b.headers {
            write_field(&mut before, name, value).ok()?;
        }
        if let Some(s) = subject {
            before = crate::mail::header::replace_placeholder(
                before,
                &crate::mail::header::folded_field("Subject", s),
            );
        }
        let mut after = Vec::new();
        if let Some(archived) = self.archived_at(cfg) {
            write_field(&mut after, "Archived-At", &archived).ok()?;
        }
        if !named("MIME-Version") {
            after.extend_from_slice(b"MIME-Version: 1.0\r\n");
        }
        Some(Common {
            key: common_key(cfg),
            before,
            after,
            mailto: unsubscribe_mailto(cfg),
            footer: FooterText::new(cfg),
        })
    }

    /// One recipient's copy from the bytes every copy shares: their
    /// List-Unsubscribe and body (with their footer) written between.
    fn personalise_from(&self, c: &Common, p: &Personal<'_>) -> Result<Vec<u8>, ComposeError> {
        let write = |e: std::io::Error| ComposeError::Write(e.to_string());
        let (url, me) = self.links(p);
        let mut out = Vec::with_capacity(c.before.len() + c.after.len() + self.raw.len() + 1024);
        out.extend_from_slice(&c.before);
        for (name, value) in unsubscribe_fields(c.mailto.clone(), url.as_deref()) {
            write_field(&mut out, name, &value).map_err(write)?;
        }
        out.extend_from_slice(&c.after);
        let footer = p
            .community
            .delivery
            .footer
            .then(|| c.footer.with(p.recipient, url.as_deref(), me.as_deref()));
        self.body_part(footer).write_part(&mut out).map_err(write)?;
        // The DATA terminator supplies the final line end.
        if out.ends_with(b"\r\n") {
            out.truncate(out.len() - 2);
        }
        Ok(out)
    }

    /// One recipient's copy written whole by mail-builder.
    fn personalise_whole(&self, p: &Personal<'_>) -> Result<Vec<u8>, ComposeError> {
        let cfg = p.community;
        let (mut b, subject) = self.stored_head(cfg);
        let (url, me) = self.links(p);
        for (name, value) in unsubscribe_fields(unsubscribe_mailto(cfg), url.as_deref()) {
            b = b.header(name, value);
        }
        if let Some(archived) = self.archived_at(cfg) {
            b = b.header("Archived-At", archived);
        }
        let footer = cfg
            .delivery
            .footer
            .then(|| footer(cfg, p.recipient, url.as_deref(), me.as_deref()));
        b = b.body(self.body_part(footer));
        let mut out = b
            .write_to_vec()
            .map_err(|e| ComposeError::Write(e.to_string()))?;
        if let Some(s) = subject {
            out = crate::mail::header::replace_placeholder(
                out,
                &crate::mail::header::folded_field("Subject", s),
            );
        }
        // The DATA terminator supplies the final line end.
        if out.ends_with(b"\r\n") {
            out.truncate(out.len() - 2);
        }
        Ok(out)
    }

    fn slice(&self, r: &Range<usize>) -> &[u8] {
        self.raw.get(r.clone()).unwrap_or_default()
    }

    fn body_part(&self, footer: Option<String>) -> MimePart<'_> {
        let footer_part = |text: String| {
            MimePart::new(
                ContentType::new("text/plain").attribute("charset", "utf-8"),
                BodyPart::Text(text.into()),
            )
            .inline()
        };
        match (&self.body, footer) {
            (StoredBody::Text(text), Some(f)) if self.kind == OutboxKind::Digest => MimePart::new(
                ContentType::new("text/plain").attribute("charset", "utf-8"),
                BodyPart::Text(super::splice::text_with_footer(text.text(), &f).into()),
            ),
            (StoredBody::Text(text), Some(f)) => {
                let (encoding, bytes) = text.with_footer(&f);
                MimePart::new(
                    ContentType::new("text/plain").attribute("charset", "utf-8"),
                    BodyPart::Binary(bytes.into()),
                )
                .transfer_encoding(encoding.name())
            }
            (StoredBody::Text(text), None) => {
                let (encoding, bytes) = text.encoded();
                MimePart::new(
                    ContentType::new("text/plain").attribute("charset", "utf-8"),
                    BodyPart::Binary(Cow::Borrowed(bytes)),
                )
                .transfer_encoding(encoding.name())
            }
            (StoredBody::Mixed(ranges, ct), footer) => {
                let mut parts: Vec<MimePart<'_>> = ranges
                    .iter()
                    .map(|r| MimePart::raw(BodyPart::Binary(raw_entity(self.slice(r)))))
                    .collect();
                if let Some(f) = footer {
                    parts.push(footer_part(f));
                }
                MimePart::new(ct.clone(), BodyPart::Multipart(parts))
            }
            (
                StoredBody::Entity {
                    content_type,
                    encoding,
                    body,
                },
                footer,
            ) => {
                let entity = MimePart::new(
                    content_type.clone(),
                    BodyPart::Binary(Cow::Borrowed(self.slice(body))),
                )
                .transfer_encoding(*encoding);
                match footer {
                    Some(f) => MimePart::new(
                        ContentType::new("multipart/mixed"),
                        BodyPart::Multipart(vec![entity, footer_part(f)]),
                    ),
                    None => entity,
                }
            }
        }
    }
}

/// A MIME part's bytes, headers included, fit to stand between boundaries:
/// a part without headers keeps its leading empty line; the line end before
/// the next boundary belongs to the boundary.
fn raw_entity(bytes: &[u8]) -> Cow<'_, [u8]> {
    let bytes = bytes.strip_suffix(b"\r\n").unwrap_or(bytes);
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if bytes.starts_with(b"\r\n") || bytes.starts_with(b"\n") {
        Cow::Owned([b"\r\n".as_slice(), bytes].concat())
    } else {
        Cow::Borrowed(bytes)
    }
}

/// Undoes header folding.
fn unfold(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' || c == '\n' {
            while matches!(chars.peek(), Some('\r' | '\n')) {
                chars.next();
            }
            if !matches!(chars.peek(), Some(' ' | '\t')) {
                out.push(' ');
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// The footer at the end of a member's copy: the one-click link `url` and
/// the member's own page `me` when the community has a link base.
fn footer(cfg: &CommunityConfig, recipient: &str, url: Option<&str>, me: Option<&str>) -> String {
    FooterText::new(cfg).with(recipient, url, me)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CommunityDelivery, DmarcMunge};

    fn cfg() -> CommunityConfig {
        CommunityConfig {
            slug: "health".into(),
            name: "Maternal Health".into(),
            address: "list@example.test".into(),
            delivery: CommunityDelivery {
                base_url: Some("https://lists.example.test".into()),
                archive_url: Some("https://lists.example.test/health/".into()),
                dmarc: DmarcMunge::Auto,
                ..CommunityDelivery::default()
            },
            ..CommunityConfig::default()
        }
    }

    fn header<'a>(msg: &'a mail_parser::Message<'a>, name: &str) -> Vec<String> {
        msg.headers_raw()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| header_text(&unfold(v)))
            .collect()
    }

    #[test]
    fn the_prefix_is_added_once_and_never_doubled() {
        let p = "[health]";
        for (given, want) in [
            ("Mobile clinics", "[health] Mobile clinics"),
            ("[health] Mobile clinics", "[health] Mobile clinics"),
            ("Re: [health] Mobile clinics", "[health] Re: Mobile clinics"),
            (
                "RE: Re: [HEALTH] Mobile clinics",
                "[health] Re: Mobile clinics",
            ),
            ("Aw: [health] [health] x", "[health] Re: x"),
            ("Re[2]: [health] x", "[health] Re: x"),
            ("Fwd: [health] x", "[health] Fwd: x"),
            ("Regarding: x", "[health] Regarding: x"),
            ("", "[health] (no subject)"),
            ("Réunion [health] à Paris", "[health] Réunion à Paris"),
        ] {
            assert_eq!(prefixed_subject(given, p), want, "{given}");
        }
        assert_eq!(prefixed_subject("x", ""), "x");
    }

    #[test]
    fn header_text_cannot_start_a_new_header() {
        assert_eq!(
            header_text("Hi\r\nBcc: everyone@x.org"),
            "Hi Bcc: everyone@x.org"
        );
        assert_eq!(header_text("  a \t b\n"), "a b");
        // A subject whose encoded word decodes to CRLF stays on one header line.
        let raw = b"From: a@x.org\r\nSubject: =?utf-8?Q?Hi=0D=0ABcc=3A_x=40y.org?=\r\n\r\nbody\r\n";
        let built = post_message(raw, "id@x", &cfg(), "1").unwrap();
        let parsed = MessageParser::default().parse(&built.message).unwrap();
        assert!(parsed.header("Bcc").is_none());
        assert_eq!(parsed.subject(), Some("[health] Hi Bcc: x@y.org"));
    }

    const POST: &[u8] = b"From: \"Alice Rao\" <alice@example.org>\r\n\
To: Health <list@example.test>\r\n\
Cc: bob@example.org\r\n\
Subject: Re: [health] Mobile clinics in flood areas\r\n\
Date: Mon, 2 Nov 2026 10:00:00 +0530\r\n\
Message-ID: <q1@example.org>\r\n\
In-Reply-To: <q0@example.org>\r\n\
References: <root@example.org> <q0@example.org>\r\n\
DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=x; b=abc\r\n\
Received: from somewhere\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
We ran clinics in boats. Caf=E9 meetings helped.\r\n";

    /// A stored id that cannot be a header (a space, 8-bit) gets a stand-in
    /// in the community's domain, the same each time; mail-builder's own
    /// would name this machine (issue 15, item 7).
    #[test]
    fn an_unwritable_stored_id_gets_a_stand_in_in_the_community_s_domain() {
        let id = |stored: &str| {
            let built = post_message(POST, stored, &cfg(), "7").unwrap();
            let m = MessageParser::default().parse(&built.message).unwrap();
            m.message_id().unwrap().to_string()
        };
        let a = id("an id with spaces@example.org");
        assert!(
            a.starts_with("praxis.post.") && a.ends_with("@example.test"),
            "{a}"
        );
        assert_eq!(a, id("an id with spaces@example.org"), "stable");
        assert_ne!(a, id("другой@пример.рф"), "one per stored id");
    }

    #[test]
    fn a_post_gets_the_list_headers_and_keeps_its_identity() {
        let built = post_message(POST, "q1@example.org", &cfg(), "7").unwrap();
        assert_eq!(built.subject, "[health] Re: Mobile clinics in flood areas");
        let m = MessageParser::default().parse(&built.message).unwrap();
        assert_eq!(
            header(&m, "List-Id"),
            ["\"Maternal Health\" <list.example.test>"]
        );
        assert_eq!(header(&m, "List-Post"), ["<mailto:list@example.test>"]);
        assert_eq!(
            header(&m, "List-Help"),
            ["<mailto:list-request@example.test?subject=help>"]
        );
        assert_eq!(
            header(&m, "List-Archive"),
            ["<https://lists.example.test/health/>"]
        );
        assert_eq!(header(&m, "Precedence"), ["list"]);
        assert_eq!(header(&m, "X-Loop"), ["list@example.test"]);
        assert_eq!(m.message_id(), Some("q1@example.org"));
        assert_eq!(m.in_reply_to().as_text(), Some("q0@example.org"));
        assert_eq!(
            m.from().unwrap().first().unwrap().address(),
            Some("alice@example.org")
        );
        assert_eq!(
            m.reply_to().unwrap().first().unwrap().address(),
            Some("list@example.test")
        );
        assert_eq!(
            m.cc().unwrap().first().unwrap().address(),
            Some("bob@example.org")
        );
        assert!(
            m.header("DKIM-Signature").is_none(),
            "the author's signature is dropped"
        );
        assert!(m.header("Received").is_none());
        assert_eq!(
            m.body_text(0).as_deref(),
            Some("We ran clinics in boats. Café meetings helped.\r\n")
        );
        assert!(
            header(&m, "List-Unsubscribe").is_empty(),
            "added per member"
        );
    }

    #[test]
    fn each_copy_gets_its_member_s_unsubscribe_and_footer() {
        let built = post_message(POST, "q1@example.org", &cfg(), "7").unwrap();
        let prepared = Prepared::new(OutboxKind::Post, built.message).unwrap();
        let key = LinkKey::new("k");
        let c = cfg();
        let copy = prepared
            .personalise(&Personal {
                recipient: "carol@example.org",
                community: &c,
                link_key: Some(&key),
            })
            .unwrap();
        let m = MessageParser::default().parse(&copy).unwrap();
        let unsub = header(&m, "List-Unsubscribe");
        assert_eq!(unsub.len(), 1);
        assert!(
            unsub[0].starts_with("<mailto:list-request@example.test?subject=unsubscribe>, <https://lists.example.test/u/"),
            "{unsub:?}"
        );
        assert_eq!(
            header(&m, "List-Unsubscribe-Post"),
            ["List-Unsubscribe=One-Click"]
        );
        assert_eq!(header(&m, "List-Id").len(), 1);
        assert_eq!(
            m.subject(),
            Some("[health] Re: Mobile clinics in flood areas")
        );
        let text = m.body_text(0).unwrap().replace("\r\n", "\n");
        assert!(
            text.starts_with("We ran clinics in boats. Café meetings helped."),
            "{text}"
        );
        assert!(
            text.contains("-- \nMaternal Health <list@example.test>"),
            "{text}"
        );
        assert!(
            text.contains("You receive this as a member: carol@example.org"),
            "{text}"
        );
        // The member's own page, and where the post is archived (RFC 5064).
        let me = crate::deliver::links::me_url(
            "https://lists.example.test",
            &key,
            "health",
            "carol@example.org",
        );
        assert!(text.contains(&me), "{text}");
        assert_eq!(
            header(&m, "Archived-At"),
            ["<https://lists.example.test/c/health/m/q1@example.org>"]
        );
        assert!(
            !copy.ends_with(b"\r\n"),
            "the DATA terminator ends the last line"
        );
        // Without a base URL there is no one-click header.
        let mut plain = cfg();
        plain.delivery.base_url = None;
        let copy = prepared
            .personalise(&Personal {
                recipient: "carol@example.org",
                community: &plain,
                link_key: None,
            })
            .unwrap();
        let m = MessageParser::default().parse(&copy).unwrap();
        assert_eq!(
            header(&m, "List-Unsubscribe"),
            ["<mailto:list-request@example.test?subject=unsubscribe>"]
        );
        assert!(header(&m, "List-Unsubscribe-Post").is_empty());
    }

    #[test]
    fn a_copy_from_the_shared_head_is_the_copy_written_whole() {
        let built = post_message(POST, "q1@example.org", &cfg(), "7").unwrap();
        let key = LinkKey::new("k");
        let mut plain = cfg();
        plain.delivery.base_url = None;
        let mut bare = cfg();
        bare.delivery.footer = false;
        for munge in [false, true] {
            let mut prepared = Prepared::new(OutboxKind::Post, built.message.clone()).unwrap();
            prepared.set_munge(munge);
            for (c, link_key) in [
                (cfg(), Some(&key)),
                (plain.clone(), None),
                (bare.clone(), None),
            ] {
                // A fresh message per community: the shared part is made for one.
                let prepared = prepared.clone();
                for recipient in ["carol@example.org", "d.o'neil+x@example.net"] {
                    let p = Personal {
                        recipient,
                        community: &c,
                        link_key,
                    };
                    let whole = prepared.personalise_whole(&p).unwrap();
                    let copy = prepared.personalise(&p).unwrap();
                    assert!(
                        prepared.common.get().is_some_and(Option::is_some),
                        "made from the shared part"
                    );
                    assert_eq!(
                        String::from_utf8_lossy(&copy),
                        String::from_utf8_lossy(&whole),
                        "munge {munge}, {recipient}"
                    );
                }
            }
        }
        // Another community's copy is written whole, not from the first's bytes.
        let prepared = Prepared::new(OutboxKind::Post, built.message.clone()).unwrap();
        let first = cfg();
        let mut other = cfg();
        other.name = "Child Health".into();
        for c in [&first, &other] {
            let p = Personal {
                recipient: "carol@example.org",
                community: c,
                link_key: None,
            };
            assert_eq!(
                prepared.personalise(&p).unwrap(),
                prepared.personalise_whole(&p).unwrap()
            );
        }
        // Without a stored Date, mail-builder dates each copy: written whole.
        let undated = String::from_utf8(built.message.clone())
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("Date:"))
            .collect::<Vec<_>>()
            .join("\r\n");
        let prepared = Prepared::new(OutboxKind::Post, undated.into_bytes()).unwrap();
        let c = cfg();
        prepared
            .personalise(&Personal {
                recipient: "carol@example.org",
                community: &c,
                link_key: None,
            })
            .unwrap();
        assert!(prepared.common.get().is_some_and(Option::is_none));
    }

    #[test]
    fn a_munged_copy_comes_from_the_list_and_replies_reach_the_author() {
        let built = post_message(POST, "q1@example.org", &cfg(), "7").unwrap();
        let mut prepared = Prepared::new(OutboxKind::Post, built.message).unwrap();
        prepared.set_munge(true);
        let c = cfg();
        let copy = prepared
            .personalise(&Personal {
                recipient: "carol@example.org",
                community: &c,
                link_key: None,
            })
            .unwrap();
        let m = MessageParser::default().parse(&copy).unwrap();
        let from = m.from().unwrap().first().unwrap();
        assert_eq!(from.name(), Some("Alice Rao via Maternal Health"));
        assert_eq!(from.address(), Some("list@example.test"));
        let reply: Vec<&str> = m
            .reply_to()
            .unwrap()
            .iter()
            .filter_map(|a| a.address())
            .collect();
        assert_eq!(reply, ["alice@example.org", "list@example.test"]);
        assert_eq!(header(&m, "From").len(), 1);
        assert_eq!(header(&m, "Reply-To").len(), 1);
    }

    #[test]
    fn a_digest_carries_member_html_cleaned_with_its_headers_and_files() {
        let only = b"From: Dave <d@example.org>\r\nSubject: Re: wells\r\n\
Message-ID: <r2@example.org>\r\nIn-Reply-To: <q@example.org>\r\n\
Content-Type: text/html; charset=utf-8\r\n\r\n\
<p>Rainwater <b>harvesting</b></p><script>alert(1)</script>\r\n";
        for html in [Html::Sanitise, Html::Pass] {
            let mut c = cfg();
            c.policy.html = html;
            let out = digest_entity(only, &c);
            let m = MessageParser::default().parse(&out).unwrap();
            assert_eq!(m.message_id(), Some("r2@example.org"));
            assert_eq!(m.in_reply_to().as_text(), Some("q@example.org"));
            assert_eq!(m.subject(), Some("Re: wells"));
            let body = m.body_html(0).unwrap();
            assert!(body.contains("Rainwater <b>harvesting</b>"), "{body}");
            let t = String::from_utf8_lossy(&out);
            assert!(!t.contains("script") && !t.contains("alert"), "{t}");
            assert_eq!(t.matches("Content-Type").count(), 1, "{t}");
        }
        let mut c = cfg();
        c.policy.html = Html::Text;
        let m = MessageParser::default()
            .parse(&digest_entity(only, &c))
            .map(|m| m.body_text(0).unwrap().trim().to_string());
        assert_eq!(m.as_deref(), Some("Rainwater harvesting"));

        // Files stay; a post without HTML is carried byte for byte.
        let mixed = b"From: a@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\n\
Content-Type: text/html\r\n\r\n<p>x</p><script>y()</script>\r\n--m\r\n\
Content-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--m--\r\n";
        let out = digest_entity(mixed, &cfg());
        let m = MessageParser::default().parse(&out).unwrap();
        assert_eq!(m.attachment(0).unwrap().contents(), b"%PDF-1.4\n");
        assert!(!String::from_utf8_lossy(&out).contains("script"));
        let plain = b"From: a@example.org\r\nSubject: s\r\n\r\n<script> as text\r\n";
        assert_eq!(digest_entity(plain, &cfg()), plain.to_vec());

        // Trace and authentication fields (machines' names, the list
        // mailbox) stay out, as they do from each-post copies.
        let traced = b"Return-Path: <a@example.org>\r\nDelivered-To: list@example.test\r\n\
Received: from mx.example.org (vm [10.0.0.7])\r\n\tby mail.example.test; Fri, 4 Dec 2026\r\n\
Authentication-Results: mail.example.test; dmarc=pass\r\nFrom: a@example.org\r\n\
Subject: s\r\nMessage-ID: <t@example.org>\r\nX-Originating-IP: 10.0.0.7\r\n\r\nbody\r\n";
        let out = String::from_utf8(digest_entity(traced, &cfg())).unwrap();
        assert_eq!(
            out,
            "From: a@example.org\r\nSubject: s\r\nMessage-ID: <t@example.org>\r\n\r\nbody\r\n"
        );
    }

    #[test]
    fn member_html_is_sanitised_made_text_or_passed_per_policy() {
        let alt = b"From: a@example.org\r\nSubject: html\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n--m\r\n\
Content-Type: multipart/alternative; boundary=\"a\"\r\n\r\n--a\r\n\
Content-Type: text/plain\r\n\r\nBoat clinics, plain.\r\n--a\r\n\
Content-Type: text/html\r\n\r\n<p onclick=\"x()\">Boat <b>clinics</b></p><script>alert(1)</script>\r\n--a--\r\n\
--m\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--m--\r\n";
        let built = |html: Html| {
            let mut c = cfg();
            c.policy.html = html;
            post_message(alt, "h@example.org", &c, "1").unwrap().message
        };
        let sanitised = built(Html::Sanitise);
        let m = MessageParser::default().parse(&sanitised).unwrap();
        let html = m.body_html(0).unwrap();
        assert!(html.contains("Boat <b>clinics</b>"), "{html}");
        assert!(
            !html.contains("script") && !html.contains("onclick"),
            "{html}"
        );
        assert_eq!(m.body_text(0).unwrap().trim(), "Boat clinics, plain.");
        assert_eq!(m.attachment(0).unwrap().contents(), b"%PDF-1.4\n");

        let text = built(Html::Text);
        let t = String::from_utf8_lossy(&text);
        assert!(
            !t.contains("text/html") && !t.contains("multipart/alternative"),
            "{t}"
        );
        let m = MessageParser::default().parse(&text).unwrap();
        assert_eq!(m.body_text(0).unwrap().trim(), "Boat clinics, plain.");
        assert_eq!(m.attachment(0).unwrap().contents(), b"%PDF-1.4\n");

        let passed = built(Html::Pass);
        let p = String::from_utf8_lossy(&passed);
        assert!(
            p.contains("<script>alert(1)</script>") && p.contains("onclick"),
            "{p}"
        );

        // HTML only, under `text`: text/plain from the HTML.
        let only = b"From: a@example.org\r\nSubject: h\r\nContent-Type: text/html\r\n\r\n\
<p>Boat <b>clinics</b></p><script>alert(1)</script>\r\n";
        let mut c = cfg();
        c.policy.html = Html::Text;
        let out = post_message(only, "o@example.org", &c, "2")
            .unwrap()
            .message;
        let m = MessageParser::default().parse(&out).unwrap();
        assert!(m.content_type().unwrap().subtype() == Some("plain"));
        assert_eq!(m.body_text(0).unwrap().trim(), "Boat clinics");
    }

    #[test]
    fn multipart_bodies_keep_their_parts_and_gain_a_footer_part() {
        let mixed = b"From: a@example.org\r\nSubject: report\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\n\
Content-Type: text/plain\r\n\r\nSee attached.\r\n--b1\r\n\
Content-Type: application/pdf; name=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"r.pdf\"\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n";
        let alt = b"From: a@example.org\r\nSubject: html\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n--b2\r\n\
Content-Type: text/plain\r\n\r\nplain words\r\n--b2\r\n\
Content-Type: text/html\r\n\r\n<p>html words</p>\r\n--b2--\r\n";
        let c = cfg();
        for (raw, parts) in [(&mixed[..], 3), (&alt[..], 2)] {
            let built = post_message(raw, "m@x", &c, "1").unwrap();
            let prepared = Prepared::new(OutboxKind::Post, built.message).unwrap();
            let copy = prepared
                .personalise(&Personal {
                    recipient: "dave@example.org",
                    community: &c,
                    link_key: None,
                })
                .unwrap();
            let m = MessageParser::default().parse(&copy).unwrap();
            let root = m.root_part();
            assert_eq!(root.content_type().unwrap().subtype(), Some("mixed"));
            assert_eq!(root.sub_parts().unwrap().len(), parts);
            let last = m.part(*root.sub_parts().unwrap().last().unwrap()).unwrap();
            assert!(
                last.text_contents().unwrap().contains("dave@example.org"),
                "the footer is the last part"
            );
            let all = String::from_utf8_lossy(&copy);
            if parts == 3 {
                assert_eq!(m.attachment(0).unwrap().contents(), b"%PDF-1.4\n");
            } else {
                assert!(all.contains("<p>html words</p>"), "{all}");
                assert!(all.contains("multipart/alternative"), "{all}");
            }
        }
    }

    #[test]
    fn notices_are_sent_as_stored() {
        let c = cfg();
        let n = notice_message(&c, "owner@example.org", "bob disabled", "Bob bounced.").unwrap();
        assert_eq!(n.subject, "[health] bob disabled");
        let prepared = Prepared::new(OutboxKind::Notice, n.message.clone()).unwrap();
        let copy = prepared
            .personalise(&Personal {
                recipient: "owner@example.org",
                community: &c,
                link_key: None,
            })
            .unwrap();
        assert_eq!(copy, n.message);
        let m = MessageParser::default().parse(&copy).unwrap();
        assert_eq!(header(&m, "Auto-Submitted"), ["auto-generated"]);
        assert_eq!(
            m.from().unwrap().first().unwrap().address(),
            Some("list-owner@example.test")
        );
    }
}
