//! Notices: one message to one address (an acknowledgement, a rejection, a
//! command reply), the same to every moderator, automatic replies within
//! `policy.sender_rate`, and the moderators' daily summary of held posts.

use serde_json::json;
use tracing::info;

use super::EffectError;
use crate::community::Community;
use crate::config::ModeratorNotices;
use crate::deliver::compose::notice_message_reply_to;
use crate::model::OutboxKind;
use crate::moderation::policy;
use crate::store::{NewOutbox, NewRecipient, Store, now};

/// At most one "awaiting moderation" note per sender in this long.
pub const ACK_INTERVAL_SECS: i64 = 86_400;

/// Queues a notice to one address.
pub(super) fn notice(
    store: &mut Store,
    c: &Community,
    to: &str,
    subject: &str,
    text: &str,
    reply_to: Option<&str>,
) -> Result<(), EffectError> {
    let built = notice_message_reply_to(&c.config, to, subject, text, reply_to)?;
    store.queue_to(
        &NewOutbox::new(
            Some(c.id),
            OutboxKind::Notice,
            &built.subject,
            &built.message,
        ),
        [NewRecipient {
            member: None,
            address: to.to_string(),
        }],
        now(),
    )?;
    Ok(())
}

/// Queues the same notice to each active moderator and owner of `c`.
pub(super) fn to_moderators(
    store: &mut Store,
    c: &Community,
    subject: &str,
    text: &str,
) -> Result<usize, EffectError> {
    let moderators = store.moderators(c.id)?;
    for m in &moderators {
        notice(store, c, &m.email, subject, text, None)?;
    }
    Ok(moderators.len())
}

/// Queues an automatic reply to a sender (a rejection, a command reply, a
/// confirmation request, a welcome) unless the address has had
/// `policy.sender_rate` this hour. Returns whether it was queued.
pub(super) fn auto_reply(
    store: &mut Store,
    c: &Community,
    to: &str,
    subject: &str,
    text: &str,
    reply_to: Option<&str>,
) -> Result<bool, EffectError> {
    let t = now();
    let sent = store.notices_since(c.id, to, t - policy::RATE_WINDOW_SECS)?;
    if !policy::may_reply(&c.config.policy, sent) {
        info!(to = %to, sent, "policy.sender_rate reached: no automatic reply this hour");
        return Ok(false);
    }
    notice(store, c, to, subject, text, reply_to)?;
    store.log_notice(c.id, None, "reply", to, t)?;
    Ok(true)
}

/// Tells a sender why their post was not distributed.
pub(super) fn reject_notice(
    store: &mut Store,
    c: &Community,
    to: &str,
    name: &str,
    subject: &str,
    reason: &str,
) -> Result<(), EffectError> {
    if to.is_empty() {
        return Ok(());
    }
    let text = c.templates().render(
        "reject",
        &json!({"name": name, "subject": subject, "community": c.name(), "reason": reason}),
    )?;
    auto_reply(
        store,
        c,
        to,
        &format!("Not distributed: {subject}"),
        &text,
        None,
    )
    .map(|_| ())
}

/// Sends the daily summary of held posts to a community's moderators when
/// it is due (a day after the last one) and something is waiting. Returns
/// whether one was sent.
pub fn daily_summary(store: &mut Store, c: &Community) -> Result<bool, EffectError> {
    if c.config.policy.moderator_notices != ModeratorNotices::Daily {
        return Ok(false);
    }
    let t = now();
    if store
        .last_notice(c.id, "summary", c.address())?
        .is_some_and(|last| t - last < 86_400)
    {
        return Ok(false);
    }
    let held = store.held(Some(c.id))?;
    if held.is_empty() {
        return Ok(false);
    }
    let holds: Vec<serde_json::Value> = held
        .iter()
        .map(|h| {
            json!({"id": h.id.0, "age": policy::human_age(t - h.received_at), "reason": h.reason,
                   "from": h.from, "subject": h.subject})
        })
        .collect();
    let text = c.templates().render(
        "summary",
        &json!({"count": held.len(), "plural": held.len() != 1, "community": c.name(),
                "slug": c.slug(), "holds": holds}),
    )?;
    let subject = format!("{} held post(s) waiting", held.len());
    to_moderators(store, c, &subject, &text)?;
    store.log_notice(c.id, None, "summary", c.address(), t)?;
    Ok(true)
}
