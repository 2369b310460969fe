//! Rendering a page: its body from a `web/…` template (the community's
//! override when it has one), placed in `web/layout`; the error pages; and
//! the headers every answer carries (a Content-Security-Policy without
//! inline script, `nosniff`, no framing, a same-origin referrer).

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::community::Community;

use super::AppState;
use super::access::Viewer;

/// Why a request was not answered with its page.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Nothing at this address (or nothing the viewer may know exists).
    #[error("{0}")]
    NotFound(String),
    /// The viewer may not see this; `signin` when signing in would help.
    #[error("{message}")]
    Forbidden {
        /// What the page says.
        message: String,
        /// Whether to offer the sign-in link.
        signin: bool,
    },
    /// The request itself is wrong (a bad form token, a bad parameter).
    #[error("{0}")]
    BadRequest(String),
    /// Too many requests of this kind from this client or for this address.
    #[error("{0}")]
    TooMany(String),
    /// Something failed on our side; logged, and the page says to try again.
    #[error("{0}")]
    Internal(String),
}

impl From<crate::store::StoreError> for WebError {
    fn from(e: crate::store::StoreError) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<crate::render::RenderError> for WebError {
    fn from(e: crate::render::RenderError) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<crate::effects::EffectError> for WebError {
    fn from(e: crate::effects::EffectError) -> Self {
        WebError::Internal(e.to_string())
    }
}

/// The built-in templates, for error pages (which have no state to hand).
static BUILT_IN: std::sync::LazyLock<crate::render::Templates> =
    std::sync::LazyLock::new(crate::render::Templates::new);

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, heading, signin) = match &self {
            WebError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found", false),
            WebError::Forbidden { signin, .. } => {
                (StatusCode::FORBIDDEN, "Not open to you", *signin)
            }
            WebError::BadRequest(_) => (StatusCode::BAD_REQUEST, "That did not work", false),
            WebError::TooMany(_) => (StatusCode::TOO_MANY_REQUESTS, "Please wait", false),
            WebError::Internal(e) => {
                tracing::warn!("web: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    false,
                )
            }
        };
        let message = match &self {
            WebError::Internal(_) => {
                "The page could not be made just now; please try again in a minute.".to_string()
            }
            other => other.to_string(),
        };
        let body = BUILT_IN
            .render_web(
                "web/error",
                json!({"heading": heading, "message": message, "signin": signin, "root": ""}),
            )
            .unwrap_or_else(|_| String::new());
        let page = BUILT_IN
            .render_web(
                "web/layout",
                json!({"title": heading, "lang": "en", "root": "", "body": body}),
            )
            .unwrap_or_else(|_| heading.to_string());
        (status, Html(page)).into_response()
    }
}

/// What surrounds a page's body.
pub struct Frame<'a> {
    /// The page's title (the layout adds the community's name).
    pub title: String,
    /// The community the page belongs to, if any: its templates, name,
    /// language and navigation.
    pub community: Option<&'a Community>,
    /// Who is looking.
    pub viewer: &'a Viewer,
    /// The search box's text, kept on the search page.
    pub q: Option<String>,
}

/// The community at `/c/SLUG/`, or the not-found page.
pub fn community(state: &AppState, slug: &str) -> Result<std::sync::Arc<Community>, WebError> {
    state
        .communities
        .by_slug(slug)
        .cloned()
        .map_err(|_| {
            WebError::NotFound(format!(
                "There is no community called “{slug}” here; the list of communities is on the first page."
            ))
        })
}

/// A time as pages show it, in the community's zone: `{text: "4 Dec 2026",
/// iso: "2026-12-04T10:00:00+05:30"}` (for `<time datetime>`).
pub fn date(c: &Community, unix: i64) -> Value {
    use chrono::TimeZone as _;
    match c.config.timezone.timestamp_opt(unix, 0).single() {
        Some(t) => json!({"text": t.format("%-d %b %Y").to_string(), "iso": t.to_rfc3339()}),
        None => json!({"text": "", "iso": ""}),
    }
}

/// The path prefix every link in a page starts with: the path part of
/// `public_url` ("" at a host's root).
pub fn root(state: &AppState) -> &str {
    let url = state.public_url.as_str();
    let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or("");
    after_scheme
        .find('/')
        .map(|i| &after_scheme[i..])
        .unwrap_or("")
}

/// Renders template `name` with `data` as a whole page. `data` is an
/// object; the template also sees `root`, `community` (slug, name,
/// address) and `viewer`.
pub fn render<T: Serialize>(
    state: &AppState,
    frame: Frame<'_>,
    name: &str,
    data: &T,
) -> Result<Html<String>, WebError> {
    let templates = match frame.community {
        Some(c) => c.templates(),
        None => &state.templates,
    };
    let community = frame
        .community
        .map(|c| json!({"slug": c.slug(), "name": c.name(), "address": c.address()}));
    let viewer = frame
        .viewer
        .email
        .as_ref()
        .map(|_| json!({"name": frame.viewer.name}));
    let mut body_data = serde_json::to_value(data)
        .map_err(|e| WebError::Internal(format!("page data for {name}: {e}")))?;
    if let Value::Object(map) = &mut body_data {
        map.insert("root".into(), json!(root(state)));
        map.insert("community".into(), json!(community));
        map.insert("viewer".into(), json!(viewer));
    }
    let body = templates.render_web(name, body_data)?;
    let lang = frame
        .community
        .map(|c| c.config.web.lang.as_str())
        .unwrap_or("en");
    let page = templates.render_web(
        "web/layout",
        json!({
            "title": frame.title,
            "lang": lang,
            "root": root(state),
            "community": community,
            "viewer": viewer,
            "q": frame.q,
            "body": body,
        }),
    )?;
    Ok(Html(page))
}

/// The policy every answer carries: styles from us, images from us or
/// inline data, no script at all (htmx, if vendored later, comes from
/// `'self'`), forms only to us, never framed.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                   script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every answer that does not set its own.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let mut set = |name: HeaderName, value: &'static str| {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    };
    set(header::CONTENT_SECURITY_POLICY, CSP);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "same-origin");
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_render_inside_the_layout_and_escape_their_message() {
        let res = WebError::NotFound("no thread <script>".into()).into_response();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
}
