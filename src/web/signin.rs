//! Signing in to members' archives: `/signin` takes an address and mails a
//! single-use link (HMAC-signed, bound to the address and to signing in,
//! expiring in 30 minutes, its use recorded in the store); the link's GET
//! shows a button, its POST sets the session cookie and goes to `/`.
//! `/signout` (a button, then a POST) clears the cookie.
//!
//! The form answers the same page whatever the address, and the mail it may
//! cause is limited like the join form's.

use axum::Form;
use axum::Router;
use axum::extract::{OriginalUri, Path, State as Extract};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::model::MemberStatus;

use super::access::{Csrf, Viewer, check_form, clear_session_cookie, client_key, session_cookie};
use super::join::{ButtonForm, link_base};
use super::page::{Frame, WebError, render, root};
use super::{AppState, State, forms};

/// How long a sign-in link works.
const LINK_MINUTES: i64 = 30;
/// What a sign-in tag signs, so no other tag of ours passes for one.
const PURPOSE: &str = "signin";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The routes.
pub fn routes() -> Router<State> {
    Router::new()
        .route("/signin", get(form).post(request))
        .route("/signin/{token}", get(show).post(sign_in))
        .route("/signout", get(signout_page).post(signout))
}

/// A sign-in token for `email`: `ADDRESS.EXPIRES.NONCE.TAG`.
fn issue(state: &AppState, email: &str, now: i64) -> String {
    let exp = (now + LINK_MINUTES * 60).to_string();
    let nonce = hex::encode(rand::random::<[u8; 12]>());
    let tag = state.key.sign(PURPOSE, &[email, &exp, &nonce]);
    format!("{}.{exp}.{nonce}.{tag}", B64.encode(email))
}

/// The address a sign-in token was made for and its expiry, while valid.
fn parse(state: &AppState, token: &str, now: i64) -> Option<(String, i64)> {
    let mut parts = token.split('.');
    let (email, exp, nonce, tag) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let email = String::from_utf8(B64.decode(email).ok()?).ok()?;
    let expires: i64 = exp.parse().ok()?;
    (expires > now && state.key.verify(PURPOSE, &[&email, exp, nonce], tag))
        .then_some((email, expires))
}

/// What the sign-in form sends.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct SigninForm {
    /// The form token.
    #[serde(skip_serializing)]
    csrf: String,
    /// The address.
    email: String,
}

/// Renders a page with one form (the address form, or a button).
#[allow(clippy::too_many_arguments)]
fn form_page(
    state: &AppState,
    headers: &HeaderMap,
    heading: &str,
    action: &str,
    message: Option<&str>,
    ask_email: bool,
    button: &str,
    values: &SigninForm,
    errors: &[String],
    status: StatusCode,
) -> Result<Response, WebError> {
    let csrf = Csrf::for_request(state, headers);
    let page = render(
        state,
        Frame {
            title: heading.into(),
            community: None,
            viewer: &Viewer::anonymous(),
            q: None,
        },
        "web/signin",
        &json!({
            "heading": heading, "action": action, "csrf": csrf.token(state, action),
            "message": message, "ask_email": ask_email, "button": button,
            "values": values, "errors": errors,
        }),
    )?;
    Ok(csrf.answer(status, page))
}

/// The address form.
fn address_form(
    state: &AppState,
    headers: &HeaderMap,
    action: &str,
    values: &SigninForm,
    errors: &[String],
    status: StatusCode,
) -> Result<Response, WebError> {
    form_page(
        state,
        headers,
        "Sign in",
        action,
        Some(
            "Members read their community's archive after signing in. Type the address you receive the community's mail at; we mail you a link that signs you in.",
        ),
        true,
        "Mail me a sign-in link",
        values,
        errors,
        status,
    )
}

/// `GET /signin`.
async fn form(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    address_form(
        &state,
        &headers,
        uri.path(),
        &SigninForm::default(),
        &[],
        StatusCode::OK,
    )
}

/// `POST /signin`: mails a link when the address is a member somewhere;
/// the same page either way.
async fn request(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Form(f): Form<SigninForm>,
) -> Result<Response, WebError> {
    let action = uri.path();
    let checked = check_form(&state, &headers, action, &f.csrf)
        .map_err(|e| e.to_string())
        .and_then(|()| forms::email(&f.email));
    let email = match checked {
        Ok(e) => e,
        Err(e) => {
            return address_form(&state, &headers, action, &f, &[e], StatusCode::BAD_REQUEST);
        }
    };
    if forms::may_mail(&state, &client_key(&headers), &email)? {
        let s = state.clone();
        state
            .db
            .run(move |store| {
                let t = crate::store::now();
                for c in s.communities.iter() {
                    let member = store.member(c.id, &email)?.is_some_and(|m| {
                        matches!(m.status, MemberStatus::Active | MemberStatus::Disabled)
                    });
                    let base = link_base(&s, c);
                    if member && !base.is_empty() {
                        // The base is the public URL, path included.
                        let url = format!("{base}/signin/{}", issue(&s, &email, t));
                        crate::effects::mail_signin(store, c, &email, &url, LINK_MINUTES)?;
                        break;
                    }
                }
                Ok(())
            })
            .await?;
    }
    let page = render(
        &state,
        Frame {
            title: "Check your mail".into(),
            community: None,
            viewer: &Viewer::anonymous(),
            q: None,
        },
        "web/done",
        &json!({
            "heading": "Check your mail",
            "ok": true,
            "message": format!("If the address is a member's, a message with a sign-in link is on its way to it. The link works once, for {LINK_MINUTES} minutes."),
        }),
    )?;
    Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response())
}

/// Why a sign-in link was refused.
fn bad_link() -> WebError {
    WebError::Forbidden {
        message: format!(
            "This sign-in link is not valid: it was used already, it is older than {LINK_MINUTES} minutes, or it is not a sign-in link. Ask for a new one."
        ),
        signin: true,
    }
}

/// `GET /signin/TOKEN`: a button. Changes nothing.
async fn show(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let (email, _) = parse(&state, &token, crate::store::now()).ok_or_else(bad_link)?;
    let used = state
        .db
        .run(move |store| Ok(store.web_token_used(&token)?))
        .await?;
    if used {
        return Err(bad_link());
    }
    form_page(
        &state,
        &headers,
        "Sign in",
        uri.path(),
        Some(&format!("Sign in as {email}?")),
        false,
        "Sign in",
        &SigninForm::default(),
        &[],
        StatusCode::OK,
    )
}

/// `POST /signin/TOKEN`: uses the link, sets the session, goes to `/`.
async fn sign_in(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(f): Form<ButtonForm>,
) -> Result<Response, WebError> {
    check_form(&state, &headers, uri.path(), &f.csrf)?;
    let t = crate::store::now();
    let (email, expires) = parse(&state, &token, t).ok_or_else(bad_link)?;
    let fresh = state
        .db
        .run(move |store| match store.use_web_token(&token, expires, t) {
            Ok(()) => Ok(true),
            Err(crate::store::StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e.into()),
        })
        .await?;
    if !fresh {
        return Err(bad_link());
    }
    let mut res = redirect_home(&state);
    res.headers_mut()
        .append(header::SET_COOKIE, session_cookie(&state, &email));
    Ok(res)
}

/// A 303 to `/`.
fn redirect_home(state: &AppState) -> Response {
    let to = format!("{}/", root(state));
    let mut res = StatusCode::SEE_OTHER.into_response();
    res.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&to).unwrap_or(HeaderValue::from_static("/")),
    );
    res
}

/// `GET /signout`: a button. Changes nothing.
async fn signout_page(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    form_page(
        &state,
        &headers,
        "Sign out",
        uri.path(),
        Some("Sign out of the archive on this browser?"),
        false,
        "Sign out",
        &SigninForm::default(),
        &[],
        StatusCode::OK,
    )
}

/// `POST /signout`: clears the session cookie.
async fn signout(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Form(f): Form<ButtonForm>,
) -> Result<Response, WebError> {
    check_form(&state, &headers, uri.path(), &f.csrf)?;
    let mut res = redirect_home(&state);
    res.headers_mut()
        .append(header::SET_COOKIE, clear_session_cookie(&state));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> AppState {
        AppState {
            communities: crate::community::Communities::default(),
            key: crate::deliver::links::LinkKey::new("k"),
            db: std::sync::Arc::new(super::super::Db::in_memory()),
            public_url: "https://l.example".into(),
            secure_cookies: true,
            templates: crate::render::Templates::new(),
            limits: Default::default(),
        }
    }

    #[test]
    fn a_signin_token_names_its_address_until_it_expires_and_cannot_be_altered() {
        let s = state();
        let t = issue(&s, "a@example.org", 1000);
        assert_eq!(
            parse(&s, &t, 1000).map(|(e, _)| e).as_deref(),
            Some("a@example.org")
        );
        assert_eq!(parse(&s, &t, 1000 + LINK_MINUTES * 60), None);
        let (_, rest) = t.split_once('.').unwrap();
        assert_eq!(
            parse(&s, &format!("{}.{rest}", B64.encode("b@example.org")), 1000),
            None
        );
        // Other tags of ours are not sign-in tokens.
        let me = crate::deliver::links::me_token(&s.key, "x", "a@example.org");
        assert_eq!(parse(&s, &me, 1000), None);
    }
}
