//! `praxis digest preview|send`: print the issue that would go out now, or
//! make it and queue it to every digest member in their format.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;
use serde::Serialize;

use super::Context;
use crate::digest::issue::{self, Sent};
use crate::model::DigestFormat;

/// `praxis digest`.
#[derive(Debug, Subcommand)]
pub enum DigestCommand {
    /// Print the digest that would go out now (the whole message).
    Preview {
        /// The community.
        #[arg(short, long)]
        community: String,
        /// mime, plain or html.
        #[arg(long, default_value = "plain")]
        format: String,
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
        DigestCommand::Preview { community, format } => {
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
            for (_, bytes) in issue::render(&store, c, &s, &[format], now)? {
                std::io::stdout().write_all(&bytes)?;
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
