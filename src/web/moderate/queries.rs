//! The query board, `/mod/SLUG/queries`: every open query with its asker,
//! responses and working days left, overdue first, each marked as another
//! kind of thread in one click; and published queries whose later
//! responses wait for an addendum. Each links to its draft
//! ([`super::draft`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{OriginalUri, Path, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Serialize;
use serde_json::json;

use crate::community::Community;
use crate::effects::referrals::{self, WHY_MAX};
use crate::model::{QueryState, ThreadId, ThreadKind};
use crate::store::{ThreadFilter, ThreadRow, now};

use super::super::access::{Csrf, Viewer, check_form};
use super::super::page::{Frame, WebError, community, date, render};
use super::super::{AppState, State};
use super::{acting_moderator, moderator, sentence};

/// The routes.
pub(super) fn routes() -> Router<State> {
    Router::new()
        .route("/mod/{slug}/queries", get(board).post(mark))
        .route("/mod/{slug}/queries/refer", post(refer))
        .route(
            "/mod/{slug}/queries/crosspost",
            post(super::crosspost::crosspost),
        )
}

/// The invitation form as typed, kept when it is refused.
#[derive(Default, Serialize)]
pub(super) struct Invite {
    /// The query chosen.
    query: i64,
    /// The addresses, as typed.
    members: String,
    /// Why they are asked, as typed.
    why: String,
}

/// What the board says above the queries after a POST.
#[derive(Default)]
pub(super) struct Said {
    /// What was done.
    pub(super) notes: Vec<String>,
    /// Why nothing was done.
    pub(super) errors: Vec<String>,
    /// The invitation form's fields.
    pub(super) invite: Invite,
    /// The cross-posting form's fields.
    pub(super) share: super::crosspost::Share,
}

/// One query as the board shows it.
#[derive(Serialize)]
struct Row {
    /// The thread id (the CLI's QUERY).
    id: i64,
    /// The subject.
    subject: String,
    /// Who asked, with their organisation and place when known.
    asker: String,
    /// The asker's organisation.
    organisation: String,
    /// The asker's place.
    place: String,
    /// Approved responses so far.
    responses: i64,
    /// Distinct people who posted in it.
    participants: i64,
    /// When the Consolidated Reply is due.
    due: Option<serde_json::Value>,
    /// Working days left; negative once overdue.
    days_left: Option<i64>,
    /// Past its deadline.
    overdue: bool,
    /// Where it stands: open, drafting, scheduled.
    state: String,
    /// Responses after publication not yet in an addendum.
    late: i64,
    /// Members invited to respond.
    invited: usize,
    /// Of those, the ones who responded since.
    invited_answered: usize,
    /// Earlier threads that may answer it: id, subject, whether replied.
    related: Vec<serde_json::Value>,
    /// Members most likely to know: name, address, why.
    experts: Vec<serde_json::Value>,
    /// The other communities it was cross-posted to, by name.
    shared_with: String,
    /// For a copy cross-posted here: the query's own community and its id
    /// there, where its Consolidated Reply is compiled.
    home: Option<serde_json::Value>,
}

impl Row {
    /// The board's row for `t`, its days counted in `c`'s calendar at `now`.
    fn new(c: &Community, t: ThreadRow, now: i64) -> Row {
        let days_left = t.deadline.and_then(|d| {
            Some(c.calendar.working_days_left(
                chrono::DateTime::from_timestamp(d, 0)?,
                chrono::DateTime::from_timestamp(now, 0)?,
            ))
        });
        let overdue = t.state != QueryState::Published && t.deadline.is_some_and(|d| d < now);
        Row {
            id: t.id.0,
            subject: t.subject,
            asker: t.asked_by,
            organisation: t.asked_by_organisation,
            place: t.asked_by_place,
            responses: t.responses,
            participants: t.participants,
            due: t.deadline.map(|d| date(c, d)),
            days_left,
            overdue,
            state: match t.scheduled_at {
                Some(_) => "scheduled".into(),
                None => t.state.to_string(),
            },
            late: t.late_responses,
            invited: 0,
            invited_answered: 0,
            related: Vec::new(),
            experts: Vec::new(),
            shared_with: String::new(),
            home: None,
        }
    }
}

/// The board (its mark forms posting to `action`), with a note or errors.
pub(super) async fn board_page(
    state: &AppState,
    headers: &HeaderMap,
    action: &str,
    c: &Arc<Community>,
    viewer: &Viewer,
    said: Said,
) -> Result<Response, WebError> {
    let Said {
        notes,
        errors,
        invite,
        share,
    } = said;
    let (c2, v2) = (c.clone(), viewer.clone());
    let (open, addenda, copies) = state
        .db
        .run(move |store| {
            moderator(store, &c2, &v2)?;
            let t = now();
            let rows = store.threads(&ThreadFilter {
                community: Some(c2.id),
                queries: true,
                limit: i64::MAX,
                ..ThreadFilter::default()
            })?;
            let (mut open, mut addenda, mut copies) = (Vec::new(), Vec::new(), Vec::new());
            for r in rows {
                let mut row = Row::new(&c2, r, t);
                if let Some(h) = store.home_query(ThreadId(row.id))? {
                    // Asked here on another community's behalf: its reply
                    // is compiled there.
                    if row.state != "published" {
                        row.home =
                            Some(json!({"slug": h.slug, "name": h.name, "query": h.query.0}));
                        copies.push(row);
                    }
                    continue;
                }
                if row.state != "published" {
                    let invited = store.referrals(ThreadId(row.id))?;
                    row.invited = invited.len();
                    row.invited_answered = invited.iter().filter(|i| i.responded).count();
                    suggest(store, &c2, &mut row, t)?;
                    open.push(row);
                } else if row.late > 0 {
                    addenda.push(row);
                }
            }
            // Overdue first, then the nearest deadline; none last.
            open.sort_by_key(|r| (r.days_left.is_none(), r.days_left, r.id));
            Ok((open, addenda, copies))
        })
        .await?;
    let csrf = Csrf::for_request(state, headers);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let overdue = open.iter().filter(|r| r.overdue).count();
    let refer_action = format!("{action}/refer");
    let share_action = format!("{action}/crosspost");
    let others: Vec<serde_json::Value> = state
        .communities
        .iter()
        .filter(|o| o.id != c.id)
        .map(|o| {
            json!({
                "slug": o.slug(),
                "name": o.name(),
                "ticked": share.communities.iter().any(|s| s == o.slug()),
            })
        })
        .collect();
    let page = render(
        state,
        Frame {
            title: "Queries".into(),
            community: Some(c),
            viewer,
            q: None,
        },
        "web/mod_queries",
        &json!({
            "action": action,
            "csrf": csrf.token(state, action),
            "open": open,
            "overdue": overdue,
            "addenda": addenda,
            "copies": copies,
            "target": c.config.reply_within_working_days,
            "notes": notes,
            "errors": errors,
            "invite": {
                "action": refer_action,
                "csrf": csrf.token(state, &refer_action),
                "query": invite.query,
                "members": invite.members,
                "why": invite.why,
                "cap": c.config.policy.referrals_per_month,
            },
            "share": {
                "action": share_action,
                "csrf": csrf.token(state, &share_action),
                "query": share.query,
                "others": others,
            },
        }),
    )?;
    Ok(csrf.answer(status, page))
}

/// Suggestions shown under an open query on the board.
const SUGGESTED: usize = 3;

/// Fills `row` with the earlier threads that may answer its query and the
/// members most likely to know.
fn suggest(
    store: &crate::store::Store,
    c: &Community,
    row: &mut Row,
    now: i64,
) -> Result<(), WebError> {
    let Some(q) = store.query(ThreadId(row.id))? else {
        return Ok(());
    };
    // Responses that came through the communities it was cross-posted to.
    let elsewhere: Vec<&str> = q
        .responses
        .iter()
        .filter(|p| p.community.is_some())
        .map(|p| p.email.as_str())
        .collect();
    row.responses += elsewhere.len() as i64;
    row.participants += elsewhere
        .iter()
        .map(|e| e.to_ascii_lowercase())
        .collect::<std::collections::HashSet<_>>()
        .len() as i64;
    row.shared_with = q.shared_with.join(", ");
    row.related = store
        .related_to_post(q.root.id, SUGGESTED)?
        .into_iter()
        .map(|r| json!({"id": r.thread_id.0, "subject": r.subject, "reply": r.consolidated_reply.is_some()}))
        .collect();
    let experts = store.experts(
        c.id,
        &crate::store::ExpertsFor {
            subject: &q.subject,
            text: &q.root.text,
            thread: Some(q.thread),
            post: Some(q.root.id),
            asker: Some(&q.root.email),
        },
        now,
        SUGGESTED,
    )?;
    row.experts = experts
        .into_iter()
        .map(|e| {
            let mut why: Vec<String> = e
                .threads
                .iter()
                .take(2)
                .map(|t| {
                    format!(
                        "responded in “{}”{}",
                        t.subject,
                        if t.credited { " (credited)" } else { "" }
                    )
                })
                .collect();
            if !e.interests.is_empty() {
                why.push(format!("interests: {}", e.interests.join(", ")));
            }
            // What the invitation tells them, in their terms.
            let invite_why = match (e.threads.first(), e.interests.is_empty()) {
                (Some(t), _) => format!("you responded to “{}” in this community", t.subject),
                (None, false) => {
                    format!("you listed {} among your interests", e.interests.join(", "))
                }
                (None, true) => String::new(),
            };
            json!({
                "name": if e.name.is_empty() { e.email.clone() } else { e.name.clone() },
                "email": e.email,
                "why": why.join("; "),
                "invite_why": invite_why,
            })
        })
        .collect();
    Ok(())
}

/// `GET /mod/SLUG/queries`.
async fn board(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(slug): Path<String>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    board_page(&state, &headers, uri.path(), &c, &viewer, Said::default()).await
}

/// `POST /mod/SLUG/queries`: marks thread `thread` as `kind` (a query
/// that is really a discussion leaves the board; its clock stops).
async fn mark(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(slug): Path<String>,
    viewer: Viewer,
    Form(sent): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let action = uri.path().to_string();
    let token = sent.get("csrf").map(String::as_str).unwrap_or("");
    let mut errors = Vec::new();
    if let Err(e) = check_form(&state, &headers, &action, token) {
        errors.push(e.to_string());
    }
    let kind: Option<ThreadKind> = match sent.get("kind").map(String::as_str) {
        Some(k) => k.parse().ok(),
        None => None,
    };
    if kind.is_none() {
        errors.push("Choose what the thread is: a query, a discussion or an announcement.".into());
    }
    let thread = sent.get("thread").and_then(|t| t.parse::<i64>().ok());
    if thread.is_none() {
        errors.push("Which thread? The form named none; reload the board.".into());
    }
    let (Some(kind), Some(thread), true) = (kind, thread, errors.is_empty()) else {
        let said = Said {
            errors,
            ..Said::default()
        };
        return board_page(&state, &headers, &action, &c, &viewer, said).await;
    };
    let (c2, v2) = (c.clone(), viewer.clone());
    let note = state
        .db
        .run(move |store| {
            acting_moderator(store, &c2, &v2)?;
            let thread = ThreadId(thread);
            let theirs = store.query(thread)?.is_some_and(|q| q.community == c2.id);
            if !theirs {
                return Ok(Err(format!(
                    "Thread {thread} is not one of {}'s; nothing marked.",
                    c2.name()
                )));
            }
            let Some(was) = store.mark_thread(thread, kind)? else {
                return Ok(Err(format!("Thread {thread} is gone; nothing marked.")));
            };
            let mut note = format!("Thread {thread} was {was}; it is now {kind}.");
            if kind == ThreadKind::Query
                && let Some(root) = store.thread_root(thread)?
                && let Some(due) = crate::consolidate::on_approved(store, &c2.config, root)?
            {
                note.push_str(&format!(
                    " Its Consolidated Reply is due {}.",
                    date(&c2, due.timestamp())["text"].as_str().unwrap_or("")
                ));
            }
            Ok(Ok(note))
        })
        .await?;
    let said = match note {
        Ok(n) => Said {
            notes: vec![n],
            ..Said::default()
        },
        Err(e) => Said {
            errors: vec![e],
            ..Said::default()
        },
    };
    board_page(&state, &headers, &action, &c, &viewer, said).await
}

/// `POST /mod/SLUG/queries/refer`: invites the members listed to respond
/// to the query chosen, as `praxis refer` does; the form is kept when
/// nothing could be sent.
async fn refer(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(slug): Path<String>,
    viewer: Viewer,
    Form(sent): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let action = uri.path().to_string();
    let board = action.trim_end_matches("/refer").to_string();
    let field = |k: &str| sent.get(k).cloned().unwrap_or_default();
    let invite = Invite {
        query: field("query").trim().parse().unwrap_or(0),
        members: field("members"),
        why: field("why").trim().to_string(),
    };
    let mut errors = Vec::new();
    if let Err(e) = check_form(&state, &headers, &action, &field("csrf")) {
        errors.push(e.to_string());
    }
    let emails: Vec<String> = invite
        .members
        .split(|ch: char| ch == ',' || ch == ';' || ch.is_whitespace())
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    if emails.is_empty() {
        errors.push("Members' addresses: write at least one, e.g. ravi@example.org.".into());
    }
    if invite.why.chars().count() > WHY_MAX {
        errors.push(format!(
            "Why they are asked: over {WHY_MAX} characters; say it in a sentence or two."
        ));
    }
    if invite.query == 0 {
        errors.push("Query: choose the query to invite them to.".into());
    }
    if !errors.is_empty() {
        let said = Said {
            errors,
            invite,
            ..Said::default()
        };
        return board_page(&state, &headers, &board, &c, &viewer, said).await;
    }
    let (c2, v2, why, key) = (
        c.clone(),
        viewer.clone(),
        invite.why.clone(),
        state.key.bytes().to_vec(),
    );
    let query = ThreadId(invite.query);
    let done = state
        .db
        .run(move |store| {
            acting_moderator(store, &c2, &v2)?;
            Ok(referrals::refer(
                store,
                &c2,
                Some(&key),
                query,
                &emails,
                &why,
            ))
        })
        .await?;
    let cap = c.config.policy.referrals_per_month;
    let said = match done {
        Ok(done) => {
            let (sent, refused): (Vec<_>, Vec<_>) = done
                .iter()
                .partition(|i| i.outcome == referrals::Outcome::Sent);
            let line = |i: &&referrals::Invitation| sentence(&i.line(cap));
            Said {
                notes: sent.iter().map(line).collect(),
                errors: refused.iter().map(line).collect(),
                // Nothing sent: the form stays as typed.
                invite: if sent.is_empty() {
                    invite
                } else {
                    Invite::default()
                },
                ..Said::default()
            }
        }
        Err(referrals::ReferError::Effect(e)) => return Err(e.into()),
        Err(e) => Said {
            errors: vec![e.to_string()],
            invite,
            ..Said::default()
        },
    };
    board_page(&state, &headers, &board, &c, &viewer, said).await
}
