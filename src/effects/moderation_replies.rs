//! Moderation by email: the hold notice each moderator gets (the held
//! post's text and a single-use reply address of their own), and carrying
//! out a moderator's reply to it (`approve`, `reject REASON`, `discard`)
//! through the same `store::decide` path as the command line.
//!
//! A reply decides only when its code is one praxis made for this post and
//! this moderator, it comes from that moderator's address, and the address
//! is still a moderator of the community; anything else is logged, decides
//! nothing and gets no answer.

use serde_json::json;
use tracing::{info, warn};

use super::EffectError;
use super::notices::notice;
use super::secret::token_secret;
use crate::community::Community;
use crate::config::Config;
use crate::deliver::verp::request_address;
use crate::mail::classify::{Recipient, recipient};
use crate::mail::parse::Parsed;
use crate::moderation::token::{self, TokenError};
use crate::store::audit::How;
use crate::store::{Action, PostView, Store, StoreError, now};

/// How much of a held post's text a notice carries, in characters.
const EXCERPT_CHARS: usize = 3000;

/// What follows the list's local part in a moderation reply address:
/// `LOCAL-request+mod-TOKEN@` (the -request mailbox receives it).
const TAG: &str = "request+mod-";

/// Tells each moderator of `c` that `view` is held, each with their own
/// single-use reply address for deciding it by mail.
pub(super) fn hold_notice(
    store: &mut Store,
    config: &Config,
    c: &Community,
    view: &PostView,
    reason: &str,
) -> Result<usize, EffectError> {
    let secret = token_secret(config)?;
    let t = now();
    let (local, domain) = c.config.address_parts().unwrap_or(("list", "localhost"));
    let request = request_address(&c.config.address);
    let (text, more) = excerpt(&view.text, EXCERPT_CHARS);
    let related = related_lines(store, c, view)?;
    let moderators = store.moderators(c.id)?;
    for m in &moderators {
        let tok = token::issue_moderation(
            &secret,
            &c.config.slug,
            &m.email,
            view.id.0,
            t,
            &rand::random::<[u8; token::NONCE_BYTES]>(),
        );
        store.add_moderation_token(c.id, &tok, view.id, &m.email, t, t + token::LIFETIME_SECS)?;
        // The code in the address when it fits RFC 5321's 64-octet local
        // part; else the -request address, with the code in the subject.
        let tagged = format!("{local}-{TAG}{tok}");
        let (reply_to, code) = if tagged.len() <= 64 {
            (format!("{tagged}@{domain}"), String::new())
        } else {
            (request.clone(), format!(" [mod-{tok}]"))
        };
        let body = c.templates().render(
            "hold",
            &json!({"community": c.name(), "post": view.id.0, "from": view.from,
                    "subject": view.subject, "reason": reason, "text": text,
                    "truncated": more, "reply_to": reply_to, "related": related}),
        )?;
        notice(
            store,
            c,
            &m.email,
            &format!("Held ({reason}): {}{code}", view.subject),
            &body,
            Some(&reply_to),
        )?;
    }
    Ok(moderators.len())
}

/// How many earlier threads a hold notice lists.
const RELATED: usize = 3;

/// For a held post that starts a thread, the earlier threads that may
/// answer it (at most [`RELATED`], best first) as the hold notice lists
/// them: subject, score, links (whole URLs when the community has a web
/// address), whether a Consolidated Reply answers it. Empty for a reply:
/// it belongs to its thread. A failed search costs the notice only its
/// list, never the notice.
pub(super) fn related_lines(
    store: &Store,
    c: &Community,
    view: &PostView,
) -> Result<Vec<serde_json::Value>, EffectError> {
    if !store.starts_thread(view.id)? {
        return Ok(Vec::new());
    }
    let found = match store.related_to_post(view.id, RELATED) {
        Ok(found) => found,
        Err(e) => {
            warn!(post = %view.id, "no related threads for the hold notice: {e}");
            return Ok(Vec::new());
        }
    };
    // Links only with the community's web address: a bare path is no
    // link in a mail client.
    let base = c
        .config
        .delivery
        .base_url
        .as_deref()
        .map(|b| b.trim_end_matches('/').to_string());
    Ok(found
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let link = |path: String| {
                base.as_ref()
                    .map_or(String::new(), |b| format!("{b}{path}"))
            };
            json!({"n": i + 1, "subject": t.subject, "score": format!("{:.1}", t.score),
                   "thread": t.thread_id.0, "reply": t.consolidated_reply.is_some(),
                   "thread_link": link(t.link.clone()),
                   "reply_link": link(format!("/c/{}/replies/{}", t.community, t.thread_id))})
        })
        .collect())
}

/// The post's text for a notice: control characters other than newlines
/// and tabs removed, cut at a line or word end within `max` characters;
/// and how many characters were left out.
fn excerpt(text: &str, max: usize) -> (String, usize) {
    let clean: String = text
        .replace("\r\n", "\n")
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .filter(|c| !matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        .collect();
    let clean = clean.trim_end();
    let total = clean.chars().count();
    if total <= max {
        return (clean.to_string(), 0);
    }
    let cut: String = clean.chars().take(max).collect();
    let end = cut
        .rfind('\n')
        .filter(|i| *i >= cut.len() / 2)
        .or_else(|| cut.rfind(' ').filter(|i| *i >= cut.len() / 2))
        .unwrap_or(cut.len());
    let kept = cut[..end].trim_end().to_string();
    let left = total - kept.chars().count();
    (kept, left)
}

/// The code of a moderation reply: from its address tag, or (when the
/// address had no room for it) from `[mod-CODE]` in the subject.
fn code_of(tag: Option<&str>, subject: &str) -> Option<String> {
    if let Some(code) = tag.and_then(|t| t.strip_prefix(TAG))
        && !code.is_empty()
    {
        return Some(code.to_string());
    }
    let at = subject.to_ascii_lowercase().find("[mod-")?;
    let rest = &subject[at + 5..];
    let code: String = rest
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '.')
        .collect();
    (!code.is_empty() && rest[code.len()..].starts_with(']')).then_some(code)
}

/// The decision in a moderator's reply: its first line of their own (not
/// quoted, before any signature). `Err` says what to write instead.
fn decision(text: &str) -> Result<(Action, Option<String>), &'static str> {
    let line = text
        .lines()
        .map(str::trim)
        .take_while(|l| *l != "--")
        .find(|l| !l.is_empty() && !l.starts_with('>'))
        .unwrap_or("");
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let word = word
        .trim_matches(|c: char| !c.is_alphanumeric())
        .to_ascii_lowercase();
    match word.as_str() {
        "approve" | "approved" => Ok((Action::Approve, None)),
        "discard" => Ok((Action::Discard, None)),
        "reject" if !rest.trim().is_empty() => Ok((Action::Reject, Some(rest.trim().to_string()))),
        "reject" => Err("reject needs a reason the author will read: `reject REASON`"),
        _ => Err("the first line of a reply says `approve`, `reject REASON` or `discard`"),
    }
}

/// When `p`, mail to the -request address, answers a hold notice: carries
/// out the moderator's decision and returns true. False when it is no such
/// reply (the caller reads it as commands).
pub(super) fn handle(
    store: &mut Store,
    config: &Config,
    c: &Community,
    p: &Parsed,
    envelope_to: Option<&str>,
) -> Result<bool, EffectError> {
    let tag = match recipient(p, envelope_to, &c.config.address) {
        Recipient::Command(tag) => Some(tag),
        _ => None,
    };
    let Some(code) = code_of(tag.as_deref(), &p.subject) else {
        return Ok(false);
    };
    let from = p.from_addr.to_ascii_lowercase();
    let t = now();
    let Some(row) = store.moderation_token(c.id, &code)? else {
        warn!(from = %from, "a reply to a hold notice with a code praxis did not make: nothing decided");
        return Ok(true);
    };
    let moderator = store
        .moderators(c.id)?
        .iter()
        .any(|m| m.email.eq_ignore_ascii_case(&from));
    let secret = token_secret(config)?;
    match token::verify_moderation(&secret, &code, &c.config.slug, &from, row.post.0, t) {
        Ok(()) if moderator => {}
        Err(TokenError::Expired) if moderator => {
            answer(
                store,
                c,
                &from,
                row.post.0,
                &format!(
                    "The code for post {} has expired; decide it with `praxis approve|reject|discard {}`.",
                    row.post, row.post
                ),
            )?;
            return Ok(true);
        }
        verdict => {
            warn!(from = %from, post = %row.post, ?verdict, moderator,
                  "a reply to a hold notice not from its moderator: nothing decided");
            return Ok(true);
        }
    }
    let (action, reason) = match decision(&p.text) {
        Ok(d) => d,
        Err(how) => {
            answer(
                store,
                c,
                &from,
                row.post.0,
                &format!("Post {} is still held: {how}.", row.post),
            )?;
            return Ok(true);
        }
    };
    let said = match store.decide_how(
        row.post,
        action,
        &from,
        reason.as_deref(),
        false,
        How::Email,
    ) {
        Ok(d) => {
            store.use_moderation_token(c.id, &code, t)?;
            super::after_decision(store, c, &d, action, reason.as_deref())?;
            info!(post = %d.post, moderator = %from, action = action.as_str(), "decided by email");
            let verb = match action {
                Action::Approve => "approved and distributed",
                Action::Reject => "rejected; the author was told why",
                _ => "discarded",
            };
            format!("Post {} ({}) is {verb}.", d.post, d.subject)
        }
        Err(StoreError::AlreadyDecided {
            post,
            what,
            who,
            at,
            ..
        }) => {
            store.use_moderation_token(c.id, &code, t)?;
            let when = chrono::DateTime::from_timestamp(at, 0)
                .map(|d| {
                    d.with_timezone(&c.config.timezone)
                        .format("%Y-%m-%d %H:%M")
                        .to_string()
                })
                .unwrap_or_default();
            format!(
                "Post {post} was already decided: {what} by {who} at {when} ({}). Your reply changed nothing.",
                c.config.timezone
            )
        }
        Err(e) => return Err(e.into()),
    };
    answer(store, c, &from, row.post.0, &said).map(|_| true)
}

/// Tells a moderator what their reply did.
fn answer(
    store: &mut Store,
    c: &Community,
    to: &str,
    post: i64,
    result: &str,
) -> Result<(), EffectError> {
    let text = c.templates().render(
        "decided",
        &json!({"community": c.name(), "post": post, "result": result}),
    )?;
    notice(
        store,
        c,
        to,
        &format!("Post {post}: your decision by email"),
        &text,
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_own_line_decides() {
        assert_eq!(
            decision("Approve\n\n> A post\n"),
            Ok((Action::Approve, None))
        );
        assert_eq!(
            decision("\n> quoted approve\ndiscard."),
            Ok((Action::Discard, None))
        );
        assert_eq!(
            decision("reject Off topic here\napprove"),
            Ok((Action::Reject, Some("Off topic here".into())))
        );
        assert!(decision("reject\n").is_err(), "a rejection needs a reason");
        assert!(
            decision("-- \napprove").is_err(),
            "nothing above the signature"
        );
        assert!(decision("sure, why not").is_err());
    }

    #[test]
    fn codes_from_the_address_or_the_subject() {
        assert_eq!(
            code_of(Some("request+mod-ab.cd.ef"), "x").as_deref(),
            Some("ab.cd.ef")
        );
        assert_eq!(
            code_of(Some("request"), "Re: Held: x [mod-12.ab.cd]").as_deref(),
            Some("12.ab.cd")
        );
        assert_eq!(code_of(Some("request"), "Re: Held: x [mod-12.zz]"), None);
        assert_eq!(code_of(Some("confirm+ab"), "subscribe"), None);
        assert_eq!(code_of(None, "Held"), None);
    }

    #[test]
    fn excerpts_are_plain_and_cut_at_a_line() {
        let (t, more) = excerpt("Hello\u{1b}[31m red\r\n\u{202e}evil", 100);
        assert_eq!((t.as_str(), more), ("Hello[31m red\nevil", 0));
        let long = "line one is here\n".repeat(20);
        let (t, more) = excerpt(&long, 50);
        assert_eq!(t, "line one is here\nline one is here");
        assert_eq!(more, long.trim_end().chars().count() - t.chars().count());
    }
}
