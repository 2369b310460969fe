//! After a message is committed by any source: an approved post is queued
//! for fan-out (and its query deadline set), a held post's author and
//! moderators are told, a rejected post's author gets the reason, a bounce
//! is scored, and commands to the -request address are carried out (a
//! moderator's reply to a hold notice decides its post).

use serde_json::json;
use tracing::{info, warn};

use super::notices::{ACK_INTERVAL_SECS, notice, reject_notice, to_moderators};
use super::{EffectError, moderation_replies, requests};
use crate::community::Community;
use crate::config::{Config, ModeratorNotices};
use crate::deliver::verp::request_address;
use crate::ingest::pipeline::Outcome;
use crate::mail::parse;
use crate::model::{MemberStatus, PostClass, PostState};
use crate::moderation::policy;
use crate::store::{PostView, Store, Stored, now};

/// After `outcome` (from the pipeline, with the parse it made) was committed
/// into community `c`. `raw` is the message as received, for bounce reports.
pub fn after_ingest(
    store: &mut Store,
    config: &Config,
    c: &Community,
    raw: &[u8],
    envelope_to: Option<&str>,
    outcome: &Outcome,
) -> Result<(), EffectError> {
    let Stored::New { post, .. } = outcome.stored else {
        return Ok(());
    };
    match (outcome.class, outcome.state) {
        (PostClass::Post, PostState::Approved) => {
            let q = crate::deliver::queue_post(store, c, post)?;
            info!(post = %post, outbox = %q.id, "approved on arrival; queued");
            if let Some(due) = crate::consolidate::on_approved(store, &c.config, post)? {
                info!(post = %post, deadline = %due, "query deadline set");
            }
        }
        (PostClass::Post | PostClass::Unparseable, PostState::Held) => {
            let view = store.post(post)?;
            let reason = outcome.hold_reason.clone().unwrap_or_default();
            if reason == policy::RATE_LIMITED {
                return flood_notice(store, c, &view);
            }
            // The author hears once a day at most, within the sender rate;
            // never for unparseable mail, and (by `policy.acknowledge`) only
            // when the From is a member's or passed DMARC: no backscatter.
            if outcome.class == PostClass::Post
                && !view.from.is_empty()
                && acknowledge_to(store, c, &view.from, outcome)?
            {
                let last = store.last_notice(c.id, "acknowledge", &view.from)?;
                let sent =
                    store.notices_since(c.id, &view.from, now() - policy::RATE_WINDOW_SECS)?;
                if last.is_none_or(|t| now() - t >= ACK_INTERVAL_SECS)
                    && policy::may_reply(&c.config.policy, sent)
                {
                    // A command sent to the posting address: say where commands go.
                    let (template, subject) = if reason == policy::ADMINISTRIVIA {
                        (
                            "administrivia",
                            format!("Not distributed (a command?): {}", view.subject),
                        )
                    } else {
                        (
                            "acknowledge",
                            format!("Awaiting moderation: {}", view.subject),
                        )
                    };
                    let text = c.templates().render(
                        template,
                        &json!({"name": view.from_name, "subject": view.subject, "community": c.name(),
                                "reason": reason, "list_address": c.address(),
                                "request_address": request_address(c.address())}),
                    )?;
                    notice(store, c, &view.from, &subject, &text, None)?;
                    store.log_notice(c.id, Some(post.0), "acknowledge", &view.from, now())?;
                }
            }
            if c.config.policy.moderator_notices == ModeratorNotices::Each {
                // With the post's text and a reply address of each moderator's own.
                moderation_replies::hold_notice(store, config, c, &view, &reason)?;
            }
        }
        (PostClass::Post, PostState::Rejected) => {
            let view = store.post(post)?;
            reject_notice(
                store,
                c,
                &view.from,
                &view.from_name,
                &view.subject,
                outcome.hold_reason.as_deref().unwrap_or(""),
            )?;
        }
        (PostClass::Bounce, _) => {
            let to = envelope_to
                .map(str::to_string)
                .or_else(|| {
                    outcome
                        .parsed
                        .as_ref()
                        .and_then(|p| p.delivered_to.first().cloned())
                })
                .unwrap_or_default();
            match crate::deliver::bounce::classify(&to, c.address(), raw) {
                Some(b) => {
                    let o = crate::deliver::bounce::record(store, config, c, &b, now())?;
                    info!(recipient = %b.recipient, permanent = b.permanent, "bounce recorded: {o:?}");
                }
                None => info!(post = %post, "a bounce that names no member; kept"),
            }
        }
        (PostClass::Command, _) => {
            if let Some(p) = &outcome.parsed
                && !moderation_replies::handle(store, config, c, p, envelope_to)?
            {
                requests::run_commands(store, config, c, p, envelope_to)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Whether a held post's author may be told it is held: a member (not
/// one who left), or a nonmember whose mail passed DMARC by our own
/// Authentication-Results, or anyone when `policy.acknowledge = "all"`.
fn acknowledge_to(
    store: &Store,
    c: &Community,
    from: &str,
    outcome: &Outcome,
) -> Result<bool, EffectError> {
    let member = store
        .member(c.id, from)?
        .is_some_and(|m| m.status != MemberStatus::Unsubscribed);
    let dmarc_pass = match (&c.config.policy.dmarc_authserv_id, &outcome.parsed) {
        (Some(id), Some(p)) => parse::dmarc_passed(&p.auth_results, id),
        _ => false,
    };
    let ok = policy::may_acknowledge(&c.config.policy, member, dmarc_pass);
    if !ok {
        info!(from = %from, "held; no acknowledgement to an unverified nonmember (policy.acknowledge)");
    }
    Ok(ok)
}

/// A post past `policy.sender_flood`: held without an acknowledgement or a
/// notice of its own; the moderators hear once per sender per hour.
fn flood_notice(store: &mut Store, c: &Community, view: &PostView) -> Result<(), EffectError> {
    let t = now();
    let last = store.last_notice(c.id, "flood", &view.from)?;
    if c.config.policy.moderator_notices != ModeratorNotices::Each
        || last.is_some_and(|l| t - l < policy::RATE_WINDOW_SECS)
    {
        info!(post = %view.id, from = %view.from, "held as rate-limited");
        return Ok(());
    }
    let reason = format!(
        "{} sent more than {} messages in an hour; this one and the rest this hour are held as {} without notices",
        view.from,
        c.config.policy.sender_flood,
        policy::RATE_LIMITED
    );
    let text = c.templates().render(
        "hold",
        &json!({"community": c.name(), "post": view.id.0, "from": view.from, "subject": view.subject,
                "reason": reason, "text": "", "truncated": 0, "reply_to": "", "related": []}),
    )?;
    to_moderators(
        store,
        c,
        &format!("Flood held ({}): {}", policy::RATE_LIMITED, view.from),
        &text,
    )?;
    warn!(from = %view.from, "sender flood: further posts held as rate-limited");
    store.log_notice(c.id, Some(view.id.0), "flood", &view.from, t)?;
    Ok(())
}
