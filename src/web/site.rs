//! The pages outside any community: `/` (the communities the viewer may
//! read), `/healthz` (liveness for the front end and `praxis status`), the
//! stylesheet, and the not-found page.

use axum::extract::State as Extract;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

use super::State;
use super::access::{Standing, Viewer, may_read, standing};
use super::page::{Frame, WebError, render};

/// The stylesheet, built in.
const CSS: &str = include_str!("../../templates/web/praxis.css");

/// One community in the list on `/`.
#[derive(Serialize)]
struct Listed {
    /// Its slug, for the link.
    slug: String,
    /// Its name.
    name: String,
    /// Who may read it, in words.
    access: &'static str,
}

/// `/`: the communities whose archive the viewer may read (a public one for
/// everyone; a members' one when signed in as a member).
pub async fn index(
    Extract(state): Extract<State>,
    viewer: Viewer,
) -> Result<Html<String>, WebError> {
    let s = state.clone();
    let v = viewer.clone();
    let listed = state
        .db
        .run(move |store| {
            let mut out = Vec::new();
            for c in s.communities.iter() {
                let st = standing(store, c, &v)?;
                if may_read(c, st) {
                    out.push(Listed {
                        slug: c.slug().to_string(),
                        name: c.name().to_string(),
                        access: match (c.config.web.archive, st) {
                            (crate::config::ArchiveAccess::Public, _) => "public archive",
                            (_, Standing::Moderator) => "you moderate it",
                            _ => "members' archive",
                        },
                    });
                }
            }
            Ok(out)
        })
        .await?;
    render(
        &state,
        Frame {
            title: "Communities".into(),
            community: None,
            viewer: &viewer,
            q: None,
        },
        "web/index",
        &serde_json::json!({ "communities": listed }),
    )
}

/// `/healthz`: 200 "ok" when the database answers.
pub async fn healthz(Extract(state): Extract<State>) -> Response {
    match state.db.run(|store| Ok(store.communities()?.len())).await {
        Ok(_) => ([(header::CACHE_CONTROL, "no-store")], "ok\n").into_response(),
        Err(e) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("database: {e}\n"),
        )
            .into_response(),
    }
}

/// The stylesheet, cacheable for a day.
pub async fn stylesheet() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        CSS,
    )
        .into_response()
}

/// Anything else.
pub async fn not_found() -> WebError {
    WebError::NotFound(
        "There is no page at this address. Check the link, or start from the list of communities."
            .into(),
    )
}
