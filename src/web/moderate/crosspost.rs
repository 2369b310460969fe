//! The query board's cross-posting form, `POST /mod/SLUG/queries/crosspost`:
//! an open query of this community sent to the members of the communities
//! ticked, as `praxis crosspost` does ([`crate::effects::crosspost`]).

use axum::Form;
use axum::extract::{OriginalUri, Path, State as Extract};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;

use crate::community::Community;
use crate::effects::crosspost;
use crate::model::ThreadId;

use super::super::State;
use super::super::access::{Viewer, check_form};
use super::super::page::{WebError, community};
use super::queries::{Said, board_page};
use super::{acting_moderator, sentence};

/// The cross-posting form as sent, kept when it is refused.
#[derive(Default, Serialize)]
pub(super) struct Share {
    /// The query chosen.
    pub(super) query: i64,
    /// The communities ticked, by slug.
    pub(super) communities: Vec<String>,
}

/// `POST /mod/SLUG/queries/crosspost`: sends the query chosen to the
/// communities ticked, as `praxis crosspost` does; the form is kept when
/// it is refused.
pub(super) async fn crosspost(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(slug): Path<String>,
    viewer: Viewer,
    Form(sent): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let action = uri.path().to_string();
    let board = action.trim_end_matches("/crosspost").to_string();
    let field = |k: &str| {
        sent.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let share = Share {
        query: field("query").trim().parse().unwrap_or(0),
        communities: sent
            .iter()
            .filter(|(n, _)| n == "community")
            .map(|(_, v)| v.clone())
            .collect(),
    };
    let mut errors = Vec::new();
    if let Err(e) = check_form(&state, &headers, &action, &field("csrf")) {
        errors.push(e.to_string());
    }
    if share.query == 0 {
        errors.push("Query: choose the query to cross-post.".into());
    }
    let mut to = Vec::new();
    for s in &share.communities {
        match state.communities.by_slug(s) {
            Ok(o) => to.push(o.clone()),
            Err(_) => errors.push(format!(
                "There is no community “{s}” here any more; reload the board."
            )),
        }
    }
    if share.communities.is_empty() {
        errors.push("Communities: tick at least one to send the query to.".into());
    }
    if !errors.is_empty() {
        let said = Said {
            errors,
            share,
            ..Said::default()
        };
        return board_page(&state, &headers, &board, &c, &viewer, said).await;
    }
    let (c2, v2, all) = (c.clone(), viewer.clone(), state.communities.clone());
    let query = ThreadId(share.query);
    let done = state
        .db
        .run(move |store| {
            acting_moderator(store, &c2, &v2)?;
            // Only this community's own queries are sent from its board.
            if store.query(query)?.is_none_or(|q| q.community != c2.id) {
                return Ok(Err(crosspost::CrossPostError::NoSuchQuery(query)));
            }
            let to: Vec<&Community> = to.iter().map(|o| o.as_ref()).collect();
            Ok(crosspost::crosspost(store, &all, query, &to))
        })
        .await?;
    let said = match done {
        Ok(sent) => Said {
            notes: sent
                .iter()
                .map(|s| {
                    let name = state
                        .communities
                        .by_slug(&s.community)
                        .map(|o| o.name().to_string())
                        .unwrap_or_else(|_| s.community.clone());
                    if s.linked {
                        format!("{name} had this question already; its thread there is now part of query {query}.")
                    } else {
                        format!(
                            "Query {query} is cross-posted to {name}: {} member{} will get it (those who read it here are left out). Responses there join this query.",
                            s.members,
                            if s.members == 1 { "" } else { "s" }
                        )
                    }
                })
                .collect(),
            ..Said::default()
        },
        Err(crosspost::CrossPostError::Effect(e)) => return Err(e.into()),
        Err(e) => Said {
            errors: vec![sentence(&e.to_string())],
            share,
            ..Said::default()
        },
    };
    board_page(&state, &headers, &board, &c, &viewer, said).await
}
