//! `praxis crosspost QUERY -c COMMUNITY...`: one open query sent to other
//! communities' members; their responses join the query, and its one
//! Consolidated Reply is published to every community involved.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::Context;
use super::consolidate::load_query;
use crate::effects::crosspost::crosspost;
use crate::model::ThreadId;

/// `praxis crosspost`.
#[derive(Debug, Args)]
pub struct CrosspostArgs {
    /// The query's thread id in its own community, as `praxis threads
    /// --queries` lists it.
    pub query: ThreadId,
    /// The other communities to send it to (their slugs).
    #[arg(short = 'c', long = "community", required = true, num_args = 1..)]
    pub communities: Vec<String>,
}

/// Runs `praxis crosspost`.
pub fn run(ctx: &Context, args: &CrosspostArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let mut store = ctx.store(&config)?;
    let q = load_query(&store, args.query)?;
    let communities = ctx.communities(&config, &store)?;
    let to = args
        .communities
        .iter()
        .map(|s| communities.by_slug(s).map(|c| c.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    let sent = crosspost(&mut store, &communities, q.thread, &to)?;
    if ctx.out.json {
        ctx.out.json(&sent)?;
        return Ok(ExitCode::SUCCESS);
    }
    for s in &sent {
        ctx.out.say(if s.linked {
            format!(
                "query {}: `{}` had the question already (thread {}); linked, not sent again",
                q.thread, s.community, s.thread_id
            )
        } else {
            format!(
                "query {}: cross-posted to `{}` as thread {} for {} member{} (those who read it already left out)",
                q.thread,
                s.community,
                s.thread_id,
                s.members,
                if s.members == 1 { "" } else { "s" }
            )
        });
    }
    ctx.out.say(format!(
        "responses there join query {}; its Consolidated Reply will go to every community involved",
        q.thread
    ));
    Ok(ExitCode::SUCCESS)
}
