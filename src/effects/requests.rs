//! Requests by mail to the -request address (subscribe, unsubscribe,
//! confirm, set delivery, set digest, set name/organisation/place, help),
//! their confirmations (every membership change is confirmed), leaving,
//! and RFC 8058 one-click unsubscribes, each answered within the sender rate.

use serde_json::json;
use tracing::{info, warn};

use super::EffectError;
use super::notices::auto_reply;
use super::secret::token_secret;
use crate::community::Community;
use crate::config::{Config, Subscription};
use crate::deliver::verp::request_address;
use crate::mail::classify::{Recipient, recipient};
use crate::mail::parse;
use crate::model::MemberStatus;
use crate::moderation::commands::{self, Command, Field};
use crate::moderation::token::{self, Purpose};
use crate::store::audit::How;
use crate::store::{MemberFields, NewMember, Store, now};

/// Carries out the commands of a message to the -request address and replies.
pub(super) fn run_commands(
    store: &mut Store,
    config: &Config,
    c: &Community,
    p: &parse::Parsed,
    envelope_to: Option<&str>,
) -> Result<(), EffectError> {
    let (cfg, community) = (&c.config, c.id);
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
    let lines = commands::parse_lines(tag.as_deref(), &p.subject, &p.text);
    let secret = token_secret(config)?;
    let t = now();
    let request = request_address(&cfg.address);
    // Each line as written, then what became of it.
    let mut results: Vec<serde_json::Value> = Vec::new();
    // Changes to an active membership, confirmed together by one token.
    let mut changes: Vec<Command> = Vec::new();
    // A reply goes out unless everything asked for answered by mail of its
    // own (a confirmation request, a welcome, a goodbye).
    let mut needs_reply = lines.is_empty();
    for commands::Line {
        text: line,
        command,
    } in lines
    {
        let member = store.member(community, &from)?;
        let active = member
            .as_ref()
            .is_some_and(|m| m.status == MemberStatus::Active);
        let result = match &command {
            Command::Subscribe(_) | Command::Unsubscribe => {
                let purpose = if command == Command::Unsubscribe {
                    Purpose::Unsubscribe
                } else {
                    Purpose::Subscribe
                };
                if purpose == Purpose::Subscribe && active {
                    "you are already a member".to_string()
                } else if purpose == Purpose::Unsubscribe
                    && member
                        .as_ref()
                        .is_none_or(|m| m.status == MemberStatus::Unsubscribed)
                {
                    "this address is not a member".to_string()
                } else {
                    // The profile given with subscribe is applied when the
                    // subscription's own confirmation is answered.
                    let carried = match &command {
                        Command::Subscribe(profile) => profile_lines(profile),
                        _ => String::new(),
                    };
                    send_confirmation(store, c, &secret, &from, purpose, &carried, &[], t, None)?;
                    // That mail says it all: no reply needed for this one.
                    results.push(json!({"command": line,
                                        "result": "a confirmation request was sent to you"}));
                    continue;
                }
            }
            Command::Confirm(tok) => {
                let (answer, done) = confirm(store, c, &secret, tok, &from, t, How::Email)?;
                if done {
                    // The welcome or goodbye says it all.
                    results.push(json!({"command": line, "result": answer}));
                    continue;
                }
                answer
            }
            cmd if cmd.changes_membership() => {
                if active {
                    changes.push(cmd.clone());
                    results.push(json!({"command": line,
                                        "result": "a confirmation request was sent to you; nothing changes until you answer it"}));
                    continue;
                }
                "only members can change their membership; send \"subscribe\" first".to_string()
            }
            Command::Help => {
                needs_reply = true;
                continue;
            }
            Command::Invalid(why) => why.clone(),
            Command::Unknown(_) => "not understood; the commands are listed below".to_string(),
            _ => "not understood; the commands are listed below".to_string(),
        };
        needs_reply = true;
        results.push(json!({"command": line, "result": result}));
    }
    if !changes.is_empty() {
        let carried: Vec<String> = changes.iter().map(Command::to_line).collect();
        send_confirmation(
            store,
            c,
            &secret,
            &from,
            Purpose::Change,
            &carried.join("\n"),
            &carried,
            t,
            None,
        )?;
    }
    if needs_reply {
        reply(store, c, &from, &p.subject, &request, &results)?;
    }
    Ok(())
}

/// Queues the reply to a message of commands: each line as written, then
/// its outcome, then the help text.
fn reply(
    store: &mut Store,
    c: &Community,
    from: &str,
    subject: &str,
    request: &str,
    results: &[serde_json::Value],
) -> Result<(), EffectError> {
    let text = c.templates().render(
        "help",
        &json!({"community": c.config.name, "list_address": c.config.address,
                "request_address": request, "results": results}),
    )?;
    auto_reply(
        store,
        c,
        from,
        &format!(
            "Re: {}",
            if subject.is_empty() {
                "your request"
            } else {
                subject
            }
        ),
        &text,
        None,
    )?;
    Ok(())
}

/// The profile given with subscribe as command lines ("set name …"), kept
/// with the subscription's confirmation.
fn profile_lines(p: &commands::Profile) -> String {
    [
        (Field::Name, &p.name),
        (Field::Organisation, &p.organisation),
        (Field::Place, &p.place),
        (Field::Interests, &p.interests),
    ]
    .into_iter()
    .filter_map(|(f, v)| v.clone().map(|v| Command::SetProfile(f, v).to_line()))
    .collect::<Vec<_>>()
    .join("\n")
}

/// Issues a token for `purpose`, records it with the `carried` command lines,
/// and mails the confirmation request (listing `changes` for a change).
/// With `web_base` (the community's base URL) the mail also carries the
/// web's confirm link, `{web_base}/c/{slug}/join/{token}`.
#[allow(clippy::too_many_arguments)]
pub(super) fn send_confirmation(
    store: &mut Store,
    c: &Community,
    secret: &[u8],
    from: &str,
    purpose: Purpose,
    carried: &str,
    changes: &[String],
    t: i64,
    web_base: Option<&str>,
) -> Result<(), EffectError> {
    let cfg = &c.config;
    let request = request_address(&cfg.address);
    let (local, domain) = cfg.address_parts().unwrap_or(("list", "localhost"));
    let tok = token::issue(
        secret,
        &cfg.slug,
        from,
        purpose,
        t,
        &rand::random::<[u8; token::NONCE_BYTES]>(),
    );
    store.add_confirmation(
        c.id,
        &tok,
        from,
        purpose.as_str(),
        carried,
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
    let text = c.templates().render(
        "confirm",
        &json!({"action": purpose.as_str(), "subscribe": purpose == Purpose::Subscribe,
                "change": purpose == Purpose::Change, "changes": changes,
                "address": from, "community": cfg.name, "confirm_address": confirm_address,
                "request_address": request, "token": tok,
                "confirm_url": web_base.map(|b| format!("{}/c/{}/join/{tok}", b.trim_end_matches('/'), cfg.slug))}),
    )?;
    auto_reply(
        store,
        c,
        from,
        &format!("confirm {tok}"),
        &text,
        Some(&confirm_address),
    )?;
    Ok(())
}

/// Carries out one confirmed change for an active member; the outcome line.
fn apply_change(
    store: &mut Store,
    c: &Community,
    from: &str,
    cmd: &Command,
    via: How,
) -> Result<String, EffectError> {
    let mut f = MemberFields::default();
    let said = match cmd {
        Command::SetDelivery(d) => {
            f.delivery = Some(*d);
            format!("your delivery mode is now {d}")
        }
        Command::SetDigestFormat(d) => {
            f.digest_format = Some(*d);
            format!("your digest format is now {d}")
        }
        Command::SetProfile(field, v) => {
            let slot = match field {
                Field::Name => &mut f.name,
                Field::Organisation => &mut f.organisation,
                Field::Place => &mut f.place,
                Field::Interests => &mut f.interests,
            };
            *slot = Some(v.clone());
            format!("your {} is now {v}", field.as_str())
        }
        _ => return Ok("nothing to change".into()),
    };
    store.set_member(c.id, from, &f, via.as_str())?;
    Ok(said)
}

/// The command lines a confirmation carries, read back with the grammar.
fn carried(row: &crate::store::Confirmation) -> Vec<Command> {
    row.commands
        .lines()
        .filter_map(commands::parse_line)
        .filter(Command::changes_membership)
        .collect()
}

/// Confirms a pending request, answered `via` mail or the web; returns the
/// result line and whether a mail of its own (a welcome, a goodbye) already
/// answers it.
pub(super) fn confirm(
    store: &mut Store,
    c: &Community,
    secret: &[u8],
    tok: &str,
    from: &str,
    t: i64,
    via: How,
) -> Result<(String, bool), EffectError> {
    let (cfg, community, templates) = (&c.config, c.id, c.templates());
    // The signature first: a forged code or one made for another address
    // is refused without touching the pending request.
    let purpose = Purpose::ALL
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
                        via.as_str(),
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
                        via.as_str(),
                    )?;
                    if let Some(Err(e)) = added.into_iter().next() {
                        return Ok((e, false));
                    }
                }
            }
            // The name, organisation and place given with subscribe.
            for cmd in carried(&row) {
                apply_change(store, c, from, &cmd, via)?;
            }
            store.log_member_change(community, "member-subscribe", from, via, t)?;
            let m = store.member(community, from)?;
            let field = |f: fn(&crate::store::Member) -> &String| {
                m.as_ref().map(|m| f(m).clone()).unwrap_or_default()
            };
            let text = templates.render(
                "welcome",
                &json!({"community": cfg.name, "name": field(|m| &m.name),
                        "organisation": field(|m| &m.organisation), "place": field(|m| &m.place),
                        "address": from, "list_address": cfg.address, "request_address": request,
                        "delivery": m.as_ref().map(|m| m.delivery.to_string()).unwrap_or_else(|| "each".into()),
                        "pending": status == MemberStatus::Pending,
                        "me_url": me_link(c, secret, from)}),
            )?;
            auto_reply(
                store,
                c,
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
            leave(store, c, from, via.as_str(), t)?;
            Ok(("you have left the community".into(), true))
        }
        Purpose::Change => {
            let active = store
                .member(community, from)?
                .is_some_and(|m| m.status == MemberStatus::Active);
            if !active {
                return Ok((
                    "this address is no longer a member; nothing changed".into(),
                    false,
                ));
            }
            let mut said = Vec::new();
            for cmd in carried(&row) {
                said.push(apply_change(store, c, from, &cmd, via)?);
            }
            store.log_member_change(community, "member-change", from, via, t)?;
            Ok((format!("confirmed: {}", said.join("; ")), false))
        }
    }
}

/// The member's own page, `BASE/c/SLUG/me/TOKEN`, when the community has
/// a link base (which needs the link secret, so `secret` is it).
pub(super) fn me_link(c: &Community, secret: &[u8], email: &str) -> Option<String> {
    let base = c.config.delivery.base_url.as_deref()?;
    let key = crate::deliver::links::LinkKey::from_bytes(secret);
    Some(crate::deliver::links::me_url(base, &key, c.slug(), email))
}

/// `email` leaves `community`: unsubscribed (kept, for the archive's
/// attributions), the change in the audit log as made `via` ("email",
/// "one-click", "web"), and a goodbye notice queued.
pub(super) fn leave(
    store: &mut Store,
    c: &Community,
    email: &str,
    via: &str,
    t: i64,
) -> Result<(), EffectError> {
    let (cfg, community) = (&c.config, c.id);
    store.set_member(
        community,
        email,
        &MemberFields {
            status: Some(MemberStatus::Unsubscribed),
            ..Default::default()
        },
        via,
    )?;
    let how = if via == "one-click" || via == "web" {
        How::Web
    } else {
        How::Email
    };
    store.log_member_change(community, "member-unsubscribe", email, how, t)?;
    let text = c.templates().render(
        "goodbye",
        &json!({"community": cfg.name, "address": email, "request_address": request_address(&cfg.address)}),
    )?;
    // Within the sender's rate of automatic replies, like every notice to them.
    auto_reply(
        store,
        c,
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
    c: &Community,
    email: &str,
) -> Result<bool, EffectError> {
    match store.member(c.id, email)? {
        Some(m) if m.status != MemberStatus::Unsubscribed => {
            leave(store, c, email, "one-click", now())?;
            info!(community = %c.slug(), member = %email, "left by one-click unsubscribe");
            Ok(true)
        }
        _ => Ok(false),
    }
}
