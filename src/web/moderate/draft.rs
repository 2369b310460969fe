//! A query's Consolidated Reply draft, `/mod/SLUG/queries/ID/draft`: the
//! Markdown beside its rendering as members will read it; each save a new
//! version (refused when someone saved another meanwhile), versions listed
//! with a diff of any two; publish now or at a time to come, cancel a
//! schedule; after publication, a new draft is an addendum of the later
//! responses. The steps are the CLI's (`crate::consolidate`), so
//! `praxis consolidate` and this page make the same drafts and messages.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{OriginalUri, Path, Query as Params, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use serde::Serialize;
use serde_json::json;

use crate::community::Community;
use crate::consolidate::{draft_subject, generate, publish, publish_draft, unified};
use crate::markup;
use crate::model::{ReplyState, ThreadId, ThreadKind};
use crate::store::{Draft, DraftVersion, Query, Store, StoreError, now};

use super::super::access::{Csrf, Viewer, check_form};
use super::super::page::{Frame, WebError, community, date, render};
use super::super::{AppState, State};
use super::{acting_moderator, moderator, sentence};

/// The longest draft taken (a Consolidated Reply of a busy query runs to
/// tens of kilobytes; the request limit is 64 KiB).
const DRAFT_MAX: usize = 60_000;

/// The routes.
pub(super) fn routes() -> Router<State> {
    Router::new().route("/mod/{slug}/queries/{id}/draft", get(show).post(act))
}

/// What the form sent: `action` (save, preview, publish, schedule,
/// cancel), `body`, `base`, `version`, `at`, `csrf`.
type Sent = HashMap<String, String>;

/// One stored version as the page lists it.
#[derive(Serialize)]
struct Version {
    /// Its number.
    version: i64,
    /// When it was saved.
    when: String,
    /// Who saved it.
    who: String,
    /// Its size in bytes.
    size: i64,
}

/// What the page says above the draft after a POST or a diff request.
#[derive(Default)]
struct Outcome {
    /// The text in the editor when it is not the stored one (a preview, a
    /// refused save): what was typed is never lost.
    typed: Option<String>,
    /// The time typed for a schedule, kept when refused.
    at: Option<String>,
    /// What was done.
    notes: Vec<String>,
    /// Why nothing was done.
    errors: Vec<String>,
    /// The two versions to compare, from `?a=&b=`.
    diff: Option<(i64, i64)>,
}

/// A time as the community reads it, to the minute.
fn local(c: &Community, unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| {
            t.with_timezone(&c.config.timezone)
                .format("%-d %b %Y %H:%M %Z")
                .to_string()
        })
        .unwrap_or_default()
}

/// The query `id` of `c`, or the not-found page (also for a thread that is
/// not a query: it has no Consolidated Reply).
fn load(store: &Store, c: &Community, id: i64) -> Result<Query, WebError> {
    if let Some(h) = store.home_query(ThreadId(id))? {
        return Err(WebError::NotFound(format!(
            "Thread {id} was cross-posted here from {}: its Consolidated Reply is compiled there, as query {}, and published here too.",
            h.name, h.query
        )));
    }
    match store.query(ThreadId(id))? {
        Some(q) if q.community == c.id && q.kind == ThreadKind::Query => Ok(q),
        Some(q) if q.community == c.id => Err(WebError::NotFound(format!(
            "Thread {id} is a {}, not a query; mark it a query on the query board to draft its Consolidated Reply.",
            q.kind
        ))),
        _ => Err(WebError::NotFound(format!(
            "{} has no query {id}; the query board lists them.",
            c.name()
        ))),
    }
}

/// The latest reply of `q` and what a new draft builds on: the unpublished
/// reply (draft or scheduled), and when the last one was published (a new
/// draft is then an addendum).
fn standing(store: &Store, q: &Query) -> Result<(Option<Draft>, Option<Draft>), WebError> {
    let latest = store.current_draft(q.thread)?;
    let published = latest.clone().filter(|d| d.state == ReplyState::Published);
    let current = latest.filter(|d| d.state != ReplyState::Published);
    Ok((current, published))
}

/// The draft page for query `id`, with `outcome`.
async fn draft_page(
    state: &AppState,
    headers: &HeaderMap,
    action: &str,
    c: &Arc<Community>,
    viewer: &Viewer,
    id: i64,
    outcome: Outcome,
) -> Result<Response, WebError> {
    let (c2, v2) = (c.clone(), viewer.clone());
    let Outcome {
        typed,
        at,
        notes,
        errors,
        diff,
    } = outcome;
    let (data, errors) = state
        .db
        .run(move |store| {
            let mut errors = errors;
            moderator(store, &c2, &v2)?;
            let q = load(store, &c2, id)?;
            let (current, published) = standing(store, &q)?;
            let addendum_since = published.as_ref().and_then(|d| d.published_at);
            let stored = current.as_ref().map(|d| d.body.clone());
            let text = match (&typed, &stored) {
                (Some(t), _) => t.clone(),
                (None, Some(s)) => s.clone(),
                (None, None) => generate(store, &c2.config, c2.templates(), &q, addendum_since)
                    .map_err(|e| WebError::Internal(e.to_string()))?,
            };
            let all: Vec<DraftVersion> = if current.is_some() {
                store.draft_versions(q.thread)?
            } else {
                Vec::new()
            };
            let mut diff_text = None;
            if let Some((a, b)) = diff {
                let find = |n: i64| all.iter().find(|v| v.version == n);
                match (find(a), find(b)) {
                    (Some(va), Some(vb)) => {
                        let label = |v: &DraftVersion| {
                            format!(
                                "version {} ({}, {})",
                                v.version,
                                v.author,
                                local(&c2, v.created_at)
                            )
                        };
                        let d = unified(&va.body, &vb.body, &label(va), &label(vb));
                        diff_text = Some(if d.is_empty() {
                            format!("Versions {a} and {b} are the same.")
                        } else {
                            d
                        });
                    }
                    _ => errors.push(format!(
                        "There is no version {} of this draft; choose from the list.",
                        if find(a).is_none() { a } else { b }
                    )),
                }
            }
            let versions: Vec<Version> = all
                .iter()
                .map(|v| Version {
                    version: v.version,
                    when: local(&c2, v.created_at),
                    who: v.author.clone(),
                    size: v.size,
                })
                .collect();
            let reply_state = match &current {
                Some(d) if d.state == ReplyState::Scheduled => json!({
                    "scheduled": true,
                    "at": d.publish_at.map(|t| local(&c2, t)),
                }),
                Some(d) => json!({"draft": true, "version": d.version}),
                None => json!({"none": true}),
            };
            let root = &q.root;
            Ok((json!({
                "query": {
                    "id": q.thread.0,
                    "subject": q.subject,
                    "asker": root.name,
                    "organisation": root.organisation,
                    "place": root.place,
                    "asked": date(&c2, root.date),
                    "responses": q.responses.len(),
                    "late": q.responses.iter().filter(|r| r.late).count(),
                },
                "reply": reply_state,
                "addendum": addendum_since.is_some()
                    && current.as_ref().is_none_or(|d| d.addendum_to.is_some()),
                "published": published.as_ref().and_then(|d| d.published_at).map(|t| local(&c2, t)),
                "text": text,
                "preview": markup::html_fragment(&text),
                "edited": typed.is_some() && typed != stored,
                "base": current.as_ref().map_or(0, |d| d.version),
                "next": current.as_ref().map_or(0, |d| d.version) + 1,
                "versions": versions,
                "diff": diff_text,
                "diff_a": diff.map(|d| d.0),
                "diff_b": diff.map(|d| d.1),
                "at": at,
                "zone": c2.config.timezone.name(),
            }), errors))
        })
        .await?;
    let csrf = Csrf::for_request(state, headers);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut data = data;
    data["action"] = json!(action);
    data["csrf"] = json!(csrf.token(state, action));
    data["notes"] = json!(notes);
    data["errors"] = json!(errors);
    let title = format!(
        "Draft: {}",
        data["query"]["subject"].as_str().unwrap_or_default()
    );
    let page = render(
        state,
        Frame {
            title,
            community: Some(c),
            viewer,
            q: None,
        },
        "web/mod_draft",
        &data,
    )?;
    Ok(csrf.answer(status, page))
}

/// `GET /mod/SLUG/queries/ID/draft[?a=A&b=B]`: the draft, and the diff
/// from version A to B when asked.
async fn show(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path((slug, id)): Path<(String, i64)>,
    Params(params): Params<HashMap<String, String>>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let num = |k: &str| params.get(k).and_then(|v| v.trim().parse::<i64>().ok());
    let mut outcome = Outcome::default();
    match (num("a"), num("b")) {
        (Some(a), Some(b)) => outcome.diff = Some((a, b)),
        _ if params.contains_key("a") || params.contains_key("b") => outcome
            .errors
            .push("Choose two versions to compare, by number.".into()),
        _ => {}
    }
    draft_page(&state, &headers, uri.path(), &c, &viewer, id, outcome).await
}

/// `POST /mod/SLUG/queries/ID/draft`: save, preview, publish, schedule or
/// cancel.
async fn act(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path((slug, id)): Path<(String, i64)>,
    viewer: Viewer,
    Form(sent): Form<Sent>,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let path = uri.path().to_string();
    let field = |k: &str| sent.get(k).map(String::as_str).unwrap_or("");
    // Browsers send textarea lines with CRLF; the draft is stored with LF.
    let body = sent.get("body").map(|b| b.replace("\r\n", "\n"));
    let mut outcome = Outcome {
        typed: body.clone(),
        at: sent.get("at").cloned(),
        ..Outcome::default()
    };
    if let Err(e) = check_form(&state, &headers, &path, field("csrf")) {
        outcome.errors.push(e.to_string());
        return draft_page(&state, &headers, &path, &c, &viewer, id, outcome).await;
    }
    let action = field("action").to_string();
    if action == "preview" {
        return draft_page(&state, &headers, &path, &c, &viewer, id, outcome).await;
    }
    let at = match action.as_str() {
        "schedule" => match when(&c, field("at")) {
            Ok(t) => Some(t),
            Err(e) => {
                outcome.errors.push(e);
                return draft_page(&state, &headers, &path, &c, &viewer, id, outcome).await;
            }
        },
        _ => None,
    };
    let base = field("base").parse::<i64>().ok();
    let version = field("version").parse::<i64>().ok();
    let (c2, v2, all) = (c.clone(), viewer.clone(), state.communities.clone());
    let done = state
        .db
        .run(move |store| {
            let actor = acting_moderator(store, &c2, &v2)?;
            let q = load(store, &c2, id)?;
            let (current, published) = standing(store, &q)?;
            Ok(match action.as_str() {
                "save" => save(store, &q, current, published, body, base, &actor)?,
                "publish" | "schedule" => {
                    send(store, &all, &c2, &q, current, version, at).map(|n| (n, true))
                }
                "cancel" => match store.cancel_scheduled(q.thread) {
                    Ok(reply) => Ok((
                        format!(
                            "Consolidated Reply {reply} is no longer scheduled; it is a draft again."
                        ),
                        true,
                    )),
                    Err(StoreError::Conflict(m)) => Err(sentence(&m)),
                    Err(e) => return Err(e.into()),
                },
                other => Err(format!(
                    "“{other}” is not something this page does; save, preview, publish, schedule or cancel."
                )),
            })
        })
        .await?;
    match done {
        Ok((note, clear)) => {
            outcome.notes.push(note);
            if clear {
                outcome.typed = None;
                outcome.at = None;
            }
        }
        Err(e) => outcome.errors.push(e),
    }
    draft_page(&state, &headers, &path, &c, &viewer, id, outcome).await
}

/// Reads the schedule's time (`datetime-local` sends `2026-12-01T09:00`),
/// in the community's zone; refuses one past.
fn when(c: &Community, at: &str) -> Result<i64, String> {
    let at = at.trim();
    if at.is_empty() {
        return Err("Give the time to publish at, or publish now.".into());
    }
    let tz = c.config.timezone;
    let local = if at.len() == 16 && at.as_bytes()[10] == b'T' {
        at.replacen('T', " ", 1)
    } else {
        at.to_string()
    };
    let t = publish::parse_at(&local, tz).map_err(|e| sentence(&e))?;
    let now = chrono::Utc::now();
    if t <= now {
        return Err(format!(
            "{} is in the past (it is now {}); give a later time, or publish now.",
            local_time(t, tz),
            local_time(now, tz)
        ));
    }
    Ok(t.timestamp())
}

/// `t` in zone `tz`, to the minute.
fn local_time(t: chrono::DateTime<chrono::Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz)
        .format("%-d %b %Y %H:%M %Z")
        .to_string()
}

/// Saves `body` as the next version, unless unchanged or scheduled;
/// `Ok((note, clear the editor))` or the reason for the page.
fn save(
    store: &mut Store,
    q: &Query,
    current: Option<Draft>,
    published: Option<Draft>,
    body: Option<String>,
    base: Option<i64>,
    actor: &str,
) -> Result<Result<(String, bool), String>, WebError> {
    let body = body.unwrap_or_default();
    if body.trim().is_empty() {
        return Ok(Err(
            "The draft is empty; write the Consolidated Reply before saving.".into(),
        ));
    }
    if body.len() > DRAFT_MAX {
        return Ok(Err(format!(
            "The draft is over {} kB; shorten it (link long documents instead of pasting them).",
            DRAFT_MAX / 1000
        )));
    }
    if let Some(d) = current
        .as_ref()
        .filter(|d| d.state == ReplyState::Scheduled)
    {
        return Ok(Err(format!(
            "Consolidated Reply {} is scheduled and takes no new version; cancel the schedule first.",
            d.reply
        )));
    }
    if let Some(d) = current.as_ref().filter(|d| d.body == body) {
        return Ok(Ok((
            format!(
                "Nothing changed since version {}; nothing saved.",
                d.version
            ),
            true,
        )));
    }
    let addendum = published.is_some() || current.as_ref().is_some_and(|d| d.addendum_to.is_some());
    let subject = draft_subject(q, addendum);
    match store.save_draft(q.thread, &subject, &body, actor, now(), base) {
        Ok((reply, version)) => Ok(Ok((
            format!(
                "Saved version {version} of Consolidated Reply {reply}{}.",
                if addendum { " (an addendum)" } else { "" }
            ),
            true,
        ))),
        Err(StoreError::Conflict(m)) => Ok(Err(format!(
            "Not saved: {m}. Your text is kept below; compare it with the latest version and save again."
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Publishes (or schedules, with `at`) the draft, if it is still version
/// `version` as shown: a moderator publishes what they read.
fn send(
    store: &mut Store,
    all: &crate::community::Communities,
    c: &Community,
    q: &Query,
    current: Option<Draft>,
    version: Option<i64>,
    at: Option<i64>,
) -> Result<String, String> {
    let Some(d) = current else {
        return Err("There is no saved draft to publish; save one first.".into());
    };
    if d.state == ReplyState::Scheduled {
        return Err(format!(
            "Consolidated Reply {} is already scheduled for {}; cancel it first to change the time.",
            d.reply,
            d.publish_at.map(|t| local(c, t)).unwrap_or_default()
        ));
    }
    if version.is_some_and(|v| v != d.version) {
        return Err(format!(
            "Version {} was saved after the one you read; read it, then publish.",
            d.version
        ));
    }
    let config_of = |slug: &str| all.by_slug(slug).ok().map(|c| &c.config);
    match publish_draft(store, &c.config, &config_of, q, &d, at) {
        Ok(queued) => {
            let members = queued.recipients.unwrap_or(0);
            let whom = format!("{members} member{}", if members == 1 { "" } else { "s" });
            Ok(match at {
                Some(t) => format!(
                    "Consolidated Reply {} (version {}) is scheduled for {} to {whom}; it can be cancelled until then.",
                    d.reply,
                    d.version,
                    local(c, t)
                ),
                None => format!(
                    "Published Consolidated Reply {} (version {}): it is going out to {whom}.",
                    d.reply, d.version
                ),
            })
        }
        Err(crate::consolidate::CompileError::Store(StoreError::Conflict(_))) => Err(
            "Someone published or scheduled this reply meanwhile; nothing was sent twice.".into(),
        ),
        Err(e) => Err(format!("The reply could not be published: {e}.")),
    }
}
