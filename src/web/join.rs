//! Joining on the web: `/c/SLUG/join` (the form: address, name,
//! organisation, place, delivery mode) mails a confirmation through the
//! same machinery and table as `subscribe` by mail, whose link opens
//! `/c/SLUG/join/TOKEN`: its GET shows what will happen and a button, its
//! POST confirms (then the member is subscribed as by mail, the policy's
//! approval respected and the welcome sent).
//!
//! The form answers the same page whatever the address (member or not), and
//! the mail it may cause is limited per address and per client
//! ([`super::forms::may_mail`]).

use axum::Form;
use axum::Router;
use axum::extract::{OriginalUri, Path, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use crate::community::Community;
use crate::effects::JoinRequest;
use crate::moderation::commands::Field;

use super::access::{Csrf, Viewer, check_form, client_key};
use super::page::{Frame, WebError, community, render};
use super::{AppState, State, forms};

/// The routes.
pub fn routes() -> Router<State> {
    Router::new()
        .route("/c/{slug}/join", get(form).post(join))
        .route("/c/{slug}/join/{token}", get(show_confirm).post(confirm))
}

/// The link base the community's mail carries (`delivery.base_url`, which
/// `[http] public_url` fills).
pub(super) fn link_base(state: &AppState, c: &Community) -> String {
    c.config
        .delivery
        .base_url
        .clone()
        .unwrap_or_else(|| state.public_url.clone())
        .trim_end_matches('/')
        .to_string()
}

/// The key confirmation tokens are signed with: the link secret, which
/// `[http]` requires (the same bytes `effects::token_secret` reads).
pub(super) fn secret(state: &AppState) -> Vec<u8> {
    state.key.bytes().to_vec()
}

/// What the join form sends.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct JoinForm {
    /// The form token.
    #[serde(skip_serializing)]
    csrf: String,
    /// The address.
    email: String,
    /// Name.
    name: String,
    /// Organisation.
    organisation: String,
    /// Place.
    place: String,
    /// Delivery mode.
    delivery: String,
}

/// Renders the form with `values` and `errors`, answered with `status`.
fn form_page(
    state: &AppState,
    headers: &HeaderMap,
    c: &Community,
    action: &str,
    values: &JoinForm,
    errors: &[String],
    status: StatusCode,
) -> Result<Response, WebError> {
    let csrf = Csrf::for_request(state, headers);
    let chosen = if values.delivery.is_empty() {
        "each"
    } else {
        values.delivery.as_str()
    };
    let page = render(
        state,
        Frame {
            title: format!("Join {}", c.name()),
            community: Some(c),
            viewer: &Viewer::anonymous(),
            q: None,
        },
        "web/join",
        &json!({
            "heading": format!("Join {}", c.name()),
            "action": action,
            "csrf": csrf.token(state, action),
            "values": values,
            "errors": errors,
            "deliveries": forms::deliveries(chosen, false),
            "confirm": false,
        }),
    )?;
    Ok(csrf.answer(status, page))
}

/// `GET /c/SLUG/join`.
async fn form(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    form_page(
        &state,
        &headers,
        &c,
        uri.path(),
        &JoinForm::default(),
        &[],
        StatusCode::OK,
    )
}

/// The page every join request gets, whatever the address.
fn sent_page(state: &AppState, c: &Community) -> Result<Response, WebError> {
    let page = render(
        state,
        Frame {
            title: "Check your mail".into(),
            community: Some(c),
            viewer: &Viewer::anonymous(),
            q: None,
        },
        "web/done",
        &json!({
            "heading": "Check your mail",
            "ok": true,
            "message": format!("If the address can join {}, a message with a confirmation link is on its way to it. Follow the link to finish joining; it works for 7 days. Nothing has changed yet.", c.name()),
        }),
    )?;
    Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response())
}

/// `POST /c/SLUG/join`.
async fn join(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(slug): Path<String>,
    Form(f): Form<JoinForm>,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let action = uri.path();
    if let Err(e) = check_form(&state, &headers, action, &f.csrf) {
        return form_page(
            &state,
            &headers,
            &c,
            action,
            &f,
            &[e.to_string()],
            StatusCode::BAD_REQUEST,
        );
    }
    let checked = (
        forms::email(&f.email),
        forms::profile(Field::Name, &f.name),
        forms::profile(Field::Organisation, &f.organisation),
        forms::profile(Field::Place, &f.place),
        forms::delivery(
            if f.delivery.is_empty() {
                "each"
            } else {
                &f.delivery
            },
            false,
        ),
    );
    let req = match checked {
        (Ok(email), Ok(name), Ok(organisation), Ok(place), Ok(delivery)) => JoinRequest {
            email,
            name,
            organisation,
            place,
            delivery,
        },
        (a, b, c2, d, e) => {
            let errors: Vec<String> = [a.err(), b.err(), c2.err(), d.err(), e.err()]
                .into_iter()
                .flatten()
                .collect();
            return form_page(
                &state,
                &headers,
                &c,
                action,
                &f,
                &errors,
                StatusCode::BAD_REQUEST,
            );
        }
    };
    if forms::may_mail(&state, &client_key(&headers), &req.email)? {
        let (c2, secret, base) = (c.clone(), secret(&state), link_base(&state, &c));
        state
            .db
            .run(move |store| Ok(crate::effects::web_join(store, &c2, &secret, &req, &base)?))
            .await?;
    }
    sent_page(&state, &c)
}

/// Why a confirm link was refused.
fn bad_confirm_link(c: &Community) -> WebError {
    WebError::Forbidden {
        message: format!(
            "This confirmation link is not valid: it was used already, it expired, or it was made for another request. To join {}, fill in the form again.",
            c.name()
        ),
        signin: false,
    }
}

/// `GET /c/SLUG/join/TOKEN`: what confirming will do, and a button. Changes
/// nothing.
async fn show_confirm(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path((slug, token)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let (c2, secret, tok) = (c.clone(), secret(&state), token.clone());
    let email = state
        .db
        .run(move |store| Ok(crate::effects::pending_join(store, &c2, &secret, &tok)?))
        .await?
        .ok_or_else(|| bad_confirm_link(&c))?;
    let csrf = Csrf::for_request(&state, &headers);
    let action = uri.path();
    let page = render(
        &state,
        Frame {
            title: format!("Join {}?", c.name()),
            community: Some(&c),
            viewer: &Viewer::anonymous(),
            q: None,
        },
        "web/join",
        &json!({
            "heading": format!("Join {}?", c.name()),
            "confirm": true,
            "message": format!("{email} will become a member of {} and receive its mail as chosen on the form.", c.name()),
            "action": action,
            "csrf": csrf.token(&state, action),
            "errors": [],
        }),
    )?;
    Ok(csrf.answer(StatusCode::OK, page))
}

/// What a button-only form sends.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ButtonForm {
    /// The form token.
    pub csrf: String,
}

/// `POST /c/SLUG/join/TOKEN`: confirms.
async fn confirm(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path((slug, token)): Path<(String, String)>,
    Form(f): Form<ButtonForm>,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    check_form(&state, &headers, uri.path(), &f.csrf)?;
    let (c2, secret) = (c.clone(), secret(&state));
    let outcome = state
        .db
        .run(move |store| Ok(crate::effects::confirm_join(store, &c2, &secret, &token)?))
        .await?;
    let line = outcome.map_err(|_| bad_confirm_link(&c))?;
    let page = render(
        &state,
        Frame {
            title: format!("Welcome to {}", c.name()),
            community: Some(&c),
            viewer: &Viewer::anonymous(),
            q: None,
        },
        "web/done",
        &json!({
            "heading": format!("Welcome to {}", c.name()),
            "ok": true,
            "message": format!("Confirmed: {line}. A welcome message with the link to your own page is on its way."),
            "links": [{"href": format!("{}/c/{}/", super::page::root(&state), c.slug()), "text": format!("The archive of {}", c.name())}],
        }),
    )?;
    Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response())
}
