//! `/mod/SLUG/queue`: held posts, oldest first; approve, reject with a
//! reason, discard or defer one or many at once. Every decision goes
//! through the store call the CLI uses, so a post is decided once whoever
//! is first, and the audit log records it as made on the web by the
//! moderator's name. A held post that starts a thread shows the earlier
//! threads that may answer it, and beside each with a Consolidated Reply
//! a button that answers the post with that reply
//! (`crate::effects::answer_with_reply`, as `praxis reject --answered-by`).
//!
//! Long because the page's two POSTs (the ticked posts' decision and one
//! post answered with an earlier reply) answer with the same page and its
//! kept form, built here once.

use std::collections::HashMap;

use axum::extract::{OriginalUri, Path, Query as Params, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use serde::Serialize;
use serde_json::json;

use crate::community::Community;
use crate::model::{PostId, ThreadId, ThreadKind};
use crate::store::audit::How;
use crate::store::{Action, Store, StoreError};

use super::super::access::{Csrf, Viewer, check_form};
use super::super::page::{Frame, WebError, community, date, render};
use super::super::{AppState, State};
use super::{acting_moderator, moderator};

/// The routes.
pub(super) fn routes() -> Router<State> {
    Router::new().route("/mod/{slug}/queue", get(queue).post(decide))
}

/// Held posts shown on one page of the queue.
const SHOWN: usize = 100;
/// Characters of a held post's text shown as its preview.
const PREVIEW: usize = 600;
/// The longest rejection reason taken (it is mailed to the author).
const REASON_MAX: usize = 2000;

/// One held post as the queue shows it.
#[derive(Serialize)]
struct Held {
    /// Its id (the CLI's too).
    id: i64,
    /// The sender's name (member name, else the From name), organisation.
    from: String,
    /// Their organisation, when a member.
    organisation: Option<String>,
    /// Whether the sender is a member.
    member: bool,
    /// The subject.
    subject: String,
    /// Why it is held.
    reason: String,
    /// When it arrived.
    date: serde_json::Value,
    /// The start of its text (escaped by the template).
    preview: String,
    /// Whether it was ticked in the form being answered.
    checked: bool,
    /// For a post that starts a thread: the earlier threads that may
    /// answer it, best first.
    related: Vec<Earlier>,
}

/// An earlier thread that may answer a held post.
#[derive(Serialize)]
struct Earlier {
    /// The thread (the query of its Consolidated Reply).
    thread: i64,
    /// Its subject.
    subject: String,
    /// Whether it has a published Consolidated Reply: then the queue
    /// offers "Answer with this reply".
    reply: bool,
    /// The id of the form that answers the held post with it.
    form: String,
    /// What that form sends: `POST-QUERY`.
    answer: String,
}

/// How many earlier threads are shown under a held post.
const RELATED: usize = 3;

/// What the form sent: `post-ID` for each ticked post, `action`, `reason`,
/// `csrf`.
type Sent = HashMap<String, String>;

/// What the queue page says above the posts after a POST.
#[derive(Default)]
struct Outcome<'a> {
    /// The form as sent, when it is shown again (its ticks and reason kept).
    sent: Option<&'a Sent>,
    /// What was done, a line a post.
    notes: Vec<String>,
    /// Why nothing was done.
    errors: Vec<String>,
    /// Which page of the queue (from 1), `SHOWN` posts a page.
    page: usize,
}

/// The queue page (the form posting to `action`), with `outcome` above it.
async fn queue_page(
    state: &AppState,
    headers: &HeaderMap,
    action: &str,
    c: &std::sync::Arc<Community>,
    viewer: &Viewer,
    outcome: Outcome<'_>,
) -> Result<Response, WebError> {
    let Outcome {
        sent,
        notes,
        errors,
        page,
    } = outcome;
    let (c2, v2) = (c.clone(), viewer.clone());
    let ticked: Vec<i64> = sent.map(ticked).unwrap_or_default();
    let (held, total, page, pages) = state
        .db
        .run(move |store| {
            moderator(store, &c2, &v2)?;
            let all = store.held(Some(c2.id))?;
            let total = all.len();
            let pages = total.div_ceil(SHOWN).max(1);
            let page = page.clamp(1, pages);
            let mut shown = Vec::new();
            for h in all.into_iter().skip((page - 1) * SHOWN).take(SHOWN) {
                let text = store.post(h.id)?.text;
                let mut preview: String = text.chars().take(PREVIEW).collect();
                if text.chars().nth(PREVIEW).is_some() {
                    preview.push_str(" …");
                }
                shown.push(Held {
                    id: h.id.0,
                    from: h
                        .member_name
                        .clone()
                        .filter(|n| !n.is_empty())
                        .or_else(|| Some(h.from_name.clone()).filter(|n| !n.is_empty()))
                        .unwrap_or_else(|| "someone not on the list".into()),
                    organisation: h.member_organisation.clone().filter(|o| !o.is_empty()),
                    member: h.member_name.is_some(),
                    subject: h.subject,
                    reason: h.reason,
                    date: date(&c2, h.received_at),
                    preview: crate::markup::hide_addresses(&preview, &[]),
                    checked: ticked.contains(&h.id.0),
                    related: earlier(store, h.id)?,
                });
            }
            Ok((shown, total, page, pages))
        })
        .await?;
    let csrf = Csrf::for_request(state, headers);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let page = render(
        state,
        Frame {
            title: "Held posts".into(),
            community: Some(c),
            viewer,
            q: None,
        },
        "web/mod_queue",
        &json!({
            "action": action,
            "csrf": csrf.token(state, action),
            "held": held,
            "total": total,
            "page": page,
            "first": (page - 1) * SHOWN + 1,
            "last": ((page - 1) * SHOWN + SHOWN).min(total),
            "prev": (page > 1).then(|| page - 1),
            "next": (page < pages).then_some(page + 1),
            "notes": notes,
            "errors": errors,
            "reason": sent.and_then(|s| s.get("reason")).cloned().unwrap_or_default(),
            "kinds": kinds(sent.and_then(|s| s.get("kind")).map_or("", String::as_str)),
            "canned": canned(&c.config.policy.reject_reasons, sent.and_then(|s| s.get("canned")).map_or("", String::as_str)),
        }),
    )?;
    Ok(csrf.answer(status, page))
}

/// The earlier threads that may answer held `post`, when it starts a
/// thread (a reply belongs where it is); a failed search shows none.
fn earlier(store: &Store, post: PostId) -> Result<Vec<Earlier>, WebError> {
    if !store.starts_thread(post)? {
        return Ok(Vec::new());
    }
    let found = match store.related_to_post(post, RELATED) {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(post = %post, "no related threads for the queue: {e}");
            return Ok(Vec::new());
        }
    };
    Ok(found
        .into_iter()
        .map(|t| Earlier {
            thread: t.thread_id.0,
            subject: t.subject,
            reply: t.consolidated_reply.is_some(),
            form: format!("answer-{post}-{}", t.thread_id),
            answer: format!("{post}-{}", t.thread_id),
        })
        .collect())
}

/// The community's ready-made rejection reasons as choices, `chosen` (an
/// index) selected.
fn canned(reasons: &[String], chosen: &str) -> serde_json::Value {
    reasons
        .iter()
        .enumerate()
        .map(|(i, r)| json!({"value": i, "label": r, "selected": i.to_string() == chosen}))
        .collect()
}

/// The choices of the thread kind, `chosen` selected.
fn kinds(chosen: &str) -> serde_json::Value {
    let options = [
        ("", "as the community's rule says"),
        ("query", "a query (a Consolidated Reply is due)"),
        ("discussion", "a discussion"),
        ("announcement", "an announcement"),
    ];
    options
        .iter()
        .map(|(value, label)| json!({"value": value, "label": label, "selected": *value == chosen}))
        .collect()
}

/// The post ids ticked in a sent form, in order.
fn ticked(sent: &Sent) -> Vec<i64> {
    let mut ids: Vec<i64> = sent
        .keys()
        .filter_map(|k| k.strip_prefix("post-")?.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

/// The page number in a query string or form (1 when absent or bad).
fn page_of(fields: &HashMap<String, String>) -> usize {
    fields.get("page").and_then(|p| p.parse().ok()).unwrap_or(1)
}

/// `GET /mod/SLUG/queue[?page=N]`.
async fn queue(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(slug): Path<String>,
    Params(params): Params<HashMap<String, String>>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    queue_page(
        &state,
        &headers,
        uri.path(),
        &c,
        &viewer,
        Outcome {
            page: page_of(&params),
            ..Outcome::default()
        },
    )
    .await
}

/// `POST /mod/SLUG/queue`: decides every ticked post.
async fn decide(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(slug): Path<String>,
    viewer: Viewer,
    Form(sent): Form<Sent>,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let action_path = uri.path().to_string();
    let token = sent.get("csrf").map(String::as_str).unwrap_or("");
    let mut errors = Vec::new();
    if let Err(e) = check_form(&state, &headers, &action_path, token) {
        errors.push(e.to_string());
    }
    if let Some(answer) = sent.get("answer") {
        return answer_with(
            &state,
            &headers,
            &action_path,
            &c,
            &viewer,
            &sent,
            answer,
            errors,
        )
        .await;
    }
    let trust = sent.get("action").map(String::as_str) == Some("trust");
    let action = match sent.get("action").map(String::as_str) {
        Some("approve" | "trust") => Some(Action::Approve),
        Some("reject") => Some(Action::Reject),
        Some("discard") => Some(Action::Discard),
        Some("defer") => Some(Action::Defer),
        _ => {
            errors.push(
                "Choose what to do: approve, approve and trust, reject, discard or defer.".into(),
            );
            None
        }
    };
    let kind = match sent.get("kind").map(String::as_str) {
        None | Some("") => None,
        Some("query") => Some(ThreadKind::Query),
        Some("discussion") => Some(ThreadKind::Discussion),
        Some("announcement") => Some(ThreadKind::Announcement),
        Some(other) => {
            errors.push(format!(
                "“{other}” is not a kind of thread; choose a query, a discussion or an announcement."
            ));
            None
        }
    };
    let ids = ticked(&sent);
    if ids.is_empty() {
        errors.push("Tick the posts to decide first.".into());
    }
    let written = sent
        .get("reason")
        .map(|r| r.trim().to_string())
        .unwrap_or_default();
    // What was written wins; else the ready-made reason chosen.
    let canned = &c.config.policy.reject_reasons;
    let reason = match sent.get("canned").map(String::as_str) {
        _ if !written.is_empty() => written,
        None | Some("") => String::new(),
        Some(i) => match i.parse::<usize>().ok().and_then(|i| canned.get(i)) {
            Some(r) => r.clone(),
            None => {
                errors.push("That ready-made reason is gone; choose another or write one.".into());
                String::new()
            }
        },
    };
    if action == Some(Action::Reject) && reason.is_empty() {
        errors.push(
            "Rejecting needs a reason: choose one or write what the authors will read.".into(),
        );
    }
    if reason.chars().count() > REASON_MAX {
        errors.push(format!(
            "The reason is over {REASON_MAX} characters; shorten it."
        ));
    }
    let Some(action) = action.filter(|_| errors.is_empty()) else {
        return queue_page(
            &state,
            &headers,
            &action_path,
            &c,
            &viewer,
            Outcome {
                sent: Some(&sent),
                errors,
                page: page_of(&sent),
                ..Outcome::default()
            },
        )
        .await;
    };
    let (c2, v2) = (c.clone(), viewer.clone());
    let notes = state
        .db
        .run(move |store| {
            // Marking a thread is audited under the connection's actor.
            let actor = acting_moderator(store, &c2, &v2)?;
            let reason = (action == Action::Reject).then_some(reason.as_str());
            let kind = kind.filter(|_| action == Action::Approve);
            let mut notes = Vec::new();
            for id in ids {
                notes.push(decide_one(
                    store,
                    &c2,
                    PostId(id),
                    Decision {
                        action,
                        trust,
                        kind,
                        actor: &actor,
                        reason,
                    },
                )?);
            }
            Ok(notes)
        })
        .await?;
    queue_page(
        &state,
        &headers,
        &action_path,
        &c,
        &viewer,
        Outcome {
            notes,
            page: page_of(&sent),
            ..Outcome::default()
        },
    )
    .await
}

/// `POST /mod/SLUG/queue` with `answer=POST-QUERY` (a held post's
/// "Answer with this reply" button): rejects the post and sends its author
/// the query's Consolidated Reply, as `praxis reject POST --answered-by
/// QUERY` does ([`crate::effects::answer_with_reply`]).
#[allow(clippy::too_many_arguments)]
async fn answer_with(
    state: &AppState,
    headers: &HeaderMap,
    action_path: &str,
    c: &std::sync::Arc<Community>,
    viewer: &Viewer,
    sent: &Sent,
    answer: &str,
    mut errors: Vec<String>,
) -> Result<Response, WebError> {
    let pair = answer
        .split_once('-')
        .and_then(|(p, q)| Some((p.parse::<i64>().ok()?, q.parse::<i64>().ok()?)));
    if pair.is_none() {
        errors.push(format!(
            "“{answer}” names no held post and earlier query; use the buttons under a held post."
        ));
    }
    let Some((post, query)) = pair.filter(|_| errors.is_empty()) else {
        return queue_page(
            state,
            headers,
            action_path,
            c,
            viewer,
            Outcome {
                errors,
                page: page_of(sent),
                ..Outcome::default()
            },
        )
        .await;
    };
    let (c2, v2) = (c.clone(), viewer.clone());
    let (notes, errors) = state
        .db
        .run(move |store| {
            let actor = acting_moderator(store, &c2, &v2)?;
            let done = crate::effects::answer_with_reply(
                store,
                &c2,
                PostId(post),
                ThreadId(query),
                &actor,
                How::Web,
            );
            Ok(match done {
                Ok(a) => {
                    let told = if a.noted {
                        format!(" {} was sent it.", a.decided.from)
                    } else {
                        " No note was sent: their automatic replies for this hour are used up."
                            .to_string()
                    };
                    (
                        vec![format!(
                            "Rejected: post {} from {}, “{}”, answered by query {}’s Consolidated Reply “{}”.{told}",
                            a.decided.post, a.decided.from, a.decided.subject, a.query, a.reply_subject
                        )],
                        Vec::new(),
                    )
                }
                Err(crate::effects::AnswerError::Effect(crate::effects::EffectError::Store(
                    StoreError::AlreadyDecided { what, who, .. },
                ))) => (
                    vec![format!("Post {post} was already decided: {what} by {who}.")],
                    Vec::new(),
                ),
                Err(crate::effects::AnswerError::Effect(e)) => return Err(e.into()),
                Err(refused) => (Vec::new(), vec![refused.to_string()]),
            })
        })
        .await?;
    queue_page(
        state,
        headers,
        action_path,
        c,
        viewer,
        Outcome {
            notes,
            errors,
            page: page_of(sent),
            ..Outcome::default()
        },
    )
    .await
}

/// What a moderator decided for every ticked post.
#[derive(Clone, Copy)]
struct Decision<'a> {
    /// Approve, reject, discard or defer.
    action: Action,
    /// With an approval: the sender posts without moderation from now on.
    trust: bool,
    /// With an approval: what the thread a post starts is.
    kind: Option<ThreadKind>,
    /// Who decides, as the audit log names them.
    actor: &'a str,
    /// With a rejection: what the authors read.
    reason: Option<&'a str>,
}

/// Decides one post of `c` and says what happened, in a line for the
/// moderator; a post of another community is refused before anything is
/// decided.
fn decide_one(
    store: &mut Store,
    c: &Community,
    post: PostId,
    decision: Decision<'_>,
) -> Result<String, WebError> {
    let Decision {
        action,
        trust,
        kind,
        actor,
        reason,
    } = decision;
    let theirs = match store.post(post) {
        Ok(p) => p.community == c.slug(),
        Err(StoreError::NotFound(_)) => false,
        Err(e) => return Err(e.into()),
    };
    if !theirs {
        return Ok(format!(
            "Post {post} is not in {}'s queue; nothing done.",
            c.name()
        ));
    }
    match store.decide_how(post, action, actor, reason, trust, How::Web) {
        Ok(d) => {
            // The kind before the effects: a query's deadline starts with them.
            let marked = match kind {
                Some(k) => Some((k, store.mark_root(d.post, k)?)),
                None => None,
            };
            if let Err(e) = crate::effects::after_decision(store, c, &d, action, reason) {
                tracing::warn!(post = %d.post, "after a web decision: {e}");
            }
            let verb = match action {
                Action::Approve => "Approved",
                Action::Reject => "Rejected",
                Action::Discard => "Discarded",
                Action::Defer => "Deferred for a day",
            };
            let trusted = if d.trusted {
                format!(" {} now posts without moderation.", d.from)
            } else {
                String::new()
            };
            let marked = match marked {
                Some((k, Some(t))) => format!(" Thread {t} is marked {k}."),
                Some((_, None)) => " It starts no thread, so no kind was set.".to_string(),
                None => String::new(),
            };
            Ok(format!(
                "{verb}: post {} from {}, “{}”.{trusted}{marked}",
                d.post, d.from, d.subject
            ))
        }
        Err(StoreError::AlreadyDecided { what, who, at, .. }) => {
            let when = chrono::DateTime::from_timestamp(at, 0)
                .map(|t| {
                    t.with_timezone(&c.config.timezone)
                        .format("%-d %b %Y %H:%M")
                        .to_string()
                })
                .unwrap_or_default();
            let done = match what.as_str() {
                "approve" => "approved",
                "reject" => "rejected",
                "discard" => "discarded",
                "defer" => "deferred",
                other => other,
            };
            Ok(format!(
                "Post {post} was already decided: {done} by {who} at {when}."
            ))
        }
        Err(e) => Err(e.into()),
    }
}
