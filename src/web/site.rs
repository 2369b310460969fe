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

/// Asks a running `praxis serve` for `/healthz` on `listen` (for `praxis
/// status`): Ok when it answers 200 within two seconds, else why not.
pub fn probe(listen: &crate::config::Listen, public_url: Option<&str>) -> Result<(), String> {
    use std::io::{Read, Write};
    use std::time::Duration;
    let root = public_url
        .and_then(|u| u.split_once("://"))
        .and_then(|(_, rest)| {
            rest.find('/')
                .map(|i| rest[i..].trim_end_matches('/').to_string())
        })
        .unwrap_or_default();
    let request =
        format!("GET {root}/healthz HTTP/1.1\r\nHost: praxis\r\nConnection: close\r\n\r\n");
    let timeout = Some(Duration::from_secs(2));
    let mut answer = Vec::new();
    let io = |e: std::io::Error| e.to_string();
    match listen {
        crate::config::Listen::Tcp(addr) => {
            let mut s =
                std::net::TcpStream::connect_timeout(addr, Duration::from_secs(2)).map_err(io)?;
            s.set_read_timeout(timeout).map_err(io)?;
            s.write_all(request.as_bytes()).map_err(io)?;
            s.read_to_end(&mut answer).map_err(io)?;
        }
        crate::config::Listen::Unix(path) => {
            let mut s = std::os::unix::net::UnixStream::connect(path).map_err(io)?;
            s.set_read_timeout(timeout).map_err(io)?;
            s.write_all(request.as_bytes()).map_err(io)?;
            s.read_to_end(&mut answer).map_err(io)?;
        }
    }
    let status = String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    if status.split(' ').nth(1) == Some("200") {
        Ok(())
    } else {
        Err(format!("answered `{status}`"))
    }
}
