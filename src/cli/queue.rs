//! `praxis queue`: held posts, oldest first, with the reason each is held.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use super::Context;
use super::output::rfc3339;
use crate::model::ThreadId;
use crate::moderation::policy::{human_age as age, human_size};
use crate::store::now;

/// `praxis queue`.
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// Only this community.
    #[arg(short, long)]
    pub community: Option<String>,
}

#[derive(Serialize)]
struct QueueJson {
    id: i64,
    community: String,
    from: String,
    from_name: String,
    organisation: Option<String>,
    subject: String,
    reason: String,
    received_at: String,
    size: i64,
    thread_id: Option<ThreadId>,
    deferred: bool,
}

/// Runs `praxis queue`.
pub fn run(ctx: &Context, args: &QueueArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let store = ctx.store(&config)?;
    let community = ctx.community_filter(&config, &store, args.community.as_deref())?;
    let held = store.held(community)?;
    let t = now();
    if ctx.out.json {
        let rows: Vec<QueueJson> = held
            .into_iter()
            .map(|h| QueueJson {
                id: h.id.0,
                community: h.community,
                from: h.from,
                from_name: h.member_name.clone().unwrap_or(h.from_name),
                organisation: h.member_organisation.filter(|o| !o.is_empty()),
                subject: h.subject,
                reason: h.reason,
                received_at: rfc3339(h.received_at),
                size: h.size,
                thread_id: h.thread_id,
                deferred: h.deferred_until.is_some_and(|d| d > t),
            })
            .collect();
        ctx.out.json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let n = held.len();
    ctx.out.table(
        &[
            "id",
            "community",
            "from",
            "subject",
            "reason",
            "age",
            "size",
            "thread",
        ],
        held.into_iter()
            .map(|h| {
                let name = h
                    .member_name
                    .clone()
                    .filter(|n| !n.is_empty())
                    .unwrap_or(h.from_name.clone());
                let who = match h.member_organisation.as_deref().filter(|o| !o.is_empty()) {
                    Some(org) => format!("{name} ({org}) <{}>", h.from),
                    None if name.is_empty() => h.from.clone(),
                    None => format!("{name} <{}>", h.from),
                };
                let reason = if h.deferred_until.is_some_and(|d| d > t) {
                    format!("{} (deferred)", h.reason)
                } else {
                    h.reason
                };
                vec![
                    h.id.to_string(),
                    h.community,
                    who,
                    h.subject,
                    reason,
                    age(t - h.received_at),
                    human_size(h.size as u64),
                    h.thread_id.map(|t| t.to_string()).unwrap_or_default(),
                ]
            })
            .collect(),
    );
    ctx.out
        .say(format!("{n} held post{}", if n == 1 { "" } else { "s" }));
    Ok(ExitCode::SUCCESS)
}
