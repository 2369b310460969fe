//! Bounces: reading a delivery status notification (RFC 3464) that came
//! back to a VERP address, and recording it against the member it names.
//!
//! The ingest pipeline's classifier calls [`classify`] for mail whose
//! envelope recipient is a `LOCAL-bounces+…` address (or [`recipient_from_verp`]
//! first, to decide the class), then [`record`]. The SMTP sender records
//! 5xx replies itself. Parsing is pure; `record` writes through the store.

use mail_parser::{MessageParser, MimeHeaders, PartType};

use super::notice;
pub use super::verp::recipient_from_verp;
use crate::community::Community;
use crate::config::Config;
use crate::store::{BounceOutcome, BounceRule, Store, StoreError};

/// One recipient block of a DSN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DsnRecipient {
    /// `Final-Recipient`, the address after `rfc822;`.
    pub final_recipient: Option<String>,
    /// `Original-Recipient`, when given.
    pub original_recipient: Option<String>,
    /// `Action`: failed, delayed, delivered, relayed or expanded (lowercase).
    pub action: String,
    /// `Status`: the enhanced status code, e.g. `5.1.1`.
    pub status: Option<String>,
    /// `Diagnostic-Code`, without its type: the remote server's reply.
    pub diagnostic: Option<String>,
}

impl DsnRecipient {
    /// Whether this recipient failed for good.
    pub fn is_failed(&self) -> bool {
        self.action == "failed" || (self.action.is_empty() && self.status_class() == Some('5'))
    }

    /// Whether delivery to this recipient is delayed (a temporary problem).
    pub fn is_delayed(&self) -> bool {
        self.action == "delayed" || (self.action.is_empty() && self.status_class() == Some('4'))
    }

    fn status_class(&self) -> Option<char> {
        self.status.as_deref().and_then(|s| s.chars().next())
    }
}

/// What a message sent back to a bounce address says.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// A bounce: the delivery failed for good (`permanent`) or is delayed.
    Bounce {
        /// Permanent (failed) or temporary (delayed).
        permanent: bool,
        /// The enhanced status code, when the report had one.
        status: Option<String>,
        /// The server's words, or the report's subject.
        diagnostic: String,
        /// The addresses the report names (Final-Recipient).
        reported: Vec<String>,
    },
    /// Not a bounce: a success notification, an auto-reply, or mail that no
    /// heuristic recognises as a bounce (kept, never scored).
    NotABounce(String),
}

/// A bounce for one member address.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounce {
    /// The address that bounced (from the VERP address; else the report).
    pub recipient: String,
    /// Permanent or temporary.
    pub permanent: bool,
    /// What the remote server said.
    pub diagnostic: String,
}

/// The recipient blocks of a DSN: the `message/delivery-status` (or
/// `message/global-delivery-status`) part; failing that, DSN fields found
/// anywhere in the text (some MTAs break the MIME structure).
pub fn parse_dsn(raw: &[u8]) -> Option<Vec<DsnRecipient>> {
    let parsed = MessageParser::default().parse(raw)?;
    for part in parsed.parts.iter() {
        let is_status = part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct.subtype().is_some_and(|s| {
                    s.eq_ignore_ascii_case("delivery-status")
                        || s.eq_ignore_ascii_case("global-delivery-status")
                })
        });
        if !is_status {
            continue;
        }
        let bytes: &[u8] = match &part.body {
            PartType::Text(t) | PartType::Html(t) => t.as_bytes(),
            PartType::Binary(b) | PartType::InlineBinary(b) => b,
            _ => continue,
        };
        let blocks = status_blocks(&String::from_utf8_lossy(bytes));
        if !blocks.is_empty() {
            return Some(blocks);
        }
    }
    // No usable status part: look for the fields in the whole text.
    let text = String::from_utf8_lossy(raw);
    let blocks = status_blocks(&text);
    (!blocks.is_empty()).then_some(blocks)
}

/// Per-recipient blocks from DSN field text: groups of fields separated by
/// empty lines (RFC 3464 §2.1), those naming a recipient.
fn status_blocks(text: &str) -> Vec<DsnRecipient> {
    let mut out = Vec::new();
    let mut group = String::new();
    for line in text.lines().chain(std::iter::once("")) {
        if !line.trim().is_empty() {
            group.push_str(line);
            group.push('\n');
            continue;
        }
        if let Some(r) = recipient_block(&group) {
            out.push(r);
        }
        group.clear();
    }
    out
}

/// One recipient block, if the group of fields names a recipient.
fn recipient_block(group: &str) -> Option<DsnRecipient> {
    let mut r = DsnRecipient::default();
    let address = |value: &str| {
        let v = value.split_once(';').map(|(_, a)| a).unwrap_or(value);
        let v = v
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim();
        (!v.is_empty()).then(|| v.to_ascii_lowercase())
    };
    for (name, value) in fields(group) {
        match name.to_ascii_lowercase().as_str() {
            "final-recipient" => r.final_recipient = address(&value),
            "original-recipient" => r.original_recipient = address(&value),
            "action" => {
                r.action = value
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase()
            }
            "status" => r.status = value.split_whitespace().next().map(str::to_string),
            "diagnostic-code" => {
                let v = value.split_once(';').map(|(_, d)| d).unwrap_or(&value);
                r.diagnostic = Some(v.split_whitespace().collect::<Vec<_>>().join(" "));
            }
            _ => {}
        }
    }
    (r.final_recipient.is_some() || r.original_recipient.is_some()).then_some(r)
}

/// `Name: value` fields of header-like text, folded lines joined.
fn fields(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        match line.split_once(':') {
            Some((name, value))
                if !name.is_empty()
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
            {
                out.push((name.to_string(), value.trim().to_string()));
            }
            _ => {}
        }
    }
    out
}

/// Subjects of bounces that carry no DSN (old or broken MTAs), lowercase.
const BOUNCE_SUBJECTS: &[&str] = &[
    "undeliver",
    "delivery status notification",
    "delivery failure",
    "delivery has failed",
    "returned mail",
    "failure notice",
    "mail delivery failed",
    "mail system error",
    "nondeliverable",
];

/// What a message sent to a bounce address says.
pub fn interpret(raw: &[u8]) -> Report {
    if let Some(recipients) = parse_dsn(raw) {
        let reported: Vec<String> = recipients
            .iter()
            .filter_map(|r| r.final_recipient.clone().or(r.original_recipient.clone()))
            .collect();
        let worst = recipients
            .iter()
            .find(|r| r.is_failed())
            .map(|r| (true, r))
            .or_else(|| {
                recipients
                    .iter()
                    .find(|r| r.is_delayed())
                    .map(|r| (false, r))
            });
        return match worst {
            Some((permanent, r)) => Report::Bounce {
                permanent,
                status: r.status.clone(),
                diagnostic: r
                    .diagnostic
                    .clone()
                    .or_else(|| r.status.clone())
                    .unwrap_or_else(|| r.action.clone()),
                reported,
            },
            None => Report::NotABounce(format!(
                "a delivery report saying {}",
                recipients
                    .iter()
                    .map(|r| r.action.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
    }
    let Some(parsed) = MessageParser::default().parse(raw) else {
        return Report::NotABounce("unparseable".into());
    };
    let auto = parsed
        .header("Auto-Submitted")
        .and_then(|v| v.as_text())
        .map(|v| v.trim().to_ascii_lowercase());
    if auto
        .as_deref()
        .is_some_and(|a| a.starts_with("auto-replied"))
    {
        return Report::NotABounce("an automatic reply (Auto-Submitted: auto-replied)".into());
    }
    let subject = parsed.subject().unwrap_or("").to_ascii_lowercase();
    let from = parsed
        .from()
        .and_then(|f| f.first())
        .and_then(|a| a.address())
        .unwrap_or("")
        .to_ascii_lowercase();
    let daemon = from.starts_with("mailer-daemon@") || from.starts_with("postmaster@");
    if daemon || BOUNCE_SUBJECTS.iter().any(|s| subject.contains(s)) {
        return Report::Bounce {
            permanent: true,
            status: None,
            diagnostic: parsed
                .subject()
                .unwrap_or("a bounce without a report")
                .to_string(),
            reported: Vec::new(),
        };
    }
    Report::NotABounce("not recognised as a bounce".into())
}

/// The bounce a message to `envelope_to` reports, if it is one: the member
/// from the VERP address (or, for the plain bounce address, the one address
/// the report names), and what happened.
pub fn classify(envelope_to: &str, list_address: &str, raw: &[u8]) -> Option<Bounce> {
    let verp = recipient_from_verp(envelope_to, list_address);
    match interpret(raw) {
        Report::Bounce {
            permanent,
            status,
            diagnostic,
            reported,
        } => {
            let recipient = verp.or_else(|| (reported.len() == 1).then(|| reported[0].clone()))?;
            let diagnostic = match status {
                Some(s) if !diagnostic.contains(&s) => format!("{s} {diagnostic}"),
                _ => diagnostic,
            };
            Some(Bounce {
                recipient,
                permanent,
                diagnostic,
            })
        }
        Report::NotABounce(_) => None,
    }
}

/// The rule for one bounce under `[bounce]`.
pub fn rule(config: &Config, permanent: bool) -> BounceRule {
    let b = &config.bounce;
    BounceRule {
        weight: if permanent { b.permanent } else { b.temporary },
        threshold: b.threshold,
        interval: b.interval.whole_secs(),
        stale_after: b.stale_after.whole_secs(),
    }
}

/// Records `bounce` against the member of `community` it names: raises
/// their score, and past the threshold disables them and queues a notice to
/// the owners, in one transaction.
pub fn record(
    store: &mut Store,
    config: &Config,
    community: &Community,
    bounce: &Bounce,
    now: i64,
) -> Result<BounceOutcome, StoreError> {
    let rule = rule(config, bounce.permanent);
    let render = notice::disabled(config);
    store.record_bounce(
        community.id,
        &bounce.recipient,
        &rule,
        now,
        &bounce.diagnostic,
        &render,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/dsn")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn real_dsns_name_their_recipient_and_status() {
        // Sun Internet Mail Server, a quota failure; the part type in capitals.
        let r = parse_dsn(&corpus("sims-quota.eml")).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].final_recipient.as_deref(),
            Some("jangel1@cougar.noc.ucla.edu")
        );
        assert_eq!(r[0].action, "failed");
        assert_eq!(r[0].status.as_deref(), Some("5.0.0"));
        // sendmail, whose boundary parameter was cut off: found in the text.
        let r = parse_dsn(&corpus("sendmail-hops.eml")).unwrap();
        assert_eq!(
            r[0].final_recipient.as_deref(),
            Some("scoffman@wellpartner.com")
        );
        assert_eq!(r[0].status.as_deref(), Some("5.4.6"));
        // Amavis, many recipients of one banned attachment.
        let r = parse_dsn(&corpus("amavis-banned.eml")).unwrap();
        assert!(r.len() > 1, "{r:?}");
        assert!(r.iter().all(|x| x.is_failed()), "{r:?}");
        match interpret(&corpus("sims-quota.eml")) {
            Report::Bounce {
                permanent, status, ..
            } => {
                assert!(permanent);
                assert_eq!(status.as_deref(), Some("5.0.0"));
            }
            other => panic!("{other:?}"),
        }
    }

    const POSTFIX_DSN: &str = "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\r\n\
Subject: Undelivered Mail Returned to Sender\r\n\
To: list-bounces+bob=example.org@example.test\r\n\
Auto-Submitted: auto-replied\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\
\r\n\
--B\r\n\
Content-Type: text/plain\r\n\
\r\n\
I'm sorry to have to inform you that your message could not be delivered.\r\n\
--B\r\n\
Content-Type: message/delivery-status\r\n\
\r\n\
Reporting-MTA: dns; mx.example.org\r\n\
Arrival-Date: Mon,  2 Nov 2026 10:00:00 +0000 (UTC)\r\n\
\r\n\
Final-Recipient: rfc822; bob@example.org\r\n\
Original-Recipient: rfc822;bob@example.org\r\n\
Action: ACTION\r\n\
Status: STATUS\r\n\
Remote-MTA: dns; mail.example.org\r\n\
Diagnostic-Code: smtp; 550 5.1.1 <bob@example.org>: Recipient address\r\n\
\x20   rejected: User unknown\r\n\
\r\n\
--B--\r\n";

    fn postfix(action: &str, status: &str) -> Vec<u8> {
        POSTFIX_DSN
            .replace("ACTION", action)
            .replace("STATUS", status)
            .into_bytes()
    }

    #[test]
    fn a_failed_dsn_is_permanent_a_delayed_one_temporary_and_a_success_none() {
        let to = "list-bounces+bob=example.org@example.test";
        let b = classify(to, "list@example.test", &postfix("failed", "5.1.1")).unwrap();
        assert_eq!(b.recipient, "bob@example.org");
        assert!(b.permanent);
        assert_eq!(
            b.diagnostic,
            "550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown"
        );
        let b = classify(to, "list@example.test", &postfix("delayed", "4.4.1")).unwrap();
        assert!(!b.permanent);
        assert_eq!(
            classify(to, "list@example.test", &postfix("delivered", "2.0.0")),
            None
        );
    }

    #[test]
    fn the_verp_address_decides_who_bounced() {
        // The report names a forwarding target; the VERP address names the member.
        let dsn = String::from_utf8(postfix("failed", "5.2.2"))
            .unwrap()
            .replace("bob@example.org", "bob@forwarded.example");
        let b = classify(
            "list-bounces+bob=example.org@example.test",
            "list@example.test",
            dsn.as_bytes(),
        )
        .unwrap();
        assert_eq!(b.recipient, "bob@example.org");
        // Without VERP, the single reported address is used.
        let b = classify(
            "list-bounces@example.test",
            "list@example.test",
            dsn.as_bytes(),
        )
        .unwrap();
        assert_eq!(b.recipient, "bob@forwarded.example");
    }

    #[test]
    fn auto_replies_and_chatter_are_not_bounces() {
        let vacation = b"From: carol@example.org\r\nSubject: Out of office\r\n\
Auto-Submitted: auto-replied\r\n\r\nI am away until Monday.\r\n";
        assert!(matches!(interpret(vacation), Report::NotABounce(_)));
        let chat = b"From: carol@example.org\r\nSubject: hello\r\n\r\nhi\r\n";
        assert!(matches!(interpret(chat), Report::NotABounce(_)));
        let old = b"From: MAILER-DAEMON@old.example\r\nSubject: failure notice\r\n\r\n\
Sorry, I couldn't deliver to <x@old.example>.\r\n";
        assert!(matches!(
            interpret(old),
            Report::Bounce {
                permanent: true,
                ..
            }
        ));
    }
}
