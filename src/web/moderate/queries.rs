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
use axum::routing::get;
use axum::{Form, Router};
use serde::Serialize;
use serde_json::json;

use crate::community::Community;
use crate::model::{QueryState, ThreadId, ThreadKind};
use crate::store::{ThreadFilter, ThreadRow, now};

use super::super::access::{Csrf, Viewer, check_form};
use super::super::page::{Frame, WebError, community, date, render};
use super::super::{AppState, State};
use super::{acting_moderator, moderator};

/// The routes.
pub(super) fn routes() -> Router<State> {
    Router::new().route("/mod/{slug}/queries", get(board).post(mark))
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
        }
    }
}

/// The board (its mark forms posting to `action`), with a note or errors.
async fn board_page(
    state: &AppState,
    headers: &HeaderMap,
    action: &str,
    c: &Arc<Community>,
    viewer: &Viewer,
    notes: Vec<String>,
    errors: Vec<String>,
) -> Result<Response, WebError> {
    let (c2, v2) = (c.clone(), viewer.clone());
    let (open, addenda) = state
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
            let (mut open, mut addenda) = (Vec::new(), Vec::new());
            for r in rows {
                let row = Row::new(&c2, r, t);
                if row.state != "published" {
                    open.push(row);
                } else if row.late > 0 {
                    addenda.push(row);
                }
            }
            // Overdue first, then the nearest deadline; none last.
            open.sort_by_key(|r| (r.days_left.is_none(), r.days_left, r.id));
            Ok((open, addenda))
        })
        .await?;
    let csrf = Csrf::for_request(state, headers);
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let overdue = open.iter().filter(|r| r.overdue).count();
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
            "target": c.config.reply_within_working_days,
            "notes": notes,
            "errors": errors,
        }),
    )?;
    Ok(csrf.answer(status, page))
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
    board_page(&state, &headers, uri.path(), &c, &viewer, vec![], vec![]).await
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
        return board_page(&state, &headers, &action, &c, &viewer, vec![], errors).await;
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
    match note {
        Ok(n) => board_page(&state, &headers, &action, &c, &viewer, vec![n], vec![]).await,
        Err(e) => board_page(&state, &headers, &action, &c, &viewer, vec![], vec![e]).await,
    }
}
