//! The moderators' workspace: `/mod/` (the communities one moderates, with
//! what waits in each) and one page group per file under `/mod/SLUG/`.
//! Every page answers 403 to anyone who does not moderate the community;
//! every change goes through the store call the CLI uses, under the
//! moderator's name with `via web` in the audit log.
//!
//! - [`queue`]: `/mod/SLUG/queue`, held posts and their decisions;
//! - [`queries`]: `/mod/SLUG/queries`, the query board;
//! - [`draft`]: `/mod/SLUG/queries/ID/draft`, a Consolidated Reply's
//!   draft: versions, their diff, publishing now or later, addenda;
//! - [`members`]: `/mod/SLUG/members`, members found, added and changed,
//!   and a CSV file of them imported ([`upload`] reads the file and shows
//!   the import's report);
//! - [`outbox`]: `/mod/SLUG/outbox`, outgoing messages, failed deliveries
//!   with the server's reply, and retry.

mod crosspost;
mod draft;
mod members;
mod outbox;
mod queries;
mod queue;
mod upload;

use axum::Router;
use axum::extract::State as Extract;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::community::Community;
use crate::store::Store;
use crate::store::audit::{Actor, How};

use super::State;
use super::access::{Standing, Viewer, standing};
use super::page::{Frame, WebError, render};

/// The routes.
pub fn routes() -> Router<State> {
    Router::new()
        .route("/mod/", get(index))
        .merge(queue::routes())
        .merge(queries::routes())
        .merge(draft::routes())
        .merge(members::routes())
        .merge(outbox::routes())
}

/// The routes that take more than the 64 KiB of a form: the CSV upload.
pub fn upload_routes() -> Router<State> {
    members::upload_routes()
}

/// The page saying who may see the workspace.
fn not_a_moderator(viewer: &Viewer, of: &str) -> WebError {
    WebError::Forbidden {
        message: format!("The moderators' workspace{of} is open to its moderators only."),
        signin: viewer.email.is_none(),
    }
}

/// The viewer's address when they moderate `c`, else the refusal.
fn moderator(store: &Store, c: &Community, viewer: &Viewer) -> Result<String, WebError> {
    match (&viewer.email, standing(store, c, viewer)?) {
        (Some(email), Standing::Moderator) => Ok(email.clone()),
        _ => Err(not_a_moderator(viewer, &format!(" of {}", c.name()))),
    }
}

/// Checks that the viewer moderates `c` and makes them the connection's
/// actor (their member name, else their address, `via web`), so whatever
/// the store records next names them; returns that name.
fn acting_moderator(store: &mut Store, c: &Community, viewer: &Viewer) -> Result<String, WebError> {
    let email = moderator(store, c, viewer)?;
    let actor = store
        .member(c.id, &email)?
        .map(|m| m.name)
        .filter(|n| !n.is_empty())
        .unwrap_or(email);
    store.act_as(Actor {
        who: actor.clone(),
        how: How::Web,
    });
    Ok(actor)
}

/// `GET /mod/`: the communities the viewer moderates.
async fn index(Extract(state): Extract<State>, viewer: Viewer) -> Result<Response, WebError> {
    let all: Vec<_> = state.communities.iter().cloned().collect();
    let v2 = viewer.clone();
    let rows = state
        .db
        .run(move |store| {
            let mut rows = Vec::new();
            for c in &all {
                if standing(store, c, &v2)? == Standing::Moderator {
                    let s = store.community_status(c.id)?;
                    rows.push(json!({
                        "slug": c.slug(), "name": c.name(), "held": s.held,
                        "open": s.open_queries, "overdue": s.overdue_queries,
                    }));
                }
            }
            Ok(rows)
        })
        .await?;
    if rows.is_empty() {
        return Err(not_a_moderator(&viewer, ""));
    }
    let page = render(
        &state,
        Frame {
            title: "Moderation".into(),
            community: None,
            viewer: &viewer,
            q: None,
        },
        "web/mod_index",
        &json!({ "communities": rows }),
    )?;
    Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response())
}

/// A store message as a sentence on the page.
pub(super) fn sentence(m: &str) -> String {
    let mut s: String = m
        .chars()
        .take(1)
        .flat_map(char::to_uppercase)
        .chain(m.chars().skip(1))
        .collect();
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}
