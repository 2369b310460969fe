//! The archive's reading pages: a community's home, its threads by last
//! activity, a thread (its Consolidated Reply first), a post by Message-ID
//! with its stored raw message, a thread as mboxrd, and kept attachments.
//!
//! Every page passes `require_read`; raw messages and mboxes need a member
//! (or moderator) even when the archive is public. Only approved posts of
//! the community in the address appear. Authors are shown by name,
//! organisation and place, never by address, and addresses in subjects and
//! bodies are hidden (a quoted "X <x@y> wrote:" line would show one).
//! Member text reaches the page only through handlebars' escaping; a
//! Consolidated Reply's Markdown through `markup::html_fragment` (ammonia).
//!
//! Long because the six pages share their helpers (the link encoder, the
//! address hiding, quote folding, mboxrd, the download headers) and their
//! unit tests, which read best beside them.

use axum::Router;
use axum::extract::{Path, Query, State as Extract};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::community::Community;
use crate::model::{QueryState, ThreadId, ThreadKind};
use crate::store::{ArchivePost, ArchiveThread, RawMessage, ThreadFilter};

use super::State;
use super::access::{Standing, Viewer, require_read};
use super::page::{Frame, WebError, community, render};

/// Threads on one page of `/c/{slug}/threads`.
pub const PAGE_SIZE: i64 = 50;
/// Latest threads and Consolidated Replies on a community's home.
const HOME_LATEST: i64 = 10;
/// The longest Message-ID looked up (RFC 5322 lines are at most 998).
const MAX_MESSAGE_ID: usize = 998;

/// The archive's routes.
pub fn routes() -> Router<State> {
    Router::new()
        .route("/c/{slug}/", get(home))
        .route("/c/{slug}", get(home_without_slash))
        .route("/c/{slug}/threads", get(threads))
        .route("/c/{slug}/t/{thread}", get(thread))
        .route("/c/{slug}/m/{message_id}", get(post))
        .route("/c/{slug}/m/{message_id}/raw", get(raw))
        .route("/c/{slug}/a/{sha256}/{name}", get(attachment))
}

/// `s` as one path segment: everything but unreserved characters and `@`
/// percent-encoded (so `/`, `%`, `+`, `"`, `<` survive the trip), and a
/// segment of dots encoded whole so no browser takes it for `.` or `..`.
pub fn encode_segment(s: &str) -> String {
    let all_dots = !s.is_empty() && s.bytes().all(|b| b == b'.');
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'~' | b'@')
            || (b == b'.' && !all_dots);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A post's permalink under `root`.
pub fn post_link(root: &str, slug: &str, message_id: &str) -> String {
    format!("{root}/c/{slug}/m/{}", encode_segment(message_id))
}

/// Text with every address but the community's own hidden: member
/// addresses never reach a page, even one quoted as "Name <addr> wrote:".
fn hide_addresses(c: &Community, text: &str) -> String {
    crate::markup::hide_addresses(text, &[c.address()])
}

/// A date as pages show it: "4 Dec 2026" in the community's time zone,
/// with the exact instant for `<time datetime>`.
#[derive(Serialize)]
struct When {
    /// The day, in words.
    text: String,
    /// RFC 3339, for the `datetime` attribute.
    iso: String,
}

fn when(c: &Community, t: i64) -> When {
    let utc = DateTime::from_timestamp(t, 0).unwrap_or_default();
    let local = utc.with_timezone(&c.config.timezone);
    When {
        text: local.format("%-d %b %Y").to_string(),
        iso: local.to_rfc3339(),
    }
}

/// A thread in a list.
#[derive(Serialize)]
struct ThreadItem {
    /// Its link.
    href: String,
    /// Its subject (addresses hidden).
    subject: String,
    /// Query, discussion or announcement.
    kind: &'static str,
    /// Approved posts.
    posts: i64,
    /// Distinct senders.
    participants: i64,
    /// Last activity.
    last: When,
}

fn thread_item(root: &str, c: &Community, t: &ArchiveThread) -> ThreadItem {
    ThreadItem {
        href: format!("{root}/c/{}/t/{}", c.slug(), t.id),
        subject: subject_or_none(c, &t.subject),
        kind: t.kind.as_str(),
        posts: t.posts,
        participants: t.participants,
        last: when(c, t.last_at),
    }
}

fn subject_or_none(c: &Community, s: &str) -> String {
    if s.trim().is_empty() {
        "(no subject)".into()
    } else {
        hide_addresses(c, s)
    }
}

/// `/c/{slug}/`: open queries with working days left, the latest
/// Consolidated Replies and threads, how to post and join.
async fn home(
    Extract(state): Extract<State>,
    viewer: Viewer,
    Path(slug): Path<String>,
) -> Result<Html<String>, WebError> {
    let c = community(&state, &slug)?;
    let (cc, v) = (c.clone(), viewer.clone());
    let (queries, replies, latest) = state
        .db
        .run(move |store| {
            require_read(store, &cc, &v)?;
            let queries = store.threads(&ThreadFilter {
                community: Some(cc.id),
                queries: true,
                limit: 200,
                ..Default::default()
            })?;
            let now = chrono::Utc::now().timestamp();
            let replies = store.archive_latest_replies(cc.id, HOME_LATEST, now)?;
            let latest = store.archive_threads(cc.id, HOME_LATEST, 0)?;
            Ok((queries, replies, latest))
        })
        .await?;
    let root = super::page::root(&state).to_string();
    let now = Utc::now();
    let calendar = c.config.calendar();
    let open: Vec<_> = queries
        .iter()
        .filter(|q| q.state != QueryState::Published)
        .filter_map(|q| {
            let due = DateTime::from_timestamp(q.deadline?, 0)?;
            Some(json!({
                "href": format!("{root}/c/{}/t/{}", c.slug(), q.id),
                "subject": subject_or_none(&c, &q.subject),
                "responses": q.responses,
                "days_left": calendar.working_days_left(due, now),
                "due": when(&c, q.deadline?),
            }))
        })
        .collect();
    let replies: Vec<_> = replies
        .iter()
        .map(|r| {
            json!({
                "href": format!("{root}/c/{}/replies/{}", c.slug(), r.thread),
                "subject": subject_or_none(&c, &r.subject),
                "published": when(&c, r.published_at),
            })
        })
        .collect();
    let latest: Vec<_> = latest.iter().map(|t| thread_item(&root, &c, t)).collect();
    render(
        &state,
        Frame {
            title: "Home".into(),
            community: Some(&c),
            viewer: &viewer,
            q: None,
        },
        "web/community",
        &json!({"open": open, "replies": replies, "latest": latest}),
    )
}

/// `/c/{slug}`: the home's address has a trailing slash.
async fn home_without_slash(
    Extract(state): Extract<State>,
    Path(slug): Path<String>,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let to = format!("{}/c/{}/", super::page::root(&state), c.slug());
    Ok(axum::response::Redirect::permanent(&to).into_response())
}

/// The query string of `/c/{slug}/threads`.
#[derive(Deserialize)]
struct PageQuery {
    /// The page asked for (1 = newest), as text so a bad one gets our
    /// own answer rather than the framework's.
    page: Option<String>,
}

/// `/c/{slug}/threads?page=N`: threads by last activity, 50 a page.
async fn threads(
    Extract(state): Extract<State>,
    viewer: Viewer,
    Path(slug): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Html<String>, WebError> {
    let c = community(&state, &slug)?;
    let page: i64 = match q.page.as_deref().map(str::trim) {
        None | Some("") => 1,
        Some(p) => match p.parse::<i64>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(WebError::BadRequest(format!(
                    "“{p}” is not a page number; pages are numbered from 1."
                )));
            }
        },
    };
    let (cc, v) = (c.clone(), viewer.clone());
    let (total, rows, page) = state
        .db
        .run(move |store| {
            require_read(store, &cc, &v)?;
            let total = store.archive_thread_count(cc.id)?;
            let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
            // A page past the end shows the last one.
            let page = page.min(pages);
            let rows = store.archive_threads(cc.id, PAGE_SIZE, (page - 1) * PAGE_SIZE)?;
            Ok((total, rows, page))
        })
        .await?;
    let root = super::page::root(&state).to_string();
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let base = format!("{root}/c/{}/threads", c.slug());
    let items: Vec<_> = rows.iter().map(|t| thread_item(&root, &c, t)).collect();
    render(
        &state,
        Frame {
            title: if page > 1 {
                format!("Threads, page {page}")
            } else {
                "Threads".into()
            },
            community: Some(&c),
            viewer: &viewer,
            q: None,
        },
        "web/threads",
        &json!({
            "threads": items,
            "total": total,
            "page": page,
            "pages": pages,
            "prev": (page > 1).then(|| format!("{base}?page={}", page - 1)),
            "next": (page < pages).then(|| format!("{base}?page={}", page + 1)),
            "prev_page": page - 1,
            "next_page": page + 1,
        }),
    )
}

/// One stretch of a post's body: quoted (`>`) lines fold away.
#[derive(Serialize)]
struct Chunk {
    /// Whether these are quoted lines.
    quote: bool,
    /// How many lines.
    lines: usize,
    /// The text (addresses hidden; escaped by the template).
    text: String,
}

/// A body split into runs of quoted and unquoted lines.
fn chunks(text: &str) -> Vec<Chunk> {
    let text = text.replace("\r\n", "\n");
    let mut out: Vec<Chunk> = Vec::new();
    for line in text.trim_end().lines() {
        let quote = line.trim_start().starts_with('>');
        match out.last_mut() {
            Some(last) if last.quote == quote => {
                last.text.push('\n');
                last.text.push_str(line);
                last.lines += 1;
            }
            _ => out.push(Chunk {
                quote,
                lines: 1,
                text: line.to_string(),
            }),
        }
    }
    out
}

/// Bytes in words: "312 bytes", "14 KB", "2.1 MB".
fn size_text(n: u64) -> String {
    match n {
        0..1024 => format!("{n} bytes"),
        1024..1_048_576 => format!("{} KB", n.div_ceil(1024)),
        _ => format!("{:.1} MB", n as f64 / 1_048_576.0),
    }
}

/// A post as the thread and permalink pages show it.
fn post_data(root: &str, c: &Community, p: &ArchivePost) -> serde_json::Value {
    let name = if p.name.trim().is_empty() || p.name.contains('@') {
        "a member".to_string()
    } else {
        p.name.clone()
    };
    let attachments: Vec<_> = p
        .attachments
        .iter()
        .map(|a| {
            json!({
                "name": hide_addresses(c, &a.name),
                "size": size_text(a.size),
                "href": a.kept.then(|| format!(
                    "{root}/c/{}/a/{}/{}", c.slug(), a.sha256, encode_segment(&a.name)
                )),
            })
        })
        .collect();
    json!({
        "anchor": format!("p{}", p.id),
        "permalink": post_link(root, c.slug(), &p.message_id),
        "subject": subject_or_none(c, &p.subject),
        "name": name,
        "organisation": p.organisation,
        "place": p.place,
        "date": when(c, p.date),
        "chunks": chunks(&hide_addresses(c, &p.text)),
        "attachments": attachments,
    })
}

/// `/c/{slug}/t/{thread}` (and `{thread}.mbox`).
async fn thread(
    Extract(state): Extract<State>,
    viewer: Viewer,
    Path((slug, thread)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let (id, mbox) = match thread.strip_suffix(".mbox") {
        Some(id) => (id, true),
        None => (thread.as_str(), false),
    };
    let id = parse_thread(id)?;
    if mbox {
        return thread_mbox(state, viewer, c, id).await;
    }
    let (cc, v) = (c.clone(), viewer.clone());
    let (head, replies, posts, standing, shared_with) = state
        .db
        .run(move |store| {
            let standing = require_read(store, &cc, &v)?;
            let Some(head) = store.archive_thread(cc.id, id)? else {
                return Err(no_thread(&cc, id));
            };
            let now = Utc::now().timestamp();
            let replies = store.archive_thread_replies(cc.id, id, now)?;
            let posts = store.archive_posts(cc.id, id)?;
            let shared_with = store.shared_with(id)?.join(", ");
            Ok((head, replies, posts, standing, shared_with))
        })
        .await?;
    let root = super::page::root(&state).to_string();
    let replies: Vec<_> = replies
        .iter()
        .map(|r| {
            json!({
                "addendum": r.addendum_to.is_some(),
                "subject": subject_or_none(&c, &r.subject),
                "published": when(&c, r.published_at),
                // Under the page's <h1> and the reply's <h2>; as the library
                // shows it, addresses but the community's hidden.
                "html": crate::markup::html_fragment_lowered(
                    &super::replies::public_markdown(&c, &r.markdown),
                    2,
                ),
            })
        })
        .collect();
    let posts: Vec<_> = posts.iter().map(|p| post_data(&root, &c, p)).collect();
    let subject = subject_or_none(&c, &head.subject);
    Ok(render(
        &state,
        Frame {
            title: subject.clone(),
            community: Some(&c),
            viewer: &viewer,
            q: None,
        },
        "web/thread",
        &json!({
            "subject": subject,
            "kind": head.kind.as_str(),
            "query": head.kind == ThreadKind::Query,
            "posts_count": head.posts,
            "participants": head.participants,
            "replies": replies,
            "posts": posts,
            "shared_with": shared_with,
            "mbox": matches!(standing, Standing::Member | Standing::Moderator)
                .then(|| format!("{root}/c/{}/t/{}.mbox", c.slug(), head.id)),
        }),
    )?
    .into_response())
}

/// A thread id from the address: digits only.
fn parse_thread(s: &str) -> Result<ThreadId, WebError> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WebError::BadRequest(format!(
            "“{}” is not a thread number; thread addresses look like /t/42.",
            s.chars().take(40).collect::<String>()
        )));
    }
    s.parse::<i64>()
        .map(ThreadId)
        .map_err(|_| WebError::BadRequest("That thread number is out of range.".into()))
}

fn no_thread(c: &Community, id: ThreadId) -> WebError {
    WebError::NotFound(format!(
        "{} has no thread {id}; the list of threads has every one.",
        c.name()
    ))
}

fn no_post(c: &Community) -> WebError {
    WebError::NotFound(format!(
        "{} has no post with that Message-ID in its archive; search the archive or browse its threads.",
        c.name()
    ))
}

/// Raw messages and mboxes are for members (and moderators) only.
fn require_member(c: &Community, standing: Standing, viewer: &Viewer) -> Result<(), WebError> {
    match standing {
        Standing::Member | Standing::Moderator => Ok(()),
        Standing::Outsider => Err(WebError::Forbidden {
            message: format!(
                "The stored messages of {} are open to its members only; sign in with the address you receive the list at.",
                c.name()
            ),
            signin: viewer.email.is_none(),
        }),
    }
}

/// `asctime` of `t` (UTC), as the mbox `From ` line has it.
fn asctime(t: i64) -> String {
    DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .format("%a %b %e %H:%M:%S %Y")
        .to_string()
}

/// Messages as one mboxrd file: a `From ` line each (sender, asctime),
/// every line matching `^>*From ` quoted with one more `>`, a blank line
/// after each.
pub fn mboxrd(messages: &[RawMessage]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in messages {
        let sender = m
            .from
            .chars()
            .filter(|c| !c.is_whitespace() && !c.is_control())
            .collect::<String>();
        let sender = if sender.is_empty() {
            "MAILER-DAEMON".to_string()
        } else {
            sender
        };
        out.extend_from_slice(format!("From {sender} {}\n", asctime(m.date)).as_bytes());
        let raw = m.raw.strip_suffix(b"\n").unwrap_or(&m.raw);
        for line in raw.split(|b| *b == b'\n') {
            let after = line.iter().position(|b| *b != b'>').unwrap_or(line.len());
            if line[after..].starts_with(b"From ") {
                out.push(b'>');
            }
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

/// `/c/{slug}/t/{thread}.mbox`: the thread as mboxrd, for members.
async fn thread_mbox(
    state: State,
    viewer: Viewer,
    c: std::sync::Arc<Community>,
    id: ThreadId,
) -> Result<Response, WebError> {
    let (cc, v) = (c.clone(), viewer.clone());
    let messages = state
        .db
        .run(move |store| {
            let standing = require_read(store, &cc, &v)?;
            require_member(&cc, standing, &v)?;
            if store.archive_thread(cc.id, id)?.is_none() {
                return Err(no_thread(&cc, id));
            }
            Ok(store.archive_thread_raw(cc.id, id)?)
        })
        .await?;
    let disposition = format!("attachment; filename=\"{}-thread-{id}.mbox\"", c.slug());
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/mbox"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
        ],
        mboxrd(&messages),
    )
        .into_response())
}

/// A Message-ID from the address, within bounds.
fn message_id_param(c: &Community, id: &str) -> Result<String, WebError> {
    let id = id.trim_start_matches('<').trim_end_matches('>');
    if id.is_empty() || id.len() > MAX_MESSAGE_ID {
        return Err(no_post(c));
    }
    Ok(id.to_string())
}

/// `/c/{slug}/m/{message-id}`: one post, with a link to its thread.
async fn post(
    Extract(state): Extract<State>,
    viewer: Viewer,
    Path((slug, message_id)): Path<(String, String)>,
) -> Result<Html<String>, WebError> {
    let c = community(&state, &slug)?;
    let id = message_id_param(&c, &message_id)?;
    let (cc, v) = (c.clone(), viewer.clone());
    let (post, standing) = state
        .db
        .run(move |store| {
            let standing = require_read(store, &cc, &v)?;
            let post = store
                .archive_post(cc.id, &id)?
                .ok_or_else(|| no_post(&cc))?;
            Ok((post, standing))
        })
        .await?;
    let root = super::page::root(&state).to_string();
    let data = post_data(&root, &c, &post);
    let subject = subject_or_none(&c, &post.subject);
    render(
        &state,
        Frame {
            title: subject.clone(),
            community: Some(&c),
            viewer: &viewer,
            q: None,
        },
        "web/post",
        &json!({
            "post": data,
            "subject": subject,
            "thread_href": format!("{root}/c/{}/t/{}#p{}", c.slug(), post.thread, post.id),
            "thread_subject": subject_or_none(&c, &post.thread_subject),
            "raw_href": matches!(standing, Standing::Member | Standing::Moderator)
                .then(|| format!("{}/raw", post_link(&root, c.slug(), &post.message_id))),
        }),
    )
}

/// `/c/{slug}/m/{message-id}/raw`: the stored message, for members.
async fn raw(
    Extract(state): Extract<State>,
    viewer: Viewer,
    Path((slug, message_id)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let id = message_id_param(&c, &message_id)?;
    let (cc, v) = (c.clone(), viewer.clone());
    let msg = state
        .db
        .run(move |store| {
            let standing = require_read(store, &cc, &v)?;
            require_member(&cc, standing, &v)?;
            store.archive_raw(cc.id, &id)?.ok_or_else(|| no_post(&cc))
        })
        .await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
        ],
        msg.raw,
    )
        .into_response())
}

/// The type a kept file is served as: its own when a browser only
/// downloads or displays it inertly, else `application/octet-stream`
/// (HTML, SVG, XML, script and anything unknown never render as a page).
pub fn served_type(stored: &str) -> &'static str {
    let essence = stored
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    const SAFE: &[&str] = &[
        "text/plain",
        "text/csv",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "application/zip",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
        "audio/mpeg",
        "audio/ogg",
        "video/mp4",
    ];
    SAFE.iter()
        .find(|t| **t == essence)
        .copied()
        .unwrap_or("application/octet-stream")
}

/// `Content-Disposition: attachment` for `name` (RFC 6266): an ASCII
/// fallback and the exact name as `filename*=UTF-8''…`.
pub fn disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%')) || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// `/c/{slug}/a/{sha256}/{name}`: a kept attachment, as a download.
async fn attachment(
    Extract(state): Extract<State>,
    viewer: Viewer,
    Path((slug, sha256, name)): Path<(String, String, String)>,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let gone = || WebError::NotFound("There is no such file in this archive.".into());
    if sha256.len() != 64
        || !sha256
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(gone());
    }
    let (cc, v) = (c.clone(), viewer.clone());
    let file = state
        .db
        .run(move |store| {
            require_read(store, &cc, &v)?;
            Ok(store.archive_file(cc.id, &sha256, &name)?)
        })
        .await?
        .ok_or_else(gone)?;
    let disposition = HeaderValue::from_str(&disposition(&file.name))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(served_type(&file.content_type)),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=86400"),
            ),
        ],
        file.bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Percent-decodes a path segment as axum's `Path` does.
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn message_ids_survive_the_link_encoder() {
        for id in [
            "a/b@example.org",
            "100%sure@x",
            "a+b@x",
            "\"quoted\"@x",
            "<script>@x",
            "..",
            "sp ace@x",
            "ü@x",
        ] {
            let enc = encode_segment(id);
            assert!(
                enc.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~@%".contains(&b)),
                "{enc}"
            );
            assert!(!enc.contains('/') && enc != ".." && enc != ".", "{enc}");
            assert_eq!(decode(&enc), id);
        }
        assert_eq!(encode_segment("a+b/c@x.org"), "a%2Bb%2Fc@x.org");
    }

    #[test]
    fn quoted_lines_fold_into_their_own_chunks() {
        let c = chunks("Hi\n\n> a\n> b\nme\n");
        let shape: Vec<_> = c.iter().map(|c| (c.quote, c.lines)).collect();
        assert_eq!(shape, vec![(false, 2), (true, 2), (false, 1)]);
        assert_eq!(c[1].text, "> a\n> b");
    }

    #[test]
    fn mboxrd_quotes_from_lines_one_level_more() {
        let m = RawMessage {
            from: "a@x.org".into(),
            date: 0,
            raw: b"Subject: s\n\nFrom here\n>From there\n>>From far\nFrom: no\nFromage\n".to_vec(),
        };
        let out = String::from_utf8(mboxrd(&[m.clone(), m])).unwrap();
        let first = "From a@x.org Thu Jan  1 00:00:00 1970\nSubject: s\n\n>From here\n>>From there\n>>>From far\nFrom: no\nFromage\n\n";
        assert_eq!(out, format!("{first}{first}"));
    }

    #[test]
    fn documents_and_unknown_types_download_as_octet_stream() {
        for t in [
            "text/html",
            "application/xhtml+xml",
            "image/svg+xml",
            "text/xml",
            "application/xml",
            "application/javascript",
            "text/javascript",
            "application/x-unknown",
            "",
        ] {
            assert_eq!(served_type(t), "application/octet-stream", "{t}");
        }
        assert_eq!(served_type("Image/PNG; x=1"), "image/png");
        assert_eq!(served_type("application/pdf"), "application/pdf");
    }

    #[test]
    fn a_file_name_is_quoted_and_encoded_for_the_download() {
        assert_eq!(
            disposition("guide ü \"x\".pdf"),
            "attachment; filename=\"guide _ _x_.pdf\"; filename*=UTF-8''guide%20%C3%BC%20%22x%22.pdf"
        );
        let d = disposition("a\r\nSet-Cookie: x");
        assert!(!d.contains('\r') && !d.contains('\n'), "{d}");
    }
}
