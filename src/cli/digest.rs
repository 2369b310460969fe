//! `praxis digest preview|send`: print the issue that would go out now, or
//! make it and queue it to every digest member in their format.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;
use serde::Serialize;

use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders, PartType};

use super::Context;
use super::output::safe;
use crate::digest::issue::{self, Sent};
use crate::model::DigestFormat;

/// `praxis digest`.
#[derive(Debug, Subcommand)]
pub enum DigestCommand {
    /// Print the digest that would go out now, as a member reads it.
    ///
    /// The headers and every text part decoded (no quoted-printable or
    /// base64), each message of a MIME digest in turn. With --raw, the
    /// message as it would be sent.
    ///
    /// Example: `praxis digest preview -c health --format mime`
    Preview {
        /// The community.
        #[arg(short, long)]
        community: String,
        /// mime, plain or html.
        #[arg(long, default_value = "plain")]
        format: String,
        /// Print the encoded message as it would be sent, before each
        /// member's footer (e.g. `praxis digest preview -c health --raw > issue.eml`).
        #[arg(long)]
        raw: bool,
    },
    /// Make the next issue and queue it to each digest member in their format.
    Send {
        /// The community.
        #[arg(short, long)]
        community: String,
        /// Send now instead of at the next scheduled time.
        #[arg(long)]
        now: bool,
        /// Start a new volume with this issue (issue 1).
        #[arg(long)]
        new_volume: bool,
    },
}

/// What `digest send --json` prints.
#[derive(Debug, Serialize)]
struct SendReport {
    community: String,
    sent: bool,
    digest: Option<i64>,
    volume: Option<i64>,
    number: Option<i64>,
    posts: usize,
    recipients: u64,
    formats: Vec<DigestFormat>,
}

/// Runs `praxis digest`.
pub fn run(ctx: &Context, cmd: &DigestCommand) -> Result<ExitCode> {
    let config = ctx.config()?;
    let mut store = ctx.store(&config)?;
    let now = chrono::Utc::now();
    let communities = ctx.communities(&config, &store)?;
    match cmd {
        DigestCommand::Preview {
            community,
            format,
            raw,
        } => {
            let c = communities.by_slug(community)?;
            let format: DigestFormat = format.parse().map_err(|e| {
                anyhow::anyhow!("{e}; e.g. `praxis digest preview -c {community} --format plain`")
            })?;
            let Some(s) = issue::next(&store, c, now, false)? else {
                eprintln!(
                    "community `{community}`: nothing new since the last issue; no digest would go out"
                );
                return Ok(ExitCode::SUCCESS);
            };
            let mut stdout = std::io::stdout();
            for (_, bytes) in issue::render(&store, c, &s, &[format], now)? {
                if *raw && !stdout.is_terminal() {
                    // Exactly the bytes, for a file or a pipe.
                    stdout.write_all(&bytes)?;
                } else if *raw {
                    // Posts are embedded as received: mail never drives a terminal.
                    stdout.write_all(safe(&String::from_utf8_lossy(&bytes)).as_bytes())?;
                } else {
                    stdout.write_all(safe(&readable(&bytes)).as_bytes())?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DigestCommand::Send {
            community,
            now: send_now,
            new_volume,
        } => {
            let c = communities.by_slug(community)?;
            if !send_now {
                bail!(
                    "`praxis digest send` needs --now (`praxis digest send -c {community} --now`); `praxis serve` sends on the schedule `{}`",
                    c.config.digest.schedule
                );
            }
            let sent = issue::send(&mut store, c, now, None, *new_volume)?;
            let report = match &sent {
                Sent::Queued {
                    selection,
                    id,
                    recipients,
                    formats,
                } => SendReport {
                    community: community.clone(),
                    sent: true,
                    digest: Some(*id),
                    volume: Some(selection.volume),
                    number: Some(selection.number),
                    posts: selection.posts().count(),
                    recipients: *recipients,
                    formats: formats.clone(),
                },
                _ => SendReport {
                    community: community.clone(),
                    sent: false,
                    digest: None,
                    volume: None,
                    number: None,
                    posts: 0,
                    recipients: 0,
                    formats: vec![],
                },
            };
            if ctx.out.json {
                ctx.out.json(&report)?;
                return Ok(ExitCode::SUCCESS);
            }
            match sent {
                Sent::NothingNew => ctx.out.say(format!(
                    "community `{community}`: nothing new since the last issue; no digest sent"
                )),
                Sent::AlreadySent => ctx.out.say(format!(
                    "community `{community}`: this issue was already sent; nothing queued"
                )),
                Sent::Queued {
                    selection,
                    recipients,
                    formats,
                    ..
                } => ctx.out.say(format!(
                    "community `{community}`: digest Vol {}, Issue {} ({} post{}, {} Consolidated Repl{}) queued for {recipients} digest member{} in {}; `praxis outbox` shows its progress",
                    selection.volume,
                    selection.number,
                    report.posts,
                    if report.posts == 1 { "" } else { "s" },
                    selection.replies.len(),
                    if selection.replies.len() == 1 { "y" } else { "ies" },
                    if recipients == 1 { "" } else { "s" },
                    if formats.is_empty() {
                        "no format (no digest members)".to_string()
                    } else {
                        formats.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
                    }
                )),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A message as a person reads it: its headers decoded, every text part
/// decoded (no quoted-printable or base64), and each message it carries (a
/// MIME digest's posts) in turn with its own headers. Bytes mail-parser
/// cannot read are shown as they are.
fn readable(raw: &[u8]) -> String {
    let mut out = String::new();
    match MessageParser::default().parse(raw) {
        Some(m) => write_message(&m, &mut out),
        None => out.push_str(&String::from_utf8_lossy(raw)),
    }
    out
}

fn addresses(a: Option<&Address<'_>>) -> Option<String> {
    let list: Vec<String> = a?
        .iter()
        .map(|a| match (a.name(), a.address()) {
            (Some(n), Some(addr)) => format!("{n} <{addr}>"),
            (None, Some(addr)) => addr.to_string(),
            (Some(n), None) => n.to_string(),
            (None, None) => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect();
    (!list.is_empty()).then(|| list.join(", "))
}

fn ids(v: &HeaderValue<'_>) -> Option<String> {
    let list: Vec<String> = v
        .as_text_list()
        .map(|l| l.iter().map(|s| format!("<{s}>")).collect())
        .or_else(|| v.as_text().map(|s| vec![format!("<{s}>")]))?;
    (!list.is_empty()).then(|| list.join(" "))
}

fn write_message(m: &Message<'_>, out: &mut String) {
    let headers = [
        ("Date", m.date().map(|d| d.to_rfc822())),
        ("From", addresses(m.from())),
        ("To", addresses(m.to())),
        ("Subject", m.subject().map(str::to_string)),
        ("Message-ID", m.message_id().map(|id| format!("<{id}>"))),
        ("In-Reply-To", ids(m.in_reply_to())),
        ("References", ids(m.references())),
    ];
    for (name, value) in headers {
        if let Some(v) = value {
            out.push_str(&format!("{name}: {v}\n"));
        }
    }
    out.push('\n');
    for (i, part) in m.parts.iter().enumerate() {
        match &part.body {
            PartType::Text(t) => {
                if i > 0 && !out.ends_with("\n\n") {
                    out.push('\n');
                }
                out.push_str(&t.replace("\r\n", "\n"));
            }
            PartType::Html(h) => {
                out.push_str("\n[the same in HTML]\n\n");
                out.push_str(&h.replace("\r\n", "\n"));
            }
            PartType::Message(inner) => {
                out.push_str("\n[message]\n");
                write_message(inner, out);
            }
            PartType::Binary(b) | PartType::InlineBinary(b) => out.push_str(&format!(
                "\n[attachment {}, {} bytes]\n",
                part.attachment_name().unwrap_or("without a name"),
                b.len()
            )),
            PartType::Multipart(_) => {}
        }
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::readable;

    #[test]
    fn a_person_reads_decoded_text_and_each_embedded_message() {
        let raw = "From: Digest <list@example.test>\r\nTo: list@example.test\r\nSubject: =?utf-8?b?4KS24KS/4KS14KS/4KSw?=\r\n\
            Message-ID: <d1@example.test>\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
            --b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
            caf=C3=A9 and a very long line that was soft=\r\n broken\r\n\
            --b\r\nContent-Type: message/rfc822\r\n\r\n\
            From: Asha <asha@example.org>\r\nSubject: Boats\r\nMessage-ID: <p2@example.org>\r\n\
            In-Reply-To: <p1@example.org>\r\nReferences: <p0@example.org> <p1@example.org>\r\n\
            Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
            4KS24KS/4KS14KS/4KSw\r\n--b--\r\n";
        let text = readable(raw.as_bytes());
        assert!(
            text.starts_with("From: Digest <list@example.test>\n"),
            "{text}"
        );
        assert!(text.contains("Subject: शिविर\n"), "{text}");
        assert!(
            text.contains("café and a very long line that was soft broken"),
            "{text}"
        );
        assert!(
            text.contains("[message]\nFrom: Asha <asha@example.org>\nSubject: Boats\n"),
            "{text}"
        );
        assert!(
            text.contains("In-Reply-To: <p1@example.org>\nReferences: <p0@example.org> <p1@example.org>\n\nशिविर"),
            "{text}"
        );
        assert!(!text.contains("=C3") && !text.contains("4KS2"), "{text}");
    }
}
