//! Who is asking and what they may do: the signed session cookie (set after
//! a sign-in link is followed), who may read a community's archive
//! (`[community.web] archive`), the CSRF token every form carries with the
//! `Origin` check, and the in-memory limits on mail a form may cause.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use crate::community::Community;
use crate::config::ArchiveAccess;
use crate::model::{MemberStatus, Role};
use crate::store::Store;

use super::page::WebError;
use super::{AppState, State};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "praxis_session";
/// The CSRF cookie's name: a random value the form tokens are bound to.
pub const CSRF_COOKIE: &str = "praxis_csrf";
/// How long a session lasts after signing in.
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The person asking, as their session cookie says.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// The signed-in address (lower case); None for an anonymous visitor.
    pub email: Option<String>,
    /// A name to greet them by, when a page knows it.
    pub name: Option<String>,
}

impl Viewer {
    /// An anonymous visitor.
    pub fn anonymous() -> Viewer {
        Viewer::default()
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Unix seconds now.
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The session cookie's value for `email`, valid until `expires`.
fn session_value(state: &AppState, email: &str, expires: i64) -> String {
    let exp = expires.to_string();
    format!(
        "{}.{exp}.{}",
        B64.encode(email),
        state.key.sign("session", &[email, &exp])
    )
}

/// The address a session cookie value was signed for, while it is valid.
fn session_email(state: &AppState, value: &str) -> Option<String> {
    let mut parts = value.split('.');
    let (email, exp, tag) = (parts.next()?, parts.next()?, parts.next()?);
    let email = String::from_utf8(B64.decode(email).ok()?).ok()?;
    let expires: i64 = exp.parse().ok()?;
    (expires > now() && state.key.verify("session", &[&email, exp], tag)).then_some(email)
}

/// The attributes every cookie of ours has: not readable by script, sent
/// only with same-site navigations, `Secure` when the public URL is https.
fn cookie_attributes(state: &AppState, max_age: i64) -> String {
    let path = match super::page::root(state) {
        "" => "/".to_string(),
        r => r.to_string(),
    };
    format!(
        "Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
        if state.secure_cookies { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that signs `email` in.
pub fn session_cookie(state: &AppState, email: &str) -> HeaderValue {
    let ttl = SESSION_TTL.as_secs() as i64;
    let value = session_value(state, &email.to_ascii_lowercase(), now() + ttl);
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; {}",
        cookie_attributes(state, ttl)
    ))
    .expect("a session cookie is ASCII")
}

/// The `Set-Cookie` value that signs out.
pub fn clear_session_cookie(state: &AppState) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; {}",
        cookie_attributes(state, 0)
    ))
    .expect("a cookie is ASCII")
}

impl FromRequestParts<State> for Viewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Self::Rejection> {
        let email = cookie(&parts.headers, SESSION_COOKIE).and_then(|v| session_email(state, v));
        Ok(Viewer { email, name: None })
    }
}

/// What the viewer is in a community, for deciding what they may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Not signed in, or not a member.
    Outsider,
    /// An active (or bounce-disabled) member.
    Member,
    /// A moderator or owner.
    Moderator,
}

/// The viewer's standing in `c` (reads the member row).
pub fn standing(store: &Store, c: &Community, viewer: &Viewer) -> Result<Standing, WebError> {
    let Some(email) = &viewer.email else {
        return Ok(Standing::Outsider);
    };
    Ok(match store.member(c.id, email)? {
        Some(m) if matches!(m.role, Role::Moderator | Role::Owner) => Standing::Moderator,
        Some(m) if matches!(m.status, MemberStatus::Active | MemberStatus::Disabled) => {
            Standing::Member
        }
        _ => Standing::Outsider,
    })
}

/// Whether someone of `standing` may read `c`'s archive.
pub fn may_read(c: &Community, standing: Standing) -> bool {
    match c.config.web.archive {
        ArchiveAccess::Public => true,
        ArchiveAccess::Members => standing != Standing::Outsider,
        ArchiveAccess::Moderators => standing == Standing::Moderator,
    }
}

/// Ok when the viewer may read `c`'s archive; otherwise the page that says
/// why (and offers signing in to an anonymous visitor).
pub fn require_read(store: &Store, c: &Community, viewer: &Viewer) -> Result<Standing, WebError> {
    let standing = standing(store, c, viewer)?;
    if may_read(c, standing) {
        return Ok(standing);
    }
    let who = match c.config.web.archive {
        ArchiveAccess::Moderators => "its moderators",
        _ => "its members",
    };
    Err(WebError::Forbidden {
        message: format!("The archive of {} is open to {who} only.", c.name()),
        signin: viewer.email.is_none(),
    })
}

/// A form's protection: the CSRF cookie's value (made now when the visitor
/// has none, to be set with the page) and the tokens bound to it.
pub struct Csrf {
    /// The cookie's value.
    value: String,
    /// The `Set-Cookie` to send with the page, when the cookie is new.
    pub set_cookie: Option<HeaderValue>,
}

impl Csrf {
    /// The visitor's CSRF cookie, or a new one.
    pub fn for_request(state: &AppState, headers: &HeaderMap) -> Csrf {
        if let Some(v) = cookie(headers, CSRF_COOKIE).filter(|v| v.len() == 32) {
            return Csrf {
                value: v.to_string(),
                set_cookie: None,
            };
        }
        let value = hex::encode(rand::random::<[u8; 16]>());
        let set_cookie = HeaderValue::from_str(&format!(
            "{CSRF_COOKIE}={value}; {}",
            cookie_attributes(state, 24 * 3600)
        ))
        .ok();
        Csrf { value, set_cookie }
    }

    /// The answer carrying a page with a form: never cached, with the new
    /// CSRF cookie when there is one.
    pub fn answer(self, status: StatusCode, page: impl IntoResponse) -> Response {
        let mut res = (status, [(header::CACHE_CONTROL, "no-store")], page).into_response();
        if let Some(cookie) = self.set_cookie {
            res.headers_mut().append(header::SET_COOKIE, cookie);
        }
        res
    }

    /// The token a form posting to `action` carries in its `csrf` field.
    pub fn token(&self, state: &AppState, action: &str) -> String {
        state.key.sign("csrf", &[&self.value, action])
    }
}

/// The origin (`scheme://host[:port]`) forms must come from: the public
/// URL's, or (when none is configured) the request's own `Host`.
fn expected_origin(state: &AppState, headers: &HeaderMap) -> Option<String> {
    if !state.public_url.is_empty() {
        let (scheme, rest) = state.public_url.split_once("://")?;
        let host = rest.split('/').next()?;
        return Some(format!("{scheme}://{host}"));
    }
    let host = headers.get(header::HOST)?.to_str().ok()?;
    Some(format!("http://{host}"))
}

/// Checks a form POST to `action`: its `Origin` (when the browser sent one)
/// is ours, and its token matches the visitor's CSRF cookie.
pub fn check_form(
    state: &AppState,
    headers: &HeaderMap,
    action: &str,
    token: &str,
) -> Result<(), WebError> {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok())
        && Some(origin) != expected_origin(state, headers).as_deref()
    {
        return Err(WebError::BadRequest(format!(
            "This form was sent from {origin}, not from this site; open the page here and send it again."
        )));
    }
    let Some(value) = cookie(headers, CSRF_COOKIE) else {
        return Err(WebError::BadRequest(
            "This form needs cookies to be sent back; allow cookies for this site and send it again.".into(),
        ));
    };
    if !state.key.verify("csrf", &[value, action], token) {
        return Err(WebError::BadRequest(
            "This form has expired or did not come from this site; reload the page and send it again.".into(),
        ));
    }
    Ok(())
}

/// Counts of recent events by key (a client, an address), in memory: caps
/// how much mail a form can cause. Forgotten on restart, which a window of
/// an hour can afford.
#[derive(Default)]
pub struct Limiter {
    /// Each key's event times within the longest window asked about.
    seen: Mutex<HashMap<String, Vec<Instant>>>,
}

impl Limiter {
    /// Records an event for `key` and says whether it is within `max` per
    /// `window` (an event over the limit is not recorded).
    pub fn allow(&self, key: &str, max: usize, window: Duration) -> bool {
        let mut seen = match self.seen.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let now = Instant::now();
        // Keep the map bounded: drop keys with nothing in the window.
        if seen.len() > 10_000 {
            seen.retain(|_, times| times.iter().any(|t| now.duration_since(*t) < window));
        }
        let times = seen.entry(key.to_string()).or_default();
        times.retain(|t| now.duration_since(*t) < window);
        if times.len() >= max {
            return false;
        }
        times.push(now);
        true
    }
}

/// The client's address for rate limits: the front end's `X-Forwarded-For`
/// (its last entry, the one the front end added) when present, else "direct".
pub fn client_key(headers: &HeaderMap) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "direct".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(public: &str) -> AppState {
        AppState {
            communities: crate::community::Communities::default(),
            key: crate::deliver::links::LinkKey::new("k"),
            db: std::sync::Arc::new(super::super::Db::in_memory()),
            public_url: public.into(),
            secure_cookies: public.starts_with("https"),
            templates: crate::render::Templates::new(),
            limits: Limiter::default(),
        }
    }

    #[test]
    fn a_session_names_its_address_until_it_expires_and_cannot_be_forged() {
        let s = state("https://lists.example.org");
        let v = session_value(&s, "a@example.org", now() + 60);
        assert_eq!(session_email(&s, &v).as_deref(), Some("a@example.org"));
        let old = session_value(&s, "a@example.org", now() - 1);
        assert_eq!(session_email(&s, &old), None);
        let (_, rest) = v.split_once('.').unwrap();
        let forged = format!("{}.{rest}", B64.encode("b@example.org"));
        assert_eq!(session_email(&s, &forged), None);
        let c = session_cookie(&s, "a@example.org");
        let c = c.to_str().unwrap();
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Secure"),
            "{c}"
        );
        assert!(
            !session_cookie(&state("http://127.0.0.1:8080"), "a@example.org")
                .to_str()
                .unwrap()
                .contains("Secure")
        );
    }

    #[test]
    fn a_form_needs_its_token_its_cookie_and_our_origin() {
        let s = state("https://lists.example.org");
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("praxis_csrf=0123456789abcdef0123456789abcdef"),
        );
        let csrf = Csrf::for_request(&s, &h);
        assert!(csrf.set_cookie.is_none());
        let t = csrf.token(&s, "/c/health/join");
        assert!(check_form(&s, &h, "/c/health/join", &t).is_ok());
        assert!(check_form(&s, &h, "/c/other/join", &t).is_err());
        assert!(check_form(&s, &HeaderMap::new(), "/c/health/join", &t).is_err());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(check_form(&s, &h, "/c/health/join", &t).is_err());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://lists.example.org"),
        );
        assert!(check_form(&s, &h, "/c/health/join", &t).is_ok());
    }

    #[test]
    fn the_limiter_counts_within_its_window() {
        let l = Limiter::default();
        let w = Duration::from_secs(3600);
        assert!(l.allow("a", 2, w) && l.allow("a", 2, w));
        assert!(!l.allow("a", 2, w));
        assert!(l.allow("b", 2, w));
    }
}
