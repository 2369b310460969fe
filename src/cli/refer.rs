//! `praxis refer QUERY MEMBER... [--why TEXT]`: personal invitations to
//! respond to an open query, mailed to chosen members within the
//! community's `policy.referrals_per_month`.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;

use super::Context;
use super::consolidate::load_query;
use crate::effects::referrals::{Outcome, WHY_MAX, refer};
use crate::model::ThreadId;

/// `praxis refer`.
#[derive(Debug, Args)]
pub struct ReferArgs {
    /// The query's thread id, as `praxis threads --queries` lists it.
    pub query: ThreadId,
    /// The members' addresses.
    #[arg(required = true)]
    pub members: Vec<String>,
    /// Why they are asked, in a sentence they read (e.g. "you ran the
    /// Sitapur KMC ward").
    #[arg(long, default_value = "")]
    pub why: String,
}

/// Runs `praxis refer`.
pub fn run(ctx: &Context, args: &ReferArgs) -> Result<ExitCode> {
    let config = ctx.config()?;
    let mut store = ctx.store(&config)?;
    if args.why.chars().count() > WHY_MAX {
        bail!("--why is over {WHY_MAX} characters; say why in a sentence or two");
    }
    let q = load_query(&store, args.query)?;
    let communities = ctx.communities(&config, &store)?;
    let c = communities.by_slug(&q.slug)?.clone();
    let secret = config
        .delivery
        .link_secret()
        .resolve("delivery.link_secret")
        .map_err(anyhow::Error::msg)?;
    let done = refer(
        &mut store,
        &c,
        secret.as_deref().map(str::as_bytes),
        q.thread,
        &args.members,
        args.why.trim(),
    )?;
    if ctx.out.json {
        ctx.out.json(&done)?;
    } else {
        let cap = c.config.policy.referrals_per_month;
        for i in &done {
            ctx.out.say(i.line(cap));
        }
    }
    let sent = done.iter().filter(|i| i.outcome == Outcome::Sent).count();
    ctx.out.say(format!(
        "query {}: {sent} of {} invited; `praxis serve` sends the invitations",
        q.thread,
        done.len()
    ));
    Ok(if sent == done.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
