//! `praxis publish`: send a query's Consolidated Reply (its latest draft) to
//! every member reading each post or Consolidated Replies, now or at a time.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;

use super::Context;
use super::consolidate::load_query;
use super::output::zoned_time;
use crate::consolidate::publish;
use crate::model::{ReplyState, ThreadId};

/// `praxis publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The query's thread id, as `praxis threads --queries` lists it.
    pub query: ThreadId,
    /// Send at this time (`2026-12-01 09:00` in the community's time zone, or
    /// RFC 3339) instead of now; `praxis serve` sends it when due. A time
    /// already past is refused (use --now). Example: `--at '2026-12-01 09:00'`.
    #[arg(long, conflicts_with_all = ["cancel", "now"])]
    pub at: Option<String>,
    /// Send it now (the default without --at; says so explicitly).
    /// Example: `praxis publish 7 --now`.
    #[arg(long, conflicts_with = "cancel")]
    pub now: bool,
    /// Unschedule a reply published with --at that has not gone out yet.
    /// Example: `praxis publish 7 --cancel`.
    #[arg(long)]
    pub cancel: bool,
}

/// Runs `praxis publish`.
pub fn run(ctx: &Context, args: &PublishArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let mut store = ctx.store(&config)?;
    let q = load_query(&store, args.query)?;
    let cfg = config.community(&q.slug).map_err(anyhow::Error::msg)?;
    if args.cancel {
        let reply = store.cancel_scheduled(q.thread)?;
        ctx.out.say(format!(
            "query {}: consolidated reply {reply} unscheduled; it is a draft again",
            q.thread
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let at = match &args.at {
        Some(s) => {
            let t = publish::parse_at(s, cfg.timezone).map_err(anyhow::Error::msg)?;
            publish::ensure_future(t, chrono::Utc::now(), cfg.timezone)
                .map_err(anyhow::Error::msg)?;
            Some(t)
        }
        None => None,
    };
    let Some(d) = store.current_draft(q.thread)? else {
        bail!(
            "query {} has no draft yet; `praxis consolidate {}` writes one",
            q.thread,
            q.thread
        );
    };
    if d.state != ReplyState::Draft {
        bail!(
            "the latest Consolidated Reply of query {} is already {}; `praxis consolidate {}` starts an addendum{}",
            q.thread,
            match (d.state, d.publish_at) {
                (ReplyState::Scheduled, Some(t)) =>
                    format!("scheduled for {}", zoned_time(t, cfg.timezone)),
                (state, _) => state.to_string(),
            },
            q.thread,
            if d.state == ReplyState::Scheduled {
                format!(", or `praxis publish {} --cancel` unschedules it", q.thread)
            } else {
                String::new()
            }
        );
    }
    let config_of = |slug: &str| config.community(slug).ok();
    let queued = crate::consolidate::publish_draft(
        &mut store,
        cfg,
        &config_of,
        &q,
        &d,
        at.map(|t| t.timestamp()),
    )?;
    let recipients = queued.recipients.unwrap_or(0);
    let when = match at {
        Some(t) => format!("scheduled for {}", zoned_time(t.timestamp(), cfg.timezone)),
        None => "queued now".into(),
    };
    ctx.out.say(format!(
        "query {}: consolidated reply {} (draft version {}) {when} for {} member{} (outbox {}); `praxis outbox` shows its progress",
        q.thread,
        d.reply,
        d.version,
        recipients,
        if recipients == 1 { "" } else { "s" },
        queued.id
    ));
    Ok(ExitCode::SUCCESS)
}
