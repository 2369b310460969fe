//! Rendering an issue: RFC 1153 plain text, MIME (RFC 2046 §5.1.5
//! multipart/digest of the original posts) and HTML (handlebars, every
//! member value escaped). Pure: the caller hands in the posts' raw bytes.
//!
//! The output is one message per format, before personalisation: the sender
//! adds each recipient's List-Unsubscribe and footer (deliver::compose).
//! Headers are built by mail-builder, never by concatenating member text.
//!
//! Long because the three formats share the issue's frame and escaping;
//! half the file is the tests that check each format and its snapshot.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use handlebars::Handlebars;
use mail_builder::MessageBuilder;
use mail_builder::headers::HeaderType;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::message_id::MessageId;
use mail_builder::mime::{BodyPart, MimePart};
use serde::Serialize;

use super::select::{PostItem, ReplyItem, Selection, display_name};
use crate::mail::quote;
use crate::markup;
use crate::model::DigestFormat;
use crate::render::{RenderError, Templates};

/// The line of 70 dashes between sections (RFC 1153).
pub const SECTION: &str = "----------------------------------------------------------------------";
/// The line of 30 dashes between messages (RFC 1153).
pub const MESSAGE: &str = "------------------------------";

const HTML: &str = include_str!("../../templates/digest/digest.html.hbs");

/// What an issue says about itself besides its content.
#[derive(Debug, Clone)]
pub struct Masthead<'a> {
    /// The community's name: "`<name>` Digest".
    pub name: &'a str,
    /// The posting address, for "how to post".
    pub address: &'a str,
    /// The -request address, for delivery changes and leaving.
    pub request: &'a str,
    /// When the issue is made, shown in the community's time zone.
    pub at: DateTime<Utc>,
    /// The community's time zone.
    pub tz: Tz,
    /// The community's slug: part of the Message-ID, unique per installation.
    pub slug: &'a str,
    /// The Message-ID's domain part (the list address's domain).
    pub id_domain: &'a str,
    /// Boundary seed: fixed in tests so snapshots are stable.
    pub boundary: &'a str,
    /// The community's own HTML template (its `templates/digest/digest.html.hbs`).
    pub html_template: Option<&'a str>,
    /// The texts around the messages (`digest/contents`, `digest/howto`),
    /// the community's overrides included.
    pub templates: &'a Templates,
}

impl Masthead<'_> {
    /// "`<name> Digest, Vol N, Issue M`": the subject and the end line.
    pub fn title(&self, s: &Selection) -> String {
        format!("{} Digest, Vol {}, Issue {}", self.name, s.volume, s.number)
    }

    fn date(&self) -> String {
        self.at
            .with_timezone(&self.tz)
            .format("%a, %d %b %Y %H:%M %Z")
            .to_string()
    }
}

/// Why an issue could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum DigestRenderError {
    /// The HTML template failed.
    #[error("digest HTML template: {0}; check templates/digest/digest.html.hbs")]
    Template(String),
    /// A text template (`digest/contents`, `digest/howto`) failed.
    #[error("digest text: {0}; check the community's templates/digest/ and run `praxis check`")]
    Text(#[from] RenderError),
    /// mail-builder could not write the message.
    #[error("writing the digest message: {0}")]
    Write(#[from] std::io::Error),
    /// A post's raw bytes were not available.
    #[error("post {0} has no stored raw message; run `praxis show {0}` to check it")]
    MissingRaw(i64),
}

/// A post's text with quoted text and signature folded away.
fn folded(p: &PostItem) -> String {
    let stripped = quote::strip(&p.text);
    let mut out = stripped.trim_end().to_string();
    if stripped.trim() != p.text.replace("\r\n", "\n").trim() {
        out.push_str("\n\n[quoted text folded]");
    }
    no_separators(&out)
}

/// Text with every line of dashes indented, so a member's (or a
/// moderator's) line of dashes never reads as an RFC 1153 separator.
fn no_separators(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.len() >= MESSAGE.len() && l.chars().all(|c| c == '-') {
                format!(" {l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A Message-ID as mail shows it: `<id>`, whether stored with brackets or
/// without.
pub fn bracketed(id: &str) -> String {
    format!("<{}>", bare(id))
}

/// A Message-ID without its brackets, as mail-builder takes it.
fn bare(id: &str) -> &str {
    id.trim().trim_start_matches('<').trim_end_matches('>')
}

/// The identity lines of an RFC 1153 entry: Message-ID, then the
/// In-Reply-To and References the message has when sent on its own (each
/// line only when it has ids), every id in angle brackets.
fn id_lines(message_id: &str, in_reply_to: Option<&str>, references: &[String]) -> String {
    let mut out = format!("Message-ID: {}\n", bracketed(message_id));
    if let Some(parent) = in_reply_to.filter(|p| !bare(p).is_empty()) {
        out.push_str(&format!("In-Reply-To: {}\n", bracketed(parent)));
    }
    let refs: Vec<String> = references
        .iter()
        .filter(|r| !bare(r).is_empty())
        .map(|r| bracketed(r))
        .collect();
    if !refs.is_empty() {
        out.push_str(&format!("References: {}\n", refs.join(" ")));
    }
    out
}

/// A Consolidated Reply's own Message-ID (as `consolidate::publish` made
/// it), or, for a reply stored without one, the same form from the
/// community's slug and domain: never one from the machine's host name.
fn reply_id(m: &Masthead<'_>, r: &ReplyItem) -> String {
    if bare(&r.message_id).is_empty() {
        format!("praxis.reply.{}.{}@{}", r.id, m.slug, m.id_domain)
    } else {
        bare(&r.message_id).to_string()
    }
}

/// The query a Consolidated Reply answers, as its In-Reply-To and
/// References (empty when the query's root post is gone).
fn reply_parent(r: &ReplyItem) -> Vec<String> {
    let q = bare(&r.query_message_id);
    if q.is_empty() {
        Vec::new()
    } else {
        vec![q.to_string()]
    }
}

/// The RFC 1153 message of a Consolidated Reply: from the community, its
/// text as published, threaded under its query.
fn reply_entry(m: &Masthead<'_>, r: &ReplyItem) -> String {
    let parent = reply_parent(r);
    format!(
        "Date: {}\nFrom: {} <{}>\nSubject: {}\n{}\n{}\n\n{}\n\n",
        unix_date(r.published_at, m.tz),
        m.name,
        m.address,
        r.subject,
        id_lines(&reply_id(m, r), parent.first().map(String::as_str), &parent),
        no_separators(markup::text(&r.markdown).trim_end()),
        MESSAGE
    )
}

/// A Consolidated Reply as a message/rfc822 part of a MIME digest, with
/// the Message-ID, In-Reply-To and References it has when sent on its own.
fn reply_message(m: &Masthead<'_>, r: &ReplyItem) -> Result<Vec<u8>, DigestRenderError> {
    let mut b = MessageBuilder::new()
        .message_id(MessageId::new(reply_id(m, r)))
        .from((m.name.to_string(), m.address.to_string()))
        .to(m.address.to_string())
        .header("Subject", crate::mail::header::placeholder())
        .date(r.published_at)
        .body(MimePart::new(
            ContentType::new("multipart/alternative")
                .attribute("boundary", format!("{}-reply-{}", m.boundary, r.id)),
            BodyPart::Multipart(vec![
                text_part(markup::text(&r.markdown)),
                MimePart::new(
                    ContentType::new("text/html").attribute("charset", "utf-8"),
                    BodyPart::Text(markup::html(&r.markdown, &r.subject).into()),
                ),
            ]),
        ));
    if let Some(query) = reply_parent(r).pop() {
        b = b
            .in_reply_to(MessageId::new(query.clone()))
            .references(MessageId::new(query));
    }
    Ok(crate::mail::header::write_with_subject(b, &r.subject)?)
}

fn unix_date(ts: i64, tz: Tz) -> String {
    DateTime::from_timestamp(ts, 0)
        .unwrap_or_default()
        .with_timezone(&tz)
        .format("%a, %d %b %Y %H:%M:%S %z")
        .to_string()
}

fn post_date(p: &PostItem, tz: Tz) -> String {
    unix_date(p.date, tz)
}

fn from_line(p: &PostItem) -> String {
    let name = display_name(p);
    if name == p.from_addr {
        p.from_addr.clone()
    } else {
        format!("{name} <{}>", p.from_addr)
    }
}

/// An open query as the templates see it.
#[derive(Serialize)]
struct Query<'a> {
    subject: &'a str,
    days_left: i64,
}

fn queries(s: &Selection) -> Vec<Query<'_>> {
    s.queries
        .iter()
        .map(|q| Query {
            subject: &q.subject,
            days_left: q.days_left,
        })
        .collect()
}

/// The preamble every format shares (template `digest/contents`):
/// Consolidated Replies, queries, and the table of contents per thread.
/// A line of dashes the template writes is indented like a member's, so
/// it never reads as an RFC 1153 separator.
fn preamble(m: &Masthead<'_>, s: &Selection) -> Result<String, DigestRenderError> {
    #[derive(Serialize)]
    struct Reply<'a> {
        subject: &'a str,
        query_subject: &'a str,
    }
    #[derive(Serialize)]
    struct Thread<'a> {
        /// "1." right-aligned to two places, as RFC 1153's examples.
        number: String,
        subject: &'a str,
        count: usize,
        one: bool,
        participants: String,
    }
    #[derive(Serialize)]
    struct Data<'a> {
        address: &'a str,
        request: &'a str,
        replies: Vec<Reply<'a>>,
        queries: Vec<Query<'a>>,
        threads: Vec<Thread<'a>>,
    }
    let data = Data {
        address: m.address,
        request: m.request,
        replies: s
            .replies
            .iter()
            .map(|r| Reply {
                subject: &r.subject,
                query_subject: &r.query_subject,
            })
            .collect(),
        queries: queries(s),
        threads: s
            .threads
            .iter()
            .enumerate()
            .map(|(i, t)| Thread {
                number: format!("{:>2}", i + 1),
                subject: &t.subject,
                count: t.posts.len(),
                one: t.posts.len() == 1,
                participants: t.participants.join(", "),
            })
            .collect(),
    };
    Ok(lined(&m.templates.render("digest/contents", &data)?))
}

/// How to post, change delivery or leave (template `digest/howto`).
fn how_to(m: &Masthead<'_>) -> Result<String, DigestRenderError> {
    let data = serde_json::json!({"address": m.address, "request": m.request});
    Ok(lined(&m.templates.render("digest/howto", &data)?))
}

/// Template output fit for the skeleton: no separator lines, ending in
/// exactly one line end.
fn lined(text: &str) -> String {
    let mut out = no_separators(text.trim_end_matches('\n'));
    out.push('\n');
    out
}

/// The RFC 1153 text of an issue: header line, preamble with "Today's
/// Topics:", 70 dashes, messages separated by 30 dashes, the end line and
/// the line of asterisks.
pub fn plain(m: &Masthead<'_>, s: &Selection) -> Result<String, DigestRenderError> {
    let mut out = format!(
        "{} Digest  {}  Volume {} : Issue {}\n\n",
        m.name,
        m.at.with_timezone(&m.tz).format("%a, %d %b %Y"),
        s.volume,
        s.number
    );
    out.push_str(&preamble(m, s)?);
    out.push('\n');
    out.push_str(SECTION);
    out.push_str("\n\n");
    for r in &s.replies {
        out.push_str(&reply_entry(m, r));
    }
    for p in s.posts() {
        out.push_str(&format!(
            "Date: {}\nFrom: {}\nSubject: {}\n{}\n{}\n\n{}\n\n",
            post_date(p, m.tz),
            from_line(p),
            p.subject,
            id_lines(&p.message_id, p.in_reply_to.as_deref(), &p.references),
            folded(p),
            MESSAGE
        ));
    }
    out.push_str(&how_to(m)?);
    out.push('\n');
    out.push_str(MESSAGE);
    out.push_str("\n\n");
    let end = format!("End of {}", m.title(s));
    out.push_str(&end);
    out.push('\n');
    out.push_str(&"*".repeat(end.chars().count()));
    out.push('\n');
    Ok(out)
}

/// The HTML of an issue; every member value is escaped by handlebars.
pub fn html(m: &Masthead<'_>, s: &Selection) -> Result<String, DigestRenderError> {
    #[derive(Serialize)]
    struct Post {
        from: String,
        date: String,
        subject: String,
        /// The folded text as written (for a community's own template).
        text: String,
        /// The folded text as paragraphs with http(s) links, escaped and
        /// sanitised by `markup::text_html`: inserted unescaped.
        html: String,
        /// `mailto:` the list, In-Reply-To the post, subject `Re: …`.
        reply: String,
    }
    #[derive(Serialize)]
    struct Thread {
        thread_id: crate::model::ThreadId,
        subject: String,
        count: usize,
        participants: String,
        posts: Vec<Post>,
    }
    #[derive(Serialize)]
    struct Reply<'a> {
        subject: &'a str,
        query_subject: &'a str,
        /// Sanitised by ammonia: the template inserts it unescaped.
        html: String,
    }
    #[derive(Serialize)]
    struct Data<'a> {
        title: String,
        date: String,
        address: &'a str,
        request: &'a str,
        replies: Vec<Reply<'a>>,
        queries: Vec<Query<'a>>,
        threads: Vec<Thread>,
    }
    let data = Data {
        title: m.title(s),
        date: m.date(),
        address: m.address,
        request: m.request,
        replies: s
            .replies
            .iter()
            .map(|r| Reply {
                subject: &r.subject,
                query_subject: &r.query_subject,
                html: markup::html_fragment(&r.markdown),
            })
            .collect(),
        queries: queries(s),
        threads: s
            .threads
            .iter()
            .map(|t| Thread {
                thread_id: t.thread_id,
                subject: t.subject.clone(),
                count: t.posts.len(),
                participants: t.participants.join(", "),
                posts: t
                    .posts
                    .iter()
                    .map(|p| Post {
                        from: from_line(p),
                        date: post_date(p, m.tz),
                        subject: p.subject.clone(),
                        text: folded(p),
                        html: markup::text_html(&folded(p)),
                        reply: reply_link(m.address, p),
                    })
                    .collect(),
            })
            .collect(),
    };
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    // The default escape function: HTML-escapes every {{value}}.
    hb.register_template_string("digest/html", m.html_template.unwrap_or(HTML))
        .map_err(|e| DigestRenderError::Template(e.to_string()))?;
    hb.render("digest/html", &data)
        .map_err(|e| DigestRenderError::Template(e.to_string()))
}

/// `text` percent-encoded for a URL: every byte but the unreserved ones
/// (RFC 3986) and those in `keep`.
fn percent(text: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `mailto:` link (RFC 6068) that replies to `p` on the list: In-Reply-To
/// its Message-ID, the subject `Re: …` (once), every value URL-encoded.
fn reply_link(address: &str, p: &PostItem) -> String {
    let subject = p.subject.trim();
    let subject = if subject
        .get(..3)
        .is_some_and(|re| re.eq_ignore_ascii_case("re:"))
    {
        subject.to_string()
    } else {
        format!("Re: {subject}")
    };
    format!(
        "mailto:{}?In-Reply-To={}&subject={}",
        percent(address, b"@+"),
        percent(&bracketed(&p.message_id), b""),
        percent(&subject, b"")
    )
}

/// Bare LFs to CRLF, so a stored post is a valid message/rfc822 body on the wire.
fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    crate::mail::crlf_into(raw, &mut out);
    out
}

/// A message as a message/rfc822 part of the digest.
fn rfc822_part(bytes: Vec<u8>) -> MimePart<'static> {
    let cte = if bytes.is_ascii() { "7bit" } else { "8bit" };
    MimePart::new(
        ContentType::new("message/rfc822"),
        BodyPart::Binary(Cow::Owned(bytes)),
    )
    .transfer_encoding(cte)
}

fn text_part(text: String) -> MimePart<'static> {
    MimePart::new(
        ContentType::new("text/plain").attribute("charset", "utf-8"),
        BodyPart::Text(text.into()),
    )
}

/// The whole message of an issue in `format`. `raw` returns a post's stored
/// bytes (needed for the MIME format only).
pub fn message(
    format: DigestFormat,
    m: &Masthead<'_>,
    s: &Selection,
    raw: &dyn Fn(i64) -> Option<Vec<u8>>,
    headers: &[(&'static str, HeaderType<'static>)],
) -> Result<Vec<u8>, DigestRenderError> {
    let title = m.title(s);
    let body = match format {
        DigestFormat::Plain => text_part(plain(m, s)?),
        DigestFormat::Html => MimePart::new(
            ContentType::new("multipart/alternative")
                .attribute("boundary", format!("{}-alt", m.boundary)),
            BodyPart::Multipart(vec![
                text_part(plain(m, s)?),
                MimePart::new(
                    ContentType::new("text/html").attribute("charset", "utf-8"),
                    BodyPart::Text(html(m, s)?.into()),
                ),
            ]),
        ),
        DigestFormat::Mime => {
            let mut toc = format!("{}    {}\n\n", title, m.date());
            toc.push_str(&preamble(m, s)?);
            toc.push('\n');
            toc.push_str(&how_to(m)?);
            let mut posts = Vec::new();
            for r in &s.replies {
                posts.push(rfc822_part(reply_message(m, r)?));
            }
            for p in s.posts() {
                let bytes = crlf(&raw(p.id).ok_or(DigestRenderError::MissingRaw(p.id))?);
                posts.push(rfc822_part(bytes));
            }
            let mut parts = vec![text_part(toc)];
            if !posts.is_empty() {
                parts.push(MimePart::new(
                    ContentType::new("multipart/digest")
                        .attribute("boundary", format!("{}-digest", m.boundary)),
                    BodyPart::Multipart(posts),
                ));
            }
            MimePart::new(
                ContentType::new("multipart/mixed")
                    .attribute("boundary", format!("{}-mixed", m.boundary)),
                BodyPart::Multipart(parts),
            )
        }
    };
    let mut b = MessageBuilder::new()
        .from((format!("{} Digest", m.name), m.address.to_string()))
        .to(m.address.to_string())
        .header("Subject", crate::mail::header::placeholder())
        .date(m.at.timestamp())
        .message_id(format!(
            "digest.{}.{}.{}.{}@{}",
            m.slug,
            s.volume,
            s.number,
            format.as_str(),
            m.id_domain
        ))
        .body(body);
    for (name, value) in headers {
        b = b.header(*name, value.clone());
    }
    Ok(crate::mail::header::write_with_subject(b, &title)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::select::{QueryItem, ReplyItem, ThreadSection};

    fn post(id: i64, thread: i64, name: &str, subject: &str, text: &str) -> PostItem {
        PostItem {
            id,
            thread_id: crate::model::ThreadId(thread),
            thread_subject: String::new(),
            thread_first_at: 0,
            from_name: name.into(),
            from_addr: format!("{}@example.org", name.to_lowercase()),
            subject: subject.into(),
            date: 1_795_000_000 + id * 3600,
            // Stored without brackets, as mail/parse keeps them.
            message_id: format!("p{id}@example.org"),
            // Threaded under the earlier posts of its thread (3: posts 1-3, 4: posts 4-5).
            in_reply_to: (id != 1 && id != 4).then(|| format!("p{}@example.org", id - 1)),
            references: (if thread == 3 { 1 } else { 4 }..id)
                .map(|i| format!("p{i}@example.org"))
                .collect(),
            text: text.into(),
            size: 100,
            accrued_at: 0,
        }
    }

    fn raw(id: i64) -> Option<Vec<u8>> {
        Some(
            format!(
                "From: Member {id} <m{id}@example.org>\nTo: list@example.test\nSubject: post {id}\nMessage-ID: <p{id}@example.org>\nDate: Mon, 23 Nov 2026 07:00:00 +0000\n\nBody of post {id}.\n"
            )
            .into_bytes(),
        )
    }

    fn section(id: i64, subject: &str, posts: Vec<PostItem>) -> ThreadSection {
        let mut participants: Vec<String> = Vec::new();
        for p in &posts {
            let n = display_name(p).to_string();
            if !participants.contains(&n) {
                participants.push(n);
            }
        }
        ThreadSection {
            thread_id: crate::model::ThreadId(id),
            subject: subject.into(),
            posts,
            participants,
        }
    }

    fn selection() -> Selection {
        Selection {
            full: false,
            volume: 2,
            number: 14,
            replies: vec![ReplyItem {
                message_id: "praxis.reply.1.health@example.test".into(),
                query_message_id: "q9@example.org".into(),
                markdown: "# Cold chain\n\nSolar fridges <script>x()</script> worked.\n\n------------------------------\n".into(),
                id: 1,
                subject: "Consolidated Reply: Cold chain in the hills".into(),
                query_subject: "Cold chain in the hills".into(),
                published_at: 0,
            }],
            queries: vec![QueryItem {
                thread: crate::model::ThreadId(9),
                subject: "Midwife retention in remote districts".into(),
                asked_at: 0,
                days_left: 6,
            }],
            threads: vec![
                section(
                    3,
                    "Mobile clinics in flood areas",
                    vec![
                        post(
                            1,
                            3,
                            "Alice",
                            "Mobile clinics in flood areas",
                            "Has anyone run mobile clinics?\n",
                        ),
                        post(
                            2,
                            3,
                            "Bob",
                            "Re: Mobile clinics in flood areas",
                            "Yes, in Assam.\n\nOn Mon, Alice wrote:\n> Has anyone run mobile clinics?\n",
                        ),
                        post(
                            3,
                            3,
                            "Carol",
                            "Re: Mobile clinics in flood areas",
                            "Boats worked for us.\n------------------------------\nnot a separator\n",
                        ),
                    ],
                ),
                section(
                    4,
                    "ASHA training <script>alert(1)</script>",
                    vec![
                        post(
                            4,
                            4,
                            "Dev",
                            "ASHA training <script>alert(1)</script>",
                            "See <img src=\"https://track.example/p.gif\"> here & there.\n",
                        ),
                        post(5, 4, "Alice", "Re: ASHA training", "Thanks.\n"),
                    ],
                ),
            ],
        }
    }

    static TEMPLATES: std::sync::LazyLock<Templates> = std::sync::LazyLock::new(Templates::new);

    fn masthead() -> Masthead<'static> {
        Masthead {
            templates: &TEMPLATES,
            name: "Maternal and Child Health",
            address: "list@example.test",
            request: "list-request@example.test",
            at: DateTime::from_timestamp(1_795_420_800, 0).unwrap(),
            tz: chrono_tz::Asia::Kolkata,
            slug: "health",
            id_domain: "example.test",
            boundary: "praxis-test",
            html_template: None,
        }
    }

    #[test]
    fn plain_follows_rfc_1153_line_by_line() {
        let s = selection();
        let text = plain(&masthead(), &s).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // The header line: name, date, volume and issue.
        assert!(
            lines[0].starts_with("Maternal and Child Health Digest  Mon, 23 Nov 2026  "),
            "{}",
            lines[0]
        );
        assert!(lines[0].ends_with("Volume 2 : Issue 14"), "{}", lines[0]);
        assert_eq!(lines[1], "");
        // Content order: Consolidated Replies, queries, then Today's Topics.
        let at = |needle: &str| {
            lines
                .iter()
                .position(|l| *l == needle)
                .unwrap_or_else(|| panic!("no line {needle:?}"))
        };
        let (cr, q, topics) = (
            at("Consolidated Replies since the last issue:"),
            at("Queries seeking your experience:"),
            at("Today's Topics:"),
        );
        assert!(cr < q && q < topics);
        assert_eq!(
            lines[topics + 2],
            "   1. Mobile clinics in flood areas (3 new posts)"
        );
        assert_eq!(lines[topics + 3], "        Alice, Bob, Carol");
        assert_eq!(
            lines[topics + 4],
            "   2. ASHA training <script>alert(1)</script> (2 new posts)"
        );
        // Exactly one line of 70 dashes, after the preamble and a blank line, then a blank line.
        let sections: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| **l == SECTION)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(sections.len(), 1);
        let first = sections[0];
        assert_eq!(SECTION.len(), 70);
        assert_eq!((lines[first - 1], lines[first + 1]), ("", ""));
        // Each message: Date, From, Subject headers, a blank line, the text, a
        // blank line, 30 dashes, a blank line.
        let seps: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| **l == MESSAGE)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(MESSAGE.len(), 30);
        assert_eq!(
            seps.len(),
            6 + 1,
            "one after each of the 6 messages (the reply, 5 posts) and one before the end line"
        );
        let mut start = first + 2;
        // The Consolidated Reply comes first, in full, from the community.
        assert_eq!(
            lines[start + 1],
            "From: Maternal and Child Health <list@example.test>"
        );
        assert_eq!(
            lines[start + 2],
            "Subject: Consolidated Reply: Cold chain in the hills"
        );
        assert!(text.contains("Solar fridges"));
        for (n, sep) in seps.iter().take(6).enumerate() {
            assert!(
                lines[start].starts_with("Date: "),
                "message {n}: {}",
                lines[start]
            );
            assert!(lines[start + 1].starts_with("From: "), "message {n}");
            assert!(lines[start + 2].starts_with("Subject: "), "message {n}");
            assert!(lines[start + 3].starts_with("Message-ID: <"), "message {n}");
            // In-Reply-To and References when the message has them, then a blank line.
            let mut at = start + 4;
            for name in ["In-Reply-To: <", "References: <"] {
                if lines[at].starts_with(name) {
                    at += 1;
                }
            }
            assert_eq!(lines[at], "", "message {n}");
            assert_eq!((lines[sep - 1], lines[sep + 1]), ("", ""), "message {n}");
            start = sep + 2;
        }
        // Quoted text folded; a member's own line of dashes is no separator.
        assert!(!text.contains("> Has anyone"));
        assert!(text.contains("[quoted text folded]"));
        assert!(text.contains("\n ------------------------------\n"));
        assert_eq!(
            text.matches("\n ------------------------------\n").count(),
            2,
            "the reply's line of dashes is indented too"
        );
        // The trailer: the end line, then asterisks as long, then nothing.
        let n = lines.len();
        assert_eq!(
            lines[n - 2],
            "End of Maternal and Child Health Digest, Vol 2, Issue 14"
        );
        assert_eq!(lines[n - 1], "*".repeat(lines[n - 2].len()));
        assert_eq!(lines[n - 3], "");
        assert_eq!(lines[n - 4], MESSAGE);
        assert!(text.ends_with("*\n"));
    }

    #[test]
    fn plain_entries_keep_each_messages_ids_in_brackets() {
        let text = plain(&masthead(), &selection()).unwrap();
        // The Consolidated Reply: its own id, threaded under its query.
        assert!(
            text.contains(
                "Subject: Consolidated Reply: Cold chain in the hills\n\
                 Message-ID: <praxis.reply.1.health@example.test>\n\
                 In-Reply-To: <q9@example.org>\n\
                 References: <q9@example.org>\n\n"
            ),
            "{text}"
        );
        // A post: the ids it has as each-post mail.
        assert!(
            text.contains(
                "Message-ID: <p3@example.org>\n\
                 In-Reply-To: <p2@example.org>\n\
                 References: <p1@example.org> <p2@example.org>\n\n"
            ),
            "{text}"
        );
        // A post that starts a thread has neither.
        assert!(text.contains("Message-ID: <p1@example.org>\n\n"), "{text}");
    }

    #[test]
    fn the_mime_reply_keeps_its_identity_and_no_host_name() {
        let m = message(DigestFormat::Mime, &masthead(), &selection(), &raw, &[]).unwrap();
        let text = String::from_utf8(m).unwrap();
        let at = text
            .find("Message-ID: <praxis.reply.1.health@example.test>")
            .unwrap_or_else(|| panic!("{text}"));
        let head = text[at..].split("\r\n\r\n").next().unwrap();
        assert!(head.contains("In-Reply-To: <q9@example.org>"), "{head}");
        assert!(head.contains("References: <q9@example.org>"), "{head}");
        // Every Message-ID praxis made is in the community's domain.
        for line in text.lines().filter(|l| l.starts_with("Message-ID:")) {
            assert!(
                line.ends_with("@example.test>") || line.ends_with("@example.org>"),
                "{line}"
            );
        }
        let mut no_id = selection();
        no_id.replies[0].message_id = String::new();
        let m = message(DigestFormat::Mime, &masthead(), &no_id, &raw, &[]).unwrap();
        assert!(
            String::from_utf8(m)
                .unwrap()
                .contains("Message-ID: <praxis.reply.1.health@example.test>"),
            "a reply stored without an id gets the community's form"
        );
    }

    #[test]
    fn the_html_digest_reads_on_a_phone_with_links_and_reply_links() {
        let mut s = selection();
        s.threads[0].posts[0].text =
            "Timetable: https://example.org/boats?a=1&b=2.\nCall first.\n\nNot javascript:alert(1).\n".into();
        let h = html(&masthead(), &s).unwrap();
        assert!(
            h.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"),
            "{h}"
        );
        assert!(h.contains("max-width"), "{h}");
        assert!(!h.contains("<pre"), "{h}");
        assert!(
            h.contains("<p>Timetable: <a href=\"https://example.org/boats?a=1&amp;b=2\" rel=\"noopener noreferrer\">https://example.org/boats?a=1&amp;b=2</a>.<br>\nCall first.</p>\n<p>Not javascript:alert(1).</p>"),
            "{h}"
        );
        // Reply links: handlebars escapes the URL for the attribute (= and &).
        assert!(
            h.contains("href=\"mailto:list@example.test?In-Reply-To&#x3D;%3Cp1%40example.org%3E&amp;subject&#x3D;Re%3A%20Mobile%20clinics%20in%20flood%20areas\""),
            "{h}"
        );
        assert!(
            h.contains("In-Reply-To&#x3D;%3Cp2%40example.org%3E&amp;subject&#x3D;Re%3A%20Mobile%20clinics%20in%20flood%20areas\""),
            "Re: once: {h}"
        );
        assert!(
            h.contains(
                "subject&#x3D;Re%3A%20ASHA%20training%20%3Cscript%3Ealert%281%29%3C%2Fscript%3E\""
            ),
            "{h}"
        );
    }

    #[test]
    fn member_html_is_escaped() {
        let h = html(&masthead(), &selection()).unwrap();
        assert!(!h.contains("<script>"), "{h}");
        assert!(!h.contains("<img"), "{h}");
        assert!(h.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        // The tag is text; the address in it is a plain https link.
        assert!(h.contains(
            "See &lt;img src=\"<a href=\"https://track.example/p.gif\" rel=\"noopener noreferrer\">https://track.example/p.gif</a>\"&gt;"
        ), "{h}");
        assert!(h.contains("here &amp; there"));
    }

    fn snapshot_text(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec())
            .unwrap()
            .replace("\r\n", "\n")
    }

    #[test]
    fn snapshot_plain() {
        let m = message(DigestFormat::Plain, &masthead(), &selection(), &raw, &[]).unwrap();
        insta::assert_snapshot!(snapshot_text(&m));
    }

    #[test]
    fn snapshot_mime() {
        let m = message(DigestFormat::Mime, &masthead(), &selection(), &raw, &[]).unwrap();
        insta::assert_snapshot!(snapshot_text(&m));
    }

    #[test]
    fn snapshot_html() {
        let m = message(DigestFormat::Html, &masthead(), &selection(), &raw, &[]).unwrap();
        insta::assert_snapshot!(snapshot_text(&m));
    }

    #[test]
    fn python_parses_the_mime_digest_into_one_message_part_per_post() {
        let m = message(DigestFormat::Mime, &masthead(), &selection(), &raw, &[]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("digest.eml");
        std::fs::write(&file, &m).unwrap();
        let script = r#"
import email, sys
from email import policy
msg = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
assert msg.get_content_type() == 'multipart/mixed', msg.get_content_type()
parts = msg.get_payload()
assert parts[0].get_content_type() == 'text/plain', parts[0].get_content_type()
assert parts[1].get_content_type() == 'multipart/digest', parts[1].get_content_type()
inner = parts[1].get_payload()
for p in inner:
    assert p.get_content_type() == 'message/rfc822', p.get_content_type()
    m = p.get_payload()[0]
    print(m['Message-ID'], m['Subject'])
print(len(inner))
"#;
        let out = std::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&file)
            .output()
            .expect("python3 is needed for this test; install it (apt-get install python3)");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.last(), Some(&"6"), "{stdout}");
        assert_eq!(
            lines[0],
            "<praxis.reply.1.health@example.test> Consolidated Reply: Cold chain in the hills"
        );
        assert_eq!(lines[1], "<p1@example.org> post 1");
        assert_eq!(lines[5], "<p5@example.org> post 5");
    }
}
