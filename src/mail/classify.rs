//! Decides what an ingested message is before any policy runs: a loop, a
//! bounce, an automatic reply, an email command, or a post. Pure.
//!
//! The list mailbox receives the post address, `LOCAL-request@` (commands),
//! `LOCAL-bounces+…@` (VERP bounces) and `LOCAL-owner@`; the envelope
//! recipient (LMTP RCPT, the MTA pipe's, or Delivered-To / X-Original-To)
//! tells them apart, and To/Cc only when there is no envelope at all.

use crate::mail::parse::Parsed;
use crate::model::PostClass;

/// Which of the list's addresses a message was sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// The posting address.
    Post,
    /// `LOCAL-request@`, `LOCAL-join@`, `LOCAL-leave@`, `LOCAL-confirm+TOKEN@`, ...
    /// with the part after the list's local part (e.g. "request", "confirm+abc").
    Command(String),
    /// `LOCAL-bounces@` or `LOCAL-bounces+TAG@`, with the VERP tag.
    Bounces(Option<String>),
    /// `LOCAL-owner@`.
    Owner,
    /// None of the list's addresses.
    Other,
}

/// Classifies one address against the list address (`local@domain`).
pub fn recipient_kind(address: &str, list_address: &str) -> Recipient {
    let address = address.trim().to_ascii_lowercase();
    let list = list_address.to_ascii_lowercase();
    let (Some((local, domain)), Some((list_local, list_domain))) =
        (address.rsplit_once('@'), list.rsplit_once('@'))
    else {
        return Recipient::Other;
    };
    if domain != list_domain {
        return Recipient::Other;
    }
    if local == list_local {
        return Recipient::Post;
    }
    // Plus-addressing on the post address itself: list+subscribe@.
    if let Some(tag) = local.strip_prefix(&format!("{list_local}+")) {
        return Recipient::Command(tag.to_string());
    }
    let Some(suffix) = local.strip_prefix(&format!("{list_local}-")) else {
        return Recipient::Other;
    };
    let (word, tag) = match suffix.split_once('+') {
        Some((w, t)) => (w, Some(t.to_string())),
        None => (suffix, None),
    };
    match word {
        "bounces" => Recipient::Bounces(tag),
        "owner" => Recipient::Owner,
        "request" | "join" | "leave" | "subscribe" | "unsubscribe" | "confirm" => {
            Recipient::Command(suffix.to_string())
        }
        _ => Recipient::Other,
    }
}

/// Which list address this message was sent to: the envelope first, then
/// Delivered-To / X-Original-To, then To/Cc.
pub fn recipient(p: &Parsed, envelope_to: Option<&str>, list_address: &str) -> Recipient {
    if let Some(env) = envelope_to {
        return recipient_kind(env, list_address);
    }
    for d in &p.delivered_to {
        let k = recipient_kind(d, list_address);
        if k != Recipient::Other {
            return k;
        }
    }
    let mut best = Recipient::Other;
    for a in &p.to_cc {
        match recipient_kind(a, list_address) {
            Recipient::Post => return Recipient::Post,
            Recipient::Other => {}
            k => best = k,
        }
    }
    if best == Recipient::Other {
        // Bcc'd or sent through an alias: treat it as a post to the list.
        Recipient::Post
    } else {
        best
    }
}

/// The List-Id praxis writes for a list address: `local.domain`.
pub fn list_id_for(list_address: &str) -> String {
    list_address.to_ascii_lowercase().replacen('@', ".", 1)
}

/// Subject openings of vacation and out-of-office replies.
const AUTO_SUBJECTS: &[&str] = &[
    "auto:",
    "autoreply",
    "auto-reply",
    "auto reply",
    "automatic reply",
    "automatische antwort",
    "réponse automatique",
    "out of office",
    "out of the office",
    "away from my mail",
    "away from the office",
    "on vacation",
    "vacation reply",
    "abwesenheitsnotiz",
    "i am out of office",
];

/// Classifies a parsed message for a list.
pub fn classify(p: &Parsed, envelope_to: Option<&str>, list_address: &str) -> PostClass {
    let our_id = list_id_for(list_address);
    let list = list_address.to_ascii_lowercase();
    if p.list_id.as_deref() == Some(our_id.as_str())
        || p.x_loop.iter().any(|x| *x == list || *x == our_id)
    {
        return PostClass::Loop;
    }
    let to = recipient(p, envelope_to, list_address);
    let is_report =
        p.content_type == "multipart/report" && p.report_type.as_deref() == Some("delivery-status");
    let from_daemon = {
        let local = p.from_addr.split('@').next().unwrap_or("");
        local == "mailer-daemon" || local == "postmaster"
    };
    if matches!(to, Recipient::Bounces(_))
        || is_report
        || (from_daemon && p.return_path.as_deref() == Some(""))
    {
        return PostClass::Bounce;
    }
    if is_auto_reply(p) {
        return PostClass::AutoReply;
    }
    match to {
        Recipient::Command(_) | Recipient::Owner => PostClass::Command,
        _ => PostClass::Post,
    }
}

/// RFC 3834 and the usual vacation-responder signs.
pub fn is_auto_reply(p: &Parsed) -> bool {
    if p.auto_submitted.as_deref().is_some_and(|v| v != "no") {
        return true;
    }
    if p.precedence
        .as_deref()
        .is_some_and(|v| matches!(v, "bulk" | "junk" | "list" | "auto_reply"))
    {
        return true;
    }
    if p.x_autoreply || p.return_path.as_deref() == Some("") {
        return true;
    }
    let subject = p.subject.to_lowercase();
    AUTO_SUBJECTS.iter().any(|s| subject.starts_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::parse::parse;

    const LIST: &str = "list@example.test";

    fn msg(headers: &str) -> Parsed {
        let raw = format!("From: Alice <alice@example.org>\nSubject: Hello\n{headers}\n\nbody\n");
        parse(raw.as_bytes()).unwrap()
    }

    #[test]
    fn recipients() {
        use Recipient::*;
        let cases = [
            ("list@example.test", Post),
            ("LIST@Example.Test", Post),
            ("list-request@example.test", Command("request".into())),
            (
                "list-confirm+abc123@example.test",
                Command("confirm+abc123".into()),
            ),
            ("list+subscribe@example.test", Command("subscribe".into())),
            ("list-bounces@example.test", Bounces(None)),
            (
                "list-bounces+bob=example.org@example.test",
                Bounces(Some("bob=example.org".into())),
            ),
            ("list-owner@example.test", Owner),
            ("list-other@example.test", Other),
            ("list@example.org", Other),
            ("alice@example.test", Other),
            ("nonsense", Other),
        ];
        for (addr, want) in cases {
            assert_eq!(recipient_kind(addr, LIST), want, "{addr}");
        }
    }

    #[test]
    fn classes() {
        let cases: &[(&str, Option<&str>, PostClass)] = &[
            ("To: list@example.test", None, PostClass::Post),
            (
                "To: list@example.test",
                Some("list@example.test"),
                PostClass::Post,
            ),
            (
                "To: list@example.test",
                Some("list-request@example.test"),
                PostClass::Command,
            ),
            ("To: list-request@example.test", None, PostClass::Command),
            (
                "Delivered-To: list-request@example.test\nTo: list@example.test",
                None,
                PostClass::Command,
            ),
            (
                "Delivered-To: list-owner@example.test",
                None,
                PostClass::Command,
            ),
            (
                "To: x@y.org",
                Some("list-bounces+bob=example.org@example.test"),
                PostClass::Bounce,
            ),
            (
                "Content-Type: multipart/report; report-type=delivery-status; boundary=x",
                None,
                PostClass::Bounce,
            ),
            ("List-Id: Health <list.example.test>", None, PostClass::Loop),
            ("X-Loop: list@example.test", None, PostClass::Loop),
            (
                "List-Id: <other.example.org>\nTo: list@example.test",
                None,
                PostClass::Post,
            ),
            ("Auto-Submitted: auto-replied", None, PostClass::AutoReply),
            ("Auto-Submitted: no", None, PostClass::Post),
            ("Precedence: bulk", None, PostClass::AutoReply),
            ("Precedence: junk", None, PostClass::AutoReply),
            ("X-Autoreply: yes", None, PostClass::AutoReply),
            ("Return-Path: <>", None, PostClass::AutoReply),
            // A vacation reply to the -request address is an auto-reply, not a command.
            (
                "Auto-Submitted: auto-replied",
                Some("list-request@example.test"),
                PostClass::AutoReply,
            ),
        ];
        for (headers, env, want) in cases {
            assert_eq!(
                classify(&msg(headers), *env, LIST),
                *want,
                "{headers} / {env:?}"
            );
        }
    }

    #[test]
    fn vacation_subjects() {
        for s in [
            "Out of Office: Re: clinics",
            "Automatic reply: hello",
            "AUTO: away",
            "Réponse automatique : x",
        ] {
            let p = parse(format!("From: a@b.org\nSubject: {s}\n\nx\n").as_bytes()).unwrap();
            assert!(is_auto_reply(&p), "{s}");
        }
        let p = parse(b"From: a@b.org\nSubject: Re: automation of clinics\n\nx\n").unwrap();
        assert!(!is_auto_reply(&p));
    }

    #[test]
    fn mailer_daemon_with_null_sender_is_a_bounce() {
        let p = parse(b"From: MAILER-DAEMON@mx.example.org\nReturn-Path: <>\nSubject: Undelivered Mail\n\nx\n").unwrap();
        assert_eq!(classify(&p, None, LIST), PostClass::Bounce);
    }
}
