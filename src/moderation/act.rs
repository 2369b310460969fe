//! What happens after a message is committed or a moderator decides: an
//! approved post is fanned out, a held post's author is acknowledged and the
//! moderators told, a rejected post's author gets the reason, a bounce
//! raises its member's score, and email commands are carried out.
//!
//! Every source (pipe, LMTP, IMAP) and every decision command calls in here
//! after its transaction commits, so the effects are the same whichever way
//! mail arrived. An effect that fails is logged, never undoes the commit:
//! `praxis serve` re-queues approved posts that were never fanned out.

use serde_json::json;
use tracing::{info, warn};

use crate::config::{CommunityConfig, Config, ModeratorNotices, Subscription};
use crate::deliver::compose::notice_message_reply_to;
use crate::deliver::verp::request_address;
use crate::ingest::pipeline::Outcome;
use crate::mail::classify::{Recipient, recipient};
use crate::mail::parse;
use crate::model::{CommunityId, MemberStatus, OutboxKind, PostClass, PostState, Role};
use crate::moderation::commands::{self, Command};
use crate::moderation::policy;
use crate::moderation::token::{self, Purpose};
use crate::render::Templates;
use crate::store::{
    Action, Decided, MemberFields, NewMember, NewOutbox, NewRecipient, Store, Stored, now,
};

/// At most one "awaiting moderation" note per sender in this long.
pub const ACK_INTERVAL_SECS: i64 = 86_400;

/// Why an effect could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum ActError {
    /// The database.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Building or queueing mail.
    #[error(transparent)]
    Deliver(#[from] crate::deliver::DeliverError),
    /// A message could not be built.
    #[error(transparent)]
    Compose(#[from] crate::deliver::compose::ComposeError),
    /// A template.
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    /// The token secret.
    #[error("{0}")]
    Secret(String),
}

/// The key that signs confirmation tokens: `[delivery]`'s link secret when
/// configured, else a file beside the database (`<db>.secret`, mode 0600,
/// made on first use). Never stored in the database.
pub fn token_secret(config: &Config) -> Result<Vec<u8>, ActError> {
    if config.delivery.link_secret().is_configured() {
        return config
            .delivery
            .link_secret()
            .resolve("delivery.link_secret")
            .map_err(ActError::Secret)?
            .map(|s| s.into_bytes())
            .ok_or_else(|| ActError::Secret("delivery.link_secret is empty".into()));
    }
    let mut path = config.database_path().into_os_string();
    path.push(".secret");
    let path = std::path::PathBuf::from(path);
    if !path.exists() {
        let key = hex::encode(rand::random::<[u8; 32]>());
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        match opts.open(&path) {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(key.as_bytes()).map_err(|e| {
                    ActError::Secret(format!("cannot write {}: {e}", path.display()))
                })?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(ActError::Secret(format!(
                    "cannot create {}: {e}",
                    path.display()
                )));
            }
        }
    }
    crate::config::check_private_file(&path).map_err(ActError::Secret)?;
    std::fs::read_to_string(&path)
        .map(|s| s.trim().as_bytes().to_vec())
        .map_err(|e| ActError::Secret(format!("cannot read {}: {e}", path.display())))
}

/// Queues a notice to one address.
fn notice(
    store: &mut Store,
    cfg: &CommunityConfig,
    community: CommunityId,
    to: &str,
    subject: &str,
    text: &str,
    reply_to: Option<&str>,
) -> Result<(), ActError> {
    let built = notice_message_reply_to(cfg, to, subject, text, reply_to)?;
    store.queue_to(
        &NewOutbox::new(
            Some(community),
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

/// Queues an automatic reply to a sender (a rejection, a command reply, a
/// confirmation request, a welcome) unless the address has had
/// `policy.sender_rate` this hour. Returns whether it was queued.
#[allow(clippy::too_many_arguments)]
fn auto_reply(
    store: &mut Store,
    cfg: &CommunityConfig,
    community: CommunityId,
    to: &str,
    subject: &str,
    text: &str,
    reply_to: Option<&str>,
) -> Result<bool, ActError> {
    let t = now();
    let sent = store.notices_since(community, to, t - policy::RATE_WINDOW_SECS)?;
    if !policy::may_reply(&cfg.policy, sent) {
        info!(to = %to, sent, "policy.sender_rate reached: no automatic reply this hour");
        return Ok(false);
    }
    notice(store, cfg, community, to, subject, text, reply_to)?;
    store.log_notice(community, None, "reply", to, t)?;
    Ok(true)
}

/// After a message is committed by any source.
pub fn after_ingest(
    store: &mut Store,
    config: &Config,
    cfg: &CommunityConfig,
    raw: &[u8],
    envelope_to: Option<&str>,
    outcome: &Outcome,
) -> Result<(), ActError> {
    let Stored::New { post, .. } = outcome.stored else {
        return Ok(());
    };
    let community = store.community(&cfg.slug)?.id;
    // Compiled only when a notice needs them: an accepted post needs none,
    // and compiling every template costs more than the rest of its ingest.
    let compiled = std::cell::OnceCell::new();
    let templates = || compiled.get_or_init(|| cfg.templates());
    match (outcome.class, outcome.state) {
        (PostClass::Post, PostState::Approved) => {
            let q = crate::deliver::queue_post(store, config, post)?;
            info!(post = %post, outbox = %q.id, "approved on arrival; queued");
            if let Some(due) = crate::consolidate::on_approved(store, cfg, post)? {
                info!(post = %post, deadline = %due, "query deadline set");
            }
        }
        (PostClass::Post | PostClass::Unparseable, PostState::Held) => {
            let view = store.post(post)?;
            let reason = outcome.hold_reason.clone().unwrap_or_default();
            if reason == policy::RATE_LIMITED {
                return flood_notice(store, cfg, community, templates(), &view);
            }
            // The author hears once a day at most, within the sender rate;
            // never for unparseable mail.
            if outcome.class == PostClass::Post && !view.from.is_empty() {
                let last = store.last_notice(community, "acknowledge", &view.from)?;
                let sent =
                    store.notices_since(community, &view.from, now() - policy::RATE_WINDOW_SECS)?;
                if last.is_none_or(|t| now() - t >= ACK_INTERVAL_SECS)
                    && policy::may_reply(&cfg.policy, sent)
                {
                    let text = templates().render(
                        "acknowledge",
                        &json!({"name": view.from_name, "subject": view.subject, "community": cfg.name, "reason": reason}),
                    )?;
                    notice(
                        store,
                        cfg,
                        community,
                        &view.from,
                        &format!("Awaiting moderation: {}", view.subject),
                        &text,
                        None,
                    )?;
                    store.log_notice(community, Some(post.0), "acknowledge", &view.from, now())?;
                }
            }
            let text = templates().render(
                "hold",
                &json!({"community": cfg.name, "post": post.0, "from": view.from, "subject": view.subject, "reason": reason}),
            )?;
            let each = cfg.policy.moderator_notices == ModeratorNotices::Each;
            for m in store.members(community)?.into_iter().filter(|_| each) {
                if matches!(m.role, Role::Moderator | Role::Owner)
                    && m.status == MemberStatus::Active
                {
                    notice(
                        store,
                        cfg,
                        community,
                        &m.email,
                        &format!("Held ({reason}): {}", view.subject),
                        &text,
                        None,
                    )?;
                }
            }
        }
        (PostClass::Post, PostState::Rejected) => {
            let view = store.post(post)?;
            reject_notice(
                store,
                cfg,
                community,
                templates(),
                &view.from,
                &view.from_name,
                &view.subject,
                outcome.hold_reason.as_deref().unwrap_or(""),
            )?;
        }
        (PostClass::Bounce, _) => {
            let parsed = parse::parse(raw).ok();
            let to = envelope_to
                .map(str::to_string)
                .or_else(|| {
                    parsed
                        .as_ref()
                        .and_then(|p| p.delivered_to.first().cloned())
                })
                .unwrap_or_default();
            match crate::deliver::bounce::classify(&to, &cfg.address, raw) {
                Some(b) => {
                    let o = crate::deliver::bounce::record(store, config, cfg, &b, now())?;
                    info!(recipient = %b.recipient, permanent = b.permanent, "bounce recorded: {o:?}");
                }
                None => info!(post = %post, "a bounce that names no member; kept"),
            }
        }
        (PostClass::Command, _) => {
            if let Ok(p) = parse::parse(raw) {
                run_commands(store, cfg, community, templates(), &p, envelope_to, config)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A post past `policy.sender_flood`: held without an acknowledgement or a
/// notice of its own; the moderators hear once per sender per hour.
fn flood_notice(
    store: &mut Store,
    cfg: &CommunityConfig,
    community: CommunityId,
    templates: &Templates,
    view: &crate::store::PostView,
) -> Result<(), ActError> {
    let t = now();
    let last = store.last_notice(community, "flood", &view.from)?;
    if cfg.policy.moderator_notices != ModeratorNotices::Each
        || last.is_some_and(|l| t - l < policy::RATE_WINDOW_SECS)
    {
        info!(post = %view.id, from = %view.from, "held as rate-limited");
        return Ok(());
    }
    let reason = format!(
        "{} sent more than {} messages in an hour; this one and the rest this hour are held as {} without notices",
        view.from,
        cfg.policy.sender_flood,
        policy::RATE_LIMITED
    );
    let text = templates.render(
        "hold",
        &json!({"community": cfg.name, "post": view.id.0, "from": view.from, "subject": view.subject, "reason": reason}),
    )?;
    for m in store.members(community)? {
        if matches!(m.role, Role::Moderator | Role::Owner) && m.status == MemberStatus::Active {
            notice(
                store,
                cfg,
                community,
                &m.email,
                &format!("Flood held ({}): {}", policy::RATE_LIMITED, view.from),
                &text,
                None,
            )?;
        }
    }
    warn!(from = %view.from, "sender flood: further posts held as rate-limited");
    store.log_notice(community, Some(view.id.0), "flood", &view.from, t)?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn reject_notice(
    store: &mut Store,
    cfg: &CommunityConfig,
    community: CommunityId,
    templates: &Templates,
    to: &str,
    name: &str,
    subject: &str,
    reason: &str,
) -> Result<(), ActError> {
    if to.is_empty() {
        return Ok(());
    }
    let text = templates.render(
        "reject",
        &json!({"name": name, "subject": subject, "community": cfg.name, "reason": reason}),
    )?;
    auto_reply(
        store,
        cfg,
        community,
        to,
        &format!("Not distributed: {subject}"),
        &text,
        None,
    )
    .map(|_| ())
}

/// After a moderator's decision took effect.
pub fn after_decision(
    store: &mut Store,
    config: &Config,
    decided: &Decided,
    action: Action,
    reason: Option<&str>,
) -> Result<(), ActError> {
    let cfg = config
        .community(&decided.slug)
        .map_err(|e| ActError::Secret(e.to_string()))?;
    match action {
        Action::Approve => {
            let q = crate::deliver::queue_post(store, config, decided.post)?;
            info!(post = %decided.post, outbox = %q.id, "approved; queued");
            if let Some(due) = crate::consolidate::on_approved(store, cfg, decided.post)? {
                info!(post = %decided.post, deadline = %due, "query deadline set");
            }
        }
        Action::Reject => {
            let view = store.post(decided.post)?;
            reject_notice(
                store,
                cfg,
                decided.community,
                &cfg.templates(),
                &decided.from,
                &view.from_name,
                &decided.subject,
                reason.unwrap_or(""),
            )?;
        }
        Action::Discard | Action::Defer => {}
    }
    Ok(())
}

/// Carries out the commands of a message to the -request address and replies.
fn run_commands(
    store: &mut Store,
    cfg: &CommunityConfig,
    community: CommunityId,
    templates: &Templates,
    p: &parse::Parsed,
    envelope_to: Option<&str>,
    config: &Config,
) -> Result<(), ActError> {
    let from = p.from_addr.clone();
    if from.is_empty() {
        return Ok(());
    }
    let tag = match recipient(p, envelope_to, &cfg.address) {
        Recipient::Command(tag) => Some(tag),
        Recipient::Owner => {
            info!(from = %from, "mail to the owner address kept for the owners");
            return Ok(());
        }
        _ => None,
    };
    let cmds = commands::parse(tag.as_deref(), &p.subject, &p.text);
    let secret = token_secret(config)?;
    let t = now();
    let request = request_address(&cfg.address);
    let (local, domain) = cfg.address_parts().unwrap_or(("list", "localhost"));
    let mut results: Vec<serde_json::Value> = Vec::new();
    // A reply goes out unless everything asked for answered by mail of its
    // own (a confirmation request, a welcome, a goodbye).
    let mut needs_reply = cmds.is_empty();
    for cmd in cmds {
        let member = store.member(community, &from)?;
        let active = member
            .as_ref()
            .is_some_and(|m| m.status == MemberStatus::Active);
        let (label, result) = match &cmd {
            Command::Subscribe | Command::Unsubscribe => {
                let purpose = if cmd == Command::Subscribe {
                    Purpose::Subscribe
                } else {
                    Purpose::Unsubscribe
                };
                if purpose == Purpose::Subscribe && active {
                    ("subscribe", "you are already a member".to_string())
                } else if purpose == Purpose::Unsubscribe
                    && member
                        .as_ref()
                        .is_none_or(|m| m.status == MemberStatus::Unsubscribed)
                {
                    ("unsubscribe", "this address is not a member".to_string())
                } else {
                    let tok = token::issue(
                        &secret,
                        &cfg.slug,
                        &from,
                        purpose,
                        t,
                        &rand::random::<[u8; token::NONCE_BYTES]>(),
                    );
                    store.add_confirmation(
                        community,
                        &tok,
                        &from,
                        purpose.as_str(),
                        t,
                        t + token::LIFETIME_SECS,
                    )?;
                    // Replies go to LOCAL-confirm+TOKEN@ when that fits RFC 5321's
                    // 64-octet local part; else to -request, with the code in the subject.
                    let tagged = format!("{local}-confirm+{tok}");
                    let confirm_address = if tagged.len() <= 64 {
                        format!("{tagged}@{domain}")
                    } else {
                        request.clone()
                    };
                    let text = templates.render(
                        "confirm",
                        &json!({"action": purpose.as_str(), "subscribe": purpose == Purpose::Subscribe,
                                "address": from, "community": cfg.name, "confirm_address": confirm_address,
                                "request_address": request, "token": tok}),
                    )?;
                    auto_reply(
                        store,
                        cfg,
                        community,
                        &from,
                        &format!("confirm {tok}"),
                        &text,
                        Some(&confirm_address),
                    )?;
                    // That mail says it all: no reply needed for this one.
                    results.push(json!({"command": purpose.as_str(),
                                        "result": "a confirmation request was sent to you"}));
                    continue;
                }
            }
            Command::Confirm(tok) => {
                let (line, done) =
                    confirm(store, cfg, community, templates, &secret, tok, &from, t)?;
                if done {
                    // The welcome or goodbye says it all.
                    results.push(json!({"command": "confirm", "result": line}));
                    continue;
                }
                ("confirm", line)
            }
            Command::SetDelivery(d) => {
                if active {
                    store.set_member(
                        community,
                        &from,
                        &MemberFields {
                            delivery: Some(*d),
                            ..Default::default()
                        },
                        "email",
                    )?;
                    ("set delivery", format!("your delivery mode is now {d}"))
                } else {
                    (
                        "set delivery",
                        "only members can change their delivery".to_string(),
                    )
                }
            }
            Command::SetDigestFormat(f) => {
                if active {
                    store.set_member(
                        community,
                        &from,
                        &MemberFields {
                            digest_format: Some(*f),
                            ..Default::default()
                        },
                        "email",
                    )?;
                    ("set digest", format!("your digest format is now {f}"))
                } else {
                    (
                        "set digest",
                        "only members can change their digest format".to_string(),
                    )
                }
            }
            Command::Help => {
                needs_reply = true;
                continue;
            }
            Command::Unknown(line) => ("(not a command)", format!("`{line}` was not understood")),
        };
        needs_reply = true;
        results.push(json!({"command": label, "result": result}));
    }
    if needs_reply {
        let text = templates.render(
            "help",
            &json!({"community": cfg.name, "list_address": cfg.address, "request_address": request, "results": results}),
        )?;
        auto_reply(
            store,
            cfg,
            community,
            &from,
            &format!(
                "Re: {}",
                if p.subject.is_empty() {
                    "your request"
                } else {
                    &p.subject
                }
            ),
            &text,
            None,
        )?;
    }
    Ok(())
}

/// Confirms a pending subscribe or unsubscribe; returns the result line.
#[allow(clippy::too_many_arguments)]
fn confirm(
    store: &mut Store,
    cfg: &CommunityConfig,
    community: CommunityId,
    templates: &Templates,
    secret: &[u8],
    tok: &str,
    from: &str,
    t: i64,
) -> Result<(String, bool), ActError> {
    // The signature first: a forged code or one made for another address
    // is refused without touching the pending request.
    let purpose = [Purpose::Subscribe, Purpose::Unsubscribe]
        .into_iter()
        .find(|p| token::verify(secret, tok, &cfg.slug, from, *p, t).is_ok());
    let Some(purpose) = purpose else {
        let why = token::verify(secret, tok, &cfg.slug, from, Purpose::Subscribe, t).unwrap_err();
        warn!(from = %from, "refused a confirmation: {why}");
        return Ok((why.to_string(), false));
    };
    let row = match store.take_confirmation(community, tok, t) {
        Ok(r) => r,
        Err(e) => {
            warn!(from = %from, "refused a confirmation: {e}");
            return Ok((e.to_string(), false));
        }
    };
    if row.action != purpose.as_str() || !row.email.eq_ignore_ascii_case(from) {
        return Ok((
            "the confirmation code was made for another address or request".into(),
            false,
        ));
    }
    let request = request_address(&cfg.address);
    match purpose {
        Purpose::Subscribe => {
            let status = match cfg.policy.subscription {
                Subscription::Confirm => MemberStatus::Active,
                Subscription::Approve => MemberStatus::Pending,
            };
            match store.member(community, from)? {
                Some(_) => {
                    store.set_member(
                        community,
                        from,
                        &MemberFields {
                            status: Some(status),
                            ..Default::default()
                        },
                        "email",
                    )?;
                }
                None => {
                    let added = store.add_members(
                        community,
                        &[NewMember {
                            email: from.to_string(),
                            fields: MemberFields {
                                status: Some(status),
                                ..Default::default()
                            },
                        }],
                        "email",
                    )?;
                    if let Some(Err(e)) = added.into_iter().next() {
                        return Ok((e, false));
                    }
                }
            }
            store.log_member_change(community, "member-subscribe", from, t)?;
            let m = store.member(community, from)?;
            let text = templates.render(
                "welcome",
                &json!({"community": cfg.name, "name": m.as_ref().map(|m| m.name.clone()).unwrap_or_default(),
                        "address": from, "list_address": cfg.address, "request_address": request,
                        "delivery": m.as_ref().map(|m| m.delivery.to_string()).unwrap_or_else(|| "each".into()),
                        "pending": status == MemberStatus::Pending}),
            )?;
            auto_reply(
                store,
                cfg,
                community,
                from,
                &format!("Welcome to {}", cfg.name),
                &text,
                None,
            )?;
            Ok((
                if status == MemberStatus::Pending {
                    "confirmed; a moderator will approve your membership".into()
                } else {
                    "you are now a member".into()
                },
                true,
            ))
        }
        Purpose::Unsubscribe => {
            leave(store, cfg, community, templates, from, "email", t)?;
            Ok(("you have left the community".into(), true))
        }
    }
}

/// `email` leaves `community`: unsubscribed (kept, for the archive's
/// attributions), the change in the audit log as made `via` ("email",
/// "one-click"), and a goodbye notice queued.
fn leave(
    store: &mut Store,
    cfg: &CommunityConfig,
    community: CommunityId,
    templates: &Templates,
    email: &str,
    via: &str,
    t: i64,
) -> Result<(), ActError> {
    store.set_member(
        community,
        email,
        &MemberFields {
            status: Some(MemberStatus::Unsubscribed),
            ..Default::default()
        },
        via,
    )?;
    store.log_member_change(community, "member-unsubscribe", email, t)?;
    let text = templates.render(
        "goodbye",
        &json!({"community": cfg.name, "address": email, "request_address": request_address(&cfg.address)}),
    )?;
    // Within the sender's rate of automatic replies, like every notice to them.
    auto_reply(
        store,
        cfg,
        community,
        email,
        &format!("You have left {}", cfg.name),
        &text,
        None,
    )?;
    Ok(())
}

/// An RFC 8058 one-click unsubscribe whose signed link has been verified:
/// the member leaves at once (the signature is the confirmation). Returns
/// false, changing nothing, when the address is not an active member.
pub fn one_click_unsubscribe(
    store: &mut Store,
    cfg: &CommunityConfig,
    email: &str,
) -> Result<bool, ActError> {
    let community = store.community(&cfg.slug)?.id;
    match store.member(community, email)? {
        Some(m) if m.status != MemberStatus::Unsubscribed => {
            leave(
                store,
                cfg,
                community,
                &cfg.templates(),
                email,
                "one-click",
                now(),
            )?;
            info!(community = %cfg.slug, member = %email, "left by one-click unsubscribe");
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Logs an effect's failure: the message itself is already safe.
pub fn log_failure(what: &str, e: &ActError) {
    warn!(
        "{what}: {e}; the message is stored, and `praxis serve` retries fan-out of approved posts"
    );
}

/// Sends the daily summary of held posts to a community's moderators when
/// it is due (a day after the last one) and something is waiting. Returns
/// whether one was sent.
pub fn daily_summary(store: &mut Store, cfg: &CommunityConfig) -> Result<bool, ActError> {
    if cfg.policy.moderator_notices != ModeratorNotices::Daily {
        return Ok(false);
    }
    let community = store.community(&cfg.slug)?.id;
    let t = now();
    if store
        .last_notice(community, "summary", &cfg.address)?
        .is_some_and(|last| t - last < 86_400)
    {
        return Ok(false);
    }
    let held = store.held(Some(community))?;
    if held.is_empty() {
        return Ok(false);
    }
    let holds: Vec<serde_json::Value> = held
        .iter()
        .map(|h| {
            json!({"id": h.id.0, "age": crate::moderation::policy::human_age(t - h.received_at), "reason": h.reason,
                   "from": h.from, "subject": h.subject})
        })
        .collect();
    let text = cfg.templates().render(
        "summary",
        &json!({"count": held.len(), "plural": held.len() != 1, "community": cfg.name,
                "slug": cfg.slug, "holds": holds}),
    )?;
    let subject = format!("{} held post(s) waiting", held.len());
    for m in store.members(community)? {
        if matches!(m.role, Role::Moderator | Role::Owner) && m.status == MemberStatus::Active {
            notice(store, cfg, community, &m.email, &subject, &text, None)?;
        }
    }
    store.log_notice(community, None, "summary", &cfg.address, t)?;
    Ok(true)
}
