//! A member's own page, `/c/SLUG/me/TOKEN`, from the signed link every
//! footer, welcome and digest carries: delivery mode, digest format, name,
//! organisation and place (saved by a POST with a form token, through the
//! same store call as `praxis members set` and `set … by mail`, audited as
//! the member's own act on the web), and leaving. Following the link signs
//! nobody in: the page offers signing in separately.

use axum::Form;
use axum::Router;
use axum::extract::{OriginalUri, Path, State as Extract};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::community::Community;
use crate::deliver::links::parse_me;
use crate::model::MemberStatus;
use crate::moderation::commands::Field;
use crate::store::{Member, MemberFields};

use super::access::{Csrf, Viewer, check_form};
use super::join::ButtonForm;
use super::page::{Frame, WebError, community, render};
use super::{AppState, State, forms};

/// The routes.
pub fn routes() -> Router<State> {
    Router::new()
        .route("/c/{slug}/me/{token}", get(show).post(save))
        .route("/c/{slug}/me/{token}/leave", post(leave))
}

/// What the page's form sends (and shows again after an error).
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct MeForm {
    /// The form token.
    #[serde(skip_serializing)]
    csrf: String,
    /// Delivery mode.
    delivery: String,
    /// Digest format.
    digest_format: String,
    /// Name.
    name: String,
    /// Organisation.
    organisation: String,
    /// Place.
    place: String,
    /// What they know about.
    interests: String,
    /// "on" when they welcome invitations to answer queries (a checkbox:
    /// absent when unticked).
    invitations: String,
}

impl MeForm {
    /// The form filled from the member's row and whether they welcome
    /// invitations.
    fn of(m: &Member, invitations: bool) -> MeForm {
        MeForm {
            invitations: if invitations {
                "on".into()
            } else {
                String::new()
            },
            csrf: String::new(),
            delivery: m.delivery.to_string(),
            digest_format: m.digest_format.to_string(),
            name: m.name.clone(),
            organisation: m.organisation.clone(),
            place: m.place.clone(),
            interests: m.interests.clone(),
        }
    }
}

/// The member a link stands for: its address when the token was signed
/// for this community, and their row while they are a member.
async fn member(
    state: &State,
    c: &Community,
    token: &str,
) -> Result<(String, Option<(Member, bool)>), WebError> {
    let email = parse_me(&state.key, c.slug(), token).ok_or_else(|| WebError::Forbidden {
        message: format!(
            "This link to a member's page of {} is not valid. Use the link in a recent message from the community.",
            c.name()
        ),
        signin: false,
    })?;
    let (id, e) = (c.id, email.clone());
    let m = state
        .db
        .run(move |store| {
            Ok(match store.member(id, &e)? {
                Some(m) => {
                    let wanted = store.referrals_wanted(m.id)?;
                    Some((m, wanted))
                }
                None => None,
            })
        })
        .await?
        .filter(|(m, _)| m.status != MemberStatus::Unsubscribed);
    Ok((email, m))
}

/// The page for someone who is no longer (or not yet) a member.
fn not_member(state: &AppState, c: &Community) -> Result<Response, WebError> {
    let page = render(
        state,
        Frame {
            title: "Not a member".into(),
            community: Some(c),
            viewer: &Viewer::anonymous(),
            q: None,
        },
        "web/done",
        &json!({
            "heading": "Not a member",
            "ok": false,
            "message": format!("This address is not a member of {} any more.", c.name()),
            "links": [{"href": format!("{}/c/{}/join", super::page::root(state), c.slug()), "text": format!("Join {} again", c.name())}],
        }),
    )?;
    Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response())
}

/// Renders the page.
#[allow(clippy::too_many_arguments)]
fn page(
    state: &AppState,
    headers: &HeaderMap,
    c: &Community,
    action: &str,
    values: &MeForm,
    pending: bool,
    saved: Option<&str>,
    errors: &[String],
    status: StatusCode,
) -> Result<Response, WebError> {
    let csrf = Csrf::for_request(state, headers);
    let leave_action = format!("{action}/leave");
    let page = render(
        state,
        Frame {
            title: "Your membership".into(),
            community: Some(c),
            viewer: &Viewer::anonymous(),
            q: None,
        },
        "web/me",
        &json!({
            "heading": format!("Your membership of {}", c.name()),
            "action": action,
            "csrf": csrf.token(state, action),
            "leave_action": leave_action,
            "leave_csrf": csrf.token(state, &leave_action),
            "values": values,
            "deliveries": forms::deliveries(&values.delivery, true),
            "formats": forms::formats(&values.digest_format),
            "invitations": values.invitations == "on",
            "referrals_per_month": c.config.policy.referrals_per_month,
            "pending": pending,
            "saved": saved,
            "errors": errors,
        }),
    )?;
    Ok(csrf.answer(status, page))
}

/// `GET /c/SLUG/me/TOKEN`.
async fn show(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path((slug, token)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let (_, m) = member(&state, &c, &token).await?;
    let Some((m, invitations)) = m else {
        return not_member(&state, &c);
    };
    page(
        &state,
        &headers,
        &c,
        uri.path(),
        &MeForm::of(&m, invitations),
        m.status == MemberStatus::Pending,
        None,
        &[],
        StatusCode::OK,
    )
}

/// The fields the form asks to change, or every message naming a field.
fn fields(f: &MeForm) -> Result<MemberFields, Vec<String>> {
    let checked = (
        forms::delivery(&f.delivery, true),
        forms::digest_format(&f.digest_format),
        forms::profile(Field::Name, &f.name),
        forms::profile(Field::Organisation, &f.organisation),
        forms::profile(Field::Place, &f.place),
        forms::profile(Field::Interests, &f.interests),
    );
    match checked {
        (Ok(d), Ok(df), Ok(name), Ok(organisation), Ok(place), Ok(interests)) => Ok(MemberFields {
            delivery: Some(d),
            digest_format: Some(df),
            name: Some(name),
            organisation: Some(organisation),
            place: Some(place),
            interests: Some(interests),
            ..Default::default()
        }),
        (a, b, c, d, e, g) => Err([a.err(), b.err(), c.err(), d.err(), e.err(), g.err()]
            .into_iter()
            .flatten()
            .collect()),
    }
}

/// `POST /c/SLUG/me/TOKEN`: saves the form.
async fn save(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path((slug, token)): Path<(String, String)>,
    Form(f): Form<MeForm>,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let (email, m) = member(&state, &c, &token).await?;
    let Some((m, _)) = m else {
        return not_member(&state, &c);
    };
    let action = uri.path();
    let pending = m.status == MemberStatus::Pending;
    let checked = check_form(&state, &headers, action, &f.csrf)
        .map_err(|e| vec![e.to_string()])
        .and_then(|()| fields(&f));
    let new = match checked {
        Ok(new) => new,
        Err(errors) => {
            return page(
                &state,
                &headers,
                &c,
                action,
                &f,
                pending,
                None,
                &errors,
                StatusCode::BAD_REQUEST,
            );
        }
    };
    let c2 = c.clone();
    // Without invitations in the community, the box is not on the form.
    let asked = c.config.policy.referrals_per_month > 0;
    let invitations = f.invitations == "on";
    let (m, invitations) = state
        .db
        .run(move |store| {
            let m = crate::effects::web_change(store, &c2, &email, &new)?;
            if asked {
                store.set_referrals_wanted(m.id, invitations, crate::store::now())?;
            }
            let wanted = store.referrals_wanted(m.id)?;
            Ok((m, wanted))
        })
        .await?;
    page(
        &state,
        &headers,
        &c,
        action,
        &MeForm::of(&m, invitations),
        pending,
        Some("Saved."),
        &[],
        StatusCode::OK,
    )
}

/// `POST /c/SLUG/me/TOKEN/leave`.
async fn leave(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path((slug, token)): Path<(String, String)>,
    Form(f): Form<ButtonForm>,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    check_form(&state, &headers, uri.path(), &f.csrf)?;
    let (email, _) = member(&state, &c, &token).await?;
    let c2 = c.clone();
    let left = state
        .db
        .run(move |store| Ok(crate::effects::web_leave(store, &c2, &email)?))
        .await?;
    if !left {
        return not_member(&state, &c);
    }
    let page = render(
        &state,
        Frame {
            title: format!("You have left {}", c.name()),
            community: Some(&c),
            viewer: &Viewer::anonymous(),
            q: None,
        },
        "web/done",
        &json!({
            "heading": format!("You have left {}", c.name()),
            "ok": true,
            "message": "You will receive no more mail from the community. Your posts stay in the archive.",
            "links": [{"href": format!("{}/c/{}/join", super::page::root(&state), c.slug()), "text": format!("Join {} again", c.name())}],
        }),
    )?;
    Ok(([(header::CACHE_CONTROL, "no-store")], page).into_response())
}
