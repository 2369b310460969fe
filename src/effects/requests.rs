//! Requests by mail to the -request address (subscribe, unsubscribe,
//! confirm, set delivery, set digest, help), their confirmations, leaving,
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
use crate::moderation::commands::{self, Command};
use crate::moderation::token::{self, Purpose};
use crate::store::{MemberFields, NewMember, Store, now};

/// Carries out the commands of a message to the -request address and replies.
pub(super) fn run_commands(
    store: &mut Store,
    config: &Config,
    c: &Community,
    p: &parse::Parsed,
    envelope_to: Option<&str>,
) -> Result<(), EffectError> {
    let (cfg, community, templates) = (&c.config, c.id, c.templates());
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
                        c,
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
                let (line, done) = confirm(store, c, &secret, tok, &from, t)?;
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
            c,
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
fn confirm(
    store: &mut Store,
    c: &Community,
    secret: &[u8],
    tok: &str,
    from: &str,
    t: i64,
) -> Result<(String, bool), EffectError> {
    let (cfg, community, templates) = (&c.config, c.id, c.templates());
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
            leave(store, c, from, "email", t)?;
            Ok(("you have left the community".into(), true))
        }
    }
}

/// `email` leaves `community`: unsubscribed (kept, for the archive's
/// attributions), the change in the audit log as made `via` ("email",
/// "one-click"), and a goodbye notice queued.
fn leave(
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
    store.log_member_change(community, "member-unsubscribe", email, t)?;
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
