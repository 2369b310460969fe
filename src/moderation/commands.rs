//! Email commands to a community's `-request` address (and `+subscribe`,
//! `-join`, `-leave`, `-confirm+TOKEN` address tags): parsed from the
//! address tag, the subject and the first lines of the body. Pure.
//!
//! Like Mailman, parsing stops at the first line that is not a command
//! (after a few), at a signature ("-- "), and skips quoted text, so a reply
//! to a confirmation mail works from any mail client.

use crate::model::{Delivery, DigestFormat};

/// Most command lines read from one message.
pub const MAX_COMMANDS: usize = 10;

/// One email command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Join the community (always confirmed by mail).
    Subscribe,
    /// Leave the community (always confirmed by mail).
    Unsubscribe,
    /// Send the help text.
    Help,
    /// Change how mail reaches the member.
    SetDelivery(Delivery),
    /// Change the digest's format.
    SetDigestFormat(DigestFormat),
    /// Confirm a pending subscribe or unsubscribe.
    Confirm(String),
    /// Something that is not a command, kept for the reply.
    Unknown(String),
}

/// The command named by an address tag after the list's local part
/// ("request", "join", "leave", "subscribe", "unsubscribe", "confirm+TOKEN").
pub fn from_address_tag(tag: &str) -> Option<Command> {
    let (word, rest) = match tag.split_once('+') {
        Some((w, r)) => (w, Some(r)),
        None => (tag, None),
    };
    match (word, rest) {
        ("join" | "subscribe", _) => Some(Command::Subscribe),
        ("leave" | "unsubscribe", _) => Some(Command::Unsubscribe),
        ("confirm", Some(token)) if !token.is_empty() => Some(Command::Confirm(token.to_string())),
        ("request", Some(sub)) => from_address_tag(sub),
        _ => None,
    }
}

/// Parses one line; `None` when the line is not a command.
pub fn parse_line(line: &str) -> Option<Command> {
    let words: Vec<String> = line
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| c == ':' || c == ',')
                .to_ascii_lowercase()
        })
        .collect();
    let w: Vec<&str> = words.iter().map(|s| s.as_str()).collect();
    match w.as_slice() {
        ["subscribe" | "join", ..] => Some(Command::Subscribe),
        ["unsubscribe" | "leave" | "signoff", ..] => Some(Command::Unsubscribe),
        ["help", ..] | ["info", ..] => Some(Command::Help),
        ["confirm", token, ..] => Some(Command::Confirm(
            line.split_whitespace().nth(1).unwrap_or(token).to_string(),
        )),
        ["set", "delivery", mode] => mode.parse().ok().map(Command::SetDelivery),
        // Mailman's words for the modes.
        ["set", "digest", "on"] => Some(Command::SetDelivery(Delivery::Digest)),
        ["set", "nomail"] => Some(Command::SetDelivery(Delivery::None)),
        ["set", "digest", fmt] | ["set", "format", fmt] => {
            fmt.parse().ok().map(Command::SetDigestFormat)
        }
        _ => None,
    }
}

/// The commands of a message sent to the -request address.
pub fn parse(tag: Option<&str>, subject: &str, body: &str) -> Vec<Command> {
    let mut out = Vec::new();
    if let Some(c) = tag.and_then(from_address_tag) {
        out.push(c);
    }
    let subject = crate::thread::strip_prefixes(subject);
    if let Some(c) = parse_line(subject) {
        out.push(c);
    } else if let Some(token) = confirmation_in_subject(subject) {
        out.push(Command::Confirm(token));
    }
    let mut misses = 0;
    for line in body.lines() {
        let t = line.trim();
        if t == "--" || line.starts_with("-- ") {
            break;
        }
        if t.is_empty() || t.starts_with('>') {
            continue;
        }
        match parse_line(t) {
            Some(c) => {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
            None => {
                misses += 1;
                if out.is_empty() && misses <= 3 {
                    out.push(Command::Unknown(t.chars().take(80).collect()));
                }
                if misses >= 3 {
                    break;
                }
            }
        }
        if out.len() >= MAX_COMMANDS {
            break;
        }
    }
    out
}

/// A confirmation subject as praxis sends it: "confirm TOKEN" anywhere in it.
fn confirmation_in_subject(subject: &str) -> Option<String> {
    let words: Vec<&str> = subject.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[0].eq_ignore_ascii_case("confirm"))
        .map(|w| w[1].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_tags() {
        let cases = [
            ("join", Some(Command::Subscribe)),
            ("request+subscribe", Some(Command::Subscribe)),
            ("leave", Some(Command::Unsubscribe)),
            ("unsubscribe", Some(Command::Unsubscribe)),
            ("confirm+abc.def", Some(Command::Confirm("abc.def".into()))),
            ("confirm", None),
            ("request", None),
        ];
        for (tag, want) in cases {
            assert_eq!(from_address_tag(tag), want, "{tag}");
        }
    }

    #[test]
    fn lines() {
        let cases = [
            ("subscribe", Some(Command::Subscribe)),
            ("Subscribe me please", Some(Command::Subscribe)),
            ("UNSUBSCRIBE", Some(Command::Unsubscribe)),
            ("help", Some(Command::Help)),
            (
                "set delivery digest",
                Some(Command::SetDelivery(Delivery::Digest)),
            ),
            (
                "set delivery consolidated",
                Some(Command::SetDelivery(Delivery::Consolidated)),
            ),
            ("set delivery weekly", None),
            (
                "set digest plain",
                Some(Command::SetDigestFormat(DigestFormat::Plain)),
            ),
            ("set nomail", Some(Command::SetDelivery(Delivery::None))),
            (
                "set digest on",
                Some(Command::SetDelivery(Delivery::Digest)),
            ),
            ("confirm AbC.123", Some(Command::Confirm("AbC.123".into()))),
            ("Thanks for the list!", None),
        ];
        for (line, want) in cases {
            assert_eq!(parse_line(line), want, "{line}");
        }
    }

    #[test]
    fn messages() {
        // A reply to a confirmation mail: the token is in the subject; the
        // quoted original and the signature are ignored.
        let cmds = parse(
            None,
            "Re: confirm Tok.En123",
            "Yes\n\n> Reply to this message to confirm.\n> unsubscribe\n-- \nAlice\nunsubscribe\n",
        );
        assert_eq!(cmds[0], Command::Confirm("Tok.En123".into()));
        assert!(!cmds.contains(&Command::Unsubscribe));

        let cmds = parse(None, "", "set delivery digest\nset digest html\nhelp\n");
        assert_eq!(
            cmds,
            [
                Command::SetDelivery(Delivery::Digest),
                Command::SetDigestFormat(DigestFormat::Html),
                Command::Help
            ]
        );
        assert_eq!(parse(Some("join"), "", ""), [Command::Subscribe]);
        assert_eq!(
            parse(None, "Hello", "What is this list about?\n"),
            [Command::Unknown("What is this list about?".into())]
        );
        assert!(parse(None, "", "").is_empty());
    }
}
