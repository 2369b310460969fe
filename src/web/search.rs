//! `/c/SLUG/search?q=&page=N`: the archive's search, in the grammar
//! `praxis search` reads (`search_query`): Consolidated Replies first, then
//! posts; snippets with the matched words marked; paged.

use axum::Router;
use axum::extract::{Path, Query, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::search_query::SearchQuery;
use crate::snippet::SnippetPart;
use crate::store::{HitKind, PageRequest, SearchScope};

use super::access::{Viewer, require_read};
use super::archive::post_link;
use super::page::{Frame, WebError, community, date, render};
use super::{State, page};

/// Hits per page.
const PER_PAGE: i64 = 20;

/// The routes.
pub fn routes() -> Router<State> {
    Router::new().route("/c/{slug}/search", get(search))
}

/// The query string.
#[derive(Deserialize)]
struct Params {
    /// What was typed.
    #[serde(default)]
    q: String,
    /// The page, from 1.
    #[serde(default)]
    page: Option<String>,
}

/// One hit as the page shows it.
#[derive(Serialize)]
struct Shown {
    /// "Consolidated Reply" or "Post".
    label: &'static str,
    /// Where it links.
    href: String,
    /// Its subject.
    subject: String,
    /// Its author's name ("" when none is known).
    author: String,
    /// When.
    date: serde_json::Value,
    /// The snippet, matched stretches marked.
    parts: Vec<SnippetPart>,
}

async fn search(
    Extract(state): Extract<State>,
    Path(slug): Path<String>,
    Query(params): Query<Params>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let q = params.q.trim().to_string();
    let number: i64 = match params.page.as_deref() {
        None | Some("") => 1,
        Some(p) => match p.parse::<i64>() {
            Ok(n) if (1..=10_000).contains(&n) => n,
            _ => {
                return Err(WebError::BadRequest(format!(
                    "`{p}` is not a page number; use page=1 or more."
                )));
            }
        },
    };
    let parsed = if q.is_empty() {
        Ok(None)
    } else {
        SearchQuery::parse(&q).map(Some)
    };
    let error = parsed.as_ref().err().map(|e| e.to_string());
    let parsed = parsed.ok().flatten();
    let (c2, v2) = (c.clone(), viewer.clone());
    let found = state
        .db
        .run(move |store| {
            require_read(store, &c2, &v2)?;
            let Some(query) = parsed else {
                return Ok(None);
            };
            let scope = SearchScope {
                community: Some(c2.id),
                zone: c2.config.timezone,
                now: chrono::Utc::now().timestamp(),
            };
            let page = store.search_archive(
                &query,
                &scope,
                PageRequest {
                    page: number,
                    per_page: PER_PAGE,
                },
            )?;
            Ok(Some(page))
        })
        .await?;
    let root = page::root(&state).to_string();
    let href_page = |n: i64| {
        format!(
            "{root}/c/{}/search?q={}&page={n}",
            c.slug(),
            encode_query(&q)
        )
    };
    let mut data = serde_json::json!({
        "q": q,
        "error": error.clone(),
        "searched": found.is_some(),
    });
    if let Some(found) = &found {
        let hits: Vec<Shown> = found
            .hits
            .iter()
            .map(|h| {
                let (label, href) = match h.kind {
                    HitKind::ConsolidatedReply => (
                        "Consolidated Reply",
                        format!(
                            "{root}/c/{}/replies/{}",
                            c.slug(),
                            h.thread.map(|t| t.0).unwrap_or(h.id)
                        ),
                    ),
                    HitKind::Post => (
                        "Post",
                        match &h.message_id {
                            Some(mid) => post_link(&root, c.slug(), mid),
                            None => format!(
                                "{root}/c/{}/t/{}",
                                c.slug(),
                                h.thread.map(|t| t.0).unwrap_or(0)
                            ),
                        },
                    ),
                };
                Shown {
                    label,
                    href,
                    subject: h.subject.clone(),
                    author: h.author.clone(),
                    date: date(&c, h.date),
                    parts: h.parts.clone(),
                }
            })
            .collect();
        let first = (found.page - 1) * found.per_page + 1;
        let summary = match (found.replies, hits.len()) {
            (0, _) => format!("Results {first}–{}.", first + hits.len() as i64 - 1),
            (r, _) => format!(
                "Results {first}–{}; {r} Consolidated {} first.",
                first + hits.len() as i64 - 1,
                if r == 1 {
                    "Reply matches and comes"
                } else {
                    "Replies match and come"
                }
            ),
        };
        data["hits"] = serde_json::json!(hits);
        data["first"] = serde_json::json!(first);
        data["summary"] = serde_json::json!(summary);
        if found.page > 1 {
            data["prev"] = serde_json::json!(href_page(found.page - 1));
        }
        if found.has_more {
            data["next"] = serde_json::json!(href_page(found.page + 1));
        }
    }
    let title = if q.is_empty() {
        "Search".to_string()
    } else {
        format!("{q} – search")
    };
    let page = render(
        &state,
        Frame {
            title,
            community: Some(&c),
            viewer: &viewer,
            q: Some(q.clone()),
        },
        "web/search",
        &data,
    )?;
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, page).into_response())
}

/// Percent-encodes a query-string value (everything but unreserved bytes).
pub fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
