//! `praxis log`: the audit log of decisions and membership changes.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use super::Context;
use super::output::{local_time, rfc3339};

/// `praxis log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only this community.
    #[arg(short, long)]
    pub community: Option<String>,
    /// At most this many entries, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
}

#[derive(Serialize)]
struct LogJson {
    at: String,
    community: String,
    actor: String,
    action: String,
    post_id: Option<i64>,
    reason: Option<String>,
    detail: Option<String>,
    /// How a decision was made ("email": a reply to a hold notice; null:
    /// the command line).
    how: Option<String>,
}

/// Runs `praxis log`.
pub fn run(ctx: &Context, args: &LogArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let store = ctx.store(&config)?;
    let community = ctx.community_filter(&config, &store, args.community.as_deref())?;
    let rows = store.log(community, args.limit.max(1))?;
    if ctx.out.json {
        let out: Vec<LogJson> = rows
            .into_iter()
            .map(|r| LogJson {
                at: rfc3339(r.at),
                community: r.community,
                actor: r.actor,
                action: r.action,
                post_id: r.post_id,
                reason: r.reason,
                detail: r.detail,
                how: r.how,
            })
            .collect();
        ctx.out.json(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    ctx.out.table(
        &["when", "community", "who", "what", "post", "why", "detail"],
        rows.into_iter()
            .map(|r| {
                let tz = config
                    .community(&r.community)
                    .map(|c| c.timezone)
                    .unwrap_or(chrono_tz::UTC);
                vec![
                    local_time(r.at, tz),
                    r.community,
                    r.actor,
                    r.action,
                    r.post_id.map(|p| p.to_string()).unwrap_or_default(),
                    r.reason.unwrap_or_default(),
                    r.detail.unwrap_or_default(),
                ]
            })
            .collect(),
    );
    Ok(ExitCode::SUCCESS)
}
