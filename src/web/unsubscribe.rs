//! The one-click unsubscribe endpoint (RFC 8058): `/u/TOKEN`, the link in
//! List-Unsubscribe and in every footer, and the older
//! `/unsubscribe/SLUG/ADDRESS/TOKEN` links mailed before it (a mailed link
//! is permanent).
//!
//! - `POST` with the body `List-Unsubscribe=One-Click` (what mail providers
//!   send): the member leaves at once. The HMAC token is the proof; no
//!   cookie or form token is asked, since a provider's POST has neither.
//! - `GET` (a person clicking the footer link, or a link scanner
//!   prefetching it) changes nothing: a page with one button that POSTs.
//! - A bad token gets 403.

use axum::Router;
use axum::extract::{OriginalUri, Path, State as Extract};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::deliver::links::{parse_unsubscribe, verify_unsubscribe};

use super::access::Viewer;
use super::page::{Frame, WebError, community, render};
use super::{AppState, State};

/// The routes.
pub fn routes() -> Router<State> {
    Router::new()
        .route("/u/{token}", get(show).post(leave))
        .route(
            "/unsubscribe/{slug}/{address}/{token}",
            get(show_legacy).post(leave_legacy),
        )
}

/// Why a link was refused.
fn bad_link() -> WebError {
    WebError::Forbidden {
        message: "This unsubscribe link is not valid. Use the link in a recent message, or write to the list's -request address with the word unsubscribe.".into(),
        signin: false,
    }
}

/// `GET /u/TOKEN`.
async fn show(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let (slug, address) = parse_unsubscribe(&state.key, &token).ok_or_else(bad_link)?;
    confirm_page(&state, &slug, &address, uri.path())
}

/// `GET /unsubscribe/SLUG/ADDRESS/TOKEN`.
async fn show_legacy(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    Path((slug, address, token)): Path<(String, String, String)>,
) -> Result<Response, WebError> {
    if !verify_unsubscribe(&state.key, &slug, &address, &token) {
        return Err(bad_link());
    }
    confirm_page(&state, &slug, &address, uri.path())
}

/// The page with the one button.
fn confirm_page(
    state: &AppState,
    slug: &str,
    address: &str,
    action: &str,
) -> Result<Response, WebError> {
    let c = community(state, slug)?;
    let page = render(
        state,
        Frame {
            title: format!("Leave {}?", c.name()),
            community: Some(&c),
            viewer: &Viewer::anonymous(),
            q: None,
        },
        "web/unsubscribe",
        &serde_json::json!({
            "heading": format!("Leave {}?", c.name()),
            "message": format!("{address} will receive no more mail from {}.", c.name()),
            "confirm": true,
            "action": action,
        }),
    )?;
    Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response())
}

/// `POST /u/TOKEN`.
async fn leave(
    Extract(state): Extract<State>,
    Path(token): Path<String>,
    body: String,
) -> Result<Response, WebError> {
    let (slug, address) = parse_unsubscribe(&state.key, &token).ok_or_else(bad_link)?;
    unsubscribe(&state, &slug, &address, &body).await
}

/// `POST /unsubscribe/SLUG/ADDRESS/TOKEN`.
async fn leave_legacy(
    Extract(state): Extract<State>,
    Path((slug, address, token)): Path<(String, String, String)>,
    body: String,
) -> Result<Response, WebError> {
    if !verify_unsubscribe(&state.key, &slug, &address, &token) {
        return Err(bad_link());
    }
    unsubscribe(&state, &slug, &address, &body).await
}

/// Carries out a one-click POST.
async fn unsubscribe(
    state: &State,
    slug: &str,
    address: &str,
    body: &str,
) -> Result<Response, WebError> {
    // RFC 8058 §3.1: the POST carries List-Unsubscribe=One-Click.
    if !body.split('&').any(|kv| kv == "List-Unsubscribe=One-Click") {
        return Err(WebError::BadRequest(
            "Expected the form field List-Unsubscribe=One-Click (RFC 8058).".into(),
        ));
    }
    let c = community(state, slug)?;
    let (c2, a2) = (c.clone(), address.to_string());
    let left = state
        .db
        .run(move |store| Ok(crate::effects::one_click_unsubscribe(store, &c2, &a2)?))
        .await?;
    let message = if left {
        format!("{address} is unsubscribed from {}.", c.name())
    } else {
        format!("{address} is not a member of {}.", c.name())
    };
    let page = render(
        state,
        Frame {
            title: format!("You have left {}", c.name()),
            community: Some(&c),
            viewer: &Viewer::anonymous(),
            q: None,
        },
        "web/unsubscribe",
        &serde_json::json!({
            "heading": format!("You have left {}", c.name()),
            "message": message,
            "confirm": false,
        }),
    )?;
    Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response())
}
