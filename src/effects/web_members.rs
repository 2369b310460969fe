//! Membership asked for on the web: joining from the form (a confirmation
//! mailed through the same machinery and table as `subscribe` by mail,
//! carrying the web's confirm link), confirming it from that link, a
//! member's own changes and leaving from their page (audited as their own
//! act on the web), and the sign-in link mail.

use serde_json::json;

use super::EffectError;
use super::notices::auto_reply;
use super::requests::{confirm, leave, send_confirmation};
use crate::community::Community;
use crate::deliver::verp::request_address;
use crate::model::{Delivery, MemberStatus};
use crate::moderation::commands::{Command, Field};
use crate::moderation::token::Purpose;
use crate::store::audit::How;
use crate::store::{Member, MemberFields, Store, now};

/// What the join form asks for besides the address.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinRequest {
    /// The address joining (checked by the caller).
    pub email: String,
    /// Their name, credited in Consolidated Replies; empty when not given.
    pub name: String,
    /// Their organisation; empty when not given.
    pub organisation: String,
    /// Their place; empty when not given.
    pub place: String,
    /// How mail is to reach them.
    pub delivery: Delivery,
}

/// Mails the confirmation for a join asked on the web, unless the address
/// is already an active member (then nothing is sent, and the caller says
/// the same as when it is: no enumeration). `web_base` is the community's
/// link base (`delivery.base_url`). Returns whether a mail was queued.
pub fn web_join(
    store: &mut Store,
    c: &Community,
    secret: &[u8],
    req: &JoinRequest,
    web_base: &str,
) -> Result<bool, EffectError> {
    let active = store
        .member(c.id, &req.email)?
        .is_some_and(|m| m.status == MemberStatus::Active);
    if active {
        return Ok(false);
    }
    let mut lines: Vec<String> = [
        (Field::Name, &req.name),
        (Field::Organisation, &req.organisation),
        (Field::Place, &req.place),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(f, v)| Command::SetProfile(f, v.clone()).to_line())
    .collect();
    lines.push(Command::SetDelivery(req.delivery).to_line());
    send_confirmation(
        store,
        c,
        secret,
        &req.email,
        Purpose::Subscribe,
        &lines.join("\n"),
        &[],
        now(),
        Some(web_base),
    )?;
    Ok(true)
}

/// The pending join a web confirm link stands for: the address, and the
/// profile it carries, for the page that asks to confirm. None when the
/// link is not a pending join of `c` (unknown, used, expired, another
/// community's, or for another action).
pub fn pending_join(
    store: &Store,
    c: &Community,
    secret: &[u8],
    tok: &str,
) -> Result<Option<String>, EffectError> {
    let t = now();
    let Some(row) = store.pending_confirmation(c.id, tok, t)? else {
        return Ok(None);
    };
    let signed =
        crate::moderation::token::verify(secret, tok, c.slug(), &row.email, Purpose::Subscribe, t)
            .is_ok();
    Ok((signed && row.action == Purpose::Subscribe.as_str()).then_some(row.email))
}

/// Confirms a join from its web link: the member is subscribed exactly as
/// by mail (the policy's approval respected, the welcome sent), audited as
/// their own act on the web. Ok(line) says what happened; Err(line) why not.
pub fn confirm_join(
    store: &mut Store,
    c: &Community,
    secret: &[u8],
    tok: &str,
) -> Result<Result<String, String>, EffectError> {
    let Some(email) = pending_join(store, c, secret, tok)? else {
        return Ok(Err(
            "this confirmation link is not valid any more: it was used, it expired, or it belongs to another request".into(),
        ));
    };
    let (line, done) = confirm(store, c, secret, tok, &email, now(), How::Web)?;
    Ok(if done { Ok(line) } else { Err(line) })
}

/// A member's own change made on their page: the same store call as
/// `praxis members set` and `set … by mail`, audited as theirs on the web.
pub fn web_change(
    store: &mut Store,
    c: &Community,
    email: &str,
    fields: &MemberFields,
) -> Result<Member, EffectError> {
    let m = store.set_member(c.id, email, fields, How::Web.as_str())?;
    store.log_member_change(c.id, "member-change", email, How::Web, now())?;
    Ok(m)
}

/// A member leaves from their page: as by mail (kept as unsubscribed, a
/// goodbye sent), audited as theirs on the web. False when the address was
/// not a member.
pub fn web_leave(store: &mut Store, c: &Community, email: &str) -> Result<bool, EffectError> {
    match store.member(c.id, email)? {
        Some(m) if m.status != MemberStatus::Unsubscribed => {
            leave(store, c, email, "web", now())?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Mails a sign-in link to `to` (within the sender rate of automatic
/// replies, like every notice). Returns whether it was queued.
pub fn mail_signin(
    store: &mut Store,
    c: &Community,
    to: &str,
    url: &str,
    minutes: i64,
) -> Result<bool, EffectError> {
    let text = c.templates().render(
        "signin",
        &json!({"community": c.name(), "address": to, "url": url, "minutes": minutes,
                "request_address": request_address(c.address())}),
    )?;
    auto_reply(
        store,
        c,
        to,
        &format!("Sign in to {}", c.name()),
        &text,
        None,
    )
}
