//! `/mod/SLUG/members`: a community's members, found by address, name,
//! organisation or place and paged by 100; a member added (what was typed
//! kept when it is refused); each member's role, delivery mode and
//! moderation changed by a small form of its own; and
//! `/mod/SLUG/members/import`, a CSV file uploaded (at most 2 MB, the one
//! route outside the 64 KiB limit on requests) and read as
//! `praxis members import` reads it ([`crate::member_csv`]), with the
//! rows added, those already members and the bad rows reported by line
//! (reading the upload and showing its report are [`super::upload`]'s).
//! Every change goes through the store calls of `praxis members`, under
//! the moderator's name with `via web` in the audit log. Only owners give
//! or take the owner role, and no one changes their own role here.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{
    DefaultBodyLimit, OriginalUri, Path, Query as Params, Request, State as Extract,
};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde_json::{Value, json};

use crate::community::Community;
use crate::member_csv::{self, BadRow};
use crate::model::{Delivery, Moderation, Role};
use crate::moderation::commands::Field;
use crate::store::{Member, MemberFields, NewMember, Store};

use super::super::access::{Csrf, Viewer, check_form};
use super::super::forms;
use super::super::page::{Frame, WebError, community, render};
use super::super::search::encode_query;
use super::super::{AppState, State};
use super::upload;
use super::{acting_moderator, moderator};

/// The routes but the upload.
pub(super) fn routes() -> Router<State> {
    Router::new().route("/mod/{slug}/members", get(list).post(change))
}

/// The upload's route: outside the 64 KiB limit, with its own.
pub(super) fn upload_routes() -> Router<State> {
    Router::new()
        .route("/mod/{slug}/members/import", post(import))
        .layer(DefaultBodyLimit::disable())
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            upload::DRAIN_MAX,
        ))
}

/// Members shown on one page.
const SHOWN: usize = 100;

/// What the page shows above and in its forms after a request.
#[derive(Default)]
struct View {
    /// The search typed.
    q: String,
    /// Which page of the list, from 1.
    page: usize,
    /// What was done.
    notes: Vec<String>,
    /// Why nothing was done.
    errors: Vec<String>,
    /// The add form as sent, when it is shown again.
    add: HashMap<String, String>,
    /// An import's report.
    report: Option<Value>,
}

impl View {
    /// The view a query string or form asks for.
    fn of(fields: &HashMap<String, String>) -> View {
        View {
            q: fields
                .get("q")
                .map(|q| q.trim().to_string())
                .unwrap_or_default(),
            page: fields.get("page").and_then(|p| p.parse().ok()).unwrap_or(1),
            ..View::default()
        }
    }
}

/// One choice of a select, `selected` when it is `chosen`.
fn choices(all: &[(&str, &str)], chosen: &str) -> Value {
    all.iter()
        .map(|(value, label)| json!({"value": value, "label": label, "selected": *value == chosen}))
        .collect()
}

const ROLES: &[(&str, &str)] = &[
    ("member", "member"),
    ("moderator", "moderator"),
    ("owner", "owner"),
];
const DELIVERIES: &[(&str, &str)] = &[
    ("each", "each post"),
    ("digest", "digest"),
    ("consolidated", "Consolidated Replies only"),
    ("none", "nothing"),
];
const MODERATIONS: &[(&str, &str)] = &[
    ("default", "as the policy says"),
    ("hold", "hold every post"),
    ("accept", "accept every post"),
    ("reject", "reject every post"),
    ("discard", "discard every post"),
];

/// A member's row in the table.
fn row(m: &Member) -> Value {
    let at = [m.organisation.as_str(), m.place.as_str()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    json!({
        "email": m.email,
        "name": m.name,
        "who": if m.name.is_empty() { &m.email } else { &m.name },
        "at": at,
        "roles": choices(ROLES, m.role.as_str()),
        "deliveries": choices(DELIVERIES, m.delivery.as_str()),
        "moderations": choices(MODERATIONS, m.moderation.as_str()),
        "status": m.status.as_str(),
    })
}

/// The members page (its forms posting to `action`, the upload to
/// `action/import`), as `view` says.
async fn page(
    state: &AppState,
    headers: &HeaderMap,
    action: &str,
    c: &Arc<Community>,
    viewer: &Viewer,
    view: View,
) -> Result<Response, WebError> {
    let (c2, v2, q) = (c.clone(), viewer.clone(), view.q.clone());
    let asked = view.page.max(1);
    let (rows, total, page) = state
        .db
        .run(move |store| {
            moderator(store, &c2, &v2)?;
            let (_, total) = store.members_page(c2.id, &q, 0, 0)?;
            let pages = (total as usize).div_ceil(SHOWN).max(1);
            let page = asked.min(pages);
            let offset = ((page - 1) * SHOWN) as i64;
            let (members, total) = store.members_page(c2.id, &q, offset, SHOWN as i64)?;
            Ok((members.iter().map(row).collect::<Vec<_>>(), total, page))
        })
        .await?;
    let total = total as usize;
    let pages = total.div_ceil(SHOWN).max(1);
    let import_action = format!("{action}/import");
    let csrf = Csrf::for_request(state, headers);
    let status = if view.errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let typed = |k: &str| view.add.get(k).cloned().unwrap_or_default();
    let body = render(
        state,
        Frame {
            title: "Members".into(),
            community: Some(c),
            viewer,
            q: None,
        },
        "web/mod_members",
        &json!({
            "action": action,
            "import_action": import_action,
            "csrf": csrf.token(state, action),
            "import_csrf": csrf.token(state, &import_action),
            "q": view.q,
            "page": page,
            "members": rows,
            "total": total,
            "first": (page - 1) * SHOWN + 1,
            "last": ((page - 1) * SHOWN + SHOWN).min(total),
            "paged": pages > 1,
            // The search as a query-string value, for the pages' links.
            "q_link": encode_query(&view.q),
            "prev": (page > 1).then(|| page - 1),
            "next": (page < pages).then_some(page + 1),
            "notes": view.notes,
            "errors": view.errors,
            "report": view.report,
            "columns": member_csv::COLUMNS.join(","),
            "add": {
                "email": typed("email"),
                "name": typed("name"),
                "organisation": typed("organisation"),
                "place": typed("place"),
                "roles": choices(ROLES, view.add.get("role").map_or("member", String::as_str)),
                "deliveries": choices(DELIVERIES, view.add.get("delivery").map_or("each", String::as_str)),
            },
        }),
    )?;
    Ok(csrf.answer(status, body))
}

/// The 403 for anyone who does not moderate `c`, before a form is read.
async fn only_moderators(
    state: &AppState,
    c: &Arc<Community>,
    viewer: &Viewer,
) -> Result<(), WebError> {
    let (c2, v2) = (c.clone(), viewer.clone());
    state
        .db
        .run(move |store| moderator(store, &c2, &v2).map(|_| ()))
        .await
}

/// `GET /mod/SLUG/members[?q=TEXT][&page=N]`.
async fn list(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(slug): Path<String>,
    Params(params): Params<HashMap<String, String>>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    page(&state, &headers, uri.path(), &c, &viewer, View::of(&params)).await
}

/// A closed choice sent by a form (None when it sent none); a bad one
/// adds an error naming `label` to `errors`.
fn chosen<T: std::str::FromStr>(
    sent: &HashMap<String, String>,
    key: &str,
    label: &str,
    all: &[(&str, &str)],
    errors: &mut Vec<String>,
) -> Option<T> {
    let v = sent.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())?;
    let parsed = v.parse().ok();
    if parsed.is_none() {
        let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
        errors.push(format!(
            "{label}: \u{201c}{v}\u{201d} is not a choice; pick one of {}.",
            names.join(", ")
        ));
    }
    parsed
}

/// The role, delivery mode and moderation a form chose (None for each
/// it did not send), an error added to `errors` for each it sent wrong.
fn chosen_fields(
    sent: &HashMap<String, String>,
    errors: &mut Vec<String>,
) -> (Option<Role>, Option<Delivery>, Option<Moderation>) {
    (
        chosen(sent, "role", "Role", ROLES, errors),
        chosen(sent, "delivery", "Delivery", DELIVERIES, errors),
        chosen(sent, "moderation", "Moderation", MODERATIONS, errors),
    )
}

/// Who may give `to` to a member whose role is `from`: only owners touch
/// the owner role. The refusal, when refused.
fn may_give_role(acting: Option<Role>, from: Option<Role>, to: Role) -> Result<(), String> {
    let touches_owner = to == Role::Owner || from == Some(Role::Owner);
    if touches_owner && from != Some(to) && acting != Some(Role::Owner) {
        return Err(
            "Role: only an owner gives or takes the owner role; ask one of the community's owners."
                .into(),
        );
    }
    Ok(())
}

/// `POST /mod/SLUG/members`: `action=add` adds a member from the add form;
/// `action=set` changes one member's role, delivery and moderation.
async fn change(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(slug): Path<String>,
    viewer: Viewer,
    Form(sent): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let action = uri.path().to_string();
    // Refused before anything is read back or checked.
    only_moderators(&state, &c, &viewer).await?;
    let mut view = View::of(&sent);
    let token = sent.get("csrf").map(String::as_str).unwrap_or("");
    if let Err(e) = check_form(&state, &headers, &action, token) {
        view.errors.push(e.to_string());
    }
    let outcome = match sent.get("action").map(String::as_str) {
        Some("add") => {
            view.add = sent.clone();
            match added_member(&sent) {
                Ok(new) if view.errors.is_empty() => add(&state, &c, &viewer, new).await?,
                Ok(_) => Ok(String::new()),
                Err(errors) => Err(errors),
            }
        }
        Some("set") if view.errors.is_empty() => set(&state, &c, &viewer, &sent).await?,
        Some("set") => Ok(String::new()),
        _ => Err(vec![
            "Which change? The form named none; reload the page and send it again.".into(),
        ]),
    };
    match outcome {
        Ok(note) if view.errors.is_empty() => {
            view.notes.push(note);
            // Added: the form is empty again for the next.
            view.add.clear();
        }
        Ok(_) => {}
        Err(errors) => view.errors.extend(errors),
    }
    page(&state, &headers, &action, &c, &viewer, view).await
}

/// The member the add form describes, or every error in it.
fn added_member(sent: &HashMap<String, String>) -> Result<NewMember, Vec<String>> {
    let text = |k: &str| sent.get(k).map(String::as_str).unwrap_or("");
    let mut errors = Vec::new();
    let email = forms::email(text("email")).map_err(|e| errors.push(e)).ok();
    let mut profile = |f: Field, k: &str| {
        forms::profile(f, text(k))
            .map_err(|e| errors.push(e))
            .ok()
            .filter(|v| !v.is_empty())
    };
    let name = profile(Field::Name, "name");
    let organisation = profile(Field::Organisation, "organisation");
    let place = profile(Field::Place, "place");
    let (role, delivery, _) = chosen_fields(sent, &mut errors);
    match email {
        Some(email) if errors.is_empty() => Ok(NewMember {
            email,
            fields: MemberFields {
                name,
                organisation,
                place,
                role,
                delivery,
                ..MemberFields::default()
            },
        }),
        _ => Err(errors),
    }
}

/// The acting moderator's own role in `c`.
fn own_role(store: &Store, c: &Community, viewer: &Viewer) -> Result<Option<Role>, WebError> {
    let Some(email) = &viewer.email else {
        return Ok(None);
    };
    Ok(store.member(c.id, email)?.map(|m| m.role))
}

/// Adds `new` as the viewer; the note, or why not.
async fn add(
    state: &AppState,
    c: &Arc<Community>,
    viewer: &Viewer,
    new: NewMember,
) -> Result<Result<String, Vec<String>>, WebError> {
    let (c2, v2) = (c.clone(), viewer.clone());
    state
        .db
        .run(move |store| {
            let actor = acting_moderator(store, &c2, &v2)?;
            let role = new.fields.role.unwrap_or(Role::Member);
            if let Err(e) = may_give_role(own_role(store, &c2, &v2)?, None, role) {
                return Ok(Err(vec![e]));
            }
            let email = new.email.clone();
            match store.add_members(c2.id, &[new], &actor)?.pop() {
                Some(Ok(m)) => Ok(Ok(format!(
                    "Added {} ({}) as {}, receiving {}.",
                    if m.name.is_empty() { &m.email } else { &m.name },
                    m.email,
                    m.role,
                    label(DELIVERIES, m.delivery.as_str())
                ))),
                _ => Ok(Err(vec![format!(
                    "Email address: {email} is already a member; search for it to change how they are subscribed."
                )])),
            }
        })
        .await
}

/// What a choice reads as.
fn label<'a>(all: &[(&'a str, &'a str)], value: &'a str) -> &'a str {
    all.iter()
        .find(|(v, _)| *v == value)
        .map_or(value, |(_, l)| l)
}

/// Changes one member as the `set` form says; the note, or why not.
async fn set(
    state: &AppState,
    c: &Arc<Community>,
    viewer: &Viewer,
    sent: &HashMap<String, String>,
) -> Result<Result<String, Vec<String>>, WebError> {
    let mut errors = Vec::new();
    let (role, delivery, moderation) = chosen_fields(sent, &mut errors);
    let email = sent.get("email").cloned().unwrap_or_default();
    if email.is_empty() {
        errors.push("Which member? The form named none; reload the page and send it again.".into());
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let (c2, v2) = (c.clone(), viewer.clone());
    state
        .db
        .run(move |store| {
            let actor = acting_moderator(store, &c2, &v2)?;
            let Some(was) = store.member(c2.id, &email)? else {
                return Ok(Err(vec![format!(
                    "{email} is not a member (any more); nothing changed."
                )]));
            };
            let role = role.filter(|r| *r != was.role);
            if let Some(r) = role {
                if v2.email.as_deref() == Some(was.email.as_str()) {
                    return Ok(Err(vec![
                        "Role: you cannot change your own role here; ask another moderator or an owner.".into(),
                    ]));
                }
                if let Err(e) = may_give_role(own_role(store, &c2, &v2)?, Some(was.role), r) {
                    return Ok(Err(vec![e]));
                }
            }
            let f = MemberFields {
                role,
                delivery: delivery.filter(|d| *d != was.delivery),
                moderation: moderation.filter(|m| *m != was.moderation),
                ..MemberFields::default()
            };
            let who = if was.name.is_empty() {
                was.email.clone()
            } else {
                format!("{} ({})", was.name, was.email)
            };
            if f == MemberFields::default() {
                return Ok(Ok(format!("Nothing to change for {who}.")));
            }
            let now = store.set_member(c2.id, &was.email, &f, &actor)?;
            let mut changed = Vec::new();
            if f.role.is_some() {
                changed.push(format!("role {} (was {})", now.role, was.role));
            }
            if f.delivery.is_some() {
                changed.push(format!(
                    "delivery {} (was {})",
                    label(DELIVERIES, now.delivery.as_str()),
                    label(DELIVERIES, was.delivery.as_str())
                ));
            }
            if f.moderation.is_some() {
                changed.push(format!(
                    "moderation: {} (was {})",
                    label(MODERATIONS, now.moderation.as_str()),
                    label(MODERATIONS, was.moderation.as_str())
                ));
            }
            Ok(Ok(format!("Changed {who}: {}.", changed.join("; "))))
        })
        .await
}

/// `POST /mod/SLUG/members/import`: a CSV file of members, as
/// `praxis members import` takes it.
async fn import(
    Extract(state): Extract<State>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    Path(slug): Path<String>,
    viewer: Viewer,
    req: Request,
) -> Result<Response, WebError> {
    let c = community(&state, &slug)?;
    let import_action = uri.path().to_string();
    let action = import_action
        .strip_suffix("/import")
        .unwrap_or(&import_action)
        .to_string();
    only_moderators(&state, &c, &viewer).await?;
    let mut view = View::default();
    let upload = match upload::read(&state, req).await {
        Ok(u) => u,
        Err(e) => {
            view.errors.push(e);
            let mut res = page(&state, &headers, &action, &c, &viewer, view).await?;
            if res.status() == StatusCode::BAD_REQUEST {
                *res.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            }
            return Ok(res);
        }
    };
    if let Err(e) = check_form(&state, &headers, &import_action, &upload.csrf) {
        view.errors.push(e.to_string());
    } else if upload.bytes.is_empty() {
        view.errors
            .push("CSV file: none was chosen, or it is empty; choose the file to import.".into());
    }
    if !view.errors.is_empty() {
        return page(&state, &headers, &action, &c, &viewer, view).await;
    }
    let name = upload.name.clone();
    let rows = match member_csv::read(&upload.bytes) {
        Ok(rows) => rows,
        Err(e) => {
            view.errors.push(format!("{name}, {e}"));
            return page(&state, &headers, &action, &c, &viewer, view).await;
        }
    };
    let (c2, v2) = (c.clone(), viewer.clone());
    let report = state
        .db
        .run(move |store| {
            let actor = acting_moderator(store, &c2, &v2)?;
            let mut rows = rows;
            // Owners only come from an owner.
            if own_role(store, &c2, &v2)? != Some(Role::Owner) {
                let (owners, others) = std::mem::take(&mut rows.good)
                    .into_iter()
                    .partition(|g| g.member.fields.role == Some(Role::Owner));
                rows.good = others;
                let owners: Vec<member_csv::GoodRow> = owners;
                rows.bad.extend(owners.into_iter().map(|g| BadRow {
                    line: g.line,
                    reason:
                        "role: only an owner adds owners; ask one of the community's owners".into(),
                }));
            }
            Ok(member_csv::import(store, c2.id, rows, &actor)?)
        })
        .await?;
    view.notes.push(upload::summary(&name, &report));
    view.report = Some(upload::report(&name, &report));
    page(&state, &headers, &action, &c, &viewer, view).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owners_give_or_take_the_owner_role() {
        let (m, o) = (Some(Role::Moderator), Some(Role::Owner));
        assert!(may_give_role(m, Some(Role::Member), Role::Moderator).is_ok());
        assert!(may_give_role(m, Some(Role::Member), Role::Owner).is_err());
        assert!(may_give_role(m, o, Role::Member).is_err());
        assert!(may_give_role(m, o, Role::Owner).is_ok());
        assert!(may_give_role(o, Some(Role::Member), Role::Owner).is_ok());
        assert!(may_give_role(m, None, Role::Owner).is_err());
    }
}
