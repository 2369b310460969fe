//! Email commands to a community's `-request` address (and `+subscribe`,
//! `-join`, `-leave`, `-confirm+TOKEN` address tags): parsed from the
//! address tag, the subject and the first lines of the body. Pure.
//!
//! Long because the grammar's unit tests (every command form, profile
//! values, administrivia, quoted replies) sit beside the rules they check.
//!
//! Like Mailman, parsing stops at the first line that is not a command
//! (after a few), at a signature ("-- "), and skips quoted text, so a reply
//! to a confirmation mail works from any mail client.

use crate::model::{Delivery, DigestFormat};

/// Most command lines read from one message.
pub const MAX_COMMANDS: usize = 10;

/// Longest name, organisation or place accepted by mail, in characters.
pub const MAX_PROFILE_CHARS: usize = 120;

/// The longest list of interests taken (a few topics, comma-separated).
pub const MAX_INTERESTS_CHARS: usize = 300;

/// Most words in a line that counts as a command sent to the posting address
/// (a longer line is a sentence that merely mentions one).
const ADMINISTRIVIA_WORDS: usize = 6;

/// The words a join or leave request is made of when it is one:
/// the command and politeness.
const FILLER: &[&str] = &[
    "subscribe",
    "unsubscribe",
    "join",
    "leave",
    "signoff",
    "remove",
    "me",
    "please",
    "from",
    "this",
    "the",
    "list",
    "mailing",
    "to",
    "my",
    "address",
    "thanks",
    "thank",
    "you",
    "kindly",
];

/// What `set` is followed by in a command.
const SET_WORDS: &[&str] = &[
    "delivery",
    "digest",
    "format",
    "nomail",
    "name",
    "organisation",
    "organization",
    "place",
    "interests",
    "interest",
];

/// Name, organisation and place given with `subscribe` (for the Consolidated
/// Reply's attributions); each `None` when not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// The member's name as it appears in attributions.
    pub name: Option<String>,
    /// Their organisation, for attribution.
    pub organisation: Option<String>,
    /// Their place, for attribution.
    pub place: Option<String>,
    /// What they know about.
    pub interests: Option<String>,
}

/// One field of a member's profile settable by mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `set name …`.
    Name,
    /// `set organisation …` (or `organization`).
    Organisation,
    /// `set place …`.
    Place,
    /// `set interests …`: what they know about, for `praxis experts`.
    Interests,
}

impl Field {
    /// The word used in commands and replies.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Organisation => "organisation",
            Field::Place => "place",
            Field::Interests => "interests",
        }
    }

    /// The longest value taken.
    pub fn max_chars(self) -> usize {
        match self {
            Field::Interests => MAX_INTERESTS_CHARS,
            _ => MAX_PROFILE_CHARS,
        }
    }

    fn from_word(w: &str) -> Option<Field> {
        match w.to_ascii_lowercase().as_str() {
            "name" => Some(Field::Name),
            "organisation" | "organization" | "org" => Some(Field::Organisation),
            "place" => Some(Field::Place),
            "interests" | "interest" => Some(Field::Interests),
            _ => None,
        }
    }
}

/// One email command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Join the community (always confirmed by mail), with the profile
    /// values given on the line (applied when the confirmation is answered).
    Subscribe(Profile),
    /// Leave the community (always confirmed by mail).
    Unsubscribe,
    /// Send the help text.
    Help,
    /// Change how mail reaches the member (confirmed by mail).
    SetDelivery(Delivery),
    /// Change the digest's format (confirmed by mail).
    SetDigestFormat(DigestFormat),
    /// Change the member's name, organisation or place (confirmed by mail).
    SetProfile(Field, String),
    /// Confirm a pending request.
    Confirm(String),
    /// A command with a bad value: the line and what is wrong with it.
    Invalid(String),
    /// Something that is not a command, kept for the reply.
    Unknown(String),
}

impl Command {
    /// Whether carrying it out changes a membership (and so is confirmed).
    pub fn changes_membership(&self) -> bool {
        matches!(
            self,
            Command::SetDelivery(_) | Command::SetDigestFormat(_) | Command::SetProfile(..)
        )
    }

    /// The command as one line this grammar reads back: what a pending
    /// change is stored as until its confirmation is answered.
    pub fn to_line(&self) -> String {
        match self {
            Command::Subscribe(_) => "subscribe".into(),
            Command::Unsubscribe => "unsubscribe".into(),
            Command::Help => "help".into(),
            Command::SetDelivery(d) => format!("set delivery {d}"),
            Command::SetDigestFormat(f) => format!("set digest {f}"),
            Command::SetProfile(field, v) => format!("set {} {v}", field.as_str()),
            Command::Confirm(t) => format!("confirm {t}"),
            Command::Invalid(l) | Command::Unknown(l) => l.clone(),
        }
    }
}

/// One command with the line it was read from, echoed in the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The line as the member wrote it ("(address)" for an address tag).
    pub text: String,
    /// What it asks for.
    pub command: Command,
}

/// Checks a name, organisation or place given by mail: trimmed, surrounding
/// quotes removed, non-empty, at most [`MAX_PROFILE_CHARS`], no control or
/// bidi-override characters. The error says what is wrong and what to send.
pub fn profile_value(field: Field, raw: &str) -> Result<String, String> {
    let mut v = raw.trim();
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        v = v[1..v.len() - 1].trim();
    }
    let f = field.as_str();
    if v.is_empty() {
        return Err(format!(
            "the {f} is empty; send e.g. \"set {f} {}\"",
            example(field)
        ));
    }
    if v.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(format!(
            "the {f} contains control characters; send plain text, e.g. \"set {f} {}\"",
            example(field)
        ));
    }
    let n = v.chars().count();
    if n > field.max_chars() {
        return Err(format!(
            "the {f} is {n} characters long; use at most {}",
            field.max_chars()
        ));
    }
    Ok(v.to_string())
}

fn example(field: Field) -> &'static str {
    match field {
        Field::Name => "Asha Rao",
        Field::Organisation => "PHFI",
        Field::Place => "Delhi",
        Field::Interests => "cold chain, solar fridges",
    }
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// The command named by an address tag after the list's local part
/// ("request", "join", "leave", "subscribe", "unsubscribe", "confirm+TOKEN").
pub fn from_address_tag(tag: &str) -> Option<Command> {
    let (word, rest) = match tag.split_once('+') {
        Some((w, r)) => (w, Some(r)),
        None => (tag, None),
    };
    match (word, rest) {
        ("join" | "subscribe", _) => Some(Command::Subscribe(Profile::default())),
        ("leave" | "unsubscribe", _) => Some(Command::Unsubscribe),
        ("confirm", Some(token)) if !token.is_empty() => Some(Command::Confirm(token.to_string())),
        ("request", Some(sub)) => from_address_tag(sub),
        _ => None,
    }
}

/// Parses one line; `None` when the line is not a command. A known command
/// with a bad value is [`Command::Invalid`], saying what would be right.
pub fn parse_line(line: &str) -> Option<Command> {
    let line = line.trim();
    // "Please unsubscribe me": politeness is not part of the grammar.
    let line = strip_word(line, "please").unwrap_or(line);
    let words: Vec<String> = line
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| c == ':' || c == ',' || c == '.' || c == '!')
                .to_ascii_lowercase()
        })
        .collect();
    let w: Vec<&str> = words.iter().map(|s| s.as_str()).collect();
    match w.as_slice() {
        ["subscribe" | "join", ..] => Some(subscribe_line(line)),
        ["unsubscribe" | "leave" | "signoff", ..] => Some(Command::Unsubscribe),
        ["remove", "me", ..] => Some(Command::Unsubscribe),
        ["help", ..] | ["info", ..] => Some(Command::Help),
        ["confirm", _, ..] => Some(Command::Confirm(
            line.split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .trim_matches(|c: char| c == ',' || c == '.' || c == ':')
                .to_string(),
        )),
        ["set", "delivery", mode] => {
            Some(mode.parse().map(Command::SetDelivery).unwrap_or_else(|_| {
                Command::Invalid(format!(
                    "{mode} is not a delivery mode; use each, digest, consolidated or none"
                ))
            }))
        }
        ["set", "delivery"] => Some(Command::Invalid(
            "give a delivery mode: each, digest, consolidated or none".into(),
        )),
        // Mailman's words for the modes.
        ["set", "digest", "on"] => Some(Command::SetDelivery(Delivery::Digest)),
        ["set", "digest", "off"] => Some(Command::SetDelivery(Delivery::Each)),
        ["set", "nomail"] => Some(Command::SetDelivery(Delivery::None)),
        ["set", "digest" | "format", fmt] => Some(
            fmt.parse()
                .map(Command::SetDigestFormat)
                .unwrap_or_else(|_| {
                    Command::Invalid(format!(
                        "{fmt} is not a digest format; use mime, plain or html"
                    ))
                }),
        ),
        ["set", field, ..] if Field::from_word(field).is_some() => {
            let field = Field::from_word(field).expect("checked");
            // The value as written (case kept), after "set FIELD".
            let rest = after_words(line, 2);
            Some(match profile_value(field, rest) {
                Ok(v) => Command::SetProfile(field, v),
                Err(e) => Command::Invalid(e),
            })
        }
        ["set", ..] => Some(Command::Invalid(
            "set what? use set delivery, set digest, set name, set organisation, set place or set interests"
                .into(),
        )),
        _ => None,
    }
}

/// `line` without its first word when that word is `word` (any case).
fn strip_word<'a>(line: &'a str, word: &str) -> Option<&'a str> {
    let (first, rest) = line.split_once(char::is_whitespace)?;
    first
        .trim_matches(|c: char| c == ',' || c == ':')
        .eq_ignore_ascii_case(word)
        .then(|| rest.trim_start())
}

/// `line` after its first `n` words, trimmed.
fn after_words(line: &str, n: usize) -> &str {
    let mut rest = line.trim_start();
    for _ in 0..n {
        rest = rest
            .split_once(char::is_whitespace)
            .map(|(_, r)| r.trim_start())
            .unwrap_or("");
    }
    rest.trim()
}

/// `subscribe [name="…"] [organisation="…"] [place="…"] [interests="…"]`: words without `=`
/// ("me please") are ignored; a value is quoted or one word.
fn subscribe_line(line: &str) -> Command {
    let mut profile = Profile::default();
    let mut rest = after_words(line, 1);
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].split_whitespace().last().unwrap_or("");
        let after = rest[eq + 1..].trim_start();
        let (value, next) = match after.strip_prefix('"') {
            Some(q) => match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => {
                    return Command::Invalid(format!(
                        "the {key} value has no closing quote; e.g. subscribe name=\"Asha Rao\""
                    ));
                }
            },
            None => after.split_once(char::is_whitespace).unwrap_or((after, "")),
        };
        let Some(field) = Field::from_word(key) else {
            return Command::Invalid(format!(
                "{key} is not something subscribe takes; use name=, organisation=, place= or interests="
            ));
        };
        match profile_value(field, value) {
            Ok(v) => {
                let slot = match field {
                    Field::Name => &mut profile.name,
                    Field::Organisation => &mut profile.organisation,
                    Field::Place => &mut profile.place,
                    Field::Interests => &mut profile.interests,
                };
                *slot = Some(v);
            }
            Err(e) => return Command::Invalid(e),
        }
        rest = next;
    }
    Command::Subscribe(profile)
}

/// Whether a body line opens quoted text that follows it: a mail client's
/// attribution ("On Mon, 1 Jan 2026, X wrote:", "X a écrit :") or an
/// Outlook-style separator. Nothing after it is the sender's own.
fn opens_quote(line: &str) -> bool {
    let l = line.trim().to_ascii_lowercase();
    (l.ends_with("wrote:") || l.ends_with("écrit :") || l.ends_with("schrieb:"))
        || (l.starts_with("-----") && l.contains("original message"))
        || (l.starts_with("from:") && l.contains('@'))
}

/// The commands of a message sent to the -request address.
pub fn parse(tag: Option<&str>, subject: &str, body: &str) -> Vec<Command> {
    parse_lines(tag, subject, body)
        .into_iter()
        .map(|l| l.command)
        .collect()
}

/// Two commands are the same request: equal, or confirming the same code
/// (whatever its case), so a reply naming a token in its address, subject
/// and body confirms once.
fn same(a: &Command, b: &Command) -> bool {
    match (a, b) {
        (Command::Confirm(x), Command::Confirm(y)) => x.trim().eq_ignore_ascii_case(y.trim()),
        _ => a == b,
    }
}

/// The commands of a message, each with the line it came from. Quoted text
/// (`> …`, and everything after an "On … wrote:" attribution) and the
/// signature are never read.
pub fn parse_lines(tag: Option<&str>, subject: &str, body: &str) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::new();
    let push = |out: &mut Vec<Line>, text: &str, c: Command| {
        // "join" in the subject and `subscribe name="…"` in the body are one
        // subscription, with the profile.
        if let Command::Subscribe(p) = &c
            && let Some(l) = out
                .iter_mut()
                .find(|l| matches!(l.command, Command::Subscribe(_)))
        {
            if *p != Profile::default() {
                l.text = text.chars().take(200).collect();
                l.command = c;
            }
            return;
        }
        if !out.iter().any(|l| same(&l.command, &c)) {
            out.push(Line {
                text: text.chars().take(200).collect(),
                command: c,
            });
        }
    };
    if let Some(c) = tag.and_then(from_address_tag) {
        push(&mut out, &c.to_line(), c);
    }
    let subject = crate::thread::strip_prefixes(subject);
    if let Some(c) = parse_line(subject) {
        push(&mut out, subject, c);
    } else if let Some(token) = confirmation_in_subject(subject) {
        push(&mut out, subject, Command::Confirm(token));
    }
    let mut misses = 0;
    for line in body.lines() {
        let t = line.trim();
        if t == "--" || line.starts_with("-- ") || opens_quote(t) {
            break;
        }
        if t.is_empty() || t.starts_with('>') {
            continue;
        }
        match parse_line(t) {
            Some(c) => push(&mut out, t, c),
            None => {
                misses += 1;
                if out.is_empty() && misses <= 3 {
                    out.push(Line {
                        text: t.chars().take(80).collect(),
                        command: Command::Unknown(t.chars().take(80).collect()),
                    });
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

/// Whether a message to the posting address is a list command rather than a
/// post ("unsubscribe", "Please unsubscribe me", "set delivery digest",
/// "remove me from this list"): its subject is a short command line, or its
/// body is a few lines opening with one. A sentence that merely mentions a
/// command ("How do I unsubscribe our clinic's old address?") is a post, and
/// so is "help" (a common word in real subjects).
pub fn is_administrivia(subject: &str, body: &str) -> bool {
    let looks = |line: &str| {
        let line = line.trim();
        let words: Vec<String> = line
            .split_whitespace()
            .map(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric())
                    .to_ascii_lowercase()
            })
            .filter(|w| !w.is_empty())
            .collect();
        let short = words.len() <= ADMINISTRIVIA_WORDS;
        match parse_line(line) {
            Some(Command::Subscribe(p)) if p != Profile::default() => true,
            // Only the command and polite filler: "Please unsubscribe me
            // from this list", not "Join us on Friday" nor "Leave policy".
            Some(Command::Subscribe(_) | Command::Unsubscribe) => {
                short && words.iter().all(|w| FILLER.contains(&w.as_str()))
            }
            // A code as praxis makes them, not "Confirm the meeting time".
            Some(Command::Confirm(t)) => {
                short
                    && t.split('.').count() == 3
                    && t.split('.')
                        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_hexdigit()))
            }
            // "set delivery weekly", not "Set the table".
            Some(Command::Invalid(_)) => {
                short
                    && (words.first().is_some_and(|w| w != "set")
                        || words
                            .get(1)
                            .is_some_and(|w| SET_WORDS.contains(&w.as_str())))
            }
            Some(Command::Help | Command::Unknown(_)) | None => false,
            Some(_) => short,
        }
    };
    if looks(crate::thread::strip_prefixes(subject)) {
        return true;
    }
    let own: Vec<&str> = body
        .lines()
        .map(str::trim)
        .take_while(|l| *l != "--" && !opens_quote(l))
        .filter(|l| !l.is_empty() && !l.starts_with('>'))
        .collect();
    own.len() <= 5 && own.first().is_some_and(|l| looks(l))
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
            ("join", Some(Command::Subscribe(Profile::default()))),
            (
                "request+subscribe",
                Some(Command::Subscribe(Profile::default())),
            ),
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
            ("subscribe", Some(Command::Subscribe(Profile::default()))),
            (
                "Subscribe me please",
                Some(Command::Subscribe(Profile::default())),
            ),
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
            (
                "set delivery weekly",
                Some(Command::Invalid(
                    "weekly is not a delivery mode; use each, digest, consolidated or none".into(),
                )),
            ),
            ("Please unsubscribe me", Some(Command::Unsubscribe)),
            ("remove me from this list", Some(Command::Unsubscribe)),
            (
                "set organization  Public Health Foundation ",
                Some(Command::SetProfile(
                    Field::Organisation,
                    "Public Health Foundation".into(),
                )),
            ),
            (
                "SET NAME Asha Rao",
                Some(Command::SetProfile(Field::Name, "Asha Rao".into())),
            ),
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
        assert_eq!(
            parse(Some("join"), "", ""),
            [Command::Subscribe(Profile::default())]
        );
        // A subscription named twice is one, with the profile given.
        let asha = Profile {
            name: Some("Asha Rao".into()),
            ..Profile::default()
        };
        assert_eq!(
            parse(Some("join"), "join", "subscribe name=\"Asha Rao\"\n"),
            [Command::Subscribe(asha)]
        );
        assert_eq!(
            parse(None, "Hello", "What is this list about?\n"),
            [Command::Unknown("What is this list about?".into())]
        );
        assert!(parse(None, "", "").is_empty());
    }

    #[test]
    fn profile_values_are_plain_text() {
        assert_eq!(
            parse_line(
                r#"subscribe name="Asha Rao" organisation="PHFI" place=Delhi interests="cold chain, KMC""#
            ),
            Some(Command::Subscribe(Profile {
                name: Some("Asha Rao".into()),
                organisation: Some("PHFI".into()),
                place: Some("Delhi".into()),
                interests: Some("cold chain, KMC".into()),
            }))
        );
        assert_eq!(
            parse_line("set interests solar fridges, cold chain"),
            Some(Command::SetProfile(
                Field::Interests,
                "solar fridges, cold chain".into()
            ))
        );
        assert!(matches!(
            parse_line(&format!("set interests {}", "x".repeat(301))),
            Some(Command::Invalid(e)) if e.contains("at most 300")
        ));
        assert_eq!(
            parse_line("subscribe me please"),
            Some(Command::Subscribe(Profile::default()))
        );
        assert!(matches!(
            parse_line(r#"subscribe colour="red""#),
            Some(Command::Invalid(e)) if e.contains("colour") && e.contains("name=")
        ));
        assert!(matches!(
            parse_line("set place Delhi\u{1b}[2J"),
            Some(Command::Invalid(e)) if e.contains("control characters")
        ));
        assert!(matches!(
            parse_line("set name \u{202e}oaR ahsA"),
            Some(Command::Invalid(e)) if e.contains("control characters")
        ));
        let long = format!("set name {}", "a".repeat(MAX_PROFILE_CHARS + 1));
        assert!(matches!(parse_line(&long), Some(Command::Invalid(e)) if e.contains("at most")));
        assert!(
            matches!(parse_line("set name   "), Some(Command::Invalid(e)) if e.contains("empty"))
        );
        assert!(matches!(
            parse_line("set digest fancy"),
            Some(Command::Invalid(e)) if e.contains("fancy is not a digest format")
        ));
        // Stored as a line and read back the same.
        for c in [
            Command::SetProfile(Field::Place, "New Delhi".into()),
            Command::SetDelivery(Delivery::None),
            Command::SetDigestFormat(DigestFormat::Plain),
        ] {
            assert_eq!(parse_line(&c.to_line()), Some(c.clone()));
            assert!(c.changes_membership());
        }
    }

    #[test]
    fn one_confirmation_reply_is_one_confirm() {
        // A reply to the confirmation mail: the token in the address tag,
        // the subject and the quoted body (with and without '>').
        let quoted = "Yes, please.\n\nOn Fri, 4 Dec 2026 at 10:00, list-request@example.test wrote:\n\
                      Someone (hopefully you) asked to subscribe\n    confirm 1.AB.cd\nunsubscribe\n";
        let cmds = parse(
            Some("confirm+1.ab.cd"),
            "Re: [health] confirm 1.AB.cd",
            quoted,
        );
        assert_eq!(cmds, [Command::Confirm("1.ab.cd".into())]);
        let cmds = parse(
            None,
            "Re: confirm 1.ab.cd",
            "confirm 1.ab.cd\n\n> confirm 1.ab.cd\n> unsubscribe\n",
        );
        assert_eq!(cmds, [Command::Confirm("1.ab.cd".into())]);
        let cmds = parse(
            None,
            "",
            "set delivery none\n-----Original Message-----\nFrom: x@y\nunsubscribe\n",
        );
        assert_eq!(cmds, [Command::SetDelivery(Delivery::None)]);
        // Each line is echoed as written.
        let lines = parse_lines(None, "", "Set Delivery Weekly\n");
        assert_eq!(lines[0].text, "Set Delivery Weekly");
    }

    #[test]
    fn administrivia_is_recognised_and_sentences_are_not() {
        for (subject, body) in [
            ("unsubscribe", "unsubscribe"),
            ("Please unsubscribe me", ""),
            ("UNSUBSCRIBE", ""),
            ("Re: remove me from this list", "Thanks"),
            ("", "set delivery digest\n\n-- \nAsha\nPHFI, Delhi\n"),
            (
                "(no subject)",
                "Please remove me from this list.\nThank you\n",
            ),
            ("set delivery weekly", ""),
            (
                "Re: [health] confirm 6b1c1a20.26224922e5dd.a76157b4708c2224",
                "yes",
            ),
        ] {
            assert!(is_administrivia(subject, body), "{subject:?} {body:?}");
        }
        for (subject, body) in [
            (
                "How do I unsubscribe our clinic's old address from the registry?",
                "",
            ),
            (
                "Help: postpartum haemorrhage protocol",
                "Does anyone have one?",
            ),
            (
                "Flood clinics",
                "We had to unsubscribe from the old vendor.\n",
            ),
            ("Join us Friday!", "Webinar at 4."),
            ("Leave policy for ASHA workers", ""),
            ("Confirm the meeting time", ""),
            ("Set the table", "for the data"),
            ("", "Leave it with me.\nAsha\n"),
            (
                "Question",
                "Subscribe to the WHO newsletter for these updates, it covers\nthe new guidance on \
                 anaemia and much more than I can say here\nand a third line\n",
            ),
            (
                "Vaccine cold chain",
                "unsubscribe\nis what I almost did\nbut then\nthe thread\ngot good\nand long\n",
            ),
        ] {
            assert!(!is_administrivia(subject, body), "{subject:?} {body:?}");
        }
    }
}
