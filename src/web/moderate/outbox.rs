//! `/mod/SLUG/outbox`: the community's outgoing messages, newest first,
//! with their delivery counts; each failed or waiting delivery with the
//! receiving server's reply; Retry re-queues a message's failures through
//! the store call `praxis outbox retry` uses.

use std::collections::HashMap;

use axum::extract::{OriginalUri, Path, Query as Params, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use serde::Serialize;
use serde_json::json;

use crate::community::Community;
use crate::model::{DeliveryState, OutboxId, OutboxKind};
use crate::store::{DeliveryRow, OutboxFilter, StoreError, now};

use super::super::access::{Csrf, Viewer, check_form};
use super::super::page::{Frame, WebError, community, date, render};
use super::super::{AppState, State};
use super::{acting_moderator, moderator};

/// The routes.
pub(super) fn routes() -> Router<State> {
    Router::new().route("/mod/{slug}/outbox", get(outbox).post(retry))
}

/// Messages shown on one page.
const SHOWN: u32 = 50;
/// Troubled deliveries listed under one message, of each kind.
const PROBLEMS_SHOWN: u32 = 100;

/// One outgoing message as the page shows it.
#[derive(Serialize)]
struct Message {
    /// Its id (the CLI's `praxis outbox retry ID`).
    id: i64,
    /// What it is, in words.
    kind: &'static str,
    /// Its subject.
    subject: String,
    /// When it was queued.
    queued: serde_json::Value,
    /// Copies the relay accepted.
    sent: i64,
    /// Copies not yet accepted, waiting or to be retried.
    pending: i64,
    /// Copies refused for good.
    failed: i64,
    /// Deliveries refused for good, then those waiting to be retried, each
    /// with the server's last reply.
    problems: Vec<Problem>,
    /// More troubled deliveries than are listed.
    more: bool,
}

/// One troubled delivery.
#[derive(Serialize)]
struct Problem {
    /// The address.
    recipient: String,
    /// Refused for good (else waiting to be retried).
    failed: bool,
    /// Attempts so far.
    attempts: i64,
    /// The receiving server's reply, or the fault.
    reply: String,
    /// For one waiting, when it is next tried.
    next: Option<serde_json::Value>,
}

impl Problem {
    fn new(c: &Community, d: DeliveryRow) -> Problem {
        let failed = d.state == DeliveryState::Failed;
        Problem {
            recipient: d.recipient,
            failed,
            attempts: d.attempts,
            reply: d.last_error.unwrap_or_default(),
            next: (!failed).then(|| date(c, d.next_attempt_at)),
        }
    }
}

/// The kind of message in words.
fn kind_text(k: OutboxKind) -> &'static str {
    match k {
        OutboxKind::Post => "post",
        OutboxKind::ConsolidatedReply => "Consolidated Reply",
        OutboxKind::Digest => "digest",
        OutboxKind::Notice => "notice",
    }
}

/// `GET /mod/SLUG/outbox[?page=N][&failed=1]`.
async fn outbox(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(slug): Path<String>,
    Params(params): Params<HashMap<String, String>>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let shown = Shown::of(&params);
    outbox_page(
        &state,
        &headers,
        uri.path(),
        &c,
        &viewer,
        shown,
        Said::default(),
    )
    .await
}

/// Which messages the page lists.
#[derive(Clone, Copy)]
struct Shown {
    /// The page, from 1.
    page: u32,
    /// Only messages with failed deliveries.
    failed_only: bool,
}

impl Shown {
    /// From a query string or a form's hidden fields.
    fn of(fields: &HashMap<String, String>) -> Shown {
        Shown {
            page: fields
                .get("page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1)
                .max(1),
            failed_only: fields.get("failed").is_some_and(|f| f == "1"),
        }
    }
}

/// What the page says above the messages after a POST.
#[derive(Default)]
struct Said {
    /// What was done.
    notes: Vec<String>,
    /// Why nothing was done.
    errors: Vec<String>,
}

/// The outbox page (its Retry forms posting to `action`).
async fn outbox_page(
    state: &AppState,
    headers: &HeaderMap,
    action: &str,
    c: &std::sync::Arc<Community>,
    viewer: &Viewer,
    shown: Shown,
    said: Said,
) -> Result<Response, WebError> {
    let (c2, v2) = (c.clone(), viewer.clone());
    let (messages, total, page, pages) = state
        .db
        .run(move |store| {
            moderator(store, &c2, &v2)?;
            let mut filter = OutboxFilter {
                community: Some(c2.id),
                failed_only: shown.failed_only,
                limit: SHOWN,
                offset: 0,
            };
            let total = store.outbox_count(&filter)?;
            let pages = total.div_ceil(u64::from(SHOWN)).max(1) as u32;
            let page = shown.page.min(pages);
            filter.offset = (page - 1) * SHOWN;
            let mut messages = Vec::new();
            for m in store.outbox_summaries(&filter)? {
                let mut problems = Vec::new();
                let mut more = false;
                for s in [DeliveryState::Failed, DeliveryState::TempFailed] {
                    let rows = store.deliveries(m.id, Some(s), PROBLEMS_SHOWN + 1)?;
                    more |= rows.len() > PROBLEMS_SHOWN as usize;
                    problems.extend(
                        rows.into_iter()
                            .take(PROBLEMS_SHOWN as usize)
                            .map(|d| Problem::new(&c2, d)),
                    );
                }
                messages.push(Message {
                    id: m.id.0,
                    kind: kind_text(m.kind),
                    subject: m.subject,
                    queued: date(&c2, m.created_at),
                    sent: m.sent,
                    pending: m.pending,
                    failed: m.failed,
                    problems,
                    more,
                });
            }
            Ok((messages, total, page, pages))
        })
        .await?;
    let csrf = Csrf::for_request(state, headers);
    let status = if said.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let first = (page - 1) * SHOWN;
    let page_html = render(
        state,
        Frame {
            title: "Outbox".into(),
            community: Some(c),
            viewer,
            q: None,
        },
        "web/mod_outbox",
        &json!({
            "action": action,
            "csrf": csrf.token(state, action),
            "messages": messages,
            "total": total,
            "page": page,
            "first": first + 1,
            "last": (u64::from(first + SHOWN)).min(total),
            "prev": (page > 1).then(|| page - 1),
            "next": (page < pages).then_some(page + 1),
            "failed_only": shown.failed_only,
            "notes": said.notes,
            "errors": said.errors,
        }),
    )?;
    Ok(csrf.answer(status, page_html))
}

/// `POST /mod/SLUG/outbox`: re-queues one message's failed and waiting
/// deliveries (`outbox=ID`).
async fn retry(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(slug): Path<String>,
    viewer: Viewer,
    Form(sent): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let action = uri.path().to_string();
    let shown = Shown::of(&sent);
    let token = sent.get("csrf").map(String::as_str).unwrap_or("");
    let mut said = Said::default();
    if let Err(e) = check_form(&state, &headers, &action, token) {
        said.errors.push(e.to_string());
    }
    let id = sent.get("outbox").and_then(|i| i.parse::<i64>().ok());
    let Some(id) = id.filter(|_| said.errors.is_empty()) else {
        if id.is_none() {
            said.errors
                .push("Choose the message to retry with its Retry button.".into());
        }
        return outbox_page(&state, &headers, &action, &c, &viewer, shown, said).await;
    };
    let (c2, v2) = (c.clone(), viewer.clone());
    let said = state
        .db
        .run(move |store| {
            acting_moderator(store, &c2, &v2)?;
            let summary = match store.outbox_summary(OutboxId(id)) {
                Ok(s) if s.community == c2.slug() => s,
                Ok(_) | Err(StoreError::NotFound(_)) => {
                    return Ok(Said {
                        errors: vec![format!(
                            "Message {id} is not in {}'s outbox; nothing was retried.",
                            c2.name()
                        )],
                        ..Said::default()
                    });
                }
                Err(e) => return Err(e.into()),
            };
            let n = store.retry_outbox(summary.id, now())?;
            let note = if n == 0 {
                format!(
                    "Nothing to retry in message {id}, “{}”: no delivery has failed or waits.",
                    summary.subject
                )
            } else {
                format!(
                    "Re-queued {n} deliver{} of message {id}, “{}”; they go out at the sender's next round.",
                    if n == 1 { "y" } else { "ies" },
                    summary.subject
                )
            };
            Ok(Said {
                notes: vec![note],
                ..Said::default()
            })
        })
        .await?;
    outbox_page(&state, &headers, &action, &c, &viewer, shown, said).await
}
