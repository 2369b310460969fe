//! The Consolidated Reply library and the community's feeds:
//!
//! - `/c/SLUG/replies?page=N`: every visible reply (published, or
//!   scheduled for a time already past; never a draft) by query, newest
//!   first, 50 a page;
//! - `/c/SLUG/replies/QUERY`: one query's reply as mailed, then its addenda
//!   (QUERY is the thread id `praxis publish` takes);
//! - `/c/SLUG/feed.atom`: new threads; `/c/SLUG/replies.atom`: replies
//!   (Atom, RFC 4287).
//!
//! All four obey the archive rule (`[community.web] archive`). Responders
//! are shown by name (or "a member"), and addresses typed into member text
//! are hidden: these pages may be public.

use axum::Router;
use axum::extract::{Path, Query as UrlQuery, State as Extract};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize};

use crate::community::Community;
use crate::markup;
use crate::model::ThreadId;
use crate::store::{Query, Store, public_name};

use super::access::{Viewer, require_read};
use super::page::{Frame, WebError, community, render};
use super::{AppState, State};

/// Queries on one page of the library.
pub const PER_PAGE: i64 = 50;
/// Entries in a feed.
pub const FEED_ENTRIES: i64 = 50;
/// Lines of a root post a feed entry's summary keeps.
const SUMMARY_LINES: usize = 6;
/// Characters a feed entry's summary keeps at most.
const SUMMARY_CHARS: usize = 600;

/// The routes.
pub fn routes() -> Router<State> {
    Router::new()
        .route("/c/{slug}/replies", get(library))
        .route("/c/{slug}/replies/{query}", get(reply))
        .route("/c/{slug}/feed.atom", get(threads_feed))
        .route("/c/{slug}/replies.atom", get(replies_feed))
}

/// A date as a page shows it, in the community's zone.
#[derive(Debug, Clone, Serialize)]
struct Shown {
    /// "4 Dec 2026".
    text: String,
    /// RFC 3339 with the zone's offset, for `<time datetime>`.
    iso: String,
}

fn shown(c: &Community, at: i64) -> Shown {
    let t = DateTime::from_timestamp(at, 0)
        .unwrap_or_default()
        .with_timezone(&c.config.timezone);
    Shown {
        text: t.format("%-d %b %Y").to_string(),
        iso: t.to_rfc3339_opts(SecondsFormat::Secs, false),
    }
}

/// The names of a query's responders (each once, in order of their first
/// response; the asker's own follow-ups are no response) and how many
/// responses there were.
pub fn responders(q: &Query) -> (Vec<String>, usize) {
    let mut names: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut count = 0;
    for p in &q.responses {
        if p.email.eq_ignore_ascii_case(&q.root.email) {
            continue;
        }
        count += 1;
        if seen.insert(p.email.to_ascii_lowercase()) {
            names.push(public_name(&p.name, &p.email));
        }
    }
    (names, count)
}

/// `?page=N`.
#[derive(Debug, Deserialize)]
pub struct PageParam {
    /// The page, from 1; absent is 1.
    page: Option<String>,
}

/// One query in the library's list.
#[derive(Debug, Serialize)]
struct Listed {
    /// The query's thread id (the URL's QUERY).
    query: i64,
    /// Its subject.
    subject: String,
    /// When its reply was published.
    published: Shown,
    /// The moderator who compiled it.
    compiled_by: String,
    /// The responders' names, comma-separated.
    responders: String,
    /// How many responses.
    responses: usize,
    /// How many addenda followed.
    addenda: i64,
    /// The other communities it is shared with, by name, comma-separated.
    shared_with: String,
}

/// The whole query a reply answers: for a cross-posted copy, the query in
/// its home community, whose responses came through every community.
fn whole_query(
    store: &crate::store::Store,
    thread: ThreadId,
) -> crate::store::Result<Option<crate::store::Query>> {
    let home = store.home_query(thread)?.map_or(thread, |h| h.query);
    store.query(home)
}

/// `/c/SLUG/replies?page=N`.
async fn library(
    Extract(state): Extract<State>,
    Path(slug): Path<String>,
    UrlQuery(param): UrlQuery<PageParam>,
    viewer: Viewer,
) -> Result<Html<String>, WebError> {
    let c = community(&state, &slug)?;
    let page: i64 = match param.page.as_deref() {
        None | Some("") => 1,
        Some(p) => p.parse().ok().filter(|n| *n >= 1).ok_or_else(|| {
            WebError::BadRequest(format!(
                "page={p} is not a page number; pages are numbered from 1."
            ))
        })?,
    };
    let (cc, v) = (c.clone(), viewer.clone());
    let (listed, total) = state
        .db
        .run(move |store| {
            require_read(store, &cc, &v)?;
            let now = crate::store::now();
            let total = store.reply_library_size(cc.id, now)?;
            let rows = store.reply_library(cc.id, now, (page - 1) * PER_PAGE, PER_PAGE)?;
            let mut listed = Vec::with_capacity(rows.len());
            for r in rows {
                let (names, responses) = match whole_query(store, r.thread)? {
                    Some(q) => responders(&q),
                    None => (Vec::new(), 0),
                };
                listed.push(Listed {
                    query: r.thread.0,
                    subject: r.subject,
                    published: shown(&cc, r.published_at),
                    compiled_by: r.compiled_by,
                    responders: names.join(", "),
                    responses,
                    addenda: r.addenda,
                    shared_with: r.shared_with.join(", "),
                });
            }
            Ok((listed, total))
        })
        .await?;
    let pages = ((total + PER_PAGE - 1) / PER_PAGE).max(1);
    if page > pages {
        return Err(WebError::NotFound(format!(
            "The library of {} has {pages} page{}; there is no page {page}.",
            c.name(),
            if pages == 1 { "" } else { "s" }
        )));
    }
    render(
        &state,
        Frame {
            title: if page > 1 {
                format!("Consolidated Replies, page {page}")
            } else {
                "Consolidated Replies".into()
            },
            community: Some(&c),
            viewer: &viewer,
            q: None,
        },
        "web/replies",
        &serde_json::json!({
            "replies": listed,
            "total": total,
            "page": page,
            "pages": pages,
            "prev": (page > 1).then_some(page - 1),
            "next": (page < pages).then_some(page + 1),
        }),
    )
}

/// One reply of a query's page.
#[derive(Debug, Serialize)]
struct Shows {
    /// consolidated_replies id, for the anchor.
    id: i64,
    /// Whether it is an addendum.
    addendum: bool,
    /// When it was published.
    published: Shown,
    /// Who compiled it.
    compiled_by: String,
    /// Its text as sanitised HTML (headings below the page's `<h1>`).
    html: String,
}

/// The Markdown of a published reply as the web shows it: the moderator's
/// hints removed, addresses other than the community's hidden.
pub(super) fn public_markdown(c: &Community, body: &str) -> String {
    markup::hide_addresses(&markup::text(body), &[c.address()])
}

/// `/c/SLUG/replies/QUERY`.
async fn reply(
    Extract(state): Extract<State>,
    Path((slug, query)): Path<(String, String)>,
    viewer: Viewer,
) -> Result<Html<String>, WebError> {
    let c = community(&state, &slug)?;
    let missing = || {
        WebError::NotFound(format!(
            "{} has no published Consolidated Reply for query {query}; the library lists every one.",
            c.name()
        ))
    };
    let thread: i64 = query.parse().map_err(|_| missing())?;
    let (cc, v) = (c.clone(), viewer.clone());
    let found = state
        .db
        .run(move |store| {
            require_read(store, &cc, &v)?;
            let replies = store.published_replies(cc.id, ThreadId(thread), crate::store::now())?;
            if replies.is_empty() {
                return Ok(None);
            }
            let q = whole_query(store, ThreadId(thread))?;
            let shared_with = store.shared_with(ThreadId(thread))?.join(", ");
            Ok(Some((replies, q, shared_with)))
        })
        .await?;
    let Some((replies, q, shared_with)) = found else {
        return Err(missing());
    };
    let (names, responses) = q.as_ref().map(responders).unwrap_or_default();
    let subject = replies[0].query_subject.clone();
    let shows: Vec<Shows> = replies
        .iter()
        .map(|r| Shows {
            id: r.id,
            addendum: r.addendum_to.is_some(),
            published: shown(&c, r.published_at),
            compiled_by: r.compiled_by.clone(),
            html: markup::html_fragment_lowered(&public_markdown(&c, &r.body), 1),
        })
        .collect();
    render(
        &state,
        Frame {
            title: subject.clone(),
            community: Some(&c),
            viewer: &viewer,
            q: None,
        },
        "web/reply",
        &serde_json::json!({
            "subject": subject,
            "thread": thread,
            "replies": shows,
            "responders": names.join(", "),
            "responses": responses,
            "shared_with": shared_with,
        }),
    )
}

/// Text made fit for XML 1.0 element content and attribute values: `&`,
/// `<`, `>` and quotes escaped (so `]]>` cannot appear either), and the
/// characters XML 1.0 forbids (controls other than tab, newline and carriage
/// return; U+FFFE, U+FFFF) dropped.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Unix seconds as RFC 3339 in UTC, as Atom's dates are.
fn rfc3339(at: i64) -> String {
    DateTime::from_timestamp(at, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The start of every absolute link in a feed: the public URL, or (none
/// configured) `http://` and the request's `Host`.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if !state.public_url.is_empty() {
        return state.public_url.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// One entry of a feed.
pub struct Entry {
    /// Its permanent id (an absolute URL).
    pub id: String,
    /// Its title.
    pub title: String,
    /// When it was last updated, Unix seconds.
    pub updated: i64,
    /// Its author's name.
    pub author: String,
    /// The page it stands for (absolute).
    pub link: String,
    /// A plain-text summary, if any.
    pub summary: Option<String>,
    /// Sanitised HTML content, if any.
    pub html: Option<String>,
}

/// An Atom feed document: `id` and `self_link` absolute, `alternate` the
/// page the feed follows.
pub fn atom(
    id: &str,
    title: &str,
    self_link: &str,
    alternate: &str,
    author: &str,
    entries: &[Entry],
) -> String {
    let updated = entries
        .iter()
        .map(|e| e.updated)
        .max()
        .unwrap_or_else(crate::store::now);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    x.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    x.push_str(&format!("<id>{}</id>\n", xml_escape(id)));
    x.push_str(&format!("<title>{}</title>\n", xml_escape(title)));
    x.push_str(&format!("<updated>{}</updated>\n", rfc3339(updated)));
    x.push_str(&format!(
        "<author><name>{}</name></author>\n",
        xml_escape(author)
    ));
    x.push_str(&format!(
        "<link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>\n",
        xml_escape(self_link)
    ));
    x.push_str(&format!(
        "<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
        xml_escape(alternate)
    ));
    x.push_str("<generator>praxis</generator>\n");
    for e in entries {
        x.push_str("<entry>\n");
        x.push_str(&format!("<id>{}</id>\n", xml_escape(&e.id)));
        x.push_str(&format!("<title>{}</title>\n", xml_escape(&e.title)));
        x.push_str(&format!("<updated>{}</updated>\n", rfc3339(e.updated)));
        x.push_str(&format!(
            "<author><name>{}</name></author>\n",
            xml_escape(&e.author)
        ));
        x.push_str(&format!(
            "<link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
            xml_escape(&e.link)
        ));
        if let Some(s) = &e.summary {
            x.push_str(&format!(
                "<summary type=\"text\">{}</summary>\n",
                xml_escape(s)
            ));
        }
        if let Some(h) = &e.html {
            x.push_str(&format!(
                "<content type=\"html\">{}</content>\n",
                xml_escape(h)
            ));
        }
        x.push_str("</entry>\n");
    }
    x.push_str("</feed>\n");
    x
}

/// A feed as an answer.
fn feed_response(xml: String) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/atom+xml; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=300"),
            ),
        ],
        xml,
    )
        .into_response()
}

/// The first lines of a post as a feed summary: quotes and signature
/// removed, addresses hidden, at most a few lines.
fn summary(c: &Community, text: &str) -> String {
    let own = crate::mail::quote::strip(text);
    let lines: Vec<&str> = own
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .take(SUMMARY_LINES)
        .collect();
    let mut s = markup::hide_addresses(&lines.join("\n"), &[c.address()]);
    if s.chars().count() > SUMMARY_CHARS {
        s = s.chars().take(SUMMARY_CHARS).collect::<String>() + "…";
    }
    s
}

/// `/c/SLUG/feed.atom`: the newest threads.
async fn threads_feed(
    Extract(state): Extract<State>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    viewer: Viewer,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let (cc, v) = (c.clone(), viewer.clone());
    let threads = state
        .db
        .run(move |store: &mut Store| {
            require_read(store, &cc, &v)?;
            Ok(store.new_threads(cc.id, FEED_ENTRIES)?)
        })
        .await?;
    let base = format!("{}/c/{}", base_url(&state, &headers), c.slug());
    let entries: Vec<Entry> = threads
        .iter()
        .map(|t| {
            let link = format!("{base}/t/{}", t.thread);
            Entry {
                id: link.clone(),
                title: t.subject.clone(),
                updated: t.started_at,
                author: t.author.clone(),
                link,
                summary: Some(summary(&c, &t.text)),
                html: None,
            }
        })
        .collect();
    let self_link = format!("{base}/feed.atom");
    Ok(feed_response(atom(
        &self_link,
        &format!("New threads in {}", c.name()),
        &self_link,
        &format!("{base}/"),
        c.name(),
        &entries,
    )))
}

/// `/c/SLUG/replies.atom`: the newest Consolidated Replies.
async fn replies_feed(
    Extract(state): Extract<State>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    viewer: Viewer,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let (cc, v) = (c.clone(), viewer.clone());
    let replies = state
        .db
        .run(move |store: &mut Store| {
            require_read(store, &cc, &v)?;
            Ok(store.latest_replies(cc.id, crate::store::now(), FEED_ENTRIES)?)
        })
        .await?;
    let base = format!("{}/c/{}", base_url(&state, &headers), c.slug());
    let entries: Vec<Entry> = replies
        .iter()
        .map(|r| {
            let link = format!("{base}/replies/{}", r.thread);
            Entry {
                id: format!("{link}#reply-{}", r.id),
                title: if r.addendum_to.is_some() {
                    format!("Addendum: {}", r.query_subject)
                } else {
                    r.query_subject.clone()
                },
                updated: r.published_at,
                author: if r.compiled_by.is_empty() {
                    c.name().to_string()
                } else {
                    r.compiled_by.clone()
                },
                link,
                summary: None,
                html: Some(markup::html_fragment(&public_markdown(&c, &r.body))),
            }
        })
        .collect();
    let self_link = format!("{base}/replies.atom");
    Ok(feed_response(atom(
        &self_link,
        &format!("Consolidated Replies of {}", c.name()),
        &self_link,
        &format!("{base}/replies"),
        c.name(),
        &entries,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escaping_covers_markup_cdata_ends_and_forbidden_characters() {
        assert_eq!(
            xml_escape("a < b & c > d \"q\" 'a'"),
            "a &lt; b &amp; c &gt; d &quot;q&quot; &apos;a&apos;"
        );
        assert_eq!(xml_escape("x]]>y"), "x]]&gt;y");
        assert_eq!(
            xml_escape("bell\u{7}nul\u{0}esc\u{1b}\tok\nline\r\u{FFFE}\u{FFFF}é"),
            "bellnulesc\tok\nline\ré"
        );
    }

    #[test]
    fn a_feed_escapes_every_field_and_dates_are_rfc3339() {
        let x = atom(
            "http://h/c/s/feed.atom",
            "T & <t>",
            "http://h/c/s/feed.atom",
            "http://h/c/s/",
            "C",
            &[Entry {
                id: "http://h/c/s/t/1".into(),
                title: "<b>]]></b>".into(),
                updated: 0,
                author: "A\u{1}".into(),
                link: "http://h/c/s/t/1?a=1&b=2".into(),
                summary: Some("s".into()),
                html: Some("<p>x</p>".into()),
            }],
        );
        assert!(x.contains("<title>T &amp; &lt;t&gt;</title>"), "{x}");
        assert!(
            x.contains("<title>&lt;b&gt;]]&gt;&lt;/b&gt;</title>"),
            "{x}"
        );
        assert!(x.contains("<updated>1970-01-01T00:00:00Z</updated>"), "{x}");
        assert!(x.contains("href=\"http://h/c/s/t/1?a=1&amp;b=2\""), "{x}");
        assert!(x.contains("<content type=\"html\">&lt;p&gt;x&lt;/p&gt;</content>"));
        assert!(!x.contains('\u{1}'));
    }
}
